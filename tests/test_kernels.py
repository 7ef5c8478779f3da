"""Stage one's compiled loops (engine/kernels.py) against the numpy arithmetic they replace, bit for bit, for every
width the indexer writes gaps and frequencies in."""

from __future__ import annotations

import numpy as np
import pytest

from searchsvc.engine import kernels

K1 = np.float32(1.2)


def mapped(values: np.ndarray) -> np.ndarray:
    """The array as the indexer's file gives it: read-only, from bytes."""
    return np.frombuffer(values.tobytes(), dtype=values.dtype)


def a_list(rng: np.random.Generator, n: int, size: int, gap_type, freq_type) -> tuple[np.ndarray, ...]:
    docs = np.sort(rng.choice(size, n, replace=False))
    gaps = np.diff(docs, prepend=0).astype(gap_type)
    freqs = rng.integers(1, min(np.iinfo(freq_type).max, 70_000), n).astype(freq_type)
    return docs, mapped(gaps), mapped(freqs)


@pytest.mark.parametrize("gap_type", kernels.WIDTHS)
@pytest.mark.parametrize("freq_type", kernels.WIDTHS)
def test_accumulate_and_saturate_equal_numpy_bit_for_bit(gap_type, freq_type):
    rng = np.random.default_rng(7)
    size = 250 if gap_type == np.uint8 else 90_000  # every gap fits the width
    norm = rng.uniform(0.3, 2.5, size).astype(np.float32)
    base = 11
    docs, gaps, freqs = a_list(rng, 200, size - base, gap_type, freq_type)
    docs2, gaps2, freqs2 = a_list(rng, 150, size - base, gap_type, freq_type)
    w = 3.7

    # numpy, as ranking.Ranker._add does it on decoded lists
    ids, ids2 = docs + base, docs2 + base
    full = np.zeros(size, dtype=np.float32)
    full[ids] = 2.0 * freqs.astype(np.float32) * norm[ids]
    full[ids2] += 1.0 * freqs2.astype(np.float32) * norm[ids2]
    expected = np.full(size, 0.25, dtype=np.float32)
    touched = np.flatnonzero(full > 0)
    expected[touched] += w * full[touched] / (full[touched] + 1.2)

    for saturate in ("listed", "all"):
        scores = np.full(size, 0.25, dtype=np.float32)
        work = np.zeros(size, dtype=np.float32)
        kernels.accumulate(work, gaps, freqs, base, norm, np.float32(2.0))
        kernels.accumulate(work, gaps2, freqs2, base, norm, np.float32(1.0))
        assert np.array_equal(work, full)
        if saturate == "listed":
            kernels.saturate_listed(scores, work, gaps, base, np.float32(w), K1)
            kernels.saturate_listed(scores, work, gaps2, base, np.float32(w), K1)
        else:
            kernels.saturate_all(scores, work, np.float32(w), K1)
        assert np.array_equal(scores, expected), saturate
        assert not work.any()  # ready for the next clause


@pytest.mark.parametrize("gap_type", kernels.WIDTHS)
def test_count_live_counts_the_postings_of_live_documents(gap_type):
    rng = np.random.default_rng(3)
    size = 250 if gap_type == np.uint8 else 80_000
    docs, gaps, _ = a_list(rng, 120, size - 5, gap_type, np.uint8)
    live = rng.random(size) > 0.3
    assert kernels.count_live(gaps, 5, live) == int(live[docs + 5].sum())
