"""One index generation's postings and per-document columns as numpy arrays, read on demand and cached.

Whoosh scores a query one posting at a time in Python: a question of fifteen
words over 48k articles walked every posting of some forty OR clauses
(seconds). The ranking path (ranking.py) instead reads each term's whole
posting list once, in bulk (codec.read_posting_arrays), keeps it in a
size-bounded cache, and scores with vector operations. The Whoosh index on
disk stays the only store; these are views of it for one reader.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

import numpy as np
from whoosh.codec import whoosh3
from whoosh.reading import TermNotFound
from whoosh.util.numeric import byte_to_length
from whoosh.util.times import datetime_to_long

from searchsvc.index.codec import PostingArrays, read_posting_arrays

DEFAULT_CACHE_BYTES = 512 * 1024 * 1024
EMPTY = PostingArrays(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
_UNDATED = 2**63  # Whoosh writes an unsigned maximum where a document has no date
_LENGTH_TABLE = np.array([byte_to_length(i) for i in range(256)], dtype=np.float32)
# The ViNewsQA questions' posting lists grow with the collection: 250 of them used 728 MB at 148k articles
# (611 MB with 16-bit positions), where a fixed 512 MB cache thrashed and a warm question took 104 ms instead
# of 38 ms (bench/phases.py, docs/benchmarks.md). Sized by the index unless set.
CACHE_ARTICLES_PER_DEFAULT = 50_000


def cache_size(articles: int, mb: int = 0) -> int:
    """Bytes of the posting-list cache: ``mb`` MiB, or when 0, 512 MiB per 50,000 articles (at least 512 MiB)."""
    if mb > 0:
        return mb << 20
    return max(DEFAULT_CACHE_BYTES, articles * DEFAULT_CACHE_BYTES // CACHE_ARTICLES_PER_DEFAULT)


class DamagedIndex(Exception):
    """A posting list that cannot be decoded: the generation's files were changed after publishing."""


class Column:
    """A keyword column (section, source, year): a small code per document and the labels the codes stand for."""

    def __init__(self, codes: np.ndarray, labels: list[str]) -> None:
        self.codes = codes
        self.labels = labels

    def counts(self, selected: np.ndarray) -> list[tuple[str, int]]:
        """Documents per label among the selected ones (a boolean mask), without empty labels."""
        counted = np.bincount(self.codes[selected], minlength=len(self.labels))
        return [(self.labels[i], int(c)) for i, c in enumerate(counted) if c and self.labels[i]]


class IndexArrays:
    """Arrays over one reader's global document numbers; safe to share between threads.

    Whoosh readers seek and read shared file objects, so every read of the
    index goes through ``io`` (one lock per opened generation, shared with
    whatever else reads it); the arrays, once built, are read without it.
    """

    def __init__(self, reader, cache_bytes: int = DEFAULT_CACHE_BYTES, io: threading.RLock | None = None) -> None:
        self.reader = reader
        self.io = io or threading.RLock()
        self.leaves = segments(reader)
        self.size = reader.doc_count_all()
        self.live = np.ones(self.size, dtype=bool)
        for seg, base in self.leaves:
            if seg.has_deletions():
                self.live[[base + d for d in seg.deleted_docs_set]] = False
        self.doc_count = int(self.live.sum())
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple[str, str], PostingArrays] = OrderedDict()
        self._cached = 0
        self._lengths: dict[str, np.ndarray] = {}
        self._columns: dict[str, Column] = {}
        self._published: np.ndarray | None = None
        self._views: np.ndarray | None = None
        self._lock = threading.Lock()

    def rebind(self, reader, io: threading.RLock) -> None:
        """Read through another reader of the same generation from now on (see SearchService after a fork)."""
        self.reader, self.io = reader, io
        self.leaves = segments(reader)
        self._lock = threading.Lock()

    # --- postings -----------------------------------------------------------------------
    def postings(self, fieldname: str, text: str, positions: bool = False) -> PostingArrays:
        """All live postings of a term in one field, in document order (positions only if asked)."""
        key = (fieldname, text)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and (hit.positions is not None or not positions):
                self._cache.move_to_end(key)
                return hit
        arrays = self._read(fieldname, text, positions)
        size = _nbytes(arrays)
        with self._lock:
            old = self._cache.pop(key, None)
            if old is not None:
                self._cached -= _nbytes(old)
            if size <= self.cache_bytes // 4:
                self._cache[key] = arrays
                self._cached += size
                while self._cached > self.cache_bytes:
                    _, dropped = self._cache.popitem(last=False)
                    self._cached -= _nbytes(dropped)
        return arrays

    def doc_frequency(self, fieldname: str, text: str) -> int:
        with self.io:
            return self.reader.doc_frequency(fieldname, text)

    def _read(self, fieldname: str, text: str, positions: bool) -> PostingArrays:
        with self.io:
            try:
                return self._read_unlocked(fieldname, text, positions)
            except Exception as exc:  # Whoosh says "Block tag error" and the like with a bare Exception
                raise DamagedIndex(f"the postings of {fieldname}:{text!r} cannot be read: {exc}") from exc

    def _read_unlocked(self, fieldname: str, text: str, positions: bool) -> PostingArrays:
        parts: list[PostingArrays] = []
        bases: list[int] = []
        btext = text.encode("utf-8")
        for seg, base in self.leaves:
            try:
                matcher = seg._terms.matcher(fieldname, btext, seg.schema[fieldname].format)
            except (TermNotFound, KeyError):
                continue
            parts.append(read_posting_arrays(matcher, positions=positions))
            bases.append(base)
        if not parts:
            return EMPTY
        ids = np.concatenate([p.ids + b for p, b in zip(parts, bases, strict=True)])
        freqs = np.concatenate([p.freqs for p in parts])
        out = PostingArrays(ids, freqs)
        if positions and all(p.positions is not None for p in parts):
            starts, shift = [], 0
            for p in parts:
                starts.append(p.pos_starts[:-1] + shift)
                shift += len(p.positions)
            positions = np.concatenate([p.positions for p in parts])
            # Positions within an article fit 16 bits but for the longest articles: half the cache they take.
            small = not positions.size or int(positions.max()) < 1 << 16
            out.positions = positions.astype(np.uint16 if small else np.int32)
            out.pos_starts = np.concatenate([*starts, [shift]])
        keep = self.live[ids]
        if not keep.all():
            out = _select(out, keep)
        out.ids = out.ids.astype(np.int32)
        if out.positions is not None:
            out.pos_starts = out.pos_starts.astype(np.int32)
        return out

    # --- per-document columns ---------------------------------------------------------------
    def lengths(self, fieldname: str) -> np.ndarray:
        """Each document's length in terms in a field (Whoosh keeps it to about 5 % in one byte)."""
        table = self._lengths.get(fieldname)
        if table is None:
            table = np.zeros(self.size, dtype=np.float32)
            with self.io:
                for seg, base in self.leaves:
                    column = seg._perdoc._cached_reader(whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN)
                    if column is not None:
                        raw = np.fromiter(iter(column), dtype=np.uint8, count=seg.doc_count_all())
                        table[base:base + len(raw)] = _LENGTH_TABLE[raw]
            self._lengths[fieldname] = table
        return table

    def _column_values(self, fieldname: str, translate: bool = False) -> list:
        values: list = [None] * self.size
        with self.io:
            for seg, base in self.leaves:
                if seg._perdoc.has_column(fieldname):
                    for i, v in enumerate(seg.column_reader(fieldname, translate=translate)):
                        values[base + i] = v
        return values

    def column(self, fieldname: str) -> Column:
        """Section, source or year of every document, as codes (0 is "none")."""
        column = self._columns.get(fieldname)
        if column is None:
            values = [v.decode("utf-8") if isinstance(v, bytes) else str(v or "")
                      for v in self._column_values(fieldname)]
            labels = sorted(set(values) | {""})
            index = {label: i for i, label in enumerate(labels)}
            codes = np.fromiter((index[v] for v in values), dtype=np.int32, count=self.size)
            column = self._columns[fieldname] = Column(codes, labels)
        return column

    def published(self) -> np.ndarray:
        """Publication time of every document (:func:`time_key`); 0 where undated."""
        if self._published is None:
            self._published = np.fromiter(
                (v if isinstance(v, int) and 0 < v < _UNDATED else 0 for v in self._column_values("published")),
                dtype=np.int64, count=self.size,
            )
        return self._published

    def views(self) -> np.ndarray:
        """Views of every document (0 where none were given), read once from the numeric field's terms in one
        pass: the field has no column, reading every stored article would take seconds, and a matcher per view
        count 40 µs each (most counts are one article's, whose posting is inline in the terms file)."""
        if self._views is None:
            docs: list[int] = []
            values: list[int] = []
            with self.io:
                for seg, base in self.leaves:
                    if "views" not in seg.schema:
                        continue
                    field = seg.schema["views"]
                    for (name, btext), info in seg.iter_from("views", b"\x00"):  # full precision: shift 0
                        if name != "views" or not btext.startswith(b"\x00"):
                            break
                        value = max(int(field.from_bytes(btext)), 0)
                        inline = info.is_inlined()
                        ids = info.inlined_postings()[0] if inline else seg.postings("views", btext).all_ids()
                        for d in ids:
                            docs.append(base + d)
                            values.append(value)
            table = np.zeros(self.size, dtype=np.int64)
            table[np.array(docs, dtype=np.int64)] = values
            self._views = table
        return self._views


def segments(reader) -> list[tuple]:
    """The reader's segments with their first document number; none for an empty index (Whoosh then gives an
    EmptyReader, which has no term or column tables to read)."""
    return [(seg, base) for seg, base in reader.leaf_readers() if seg.doc_count_all()]


def time_key(when: datetime) -> int:
    """A time as the published column holds it (Whoosh's microseconds since datetime.min)."""
    return datetime_to_long(when)


def _select(p: PostingArrays, keep: np.ndarray) -> PostingArrays:
    out = PostingArrays(p.ids[keep], p.freqs[keep])
    if p.positions is not None:
        starts, stops = p.pos_starts[:-1][keep], p.pos_starts[1:][keep]
        out.positions = p.positions[ranges(starts, stops)]
        out.pos_starts = np.concatenate(([0], np.cumsum(stops - starts)))
    return out


def ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The indexes start..stop-1 of every range, laid end to end."""
    lengths = stops - starts
    if not len(lengths):
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return np.arange(int(lengths.sum())) + offsets


def _nbytes(p: PostingArrays) -> int:
    n = p.ids.nbytes + p.freqs.nbytes + 200
    if p.positions is not None:
        n += p.positions.nbytes + p.pos_starts.nbytes
    return n
