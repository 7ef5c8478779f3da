"""BM25F ranking over posting arrays, in two stages.

Stage one scores every document that has any query term: per term, its
frequencies in title, sapo and body are weighted, length-normalised and
added up *before* BM25 saturation (true BM25F, so a word in all three parts
does not count three times over), for three kinds of match: pyvi words,
exact syllables and accent-folded syllables. Stage two rescores the best
candidates from the folded field's positions: neighbouring query syllables
found side by side (the compounds of a query typed without diacritics, the
run of a remembered headline), and for questions the best passage, the
share of the query held by one 30-syllable window (a question is answered
by a passage, not by words scattered over an article).

The weights were chosen by measurement (bench/relevance.py, docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from searchsvc.engine import kernels
from searchsvc.engine.arrays import KEY_SHIFT, POSITION, IndexArrays, within
from searchsvc.engine.query import Analyzed, Phrase, Plan
from searchsvc.index.mapped import CELL, Coded
from searchsvc.index.schema import FOLDED, SYLLABLE, TEXT_PARTS, WORD, field_name

K1 = 1.2
B = {"title": 0.3, "sapo": 0.5, "body": 0.9}
PART_WEIGHTS = {"title": 2.0, "sapo": 1.0, "body": 1.0}
WORD_WEIGHT = 1.0
SYLLABLE_WEIGHT = 0.15
FOLDED_WEIGHT = 0.5  # typed without diacritics
FOLDED_WEIGHT_ACCENTED = 0.1  # typed with: exact spellings must win (đường above dương)
# Typed without diacritics, an exact match is mostly an article written without them (readers' letters):
# it counts little; the folded syllables, their pairs and the diacritics restored from the index carry it.
EXACT_WEIGHT_UNACCENTED = 0.1
RESTORED_WEIGHT = 0.5
QUESTION_WORD_WEIGHT = 0.2  # gì, như thế nào: see query.QUESTION_WORDS
PAIR_WEIGHT = 1.75
CANDIDATES = 300
DENSE_SHARE = 8  # a clause whose postings reach an eighth of the collection is added over the whole array
HEAVY_SHARE = 2  # a clause whose postings reach half the collection is heavy: pruning bounds it (Ranker._pruned)
# Off: exact (tests/test_pruning.py), but at 148k articles it still costs more than the compiled exhaustive walk
# (docs/benchmarks.md, "Dynamic pruning, compiled").
PRUNING = False
PRUNE_MARGIN = 1e-4  # relative slack of pruning's comparisons: float32 sums in another order, bounds rounded
REACH_SHARE = 8  # pruning gives up when more than 1/8 of the collection could still reach the floor
COUNTED_AT_LEAST = 10  # words are left out of the counted results only while fewer articles have them all
PASSAGE = 30  # syllables
PASSAGE_WEIGHT = 12.0
PASSAGE_WEIGHT_UNACCENTED = 30.0  # typed without diacritics, the words match less surely: where they stand counts more
ALTERNATIVE_PHRASE_BOOST = 2.0
TYPO_WEIGHT = 0.7  # a correction of a word typed (Hà Nôi: Hà Nội) counts below the words as typed
SYNONYM_WEIGHT = 0.9  # UBND: ủy ban nhân dân
EXPANSION_WEIGHTS = {"typo": TYPO_WEIGHT, "synonym": SYNONYM_WEIGHT}


Listed = tuple[list[tuple[Coded, int]], str, str, str]  # a clause's list as written: segments' parts, part, unit, field
Weighed = tuple["Clause", list[Listed], float]  # a clause, its lists and its BM25 weight


@dataclass
class Clause:
    """One term of stage one: its text, the (part, field, length unit) that hold it, and its weight."""

    term: str
    sources: list[tuple[str, str, str]]
    weight: float


@dataclass
class Candidates:
    """Stage two's candidates (sorted) and the folded positions it read of them, by (part, syllable) as
    :meth:`Ranker.positions` gives them: the highlighter takes its hits' from there rather than reading again."""

    docs: np.ndarray
    positions: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]


@dataclass
class Ranked:
    """Scores of every document (0 outside the results) and the mask of the results."""

    scores: np.ndarray
    matched: np.ndarray
    candidates: Candidates | None = None  # what stage two read, if it ran
    first: np.ndarray | None = None  # documents (sorted) known to outrank every other one, with all their ties

    @property
    def total(self) -> int:
        return int(np.count_nonzero(self.matched))

    def order(self, start: int, stop: int) -> np.ndarray:
        """Document numbers of ranks start..stop-1 by score (ties by document number)."""
        # Every document tied with the last one kept is kept, so ties are broken the same way on every page.
        if self.first is not None and stop <= len(self.first):
            docs = self.first  # a page among stage two's candidates: no pass over every score
        else:
            docs = kernels.best(self.scores, self.matched, stop)
        order = np.lexsort((docs, -self.scores[docs]))
        return docs[order][start:stop]


class Ranker:
    """Runs plans against one generation's arrays."""

    def __init__(self, arrays: IndexArrays) -> None:
        self.arrays = arrays
        self.n = arrays.size
        self._norms: dict[tuple[str, str], np.ndarray] = {}
        self._averages: dict[tuple[str, str], float] = {}
        self._cell_norms: dict[tuple[str, str], np.ndarray] = {}

    # --- statistics ------------------------------------------------------------------------
    def norm(self, part: str, unit: str) -> np.ndarray:
        """1 / (1 - b + b * length / average length) per document: the length normalisation of BM25."""
        key = (part, unit)
        norm = self._norms.get(key)
        if norm is None:
            avg = self.average(part, unit)
            lengths = self.arrays.lengths(field_name(part, unit))
            norm = self._norms[key] = (1.0 / (1.0 - B[part] + B[part] * lengths / avg)).astype(np.float32)
        return norm

    def average(self, part: str, unit: str) -> float:
        """The live documents' average length in the field, BM25's reference length."""
        avg = self._averages.get((part, unit))
        if avg is None:
            live = self.arrays.lengths(field_name(part, unit))[self.arrays.live]
            avg = self._averages[(part, unit)] = float(live.mean()) if live.size and live.mean() > 0 else 1.0
        return avg

    def warm(self) -> None:
        for part in TEXT_PARTS:
            for unit in (WORD, FOLDED):
                self.norm(part, unit)

    def folded_df(self, syllable: str) -> int:
        """Live articles with the folded syllable in their body, from the postings stage one already read."""
        return self.arrays.live_count(self.arrays.coded(field_name("body", FOLDED), syllable))

    def idf(self, df: int) -> float:
        n = self.arrays.doc_count
        return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))

    # --- stage one -------------------------------------------------------------------------
    def _listed(self, c: Clause) -> tuple[list[Listed], int]:
        """A clause's non-empty lists as written (each segment's part of each), for :meth:`_add_listed`, and its
        document frequency (its longest list's live postings), decoding nothing."""
        lists = []
        df = 0
        for part, fieldname, unit in c.sources:
            parts = self.arrays.coded(fieldname, c.term)
            if parts and (n := self.arrays.live_count(parts)):
                lists.append((parts, part, unit, fieldname))
                df = max(df, n)
        return lists, df

    def _add_listed(self, scores: np.ndarray, full: np.ndarray, lists: list[Listed], w: float,
                    marked: np.ndarray | None = None) -> None:
        """Add one clause's BM25F score, reading its postings straight from the map (engine/kernels.py): each
        list's weighted, length-normalised frequencies summed in ``full`` (all 0 before and after), then saturated
        for the documents of its lists, or for every document when the clause is common. The float32 sums numpy's
        operations gave on decoded lists, bit for bit; documents deleted since the segment was written get a score
        too, which :meth:`_score` clears. ``marked``: set True for the clause's documents on the way (deleted ones
        too)."""
        postings = 0
        for parts, part, unit, _ in lists:
            norm, weight = self.norm(part, unit), np.float32(PART_WEIGHTS[part])
            for c, base in parts:
                kernels.accumulate(full, c.gaps, c.freqs, base, norm, weight)
                postings += c.n
        w32, k1 = np.float32(w), np.float32(K1)
        if postings * DENSE_SHARE < self.n:
            for parts, *_ in lists:
                for c, base in parts:
                    if marked is not None:
                        kernels.mark(marked, c.gaps, base)
                    kernels.saturate_listed(scores, full, c.gaps, base, w32, k1)
        else:
            if marked is not None:
                np.greater(full, 0, out=marked)  # every posting adds more than 0
            kernels.saturate_all(scores, full, w32, k1)

    def clauses(self, a: Analyzed, parts: tuple[str, ...] = TEXT_PARTS, weight: float = 1.0) -> list[Clause]:
        """What :meth:`score_terms` adds up, one BM25F term at a time, in its order."""
        fold_weight = weight * (FOLDED_WEIGHT_ACCENTED if a.accented else FOLDED_WEIGHT)
        exact = weight * (1.0 if a.accented else EXACT_WEIGHT_UNACCENTED)

        def counts(term: str, question: frozenset[str]) -> float:
            return QUESTION_WORD_WEIGHT if term in question else 1.0

        def clause(term: str, sources: list[tuple[str, str, str]], w: float) -> Clause:
            return Clause(term, [src for src in sources if src[0] in parts], w)

        out = []
        words = a.unique_words
        for w in words:
            out.append(clause(w, [(p, field_name(p, WORD), WORD) for p in TEXT_PARTS],
                              exact * WORD_WEIGHT * counts(w, a.question_words)))
        for s in a.unique_syllables:
            # An exact syllable is part of a longer word (syllable field) or a one-syllable word (word field),
            # which the word clause above already counts when it is one of the query's words.
            fields = [(p, field_name(p, SYLLABLE), FOLDED) for p in TEXT_PARTS]
            if s not in words:
                fields += [(p, field_name(p, WORD), FOLDED) for p in TEXT_PARTS]
            out.append(clause(s, fields, exact * SYLLABLE_WEIGHT * counts(s, a.question_syllables)))
        for f in a.unique_folded:
            out.append(clause(f, [(p, field_name(p, FOLDED), FOLDED) for p in TEXT_PARTS],
                              fold_weight * counts(f, a.question_folded)))
        return out

    def most(self, a: Analyzed) -> float:
        """At most what an article can score for ``a`` in stage one: each clause's weight times its idf."""
        total = 0.0
        for c in self.clauses(a):
            df = self._listed(c)[1]
            if df:
                total += c.weight * self.idf(df)
        return total

    def score_terms(self, a: Analyzed, parts: tuple[str, ...] = TEXT_PARTS, weight: float = 1.0,
                    folded: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Stage one's scores for ``a``. ``folded``: filled with the live documents of each folded syllable whose
        clause covers every part (what :meth:`_folded_docs` gives, read on the way: the count asks for them)."""
        return self._score(self.clauses(a, parts, weight), folded)

    def score_words(self, weighted: list[tuple[str, float]]) -> np.ndarray:
        """BM25F of pyvi words, each with its own weight (the key terms of an article, for related ones)."""
        return self._score([Clause(word, [(p, field_name(p, WORD), WORD) for p in TEXT_PARTS], weight)
                            for word, weight in weighted])

    def _score(self, clauses: list[Clause], folded: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The clauses' BM25F sum, the light ones first, then the heavy ones (:meth:`_weighed`): the order
        pruning adds them in, so both give the same float32 sums."""
        scores = np.zeros(self.n, dtype=np.float32)
        full = np.zeros(self.n, dtype=np.float32)  # a clause's frequencies; the kernels leave it all 0 again
        light, heavy = self._weighed(clauses)
        for c, lists, w in light + heavy:
            marked = None
            if folded is not None and c.sources == _FOLDED_SOURCES and c.term not in folded:
                marked = folded[c.term] = np.zeros(self.n, dtype=bool)
            self._add_listed(scores, full, lists, w, marked)
            if marked is not None and not self.arrays.all_live:
                marked &= self.arrays.live
        if not self.arrays.all_live:
            scores[~self.arrays.live] = 0  # the deleted documents the kernels scored: as decoded lists leave them
        return scores

    def _weighed(self, clauses: list[Clause]) -> tuple[list[Weighed], list[Weighed]]:
        """The clauses with lists, with those lists and their BM25 weight, split into light ones and heavy ones
        (postings for half the collection or more: the most common words, which pruning bounds), each in order."""
        light: list[Weighed] = []
        heavy: list[Weighed] = []
        for c in clauses:
            lists, df = self._listed(c)
            if lists:
                postings = sum(part.n for parts, *_ in lists for part, _ in parts)
                (heavy if postings * HEAVY_SHARE >= self.n else light).append(
                    (c, lists, c.weight * self.idf(df) * (K1 + 1)))
        return light, heavy

    # --- stage one, pruned ---------------------------------------------------------------------
    def _cell_norm(self, part: str, unit: str) -> np.ndarray:
        """The largest length norm in each cell (its shortest document's)."""
        found = self._cell_norms.get((part, unit))
        if found is None:
            found = self._cell_norms[(part, unit)] = np.maximum.reduceat(self.norm(part, unit),
                                                                         self.arrays.cell_starts)
        return found

    def _list_bound(self, listed: Listed) -> np.ndarray:
        """At most what one document's posting of the list adds to its clause's frequency, per cell (float64; 0
        where the list has no posting): from the cell maxima the indexer wrote with a common segment's part,
        else from the part's postings, walked."""
        parts, part, unit, fieldname = listed
        bound = np.zeros(len(self.arrays.cell_starts), dtype=np.float64)
        weight = PART_WEIGHTS[part]
        for c, base in parts:
            at = self.arrays.cell_base(base)
            if c.cells is None:
                kernels.cell_bound(bound, c.gaps, c.freqs, base, self.norm(part, unit), np.float32(weight), at, CELL)
                continue
            cells = slice(at, at + len(c.cells.freq))
            freq, ratio = c.cells.freq.astype(np.float64), c.cells.ratio.astype(np.float64)
            if fieldname != field_name(part, unit):
                # Normalised by another field's length (a syllable counted as a word): the cell's largest norm.
                bound[cells] = weight * freq * self._cell_norm(part, unit)[cells]
                continue
            # freq / (1 - b + b * length / avg) = 1 / ((1 - b) / freq + (b / avg) / (freq / length)), and both
            # denominators are smallest at the cell's maxima (0 where the list has no posting: 1 / inf).
            b = B[part]
            with np.errstate(divide="ignore"):
                bound[cells] = weight / ((1.0 - b) / freq + (b / self.average(part, unit)) / ratio)
        return bound

    def _pruned(self, plan: Plan, allowed: np.ndarray,
                folded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
        """Stage one for the CANDIDATES best, exact, without scoring every posting of the heavy clauses.

        The light clauses are scored for every document, as :meth:`_score` scores them; what they give the
        words as typed is a lower bound of each document's score. A heavy clause (the most common words: most
        of a question's postings, little of its score) adds at most its bound in each cell of 64 documents
        (:meth:`_list_bound`). The CANDIDATES documents the light clauses rank best are scored exactly: their
        worst score is the floor; only the documents whose upper bound still reaches it are scored exactly too,
        each heavy list read around them alone through its skip tables (IndexArrays.frequencies_in), added
        after the light ones as :meth:`_score` adds them: the same float32 sums, bit for bit. The others keep
        0, below the floor.

        Returns the scores and a mask standing in for "any word" in :meth:`rank`: the folded syllables'
        documents (put in ``folded``, which the count intersects) and the documents scored exactly that have a
        word. None when it would not pay or the count needs every word's documents (fewer than two syllables)."""
        units = dict.fromkeys(f for a in plan.scored for f in a.content_folded)
        if len(units) < 2:
            return None
        groups = [(a, 1.0) for a in plan.scored] + [(a, RESTORED_WEIGHT) for a in plan.restored]
        full = np.zeros(self.n, dtype=np.float32)
        light_sums: list[np.ndarray] = []  # per group, its light clauses' sum
        heavy: list[list[Weighed]] = []  # per group, its heavy clauses
        rest = np.zeros(len(self.arrays.cell_starts))  # what the heavy clauses can add at most, per cell
        for a, weight in groups:
            light, weighed = self._weighed(self.clauses(a, weight=weight))
            sums = np.zeros(self.n, dtype=np.float32)
            for _, lists, w in light:
                self._add_listed(sums, full, lists, w)
            light_sums.append(sums)
            heavy.append(weighed)
            for _, lists, w in weighed:
                tf = sum(self._list_bound(listed) for listed in lists)
                rest += w * tf / (tf + K1) * (1.0 + PRUNE_MARGIN)
        if not any(heavy):
            return None
        scored = len(plan.scored)
        lower = light_sums[0].copy()  # float32 sums grow with what is added: what the score is at least
        for sums in light_sums[1:scored]:
            lower += sums
        sample = kernels.best(lower, allowed, CANDIDATES)
        if len(sample) < CANDIDATES or lower[sample].min() <= 0:
            return None  # too few documents with a light word: the floor would be 0
        sampled, has_word = self._exact(light_sums, heavy, scored, sample)
        floor = float(np.partition(sampled, -CANDIDATES)[-CANDIDATES])
        upper = lower
        for sums in light_sums[scored:]:
            upper += sums  # the restored words' too, as if every document had a word
        kernels.raise_by_cell(upper, rest.astype(np.float32), self.arrays.cell_starts, self.arrays.cell_stops)
        reach = allowed & (upper >= floor * (1.0 - PRUNE_MARGIN))
        reach[sample] = False
        docs = np.flatnonzero(reach)
        if len(docs) * REACH_SHARE > self.n:
            return None
        exact, found = self._exact(light_sums, heavy, scored, docs)
        scores = np.zeros(self.n, dtype=np.float32)
        scores[sample], scores[docs] = sampled, exact
        any_word = np.zeros(self.n, dtype=bool)
        for f in units:
            folded[f] = self._folded_docs(f)
            any_word |= folded[f]
        any_word[sample[has_word]] = True
        any_word[docs[found]] = True
        if np.count_nonzero(any_word & allowed) <= CANDIDATES:
            return None  # the count would be this mask's, not narrowed to every word (Ranker._counted): too few
        return scores, any_word

    def _exact(self, light_sums: list[np.ndarray], heavy: list[list[Weighed]], scored: int,
               docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact stage-one scores of ``docs`` (sorted, live), and which have one of the words as typed: each
        group's light sum, its heavy clauses added in order, the groups summed as :meth:`_stage_one` sums them
        (a restored group only with a word): the same float32 values, bit for bit."""
        k1 = np.float32(K1)
        total = np.zeros(len(docs), dtype=np.float32)
        has_word = None
        for g, (sums, weighed) in enumerate(zip(light_sums, heavy, strict=True)):
            group = sums[docs]
            for c, lists, w in weighed:
                f = np.zeros(len(docs), dtype=np.float32)
                for _, part, unit, fieldname in lists:
                    self.arrays.frequencies_in(f, fieldname, c.term, docs, self.norm(part, unit),
                                               np.float32(PART_WEIGHTS[part]))
                some = f > 0
                group[some] += np.float32(w) * f[some] / (f[some] + k1)
            if g < scored:
                total += group
            else:
                if has_word is None:
                    has_word = total > 0
                total += group * has_word
        return total, total > 0 if has_word is None else has_word

    # --- stage two -------------------------------------------------------------------------
    def positions(self, part: str, syllable: str, docs: np.ndarray,
                   memo: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(document, position) keys of a folded syllable in ``docs`` (sorted), as one int64 each, and the
        index in ``docs`` of each; ``memo`` shares them between the features of one candidate set."""
        if memo is not None:
            found = memo.get((part, syllable))
            if found is None:
                found = memo[(part, syllable)] = self.positions(part, syllable, docs)
            return found
        return self.arrays.position_keys(field_name(part, FOLDED), syllable, docs)

    def pair_scores(self, a: Analyzed, docs: np.ndarray, memo: dict | None = None) -> np.ndarray:
        """Proximity for the candidates ``docs`` (sorted): query neighbours found side by side, BM25F-saturated."""
        out = np.zeros(len(docs), dtype=np.float32)
        if len(a.folded) < 2 or not len(docs):
            return out
        for x, y in a.pairs:
            tf = np.zeros(len(docs), dtype=np.float32)
            for part in TEXT_PARTS:
                kx, wx = self.positions(part, x, docs, memo)
                ky, _ = self.positions(part, y, docs, memo)
                if not len(kx) or not len(ky):
                    continue
                hits = within(kx + 1, ky)
                counts = np.bincount(wx[hits], minlength=len(docs)).astype(np.float32)
                tf += PART_WEIGHTS[part] * counts * self.norm(part, FOLDED)[docs]
            # How rare the pair is is not known without reading it everywhere (measured: exact pair
            # frequencies gain 0.01 MRR for 100 ms cold); the rarer syllable stands in for it.
            df = min(self.folded_df(s) for s in (x, y)) or 1
            out += (PAIR_WEIGHT * self.idf(df) * (K1 + 1)) * tf / (tf + K1)
        return out

    def passage_scores(self, a: Analyzed, docs: np.ndarray, memo: dict | None = None) -> np.ndarray:
        """For each candidate, how much of the query (by idf) one passage of PASSAGE syllables holds:
        a question is answered by a passage, not by words scattered over the article."""
        out = np.zeros(len(docs), dtype=np.float32)
        terms = a.content_folded
        if len(terms) < 3 or not len(docs):
            return out
        idfs = np.array([self.idf(self.folded_df(t)) for t in terms], dtype=np.float32)
        total = float(idfs.sum()) or 1.0
        # Every part and both window offsets in one sort: a window is (candidate, part, offset, bucket), and a
        # candidate's best is the best of all its windows (as when each part and offset was summed on its own,
        # six sorts a question; the sums are the same, term by term in the same order).
        keys, which, counts = [], [], []
        for part in TEXT_PARTS:
            for t in terms:
                k, w = self.positions(part, t, docs, memo)
                keys.append(k)
                which.append(w)
                counts.append(len(k))
        pos, doc = np.concatenate(keys) & POSITION, np.concatenate(which)
        if not len(pos):
            return out
        slot = np.repeat(np.arange(len(counts), dtype=np.int64), counts)  # part * len(terms) + term
        tid = slot % len(terms)
        base = (doc * _LAYERS + 2 * (slot // len(terms))) << _BUCKET_BITS  # the part's windows at offset 0
        window = np.concatenate((base + pos // PASSAGE, base + (1 << _BUCKET_BITS) + (pos + PASSAGE // 2) // PASSAGE))
        cell = _sorted_unique(window * len(terms) + np.concatenate((tid, tid)))  # windows, documents in order
        window = cell // len(terms)
        starts = _run_starts(window)
        sums = (np.add.reduceat(idfs[cell % len(terms)].astype(np.float64), starts) / total).astype(np.float32)
        doc_of = window[starts] // (_LAYERS << _BUCKET_BITS)
        firsts = _run_starts(doc_of)
        out[doc_of[firsts]] = np.maximum.reduceat(sums, firsts)
        return out

    # --- masks ----------------------------------------------------------------------------------
    def docs_with(self, fieldname: str, text: str) -> np.ndarray:
        return self.arrays.mask([(fieldname, text)])

    def phrase(self, phrase: Phrase) -> np.ndarray:
        """Documents with the phrase's syllables side by side in one of its parts."""
        a = phrase.analyzed
        mask = np.zeros(self.n, dtype=bool)
        for part in phrase.parts:
            folded = a.folded
            lists = [self.arrays.postings(field_name(part, FOLDED), f).ids for f in dict.fromkeys(folded)]
            docs = lists[0]
            for other in lists[1:]:
                docs = np.intersect1d(docs, other, assume_unique=True)
            if len(folded) > 1 and len(docs):
                keys, _ = self.positions(part, folded[0], docs)
                for offset, f in enumerate(folded[1:], start=1):
                    nxt, _ = self.positions(part, f, docs)
                    keys = keys[within(keys + offset, nxt)]
                docs = np.unique(keys >> KEY_SHIFT)
            found = np.zeros(self.n, dtype=bool)
            found[docs] = True
            if a.accented:
                for s in a.unique_syllables:
                    found &= self.docs_with(field_name(part, SYLLABLE), s) | self.docs_with(part, s)
            mask |= found
        return mask

    def filters(self, values: dict[str, list[str]]) -> np.ndarray | None:
        """Documents in any of the values of each filter field, all fields at once; None without filters."""
        mask = None
        for name, wanted in values.items():
            any_of = np.zeros(self.n, dtype=bool)
            for v in wanted:
                any_of |= self.docs_with(name, v)
            mask = any_of if mask is None else mask & any_of
        return mask

    # --- the whole query ------------------------------------------------------------------------
    def _stage_one(self, plan: Plan, folded: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Stage one: the scores, and the documents with any of the query's words; ``folded`` gets the documents
        of the typed words' folded syllables (:meth:`score_terms`).

        Every posting of every clause is scored, read from the map; a rare clause touches only the documents
        that have it (see :meth:`_add_listed`). :meth:`_pruned` gives the same first CANDIDATES without scoring
        every posting."""
        scores = np.zeros(self.n, dtype=np.float32)
        for a in plan.scored:
            scores += self.score_terms(a, folded=folded)
        for e in plan.expanded:
            # The span scores as its best form: an article with UBND gets what one with ủy ban nhân dân gets
            # (at the option's weight), and no article gets both.
            typed = self.score_terms(e.typed)
            best = np.maximum.reduce([self.score_terms(o, weight=e.weight) for o in e.options])
            scores += np.maximum(best - typed, 0)
        any_word = scores > 0
        for p in plan.required + plan.preferred:
            scores += self.score_terms(p.analyzed, p.parts)
        for a in plan.restored:
            scores += self.score_terms(a, weight=RESTORED_WEIGHT) * any_word
        return scores, any_word

    def rank(self, plan: Plan, allowed: np.ndarray | None = None, boost: np.ndarray | None = None,
             depth: int | None = None) -> Ranked:
        """Scores and results of a plan; ``allowed`` narrows further (dates, hidden articles); ``boost`` is a
        factor per document (freshness.py), applied once stage two has scored, so it changes the order only.

        ``depth``: only the order of the results up to there will be read (a page of the relevance order).
        Within the CANDIDATES, stage one is then pruned (:meth:`_pruned`): the results, their count and the
        order and scores of the first CANDIDATES are those of the exhaustive ranking; the scores further down
        are lower bounds. Left exhaustive for plans whose stage one is not a plain sum of clauses (phrases,
        expansions) and under a boost (it can lift any document)."""
        allowed = self.arrays.live.copy() if allowed is None else allowed & self.arrays.live
        narrowed = self.filters(plan.filters)
        if narrowed is not None:
            allowed &= narrowed
        for phrase in plan.required:
            allowed &= self.phrase(phrase)
        for phrase in plan.excluded:
            allowed &= ~self.phrase(phrase)
        for name, values in plan.excluded_filters.items():
            for v in values:
                allowed &= ~self.docs_with(name, v)
        pruned = None
        folded: dict[str, np.ndarray] = {}
        if (PRUNING and depth is not None and depth <= CANDIDATES and boost is None and plan.scored
                and not (plan.expanded or plan.required or plan.preferred)):
            pruned = self._pruned(plan, allowed, folded)
        scores, any_word = pruned or self._stage_one(plan, folded)
        if plan.required or not plan.matches_text:
            matched = allowed  # phrases (or filters alone) decide; the words only rank
        else:
            matched = allowed & any_word
            if plan.preferred:
                preferred = np.zeros(self.n, dtype=bool)
                for phrase in plan.preferred:
                    preferred |= self.phrase(phrase)
                scores[preferred] *= ALTERNATIVE_PHRASE_BOOST
                matched |= allowed & preferred
        scores[~matched] = 0
        ranked = Ranked(scores, matched)
        pairs = [a for a in plan.ranked_text if len(a.folded) > 1]
        typed = {tuple(a.folded) for a in pairs}
        pairs += [a for e in plan.expanded for a in e.runs if len(a.folded) > 1 and tuple(a.folded) not in typed]
        top = None
        if pairs and ranked.total:
            top = np.sort(ranked.order(0, CANDIDATES))
            memo: dict = {}
            bonus = sum(self.pair_scores(a, top, memo) for a in pairs)
            if PASSAGE_WEIGHT:
                bonus = bonus + sum((PASSAGE_WEIGHT if a.accented else PASSAGE_WEIGHT_UNACCENTED)
                                    * self.passage_scores(a, top, memo) for a in plan.scored)
            scores[top] += bonus
            ranked.candidates = Candidates(top, memo)
            # Stage one's best with every tie, and stage two only adds to them: still first, unless boosted.
            ranked.first = top if boost is None else None
        if boost is not None:
            scores *= boost
        if plan.scored and not (plan.required or plan.preferred) and ranked.total > CANDIDATES:
            # Stage two only adds to the candidates' scores: without a boost they are still the ones ranked first.
            ranked = self._counted(plan, ranked, top if top is not None and boost is None else None, folded)
        return ranked

    def _counted(self, plan: Plan, ranked: Ranked, first: np.ndarray | None = None,
                 folded: dict[str, np.ndarray] | None = None) -> Ranked:
        """The results a reader is told of: the articles with every content word of the query (in any of its
        forms: exact, folded, restored, corrected, expanded), the most common words left out only while fewer
        than COUNTED_AT_LEAST have them all, and always the CANDIDATES ranked first. Stage one matches any
        word, which ranks well but counted nearly the whole archive ("bóng đá việt nam": 46,258 of 47,897)
        and made the facets describe the collection; the order of the top results does not change.
        ``first``: the CANDIDATES ranked first, when the caller knows them; ``folded``: syllables' documents
        stage one already marked."""
        units: dict[str, np.ndarray] = {}
        known = folded or {}
        for a in plan.scored:
            for f in a.content_folded:
                if f not in units:
                    units[f] = known[f] if f in known else self._folded_docs(f)
        for e in plan.expanded:
            for option in e.options:
                has = np.logical_and.reduce([self._folded_docs(f) for f in dict.fromkeys(option.folded)])
                for f in e.typed.folded:
                    if f in units:
                        units[f] = units[f] | has
        if len(units) < 2:
            return ranked
        # The rarest words first; the most common are the ones left out while too few articles have them all.
        masks = sorted(units.values(), key=np.count_nonzero)
        counted = masks[0] & ranked.matched
        for mask in masks[1:]:
            narrower = counted & mask
            if np.count_nonzero(narrower) < COUNTED_AT_LEAST:
                break
            counted = narrower
        counted[ranked.order(0, CANDIDATES) if first is None else first] = True
        scores = np.where(counted, ranked.scores, np.float32(0))
        return Ranked(scores, counted, ranked.candidates, ranked.first)

    def _folded_docs(self, syllable: str) -> np.ndarray:
        return self.arrays.mask([(field_name(part, FOLDED), syllable) for part in TEXT_PARTS])


_FOLDED_SOURCES = [(p, field_name(p, FOLDED), FOLDED) for p in TEXT_PARTS]  # a folded syllable's clause
_LAYERS = 2 * len(TEXT_PARTS)  # passage windows: each part at two offsets
_BUCKET_BITS = 20  # windows of a part at one offset: PASSAGE << 20 syllables is more than any article has


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique of int64 values laid out as sorted runs, by a sort that merges runs (numpy's stable one: half
    the time of its default on a question's passage cells) and a comparison of neighbours."""
    values = np.sort(values, kind="stable")
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def _run_starts(values: np.ndarray) -> np.ndarray:
    """Where each run of equal values begins, in a sorted, non-empty array."""
    return np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
