"""Highlighting from stored character offsets ("pinpoint"): no re-analysis at query time.

Split like Whoosh's own highlighter: the matched spans come from the index,
a fragmenter picks windows of the text, a scorer ranks them and a formatter
escapes the text and marks the spans. Spans from the word, syllable and
folded fields of one part are merged, so a match typed without diacritics is
marked in the article's own spelling.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from whoosh.reading import TermNotFound

from searchsvc.analysis import fold, normalize
from searchsvc.codec import unpack_offsets
from searchsvc.schema import FOLDED, field_name

FRAGMENT_CHARS = 200
TOP_FRAGMENTS = 3


def load_spans(
    searcher, docnums: Iterable[int], part: str, marks: list[str], texts: dict[int, str], offsets: dict[int, bytes]
) -> dict[int, list[tuple[int, int]]]:
    """For each document, the character spans in ``part`` of the query syllables ``marks``.

    Positions come from the folded field's postings (one cursor per syllable,
    skipping through the documents in order) and become characters through
    the offsets stored with the document. A syllable typed with diacritics
    marks only its exact spelling when the document has it, and its folded
    matches otherwise, so ``đường`` does not light up every ``dương``.
    """
    fieldname = field_name(part, FOLDED)
    docs = sorted(docnums)
    spans: dict[int, list[tuple[int, int]]] = {doc: [] for doc in docs}
    syllables = {doc: unpack_offsets(offsets.get(doc) or b"") for doc in docs}
    by_folded: dict[str, list[str]] = {}
    for mark in marks:
        by_folded.setdefault(fold(mark), []).append(mark)
    for folded, typed in by_folded.items():
        try:
            m = searcher.postings(fieldname, folded)
        except TermNotFound:
            continue
        exact = [t for t in typed if t != folded]
        for doc in docs:
            if not m.is_active():
                break
            m.skip_to(doc)
            if not m.is_active() or m.id() != doc:
                continue
            table = syllables[doc]
            found = [table[p] for p in m.value_as("positions") if p < len(table)]
            if exact and len(exact) == len(typed):
                text = texts.get(doc, "")
                same = [(a, b) for a, b in found if normalize(text[a:b]).lower() in exact]
                found = same or found
            spans[doc].extend(found)
    return {doc: merge(s, texts.get(doc, "")) for doc, s in spans.items()}


def merge(spans: Iterable[tuple[int, int]], text: str = "") -> list[tuple[int, int]]:
    """Sorted spans, joined where they overlap or only spaces part them (one mark for ``Hồ Chí Minh``)."""
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out and (start <= out[-1][1] or _only_spaces(text[out[-1][1]:start])):
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def _only_spaces(gap: str) -> bool:
    return bool(gap) and len(gap) <= 3 and gap.strip(" \u00a0") == ""


@dataclass(frozen=True)
class Fragment:
    start: int
    end: int
    spans: tuple[tuple[int, int], ...]


def fragments(text: str, spans: list[tuple[int, int]], size: int = FRAGMENT_CHARS) -> list[Fragment]:
    """Windows of about ``size`` characters around runs of matches, cut at word boundaries."""
    frags: list[Fragment] = []
    i = 0
    while i < len(spans):
        start = spans[i][0]
        j = i
        while j + 1 < len(spans) and spans[j + 1][1] - start <= size:
            j += 1
        inner = spans[i:j + 1]
        used = inner[-1][1] - start
        pad = max(0, size - used) // 2
        floor = frags[-1].end if frags else 0
        lo = max(floor, _word_boundary(text, max(0, start - pad), backwards=True))
        hi = _word_boundary(text, min(len(text), inner[-1][1] + (size - used - (start - lo))), backwards=False)
        frags.append(Fragment(lo, hi, tuple(inner)))
        i = j + 1
    return frags


def _word_boundary(text: str, pos: int, backwards: bool) -> int:
    if pos <= 0 or pos >= len(text):
        return max(0, min(pos, len(text)))
    step = -1 if backwards else 1
    limit = 20
    while 0 < pos < len(text) and not text[pos - 1].isspace() and limit:
        pos += step
        limit -= 1
    return pos


def score(fragment: Fragment, text: str) -> tuple[int, int]:
    """More distinct matched words first, then more matches."""
    words = {text[s:e].lower() for s, e in fragment.spans}
    return (len(words), len(fragment.spans))


def best(
    text: str, spans: list[tuple[int, int]], top: int = TOP_FRAGMENTS, size: int = FRAGMENT_CHARS
) -> list[Fragment]:
    frags = fragments(text, spans, size)
    chosen = sorted(frags, key=lambda f: score(f, text), reverse=True)[:top]
    return sorted(chosen, key=lambda f: f.start)


def format_fragment(text: str, fragment: Fragment) -> str:
    """Escaped text with ``<mark>`` around matches; the only markup that survives."""
    out = []
    pos = fragment.start
    for s, e in fragment.spans:
        out.append(escape(text[pos:s]))
        out.append("<mark>" + escape(text[s:e]) + "</mark>")
        pos = e
    out.append(escape(text[pos:fragment.end]))
    html = "".join(out).strip()
    if fragment.start > 0:
        html = "… " + html
    if fragment.end < len(text):
        html += " …"
    return html


def format_whole(text: str, spans: list[tuple[int, int]]) -> str:
    return format_fragment(text, Fragment(0, len(text), tuple(spans)))


def snippet(text: str, spans: list[tuple[int, int]], top: int = TOP_FRAGMENTS, size: int = FRAGMENT_CHARS) -> str:
    """Up to ``top`` fragments joined; the opening of the text when nothing matched."""
    if not text:
        return ""
    if not spans:
        return format_fragment(text, Fragment(0, _word_boundary(text, min(len(text), size), False), ()))
    return " ".join(format_fragment(text, f) for f in best(text, spans, top, size))
