"""An in-memory postings pool grouped by term, for Whoosh's SegmentWriter.

Whoosh's own pool keeps each posting as a 5-tuple (~200 bytes), sorts them
all at the end, and past ``limitmb`` spills sorted runs to disk and merges
them back one posting at a time in Python. On the news corpus that spilling
doubled the build time (docs/benchmarks.md). Grouping postings by term as
they arrive needs no sort but the vocabulary's, and about a tenth of the
memory: ids and weights in arrays, values in one byte string per term.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

from whoosh.writing import SegmentWriter


class _Postings:
    __slots__ = ("ids", "weights", "ends", "blob", "ordered")

    def __init__(self) -> None:
        self.ordered = True
        self.ids = array("I")
        self.weights = array("f")
        self.ends = array("I")  # end offset of each posting's value in blob
        self.blob = bytearray()


def segment_writer(ix, _lk: bool = True, **kwargs) -> SegmentWriter:
    """A SegmentWriter using TermPool (Whoosh 2.7.5 accepts ``poolclass`` but ignores it)."""
    writer = SegmentWriter(ix, _lk=_lk, **kwargs)
    writer.pool = TermPool()
    return writer


class TermPool:
    """Drop-in for ``whoosh.writing.PostingPool``; never spills to disk."""

    def __init__(self, tempstore=None, segment=None, limitmb: int = 128, **kwargs) -> None:
        self.fieldnames: set[str] = set()
        self._terms: dict[tuple[str, bytes], _Postings] = {}
        self.runs: list = []

    def add(self, item: tuple) -> None:
        fieldname, tbytes, docnum, weight, vbytes = item
        key = (fieldname, tbytes)
        p = self._terms.get(key)
        if p is None:
            p = self._terms[key] = _Postings()
            self.fieldnames.add(fieldname)
        if p.ids and docnum < p.ids[-1]:
            p.ordered = False  # merged segments can arrive after newer documents
        p.ids.append(docnum)
        p.weights.append(weight)
        if vbytes:
            p.blob += vbytes
        p.ends.append(len(p.blob))

    def iter_postings(self) -> Iterator[tuple]:
        """(fieldname, term, docnum, weight, value) in field, term and document order."""
        for key in sorted(self._terms):
            fieldname, tbytes = key
            p = self._terms[key]
            ids, weights, ends, blob = p.ids, p.weights, p.ends, bytes(p.blob)
            order = range(len(ids)) if p.ordered else sorted(range(len(ids)), key=ids.__getitem__)
            for i in order:
                start = ends[i - 1] if i else 0
                yield fieldname, tbytes, ids[i], weights[i], blob[start:ends[i]] or None

    def save(self) -> None:
        """Nothing to save: the pool never spills."""

    def cleanup(self) -> None:
        self._terms.clear()
