"""The spelling tables of a generation, written once by the indexer and mapped by every worker.

Did-you-mean and typo tolerance (engine/spelling.py) look words up in the
index's vocabulary: which words and syllables it has, which accented word a
folded one most likely stands for, and which known syllables are one
deletion away from a typed one (as SymSpell does). Built as Python sets and
dicts these took 240 MB and 5 s in every worker at 48k articles (issue 16);
here they are sorted tables of strings in one mapped file, looked up by hash.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from searchsvc.analysis.vietnamese import fold
from searchsvc.index.mapped import SPELLING, Sections, hash32, segments, write_sections
from searchsvc.index.schema import FOLDED, SYLLABLE, WORD, field_name

FILE = SPELLING
WORD_FIELDS = (field_name("title", WORD), field_name("body", WORD))
SYLLABLE_FIELDS = tuple(field_name(part, SYLLABLE) for part in ("title", "sapo", "body"))
TITLE_FIELD = field_name("title", FOLDED)  # what autocomplete continues (engine/completion.py)


def deletions(word: str) -> set[str]:
    """The strings one letter shorter than ``word``."""
    return {word[:i] + word[i + 1:] for i in range(len(word))}


# --- tables of strings --------------------------------------------------------------------------------------


def _bounds(lengths: list[int]) -> np.ndarray:
    """Where each of a run of pieces of these lengths starts, and the end of the last (len + 1 offsets), in 32
    bits: a table's strings take megabytes, far from 4 GiB, and 64-bit offsets were a fifth of the tables."""
    bounds = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    if bounds[-1] >= 1 << 32:
        raise ValueError("a spelling table past 4 GiB")
    return bounds.astype(np.uint32)


def _packed(blobs: list[bytes]) -> dict[str, np.ndarray]:
    """Byte strings end to end (``blob``) and where each starts (``starts``)."""
    return {"starts": _bounds([len(b) for b in blobs]), "blob": np.frombuffer(b"".join(blobs), dtype=np.uint8)}


def string_table(strings: Iterable[str]) -> tuple[list[str], dict[str, np.ndarray]]:
    """Strings in the order of their hashes, and the arrays that store them (``hashes``, ``starts``, ``blob``)."""
    encoded = sorted((hash32(b), b) for b in {s.encode("utf-8") for s in strings})
    blobs = [b for _, b in encoded]
    arrays = {"hashes": np.array([h for h, _ in encoded], dtype=np.uint32), **_packed(blobs)}
    return [b.decode("utf-8") for b in blobs], arrays


def sorted_strings(counted: dict[str, int]) -> dict[str, np.ndarray]:
    """Strings in sorted order with a count each (``starts``, ``blob``, ``counts``), for prefix searches."""
    order = sorted(counted)
    return {**_packed([s.encode("utf-8") for s in order]),
            "counts": np.array([counted[s] for s in order], dtype=np.int64)}


def read_sorted_strings(sections: Sections, prefix: str) -> tuple[list[str], np.ndarray]:
    """The strings of :func:`sorted_strings` (decoded: a prefix search bisects them) and their counts."""
    starts = sections.array(prefix + ":starts").tolist()
    blob = sections.array(prefix + ":blob").tobytes()
    strings = [blob[a:b].decode("utf-8") for a, b in zip(starts, starts[1:], strict=False)]
    return strings, sections.array(prefix + ":counts")


class StringTable:
    """A mapped table of distinct strings: membership and the number of each, by hash, without loading it."""

    def __init__(self, sections: Sections, prefix: str) -> None:
        self.hashes = sections.array(prefix + ":hashes")
        self.starts = sections.array(prefix + ":starts")
        self.blob = sections.array(prefix + ":blob")
        # Memoryviews of the map, read by bisect and slicing: a lookup in 2 µs rather than numpy's 9 (a query's
        # typing makes some 500; measured at 48k articles).
        self._hashes = memoryview(self.hashes).cast("B").cast("I")
        self._starts = memoryview(self.starts).cast("B").cast("I")
        self._blob = memoryview(self.blob)

    def __len__(self) -> int:
        return len(self.hashes)

    def index(self, s: str) -> int:
        """The string's number, or -1."""
        b = s.encode("utf-8")
        h = hash32(b)
        hashes, starts = self._hashes, self._starts
        i = bisect.bisect_left(hashes, h)
        while i < len(hashes) and hashes[i] == h:
            if self._blob[starts[i]:starts[i + 1]] == b:
                return i
            i += 1
        return -1

    def __contains__(self, s: object) -> bool:
        return isinstance(s, str) and self.index(s) >= 0

    def __getitem__(self, i: int) -> str:
        return self.blob[self.starts[i]:self.starts[i + 1]].tobytes().decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))


class StringMap:
    """A mapped dict from strings to the strings of another table (a folded word to its likeliest spelling)."""

    def __init__(self, sections: Sections, prefix: str, values: StringTable) -> None:
        self.keys = StringTable(sections, prefix)
        self.targets = sections.array(prefix + ":values")
        self.values = values

    def get(self, key: str, default: str | None = None) -> str | None:
        i = self.keys.index(key)
        return default if i < 0 else self.values[int(self.targets[i])]


class StringMultiMap:
    """A mapped dict from strings to lists of strings of another table (a deletion to the syllables it comes
    from)."""

    def __init__(self, sections: Sections, prefix: str, values: StringTable) -> None:
        self.keys = StringTable(sections, prefix)
        self.bounds = sections.array(prefix + ":bounds")
        self.targets = sections.array(prefix + ":values")
        self.values = values

    def get(self, key: str, default: Any = ()) -> list[str] | Any:
        i = self.keys.index(key)
        if i < 0:
            return default
        return [self.values[int(t)] for t in self.targets[self.bounds[i]:self.bounds[i + 1]]]


def _prefixed(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}:{k}": v for k, v in arrays.items()}


# --- the tables -----------------------------------------------------------------------------------------------


def _lexicon(reader, fieldnames: tuple[str, ...]) -> set[str]:
    words: set[str] = set()
    for seg, _ in segments(reader):
        for fieldname in fieldnames:
            if fieldname in seg.schema:
                words.update(t.decode("utf-8") for t in seg.lexicon(fieldname))
    return words


def _title_syllables(reader) -> dict[str, int]:
    """The folded syllables of titles and the articles each is in (deleted ones too, as Whoosh counts)."""
    counted: dict[str, int] = {}
    for seg, _ in segments(reader):
        if TITLE_FIELD in seg.schema:
            for btext, info in seg.iter_field(TITLE_FIELD):
                term = btext.decode("utf-8") if isinstance(btext, bytes) else btext
                counted[term] = counted.get(term, 0) + info.doc_frequency()
    return counted


def derive_spelling(reader, path: Path) -> dict[str, Any]:
    """Write the spelling tables of ``reader`` to ``path``: ``words`` (pyvi words of titles and bodies),
    ``syllables`` (of those and of the syllable fields), ``accents`` (a folded word to the spelling most articles
    use), ``deletions`` (a syllable less one letter to the syllables it comes from), ``folded``, and the
    ``titles`` autocomplete continues (folded title syllables in sorted order; read from Whoosh in each worker
    they took 1.9 s at 148k articles)."""
    words = _lexicon(reader, WORD_FIELDS)
    spellings: dict[str, list[str]] = {}
    for word in words:
        spellings.setdefault(fold(word), []).append(word)

    def frequency(word: str) -> int:
        return max(reader.doc_frequency(f, word) for f in WORD_FIELDS)

    accents = {key: options[0] if len(options) == 1 else max(sorted(options), key=frequency)
               for key, options in spellings.items()}
    syllables = {w for w in words if "_" not in w and w.isalpha()}
    syllables |= {s for s in _lexicon(reader, SYLLABLE_FIELDS) if s.isalpha()}
    by_deletion: dict[str, list[str]] = {}
    for s in syllables:
        for d in deletions(s):
            by_deletion.setdefault(d, []).append(s)
    word_order, word_arrays = string_table(words)
    syllable_order, syllable_arrays = string_table(syllables)
    word_number = {w: i for i, w in enumerate(word_order)}
    syllable_number = {s: i for i, s in enumerate(syllable_order)}
    accent_order, accent_arrays = string_table(accents)
    accent_arrays["values"] = np.array([word_number[accents[k]] for k in accent_order], dtype=np.int32)
    deletion_order, deletion_arrays = string_table(by_deletion)
    lists = [sorted(syllable_number[s] for s in by_deletion[d]) for d in deletion_order]
    deletion_arrays["bounds"] = _bounds([len(x) for x in lists])
    deletion_arrays["values"] = np.array([i for x in lists for i in x], dtype=np.int32)
    # Folded syllables typed as such (ha noi), not typos the index happens to hold (nng, vnh).
    _, folded_arrays = string_table(f for s in syllables if (f := fold(s)) != s)
    return write_sections(path, {
        **_prefixed("words", word_arrays),
        **_prefixed("syllables", syllable_arrays),
        **_prefixed("accents", accent_arrays),
        **_prefixed("deletions", deletion_arrays),
        **_prefixed("folded", folded_arrays),
        **_prefixed("titles", sorted_strings(_title_syllables(reader))),
        "tokens": np.array([max(1, *(reader.field_length(f) for f in WORD_FIELDS))], dtype=np.int64),
    })


class Spelling:
    """A generation's spelling tables, mapped (see :func:`derive_spelling`)."""

    def __init__(self, sections: Sections) -> None:
        self.words = StringTable(sections, "words")
        self.syllables = StringTable(sections, "syllables")
        self.accents = StringMap(sections, "accents", self.words)
        self.deletions = StringMultiMap(sections, "deletions", self.syllables)
        self.folded = StringTable(sections, "folded")
        self.tokens = int(sections.array("tokens")[0])
