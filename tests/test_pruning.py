"""Dynamic pruning of stage one (issue 16): the same results as scoring every posting, on real questions.

Over the slice of ../shared/corpus with the 898 ViNewsQA articles (conftest.qa_service), every dev question is
ranked twice, pruned and exhaustively: the 300 candidates stage two rescores, their order and their scores must
be the same bit for bit, and so must the count and the page a reader sees. Skipped without ../shared.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import vinewsqa_questions

from searchsvc.engine import ranking
from searchsvc.engine.query import build, parse
from searchsvc.engine.ranking import _run_starts
from searchsvc.engine.search import SearchRequest
from searchsvc.index.mapped import CELL, cell_maxima
from searchsvc.index.schema import FOLDED, SYLLABLE, TEXT_PARTS, WORD, field_name

pytestmark = [pytest.mark.corpus, pytest.mark.slow]


@pytest.fixture
def pruning(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Pruning on, and the number of documents each pruned question scored exactly (none: not pruned)."""
    monkeypatch.setattr(ranking, "PRUNING", True)
    scored: list[int] = []
    real = ranking.Ranker._exact

    def counting(self, light_sums, heavy, n_scored, docs):
        scored.append(len(docs))
        return real(self, light_sums, heavy, n_scored, docs)

    monkeypatch.setattr(ranking.Ranker, "_exact", counting)
    return scored


def test_pruned_candidates_are_the_exhaustive_ones_bit_for_bit(qa_service, pruning) -> None:
    opened = qa_service.current()
    ranker = opened.ranker
    questions = vinewsqa_questions()[::8]
    exact = []  # documents scored exactly by each pruned question, once its floor was known
    for q in questions:
        plan = build(parse(q))
        plan.restored = qa_service._restored(opened, plan)
        before = len(pruning)
        fast = ranker.rank(plan, depth=ranking.CANDIDATES)
        full = ranker.rank(plan)
        if len(pruning) - before == 2:  # the sample, then the documents that could still reach the 300th best
            exact.append(pruning[-1])
        top = full.order(0, ranking.CANDIDATES)
        assert np.array_equal(fast.order(0, ranking.CANDIDATES), top), q
        assert np.array_equal(fast.scores[top], full.scores[top]), q  # float32, bit for bit
        assert fast.total == full.total and np.array_equal(fast.matched, full.matched), q
    # (A small collection: many questions leave too few documents out to prune: 176 of 313 here, 144 of 150 at
    # 148k, where the median question scores 0.2 % of the collection exactly.)
    assert len(exact) >= len(questions) // 3, f"only {len(exact)} of {len(questions)} questions were pruned"
    assert sorted(exact)[len(exact) // 2] < ranker.n // 10, (sorted(exact)[len(exact) // 2], ranker.n)


def test_pruned_within_allowed_documents_is_the_exhaustive_ranking(qa_service, pruning) -> None:
    """Narrowed to some documents (dates, hidden articles, filters), pruning keeps to them as the exhaustive
    ranking does: its floor and its candidates come from the allowed documents only."""
    opened = qa_service.current()
    ranker = opened.ranker
    allowed = opened.arrays.live.copy()
    allowed[np.random.default_rng(3).random(ranker.n) < 0.4] = False
    pruned = 0
    for q in vinewsqa_questions()[3::16]:
        plan = build(parse(q))
        plan.restored = qa_service._restored(opened, plan)
        before = len(pruning)
        fast = ranker.rank(plan, allowed.copy(), depth=ranking.CANDIDATES)
        full = ranker.rank(plan, allowed.copy())
        pruned += len(pruning) - before == 2
        top = full.order(0, ranking.CANDIDATES)
        assert not (~allowed[top]).any(), q
        assert np.array_equal(fast.order(0, ranking.CANDIDATES), top), q
        assert np.array_equal(fast.scores[top], full.scores[top]), q
        assert fast.total == full.total and np.array_equal(fast.matched, full.matched), q
    assert pruned >= 5, pruned


@pytest.mark.parametrize("q", ["Bệnh nhân được điều trị như thế nào", "benh nhan duoc dieu tri nhu the nao"])
def test_a_reader_sees_the_same_page_and_count(qa_service, pruning, monkeypatch: pytest.MonkeyPatch, q: str) -> None:
    fast = qa_service.search(SearchRequest(q=q, per_page=20))
    assert pruning, "the question was not pruned"
    monkeypatch.setattr(ranking, "PRUNING", False)
    full = qa_service.search(SearchRequest(q=q, per_page=20))
    assert fast.total == full.total and fast.facets == full.facets
    assert [(h.id, h.score, h.snippet_html) for h in fast.hits] == [(h.id, h.score, h.snippet_html) for h in full.hits]


def test_cell_bounds_hold_for_every_posting_of_the_mapped_lists(qa_service) -> None:
    """What the indexer wrote per cell (or what a short list's walk finds) bounds what the ranking computes for
    every posting there; a list with no cell maxima is bounded exactly by its postings."""
    ranker = qa_service.current().ranker
    arrays = ranker.arrays
    celled = walked = 0
    sources = [(part, field_name(part, unit), unit) for part in TEXT_PARTS for unit in (WORD, FOLDED)]
    sources += [(part, field_name(part, SYLLABLE), FOLDED) for part in TEXT_PARTS]  # normed by another field
    for part, fieldname, unit in sources:
        for term in ("bệnh", "nhân", "và", "của", "benh", "nhan", "va", "cua", "người", "nguoi", "viện"):
            parts = arrays.coded(fieldname, term)
            if not parts:
                continue
            p = arrays.postings(fieldname, term)
            cells = arrays.cell_of[p.ids]
            tf = ranking.PART_WEIGHTS[part] * p.freqs * ranker.norm(part, unit)[p.ids]
            bound = ranker._list_bound((parts, part, unit, fieldname))
            assert np.all(tf <= bound[cells] * (1 + 1e-6)), (fieldname, term)
            outside = np.ones(len(bound), dtype=bool)
            outside[cells] = False
            assert not bound[outside].any(), (fieldname, term)  # 0 where the list has no posting
            if all(c.cells is None for c, _ in parts):
                assert np.array_equal(bound[cells], np.maximum.reduceat(tf, _run_starts(cells))[np.cumsum(
                    np.concatenate(([0], cells[1:] != cells[:-1])))]), (fieldname, term)
                walked += 1
            else:
                celled += 1
    assert celled >= 6 and walked >= 6, (celled, walked)


def test_cell_maxima_are_exact_per_cell() -> None:
    ids = np.array([0, 3, 63, 64, 200], dtype=np.int64)
    freqs = np.array([1, 4, 2, 7, 1], dtype=np.float32)
    lengths = np.array([10, 8, 1, 70, 3], dtype=np.float32)
    cells = cell_maxima(ids, freqs, lengths)
    assert len(cells.freq) == 200 // CELL + 1
    assert cells.freq.tolist() == [4, 7, 0, 1]
    assert cells.ratio.astype(np.float32)[0] >= 2.0 and cells.ratio.astype(np.float32)[1] >= 0.1
    assert cells.ratio.astype(np.float32)[3] >= np.float32(1 / 3) and cells.ratio[2] == 0
