"""The web: the JSON API (``api``), its OpenAPI description, and the HTML search page (``pages``).

Routes parse parameters and call the search engine's service; they never touch Whoosh or storage. May import
``searchsvc.web``, ``searchsvc.engine.search`` and ``searchsvc.config``.
"""
