"""Issue 16: a segment merge loses no posting, though the mapped files are the postings' only copy.

Whoosh merges small segments when an incremental reindex commits (``commit(merge=True)``): it reads every
posting of the merged segments through the codec's matchers, which read the segments' mapped files, and
writes them again through the codec, which hands them to the new segment's mapped file. After several
incremental runs that add, update and delete articles (in one and in two writer processes), every mapped
field's postings, by article, must be those of a fresh full build of the same articles: as the query path
reads them (IndexArrays) and as Whoosh's matchers give them, with Whoosh's term statistics matching the
mapped files segment by segment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import Echo
from test_indexer import copies, index_content, write_jsonl

from searchsvc.engine.arrays import IndexArrays
from searchsvc.index import mapped
from searchsvc.index.generations import IndexStore
from searchsvc.index.indexer import reindex
from searchsvc.index.schema import MAPPED_FIELDS, MAPPED_POSITIONS

RUNS = 7


def _segments_and_articles(root: Path) -> tuple[int, int]:
    _, ix = IndexStore(root).open()
    with ix.reader() as reader:
        return len(mapped.segments(reader)), reader.doc_count()


def mapped_postings(root: Path) -> dict:
    """Every mapped field's postings as the query path reads them: (field, term) -> sorted rows of
    (article id, frequency, positions)."""
    gen, ix = IndexStore(root).open()
    reader = ix.reader()
    try:
        arrays = IndexArrays(reader, gen.path)
        docid = {n: reader.stored_fields(n)["id"] for n in reader.all_doc_ids()}
        out: dict = {}
        for fieldname in MAPPED_FIELDS:
            positions = fieldname in MAPPED_POSITIONS
            for btext in reader.lexicon(fieldname):
                text = btext.decode("utf-8")
                p = arrays.postings(fieldname, text, positions=positions)
                rows = []
                for i, n in enumerate(p.ids.tolist()):
                    pos = tuple(p.positions[p.pos_starts[i]:p.pos_starts[i + 1]].tolist()) if positions else ()
                    rows.append((docid[n], float(p.freqs[i]), pos))
                if rows:
                    out[(fieldname, text)] = sorted(rows)
        return out
    finally:
        reader.close()
        ix.close()


def assert_term_statistics_match(root: Path) -> None:
    """Whoosh's term info of each segment (document frequency, total weight, first and last document) is that
    of the segment's mapped postings."""
    gen, ix = IndexStore(root).open()
    with ix.reader() as reader:
        for seg, _ in mapped.segments(reader):
            path = gen.path / mapped.segment_file(seg)
            written = mapped.SegmentPostings(path, mapped.built_description(path))
            for fieldname in MAPPED_FIELDS:
                for btext, info in seg.iter_field(fieldname):
                    p = written.postings(fieldname, btext.decode("utf-8"))
                    assert p is not None, (fieldname, btext)
                    assert info.doc_frequency() == len(p.ids), (fieldname, btext)
                    assert info.weight() == pytest.approx(float(p.freqs.sum())), (fieldname, btext)
                    assert (info.min_id(), info.max_id()) == (p.ids[0], p.ids[-1]), (fieldname, btext)
                    # Pruning's bounds, written again by a merge: those of the postings and lengths as they are.
                    lengths = np.array([seg.doc_field_length(d, fieldname) for d in p.ids.tolist()], dtype=np.float32)
                    assert p.cells is not None, (fieldname, btext)
                    expected = mapped.cell_maxima(p.ids, p.freqs, lengths)
                    assert np.array_equal(p.cells.freq, expected.freq), (fieldname, btext)
                    assert np.array_equal(p.cells.ratio, expected.ratio), (fieldname, btext)
    ix.close()


@pytest.mark.parametrize("jobs", [1, 2])
def test_merges_through_incremental_runs_equal_a_full_build(tmp_path: Path, jobs: int,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Every list gets its cell maxima (a list must be common for them, which no list of a few articles is);
    # the writer processes are forked, so they see it too.
    monkeypatch.setattr(mapped, "CELLED_AT_LEAST", 1)
    monkeypatch.setattr(mapped, "CELLED_SHARE", 1 << 30)
    pool = copies(RUNS * 6, "mg")
    articles = {a["id"]: a for a in pool[:6]}
    src = tmp_path / "src.jsonl"
    root = tmp_path / "index"
    write_jsonl(src, list(articles.values()))
    reindex([src], root, jobs=jobs, echo=Echo())
    counts = [_segments_and_articles(root)[0]]
    for run in range(1, RUNS):
        indexed = sorted(articles)
        changed, removed = indexed[run % len(indexed)], indexed[(run + 3) % len(indexed)]
        # One updated (its old version deleted from an older segment), one removed from the sources (deleted:
        # delete_missing), five new.
        articles[changed] = dict(articles[changed], body=articles[changed]["body"] + f" Cập nhật lần {run}.")
        del articles[removed]
        for a in pool[run * 6:run * 6 + 5]:
            articles[a["id"]] = a
        write_jsonl(src, list(articles.values()))
        summary = reindex([src], root, jobs=jobs, delete_missing=True, echo=Echo())
        assert (summary.added, summary.updated, summary.deleted) == (5, 1, 1), summary
        segments, served = _segments_and_articles(root)
        assert served == len(articles), f"run {run} published {served} of {len(articles)} articles"
        counts.append(segments)
    # Each run adds a segment (or two), so a count that does not grow is a merge; Whoosh merges past four.
    assert any(b <= a for a, b in zip(counts, counts[1:], strict=False)), counts

    fresh = tmp_path / "fresh"
    reindex([src], fresh, jobs=1, full=True, echo=Echo())
    assert _segments_and_articles(fresh) == (1, len(articles))

    merged_postings, fresh_postings = mapped_postings(root), mapped_postings(fresh)
    assert merged_postings == fresh_postings
    assert len(merged_postings) > 1000
    assert {f for f, _ in merged_postings} == set(MAPPED_FIELDS)
    merged, built = index_content(root), index_content(fresh)
    assert merged["count"] == built["count"] == len(articles)
    assert merged["postings"] == built["postings"]  # Whoosh's own matchers, every indexed field
    assert_term_statistics_match(root)
