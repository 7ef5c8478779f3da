"""Autocomplete: the words and titles that continue what a reader is typing, accent-insensitive.

Whoosh's prefix query scored every title holding any syllable that begins
like the last one typed (1.2 s for ``ha n`` over 48k articles, on every
keystroke). Here the typed syllables are found side by side in the title's
folded positions, the last one as any of the title syllables it begins
(the most used ones, when a letter or two begins hundreds).
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass

import numpy as np

from searchsvc.engine.arrays import KEY_SHIFT, POSITION, IndexArrays, within
from searchsvc.engine.ranking import Ranker
from searchsvc.index.lexicon import TITLE_FIELD as FIELD
from searchsvc.index.lexicon import read_sorted_strings

MAX_PREFIX_TERMS = 64


@dataclass
class Completion:
    """Titles that continue the typed run (document numbers, best first) and the syllables its last,
    partial syllable ends as in them, with how many titles each (most first) and one of those titles."""

    docs: np.ndarray
    endings: list[tuple[str, int, int]]


class Completer:
    """Built on one generation's arrays; the title vocabulary comes from its spelling tables (index/lexicon.py)."""

    def __init__(self, arrays: IndexArrays, ranker: Ranker) -> None:
        self.arrays = arrays
        self.ranker = ranker
        self._terms: list[str] | None = None
        self._dfs = np.zeros(0, dtype=np.int64)
        self._lock = threading.Lock()

    def warm(self) -> None:
        with self._lock:
            if self._terms is not None:
                return
            self._terms, self._dfs = read_sorted_strings(self.arrays.mapped.spelling, "titles")

    def beginning(self, prefix: str) -> list[str]:
        """Title syllables that begin with ``prefix``, the most used first, at most MAX_PREFIX_TERMS."""
        self.warm()
        assert self._terms is not None
        lo = bisect.bisect_left(self._terms, prefix)
        hi = bisect.bisect_left(self._terms, prefix + "\U0010ffff")
        order = np.argsort(-self._dfs[lo:hi], kind="stable")[:MAX_PREFIX_TERMS]
        return [self._terms[lo + i] for i in order]

    def complete(self, folded: list[str], limit: int, hidden: np.ndarray | None = None) -> Completion:
        """Titles with ``folded`` side by side (the last syllable as a prefix), and how the last syllable
        ends in them: titles that begin with it first, then shorter titles, then newer ones. Documents
        ``hidden`` marks (taken down) are neither offered nor counted for the endings."""
        none = Completion(np.zeros(0, dtype=np.int64), [])
        if not folded:
            return none
        last = self.beginning(folded[-1])
        if not last:
            return none
        docs = np.unique(np.concatenate([self.arrays.postings(FIELD, t).ids for t in last]))
        for f in dict.fromkeys(folded[:-1]):
            docs = np.intersect1d(docs, self.arrays.postings(FIELD, f).ids, assume_unique=True)
        if hidden is not None:
            docs = docs[~hidden[docs]]
        if not len(docs):
            return none
        # Keys (document << 32 | position) of the last, partial syllable, sorted, and which ending each is.
        per_ending = [self.ranker.positions("title", t, docs)[0] for t in last]
        last_keys = np.concatenate(per_ending)
        last_term = np.repeat(np.arange(len(last)), [len(k) for k in per_ending])
        order = np.argsort(last_keys, kind="stable")
        last_keys, last_term = last_keys[order], last_term[order]
        # Where the typed run starts: keys of the first syllable that the others continue side by side.
        keys = last_keys if len(folded) == 1 else self.ranker.positions("title", folded[0], docs)[0]
        for offset, f in enumerate(folded[1:-1], start=1):
            keys = keys[within(keys + offset, self.ranker.positions("title", f, docs)[0])]
        if len(folded) > 1:
            keys = keys[within(keys + (len(folded) - 1), last_keys)]
        if not len(keys):
            return none
        ends = last_term[np.searchsorted(last_keys, keys + (len(folded) - 1))]
        per_title = np.unique((keys >> KEY_SHIFT) * len(last) + ends)  # an ending counts once a title
        counts = np.bincount(per_title % len(last), minlength=len(last))
        example = np.full(len(last), -1, dtype=np.int64)
        example[(per_title % len(last))[::-1]] = (per_title // len(last))[::-1]  # the first title with each
        endings = sorted(((last[i], int(n), int(example[i])) for i, n in enumerate(counts) if n),
                         key=lambda ending: -ending[1])
        keys = np.sort(keys)
        found, first = np.unique(keys >> KEY_SHIFT, return_index=True)
        starts = (keys[first] & POSITION) > 0
        lengths = self.arrays.lengths(FIELD)[found]
        newest = -self.arrays.published()[found]
        order = np.lexsort((found, newest, lengths, starts))
        return Completion(found[order][: limit * 4], endings)  # a few more: identical titles are shown once
