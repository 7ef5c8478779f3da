"""Did-you-mean: diacritics restored from the index's own vocabulary, and misspelt syllables corrected.

A reader who types ``ha noi ngap lut`` means *Hà Nội ngập lụt*: the index
knows which accented words fold to ``ha_noi`` and ``ngap_lut`` and how many
articles use each, so the most used one wins. Where the syllables can be
split into words in several ways (``tinh ca nhan``: *tình ca* + *nhận* or
*tính* + *cá nhân*), the split whose words the index uses most, as a
unigram model of its word counts, wins (Viterbi); taking the longest word
from the left had given *tình ca nhận* (measured: headline words typed
without diacritics, success@1 0.847 -> 0.871, docs/benchmarks.md).

The tables are written by the indexer with each generation and mapped by
every worker (index/lexicon.py; built in each worker they took 240 MB and
5 s at 48k articles). A misspelt syllable is matched against the known ones
through an index of their one-letter deletions (as SymSpell does), not by
scanning the vocabulary.
"""

from __future__ import annotations

import math
import threading
import unicodedata
from collections.abc import Container
from functools import lru_cache

import numpy as np

from searchsvc.analysis.input_methods import is_syllable
from searchsvc.analysis.pyvi_features import syllables as pyvi_syllables
from searchsvc.analysis.vietnamese import fold, unify_tones
from searchsvc.engine.arrays import within
from searchsvc.index.lexicon import Spelling, StringMap, StringMultiMap, deletions
from searchsvc.index.schema import FOLDED, SYLLABLE, TEXT_PARTS, WORD, field_name

MAX_WORD_SYLLABLES = 4
MAX_CACHED_COUNTS = 100_000
MIN_WORD_COUNT = 2  # a correction must be a word (or syllable) the index uses at least this often
KNOWN_RATIO = 30  # a known syllable is corrected only to one the index uses this many times more (and the
# word it makes with a neighbour this many times more than any word the typed one makes there)
RARE_SHARE = 1e-5  # and only if it is rare: at most this share of the index's words (cổng chính stays)
TYPO_SHARE = 1e-6  # a syllable no dictionary has, this rare, is the typo of a few articles (vệc: 3 of 17M words)
# A common one only where it stands beside its neighbours as the index (almost) never has them: one letter from a
# word with a neighbour the index uses at least CONTEXT_WORD times, and PAIR_RATIO times more than it has the typed
# syllable beside either neighbour (hâm mộ bón đá: bóng đá; chất bổ stays: the index has it side by side).
CONTEXT_WORD = 100
PAIR_RATIO = 100
OTHER_RATIO = 5  # and the correction stands beside its other neighbour this many times more than the typed one
TYPED_PAIRS = 10  # and the index has the typed syllable beside a neighbour at most this often (cùng nghệ sĩ: 41)
CONTEXT_OPTIONS = 5  # near syllables (by word and use) ranked by their neighbours (5, 8 and 12 found the same)
MAX_NEAR = 20_000  # near syllables remembered (a few MB at most)
_WORD_FIELDS = (field_name("title", WORD), field_name("body", WORD))
_SYLLABLE_FIELD = field_name("body", SYLLABLE)
_SYLLABLE_FIELDS = tuple(field_name(part, SYLLABLE) for part in ("title", "sapo", "body"))


class Speller:
    """Built from one reader's vocabulary; share it for the life of that reader."""

    def __init__(self, reader, io: threading.RLock | None = None, arrays=None) -> None:
        self.reader = reader
        self.io = io or threading.RLock()  # Whoosh readers are not safe to use from two threads at once
        self.arrays = arrays  # the generation's mapped data (engine/arrays.py): its spelling tables, postings
        self._near: dict[str, list[str]] = {}
        self._accents: StringMap | None = None
        self._syllables: Container[str] = frozenset()
        self._words: Container[str] = frozenset()
        self._folded: Container[str] = frozenset()
        self._vietnamese: set[str] = set()
        self._deletions: StringMultiMap | None = None
        self._counts: dict[str, int] = {}
        self._tokens = 1
        self._lock = threading.Lock()

    def _frequency(self, word: str, fields: tuple[str, ...] = _WORD_FIELDS) -> int:
        """Articles using the word, at least: the most in any one field (a title and its body are one article)."""
        with self.io:
            return max(self.reader.doc_frequency(f, word) for f in fields)

    def warm(self) -> None:
        """Open the generation's spelling tables (index/lexicon.py: written by the indexer, mapped, not built)."""
        with self._lock:
            if self._accents is not None:
                return
            tables = Spelling(self.arrays.mapped.spelling)
            self._tokens = tables.tokens
            self._syllables, self._deletions, self._words = tables.syllables, tables.deletions, tables.words
            # Folded syllables typed as such (ha noi), not typos the index happens to hold (nng, vnh).
            self._folded = tables.folded
            # Vietnamese as written, whether or not this index holds it (a small index lacks common words).
            self._vietnamese = {unify_tones(s) for s in pyvi_syllables()}
            self._accents = tables.accents

    def _count(self, word: str) -> int:
        """How often the index uses the word (in titles or in bodies, the more), looked up once."""
        count = self._counts.get(word)
        if count is None:
            with self.io:
                count = max(self.reader.frequency(f, word) for f in _WORD_FIELDS)
            if len(self._counts) >= MAX_CACHED_COUNTS:
                self._counts.clear()
            self._counts[word] = count
        return count

    def syllable_count(self, syllable: str) -> int:
        """How often the index uses a syllable, as a word of its own or inside a longer one."""
        key = "\x00" + syllable
        count = self._counts.get(key)
        if count is None:
            with self.io:
                count = sum(self.reader.frequency(field_name(part, unit), syllable)
                            for part in ("title", "sapo", "body") for unit in (WORD, SYLLABLE))
            if len(self._counts) >= MAX_CACHED_COUNTS:
                self._counts.clear()
            self._counts[key] = count
        return count

    def knows(self, syllable: str) -> bool:
        """A syllable the index has (lower case, normalised), even if only as a rare typo of its own."""
        self.warm()
        return syllable in self._syllables

    def is_word(self, word: str) -> bool:
        """A word (``hà_nội``) the index has."""
        self.warm()
        return word in self._words

    def corrections(self, syllable: str, neighbours: list[tuple[str, bool]], limit: int = 3,
                    name: bool = False) -> list[str]:
        """The known syllables a reader most likely meant by ``syllable``, likeliest first; [] when it needs none.

        ``neighbours`` are the syllables typed beside it (and whether each comes before). A syllable the
        index knows is corrected only where it is rare, the correction is far more used and makes a word with
        a neighbour far more used than any the typed one makes there (``Hà Nôi``); a common one only where it
        is out of place beside its neighbours (``hâm mộ bón đá``: ``bóng``; see ``_out_of_place``), and not
        when typed as a ``name`` (a capital among lower-case words: ``bà Ái``). ``chất bổ`` is not ``chất
        nổ``, nor ``cổng chính`` ``công chính``. One it does not know (or has only as a few articles'
        typos: ``vệc``): first the near syllables that make a word with a neighbour (``nghên cứu``:
        ``nghiên``), then the most used near ones; the first few of those ranked by how often the index has
        each beside the typed neighbours (``trển của``: *triển*, not the commoner *trên*; see ``_in_context``).
        """
        self.warm()
        if not syllable.isalpha() or syllable in self._folded:
            return []  # typed without diacritics: restore_diacritics and the folded fields take care of it

        def word_with(s: str) -> int:
            found = [("_".join((n, s) if before else (s, n))) for n, before in neighbours]
            return max((self._count(w) for w in found if w in self._words), default=0)

        known = syllable in self._syllables or syllable in self._vietnamese
        if known and not neighbours:
            return []
        typed = self.syllable_count(syllable) if known else 0
        if typed > RARE_SHARE * self._tokens:
            return [] if name else self._out_of_place(syllable, neighbours)
        options = self.near(syllable)
        if not options:
            return []
        in_words = sorted(((word_with(o), o) for o in options), reverse=True)
        # A syllable the index has only as the typos of a few articles (vệc, nghệp: no Vietnamese word as
        # written, nor in one with its neighbour) is read as one it does not know, from the near ones used far more.
        misspelt = (not name and syllable not in self._vietnamese and typed <= TYPO_SHARE * self._tokens
                    and word_with(syllable) < MIN_WORD_COUNT)
        if known and not misspelt:
            count, best = in_words[0]
            if (count < max(MIN_WORD_COUNT, KNOWN_RATIO * word_with(syllable))
                    or self.syllable_count(best) < KNOWN_RATIO * typed):
                return []
            return [best]
        if typed:
            options = [o for o in options if self.syllable_count(o) >= KNOWN_RATIO * typed]
            in_words = [(count, o) for count, o in in_words if o in options]
        ranked = [o for count, o in in_words if count >= MIN_WORD_COUNT]
        if syllable.isascii() and not is_syllable(syllable) and any(v in syllable for v in "aeiouy"):
            # Not Vietnamese as typed (GIST, Natto, Lissa): a foreign name the index lacks, unless a
            # correction makes a word with its neighbour (nng dân: nông dân). Not one without a vowel, which
            # no name is (tên lửa chng hạm: chống).
            return ranked[:limit]
        by_use = sorted(((self.syllable_count(o), o) for o in options if o not in ranked), reverse=True)
        ranked += [o for count, o in by_use if count >= MIN_WORD_COUNT]
        if neighbours:
            ranked = self._in_context(ranked[:CONTEXT_OPTIONS], neighbours)
        return ranked[:limit]

    def _in_context(self, options: list[str], neighbours: list[tuple[str, bool]]) -> list[str]:
        """Options ranked as a bigram model of the index's text ranks them between the typed neighbours:
        pairs(left, o) * pairs(o, right) / uses(o), side by side as pair_count counts them (a half added to
        each, so a pair the index lacks does not zero the rest), not a word with a neighbour first nor raw
        pair counts: ``là loạ chó`` is *loại* (là loại 777, loại chó 13, in 20,688 uses), not *lạ* (``là_lạ``
        is a word; là lạ 103, lạ chó 9, in 2,749 uses)."""
        def score(o: str) -> float:
            pairs = [self.pair_count(*((n, o) if before else (o, n))) + 0.5 for n, before in neighbours]
            return math.prod(pairs) / (self.syllable_count(o) + 1) ** (len(pairs) - 1)
        return sorted(options, key=score, reverse=True)

    def _out_of_place(self, syllable: str, neighbours: list[tuple[str, bool]]) -> list[str]:
        """A common syllable one letter from a word with a neighbour that the index uses far more, where the
        index (almost) never has the typed syllable beside either neighbour, and has the correction beside the
        other one far more: ``hâm mộ bón đá`` (*bóng đá*), ``tăng cưng quản lý`` (*tăng cường*). ``chất bổ``
        is not *chất nổ*: the index has it side by side; nor ``hành xử lạ như`` *xử lý*: *lạ như* it has.
        A correction in tone only (``của``/``cửa``) is not judged here: the positions are of folded syllables."""
        words = [(f"{n}_{syllable}" if before else f"{syllable}_{n}") for n, before in neighbours]
        if any(w in self._words and self._count(w) >= MIN_WORD_COUNT for w in words):
            return []  # cheap first: in a word with its neighbour, a syllable is in its place
        typed_fold = fold(syllable)
        count, best, beside = 0, "", None
        for option in self.near(syllable):
            if fold(option) == typed_fold:
                continue
            for n, before in neighbours:
                word = f"{n}_{option}" if before else f"{option}_{n}"
                if word in self._words and (c := self._count(word)) > count:
                    count, best, beside = c, option, (n, before)
        if beside is None or count < CONTEXT_WORD:
            return []
        for n, before in sorted(neighbours, key=lambda nb: nb != beside):
            limit = min(count // PAIR_RATIO, TYPED_PAIRS)
            typed = self.pair_count(*((n, syllable) if before else (syllable, n)), enough=limit + 1)
            if typed > limit:
                return []
            needed = max(1, OTHER_RATIO * typed)
            if (n, before) != beside and self.pair_count(*((n, best) if before else (best, n)),
                                                         enough=needed) < needed:
                return []
        return [best]

    def pair_count(self, first: str, second: str, enough: int | None = None) -> int:
        """How often the index has the syllable ``second`` right after ``first``, in titles, sapos and
        bodies, from the positions of their folded forms in the articles that have both as written; counting
        stops at ``enough``. Read from the postings at query time: nothing is built or kept but the count."""
        if self.arrays is None:
            return 0
        key = f"\x01{first}\x01{second}"
        found = self._counts.get(key)  # (count, whether it is all of them)
        if found is not None and (found[1] or (enough is not None and found[0] >= enough)):
            return found[0]
        count, complete = 0, True
        for part in TEXT_PARTS:
            if enough is not None and count >= enough:
                complete = False
                break
            count += self._side_by_side(part, first, second)
        if len(self._counts) >= MAX_CACHED_COUNTS:
            self._counts.clear()
        self._counts[key] = (count, complete)
        return count

    def _side_by_side(self, part: str, first: str, second: str) -> int:
        # The articles whose part has both syllables as written and both folded (marked from the map: nothing
        # decoded or kept), then the folded positions of just those.
        fieldname = field_name(part, FOLDED)
        both = self.arrays.mask([(fieldname, fold(first))])
        for mask in ([(fieldname, fold(second))], *([(field_name(part, unit), syllable) for unit in (WORD, SYLLABLE)]
                                                    for syllable in (first, second))):
            if not both.any():
                return 0
            both &= self.arrays.mask(mask)
        docs = np.flatnonzero(both)
        if not len(docs):
            return 0
        first_keys, second_keys = (self.arrays.position_keys(fieldname, fold(s), docs)[0] for s in (first, second))
        return int(within(first_keys + 1, second_keys).sum())

    def restore_diacritics(self, syllables: list[str]) -> list[str]:
        """Accented words for folded syllables, split into the known words the index makes likeliest
        (each word's share of the index's words, multiplied); unknown syllables stay."""
        self.warm()
        table = self._accents or {}
        unknown = math.log(0.5 / self._tokens)
        # best[i]: (log-likelihood, start of the last word, its spelling) of the best split of syllables[:i]
        best: list[tuple[float, int, str]] = [(0.0, 0, "")]
        for i in range(1, len(syllables) + 1):
            options = []
            for n in range(1, min(MAX_WORD_SYLLABLES, i) + 1):
                word = table.get("_".join(syllables[i - n:i]))
                if word is not None:
                    score = math.log(max(self._count(word), 0.5) / self._tokens)
                elif n == 1:
                    word, score = syllables[i - 1], unknown
                else:
                    continue
                options.append((best[i - n][0] + score, i - n, word))
            best.append(max(options, key=lambda o: o[0]))
        out: list[str] = []
        i = len(syllables)
        while i:
            _, start, word = best[i]
            out[:0] = word.split("_")
            i = start
        return out

    def near(self, syllable: str) -> list[str]:
        """Known syllables one insertion, deletion or substitution away."""
        self.warm()
        found = self._near.get(syllable)
        if found is None:
            found = self._compute_near(syllable)
            if len(self._near) >= MAX_NEAR:
                self._near.clear()
            self._near[syllable] = found
        return found

    def _compute_near(self, syllable: str) -> list[str]:
        found = set(self._deletions.get(syllable, ()))  # one letter more
        for d in deletions(syllable):
            if d in self._syllables:
                found.add(d)  # one letter less
            found.update(s for s in self._deletions.get(d, ()) if _one_substitution(s, syllable))  # one changed
        found.discard(syllable)
        return sorted(found)

    def correct(self, syllables: list[str]) -> list[str]:
        """Syllables unknown to the index replaced by the most used known one at edit distance 1."""
        self.warm()
        out = []
        for s in syllables:
            if s in self._syllables or not s.isalpha():
                out.append(s)
                continue
            options = self.near(s)
            fields = (*_WORD_FIELDS, _SYLLABLE_FIELD)
            out.append(max(options, key=lambda o: self._frequency(o, fields)) if options else s)
        return out


def _one_substitution(a: str, b: str) -> bool:
    """One letter changed in one thing: its base letter, its shape (ư for u, đ for d) or its tone, i and y
    being one letter spelt two ways (kĩ, kỹ; buit: buýt). A letter changed in two (ạ for ừ: another vowel,
    shape and tone) is two slips of the keys, not a typo one away: counted as one, ``bừn`` was read as the
    common *bạn* rather than *bừng*, ``Quỳn`` as *Quan*."""
    if len(a) != len(b):
        return False
    changed = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    if len(changed) != 1:
        return False
    x, y = changed[0]
    return sum(p != q for p, q in zip(_letter(x), _letter(y), strict=True)) <= 1


_TONE_MARKS = frozenset("\u0300\u0301\u0309\u0303\u0323")  # huyền, sắc, hỏi, ngã, nặng


@lru_cache(maxsize=512)
def _letter(ch: str) -> tuple[str, str, str]:
    """A letter as its base, its shape mark and its tone: ``ừ`` is (u, horn, huyền), ``đ`` (d, stroke, none),
    ``ý`` (i, none, sắc)."""
    if ch in "đĐ":
        return "d", "đ", ""
    base, *marks = unicodedata.normalize("NFD", ch)
    base = {"y": "i", "Y": "I"}.get(base, base)
    return base, "".join(m for m in marks if m not in _TONE_MARKS), "".join(m for m in marks if m in _TONE_MARKS)

