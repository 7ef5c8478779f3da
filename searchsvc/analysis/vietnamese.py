"""Vietnamese text analysis: normalisation, pyvi segmentation with exact offsets, Whoosh analyzers.

Everything here is pure (no index, no I/O) so that index time and query time
share one definition of what a token is.

Design notes (see ../shared/notes/dependency-facts.md):
- pyvi gives no offsets and rewrites its input, so we re-run its own syllable
  regex on *our* text, ask its CRF model for the word labels and apply its own
  joining rule; offsets then point into the text as stored.
- pyvi is quadratic on long input, so it is called per paragraph (long
  paragraphs are cut at sentence ends).
- Three token streams come from one segmentation: words (``hà_nội``),
  syllables (``hà``, ``nội``) and accent-folded syllables (``ha``, ``noi``).
  A small cache keyed by text makes the second and third stream free, so pyvi
  runs once per text even though three fields index it.
"""

from __future__ import annotations

import re
import string
import threading
import unicodedata
from array import array
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from whoosh.analysis import CompositeAnalyzer, Filter, LowercaseFilter, Token, Tokenizer

from searchsvc.analysis.pyvi_features import tag

__all__ = [
    "Segmentation",
    "clean",
    "unify_tones",
    "normalize",
    "fold",
    "segment",
    "load_model",
    "VietnameseTokenizer",
    "FoldFilter",
    "word_analyzer",
    "syllable_analyzer",
    "folded_analyzer",
    "syllable_spans",
]

# --- normalisation -----------------------------------------------------------

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))

_TONES = "\u0300\u0301\u0309\u0303\u0323"  # huyền, sắc, hỏi, ngã, nặng


def _with_tone(base: str, tone: str) -> str:
    return unicodedata.normalize("NFC", base + tone)


def _tone_table() -> dict[str, str]:
    """Map old-style pairs (``òa``, ``ủy``) to the new style (``oà``, ``uỷ``).

    The new style is the one pyvi's dictionary uses and the one that dominates
    in news text, so unifying on it also helps segmentation.
    """
    table: dict[str, str] = {}
    for first, seconds in (("o", "ae"), ("u", "y")):
        for tone in _TONES:
            for second in seconds:
                for f, s in ((first, second), (first.upper(), second.upper()),
                             (first.upper(), second), (first, second.upper())):
                    table[_with_tone(f, tone) + s] = f + _with_tone(s, tone)
    return table


_TONE_PAIRS = _tone_table()
# Open syllable only (nothing word-like follows), and never after q: ``quý`` keeps its form.
# A character class, not an alternation of the pairs: this runs on every text, nine times per article.
_TONE_RE = re.compile(r"(?<![qQ])(?:[òóỏõọÒÓỎÕỌ][aeAE]|[ùúủũụÙÚỦŨỤ][yY])(?!\w)")


def clean(text: str) -> str:
    """What we store: NFC without zero-width characters, the article's own spelling otherwise."""
    return unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)


def _i_y_table() -> dict[str, str]:
    """``i`` and ``y`` as the vowel of a syllable written either way (``kì``/``kỳ``), both cases."""
    table = {}
    for tone in ("", *_TONES):
        for i, y in (("i", "y"), ("I", "Y")):
            table[_with_tone(i, tone)] = _with_tone(y, tone)
    return table


_I_TO_Y = _i_y_table()
_Y_TO_I = {y: i for i, y in _I_TO_Y.items()}
_TONED_I = "".join(i for i in _I_TO_Y if i not in "iI")
# Each pair is unified on the spelling news uses most (counted in the corpus): kỳ, lý, Mỹ, kỹ, tỷ, but sĩ.
_I_Y_RE = re.compile(
    "(?<![\\w])(?:([kKlLmM])([" + "".join(_I_TO_Y) + "])|([tT])([" + _TONED_I + "])|([sS])(["
    + "".join(_Y_TO_I) + "]))(?![\\w])"
)


def _i_y(m: re.Match) -> str:
    if m.group(1):
        return m.group(1) + _I_TO_Y[m.group(2)]
    if m.group(3):
        return m.group(3) + _I_TO_Y[m.group(4)]
    return m.group(5) + _Y_TO_I[m.group(6)]


def unify_tones(text: str) -> str:
    """One spelling where Vietnamese has two: tone placement (``hòa`` → ``hoà``) and i/y (``kì`` → ``kỳ``).

    One character in, one out, so offsets into the original text hold.
    """
    text = _TONE_RE.sub(lambda m: _TONE_PAIRS.get(m.group(0), m.group(0)), text)
    return _I_Y_RE.sub(_i_y, text)


def normalize(text: str) -> str:
    """One spelling for one word: what tokens and queries are made of.

    Stored text is only :func:`clean`; tokens are cut from its
    :func:`unify_tones` form, which has the same length, so offsets into the
    stored text stay exact while ``hoà`` and ``hòa`` become one term.
    """
    return unify_tones(clean(text))


def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {ord("đ"): "d", ord("Đ"): "D"}
    for cp in list(range(0xC0, 0x250)) + list(range(0x1E00, 0x1F00)):
        ch = chr(cp)
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        if len(base) == 1 and base != ch and base.isascii():
            table[cp] = base
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    """Remove every diacritic and map ``đ`` to ``d``; one character in, one out."""
    return text.translate(_FOLD)


# --- segmentation --------------------------------------------------------------

# pyvi 0.1.1's own syllable pattern (ViTokenizer.sylabelize), so that our syllables
# line up one to one with the sequence its CRF model labels.
_PYVI_PATTERN = re.compile(
    "("
    + "|".join(
        [
            r"[A-ZĐ]+\.", r"Tp\.", r"Mr\.", r"Mrs\.", r"Ms\.", r"Dr\.", r"ThS\.",
            "==>", "->", r"\.\.\.", ">>", "\n",
            r"\w+://[^\s]+", r"([a-zA-Z0-9_.+-]+@([a-zA-Z0-9-]+\.)+[a-zA-Z0-9-]+)",
            r"\d+([\.,_]\d+)+", r"[^\w\s]", r"\w+",
        ]
    )
    + ")",
    re.UNICODE,
)
_WORDCHAR = re.compile(r"\w")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_SENTENCE_END = re.compile(r"[.!?…]+[\"”’)]*\s+")
_MAX_CHUNK = 1500


@dataclass(frozen=True, slots=True)
class Segmentation:
    """Where the syllables and words of one text are, as offsets into that text.

    ``syllables`` holds start/end pairs (flattened); ``words`` holds, for each
    word, the index one past its last syllable (the first word starts at 0).
    Compact arrays because segmentations travel between processes.
    """

    syllables: array
    word_ends: array

    def word_spans(self) -> Iterator[tuple[int, int, int, int]]:
        """(first syllable, end syllable, start char, end char) for each word."""
        s = self.syllables
        first = 0
        for end in self.word_ends:
            yield first, end, s[2 * first], s[2 * end - 1]
            first = end


def _syllable(m: re.Match) -> tuple[int, int] | None:
    """The word-character core of one of pyvi's tokens (``TP.`` → ``TP``), or None for punctuation."""
    raw = m.group(0)
    if _WORDCHAR.search(raw) is None:
        return None
    start, end = m.span()
    if raw[0].isalnum() and raw[-1].isalnum():
        return start, end
    inner = _EDGE_PUNCT.sub("", raw)
    start += raw.index(inner)
    return start, start + len(inner)


def _chunks(text: str) -> Iterator[tuple[int, str]]:
    """Paragraphs, and long paragraphs cut at sentence ends, with their offsets."""
    pos = 0
    for para in text.split("\n"):
        if len(para) <= _MAX_CHUNK:
            if para.strip():
                yield pos, para
        else:
            start = 0
            for m in _SENTENCE_END.finditer(para):
                if m.end() - start >= _MAX_CHUNK // 3:
                    yield pos + start, para[start:m.end()]
                    start = m.end()
            if start < len(para):
                yield pos + start, para[start:]
        pos += len(para) + 1


def load_model() -> None:
    """Load pyvi's model and dictionary now (before forking workers, or at server start): forked workers then
    share them (``searchsvc.analysis.pyvi_features``)."""
    from searchsvc.analysis.pyvi_features import warm

    warm()


_tag_lock = threading.Lock()


def segment_uncached(text: str) -> Segmentation:
    """Segment ``text`` into syllables and pyvi words with offsets into ``text``.

    The labels come from pyvi's own CRF model, fed by pyvi_features (the same
    features as pyvi's, built faster; tested to give identical labels).
    """
    chunks: list[tuple[int, list[re.Match]]] = []
    for base, chunk in _chunks(text.replace("_", " ")):
        matches = list(_PYVI_PATTERN.finditer(chunk))
        if matches:
            chunks.append((base, matches))
    with _tag_lock:  # crfsuite's tagger holds the sentence between its steps
        labels_per_chunk = tag([[m.group(0) for m in ms] for _, ms in chunks])
    syllables = array("i")
    word_ends = array("i")
    n = 0
    punct = string.punctuation
    # The hot loop of indexing. The join test is pyvi's own rule (ViTokenizer.tokenize);
    # _syllable is inlined for the common all-alphanumeric token.
    for (base, matches), labels in zip(chunks, labels_per_chunk, strict=True):
        prev_raw = None
        in_word = False
        for m, label in zip(matches, labels, strict=True):
            raw = m.group(0)
            joined = (
                label == "I_W"
                and prev_raw is not None
                and raw not in punct
                and prev_raw not in punct
                and not raw[0].isdigit()
                and not prev_raw[0].isdigit()
                and not (raw[0].istitle() and not prev_raw[0].istitle())
            )
            prev_raw = raw
            if raw[0].isalnum() and raw[-1].isalnum():
                start, end = m.span()
            else:
                span = _syllable(m)
                if span is None:
                    if in_word:
                        word_ends.append(n)
                        in_word = False
                    continue
                start, end = span
            if in_word and not joined:
                word_ends.append(n)
            syllables.append(base + start)
            syllables.append(base + end)
            n += 1
            in_word = True
        if in_word:
            word_ends.append(n)
    return Segmentation(syllables, word_ends)


class _Memo:
    """The last few results of ``fn`` by text: the fields that index one text share one analysis."""

    def __init__(self, fn, size: int = 256) -> None:
        self.fn = fn
        self.size = size
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, text: str):
        with self._lock:
            value = self._items.get(text)
            if value is not None:
                self._items.move_to_end(text)
                return value
        value = self.fn(text)
        self.put(text, value)
        return value

    def put(self, text: str, value) -> None:
        with self._lock:
            self._items[text] = value
            self._items.move_to_end(text)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_segment_memo = _Memo(segment_uncached)


def segment(text: str) -> Segmentation:
    """Segment with a cache, so fields sharing a text share one pyvi run."""
    return _segment_memo(text)


def syllable_spans(text: str) -> array:
    """Syllable start/end offsets (flattened) by pyvi's regex alone, no model; cached by text."""
    return _syllable_memo(text)


def _syllable_spans(text: str) -> array:
    """Syllable start/end offsets (flattened) by pyvi's regex alone, no model.

    Syllables never span whitespace, so cutting text into paragraphs and
    sentences for pyvi does not change them: this is the same sequence the
    word segmentation is built on, at a fraction of the cost.
    """
    spans = array("i")
    for m in _PYVI_PATTERN.finditer(text.replace("_", " ")):
        span = _syllable(m)
        if span is not None:
            spans.extend(span)
    return spans


_syllable_memo = _Memo(_syllable_spans)


# --- Whoosh analysis chain ---------------------------------------------------------


UNITS = ("word", "syllable", "compound-syllable")


class VietnameseTokenizer(Tokenizer):
    """Words (pyvi, syllables joined by ``_``), syllables (regex only) or the syllables of compounds.

    Holds no state but its unit, because Whoosh pickles the schema into the index.
    """

    def __init__(self, unit: str = "word") -> None:
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
        self.unit = unit

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VietnameseTokenizer) and other.unit == self.unit

    def __hash__(self) -> int:
        return hash((type(self), self.unit))

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs,
    ) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            t.original = t.text = value
            t.boost = 1.0
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar, t.endchar = start_char, start_char + len(value)
            yield t
            return
        value = unify_tones(value)
        for pos, (text, start, end) in enumerate(self._pieces(value)):
            t.text = text
            t.boost = 1.0
            t.stopped = False
            if keeporiginal:
                t.original = text
            if positions:
                t.pos = start_pos + pos
            if chars:
                t.startchar, t.endchar = start_char + start, start_char + end
            yield t

    def _pieces(self, value: str) -> Iterator[tuple[str, int, int]]:
        """(text, start, end) of each syllable, of each word (syllables joined by ``_``),
        or of each syllable of the words that have several (``compound-syllable``)."""
        if self.unit == "syllable":
            s = syllable_spans(value)
            for i in range(0, len(s), 2):
                yield value[s[i]:s[i + 1]], s[i], s[i + 1]
            return
        seg = segment(value)
        s = seg.syllables
        if self.unit == "compound-syllable":
            for first, end, _, _ in seg.word_spans():
                if end - first > 1:
                    for i in range(first, end):
                        yield value[s[2 * i]:s[2 * i + 1]], s[2 * i], s[2 * i + 1]
            return
        for first, end, start_c, end_c in seg.word_spans():
            if end - first == 1:
                yield value[start_c:end_c], start_c, end_c
            else:
                yield "_".join(value[s[2 * i]:s[2 * i + 1]] for i in range(first, end)), start_c, end_c


class FoldFilter(Filter):
    """Accent-folds token text (``đường`` → ``duong``); offsets stay those of the text as written."""

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for t in tokens:
            t.text = fold(t.text)
            yield t


def word_analyzer() -> CompositeAnalyzer:
    return VietnameseTokenizer("word") | LowercaseFilter()


def syllable_analyzer() -> CompositeAnalyzer:
    return VietnameseTokenizer("syllable") | LowercaseFilter()


def compound_syllable_analyzer() -> CompositeAnalyzer:
    """Syllables of multi-syllable words only: a one-syllable word is already a word term."""
    return VietnameseTokenizer("compound-syllable") | LowercaseFilter()


def folded_analyzer() -> CompositeAnalyzer:
    return VietnameseTokenizer("syllable") | LowercaseFilter() | FoldFilter()


def words(text: str) -> list[str]:
    """Lower-cased pyvi words of ``text`` (already normalised)."""
    return [t.text for t in word_analyzer()(text)]

