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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def saturate_all(scores: np.ndarray, full: np.ndarray, weight: np.float32,
                 k1: np.float32) -> None:  # pragma: no cover - compiled
    """:func:`saturate_listed` over every document: for a common clause, faster than walking its lists again
    (the documents without it have f = 0 and get exactly 0 added)."""
    for doc in range(full.shape[0]):  # no test in the loop: it runs in vector instructions
        f = full[doc]
        scores[doc] += weight * f / (f + k1)
        full[doc] = 0


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
        saturate_listed(full.copy(), full.copy(), gaps, 0, one, one)
        for freq_type in WIDTHS:
            freqs = np.frombuffer(np.ones(2, dtype=freq_type).tobytes(), dtype=freq_type)
            accumulate(full.copy(), gaps, freqs, 0, norm, one)
    saturate_all(full.copy(), full.copy(), one, one)
    _warmed = True
