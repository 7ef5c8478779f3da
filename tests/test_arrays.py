"""The ranking path's arrays (arrays.IndexArrays) against Whoosh's own reading, and Whoosh's matchers over the
mapped postings (codec.MappedCodec: what a segment merge reads).

Every posting list read in bulk must be what Whoosh's matcher walks one
posting at a time: the same document numbers, frequencies (the weight) and
positions (``value_as("positions")``), deleted documents left out as Whoosh
leaves them out. Checked on the demo index (one segment, mostly
one-document terms) and on an index built here with a term in more than
128 documents, two segments and deleted documents.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchsvc.engine import arrays as arrays_module
from searchsvc.engine.arrays import IndexArrays, time_key
from searchsvc.index import mapped
from searchsvc.index.codec import DeltaPositions, np_unvarints, position_values, unvarints, varints
from searchsvc.index.generations import IndexStore
from searchsvc.index.indexer import reindex
from searchsvc.index.mapped import PostingArrays
from searchsvc.index.schema import TEXT_PARTS, UNITS, field_name

DEMO_FIELDS = ("title", "sapo", "body", "title_s", "body_s", "title_f", "sapo_f", "body_f")
MULTI_FIELDS = ("title", "sapo", "body", "body_s", "title_f", "sapo_f", "body_f")
BLOCK = 128  # Whoosh's postings per block (W3Codec blocklimit)
STORM = 200  # how often one article repeats "bão": a frequency and positions past one varint byte


def _open(root: Path):
    gen, ix = IndexStore(root).open()
    reader = ix.reader()
    reader.generation_path = gen.path  # for _arrays: the mapped data is the generation's
    return reader


def _arrays(reader) -> IndexArrays:
    return IndexArrays(reader, reader.generation_path)


def _whoosh_postings(matcher, positions: bool) -> tuple[list[int], list[float], list[list[int]]]:
    """What Whoosh's matcher gives, one posting at a time."""
    ids, weights, poses = [], [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        if positions:
            poses.append(list(matcher.value_as("positions")))
        matcher.next()
    return ids, weights, poses


def _positions_of(p) -> list[list[int]]:
    return [p.positions[p.pos_starts[i]:p.pos_starts[i + 1]].tolist() for i in range(len(p.ids))]


def _has_positions(fieldname: str) -> bool:
    return fieldname.endswith("_f")


def _terms(reader, fieldname: str) -> list[str]:
    return [t.decode("utf-8") for t in reader.lexicon(fieldname)]


def _assert_same(p, ids: list[int], weights: list[float], poses: list[list[int]], positions: bool, what) -> None:
    assert p.ids.tolist() == ids, what
    assert p.freqs.tolist() == weights, what
    if positions:
        assert p.positions is not None, what
        assert len(p.pos_starts) == len(ids) + 1, what
        assert _positions_of(p) == poses, what
        assert [len(x) for x in poses] == weights, what  # the frequency is the number of positions


# --- the multi-block, two-segment index -----------------------------------------------------------------


def _weather(i: int) -> dict:
    """Short bulletins: every one has "mưa" (1-4 times), so that term spans several blocks."""
    article = {
        "id": f"tt-{i:03d}",
        "title": f"Bản tin thời tiết số {i}",
        "sapo": "Dự báo có mưa rào." if i % 3 == 0 else "",
        "body": " ".join(["Trời có mưa nhỏ."] * (1 + i % 4)) + " Gió nhẹ." * (i % 7),
        "category": ("Thời sự", "Đời sống", "Khoa học")[i % 3],
        "source": ("Báo Mẫu", "Tin Phố", "")[i % 3] if i % 5 else "",
        "url": "",
    }
    if i % 10 != 7:  # every tenth one undated
        article["published"] = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00"
    return article


@pytest.fixture(scope="module")
def multi_root(tmp_path_factory) -> Path:
    """150 bulletins in one segment, then an incremental run that updates two (deleting their first
    versions) and adds eight more (a second segment)."""
    root = tmp_path_factory.mktemp("multi")
    src = root / "src"
    src.mkdir()
    first = [_weather(i) for i in range(150)]
    first[0]["body"] += " Khinh khí cầu bay."
    first[139]["body"] += " Khinh khí cầu hạ cánh."  # doc 139: a document-number delta past one varint byte
    first[140]["body"] += " Khinh khí cầu bay lại."
    first[5]["body"] += " " + " ".join(["Bão"] * STORM)
    first[6]["body"] += " Bão tan."
    (src / "a.jsonl").write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in first), encoding="utf-8")
    reindex([src], root / "index", jobs=1, echo=lambda m: None)
    second = [dict(first[3], body=first[3]["body"] + " Cập nhật."), dict(first[140], body="Khinh khí cầu bay lại.")]
    second += [_weather(i) for i in range(150, 158)]
    (src / "a.jsonl").write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in second), encoding="utf-8")
    summary = reindex([src], root / "index", jobs=1, echo=lambda m: None)
    assert (summary.updated, summary.added) == (2, 8)
    return root / "index"


@pytest.fixture(scope="module")
def multi_reader(multi_root):
    reader = _open(multi_root)
    yield reader
    reader.close()


@pytest.fixture(scope="module")
def demo_reader(tmp_index):
    reader = _open(tmp_index)
    yield reader
    reader.close()


def test_multi_index_has_what_the_tests_need(multi_reader):
    leaves = list(multi_reader.leaf_readers())
    assert len(leaves) == 2
    (first, base0), (second, base1) = leaves
    assert (base0, base1) == (0, 150) and second.doc_count_all() == 10
    assert first.has_deletions() and set(first.deleted_docs_set) == {3, 140}
    assert first.doc_frequency("body_f", "mua") > BLOCK  # several blocks in the first segment
    assert first.doc_frequency("body", "mưa") > BLOCK
    assert first._terms.term_info("body_f", b"bao").is_inlined() is False


# --- Whoosh's matcher of one segment, over its mapped postings --------------------------------------------


def _mapped_file(reader, seg) -> mapped.SegmentPostings:
    path = reader.generation_path / mapped.segment_file(seg)
    return mapped.SegmentPostings(path, mapped.built_description(path))


def _via_whoosh(seg, fieldname: str, text: str) -> tuple[list[int], list[float], list[list[int]]]:
    fmt = seg.schema[fieldname].format
    return _whoosh_postings(seg._terms.matcher(fieldname, text.encode("utf-8"), fmt), _has_positions(fieldname))


@pytest.mark.parametrize("fieldname", MULTI_FIELDS)
def test_whoosh_matchers_read_the_mapped_postings_per_segment(multi_reader, fieldname):
    """Raw matchers (deleted documents included, as the segment has them): every term."""
    positions = _has_positions(fieldname)
    longest = 0
    for seg, _ in multi_reader.leaf_readers():
        written = _mapped_file(multi_reader, seg)
        for text in _terms(seg, fieldname):
            expected = _via_whoosh(seg, fieldname, text)
            _assert_same(written.postings(fieldname, text, positions), *expected, positions, (fieldname, text))
            longest = max(longest, len(expected[0]))
    if fieldname in ("title", "body", "title_f", "body_f"):  # every bulletin has "bản tin" and "mưa"
        assert longest > BLOCK


def test_multi_block_postings_with_wide_values(multi_reader):
    """Frequencies and positions past 127 (two-byte varints), ids far apart, more postings than a block."""
    seg, _ = next(iter(multi_reader.leaf_readers()))
    ids, weights, poses = _via_whoosh(seg, "body_f", "bao")
    assert ids == [5, 6] and weights == [STORM, 1]
    first = poses[0]
    assert len(first) == STORM and first == list(range(first[0], first[0] + STORM)) and first[-1] > 127
    assert _via_whoosh(seg, "body_f", "khinh")[0] == [0, 139, 140]  # 140 is deleted, but the raw segment has it
    ids, weights, _ = _via_whoosh(seg, "body_f", "mua")
    assert ids == list(range(150)) and weights == [1 + i % 4 for i in range(150)]


def test_only_the_unmapped_fields_use_whooshs_postings(demo_reader):
    """Article ids keep Whoosh's own postings (a one-document term inlined in the terms file); the mapped
    fields' terms point at nothing in Whoosh's files."""
    seg, _ = next(iter(demo_reader.leaf_readers()))
    assert seg._terms.term_info("id", b"demo-001").is_inlined()
    assert not seg._terms.term_info("body_f", b"ha").is_inlined()
    assert list(seg._terms.matcher("id", b"demo-001", seg.schema["id"].format).all_ids()) == [
        demo_reader.first_id("id", "demo-001")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2**33), min_size=1, max_size=20, unique=True), max_size=30))
def test_position_values_are_what_delta_positions_encodes(postings):
    """The values a mapped matcher gives a merge, coded for all postings at once, are DeltaPositions' own."""
    lists = [sorted(p) for p in postings]
    counts = [len(p) for p in lists]
    arrays = PostingArrays(np.arange(len(lists)), np.array(counts, dtype=np.float32),
                           np.concatenate(([0], np.cumsum(counts))).astype(np.intp),
                           np.array([x for p in lists for x in p], dtype=np.int64))
    fmt = DeltaPositions()
    assert position_values(arrays) == [fmt.encode(p) for p in lists]


# --- IndexArrays.postings against the whole reader ---------------------------------------------------------


@pytest.mark.parametrize("fieldname", DEMO_FIELDS)
def test_index_arrays_postings_equal_whoosh_on_the_demo(demo_reader, fieldname):
    arrays = _arrays(demo_reader)
    positions = _has_positions(fieldname)
    terms = _terms(demo_reader, fieldname)
    assert terms
    for text in terms:
        expected = _whoosh_postings(demo_reader.postings(fieldname, text), positions)
        _assert_same(arrays.postings(fieldname, text, positions=positions), *expected, positions, text)


@pytest.mark.parametrize("fieldname", MULTI_FIELDS)
def test_index_arrays_postings_equal_whoosh_across_segments(multi_reader, fieldname):
    """Global document numbers over both segments; deleted documents left out as Whoosh leaves them out."""
    arrays = _arrays(multi_reader)
    positions = _has_positions(fieldname)
    for text in _terms(multi_reader, fieldname):
        expected = _whoosh_postings(multi_reader.postings(fieldname, text), positions)
        got = arrays.postings(fieldname, text, positions=positions)
        _assert_same(got, *expected, positions, (fieldname, text))
        assert not set(got.ids.tolist()) & {3, 140}


@pytest.mark.parametrize("fieldname", [field_name(part, unit) for part in TEXT_PARTS for unit in UNITS])
def test_mapped_postings_are_what_whoosh_analyses_in_each_article(demo_reader, fieldname):
    """Independent of any stored postings (Whoosh's postings file no longer has these fields'): every article's
    text run through the field's own Whoosh analysis (``FieldType.index``, what the writer indexes) gives, term
    by term, exactly the documents, frequencies and positions the mapped data holds, and no term is missing."""
    arrays = _arrays(demo_reader)
    field = demo_reader.schema[fieldname]
    part = fieldname.split("_")[0]
    expected: dict[str, tuple[list[int], list[float], list[list[int]]]] = {}
    for doc in demo_reader.all_doc_ids():
        for btext, freq, _, value in field.index(demo_reader.stored_fields(doc).get(part) or ""):
            ids, freqs, poses = expected.setdefault(btext.decode("utf-8"), ([], [], []))
            ids.append(doc)
            freqs.append(float(freq))
            poses.append(field.format.decode_positions(value) if _has_positions(fieldname) else [])
    assert expected and set(expected) == set(_terms(demo_reader, fieldname))
    for text, (ids, freqs, poses) in expected.items():
        _assert_same(arrays.postings(fieldname, text, positions=True), ids, freqs, poses,
                     _has_positions(fieldname), (fieldname, text))


def test_deleted_documents_never_appear(multi_reader):
    arrays = _arrays(multi_reader)
    assert arrays.size == 160 and arrays.doc_count == 158
    assert arrays.live.tolist() == [i not in (3, 140) for i in range(160)]
    rain = arrays.postings("body_f", "mua", positions=True)
    assert rain.ids.tolist() == [i for i in range(160) if i not in (3, 140, 151)]  # 151: tt-140 without rain
    balloon = arrays.postings("body_f", "khinh", positions=True)
    assert balloon.ids.tolist() == [0, 139, 151]  # tt-140's new version is the second segment's second document
    assert [multi_reader.stored_fields(n)["id"] for n in balloon.ids.tolist()] == ["tt-000", "tt-139", "tt-140"]
    assert _positions_of(balloon)[2] == [0]  # the new text starts with it
    assert arrays.postings("body_f", "no-such-term").ids.tolist() == []


# --- read from the map without decoding (engine/kernels.py) ----------------------------------------------------


@pytest.mark.parametrize("skip_every", [None, 4])
def test_positions_counts_and_masks_read_from_the_map_equal_the_decoded_lists(multi_reader, monkeypatch, skip_every):
    """What stage one, stage two and the highlighter read straight from the map (live counts, masks, pruning's
    frequencies and the positions of some documents, through skip tables or by walking) is what the decoded list
    gives, across both segments and with the deleted documents left out."""
    if skip_every:
        monkeypatch.setattr(arrays_module, "SKIP_AT_LEAST", 1)
        monkeypatch.setattr(arrays_module, "SKIP_EVERY", skip_every)
    arrays = _arrays(multi_reader)
    live = np.flatnonzero(arrays.live)
    for fieldname in MULTI_FIELDS:
        for text in _terms(multi_reader, fieldname):
            decoded = arrays.postings(fieldname, text, positions=True)
            assert arrays.live_count(arrays.coded(fieldname, text)) == len(decoded.ids)
            assert np.flatnonzero(arrays.mask([(fieldname, text)])).tolist() == decoded.ids.tolist()
            norm = np.linspace(0.5, 2.0, arrays.size, dtype=np.float32)
            for docs in (live, live[1::4], np.array([151], dtype=np.intp)):  # pruning's exact frequencies
                f = np.zeros(len(docs), dtype=np.float32)
                arrays.frequencies_in(f, fieldname, text, docs, norm, np.float32(2.0))
                expected = np.zeros(arrays.size, dtype=np.float32)
                expected[decoded.ids] = np.float32(2.0) * decoded.freqs * norm[decoded.ids]
                assert np.array_equal(f, expected[docs]), (fieldname, text)
            if decoded.positions is None:
                continue
            poses = dict(zip(decoded.ids.tolist(), _positions_of(decoded), strict=True))
            for docs in (live, live[::3], live[140:], decoded.ids[::2], np.array([151], dtype=np.intp)):
                keys, which = arrays.position_keys(fieldname, text, docs)
                expected = [(d << 32 | p, j) for j, d in enumerate(docs.tolist()) for p in poses.get(d, [])]
                assert list(zip(keys.tolist(), which.tolist(), strict=True)) == expected, (fieldname, text)


# --- np_unvarints -------------------------------------------------------------------------------------------

_INT64 = st.integers(min_value=0, max_value=2**63 - 1)
_VALUES = st.lists(st.one_of(st.integers(0, 127), st.integers(128, 2**21), _INT64), max_size=200)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_np_unvarints_equals_unvarints(values):
    data = varints(values)
    assert unvarints(data) == values
    got = np_unvarints(data)
    assert got.dtype == np.int64
    assert got.tolist() == values


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300).map(lambda b: bytes(x & 0x7F if (i + 1) % 9 == 0 else x for i, x in enumerate(b))),
       st.integers(0, 127))
def test_np_unvarints_on_arbitrary_bytes(body, last):
    """Any buffer that ends a varint (no run longer than nine bytes, so every value fits in int64)."""
    data = body + bytes([last])
    assert np_unvarints(data).tolist() == unvarints(data)


def test_np_unvarints_edges():
    assert np_unvarints(b"").tolist() == []
    assert np_unvarints(bytes(range(128))).tolist() == list(range(128))  # one byte each: the fast path
    assert np_unvarints(varints([127, 128, 16383, 16384, 0])).tolist() == [127, 128, 16383, 16384, 0]


# --- per-document columns ----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["demo", "multi"])
@pytest.mark.parametrize("fieldname", ["title", "sapo", "body", "body_s", "body_f"])
def test_lengths_equal_whoosh_doc_field_length(request, which, fieldname):
    reader = request.getfixturevalue(f"{which}_reader")
    lengths = _arrays(reader).lengths(fieldname)
    expected = [reader.doc_field_length(n, fieldname) or 0 for n in range(reader.doc_count_all())]
    assert lengths.tolist() == expected
    assert any(expected)


@pytest.mark.parametrize("which", ["demo", "multi"])
def test_column_counts_equal_a_direct_count(request, which):
    reader = request.getfixturevalue(f"{which}_reader")
    arrays = _arrays(reader)
    live = [n for n in range(reader.doc_count_all()) if not reader.is_deleted(n)]
    stored = {n: reader.stored_fields(n) for n in live}
    rain = set(arrays.postings("body_f", "mua").ids.tolist())
    for selection in (live, [n for n in live if n in rain], live[::3]):
        mask = np.zeros(arrays.size, dtype=bool)
        mask[selection] = True
        for name in ("category", "source", "year"):
            if name == "year":
                values = [str(stored[n]["published"].year) if stored[n].get("published") else "" for n in selection]
            else:
                values = [stored[n].get(name, "") for n in selection]
            expected = Counter(v for v in values if v)
            counted = arrays.column(name).counts(mask)
            assert dict(counted) == expected, (name, selection)
            assert [label for label, _ in counted] == sorted(expected)  # each label once, in label order


@pytest.mark.parametrize("which", ["demo", "multi"])
def test_published_follows_the_stored_dates(request, which):
    reader = request.getfixturevalue(f"{which}_reader")
    published = _arrays(reader).published()
    live = [n for n in range(reader.doc_count_all()) if not reader.is_deleted(n)]
    when = {n: reader.stored_fields(n).get("published") for n in live}
    for n in live:
        assert published[n] == (time_key(when[n]) if when[n] else 0), n
    dated = [n for n in live if when[n]]
    assert sorted(dated, key=lambda n: (published[n], n)) == sorted(dated, key=lambda n: (when[n], n))
    assert all(published[n] > 0 for n in dated)
    if which == "multi":
        undated = [n for n in live if not when[n]]
        assert len(undated) == 16 and all(published[n] == 0 for n in undated)


def test_positions_past_16_bits_keep_their_width(tmp_path):
    """Positions are stored in 8 or 16 bits where their gaps fit; a term that reaches past 65,535 syllables
    into an article keeps its positions, and a phrase found there is still found."""
    from searchsvc.engine.search import SearchRequest, SearchService

    src = tmp_path / "src"
    src.mkdir()
    articles = [
        {"id": "long", "title": "Mùa lúa", "sapo": "", "url": "",
         "body": " ".join(["Lúa chín vàng đồng."] * 17_000) + " Sầu riêng chín muộn."},  # 68,000 syllables first
        {"id": "short", "title": "Vườn xoài", "sapo": "", "url": "", "body": "Xoài và sầu riêng vào mùa."},
    ]
    (src / "a.jsonl").write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles),
                                 encoding="utf-8")
    reindex([src], tmp_path / "index", jobs=1, echo=lambda m: None)
    reader = _open(tmp_path / "index")
    try:
        arrays = _arrays(reader)
        far = arrays.postings("body_f", "rieng", positions=True)
        assert int(far.positions.max()) >= 68_000
        near = arrays.postings("body_f", "xoai", positions=True)
        assert near.positions.tolist() == [0]
    finally:
        reader.close()
    hits = SearchService(tmp_path / "index").search(SearchRequest(q='"sầu riêng chín muộn"')).hits
    assert [h.id for h in hits] == ["long"]
    assert hits[0].snippet_html.endswith("<mark>Sầu riêng chín muộn</mark>.")  # highlighted from those positions
