"""Vietnamese text analysis: normalisation, accent folding, pyvi word segmentation, Whoosh tokenizers and filters.

Used at index time and at query time alike, so that both see the same words. May import only
``searchsvc.analysis`` (and pyvi, Whoosh's analysis): it knows nothing of articles, indexes or the web.
"""
