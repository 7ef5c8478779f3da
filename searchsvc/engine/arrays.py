"""One index generation's postings and per-document columns as numpy arrays, mapped from the index's files.

Whoosh scores a query one posting at a time in Python: a question of fifteen
words over 48k articles walked every posting of some forty OR clauses
(seconds). The indexer instead writes each term's posting list, and the
per-document columns, once per generation in a form every worker maps
(index/mapped.py), and the ranking path (ranking.py) reads a list where it
lies, through compiled loops (kernels.py): nothing is decoded ahead, and the
operating system keeps one copy for all workers. What a worker keeps of its
own is small: the terms it found (views of the map), skip tables of long
lists, and whole decoded lists for the few readers that still want them.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from datetime import datetime
from pathlib import Path

import numpy as np
from whoosh.util.times import datetime_to_long

from searchsvc.engine import kernels
from searchsvc.index import mapped
from searchsvc.index.mapped import PostingArrays

# Decoded lists kept per worker, for what still reads whole lists (phrases' intersections, autocomplete);
# ranking, positions and masks read the map (kernels.py). Small next to the mapped files, which the page cache
# shares (issue 16: private memory <= 150 MiB a worker).
DEFAULT_CACHE_MB = 64
MAX_FREQUENCIES = 100_000  # document frequencies kept (a few MiB at most)
# Terms found in the map, kept as views of it (about 1.5 KB each): a question looks up some 260 (field, term)
# pairs in every segment, 14 µs each, and the same few thousand recur from question to question.
MAX_CODED = 16_384
_NO_KEYS = np.zeros(0, dtype=np.int64)
_NO_SKIPS = (_NO_KEYS, _NO_KEYS, _NO_KEYS)
# Positions (and pruning's frequencies) of a few hundred candidates in a long list: reached from the start of their
# run of SKIP_EVERY postings (kernels.skips, 24 bytes a run) rather than by walking the list up to each. (Runs of
# 32 or 16 postings measured no faster at 148k articles: docs/benchmarks.md, "Dynamic pruning, compiled".)
SKIP_EVERY = 64
SKIP_AT_LEAST = 2_048  # postings in a segment's part; a shorter one is walked
SKIP_CACHE_MB = 16
EMPTY = PostingArrays(np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float32))
KEY_SHIFT = np.int64(32)  # a position key is document << KEY_SHIFT | position (IndexArrays.position_keys)
POSITION = 0xFFFFFFFF  # key & POSITION is the position


class DamagedIndex(Exception):
    """Data of the generation that cannot be read as written: its files were changed after publishing."""


class Column:
    """A keyword column (section, source, year): a small code per document and the labels the codes stand for."""

    def __init__(self, codes: np.ndarray, labels: list[str]) -> None:
        self.codes = codes
        self.labels = labels

    def counts(self, selected: np.ndarray) -> list[tuple[str, int]]:
        """Documents per label among the selected ones (a boolean mask or document numbers), without empty
        labels."""
        counted = np.bincount(self.codes[selected], minlength=len(self.labels))
        return [(self.labels[i], int(c)) for i, c in enumerate(counted) if c and self.labels[i]]


class IndexArrays:
    """Arrays over one reader's global document numbers; safe to share between threads.

    Whoosh readers seek and read shared file objects, so every read of Whoosh goes through ``io`` (one lock per
    opened generation, shared with whatever else reads it); the mapped data is read without it.
    """

    def __init__(self, reader, path: Path, io: threading.RLock | None = None,
                 cache_bytes: int = DEFAULT_CACHE_MB << 20) -> None:
        self.reader = reader
        self.io = io or threading.RLock()
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple[str, str], PostingArrays] = OrderedDict()
        self._cached = 0
        self._lock = threading.Lock()
        with self.io:
            self.mapped = mapped.Mapped(path, reader)  # DamagedData (MissingData too): the generation is refused
        self.size = self.mapped.size
        self.live = self.mapped.doc_array("live")
        self.doc_count = int(self.live.sum())
        self.all_live = self.doc_count == self.size
        self._columns: dict[str, Column] = {}
        # Cells of mapped.CELL documents, numbered across segments (a segment's last cell may be shorter).
        bases = [base for _, base in self.mapped.segments]
        starts: list[np.ndarray] = []
        self._cell_base: list[int] = []  # each segment's first cell
        for base, end in zip(bases, [*bases[1:], self.size][:len(bases)], strict=True):  # none when empty
            self._cell_base.append(sum(len(s) for s in starts))
            starts.append(np.arange(base, end, mapped.CELL, dtype=np.intp))
        self._segment_of = {base: i for i, base in enumerate(bases)}
        self._segment_end = dict(zip(bases, [*bases[1:], self.size], strict=False))
        self.cell_starts = np.concatenate(starts) if starts else np.zeros(0, dtype=np.intp)
        self.cell_stops = np.append(self.cell_starts[1:], self.size).astype(np.intp)
        self._frequencies: dict[tuple[str, str], int] = {}  # doc_frequency's answers
        self._coded: dict[tuple[str, str], list[tuple[mapped.Coded, int]]] = {}
        self._skip_tables: OrderedDict[tuple[str, str, int], tuple[np.ndarray, ...]] = OrderedDict()
        self._skip_bytes = 0

    def rebind(self, reader, io: threading.RLock) -> None:
        """Read Whoosh through another reader of the same generation from now on (SearchService after a fork)."""
        self.reader, self.io = reader, io

    # --- postings -----------------------------------------------------------------------
    def postings(self, fieldname: str, text: str, positions: bool = False) -> PostingArrays:
        """All live postings of a term in one field, in document order (positions only if asked)."""
        key = (fieldname, text)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and (hit.positions is not None or not positions):
                self._cache.move_to_end(key)
                return hit
        arrays = self._decode(fieldname, text, positions)
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

    def coded(self, fieldname: str, text: str) -> list[tuple[mapped.Coded, int]]:
        """The term's parts as written, in every segment that has it, with the segment's first document number:
        views of the map, nothing decoded (stage one reads them so, engine/kernels.py)."""
        key = (fieldname, text)
        parts = self._coded.get(key)
        if parts is not None:
            return parts
        parts = []
        try:
            for seg, base in self.mapped.segments:
                c = seg.coded(fieldname, text)
                if c is not None and c.n:
                    parts.append((c, base))
        except mapped.DamagedData as exc:
            raise DamagedIndex(str(exc)) from exc
        with self._lock:  # threads: iterating while another inserts would raise
            if len(self._coded) >= MAX_CODED:
                del self._coded[next(iter(self._coded))]  # the oldest
            self._coded[key] = parts
        return parts

    def live_count(self, parts: list[tuple[mapped.Coded, int]]) -> int:
        """Postings of live documents among a term's parts: its document frequency, as the decoded list's length."""
        if self.all_live:
            return sum(c.n for c, _ in parts)
        return sum(kernels.count_live(c.gaps, base, self.live) for c, base in parts)

    def position_keys(self, fieldname: str, text: str, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(document << 32 | position) of every position the term has in ``docs`` (sorted, live), sorted, as int64,
        and the index in ``docs`` of each: how proximity, phrases, passages, highlighting and the spelling's pair
        counts read positions. From the map (kernels.positions_in): each segment's part walked only to its
        candidates, nothing decoded or cached but the skip tables of long lists."""
        keys, which = [], []
        for c, base in self.coded(fieldname, text):
            if c.positions is None:
                break
            lo, hi = self.segment_span(docs, base)
            if lo == hi:
                continue
            k, w = kernels.positions_in(c.gaps, c.freqs, c.positions.view(np.uint8), c.positions.itemsize, base,
                                        docs[lo:hi], *self.skips(fieldname, text, c, base), SKIP_EVERY)
            keys.append(k)
            which.append(w + lo if lo else w)
        if not keys:
            return _NO_KEYS, _NO_KEYS
        return (keys[0], which[0]) if len(keys) == 1 else (np.concatenate(keys), np.concatenate(which))

    def frequencies_in(self, f: np.ndarray, fieldname: str, text: str, docs: np.ndarray, norm: np.ndarray,
                       weight: np.float32) -> None:
        """``f[j] += weight * freq * norm[doc]`` for the documents ``docs[j]`` (sorted) the term has: what
        kernels.accumulate adds to them, each segment's part read around them alone (kernels.accumulate_in)."""
        for c, base in self.coded(fieldname, text):
            lo, hi = self.segment_span(docs, base)
            if lo < hi:
                first, before, _ = self.skips(fieldname, text, c, base)
                kernels.accumulate_in(f[lo:hi], c.gaps, c.freqs, base, docs[lo:hi], norm, weight, first, before,
                                      SKIP_EVERY)

    def segment_span(self, docs: np.ndarray, base: int) -> tuple[int, int]:
        """Where the documents of the segment starting at ``base`` lie in ``docs`` (sorted)."""
        lo, hi = np.searchsorted(docs, (base, self._segment_end[base]))
        return int(lo), int(hi)

    def cell_base(self, base: int) -> int:
        """The first cell of the segment starting at ``base``: where its lists' cell maxima go."""
        return self._cell_base[self._segment_of[base]]

    def skips(self, fieldname: str, text: str, c: mapped.Coded, base: int) -> tuple[np.ndarray, ...]:
        """A long list part's :func:`kernels.skips`, made the first time and kept (SKIP_CACHE_MB at most, about
        3 % of the part's postings' size); none for a short one, which is walked."""
        if c.n < SKIP_AT_LEAST:
            return _NO_SKIPS
        key = (fieldname, text, base)
        found = self._skip_tables.get(key)
        if found is None:
            found = kernels.skips(c.gaps, c.freqs, base, SKIP_EVERY)
            size = sum(a.nbytes for a in found)
            with self._lock:
                if key in self._skip_tables:  # another thread made it meanwhile
                    return self._skip_tables[key]
                while self._skip_tables and self._skip_bytes + size > SKIP_CACHE_MB << 20:
                    _, dropped = self._skip_tables.popitem(last=False)
                    self._skip_bytes -= sum(a.nbytes for a in dropped)
                self._skip_tables[key] = found
                self._skip_bytes += size
        return found

    def mask(self, terms: list[tuple[str, str]]) -> np.ndarray:
        """The live documents with any of the (field, term) pairs, marked from the map without decoding."""
        out = np.zeros(self.size, dtype=bool)
        for fieldname, text in terms:
            for c, base in self.coded(fieldname, text):
                kernels.mark(out, c.gaps, base)
        if not self.all_live:
            out &= self.live
        return out

    def _decode(self, fieldname: str, text: str, positions: bool) -> PostingArrays:
        """The term's parts in every segment, decoded straight into one array each (no per-segment arrays to
        join: at 148k articles a common list has four parts)."""
        parts = self.coded(fieldname, text)
        if not parts:
            return EMPTY
        total = sum(c.n for c, _ in parts)
        # Indexes as numpy's own index type: gathering and scattering by int32 numbers converted them on every
        # use (a common word's scatter at 148k articles: 0.71 against 0.38 ms).
        ids = np.empty(total, dtype=np.intp)
        freqs = np.empty(total, dtype=np.float32)
        at = 0
        for c, base in parts:
            mine = ids[at:at + c.n]
            np.cumsum(c.gaps, dtype=np.intp, out=mine)
            if base:
                mine += base
            freqs[at:at + c.n] = c.freqs
            at += c.n
        out = PostingArrays(ids, freqs)
        if positions and all(c.positions is not None for c, _ in parts):
            # Each posting's positions follow one another, part after part: their starts are the running sum
            # of the frequencies (a positions field's frequency is its number of positions).
            starts = np.zeros(total + 1, dtype=np.intp)
            at = 0
            for c, _ in parts:
                mine = starts[at + 1:at + 1 + c.n]
                np.cumsum(c.freqs, dtype=np.intp, out=mine)
                mine += starts[at]
                at += c.n
            out.pos_starts = starts
            pos = [c.positions for c, _ in parts]
            out.positions = pos[0] if len(pos) == 1 else np.concatenate(pos)  # one part: a view of the map
        if not self.all_live:
            keep = self.live[out.ids]
            if not keep.all():
                out = _select(out, keep)
        return out

    @functools.cached_property
    def cell_of(self) -> np.ndarray:
        """The cell (:attr:`cell_starts`) of every document."""
        return np.repeat(np.arange(len(self.cell_starts), dtype=np.intp), self.cell_stops - self.cell_starts)

    def doc_frequency(self, fieldname: str, text: str) -> int:
        """Documents with the term, deleted ones included (as Whoosh counts them); kept, since the highlighter asks
        for every query syllable in every part of every page (a lookup in each segment: 0.3 ms a question)."""
        key = (fieldname, text)
        found = self._frequencies.get(key)
        if found is None:
            found = sum(seg.doc_frequency(fieldname, text) for seg, _ in self.mapped.segments)
            if len(self._frequencies) >= MAX_FREQUENCIES:
                self._frequencies.clear()
            self._frequencies[key] = found
        return found

    # --- per-document columns ---------------------------------------------------------------
    def lengths(self, fieldname: str) -> np.ndarray:
        """Each document's length in terms in a field (Whoosh keeps it to about 5 % in one byte)."""
        return self.mapped.doc_array("len:" + fieldname)

    def column(self, fieldname: str) -> Column:
        """Section, source or year of every document, as codes (0 is "none")."""
        column = self._columns.get(fieldname)
        if column is None:
            column = self._columns[fieldname] = Column(self.mapped.doc_array("codes:" + fieldname),
                                                       self.mapped.labels[fieldname])
        return column

    def published(self) -> np.ndarray:
        """Publication time of every document (:func:`time_key`); 0 where undated."""
        return self.mapped.doc_array("published")

    def views(self) -> np.ndarray:
        """Views of every document (0 where none were given)."""
        return self.mapped.doc_array("views")


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


def within(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """np.isin for a sorted second array (position keys are): a binary search instead of a sort."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    slots = np.searchsorted(sorted_keys, keys)
    slots[slots == len(sorted_keys)] = 0
    return sorted_keys[slots] == keys


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
