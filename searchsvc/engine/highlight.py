"""Highlighting from stored character offsets ("pinpoint"): no re-analysis at query time.

Split like Whoosh's own highlighter: the matched spans come from the index,
a fragmenter picks windows of the text, a scorer ranks them and a formatter
escapes the text and marks the spans. Spans from the word, syllable and
folded fields of one part are merged, so a match typed without diacritics is
marked in the article's own spelling.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

import numpy as np

from searchsvc.analysis.vietnamese import fold, normalize
from searchsvc.engine.arrays import KEY_SHIFT, POSITION, IndexArrays
from searchsvc.engine.ranking import Candidates
from searchsvc.index.schema import FOLDED, field_name
from searchsvc.index.stored import offset_bounds

FRAGMENT_CHARS = 200
COMMON_SHARE = 0.25
TOP_FRAGMENTS = 3
_NO_KEYS = np.zeros(0, dtype=np.int64)


def load_spans(
    arrays: IndexArrays,
    docnums: Iterable[int],
    part: str,
    marks: list[str],
    texts: dict[int, str],
    offsets: dict[int, bytes],
    solo: frozenset[str] = frozenset(),
    candidates: Candidates | None = None,
) -> dict[int, list[tuple[int, int]]]:
    """For each document, the character spans in ``part`` of the query syllables ``marks`` (in query order).

    Positions come from the folded field's postings (stage two's for its
    candidates, else read from the map for these documents) and become characters through
    the offsets stored with the document. A syllable typed with diacritics
    marks only its exact spelling (``đường``, not ``dương``), and if it is
    part of a longer query word (``solo`` lists the one-syllable words) only
    where that word's syllables stand together. One typed
    without diacritics marks its folded matches, and where the query's
    neighbouring syllables stand side by side in the text (``ho chi minh``),
    only those runs, not every ``hô`` and ``chị``.
    """
    fieldname = field_name(part, FOLDED)
    docs = sorted(docnums)
    if not docs:
        return {}
    folded_marks = [fold(m) for m in marks]
    exact = {f: {m for m, g in zip(marks, folded_marks, strict=True) if g == f and m != f} for f in folded_marks}
    loose = {f for m, f in zip(marks, folded_marks, strict=True) if m == f}
    unique = list(dict.fromkeys(folded_marks))
    number = {f: i for i, f in enumerate(unique)}
    # Syllable numbers side by side in the query; the last row and column stand for "no mark there".
    paired = np.zeros((len(unique) + 1, len(unique) + 1), dtype=bool)
    for f, g in zip(folded_marks, folded_marks[1:], strict=False):
        paired[number[f], number[g]] = True
    common = _common(arrays, fieldname, unique)
    skipped = np.array([f in common for f in unique] + [False])  # common: marked only in a run
    is_loose = np.array([f in loose for f in unique] + [False])
    # Every marked position of the documents, in (document, position) order, with its syllable's number: a
    # position's neighbours are the entries beside it, so runs and common words are told apart by vector
    # operations, and only the positions kept are looked at one by one (a page of ten questions' answers
    # held thousands of common syllables' positions, each read in Python).
    wanted = np.array(docs, dtype=np.int64)
    known = candidates.positions if candidates is not None and _among(wanted, candidates.docs) else {}
    keys, counts, read, unread = [], [], [], []
    for i, f in enumerate(unique):
        found = known.get((part, f))  # the candidates' positions, as stage two read them: the page's picked out below
        keys.append(found[0] if found is not None else _NO_KEYS)
        counts.append(len(keys[-1]))
        if found is None:
            read.append(arrays.position_keys(fieldname, f, wanted)[0])
            unread.append(i)
    spans: dict[int, list[tuple[int, int]]] = {doc: [] for doc in docs}
    key = np.concatenate(keys) if keys else _NO_KEYS
    syllable = np.repeat(np.arange(len(unique)), counts)
    if len(key):
        doc_of = key >> KEY_SHIFT
        on_page = wanted[np.minimum(np.searchsorted(wanted, doc_of), len(wanted) - 1)] == doc_of
        key, syllable = key[on_page], syllable[on_page]
    if read:
        key = np.concatenate([key, *read])
        syllable = np.concatenate([syllable, np.repeat(unread, [len(k) for k in read])])
    if not len(key):
        return spans
    order = np.argsort(key, kind="stable")
    key, syllable = key[order], syllable[order]
    beside = np.diff(key) == 1  # the next position of the same document (positions stay far below 2**32 - 1)
    none = len(unique)
    before = np.concatenate(([none], np.where(beside, syllable[:-1], none)))
    after = np.concatenate((np.where(beside, syllable[1:], none), [none]))
    in_run = paired[before, syllable] | paired[syllable, after]
    kept = ~skipped[syllable] | in_run
    key, syllable, in_run = key[kept], syllable[kept], in_run[kept]
    doc_of = key >> KEY_SHIFT
    bounds = np.searchsorted(doc_of, wanted).tolist() + [len(key)]
    one_mark = len(marks) == 1
    spellings_of = [exact[f] for f in unique]
    has_exact = np.array([bool(e) for e in spellings_of])
    for d, doc in enumerate(docs):
        lo, hi = bounds[d], bounds[d + 1]
        if lo == hi:
            continue
        bounds_of = offset_bounds(offsets.get(doc) or b"")
        pos = key[lo:hi] & POSITION
        held = pos < len(bounds_of) // 2
        pos = 2 * pos[held]
        starts, ends = bounds_of[pos], bounds_of[pos + 1]
        which, run = syllable[lo:hi][held], in_run[lo:hi][held]
        loose_here = is_loose[which]
        chosen = loose_here & run
        if not chosen.any():
            chosen = loose_here
        found = list(zip(starts[chosen].tolist(), ends[chosen].tolist(), strict=True))
        text = texts.get(doc, "")
        checked = has_exact[which]
        for a, b, i, r in zip(starts[checked].tolist(), ends[checked].tolist(), which[checked].tolist(),
                              run[checked].tolist(), strict=True):
            written = _written(text[a:b])
            # A syllable of a longer query word (``nội`` of ``hà nội``) is marked only beside its neighbour.
            if written in spellings_of[i] and (r or written in solo or one_mark):
                found.append((a, b))
        spans[doc] = merge(found, text)
    return spans


def _among(docs: np.ndarray, candidates: np.ndarray) -> bool:
    """Every one of ``docs`` is one of the (sorted) ``candidates``."""
    at = np.minimum(np.searchsorted(candidates, docs), len(candidates) - 1)
    return bool(len(candidates)) and bool((candidates[at] == docs).all())


@functools.lru_cache(maxsize=8192)
def _written(text: str) -> str:
    """A marked syllable as a query spells it: the same few thousand words come back on every page."""
    return normalize(text).lower()


def _common(arrays: IndexArrays, fieldname: str, folded: list[str]) -> set[str]:
    """In a question (three syllables or more), what a quarter of all articles say (``có``, ``gì``):
    marked only beside another word of the query."""
    if len(folded) < 3:
        return set()
    limit = COMMON_SHARE * max(1, arrays.doc_count)
    return {f for f in folded if arrays.doc_frequency(fieldname, f) > limit}


def merge(spans: Iterable[tuple[int, int]], text: str = "") -> list[tuple[int, int]]:
    """Sorted spans, joined where they overlap or only spaces part them (one mark for ``Hồ Chí Minh``)."""
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out:
            last = out[-1]
            gap = text[last[1]:start]
            if start <= last[1] or (gap and len(gap) <= 3 and gap.strip(" \u00a0") == ""):  # only spaces between
                last[1] = max(last[1], end)
                continue
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


def _marked(text: str, start: int, end: int, spans: Iterable[tuple[int, int]]) -> str:
    """Escaped ``text[start:end]`` with ``<mark>`` around the spans: the only markup that survives."""
    out = []
    pos = start
    for s, e in spans:
        out.append(escape(text[pos:s]))
        out.append("<mark>" + escape(text[s:e]) + "</mark>")
        pos = e
    out.append(escape(text[pos:end]))
    return "".join(out)


def format_whole(text: str, spans: list[tuple[int, int]]) -> str:
    return _marked(text, 0, len(text), spans)


def snippet(text: str, spans: list[tuple[int, int]], top: int = TOP_FRAGMENTS, size: int = FRAGMENT_CHARS) -> str:
    """Up to ``top`` fragments, in text order, joined by ellipses; the opening of the text when nothing matched."""
    if not text:
        return ""
    frags = best(text, spans, top, size) if spans else [Fragment(0, _word_boundary(text, size, False), ())]
    html = " … ".join(_marked(text, f.start, f.end, f.spans).strip() for f in frags)
    if frags[0].start > 0:
        html = "… " + html
    if frags[-1].end < len(text):
        html += " …"
    return html
