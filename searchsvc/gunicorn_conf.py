"""Gunicorn settings for production: ``gunicorn -c python:searchsvc.gunicorn_conf -w 4 'searchsvc:create_app()'``.

Each worker opens the generation's mapped data (index/mapped.py: postings,
columns, spelling tables; a few hundred milliseconds, nothing is built)
before it takes requests. It is opened in the worker, not before the fork: a
reindex replaces it in every worker anyway.
"""

from __future__ import annotations

import contextlib
import gc


def pre_fork(server, worker) -> None:
    # What the master loaded (the app, pyvi's model) moves out of the collector's reach, so that a worker's
    # collections do not write to those pages and copy them: they stay shared (Private_Dirty, issue 16).
    gc.freeze()


def post_worker_init(worker) -> None:
    from searchsvc.engine.search import IndexUnavailable

    service = worker.wsgi.extensions.get("searchsvc")
    if service is not None:
        with contextlib.suppress(IndexUnavailable):  # reported by /healthz and every route instead
            service.warm()
