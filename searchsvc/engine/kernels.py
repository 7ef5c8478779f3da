"""Stage one's inner loops, compiled (numba): a clause's postings read straight from the mapped bytes.

In numpy a list was first decoded into arrays (a running sum of the gaps,
the frequencies as float32), kept in a per-worker cache, then gathered,
multiplied and scattered pass after pass, each making a temporary array:
some 10 ms of a 48k question went there, and it grew with the archive. Here
one loop per list walks the gaps as the indexer wrote them (index/mapped.py)
and adds each posting where it belongs: no array is made and nothing needs
caching. The arithmetic is numpy's, operation for operation in float32, so
the sums are the same bit for bit (tests/test_ranking.py).

Compiled once per machine and kept in ``__pycache__`` (``cache=True``);
:func:`warm` loads every variant before gunicorn forks, so workers share
the machine code and none compiles while a reader waits.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# The widths the indexer writes gaps and frequencies in (mapped._WIDTHS): each pair is a compiled variant.
WIDTHS = (np.uint8, np.uint16, np.uint32)


@njit(cache=True, nogil=True)
def accumulate(full: np.ndarray, gaps: np.ndarray, freqs: np.ndarray, base: int, norm: np.ndarray,
               weight: np.float32) -> None:  # pragma: no cover - compiled
    """``full[doc] += weight * freq * norm[doc]`` for every posting of one segment's part of a list: a clause's
    BM25F frequency (``weight * freq`` first, as numpy's ``weight * freqs * norm[ids]`` evaluates)."""
    doc = base
    for i in range(gaps.shape[0]):
        doc += gaps[i]
        full[doc] += weight * np.float32(freqs[i]) * norm[doc]


@njit(cache=True, nogil=True)
def count_live(gaps: np.ndarray, base: int, live: np.ndarray) -> int:  # pragma: no cover - compiled
    """Postings of live documents in one segment's part of a list (its document frequency after deletions)."""
    doc = base
    count = 0
    for i in range(gaps.shape[0]):
        doc += gaps[i]
        if live[doc]:
            count += 1
    return count


@njit(cache=True, nogil=True, error_model="numpy")
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
@njit(cache=True, nogil=True, error_model="numpy")
def saturate_all(scores: np.ndarray, full: np.ndarray, weight: np.float32,
                 k1: np.float32) -> None:  # pragma: no cover - compiled
    """:func:`saturate_listed` over every document: for a common clause, faster than walking its lists again
    (the documents without it have f = 0 and get exactly 0 added)."""
    for doc in range(full.shape[0]):  # no test in the loop either
        scores[doc] += weight * full[doc] / (full[doc] + k1)
    full[:] = 0


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def positions_in(gaps: np.ndarray, freqs: np.ndarray, positions: np.ndarray, width: int, base: int,
                 docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(document << 32 | position) of every position one segment's part of a list holds in ``docs`` (sorted),
    in that order, and the index in ``docs`` of each (engine/arrays.py, position_keys). The list is walked only
    until its documents pass the last of ``docs``: a common syllable's positions are never decoded whole."""
    m = docs.shape[0]
    starts = np.empty(m, dtype=np.int64)
    counts = np.empty(m, dtype=np.int64)
    slots = np.empty(m, dtype=np.int64)
    found = 0
    total = 0
    j = 0
    doc = base
    at = 0  # where this posting's positions start: the frequencies before it add up to it
    for i in range(gaps.shape[0]):
        if j == m:
            break
        doc += gaps[i]
        f = np.int64(freqs[i])
        while j < m and docs[j] < doc:
            j += 1
        if j < m and docs[j] == doc:
            starts[found] = at
            counts[found] = f
            slots[found] = j
            found += 1
            total += f
            j += 1
        at += f
    keys = np.empty(total, dtype=np.int64)
    which = np.empty(total, dtype=np.int64)
    t = 0
    for r in range(found):
        high = np.int64(docs[slots[r]]) << 32
        for q in range(counts[r]):
            keys[t] = high | _at(positions, width, starts[r] + q)
            which[t] = slots[r]
            t += 1
    return keys, which


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
            positions_in(gaps, freqs, np.frombuffer(bytes(8), dtype=np.uint8), 1, 0, np.arange(4, dtype=np.intp))
    saturate_all(full.copy(), full.copy(), one, one)
    _warmed = True
