"""Did-you-mean: diacritics restored from the index's own vocabulary, and misspelt syllables corrected.

A reader who types ``ha noi ngap lut`` means *Hà Nội ngập lụt*: the index
knows which accented words fold to ``ha_noi`` and ``ngap_lut`` and how many
articles use each, so the most used one wins; longer words win over shorter
ones (``ha_noi`` over ``ha`` + ``noi``). The maps are built once per
generation, on first use.
"""

from __future__ import annotations

import threading

from searchsvc.analysis import fold
from searchsvc.schema import SYLLABLE, WORD, field_name

MAX_WORD_SYLLABLES = 4
_FIELDS = (field_name("title", WORD), field_name("body", WORD))


class Speller:
    """Built from one searcher's vocabulary; share it for the life of that searcher."""

    def __init__(self, searcher) -> None:
        self.searcher = searcher
        self._accents: dict[str, tuple[str, int]] | None = None
        self._lock = threading.Lock()

    def _accent_map(self) -> dict[str, tuple[str, int]]:
        with self._lock:
            if self._accents is None:
                best: dict[str, tuple[str, int]] = {}
                reader = self.searcher.reader()
                for fieldname in _FIELDS:
                    for tbytes, info in reader.iter_field(fieldname):
                        word = tbytes.decode("utf-8")
                        key = fold(word)
                        df = info.doc_frequency()
                        if key not in best or df > best[key][1]:
                            best[key] = (word, df)
                self._accents = best
            return self._accents

    def restore_diacritics(self, syllables: list[str]) -> list[str]:
        """Accented words for folded syllables, longest known word first; unknown syllables stay."""
        table = self._accent_map()
        out: list[str] = []
        i = 0
        while i < len(syllables):
            for n in range(min(MAX_WORD_SYLLABLES, len(syllables) - i), 0, -1):
                hit = table.get("_".join(syllables[i:i + n]))
                if hit is not None:
                    out.extend(hit[0].split("_"))
                    i += n
                    break
            else:
                out.append(syllables[i])
                i += 1
        return out

    def correct(self, syllables: list[str]) -> list[str]:
        """Syllables unknown to the index replaced by the closest known one (edit distance 1)."""
        name = field_name("body", SYLLABLE)
        reader = self.searcher.reader()
        out = []
        for s in syllables:
            # A syllable is a one-syllable word (word field) or part of a longer one (syllable field).
            known = any(reader.doc_frequency(f, s) > 0 for f in (name, *_FIELDS))
            if known or not s.isalpha():
                out.append(s)
                continue
            suggestions = [w for f in (name, _FIELDS[1]) for w in self.searcher.suggest(f, s, limit=1, maxdist=1)]
            out.append(suggestions[0] if suggestions else s)
        return out
