"""Vietnamese text analysis: normalisation, accent folding, pyvi word segmentation, Whoosh tokenizers and filters.

Used at index time and at query time alike, so that both see the same words. May import only
``searchsvc.analysis`` (and pyvi, Whoosh's analysis): it knows nothing of articles, indexes or the web.
"""

# Indexes written by searchsvc 0.1 name their analyzers searchsvc.analysis.VietnameseTokenizer and
# searchsvc.analysis.FoldFilter in their pickled schema: those names must keep resolving.
from searchsvc.analysis.vietnamese import FoldFilter, VietnameseTokenizer  # noqa: E402

__all__ = ["FoldFilter", "VietnameseTokenizer"]
