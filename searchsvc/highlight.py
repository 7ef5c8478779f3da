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

from searchsvc.schema import FOLDED, SYLLABLE, WORD, field_name

FRAGMENT_CHARS = 200
TOP_FRAGMENTS = 3


def load_spans(searcher, docnums: Iterable[int], part: str, matched: dict[int, set[tuple[str, bytes]]]) -> dict[int, list[tuple[int, int]]]:
    """For each document, the character spans of the terms it matched in ``part``.

    One postings cursor per matched term, skipping through the documents in
    order, like Whoosh's own pinpoint loading.
    """
    fields = {field_name(part, unit) for unit in (WORD, SYLLABLE, FOLDED)}
    docs = sorted(docnums)
    by_term: dict[tuple[str, bytes], list[int]] = {}
    for doc in docs:
        for key in matched.get(doc, ()):
            if key[0] in fields:
                by_term.setdefault(key, []).append(doc)
    spans: dict[int, list[tuple[int, int]]] = {doc: [] for doc in docs}
    for (fieldname, term), term_docs in by_term.items():
        m = searcher.postings(fieldname, term)
        for doc in term_docs:
            m.skip_to(doc)
            if m.is_active() and m.id() == doc:
                spans[doc].extend((start, end) for _pos, start, end in m.value_as("characters"))
    return {doc: merge(s) for doc, s in spans.items()}


def merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping and touching spans joined."""
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


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
        lo = _word_boundary(text, max(0, start - pad), backwards=True)
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


def best(text: str, spans: list[tuple[int, int]], top: int = TOP_FRAGMENTS, size: int = FRAGMENT_CHARS) -> list[Fragment]:
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
