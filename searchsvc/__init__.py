"""searchsvc: full-text search for Vietnamese news (pyvi + Whoosh + Flask)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from searchsvc import config as _config

__all__ = ["create_app"]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory, as in Flask's tutorial: defaults, instance config, environment."""
    app = Flask(
        __name__,
        instance_path=str(_config.instance_path()),
        template_folder=str(Path(__file__).resolve().parent.parent / "templates"),
    )
    app.config.update(_config.load(test_config))
    app.json.ensure_ascii = False  # Vietnamese as text in the JSON API, not \u escapes

    from searchsvc import cli, pages, web
    from searchsvc.analysis import load_model
    from searchsvc.search import SearchService

    # Queries are segmented with pyvi: load it now, so that gunicorn --preload shares it with its workers.
    load_model()

    # The index's own tables are built per worker (gunicorn_conf.py) or by `searchsvc serve`, not here.
    app.extensions["searchsvc"] = SearchService(
        app.config["INDEX_DIR"], int(app.config["MAX_QUERY_CHARS"]), int(app.config["POSTINGS_CACHE_MB"])
    )
    app.register_blueprint(web.api)
    app.register_blueprint(pages.pages)
    web.register_error_handlers(app)
    for command in cli.COMMANDS:
        app.cli.add_command(command)
    return app
