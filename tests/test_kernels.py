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

    # numpy, as the ranking did it on decoded lists
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


def reference_keys(docs: np.ndarray, freqs: np.ndarray, positions: np.ndarray, wanted: np.ndarray):
    """(document << 32 | position) and index in ``wanted`` of every position of the wanted documents, in Python."""
    keys, which = [], []
    starts = np.concatenate(([0], np.cumsum(freqs.astype(np.int64))))
    slot = {int(d): j for j, d in enumerate(wanted)}
    for i, d in enumerate(docs):
        if int(d) in slot:
            for p in positions[starts[i]:starts[i + 1]]:
                keys.append(int(d) << 32 | int(p))
                which.append(slot[int(d)])
    return keys, which


def some_of(rng: np.random.Generator, docs: np.ndarray, size: int) -> np.ndarray:
    """Documents to look for, in order: some of the list's (first, last, runs of neighbours, others), some not."""
    return np.unique(np.concatenate((docs[[0, -1]], docs[40:45], rng.choice(docs, 30), rng.integers(0, size, 30))))


def skip_tables(gaps: np.ndarray, freqs: np.ndarray, base: int, every: int) -> tuple[np.ndarray, ...]:
    """The list's skip tables at that spacing, or none (every = 0): the kernels then walk."""
    if every:
        return kernels.skips(gaps, freqs, base, every)
    return tuple(np.zeros(0, dtype=np.int64) for _ in range(3))


@pytest.mark.parametrize("gap_type", kernels.WIDTHS)
@pytest.mark.parametrize("position_type", kernels.WIDTHS)
@pytest.mark.parametrize("every", [0, 1, 4, 64])
def test_positions_in_gives_the_wanted_documents_positions_with_or_without_skips(gap_type, position_type, every):
    rng = np.random.default_rng(11)
    size = 250 if gap_type == np.uint8 else 50_000
    base = 3
    docs, gaps, freqs = a_list(rng, 200, size - base, gap_type, np.uint8)
    freqs = mapped((np.asarray(freqs) % 5 + 1).astype(np.uint8))
    top = 250 if position_type == np.uint8 else 70_000 if position_type == np.uint16 else 3_000_000
    positions = mapped(rng.integers(0, top, int(freqs.sum())).astype(position_type))
    wanted = some_of(rng, docs, size - base)
    tables = skip_tables(gaps, freqs, base, every)
    if every:
        assert len(tables[0]) == -(-len(docs) // every)
    keys, which = kernels.positions_in(gaps, freqs, positions.view(np.uint8), positions.itemsize, base,
                                       wanted + base, *tables, max(every, 1))
    expected_keys, expected_which = reference_keys(docs + base, freqs, positions, wanted + base)
    assert keys.tolist() == expected_keys
    assert which.tolist() == expected_which
    # None wanted, and none of the list's documents
    empty = kernels.positions_in(gaps, freqs, positions.view(np.uint8), positions.itemsize, base,
                                 np.zeros(0, dtype=np.int64), *tables, max(every, 1))
    assert [len(a) for a in empty] == [0, 0]


@pytest.mark.parametrize("gap_type", kernels.WIDTHS)
@pytest.mark.parametrize("freq_type", kernels.WIDTHS)
@pytest.mark.parametrize("every", [0, 1, 4, 64])
def test_accumulate_in_adds_what_accumulate_adds_to_the_wanted_documents(gap_type, freq_type, every):
    rng = np.random.default_rng(13)
    size = 250 if gap_type == np.uint8 else 60_000
    base = 5
    norm = rng.uniform(0.3, 2.5, size).astype(np.float32)
    docs, gaps, freqs = a_list(rng, 200, size - base, gap_type, freq_type)
    everywhere = np.zeros(size, dtype=np.float32)
    kernels.accumulate(everywhere, gaps, freqs, base, norm, np.float32(2.0))
    wanted = some_of(rng, docs, size - base) + base
    first, before, _ = skip_tables(gaps, freqs, base, every)
    f = np.full(len(wanted), 0.5, dtype=np.float32)  # added to, as a clause's other lists left it
    kernels.accumulate_in(f, gaps, freqs, base, wanted, norm, np.float32(2.0), first, before, max(every, 1))
    assert np.array_equal(f, np.float32(0.5) + everywhere[wanted])  # bit for bit; 0 added where absent
    none = np.zeros(0, dtype=np.float32)
    kernels.accumulate_in(none, gaps, freqs, base, np.zeros(0, dtype=np.int64), norm, np.float32(2.0), first,
                          before, max(every, 1))


@pytest.mark.parametrize("freq_type", kernels.WIDTHS)
def test_cell_bound_is_each_cells_largest_posting(freq_type):
    rng = np.random.default_rng(17)
    size, base, cell = 3_000, 40, 64
    norm = rng.uniform(0.3, 2.5, size).astype(np.float32)
    docs, gaps, freqs = a_list(rng, 300, size - base, np.uint16, freq_type)
    bound = np.zeros(3 + -(-(size - base) // cell))
    kernels.cell_bound(bound, gaps, freqs, base, norm, np.float32(2.0), 3, cell)  # the segment's cells from 3
    tf = np.float32(2.0) * freqs.astype(np.float32) * norm[docs + base]
    expected = np.zeros_like(bound)
    np.maximum.at(expected, 3 + docs // cell, tf)
    assert np.array_equal(bound, expected)


def test_raise_by_cell_adds_each_cells_bound_to_its_documents():
    values = np.arange(10, dtype=np.float32)
    starts, stops = np.array([0, 4, 8]), np.array([4, 8, 10])
    kernels.raise_by_cell(values, np.array([1, 10, 100], dtype=np.float32), starts, stops)
    assert values.tolist() == [1, 2, 3, 4, 14, 15, 16, 17, 108, 109]


@pytest.mark.parametrize("gap_type", kernels.WIDTHS)
def test_mark_sets_the_documents_of_a_list(gap_type):
    rng = np.random.default_rng(5)
    size = 250 if gap_type == np.uint8 else 80_000
    docs, gaps, _ = a_list(rng, 100, size - 7, gap_type, np.uint8)
    mask = np.zeros(size, dtype=bool)
    kernels.mark(mask, gaps, 7)
    assert np.flatnonzero(mask).tolist() == (docs + 7).tolist()


@pytest.mark.parametrize("k", [0, 1, 5, 300, 2000])
def test_best_keeps_the_k_best_matched_and_every_tie_of_the_last(k):
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 40, 5000).astype(np.float32) / 4  # many ties
    matched = rng.random(5000) < 0.2
    got = kernels.best(scores, matched, k)
    docs = np.flatnonzero(matched)
    if 0 < k < len(docs):
        cut = np.sort(scores[docs])[::-1][k - 1]
        docs = docs[scores[docs] >= cut]
    assert got.tolist() == docs.tolist()
    assert len(got) >= min(k, int(matched.sum()))
