"""Gunicorn settings for production: ``gunicorn -c python:searchsvc.gunicorn_conf -w 4 'searchsvc:create_app()'``.

Each worker builds its index tables (spelling, facet columns, length norms;
seconds at news scale) before it takes requests, so no reader waits for them.
They are built in the worker, not before the fork: a reindex replaces them in
every worker anyway, and tables inherited from the master would stay in the
worker's memory beside the new ones (measured with bench/soak.py).
"""

from __future__ import annotations

import contextlib


def post_worker_init(worker) -> None:
    from searchsvc.engine.search import IndexUnavailable

    service = worker.wsgi.extensions.get("searchsvc")
    if service is not None:
        with contextlib.suppress(IndexUnavailable):  # reported by /healthz and every route instead
            service.warm()
