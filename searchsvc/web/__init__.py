"""The web: the JSON API (``api``), its OpenAPI description, and the HTML search page (``pages``).

Routes parse parameters and call the search engine's service; they never touch Whoosh or storage: a search is
handed to the analytics recorder the factory keeps in ``app.extensions`` (``api.record_search``), never to SQLite.
May import ``searchsvc.web``, ``searchsvc.engine.search`` and ``searchsvc.config``; the factory (``app.py``) also
``searchsvc.analytics.recorder``.
"""
