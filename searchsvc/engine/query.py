"""From what a reader typed to a plan for the ranking (ranking.py).

Whoosh's own parser splits on whitespace before analysis, which breaks
Vietnamese words apart, so we read the little syntax ourselves
(``"exact phrase"``, ``-exclude``, ``OR``, ``title:``/``category:``/``source:``)
and segment each free-text run with pyvi before planning what to match.
Anything that is not valid syntax is searched as words: a reader who does not
know the syntax never gets an error for it.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace

from searchsvc.analysis import vietnamese as analysis
from searchsvc.index.schema import TEXT_PARTS

MAX_QUERY_CHARS = 500
MAX_TERMS = 32


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
    """A run of query text as the index has it: words, syllables and folded syllables, in order."""

    text: str
    words: list[str]
    syllables: list[str]
    folded: list[str]
    # A question's question words (gì, như thế nào), each as words, syllables and folded syllables:
    # they count little in the ranking and not in its passage score (see mark_question_words).
    question_words: frozenset[str] = frozenset()
    question_syllables: frozenset[str] = frozenset()
    question_folded: frozenset[str] = frozenset()

    @property
    def accented(self) -> bool:
        """Typed with diacritics (or đ): then exact spellings must win over folded ones."""
        return analysis.fold(self.text) != self.text

    @property
    def unique_words(self) -> list[str]:
        return _unique(self.words)

    @property
    def unique_syllables(self) -> list[str]:
        return _unique(self.syllables)

    @property
    def unique_folded(self) -> list[str]:
        return _unique(self.folded)

    @property
    def content_folded(self) -> list[str]:
        """The folded syllables without the question words: what the answer's passage holds."""
        return [f for f in self.unique_folded if f not in self.question_folded]

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Neighbouring folded syllables: the compounds of a query typed without diacritics, and proximity.
        Typed with diacritics, the pairs inside a word are left out: the word match counts them already,
        and counting them again put articles that repeat a compound (bệnh nhân) above the one whose
        sentence holds the query's words side by side (measured: MRR@10 +0.009)."""
        pairs = zip(self.folded, self.folded[1:], strict=False)
        if self.accented:
            ends = set(itertools.accumulate(w.count("_") + 1 for w in self.words))
            if max(ends, default=0) == len(self.folded):
                pairs = (pair for i, pair in enumerate(pairs, start=1) if i in ends)
        # Two question words side by side (là gì) say nothing of the article; one beside a content word
        # (ăn gì) is the run of a remembered headline.
        return _unique([(x, y) for x, y in pairs if not {x, y} <= self.question_folded])


def analyze(text: str) -> Analyzed:
    return Analyzed(
        text,
        [t.text for t in analysis.word_analyzer()(text)],
        [t.text for t in analysis.syllable_analyzer()(text)],
        [t.text for t in analysis.folded_analyzer()(text)],
    )


# What a question asks with: the article holds the answer, not these words, and articles that do hold
# them (readers' Q&A columns: "Ăn gì để ngừa cúm?") took the places of the one asked about. They still
# count a little, and side by side with their neighbours, for the reader who remembers a headline that
# has one ("Ăn gì để ngừa cúm"). Measured (docs/benchmarks.md): ViNewsQA MRR@10 0.701 -> 0.712, Recall@10
# 0.825 -> 0.835 when left out; headline words with a question word, success@1 0.90 kept, 0.72 left out,
# 0.87 counted at 0.2 (chosen).
QUESTION_WORDS = (
    "gì", "nào", "ai", "đâu", "sao", "mấy", "bao nhiêu", "bao lâu", "bao giờ", "như thế nào", "thế nào",
    "ra sao", "tại sao", "vì sao", "khi nào", "lúc nào", "ở đâu", "là gì",
)
# Typed without diacritics, only the runs that cannot be a content word (nao: não, dau: đau, đầu).
QUESTION_WORDS_FOLDED = (
    "gi", "bao nhieu", "bao lau", "bao gio", "nhu the nao", "the nao", "ra sao", "tai sao", "vi sao",
    "khi nao", "luc nao", "la gi",
)
_QUESTION_RUNS = {
    accented: sorted((tuple(w.split()) for w in words), key=len, reverse=True)
    for accented, words in ((True, QUESTION_WORDS), (False, QUESTION_WORDS_FOLDED))
}


def mark_question_words(a: Analyzed) -> Analyzed:
    """The query with its question words marked (``Ai là người phẫu thuật?``: ``ai``); unmarked when
    nothing else would be left. A one-syllable question word counts only as a word of its own (``sao``
    but not ``ngôi_sao``), and a syllable that another word of the query also has is not marked."""
    units = a.syllables if a.accented else a.folded
    words = [w.split("_") for w in a.words]
    if sum(map(len, words)) != len(units):
        return a  # the word and syllable analyses disagree (never seen); leave the query alone
    names = _capitalised_runs(a.text, len(units))
    alone = set()
    at = 0
    for w in words:
        if len(w) == 1:
            alone.add(at)
        at += len(w)
    marked: set[int] = set()
    for i in range(len(units)):
        for run in _QUESTION_RUNS[a.accented]:
            if (tuple(units[i:i + len(run)]) == run and (len(run) > 1 or i in alone)
                    and not names.intersection(range(i, i + len(run)))):
                marked.update(range(i, i + len(run)))
                break
    question, kept, at = [], [], 0
    for w in words:
        (question if all(j in marked for j in range(at, at + len(w))) else kept).append(w)
        at += len(w)
    if not question or not kept:
        return a
    kept_syllables = {s for w in kept for s in w}
    syllables = {s for w in question for s in w} - kept_syllables
    return replace(
        a,
        # a word typed twice, once asking and once not (chung kết Sao Mai ra sao), counts as the content word
        question_words=frozenset("_".join(w) for w in question) - {"_".join(w) for w in kept},
        question_syllables=frozenset(syllables),
        question_folded=frozenset(analysis.fold(s) for s in syllables) - {analysis.fold(s) for s in kept_syllables},
    )


def _capitalised_runs(text: str, count: int) -> set[int]:
    """Which of the ``count`` syllables were typed in a run of capitalised ones (``Ai Cập``, ``Sao Mai``):
    a name, whatever pyvi made of it, and not a question word. Empty where the syllables cannot be told
    apart the same way."""
    text = analysis.normalize(text)
    spans = analysis.syllable_spans(text)
    if len(spans) != 2 * count:
        return set()
    capital = [text[start].isupper() for start in spans[::2]]
    return {i for i in range(count) if capital[i] and (
        (i > 0 and capital[i - 1]) or (i + 1 < count and capital[i + 1]))}


def _unique(items: list) -> list:
    return list(dict.fromkeys(items))[:MAX_TERMS]


@dataclass(frozen=True)
class Phrase:
    """Syllables that must stand side by side in one of ``parts`` (the folded positions decide;
    typed with diacritics, the article must also have the exact syllables)."""

    analyzed: Analyzed
    parts: tuple[str, ...] = TEXT_PARTS


@dataclass(frozen=True)
class Expansion:
    """A span of the query that may also match as any of ``options``, at ``weight`` of an exact match (the
    span's score is the best of its forms, never the sum); ``runs`` are the whole run with each option,
    for proximity."""

    typed: Analyzed
    options: list[Analyzed]
    weight: float
    runs: list[Analyzed]


@dataclass
class Plan:
    """What the ranking runs: text to score, phrases to require or prefer, what to exclude and filter."""

    scored: list[Analyzed] = field(default_factory=list)  # free words: any of them matches
    required: list[Phrase] = field(default_factory=list)
    preferred: list[Phrase] = field(default_factory=list)  # an OR was typed: phrases are alternatives
    excluded: list[Phrase] = field(default_factory=list)
    filters: dict[str, list[str]] = field(default_factory=dict)
    excluded_filters: dict[str, list[str]] = field(default_factory=dict)
    restored: list[Analyzed] = field(default_factory=list)  # free words typed without diacritics, restored
    # What the reader probably meant besides what was typed (engine/rewrite.py: typos, synonyms).
    expanded: list[Expansion] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    solo: frozenset[str] = frozenset()  # marks that are one-syllable words of the query

    @property
    def matches_text(self) -> bool:
        return bool(self.scored or self.required or self.preferred)

    @property
    def ranked_text(self) -> list[Analyzed]:
        """Everything whose words rank: the free words and the phrases' words."""
        return self.scored + [p.analyzed for p in self.required + self.preferred]


def build(pq: ParsedQuery) -> Plan:
    """Free words are "any of" and carry the ranking; phrases must match (with an OR typed, they are
    alternatives: ``"xe buýt" OR robot``) and their words help the ranking too."""
    plan = Plan(filters=dict(pq.filters), excluded_filters=dict(pq.excluded_filters))
    free = [mark_question_words(a) for a in map(analyze, pq.free) if a.syllables]
    phrases = [Phrase(a) for a in map(analyze, pq.phrases) if a.folded]
    phrases += [Phrase(a, ("title",)) for a in map(analyze, pq.title) if a.folded]
    plan.scored = free
    if pq.alternatives:
        plan.preferred = phrases
    else:
        plan.required = phrases
    plan.excluded = [Phrase(a) for a in map(analyze, pq.excluded) if a.folded]
    plan.marks = _unique([s for a in plan.ranked_text for s in a.syllables])
    plan.solo = frozenset(w for a in plan.ranked_text for w in a.words if "_" not in w)
    return plan
