"""Issue 16: the ranking's data is written with each generation and mapped by every worker (index/mapped.py).

Written by reindex beside Whoosh's files, reused by an incremental generation for the segments it keeps,
equal to what Whoosh's own reading gives (test_arrays.py), and checked: a file cut short, a changed byte in
a table or in one term's postings, each makes the service refuse that generation and serve the newest
intact one, saying why in /healthz's problems; never a 500, never a wrong answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Echo
from test_indexer import write_jsonl
from whoosh.codec.whoosh3 import W3TermInfo

from searchsvc.engine.arrays import IndexArrays
from searchsvc.engine.search import SearchRequest, SearchService
from searchsvc.index import derive, mapped
from searchsvc.index.generations import CURRENT, META, IndexStore
from searchsvc.index.indexer import ReindexRefused, reindex

FIRST = [
    {"id": "m1", "title": "Mùa nước nổi về miền Tây",
     "body": "Cá linh theo con nước về đồng, người dân giăng lưới từ sớm.", "category": "Đời sống"},
    {"id": "m2", "title": "Đà Lạt vào mùa hoa mai anh đào",
     "body": "Những con dốc phủ sắc hồng đón khách du lịch.", "category": "Du lịch"},
    {"id": "m3", "title": "Cảng Cái Mép đón tàu container lớn",
     "body": "Con tàu dài gần bốn trăm mét cập cảng sáng nay.", "category": "Kinh doanh"},
]
SECOND = [
    {"id": "m4", "title": "Hội An thả đèn hoa đăng đêm rằm",
     "body": "Du khách thả đèn trên sông Hoài trong đêm phố cổ tắt điện.", "category": "Du lịch"},
]


def hits(svc: SearchService, q: str) -> list[str]:
    return [h.id for h in svc.search(SearchRequest(q=q)).hits]


def first(svc: SearchService, q: str) -> str | None:
    found = hits(svc, q)
    return found[0] if found else None


@pytest.fixture()
def two_generations(tmp_path: Path) -> Path:
    """gen-000001 with FIRST; gen-000002 adds SECOND (an incremental run: a second segment)."""
    src = tmp_path / "src"
    src.mkdir()
    write_jsonl(src / "a.jsonl", FIRST)
    root = tmp_path / "index"
    reindex([src], root, jobs=1, echo=Echo())
    write_jsonl(src / "b.jsonl", SECOND)
    summary = reindex([src], root, jobs=1, echo=Echo())
    assert (summary.added, summary.generation) == (1, "gen-000002")
    return root


def segment_files(gen: Path) -> list[Path]:
    return [gen / s["file"] for s in mapped.read_manifest(gen)["segments"]]


def test_written_with_the_generation_and_listed_for_damage_checks(two_generations):
    gen = two_generations / "gen-000002"
    manifest = mapped.read_manifest(gen)
    assert manifest["format"] == mapped.FORMAT and manifest["documents"] == 4
    assert [s["base"] for s in manifest["segments"]] == [0, 3]
    assert derive.is_current(gen)
    listed = json.loads((gen / META).read_text())["files"]
    for f in [*segment_files(gen), gen / mapped.DOCS, gen / mapped.SPELLING, gen / mapped.MANIFEST]:
        assert listed[f.name] == f.stat().st_size  # a file cut short is refused by its size, like Whoosh's


def test_an_incremental_generation_links_the_segments_it_keeps(two_generations):
    first, second = two_generations / "gen-000001", two_generations / "gen-000002"
    kept = segment_files(first)[0]
    assert (second / kept.name).stat().st_ino == kept.stat().st_ino  # hard link: nothing derived again
    new = segment_files(second)[1]
    assert not (first / new.name).exists()
    # The per-document file is written anew (never in place: the first generation still serves from its own).
    assert (second / mapped.DOCS).stat().st_ino != (first / mapped.DOCS).stat().st_ino
    assert IndexArrays(*_reader(two_generations)).size == 4


def _reader(root: Path):
    gen, ix = IndexStore(root).open()
    return ix.reader(), gen.path


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _entry_of(path: Path, described: dict, fieldname: str, text: str) -> tuple[int, int]:
    seg = mapped.SegmentPostings(path, described)
    found = seg._term(fieldname, text)
    assert found is not None
    (_, _, _, data, _, _), layout, _ = found
    return seg.data_at + data * 8, layout.size


def test_a_changed_byte_in_one_terms_postings_refuses_the_generation(two_generations):
    """Found when a worker first reads that term (its own CRC-32): the search is answered from the previous
    generation, and every later one too, with the reason in /healthz's problems."""
    root = two_generations
    svc = SearchService(root)
    assert first(svc, "hoa đăng") == "m4" and svc.current().gen.name == "gen-000002"
    gen = root / "gen-000002"
    seg = mapped.read_manifest(gen)["segments"][1]  # the new segment's file: gen-000001 does not share it
    at, size = _entry_of(gen / seg["file"], seg["described"], "body_f", "song")
    assert size > 0
    _flip(gen / seg["file"], at)
    fresh = SearchService(root)
    assert first(fresh, "mùa nước nổi") == "m1"  # other terms still read well from gen-000002
    assert fresh.current().gen.name == "gen-000002"
    assert "m4" not in hits(fresh, "sông Hoài")  # answered by gen-000001, which never had m4
    assert fresh.current().gen.name == "gen-000001"
    assert any("gen-000002" in p and "checksum" in p for p in fresh.health()["problems"])
    assert first(fresh, "Đà Lạt") == "m2"


@pytest.mark.parametrize("section", ["hashes", "entries", "keys"])
def test_a_changed_table_refuses_the_generation_when_opened(two_generations, section):
    root = two_generations
    gen = root / "gen-000002"
    seg = mapped.read_manifest(gen)["segments"][1]
    _flip(gen / seg["file"], seg["described"]["sections"][section]["offset"])
    svc = SearchService(root)
    assert svc.current().gen.name == "gen-000001"
    assert first(svc, "Cái Mép") == "m3"
    assert any(section in p for p in svc.health()["problems"])


def test_a_changed_per_document_file_refuses_the_generation(two_generations):
    root = two_generations
    gen = root / "gen-000002"
    described = mapped.read_manifest(gen)["docs"]["sections"]["len:body_f"]
    _flip(gen / mapped.DOCS, described["offset"])
    svc = SearchService(root)
    assert svc.current().gen.name == "gen-000001" and first(svc, "Đà Lạt") == "m2"


def test_a_file_cut_short_or_missing_refuses_the_generation(two_generations):
    root = two_generations
    gen = root / "gen-000002"
    new = segment_files(gen)[1]
    with open(new, "r+b") as f:
        f.truncate(new.stat().st_size - 10)
    svc = SearchService(root)
    assert svc.current().gen.name == "gen-000001" and first(svc, "Cái Mép") == "m3"
    new.unlink()
    assert SearchService(root).current().gen.name == "gen-000001"


def test_an_index_without_its_mapped_data_is_refused_and_rebuilt_in_full(two_generations, tmp_path):
    """A generation without mapped data of this format (written by searchsvc 0.3 or earlier, or its files
    removed) cannot be derived again: Whoosh's files no longer hold those postings. The service serves the
    previous generation, saying why; an incremental reindex refuses and changes nothing; a full one rebuilds."""
    root = two_generations
    gen = root / "gen-000002"
    for f in [*segment_files(gen), gen / mapped.DOCS, gen / mapped.SPELLING, gen / mapped.MANIFEST]:
        f.unlink()
    meta = json.loads((gen / META).read_text())
    meta["files"] = {k: v for k, v in meta["files"].items() if not k.endswith((mapped.SUFFIX, mapped.MANIFEST))}
    (gen / META).write_text(json.dumps(meta))  # as a generation published without mapped data has it
    assert not derive.is_current(gen)
    svc = SearchService(root)
    assert first(svc, "Cái Mép") == "m3" and svc.current().gen.name == "gen-000001"
    assert any("gen-000002" in p and "reindex --full" in p for p in svc.health()["problems"])
    with pytest.raises(ReindexRefused, match="reindex --full"):
        reindex([tmp_path / "src"], root, jobs=1, echo=Echo())
    assert (root / CURRENT).read_text() == "gen-000002\n" and not (root / "gen-000003").exists()
    summary = reindex([tmp_path / "src"], root, jobs=1, full=True, echo=Echo())
    assert (summary.added, summary.generation) == (4, "gen-000003") and derive.is_current(root / "gen-000003")
    assert first(SearchService(root), "hoa đăng") == "m4"


def test_spelling_tables_hold_the_vocabulary_whoosh_has(tmp_index):
    """The mapped tables equal the sets Whoosh's lexicons give (what every worker used to build in memory)."""
    from searchsvc.analysis.vietnamese import fold
    from searchsvc.index.lexicon import SYLLABLE_FIELDS, WORD_FIELDS, Spelling, deletions

    reader, path = _reader(tmp_index)
    tables = Spelling(mapped.Mapped(path, reader).spelling)
    words = {t.decode() for f in WORD_FIELDS for t in reader.lexicon(f)}
    syllables = {w for w in words if "_" not in w and w.isalpha()}
    syllables |= {t.decode() for f in SYLLABLE_FIELDS for t in reader.lexicon(f) if t.decode().isalpha()}
    assert set(tables.words) == words and len(tables.words) == len(words) > 500
    assert set(tables.syllables) == syllables
    assert set(tables.folded) == {fold(s) for s in syllables if fold(s) != s}
    assert "hà_nội" in tables.words and "hà nội" not in tables.words and "ha_noi" not in tables.words
    assert tables.accents.get("ha_noi") == "hà_nội" and tables.accents.get("no_such_word") is None
    for s in sorted(syllables)[::7]:
        for d in deletions(s):
            assert s in tables.deletions.get(d)
    assert tables.deletions.get("qqqq") == ()
    assert tables.tokens == max(reader.field_length(f) for f in WORD_FIELDS)


def test_title_syllables_for_autocomplete_are_whooshs(two_generations):
    """Autocomplete's sorted title vocabulary, with each syllable's document frequency summed over segments,
    is what Whoosh's reader of the whole generation gives (it used to be read from Whoosh in every worker)."""
    from searchsvc.index.lexicon import TITLE_FIELD, read_sorted_strings

    reader, path = _reader(two_generations)
    assert len(mapped.segments(reader)) > 1
    terms, counts = read_sorted_strings(mapped.Mapped(path, reader).spelling, "titles")
    expected = [(t.decode(), info.doc_frequency()) for t, info in reader.iter_field(TITLE_FIELD)]
    assert list(zip(terms, counts.tolist(), strict=True)) == expected
    assert terms == sorted(terms) and len(terms) > 20


def test_segments_postings_are_only_in_the_mapped_files(two_generations):
    """Whoosh's postings files have nothing of the mapped fields; its term dictionary keeps their statistics,
    equal to the mapped file's, and its matchers read the mapped file."""
    from searchsvc.index.schema import MAPPED_FIELDS

    reader, path = _reader(two_generations)
    checked = 0
    for seg, _ in mapped.segments(reader):
        written = mapped.SegmentPostings(path / mapped.segment_file(seg), mapped.built_description(
            path / mapped.segment_file(seg)))
        for fieldname in MAPPED_FIELDS:
            fmt = seg.schema[fieldname].format
            for btext, info in seg.iter_field(fieldname):
                text = btext.decode()
                p = written.postings(fieldname, text, positions=True)
                assert not info.is_inlined() and info.extent() == (None, None)  # points at no bytes of the .pst
                assert info.doc_frequency() == len(p.ids) and info.weight() == p.freqs.sum()
                assert (info.min_id(), info.max_id()) == (p.ids[0], p.ids[-1])
                m = seg._terms.matcher(fieldname, btext, fmt)
                assert list(m.all_ids()) == p.ids.tolist()
                checked += 1
        pst = next(path.glob(seg.segment().segment_id() + "*.pst"))
        assert pst.stat().st_size < 2000  # the id, views and date fields' postings only
    assert checked > 100


def test_a_mapped_fields_term_info_has_no_extent(two_generations):
    """Its statistics and the 2-byte pickle of None in place of the 12 bytes of an extent: Whoosh's own
    W3TermInfo reads it back."""
    reader, _ = _reader(two_generations)
    seg = mapped.segments(reader)[0][0]
    btext, _ = next(iter(seg.iter_field("body_f")))
    raw = seg._terms._tindex[seg._terms._keycoder("body_f", btext)]
    assert raw.endswith(b"N.") and len(raw) == W3TermInfo._struct.size + 2
    info = W3TermInfo.from_bytes(raw)
    assert not info.is_inlined() and info.doc_frequency() >= 1


def _written(tmp_path: Path, terms: dict) -> mapped.SegmentPostings:
    builder = mapped.SegmentBuilder(tmp_path / "seg.mapped")
    for (fieldname, text), (arrays, lengths) in terms.items():
        builder.add(fieldname, text.encode("utf-8"), arrays, lengths)
    return mapped.SegmentPostings(builder.path, builder.write())


def test_term_entries_round_trip_every_layout(tmp_path):
    """21-byte entries: a key's length from the next key (keys in the order of the hashes), a data's size from
    the counts and widths, and a common list's number of cells from its data."""
    import numpy as np

    rng = np.random.default_rng(7)
    common = np.arange(0, 3000, 2, dtype=np.int64)  # a posting every other document: cell maxima
    freqs = rng.integers(1, 4, len(common)).astype(np.float32)
    starts = np.concatenate(([0], np.cumsum(freqs.astype(np.int64))))
    terms = {
        ("body_f", "và"): (mapped.PostingArrays(common, freqs, starts, np.arange(int(starts[-1])) * 7 + 70_000),
                          rng.integers(50, 900, len(common)).astype(np.float32)),
        ("body", "một"): (mapped.PostingArrays(np.array([3]), np.array([2.0], dtype=np.float32)), None),
        ("title", "x" * 70_000): (mapped.PostingArrays(np.array([1, 300_000]), np.array([1.0, 0.5],
                                                                                     dtype=np.float32)), None),
        ("source", "vnexpress"): (mapped.PostingArrays(common, np.ones(len(common), dtype=np.float32)),
                                  np.ones(len(common), dtype=np.float32)),
    }
    seg = _written(tmp_path, terms)
    assert seg.entries.dtype.itemsize == 21 and seg.hashes.dtype == np.uint32
    for (fieldname, text), (arrays, _) in terms.items():
        got = seg.postings(fieldname, text, positions=True)
        assert got.ids.tolist() == arrays.ids.tolist() and got.freqs.tolist() == arrays.freqs.tolist()
        if arrays.positions is not None:
            assert got.positions.tolist() == arrays.positions.tolist()
        assert (got.cells is not None) == (len(arrays.ids) == len(common))
        assert seg.doc_frequency(fieldname, text) == len(arrays.ids)
    assert seg.find("title", "x" * 69_999) == -1 and seg.find("body", "mot") == -1
    c = seg.coded("body_f", "và")
    assert c.cells is not None and len(c.cells.freq) == 3000 // mapped.CELL + 1


def test_a_terms_documents_past_its_segment_are_refused_before_any_loop_reads_them(tmp_path):
    """The compiled loops (engine/kernels.py) index without bounds checks: a term whose CRC-32 is right but whose
    documents run past the segment (a writer's mistake, not a changed byte) is refused when first read."""
    import numpy as np

    ids = np.arange(0, 3000, 2, dtype=np.int64)
    starts = np.arange(len(ids) + 1, dtype=np.int64)
    arrays = mapped.PostingArrays(ids, np.ones(len(ids), dtype=np.float32), starts, np.zeros(len(ids), dtype=np.int64))
    seg = _written(tmp_path, {("body_f", "và"): (arrays, np.full(len(ids), 10, dtype=np.float32))})
    described = json.loads(seg.sections.path.with_name(seg.sections.path.name + ".json").read_text())
    assert mapped.SegmentPostings(seg.sections.path, described, docs=2999).coded("body_f", "và").n == len(ids)
    with pytest.raises(mapped.DamagedData, match="point past"):
        mapped.SegmentPostings(seg.sections.path, described, docs=2998).coded("body_f", "và")
