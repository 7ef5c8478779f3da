"""searchsvc: full-text search for Vietnamese news (pyvi + Whoosh + Flask).

How it works, in the order data flows: ``reading`` (files, feeds, pages → articles) → ``analysis``
(Vietnamese normalisation and pyvi words) → ``index`` (schema, generations, the reindex) → ``engine`` (query,
ranking, highlighting: ``engine.search.SearchService``) → ``web`` (JSON API and search page) and ``cli``; beside
them ``analytics``: readers' searches, recorded by the web part and reported by ``searchsvc analytics``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["create_app"]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The web app (``searchsvc.web.app``) with the ``searchsvc`` commands registered on it, as in Flask's
    tutorial: ``flask --app searchsvc reindex …`` and gunicorn's ``'searchsvc:create_app()'``."""
    from searchsvc.cli import COMMANDS
    from searchsvc.web.app import create_app as web_app

    app = web_app(test_config)
    for command in COMMANDS:
        app.cli.add_command(command)
    return app
