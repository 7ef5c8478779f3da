"""The Whoosh schema: what is stored, what is searchable and how.

Each text part (title, sapo, body) is indexed three ways so that the search
layer can weight them apart: pyvi words (the part's own name), syllables
(``<part>_s``) and accent-folded syllables (``<part>_f``). The syllable field
holds the syllables of multi-syllable words only: a one-syllable word is
already a term of the word field, so an exact syllable is found in one or
the other, at a third less index.

Only the folded field keeps positions (syllable numbers): they serve phrases
and proximity for every query, accented or not. The character offsets of
those syllables are stored once per document (``<part>_offsets``), not once
per posting, so highlighting maps matched positions to characters without
re-running pyvi, at a fraction of the size (docs/benchmarks.md).
"""

from __future__ import annotations

from whoosh import columns, fields

from searchsvc.analysis.vietnamese import compound_syllable_analyzer, folded_analyzer, word_analyzer
from searchsvc.index.codec import DeltaPositions, MappedCodec, TermFrequency

TEXT_PARTS = ("title", "sapo", "body")
WORD, SYLLABLE, FOLDED = "", "_s", "_f"
UNITS = (WORD, SYLLABLE, FOLDED)


def field_name(part: str, unit: str) -> str:
    """``field_name("body", FOLDED) == "body_f"``."""
    return part + unit


def offsets_field(part: str) -> str:
    return part + "_offsets"


# Fields whose postings are mapped (index/mapped.py) and stored nowhere else: what ranking, filters and facets read.
COLUMNS = ("category", "source", "year")


def codec() -> MappedCodec:
    """The codec every writer must use (see codec.py): the mapped fields' postings are written to the segments'
    mapped files only."""
    return MappedCodec(mapped_fields=MAPPED_FIELDS, positions_fields=MAPPED_POSITIONS)


def text_fields(units: tuple[str, ...] = UNITS) -> list[str]:
    return [field_name(part, unit) for part in TEXT_PARTS for unit in units]


def build_schema() -> fields.Schema:
    analyzers = {WORD: word_analyzer(), SYLLABLE: compound_syllable_analyzer(), FOLDED: folded_analyzer()}
    spec: dict[str, fields.FieldType] = {
        "id": fields.ID(stored=True, unique=True, sortable=True),
        # Content hash of the article as read: incremental reindex skips unchanged ones.
        "hash": fields.COLUMN(columns.VarBytesColumn()),
        "category": fields.ID(stored=True, sortable=True),
        "source": fields.ID(stored=True, sortable=True),
        "year": fields.ID(sortable=True),
        "published": fields.DATETIME(stored=True, sortable=True),
        "views": fields.NUMERIC(stored=True, bits=64),
        "url": fields.STORED(),
    }
    for part in TEXT_PARTS:
        for unit in UNITS:
            field = fields.TEXT(
                analyzer=analyzers[unit],
                # The word field stores the text; the others index the same text.
                stored=(unit == WORD),
            )
            field.format = DeltaPositions() if unit == FOLDED else TermFrequency()
            spec[field_name(part, unit)] = field
        spec[offsets_field(part)] = fields.STORED()
    return fields.Schema(**spec)


MAPPED_FIELDS = (*text_fields(), *COLUMNS)
MAPPED_POSITIONS = tuple(text_fields((FOLDED,)))
