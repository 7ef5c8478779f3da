"""The Flask application factory: configuration, the search service, blueprints, error shape, the front door.

The composition root of the web part: it alone wires the search engine, the routes and pyvi's preloading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from searchsvc import config as _config
from searchsvc.analysis.vietnamese import load_model
from searchsvc.analytics.recorder import Recorder
from searchsvc.engine.search import Freshness, SearchService
from searchsvc.web import api, pages

__all__ = ["create_app", "templates_dir"]


def templates_dir() -> Path:
    """The Jinja templates: ``searchsvc/templates`` in an installed package (the wheel maps the repo's top-level
    ``templates/`` there, see pyproject.toml), else ``templates/`` beside the package in a checkout."""
    here = Path(__file__).resolve().parent.parent  # the searchsvc package
    packaged = here / "templates"
    return packaged if packaged.is_dir() else here.parent / "templates"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory, as in Flask's tutorial: defaults, instance config, environment.

    The app is named after the package, so that its root (static files) is ``searchsvc/``.
    """
    app = Flask("searchsvc", instance_path=str(_config.instance_path()), template_folder=str(templates_dir()))
    app.config.update(_config.load(test_config))
    app.json.ensure_ascii = False  # Vietnamese as text in the JSON API, not \u escapes

    # Queries are segmented with pyvi: load it now, so that gunicorn --preload shares it with its workers.
    load_model()

    # The index's own tables are built per worker (gunicorn_conf.py) or by `searchsvc serve`, not here.
    app.extensions["searchsvc"] = SearchService(
        app.config["INDEX_DIR"], int(app.config["MAX_QUERY_CHARS"]), int(app.config["POSTINGS_CACHE_MB"]),
        freshness=Freshness(**_config.freshness(app.config)),
        synonyms_file=app.config.get("SYNONYMS_FILE") or None,
    )
    # Readers' searches, recorded by the routes through this recorder (no I/O on the request's path; its writer
    # thread starts in each worker at its first search); None with ANALYTICS = False: nothing is written.
    app.extensions["searchsvc.analytics"] = Recorder(
        _config.analytics_path(app.config), days=int(app.config["ANALYTICS_DAYS"]),
    ) if app.config["ANALYTICS"] else None
    app.register_blueprint(api.api)
    app.register_blueprint(pages.pages)
    api.register_error_handlers(app)
    _front_door(app)
    return app


def _front_door(app: Flask) -> None:
    """What a deployment configures about the world in front: trusted proxies, browser origins for /api/*."""
    proxies = int(app.config["PROXY_COUNT"])
    if proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # nginx sets X-Forwarded-For/-Proto/-Host/-Port (deploy/nginx.conf): the reader's address and the
        # public URL, for links the app writes in full (the OpenSearch description).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)
    allowed = _config.origins(app.config["CORS_ORIGINS"])
    if allowed:
        from flask import request
        from flask_cors import CORS

        # Access-Control-Allow-Origin only for a request whose Origin is allowed (flask-cors's always_send would
        # also give a request without Origin the first allowed origin). Any request header a preflight asks for
        # is allowed (flask-cors's default): the API reads none, and a page's X-Requested-With harms nothing.
        CORS(app, resources={r"/api/.*": {"origins": allowed}}, methods=["GET", "OPTIONS"], max_age=3600,
             always_send=False, vary_header=False)

        @app.after_request
        def vary_on_origin(response):
            """Every /api/* answer depends on Origin once CORS is on, those without Access-Control-Allow-Origin
            too: a cache must not give one origin's answer to another. (flask-cors adds Vary: Origin only to
            answers that allow an origin, and only when more than one is configured.)"""
            if request.path.startswith("/api/"):
                response.vary.add("Origin")
            return response
