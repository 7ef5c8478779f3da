"""searchsvc.index.schema (and the codec it names): fields, their properties, and that the schema survives pickling."""

from __future__ import annotations

import pickle
from array import array
from pathlib import Path

import pytest
from whoosh import columns, fields
from whoosh import index as whoosh_index

from searchsvc.analysis.vietnamese import syllable_spans, unify_tones
from searchsvc.index.codec import (
    CompactCodec,
    DeltaPositions,
    MappedCodec,
    TermFrequency,
)
from searchsvc.index.generations import IndexStore
from searchsvc.index.schema import (
    FOLDED,
    MAPPED_FIELDS,
    MAPPED_POSITIONS,
    SYLLABLE,
    TEXT_PARTS,
    WORD,
    build_schema,
    codec,
    field_name,
    offsets_field,
    text_fields,
)
from searchsvc.index.stored import pack_offsets, unpack_offsets

PARTS = ("title", "sapo", "body")
EXPECTED_FIELDS = sorted(
    ["id", "hash", "category", "source", "year", "published", "views", "url"]
    + [p + suffix for p in PARTS for suffix in ("", "_s", "_f", "_offsets")]
)


@pytest.fixture(scope="module")
def schema() -> fields.Schema:
    return build_schema()


def analyzed(field: fields.FieldType, text: str) -> list[str]:
    return [t.text for t in field.analyzer(text)]


def test_field_names(schema: fields.Schema) -> None:
    assert sorted(schema.names()) == EXPECTED_FIELDS
    assert TEXT_PARTS == PARTS
    assert (WORD, SYLLABLE, FOLDED) == ("", "_s", "_f")
    assert field_name("body", FOLDED) == "body_f"
    assert offsets_field("sapo") == "sapo_offsets"
    assert text_fields() == [p + u for p in PARTS for u in ("", "_s", "_f")]
    assert text_fields((FOLDED,)) == ["title_f", "sapo_f", "body_f"]


def test_id_is_unique_stored_and_sortable(schema: fields.Schema) -> None:
    f = schema["id"]
    assert isinstance(f, fields.ID)
    assert f.stored and f.unique and f.indexed
    assert f.column_type is not None


def test_year_is_indexed_not_stored(schema: fields.Schema) -> None:
    f = schema["year"]
    assert isinstance(f, fields.ID)
    assert not f.stored and f.indexed and not f.unique
    assert f.column_type is not None


def test_hash_is_a_column_only(schema: fields.Schema) -> None:
    f = schema["hash"]
    assert isinstance(f, fields.COLUMN)
    assert not f.stored and not f.indexed


@pytest.mark.parametrize("name", ["category", "source"])
def test_category_and_source_are_stored_sortable_ids(schema: fields.Schema, name: str) -> None:
    f = schema[name]
    assert isinstance(f, fields.ID)
    assert f.stored and f.indexed and not f.unique
    assert isinstance(f.column_type, columns.VarBytesColumn)


def test_published_is_a_stored_sortable_datetime(schema: fields.Schema) -> None:
    f = schema["published"]
    assert isinstance(f, fields.DATETIME)
    assert f.stored and f.indexed
    assert f.column_type is not None


def test_views_is_a_stored_64_bit_number(schema: fields.Schema) -> None:
    f = schema["views"]
    assert isinstance(f, fields.NUMERIC)
    assert f.stored and f.indexed
    assert f.bits == 64


def test_url_is_only_stored(schema: fields.Schema) -> None:
    assert isinstance(schema["url"], fields.STORED)
    assert not schema["url"].indexed


@pytest.mark.parametrize("part", PARTS)
def test_text_fields(schema: fields.Schema, part: str) -> None:
    word, syllable, folded = schema[part], schema[part + "_s"], schema[part + "_f"]
    for f in (word, syllable, folded):
        assert isinstance(f, fields.TEXT)
        assert f.indexed and f.scorable
    # Only the word field stores the text; the others index the same text.
    assert word.stored
    assert not syllable.stored and not folded.stored
    # Folded syllables carry positions (phrases, proximity, highlighting); the others only frequencies.
    assert isinstance(folded.format, DeltaPositions)
    assert folded.format.supports("positions")
    for f in (word, syllable):
        assert isinstance(f.format, TermFrequency)
        assert not f.format.supports("positions")
    assert analyzed(word, "Hà Nội ngập lụt") == ["hà_nội", "ngập_lụt"]
    assert analyzed(syllable, "Hà Nội ngập lụt") == ["hà", "nội", "ngập", "lụt"]
    assert analyzed(folded, "Hà Nội ngập lụt") == ["ha", "noi", "ngap", "lut"]


@pytest.mark.parametrize("part", PARTS)
def test_offsets_are_stored_not_indexed(schema: fields.Schema, part: str) -> None:
    f = schema[part + "_offsets"]
    assert isinstance(f, fields.STORED)
    assert f.stored and not f.indexed


def test_schema_pickles(schema: fields.Schema) -> None:
    loaded = pickle.loads(pickle.dumps(schema))
    assert loaded.names() == schema.names()
    for name in schema.names():
        a, b = schema[name], loaded[name]
        assert type(a) is type(b), name
        assert type(a.format) is type(b.format), name
        assert a.stored == b.stored and a.indexed == b.indexed, name
        assert type(a.column_type) is type(b.column_type), name
        if isinstance(a, fields.TEXT):
            assert a.analyzer == b.analyzer, name
            text = "Ông Trần Văn An ở TP.HCM hòa giải"
            assert analyzed(b, text) == analyzed(a, text), name
    assert analyzed(loaded["body"], "Hòa Bình") == ["hoà_bình"]


def test_the_index_carries_the_schema(tmp_index: Path) -> None:
    """Whoosh pickles the schema into the index: reopening it gives the same fields and analyzers."""
    gen = IndexStore(tmp_index).current()
    assert gen is not None
    ix = whoosh_index.open_dir(str(gen.path))
    try:
        stored = ix.schema
        fresh = build_schema()
        assert stored.names() == fresh.names()
        for name in fresh.names():
            assert type(stored[name]) is type(fresh[name]), name
            assert type(stored[name].format) is type(fresh[name].format), name
        assert analyzed(stored["title"], "Hà Nội ngập lụt") == ["hà_nội", "ngập_lụt"]
        assert analyzed(stored["title_f"], "Đường Hà Nội") == ["duong", "ha", "noi"]
    finally:
        ix.close()


def test_stored_offsets_are_the_syllables_of_the_stored_text(tmp_index: Path) -> None:
    _, ix = IndexStore(tmp_index).open()
    try:
        with ix.searcher() as s:
            checked = 0
            for stored in s.all_stored_fields():
                for part in PARTS:
                    text = stored.get(part, "")
                    spans = unpack_offsets(stored[part + "_offsets"]).tolist()
                    flat = syllable_spans(unify_tones(text))
                    assert spans == [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]
                    checked += len(spans)
            doc = s.document(id="demo-001")
            assert doc["title"] == "Hà Nội ngập lụt sau mưa lớn"
            title_spans = unpack_offsets(doc["title_offsets"]).tolist()
            assert [doc["title"][a:b] for a, b in title_spans] == ["Hà", "Nội", "ngập", "lụt", "sau", "mưa", "lớn"]
            # The folded field's positions index those offsets.
            docnum = s.document_number(id="demo-001")
            m = s.postings("title_f", "ngap")
            m.skip_to(docnum)
            assert m.id() == docnum
            assert list(m.value_as("positions")) == [2]
            assert checked > 5000
    finally:
        ix.close()


# --- codec ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("positions", [[0], [0, 1, 2, 250], [3, 300, 70_000, 70_001], list(range(0, 5000, 7))])
def test_delta_positions_round_trip(positions: list[int]) -> None:
    fmt = DeltaPositions()
    data = fmt.encode(positions)
    assert fmt.decode_positions(data) == positions
    assert fmt.decode_frequency(data) == len(positions)
    assert fmt.decode_weight(data) == float(len(positions))


def test_delta_positions_combine() -> None:
    fmt = DeltaPositions()
    assert fmt.decode_positions(fmt.combine([fmt.encode([5, 9]), fmt.encode([1, 9, 12])])) == [1, 5, 9, 12]


def test_offsets_round_trip() -> None:
    text = "Hà Nội, ngày 31/03/2021: mưa lớn " * 50
    flat = syllable_spans(text)
    spans = unpack_offsets(pack_offsets(flat)).tolist()
    assert spans == [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]
    assert spans[:3] == [[0, 2], [3, 6], [8, 12]]
    assert unpack_offsets(pack_offsets(array("i"))).shape == (0, 2)
    assert unpack_offsets(b"").shape == (0, 2)


def test_codec_is_the_compact_codec_that_maps_the_rankings_fields() -> None:
    c = codec()
    assert isinstance(c, MappedCodec) and isinstance(c, CompactCodec)
    assert c.mapped_fields == MAPPED_FIELDS and c.positions_fields == MAPPED_POSITIONS


def test_an_index_written_before_the_subpackages_still_opens(tmp_path, monkeypatch) -> None:
    """Indexes written by 0.1 pickled their analyzers and codec as searchsvc.analysis.* and searchsvc.codec.*."""
    import subprocess
    import sys

    import searchsvc.codec  # noqa: F401 (the old name, made to resolve)
    from searchsvc.analysis import vietnamese
    from searchsvc.index import codec as codec_module
    from searchsvc.index.indexer import reindex

    old = [(vietnamese.VietnameseTokenizer, "searchsvc.analysis"), (vietnamese.FoldFilter, "searchsvc.analysis"),
           (codec_module.CompactCodec, "searchsvc.codec"), (codec_module.MappedCodec, "searchsvc.codec"),
           (codec_module.DeltaPositions, "searchsvc.codec"),
           (codec_module.TermFrequency, "searchsvc.codec")]
    for cls, module in old:
        monkeypatch.setattr(cls, "__module__", module)
    demo = Path(__file__).resolve().parents[1] / "searchsvc" / "demo"
    reindex([demo], tmp_path / "index", jobs=1, echo=lambda m: None)
    monkeypatch.undo()
    toc = next((tmp_path / "index" / "gen-000001").glob("*.toc")).read_bytes()
    assert b"searchsvc.codec" in toc and b"searchsvc.index.codec" not in toc
    assert b"searchsvc.analysis\nVietnameseTokenizer" in toc
    result = subprocess.run([sys.executable, "-m", "searchsvc.cli", "search", "Hà Nội ngập lụt", "--index",
                             str(tmp_path / "index")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "demo-001" in result.stdout.splitlines()[1]
