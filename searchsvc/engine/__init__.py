"""The search engine: query syntax and plan, ranking over posting arrays, highlighting, spelling, completion.

``search.SearchService`` is what the web and the CLI call. It only reads an index: it may import
``searchsvc.engine``, ``searchsvc.analysis`` and the index's reading side (``index.schema``, ``index.codec``,
``index.generations``, and ``index.hidden`` to read the hidden list), never the writing side (``index.indexer``,
``index.parallel``, ``index.pool``, ``index.hiding``).
"""
