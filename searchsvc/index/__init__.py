"""The index: its schema and postings codec, generations on disk, and the reindex that writes them.

Turns articles (``searchsvc.reading``) analysed by ``searchsvc.analysis`` into a Whoosh index generation and
publishes it atomically; beside the generations, the list of articles taken down (``hidden`` reads it,
``hiding`` writes it). May import ``searchsvc.index``, ``searchsvc.analysis`` and ``searchsvc.reading``.
"""
