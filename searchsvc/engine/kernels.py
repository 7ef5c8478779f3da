"""The ranking's inner loops, compiled (numba): posting lists read straight from the mapped bytes.

In numpy a list was first decoded into arrays (a running sum of the gaps,
the frequencies as float32), kept in a per-worker cache, then gathered,
multiplied and scattered pass after pass, each making a temporary array:
some 10 ms of a 48k question went there, and it grew with the archive. Here
one loop per list walks the gaps as the indexer wrote them (index/mapped.py)
and adds each posting where it belongs: no array is made and nothing needs
caching. The arithmetic is numpy's, operation for operation in float32, so
the sums are the same bit for bit (tests/test_kernels.py, tests/test_ranking.py).
Positions, masks, pruning's bounds and exact scores, and a page's best documents
are read the same way.

Compiled once and kept on disk (numba's cache: ``__pycache__`` beside this
file, else ``~/.cache/numba``, else ``NUMBA_CACHE_DIR``; deploy/searchsvc.service
sets the last, its file system being read-only); with none writable, compiled
at each start (a few seconds). :func:`warm` loads every variant before
gunicorn forks, so workers share the machine code and none compiles while a
reader waits.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# The widths the indexer writes gaps and frequencies in (mapped._WIDTHS): each pair is a compiled variant.
WIDTHS = (np.uint8, np.uint16, np.uint32)


def _compiled(**options):
    """numba's ``njit``, cached on disk where numba finds a place to write, else not cached (a read-only install
    run by a user without a writable home: numba would refuse to import this module)."""

    def wrap(fn):
        try:
            return njit(cache=True, nogil=True, **options)(fn)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return njit(nogil=True, **options)(fn)

    return wrap


@_compiled()
def accumulate(full: np.ndarray, gaps: np.ndarray, freqs: np.ndarray, base: int, norm: np.ndarray,
               weight: np.float32) -> None:  # pragma: no cover - compiled
    """``full[doc] += weight * freq * norm[doc]`` for every posting of one segment's part of a list: a clause's
    BM25F frequency (``weight * freq`` first, as numpy's ``weight * freqs * norm[ids]`` evaluates)."""
    doc = base
    for i in range(gaps.shape[0]):
        doc += gaps[i]
        full[doc] += weight * np.float32(freqs[i]) * norm[doc]


@_compiled()
def count_live(gaps: np.ndarray, base: int, live: np.ndarray) -> int:  # pragma: no cover - compiled
    """Postings of live documents in one segment's part of a list (its document frequency after deletions)."""
    doc = base
    count = 0
    for i in range(gaps.shape[0]):
        doc += gaps[i]
        if live[doc]:
            count += 1
    return count


@_compiled(error_model="numpy")
def saturate_listed(scores: np.ndarray, full: np.ndarray, gaps: np.ndarray, base: int, weight: np.float32,
                    k1: np.float32) -> None:  # pragma: no cover - compiled
    """``scores[doc] += weight * f / (f + k1)`` for the documents of one part of a list, f their BM25F frequency
    in ``full``, which goes back to 0 (a document in several of the clause's lists is added once)."""
    doc = base
    for i in range(gaps.shape[0]):
        doc += gaps[i]
        f = full[doc]
        if f > 0:
            scores[doc] += weight * f / (f + k1)
            full[doc] = 0


# error_model="numpy": a division by zero is IEEE's, not a Python exception to check for, so the loop runs in
# vector instructions (4x faster; f + k1 is never 0, the quotients are the same).
@_compiled(error_model="numpy")
def saturate_all(scores: np.ndarray, full: np.ndarray, weight: np.float32,
                 k1: np.float32) -> None:  # pragma: no cover - compiled
    """:func:`saturate_listed` over every document: for a common clause, faster than walking its lists again
    (the documents without it have f = 0 and get exactly 0 added)."""
    for doc in range(full.shape[0]):  # no test in the loop either
        scores[doc] += weight * full[doc] / (full[doc] + k1)
    full[:] = 0


@_compiled()
def mark(mask: np.ndarray, gaps: np.ndarray, base: int) -> None:  # pragma: no cover - compiled
    """``mask[doc] = True`` for the documents of one segment's part of a list."""
    doc = base
    for i in range(gaps.shape[0]):
        doc += gaps[i]
        mask[doc] = True


@njit(inline="always")
def _at(raw: np.ndarray, width: int, i: int) -> np.int64:  # pragma: no cover - compiled
    """Item ``i`` of a little-endian array of unsigned ``width``-byte items, as bytes (one compiled variant for
    the three widths positions come in)."""
    if width == 1:
        return np.int64(raw[i])
    if width == 2:
        return np.int64(raw[2 * i]) | np.int64(raw[2 * i + 1]) << 8
    j = 4 * i
    return (np.int64(raw[j]) | np.int64(raw[j + 1]) << 8 | np.int64(raw[j + 2]) << 16
            | np.int64(raw[j + 3]) << 24)


@njit(inline="always")
def _run_of(target: int, r: int, first: np.ndarray) -> int:  # pragma: no cover - compiled
    """The last run of a list's :func:`skips` (from run ``r`` on) whose first document is at most ``target``."""
    while r + 1 < first.shape[0] and first[r + 1] <= target:
        r += 1
    return r


@_compiled()
def skips(gaps: np.ndarray, freqs: np.ndarray, base: int, every: int) -> tuple[np.ndarray, np.ndarray,
                                                                             np.ndarray]:  # pragma: no cover
    """Where each run of ``every`` postings of one segment's part of a list starts: its first document, the
    document before it (``base`` for the first run) and where its positions start. :func:`positions_in` jumps
    with them to a candidate's run instead of walking the whole list to it."""
    runs = (gaps.shape[0] + every - 1) // every
    first = np.empty(runs, dtype=np.int64)
    before = np.empty(runs, dtype=np.int64)
    at_run = np.empty(runs, dtype=np.int64)
    doc = base
    at = 0
    for i in range(gaps.shape[0]):
        if i % every == 0:
            r = i // every
            before[r] = doc
            first[r] = doc + gaps[i]
            at_run[r] = at
        doc += gaps[i]
        at += freqs[i]
    return first, before, at_run


@_compiled()
def positions_in(gaps: np.ndarray, freqs: np.ndarray, positions: np.ndarray, width: int, base: int,
                 docs: np.ndarray, first: np.ndarray, before: np.ndarray, at_run: np.ndarray,
                 every: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(document << 32 | position) of every position one segment's part of a list holds in ``docs`` (sorted),
    in that order, and the index in ``docs`` of each (engine/arrays.py, position_keys). With the list's
    :func:`skips` (else empty arrays), each candidate is reached from the start of its run of ``every``
    postings; without, by walking the list, only as far as the last candidate."""
    m = docs.shape[0]
    n = gaps.shape[0]
    runs = first.shape[0]
    starts = np.empty(m, dtype=np.int64)
    counts = np.empty(m, dtype=np.int64)
    slots = np.empty(m, dtype=np.int64)
    found = 0
    total = 0
    i = 0  # the next posting to read; doc is the one before it, at where its positions start
    doc = base
    at = 0
    r = 0
    for j in range(m):
        target = docs[j]
        if runs:
            jump = _run_of(target, r, first)
            if jump * every > i:
                r = jump
                i, doc, at = r * every, before[r], at_run[r]
        while i < n:
            d = doc + gaps[i]
            if d > target:
                break
            f = np.int64(freqs[i])
            doc = d
            i += 1
            if d == target:
                starts[found] = at
                counts[found] = f
                slots[found] = j
                found += 1
                total += f
                at += f
                break
            at += f
        if i == n:
            break
    keys = np.empty(total, dtype=np.int64)
    which = np.empty(total, dtype=np.int64)
    t = 0
    for k in range(found):
        high = np.int64(docs[slots[k]]) << 32
        for q in range(counts[k]):
            keys[t] = high | _at(positions, width, starts[k] + q)
            which[t] = slots[k]
            t += 1
    return keys, which


@_compiled()
def accumulate_in(f: np.ndarray, gaps: np.ndarray, freqs: np.ndarray, base: int, docs: np.ndarray,
                  norm: np.ndarray, weight: np.float32, first: np.ndarray, before: np.ndarray,
                  every: int) -> None:  # pragma: no cover - compiled
    """:func:`accumulate` for the documents ``docs`` (sorted) only, into ``f`` (one item each): what pruning
    scores exactly. With the list's :func:`skips`, each is reached from the start of its run of ``every``
    postings, so a long list is read only around the few documents asked for."""
    n = gaps.shape[0]
    runs = first.shape[0]
    i = 0
    doc = base
    r = 0
    for j in range(docs.shape[0]):
        target = docs[j]
        if runs:
            jump = _run_of(target, r, first)
            if jump * every > i:
                r = jump
                i, doc = r * every, before[r]
        while i < n:
            d = doc + gaps[i]
            if d > target:
                break
            doc = d
            i += 1
            if d == target:
                f[j] += weight * np.float32(freqs[i - 1]) * norm[d]
                break
        if i == n:
            break


@_compiled()
def cell_bound(bound: np.ndarray, gaps: np.ndarray, freqs: np.ndarray, base: int, norm: np.ndarray,
               weight: np.float32, first_cell: int, cell: int) -> None:  # pragma: no cover - compiled
    """``bound[cell]``: at least what any posting of one segment's part of a list adds to its clause's frequency
    in that cell (``weight * freq * norm[doc]``, as :func:`accumulate` adds it), for a list written without cell
    maxima (a short one: walked). The segment's cells of ``cell`` documents are numbered from ``first_cell``."""
    doc = base
    for i in range(gaps.shape[0]):
        doc += gaps[i]
        tf = weight * np.float32(freqs[i]) * norm[doc]
        c = first_cell + (doc - base) // cell
        if tf > bound[c]:
            bound[c] = tf


@_compiled()
def raise_by_cell(values: np.ndarray, rest: np.ndarray, starts: np.ndarray,
                  stops: np.ndarray) -> None:  # pragma: no cover - compiled
    """``values[doc] += rest[cell]`` for every document of every cell: a document's upper bound in pruning."""
    for c in range(starts.shape[0]):
        add = rest[c]
        for doc in range(starts[c], stops[c]):
            values[doc] += add


@_compiled()
def best(scores: np.ndarray, matched: np.ndarray, k: int) -> np.ndarray:  # pragma: no cover - compiled
    """The matched documents whose score is at least the k-th best's (all of them when fewer), in document
    order: one pass keeping the k best scores in a heap, one collecting. What a page's order sorts, without
    numpy's copies and partition of every matched score."""
    heap = np.empty(max(k, 1), dtype=scores.dtype)  # a min-heap: heap[0] is the k-th best so far
    size = 0
    n = scores.shape[0]
    for d in range(n):
        if not matched[d]:
            continue
        s = scores[d]
        if size < k:
            i = size
            size += 1
            while i > 0 and heap[(i - 1) // 2] > s:
                heap[i] = heap[(i - 1) // 2]
                i = (i - 1) // 2
            heap[i] = s
        elif s > heap[0]:
            i = 0
            while True:
                child = 2 * i + 1
                if child >= size:
                    break
                if child + 1 < size and heap[child + 1] < heap[child]:
                    child += 1
                if heap[child] >= s:
                    break
                heap[i] = heap[child]
                i = child
            heap[i] = s
    cut = heap[0] if 0 < k <= size else -np.inf  # fewer than k matched: all of them
    kept = 0
    for d in range(n):
        if matched[d] and scores[d] >= cut:
            kept += 1
    out = np.empty(kept, dtype=np.int64)
    j = 0
    for d in range(n):
        if matched[d] and scores[d] >= cut:
            out[j] = d
            j += 1
    return out


_warmed = False


def warm() -> None:
    """Compile or load every variant now (once a process), before workers fork and before a reader waits."""
    global _warmed
    if _warmed:
        return
    full = np.zeros(4, dtype=np.float32)
    norm = np.ones(4, dtype=np.float32)
    live = np.ones(4, dtype=bool)
    one = np.float32(1.0)
    for gap_type in WIDTHS:
        gaps = np.frombuffer(np.ones(2, dtype=gap_type).tobytes(), dtype=gap_type)  # read-only, as mapped
        count_live(gaps, 0, live)
        mark(np.zeros(4, dtype=bool), gaps, 0)
        saturate_listed(full.copy(), full.copy(), gaps, 0, one, one)
        for freq_type in WIDTHS:
            freqs = np.frombuffer(np.ones(2, dtype=freq_type).tobytes(), dtype=freq_type)
            accumulate(full.copy(), gaps, freqs, 0, norm, one)
            cell_bound(np.zeros(4), gaps, freqs, 0, norm, one, 0, 1)
            table = skips(gaps, freqs, 0, 1)
            for skip in (table, tuple(np.zeros(0, dtype=np.int64) for _ in range(3))):
                docs = np.arange(4, dtype=np.intp)
                positions_in(gaps, freqs, np.frombuffer(bytes(8), dtype=np.uint8), 1, 0, docs, *skip, 1)
                accumulate_in(full.copy(), gaps, freqs, 0, docs, norm, one, skip[0], skip[1], 1)
    saturate_all(full.copy(), full.copy(), one, one)
    raise_by_cell(full.copy(), np.zeros(1, dtype=np.float32), np.zeros(1, dtype=np.intp), np.full(1, 4, dtype=np.intp))
    best(full, live, 2)
    _warmed = True
