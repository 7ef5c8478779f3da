"""What the reader meant: the query as typed, read the way a reader at a real search box types.

Before planning, each free-text run of the query is looked at against the
index's own vocabulary (spelling.Speller):

- **Capitals.** A run typed all in capitals or in Title Case is searched in
  lower case, so ``HÀ NỘI``, ``Hà Nội`` typed as a title and ``hà nội`` give
  one result list; capitals typed only here and there (a name) stay.
- **Telex and VNI keys** typed with the input method off (``Haf Nooij``,
  ``Ha2 No6i5``) are decoded (analysis.input_methods) when the decoded syllable
  is one the index knows and the key sequence is not (or is a thousand times
  rarer): ``Messi``, ``Maps`` or ``xoong`` stay as typed.
- **Typos** are matched also as the nearest known syllables (one letter
  dropped, doubled, swapped or wrong; a tone mark missing or wrong, hỏi/ngã):
  a syllable the index does not know, or one that makes a known word with its
  neighbour only once corrected (``Hà Nôi``, ``sữa chữa``, ``nghên cứu``).
  The correction is an alternative weighted below the words as typed, never
  a replacement, and a syllable that already makes a word with its neighbour
  is never corrected.
- **Abbreviations and synonyms** (``UBND`` = ``ủy ban nhân dân``,
  ``TP.HCM`` = ``TPHCM`` = ``Thành phố Hồ Chí Minh``), from the built-in list
  ``synonyms.txt`` and the operator's own file, both in Solr's synonyms.txt
  format, are matched both ways as alternatives.

What was changed is reported (``Rewrite``) so that the page and the API can
say so and offer the search exactly as typed.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from searchsvc.analysis.input_methods import decode, is_syllable
from searchsvc.analysis.vietnamese import fold, normalize
from searchsvc.engine.spelling import Speller

BUILTIN_SYNONYMS = Path(__file__).with_name("synonyms.txt")
DECODE_RATIO = 1000  # a key sequence the index knows is decoded only when the syllable is this much more used
KEYS_RATIO = 20  # the same, in a query where another word shows that the reader types keys
MAX_ALTERNATIVES = 6
SILENT_FROM = 3  # words: a name typed in full matches its abbreviation from this length on
_TOKEN = re.compile(r"\S+")
_LETTERS = re.compile(r"[^\W\d_]")
_PUNCTUATION = ".,;:!?\"'()‘’“”"


@dataclass
class Alternative:
    """Other words for a span of the query: the span as typed (``typed``) may also be matched as any of
    ``options`` (a typo's corrections, an abbreviation's long form); ``runs`` are the whole run with each."""

    kind: str  # "typo" or "synonym"
    typed: str
    options: list[str]
    runs: list[str]
    as_typed: bool = False  # the option is the word as typed, kept below its correction (``typed``)


@dataclass
class Rewrite:
    """One free-text run: what is searched (``text``), its alternatives, and what changed."""

    typed: str
    text: str
    display: str = ""  # the text as read, in the reader's capitals (text may be in lower case)
    alternatives: list[Alternative] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # "telex", "vni", "case", "typo", "synonym"
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, typed, read as), for the reader

    @property
    def rewritten(self) -> bool:
        """The words typed were read as others (keys decoded, typos corrected): the reader is told, and offered
        the search exactly as typed. Capitals alone are not a change, nor synonyms (see ``expansions``)."""
        return any(k not in ("case", "synonym") for k in self.kinds)

    @property
    def expansions(self) -> list[dict[str, str]]:
        """Abbreviations typed that were also searched spelled out: ``{"typed": "UBND", "also": "…"}``."""
        return [{"typed": t, "also": r} for k, t, r in self.changed if k == "synonym"]

    def shown(self) -> tuple[str, str]:
        """The query as it was read, as text and as HTML with the words read differently in ``<mark>``."""
        words, marks = [], []
        for token in (self.display or self.text).split():
            a, b = _core(token)
            core = token[a:b]
            read = next((r for k, t, r in self.changed if k == "typo" and t == core), None)
            decoded = any(k in ("telex", "vni", "typo") and r == core for k, _, r in self.changed)
            word = token[:a] + read + token[b:] if read else token
            words.append(word)
            marks.append(f"{escape(token[:a])}<mark>{escape(read or core)}</mark>{escape(token[b:])}"
                         if read or decoded else escape(token))
        return " ".join(words), " ".join(marks)


def canonical_case(text: str) -> str:
    """All capitals or every word capitalised: lower case. Names typed among lower-case words keep theirs."""
    words = [w for w in text.split() if _LETTERS.search(w)]
    if not words:
        return text
    if all(w == w.upper() for w in words) or (len(words) > 1 and all(w[:1].isupper() and w[1:] == w[1:].lower()
                                                                      for w in words if w[:1].isalpha())):
        return text.lower()
    return text


# --- synonyms -------------------------------------------------------------------------------------


def _key(text: str) -> tuple[str, ...]:
    """How a synonym and a query are compared: folded, lower case, punctuation as a space (TP.HCM = TP HCM)."""
    return tuple(re.sub(r"[^\w]+", " ", fold(normalize(text).lower())).split())


class Synonyms:
    """Groups of equivalent spellings, and one-way mappings (``a => b``), read from Solr-format files.

    The operator's file is read again when it changes (its modification time), so an edit takes effect on
    the next search, without a reindex or a restart.
    """

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self._stamp: tuple | None = None
        self._table: dict[tuple[str, ...], list[str]] = {}
        self._longest = 1
        self._lock = threading.Lock()

    def _stamps(self) -> tuple:
        out = []
        for p in self.paths:
            try:
                st = os.stat(p)
                out.append((str(p), st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((str(p), None, None))
        return tuple(out)

    def table(self) -> dict[tuple[str, ...], list[str]]:
        stamp = self._stamps()
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._table = {}
                    for p in self.paths:
                        self._read(p)
                    self._longest = max(map(len, self._table), default=1)
                    self._stamp = stamp
        return self._table

    def _read(self, path: Path) -> None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return  # a missing operator file is no synonyms, not an error (healthz need not fail for it)
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if "=>" in line:
                left, right = line.split("=>", 1)
                sources, targets = _items(left), _items(right)
            else:
                sources = targets = _items(line)
            for source in sources:
                key = _key(source)
                if not key:
                    continue
                known = self._table.setdefault(key, [])
                for target in targets:
                    if _key(target) != key and target not in known:
                        known.append(target)

    def find(self, tokens: list[str]) -> list[tuple[int, int, list[str]]]:
        """(start, end, alternatives) of the longest synonym spans among ``tokens`` (already keyed)."""
        table = self.table()
        out = []
        i = 0
        while i < len(tokens):
            for n in range(min(self._longest, len(tokens) - i), 0, -1):
                found = table.get(tuple(tokens[i:i + n]))
                if found:
                    out.append((i, i + n, found))
                    i += n
                    break
            else:
                i += 1
        return out


def _items(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


# --- the rewrite ------------------------------------------------------------------------------------


class Reader:
    """Reads runs of query text against one generation's vocabulary (a Speller) and the synonyms."""

    def __init__(self, speller: Speller, synonyms: Synonyms) -> None:
        self.speller = speller
        self.synonyms = synonyms

    def read(self, typed: str) -> Rewrite:
        out = Rewrite(typed=typed, text=typed)
        read = self._typos(self._decode(typed, out), out)
        text = canonical_case(read)
        if text != read:
            out.kinds.append("case")
            # alternatives were made on the text in the reader's capitals: search them as the text is searched
            for alt in out.alternatives:
                alt.typed, alt.options = canonical_case(alt.typed), [canonical_case(o) for o in alt.options]
                alt.runs = [canonical_case(r) for r in alt.runs]
        out.display, out.text = read, text
        self._synonyms(text, out)
        out.alternatives = out.alternatives[:MAX_ALTERNATIVES]
        return out

    def _decode(self, text: str, out: Rewrite) -> str:
        """Telex/VNI words decoded where the decoded reading is the likelier one. A word that is nothing as
        typed (``Nooij``) is decoded; one that is a word too (``sex`` for ``sẽ``, ``car`` for ``cả``) only in a
        query that shows the reader typing keys, and only where the index uses the decoded word far more."""
        found = []
        for m in _TOKEN.finditer(text):
            core = m.group(0).strip(_PUNCTUATION)
            decoded = decode(core) if core else None
            if decoded is None:
                continue
            known = self.speller.syllable_count(decoded.lower())
            if known:
                found.append((m, core, decoded, self.speller.syllable_count(core.lower()), known))
        keys_typed = any(typed * DECODE_RATIO < known for _, _, _, typed, known in found)
        pieces, last = [], 0
        for m, core, decoded, typed, known in found:
            if typed * (KEYS_RATIO if keys_typed else DECODE_RATIO) >= known:
                continue
            pieces.append(text[last:m.start()] + m.group(0).replace(core, decoded))
            last = m.end()
            kind = "vni" if any(ch.isdigit() for ch in core) else "telex"
            out.kinds.append(kind)
            out.changed.append((kind, core, decoded))
        pieces.append(text[last:])
        return "".join(pieces)

    def _typos(self, text: str, out: Rewrite) -> str:
        """Typos are replaced by their likeliest correction: a syllable the index does not know (it matches
        nothing as typed) with the next likeliest as alternatives, one it knows with itself as the alternative."""
        tokens = list(_TOKEN.finditer(text))
        # A word's own letters: punctuation typed against it (lại?, "nhân") is not part of it
        cores = [_core(m.group(0)) for m in tokens]
        lowered = [normalize(m.group(0)[a:b]).lower() for m, (a, b) in zip(tokens, cores, strict=True)]
        replaced = list(lowered)
        mixed = canonical_case(text) == text  # capitals typed here and there (names), not a run in capitals
        pieces, last = [], 0
        for i, m in enumerate(tokens):
            s = lowered[i]
            neighbours = [(replaced[j], j < i) for j in (i - 1, i + 1)
                          if 0 <= j < len(lowered) and lowered[j].isalpha()]
            core = m.group(0)[cores[i][0]:cores[i][1]]
            # A name: a capital among lower-case words (bà Ái), or a word all in capitals (BYT: Bộ Y tế)
            name = mixed and ((i > 0 and core[:1].isupper()) or (len(core) > 1 and core.isupper()))
            # Capitals on a word the index knows that is no Vietnamese syllable: an abbreviation or a foreign
            # name (BS, NHNN, Messi), left as typed; such a word typed in lower case may be a typo (nng dân).
            foreign = core.isascii() and not core.islower() and not is_syllable(s) and self.speller.knows(s)
            options: list[str] = (self.speller.corrections(s, neighbours, name=name)
                                  if s.isalpha() and not foreign else [])
            pieces.append(text[last:m.start()])
            last = m.end()
            if not options:
                pieces.append(m.group(0))
                continue
            a, b = m.start() + cores[i][0], m.start() + cores[i][1]
            typed = text[a:b]
            out.kinds.append("typo")
            out.changed.append(("typo", typed, _like(typed, options[0])))
            options = [_like(typed, o) for o in options]
            # A word the index knows is still matched as typed, below its correction (the reader may have
            # meant it); one it does not know matches nothing as typed: the next likeliest corrections instead.
            known = self.speller.knows(s)
            alternatives = [typed] if known else options[1:]
            replaced[i] = options[0].lower()
            typed = options[0]
            pieces.append(text[m.start():a] + typed + text[b:m.end()])
            if alternatives:
                runs = [text[:a] + o + text[b:] for o in alternatives]
                out.alternatives.append(Alternative("typo", typed, alternatives, runs, as_typed=known))
        pieces.append(text[last:])
        return "".join(pieces)

    def _synonyms(self, text: str, out: Rewrite) -> None:
        tokens = list(_TOKEN.finditer(text))
        # Each token may key as several (TP.HCM: tp, hcm); remember which token each key piece came from.
        keys: list[str] = []
        owner: list[int] = []
        for i, m in enumerate(tokens):
            for k in _key(m.group(0)):
                keys.append(k)
                owner.append(i)
        for start, end, alternatives in self.synonyms.find(keys):
            first, last = owner[start], owner[end - 1]
            # Only whole tokens: a span that ends inside a token (TP.HCM matching just TP) is not a match.
            if (start and owner[start - 1] == first) or (end < len(owner) and owner[end] == last):
                continue
            a, b = tokens[first].start(), tokens[last].end()
            longer = [alt for alt in alternatives if len(_key(alt)) >= end - start]
            # An abbreviation typed is spelled out for the reader (UBND: ủy ban nhân dân), as is an operator's
            # synonym (thủ đô: Hà Nội). A name of three words or more typed in full also matches its
            # abbreviation, silently, as hoà matches hòa: the same words written shorter. Not a two-word one
            # (bệnh viện: BV, Việt Nam: VN): those cost ViNewsQA MRR@10 0.008 and found nothing more.
            if not longer and end - start < SILENT_FROM:
                continue
            runs = [text[:a] + alternative + text[b:] for alternative in alternatives]
            out.alternatives.append(Alternative("synonym", text[a:b], list(alternatives), runs))
            if longer:
                out.kinds.append("synonym")
                out.changed.append(("synonym", text[a:b], ", ".join(longer)))


def _core(token: str) -> tuple[int, int]:
    """Where a token's word starts and ends, without the punctuation typed against it (``"nhân",``)."""
    start = len(token) - len(token.lstrip(_PUNCTUATION))
    return start, max(start, len(token.rstrip(_PUNCTUATION)))


def _like(typed: str, corrected: str) -> str:
    """The correction with the typed word's capitals."""
    if typed[:1].isupper():
        return corrected[:1].upper() + corrected[1:]
    return corrected
