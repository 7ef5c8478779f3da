"""From what a reader typed to a Whoosh query.

Whoosh's own parser splits on whitespace before analysis, which breaks
Vietnamese words apart, so we read the little syntax ourselves
(``"exact phrase"``, ``-exclude``, ``OR``, ``title:``/``category:``/``source:``)
and segment each free-text run with pyvi before building query objects.
Anything that is not valid syntax is searched as words: a reader who does not
know the syntax never gets an error for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from whoosh import query as Q

from searchsvc import analysis
from searchsvc.schema import FOLDED, SYLLABLE, TEXT_PARTS, field_name

MAX_QUERY_CHARS = 500
MAX_TERMS = 32

# How much a match counts, by part and by how it matched. Exact words count
# most; syllables keep recall when segmentation differs; folded syllables find
# what was typed without diacritics, and count least so exact spellings win.
PART_WEIGHTS = {"title": 0.3, "sapo": 0.6, "body": 1.0}
WORD_WEIGHT = 1.0
SYLLABLE_WEIGHT = 0.35
FOLDED_WEIGHT = 0.5
FOLDED_WEIGHT_ACCENTED = 0.1
PAIR_WEIGHT = 1.0
ALTERNATIVE_PHRASE_BOOST = 2.0

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_TOKEN = re.compile(
    r'(?P<neg>-)?(?:(?P<field>title|category|source):)?(?:"(?P<phrase>[^"]*)"|(?P<word>[^\s"]+))|(?P<stray>")'
)
FILTER_FIELDS = ("category", "source")


class QueryError(ValueError):
    """The query cannot be searched; the message is for the reader."""


@dataclass
class ParsedQuery:
    """The reader's query, split into what to match, what to exclude and what to filter on."""

    text: str
    free: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    title: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    filters: dict[str, list[str]] = field(default_factory=dict)
    excluded_filters: dict[str, list[str]] = field(default_factory=dict)
    alternatives: bool = False  # an OR was typed: phrases become alternatives instead of requirements

    @property
    def empty(self) -> bool:
        return not (self.free or self.phrases or self.title or self.filters)


def clean(text: str) -> str:
    text = _CONTROL.sub(" ", analysis.normalize(text))
    return " ".join(text.split())


def parse(text: str, max_chars: int = MAX_QUERY_CHARS) -> ParsedQuery:
    """Read the syntax; never fails on odd input (unbalanced quotes, lone operators)."""
    text = clean(text)  # counted after NFC: the same query typed decomposed is not longer
    if len(text) > max_chars:
        raise QueryError(f"query is too long ({len(text)} characters; at most {max_chars})")
    pq = ParsedQuery(text=text)
    run: list[str] = []

    def flush() -> None:
        if run:
            pq.free.append(" ".join(run))
            run.clear()

    for m in _TOKEN.finditer(text):
        if m.group("stray"):
            continue  # an unbalanced quote: ignore it, keep the words
        value = (m.group("phrase") if m.group("phrase") is not None else m.group("word")).strip()
        fieldname = m.group("field")
        if not value:
            continue
        if m.group("word") == "OR" and not fieldname and not m.group("neg"):
            flush()
            pq.alternatives = True
            continue
        if not any(ch.isalnum() for ch in value):
            continue  # punctuation alone matches nothing
        if fieldname in FILTER_FIELDS:
            flush()
            target = pq.excluded_filters if m.group("neg") else pq.filters
            target.setdefault(fieldname, []).append(value)
        elif m.group("neg"):
            flush()
            pq.excluded.append(value)
        elif fieldname == "title":
            flush()
            pq.title.append(value)
        elif m.group("phrase") is not None:
            flush()
            pq.phrases.append(value)
        else:
            run.append(value)
    flush()
    return pq


@dataclass(frozen=True)
class Analyzed:
    words: list[str]
    syllables: list[str]
    folded: list[str]


def analyze(text: str) -> Analyzed:
    """The query's words, syllables and folded syllables, in order, as the index has them."""
    return Analyzed(
        [t.text for t in analysis.word_analyzer()(text)],
        [t.text for t in analysis.syllable_analyzer()(text)],
        [t.text for t in analysis.folded_analyzer()(text)],
    )


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))[:MAX_TERMS]


def _is_folded(text: str) -> bool:
    return analysis.fold(text) == text


def match_query(text: str, parts: tuple[str, ...] = TEXT_PARTS) -> Q.Query | None:
    """Any of the words, scored by how many and how well they match.

    Typed with diacritics, exact words and syllables carry the score and a
    folded match counts little, so ``đường`` outranks ``dương``. Typed
    without, the folded syllables and their neighbouring pairs carry it.
    """
    a = analyze(text)
    if not a.syllables:
        return None
    accented = not _is_folded(text)
    fold_weight = FOLDED_WEIGHT_ACCENTED if accented else FOLDED_WEIGHT
    words = _unique(a.words)
    lone = [s for s in _unique(a.syllables) if s not in words]
    pairs = _unique([f"{x} {y}" for x, y in zip(a.folded, a.folded[1:], strict=False)])
    clauses: list[Q.Query] = []
    for part in parts:
        pw = PART_WEIGHTS[part]
        clauses += [Q.Term(part, w, boost=pw * WORD_WEIGHT) for w in words]
        # An exact syllable is a one-syllable word (word field) or part of a longer one (syllable field).
        clauses += [Q.Term(field_name(part, SYLLABLE), s, boost=pw * SYLLABLE_WEIGHT) for s in _unique(a.syllables)]
        clauses += [Q.Term(part, s, boost=pw * SYLLABLE_WEIGHT) for s in lone]
        clauses += [Q.Term(field_name(part, FOLDED), f, boost=pw * fold_weight) for f in _unique(a.folded)]
        # Neighbouring syllables side by side: proximity, and the compounds of a query typed without diacritics.
        clauses += [Q.Phrase(field_name(part, FOLDED), p.split(), boost=pw * PAIR_WEIGHT) for p in pairs]
    return Q.Or(clauses)


def phrase_query(text: str, parts: tuple[str, ...] = TEXT_PARTS) -> Q.Query | None:
    """The syllables side by side, in order.

    Positions live in the folded field only, so the phrase is matched there;
    typed with diacritics, its exact syllables must also be present.
    """
    a = analyze(text)
    if not a.folded:
        return None
    folded = a.folded[:MAX_TERMS]
    exact = not _is_folded(text)
    per_part: list[Q.Query] = []
    for part in parts:
        name = field_name(part, FOLDED)
        q: Q.Query = Q.Phrase(name, folded) if len(folded) > 1 else Q.Term(name, folded[0])
        if exact:
            each = [Q.Or([Q.Term(field_name(part, SYLLABLE), s), Q.Term(part, s)]) for s in _unique(a.syllables)]
            q = Q.And([q, *each])
        per_part.append(q)
    return Q.Or(per_part)


@dataclass
class Compiled:
    """What the searcher runs: the query, what to exclude, and the syllables to mark."""

    query: Q.Query | None
    mask: Q.Query | None
    marks: list[str]
    solo: frozenset[str] = frozenset()  # marks that are one-syllable words of the query


def build(pq: ParsedQuery) -> Compiled:
    required: list[Q.Query] = []
    scoring: list[Q.Query] = []
    for text in pq.free:
        q = match_query(text)
        if q is not None:
            scoring.append(q)
    for text in pq.phrases:
        q = phrase_query(text)
        if q is not None:
            required.append(q)
    for text in pq.title:
        q = phrase_query(text, parts=("title",))
        if q is not None:
            required.append(q)
    filters = [
        Q.Or([Q.Term(name, v) for v in values]) if len(values) > 1 else Q.Term(name, values[0])
        for name, values in pq.filters.items()
    ]
    excluded = [q for q in (phrase_query(t) for t in pq.excluded) if q is not None]
    excluded += [Q.Term(name, v) for name, values in pq.excluded_filters.items() for v in values]
    mask = Q.Or(excluded) if excluded else None
    analyzed = [analyze(t) for t in pq.free + pq.phrases + pq.title]
    marks = _unique([s for a in analyzed for s in a.syllables])
    solo = frozenset(w for a in analyzed for w in a.words if "_" not in w)
    # Phrases must match; free words are "any of", and help the ranking beside a phrase.
    # With an OR typed, a phrase is one more alternative ("xe buýt" OR robot).
    if pq.alternatives and required:
        scoring += [Q.Or([q], boost=ALTERNATIVE_PHRASE_BOOST) for q in required]
        required = []
    if required and scoring:
        query: Q.Query | None = Q.AndMaybe(Q.And(required), Q.Or(scoring))
    elif required:
        query = Q.And(required)
    elif scoring:
        query = Q.Or(scoring)
    else:
        query = None
    # Filters narrow whatever was asked; alone, they list the section or source.
    if filters:
        query = Q.And([query, *filters]) if query is not None else Q.And(filters)
    return Compiled(query, mask, marks, solo)
