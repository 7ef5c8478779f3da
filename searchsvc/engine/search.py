"""The search layer: the one place that talks to Whoosh at query time.

Routes and commands call :class:`SearchService`; it keeps one long-lived
searcher per process (compound-free segments make that cheap) and moves to a
new generation when CURRENT changes, without a restart.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import os
import pickle
import re
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import scoring

from searchsvc.analysis.vietnamese import fold, normalize, syllable_analyzer, unify_tones
from searchsvc.engine import highlight, kernels
from searchsvc.engine.arrays import DEFAULT_CACHE_MB, DamagedIndex, IndexArrays, time_key
from searchsvc.engine.completion import Completer
from searchsvc.engine.freshness import Boosts, Freshness
from searchsvc.engine.query import (
    MAX_QUERY_CHARS,
    Analyzed,
    Expansion,
    QueryError,
    analyze,
    build,
    mark_question_words,
    parse,
)
from searchsvc.engine.ranking import EXPANSION_WEIGHTS, Candidates, Ranked, Ranker
from searchsvc.engine.rewrite import BUILTIN_SYNONYMS, Reader, Rewrite, Synonyms
from searchsvc.engine.spelling import Speller
from searchsvc.index import hidden as hidden_list
from searchsvc.index import mapped
from searchsvc.index.generations import CURRENT, Generation, IndexStore, IndexUnavailable
from searchsvc.index.schema import TEXT_PARTS, offsets_field

MAX_PER_PAGE = 50
MAX_RELATED_CHARS = 1500
MAX_SUGGEST_SYLLABLES = 8
MAX_COMPLETIONS = 3  # completed words before the titles, in an autocomplete list of 8
FACETS = ("category", "source", "year")
SORTS = ("relevance", "newest")

__all__ = ["SearchService", "SearchRequest", "SearchResult", "Hit", "QueryError", "IndexUnavailable", "ArticleHidden",
           "Freshness"]


class ArticleHidden(Exception):
    """The article is on the index's hidden list (``searchsvc hide``): gone on purpose (HTTP 410), not unknown."""


@dataclass(frozen=True)
class SearchRequest:
    q: str
    page: int = 1
    per_page: int = 10
    sort: str = "relevance"
    category: str | None = None
    source: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    verbatim: bool = False  # exactly as typed: no Telex/VNI decoding, typo or synonym alternatives

    def check(self) -> None:
        if self.page < 1:
            raise QueryError("page must be 1 or more")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise QueryError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        if self.sort not in SORTS:
            raise QueryError(f"sort must be one of: {', '.join(SORTS)}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise QueryError("'from' must not be after 'to'")


@dataclass
class Hit:
    id: str
    title: str
    url: str
    category: str
    source: str
    published: datetime | None
    views: int | None
    score: float
    title_html: str
    snippet_html: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "url": self.url,
            "category": self.category,
            "source": self.source,
            "published": self.published.date().isoformat() if self.published else None,
            "views": self.views,
            "score": round(self.score, 4),
            "title_html": self.title_html,
            "snippet_html": self.snippet_html,
        }


@dataclass
class SearchResult:
    query: str
    total: int
    page: int
    per_page: int
    took_ms: float
    hits: list[Hit]
    facets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    suggestion: dict[str, str] | None = None
    # What the engine read the query as, when that differs from what was typed (engine/rewrite.py):
    # {"text", "html", "typed", "kinds"}; None when searched as typed.
    rewritten: dict[str, Any] | None = None
    # Abbreviations typed that were also searched spelled out: [{"typed": "UBND", "also": "ủy ban nhân dân"}].
    expanded: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "total": self.total,
            "page": self.page,
            "per_page": self.per_page,
            "took_ms": round(self.took_ms, 1),
            "hits": [h.as_json() for h in self.hits],
            "facets": self.facets,
            "suggestion": self.suggestion,
            "rewritten": self.rewritten,
            "expanded": self.expanded,
        }


class _Open:
    """The index generation this process searches, and its searcher."""

    def __init__(self, gen: Generation, ix, stamp: tuple, synonyms: Synonyms | None = None,
                 cache_mb: int = DEFAULT_CACHE_MB) -> None:
        self.gen = gen
        self.ix = ix
        self.stamp = stamp
        self.searcher = ix.searcher(weighting=scoring.BM25F())
        self.pid = os.getpid()
        # Whoosh's readers seek shared files: one lock for every read of this generation (threaded servers).
        self.io = threading.RLock()
        reader = self.searcher.reader()
        self.arrays = IndexArrays(reader, gen.path, io=self.io, cache_bytes=cache_mb << 20)
        self.ranker = Ranker(self.arrays)
        self.speller = Speller(self.searcher.reader(), io=self.io, arrays=self.arrays)
        self.completer = Completer(self.arrays, self.ranker)
        self.typing = Reader(self.speller, synonyms or Synonyms([BUILTIN_SYNONYMS]))
        self._labels: dict[str, dict[str, str]] = {}
        # Kept with the generation they apply to (its document numbers): SearchService._hidden_now, _boost.
        self.hidden: _Hidden | None = None
        self.boosts: Boosts | None = None

    def reopen_files(self) -> None:
        """In a forked worker: its own file handles (a forked handle shares its position with the parent's
        and the other workers'), keeping the tables built before the fork."""
        self.io = threading.RLock()
        self.searcher = self.ix.searcher(weighting=scoring.BM25F())
        self.arrays.rebind(self.searcher.reader(), self.io)
        self.speller.reader, self.speller.io = self.searcher.reader(), self.io
        self.pid = os.getpid()

    def warm(self) -> None:
        """Build what the first queries would otherwise wait for: spelling tables, facet columns, lengths."""
        self.speller.warm()
        self.completer.warm()
        for name in FACETS:
            self.arrays.column(name)
        self.arrays.published()
        self.ranker.warm()

    def label(self, fieldname: str, value: str) -> str:
        """The indexed spelling of a section or source as a reader may type it (NFD, other tone style, case)."""
        labels = self._labels.get(fieldname)
        if labels is None:
            with self.io:
                labels = {normalize(v).lower(): v for v in self.searcher.reader().field_terms(fieldname)}
            self._labels[fieldname] = labels
        return labels.get(normalize(value).lower(), value)


# What reading a damaged generation raises from inside Whoosh (a truncated or overwritten file).
_READ_ERRORS = (DamagedIndex, OSError, EOFError, struct.error, zlib.error, pickle.UnpicklingError)


def _reopens_on_damage(method):
    """Run a search-layer call; if the generation's files cannot be read, reopen (IndexStore.open serves
    the newest intact generation) and try once more; if that fails too, the index is unavailable (503),
    not an internal error."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except _READ_ERRORS as exc:
            broken = self._open
            with self._lock:
                if self._open is broken:
                    self._open = None
                    if broken is not None and isinstance(exc, DamagedIndex):
                        self.refused[broken.gen.name] = str(exc)  # found by a checksum: serve another one
            try:
                return method(self, *args, **kwargs)
            except _READ_ERRORS as exc:
                name = broken.gen.name if broken is not None else "the current generation"
                raise IndexUnavailable(f"{name} cannot be read ({exc})") from exc

    return wrapper


class SearchService:
    def __init__(self, index_dir: str | Path, max_query_chars: int = MAX_QUERY_CHARS,
                 postings_cache_mb: int = DEFAULT_CACHE_MB, *, synonyms_file: str | Path | None = None,
                 freshness: Freshness | None = None) -> None:
        self.store = IndexStore(index_dir)
        # The built-in abbreviations, then the operator's own (read again whenever the file changes).
        self.synonyms = Synonyms([BUILTIN_SYNONYMS, *([Path(synonyms_file)] if synonyms_file else [])])
        self.max_query_chars = max_query_chars
        self.cache_mb = postings_cache_mb  # decoded lists kept per worker (engine/arrays.py)
        # Generations this process found damaged (a checksum of their mapped data), by name: never served again.
        self.refused: dict[str, str] = {}
        self._open: _Open | None = None
        self._lock = threading.Lock()
        # Freshness and popularity in the relevance order (engine/freshness.py); off unless configured.
        self.freshness = freshness or Freshness()
        self._hidden_ids: frozenset[str] = frozenset()  # the hidden list as last read whole
        self._hidden_lock = threading.Lock()
        kernels.warm()  # in gunicorn's master with --preload: the workers share the compiled code

    # --- generations --------------------------------------------------------------
    def _stamp(self) -> tuple:
        try:
            st = (self.store.root / CURRENT).stat()
        except FileNotFoundError:
            return ()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def current(self) -> _Open:
        """The searcher for the generation CURRENT names, reopened when it changes."""
        stamp = self._stamp()
        opened = self._open
        if opened is not None and opened.pid != os.getpid():
            with self._lock:
                if opened.pid != os.getpid():
                    opened.reopen_files()
        if opened is not None and opened.stamp == stamp:
            return opened
        if not self._lock.acquire(blocking=opened is None):
            return opened  # another thread is opening the new generation; this request stays on the old one
        try:
            if self._open is not None and self._open.stamp == stamp:
                return self._open
            opened = self._open_intact(stamp)
            switching = self._open is not None
            if switching:
                # A reindex published: get the new generation ready before anyone searches it, so no
                # request waits seconds for its spelling tables (nor for its hidden articles or views).
                opened.warm()
                self._hidden_now(opened)
                if self.freshness.on:
                    self._boost(opened)
            self._open = opened
            if switching:
                _release_memory()  # the old generation's tables, which a worker would otherwise keep (bench/soak.py)
            return opened
        finally:
            self._lock.release()

    def _open_intact(self, stamp: tuple) -> _Open:
        """The generation IndexStore.open chooses, skipping those whose mapped data fails its checks."""
        while True:
            gen, ix = self.store.open(skip=self.refused)
            try:
                return _Open(gen, ix, stamp, self.synonyms, self.cache_mb)
            except mapped.DamagedData as exc:
                ix.close()
                self.refused[gen.name] = str(exc)

    def _refused_problems(self) -> list[str]:
        return [f"generation {name} is not served: {why}" for name, why in sorted(self.refused.items())]

    def warm(self) -> None:
        """Open the current generation and build its tables now (before gunicorn forks its workers)."""
        opened = self.current()
        opened.warm()
        self._hidden_now(opened)
        if self.freshness.on:
            self._boost(opened)

    # --- the hidden list (index/hidden.py) --------------------------------------------------------------
    def _hidden_now(self, opened: _Open) -> _Hidden:
        """The hidden list as it applies to ``opened``: one ``stat`` per call, read again only when the file
        was replaced (``searchsvc hide``/``unhide``) or the generation changed (a reindex: new document numbers)."""
        stamp = hidden_list.stamp(self.store.root)
        known = opened.hidden
        if known is not None and known.stamp == stamp:
            return known
        with self._hidden_lock:
            known = opened.hidden
            if known is not None and known.stamp == stamp:
                return known
            problem = None
            try:
                ids = frozenset(hidden_list.read(self.store.root)) if stamp is not None else frozenset()
                self._hidden_ids = ids
            except hidden_list.HiddenListError as exc:
                # Written whole by every command, so only a change by hand gets here: keep hiding what was hidden.
                ids = self._hidden_ids
                problem = (f"the hidden list {hidden_list.path(self.store.root)} cannot be read: {exc}; "
                           + ("the articles hidden before stay hidden" if ids else "nothing is hidden")
                           + " until it is fixed")
            docnums: list[int] = []
            if ids:
                with opened.io:
                    for doc_id in ids:
                        docnums.extend(opened.searcher.document_numbers(id=doc_id))
            mask = visible = None
            if docnums:
                mask = np.zeros(opened.arrays.size, dtype=bool)
                mask[docnums] = True
                visible = opened.arrays.live & ~mask
            opened.hidden = known = _Hidden(stamp, ids, mask, visible, len(docnums), problem)
            return known

    def _boost(self, opened: _Open) -> np.ndarray | None:
        """The freshness factor of every document of ``opened`` (None when off or when it changes nothing)."""
        if not self.freshness.on:
            return None
        boosts = opened.boosts
        if boosts is None:
            boosts = opened.boosts = Boosts(opened.arrays, self.freshness)
        return boosts.vector()

    def document_count(self) -> int:
        """Articles served now; 0 is a normal state (nothing indexed yet), not an error."""
        return self.current().arrays.doc_count

    def health(self) -> dict[str, Any]:
        """``status`` "ok", or "degraded" with ``problems`` (plain words) when serving but something needs fixing.

        Raises IndexUnavailable, naming every problem, when no generation can be served.
        """
        try:
            opened = self.current()
        except IndexUnavailable as exc:
            others = [p for p in self.store.problems(None) if str(exc) not in p]
            raise IndexUnavailable("; ".join([str(exc), *others])) from exc
        problems = self.store.problems(opened.gen) + self._refused_problems()
        hidden = self._hidden_now(opened)
        if hidden.problem:
            problems.append(hidden.problem)
        meta = opened.gen.meta()
        return {
            "status": "degraded" if problems else "ok",
            "documents": opened.searcher.doc_count(),
            "generation": opened.gen.number,
            "built_at": meta.get("built_at"),
            "problems": problems,
        }

    def stats(self) -> dict[str, Any]:
        """The served generation, and the last reindex: a run that changed nothing publishes no generation,
        so it is read from the index's last-run record (the generation's own meta before the first record)."""
        opened = self.current()
        meta = opened.gen.meta()
        run = self.store.last_run() or {**meta, "finished_at": meta.get("built_at"), "published": True}
        return {
            "index": str(self.store.root),
            "generation": opened.gen.number,
            "documents": opened.searcher.doc_count(),
            "size_bytes": self.store.size_bytes(opened.gen),
            "built_at": meta.get("built_at"),
            "last_reindex": run.get("finished_at"),
            "last_reindex_mode": run.get("mode"),
            "last_reindex_published": bool(run.get("published")),
            "last_reindex_summary": {k: run.get(k) for k in
                                     ("read", "added", "updated", "unchanged", "deleted", "failed", "seconds")},
            # Articles of this generation on the hidden list: counted in "documents", never shown.
            "hidden": self._hidden_now(opened).count,
            "problems": (self.store.problems(opened.gen) + self._refused_problems()
                         + [p for p in [self._hidden_now(opened).problem] if p]),
        }

    # --- searching -------------------------------------------------------------------
    @_reopens_on_damage
    def search(self, request: SearchRequest) -> SearchResult:
        start = time.perf_counter()
        request.check()
        pq = parse(request.q, self.max_query_chars)
        plain = bool(pq.free) and not (pq.phrases or pq.title or pq.excluded or pq.filters or pq.excluded_filters)
        if request.category:
            pq.filters.setdefault("category", []).append(request.category)
        if request.source:
            pq.filters.setdefault("source", []).append(request.source)
        opened = self.current()
        for filters in (pq.filters, pq.excluded_filters):
            for name, values in filters.items():
                filters[name] = [opened.label(name, v) for v in values]
        rewrites = [] if request.verbatim else [opened.typing.read(run) for run in pq.free]
        if rewrites:
            pq.free = [r.text for r in rewrites]
        plan = build(pq)
        plan.restored = self._restored(opened, plan)
        _expand(plan, rewrites, opened.ranker)
        allowed = _date_mask(opened.arrays, request.date_from, request.date_to)
        hidden = self._hidden_now(opened)
        boost = self._boost(opened) if request.sort == "relevance" else None  # "newest" stays a pure date sort
        if not plan.matches_text and not plan.filters and allowed is None:
            ranked = Ranked(np.zeros(opened.arrays.size, dtype=np.float32), np.zeros(opened.arrays.size, dtype=bool))
        else:
            depth = request.page * request.per_page if request.sort == "relevance" else None
            ranked = opened.ranker.rank(plan, _narrowed(allowed, hidden.visible), boost, depth)
        total = ranked.total
        if request.page > 1 and (request.page - 1) * request.per_page >= total:
            raise QueryError(f"page {request.page} is beyond the results ({total} in all)")
        start_at, stop = (request.page - 1) * request.per_page, request.page * request.per_page
        if request.sort == "newest" or not plan.matches_text:
            docs = _newest(ranked, opened.arrays.published())[start_at:stop]
        else:
            docs = ranked.order(start_at, stop)
        hits = self._hits(opened, [(int(d), float(ranked.scores[d])) for d in docs], plan.marks, plan.solo,
                          ranked.candidates)
        top = float(ranked.scores.max()) if total and request.sort == "relevance" else 0.0
        rewritten = _rewritten(rewrites)
        if rewritten is None and plain and request.page == 1:
            suggestion = self._did_you_mean(opened, pq, top, total)
        else:
            suggestion = None
        facets = _facets(opened.arrays, ranked.matched)
        return SearchResult(
            query=pq.text,
            total=total,
            page=request.page,
            per_page=request.per_page,
            took_ms=(time.perf_counter() - start) * 1000,
            hits=hits,
            facets=facets,
            suggestion=suggestion,
            rewritten=rewritten,
            expanded=[e for r in rewrites for e in r.expansions],
        )

    def _restored(self, opened: _Open, plan) -> list:
        """Free words typed without diacritics, with the diacritics the index most often gives them."""
        out = []
        for a in plan.scored:
            if not a.accented:
                restored = opened.speller.restore_diacritics(a.folded)
                if restored != a.folded:
                    out.append(mark_question_words(analyze(" ".join(restored))))
        return out

    def _did_you_mean(self, opened: _Open, pq, top_score: float, total: int) -> dict[str, str] | None:
        """The query with diacritics restored (typed without) or misspellings corrected, if that finds better."""
        text = " ".join(pq.free)
        typed = analyze(text).syllables
        if not typed or len(typed) > MAX_SUGGEST_SYLLABLES:
            return None  # a long question is not a misspelt name; and correcting it would cost seconds
        restoring = fold(text) == text
        proposed = opened.speller.restore_diacritics(typed) if restoring else typed
        proposed = opened.speller.correct(proposed)
        if proposed == typed:
            return None
        plan = build(parse(" ".join(proposed)))
        if not plan.matches_text:
            return None
        alt = opened.ranker.rank(plan, self._hidden_now(opened).visible, self._boost(opened), depth=1)
        if not alt.total:
            return None
        best = int(alt.order(0, 1)[0])
        # Restored diacritics find the exact words, which is better by itself; a correction must find more.
        if not restoring and float(alt.scores[best]) <= top_score and alt.total <= total:
            return None
        with opened.io:
            stored = opened.searcher.stored_fields(best)
        words = _surface(stored, proposed)
        html = " ".join(
            f"<mark>{escape(w)}</mark>" if normalize(w).lower() != t else escape(w)
            for w, t in zip(words, typed, strict=True)
        )
        return {"text": " ".join(words), "html": html}

    def _hits(self, opened: _Open, ranked: list[tuple[int, float]], marks: list[str],
              solo: frozenset[str] = frozenset(), candidates: Candidates | None = None) -> list[Hit]:
        with opened.io:
            raw = [(n, score, opened.searcher.stored_fields(n)) for n, score in ranked]
        if not raw:
            return []
        docnums = [n for n, _, _ in raw]
        spans = {}
        for part in TEXT_PARTS:
            texts = {n: stored.get(part, "") for n, _, stored in raw}
            offsets = {n: stored.get(offsets_field(part), b"") for n, _, stored in raw}
            spans[part] = highlight.load_spans(opened.arrays, docnums, part, marks, texts, offsets, solo, candidates)
        hits = []
        for n, score, stored in raw:
            sapo, body = stored.get("sapo", ""), stored.get("body", "")
            if spans["body"][n] or not spans["sapo"][n]:
                snippet = highlight.snippet(body, spans["body"][n])
            else:
                snippet = highlight.snippet(sapo, spans["sapo"][n])
            hits.append(Hit(
                id=stored["id"],
                title=stored.get("title", ""),
                url=stored.get("url", ""),
                category=stored.get("category", ""),
                source=stored.get("source", ""),
                published=stored.get("published"),
                views=stored.get("views"),
                score=float(score) if isinstance(score, int | float) else 0.0,
                title_html=highlight.format_whole(stored.get("title", ""), spans["title"][n]),
                snippet_html=snippet,
            ))
        return hits

    @_reopens_on_damage
    def article(self, doc_id: str, q: str = "") -> dict[str, Any] | None:
        """The stored article, with ``title_html``/``sapo_html``/``body_html`` marking ``q``'s terms."""
        opened = self.current()
        if doc_id in self._hidden_now(opened).ids:
            raise ArticleHidden(f"article {doc_id!r} has been taken down")
        with opened.io:
            docnum = opened.searcher.document_number(id=doc_id)
            stored = opened.searcher.stored_fields(docnum) if docnum is not None else None
        if docnum is None or stored is None:
            return None
        plan = build(parse(q)) if q.strip() else None
        marks = plan.marks if plan else []
        article = {k: v for k, v in stored.items() if not k.endswith("_offsets")}
        for part in TEXT_PARTS:
            text = stored.get(part, "")
            spans = highlight.load_spans(
                opened.arrays, [docnum], part, marks, {docnum: text}, {docnum: stored.get(offsets_field(part), b"")},
                plan.solo,
            )[docnum] if plan and marks else []
            article[f"{part}_html"] = highlight.format_whole(text, spans)
        return article

    @_reopens_on_damage
    def related(self, doc_id: str, limit: int = 5) -> list[Hit]:
        """Articles sharing this one's most telling words (Whoosh's key-term model over its opening), ranked
        by BM25F on those words; the same story under another id (same title) is not shown again."""
        opened = self.current()
        hidden = self._hidden_now(opened)
        if doc_id in hidden.ids:
            return []
        searcher = opened.searcher
        with opened.io:
            docnum = searcher.document_number(id=doc_id)
            if docnum is None:
                return []
            stored = searcher.stored_fields(docnum)
            text = "\n".join(t for t in (stored.get("title", ""), stored.get("sapo", ""), stored.get("body", "")) if t)
            key_terms = searcher.key_terms_from_text("body", text[:MAX_RELATED_CHARS], numterms=12)
        scores = opened.ranker.score_words(key_terms)
        matched = (scores > 0) & (opened.arrays.live if hidden.visible is None else hidden.visible)
        matched[docnum] = False
        ranked = Ranked(np.where(matched, scores, 0).astype(np.float32), matched)
        seen = {_title_key(stored.get("title", ""))}
        hits = []
        for hit in self._hits(opened, [(int(d), float(scores[d])) for d in ranked.order(0, 2 * limit)], []):
            if _title_key(hit.title) not in seen:
                seen.add(_title_key(hit.title))
                hits.append(hit)
        return hits[:limit]

    @_reopens_on_damage
    def suggest(self, prefix: str, limit: int = 8) -> list[str]:
        """What to search next, accent-insensitive: the typed words with their last, partial syllable
        completed as titles most often complete it (at most MAX_COMPLETIONS, each in at least two titles),
        then titles that continue what was typed."""
        pq = parse(prefix)
        typed = [t.text for t in syllable_analyzer()(" ".join(pq.free))]
        folded = [fold(s) for s in typed]
        if not folded:
            return []
        opened = self.current()
        found = opened.completer.complete(folded, limit, self._hidden_now(opened).mask)
        titles: list[str] = []
        for docnum in found.docs:
            with opened.io:
                title = opened.searcher.stored_fields(int(docnum)).get("title", "")
            if title and title not in titles:
                titles.append(title)
                if len(titles) == limit:
                    break
        suggestions: list[str] = []
        for ending, count, example in found.endings:
            if count < 2 or len(suggestions) == min(MAX_COMPLETIONS, limit - 1):
                break
            if ending == folded[-1]:
                continue  # nothing to complete
            words = opened.speller.restore_diacritics(folded[:-1] + [ending])
            typed_with_marks = zip(typed[:-1], folded, words, strict=False)
            if len(words) != len(typed) or any(t != f and t != w for t, f, w in typed_with_marks):
                continue  # another word than the one typed with its diacritics (bệnh v: not bênh vực)
            with opened.io:
                written = opened.searcher.stored_fields(example).get("title", "")
            suggestions.append(_as_titles_write(words, [written, *titles]))
        for title in titles:
            if len(suggestions) == limit:
                break
            if title not in suggestions:
                suggestions.append(title)
        return suggestions


_SENTENCE_START = re.compile(r"(?:^|[:.!?\-–—]\s*)$")


def _as_titles_write(words: list[str], titles: list[str]) -> str:
    """``hà nội`` as ``Hà Nội``, the way a title writes it; a capital that only begins a title or a
    sentence in it (``Giá xe``, ``Hà Nội: Xe biển xanh``) is not kept."""
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)", re.IGNORECASE)
    for title in titles:
        m = pattern.search(unify_tones(title))  # same length: the span holds in the title as written
        if m:
            written = title[m.start():m.end()].split()
            if _SENTENCE_START.search(title[:m.start()]) and (len(written) == 1 or written[1][:1].islower()):
                written[0] = written[0].lower()
            return " ".join(written)
    return " ".join(words)


def _title_key(title: str) -> str:
    return " ".join(fold(title.lower()).split())


def _release_memory() -> None:
    """Collect the old generation (Whoosh's readers hold reference cycles) and hand freed heap back
    to the system, so a worker's memory does not step up at every reindex."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def _surface(stored: dict[str, Any], syllables: list[str]) -> list[str]:
    """The syllables as an article writes them (``Hà Nội``, not ``hà nội``), when it has them side by side."""
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(re.escape(s) for s in syllables) + r"(?!\w)", re.IGNORECASE)
    for part in TEXT_PARTS:
        text = stored.get(part, "")
        m = pattern.search(unify_tones(text))  # same length: the span holds in the text as written
        if m:
            return text[m.start():m.end()].split()
    return list(syllables)


def _expand(plan, rewrites: list[Rewrite], ranker: Ranker) -> None:
    """The alternatives of what was typed (typos corrected, synonyms), scored and marked with the rest.

    A word as typed, kept below its correction, weighs TYPO_WEIGHT at most, and less when rarer than the
    word the reading makes there: the most an article can get from it is TYPO_WEIGHT times the most it can
    get from that word. At the plain weight a rare syllable's idf outweighed a common word's: ``Hà Nôi``,
    read as *Hà Nội*, was led by articles with *cái nôi*, the one-syllable *nôi* (78 articles) counting for
    more than the word *hà_nội* (6,389). The next likeliest corrections of a word the index does not know
    keep TYPO_WEIGHT: capped too, ``VN sẽ đng thứ`` (read as *đồng*) no longer found its article by *đứng*."""
    for r in rewrites:
        words = analyze(r.text).words if any(alt.as_typed for alt in r.alternatives) else []
        for alt in r.alternatives:
            options = [a for a in map(analyze, alt.options) if a.syllables]
            typed = analyze(alt.typed)
            if options and typed.syllables:
                runs = [mark_question_words(analyze(run)) for run in alt.runs]
                weight = EXPANSION_WEIGHTS[alt.kind]
                if alt.as_typed:
                    most = ranker.most(_word_of(words, typed))
                    weight *= min([1.0] + [most / m for o in options if (m := ranker.most(o)) > most])
                plan.expanded.append(Expansion(typed, options, weight, runs))
    if plan.expanded:
        extra = [s for e in plan.expanded for a in e.options for s in a.syllables]
        plan.marks = list(dict.fromkeys(plan.marks + extra))


def _word_of(words: list[str], corrected: Analyzed) -> Analyzed:
    """The word of the reading (``hà_nội``) that holds a corrected syllable (``nội``), as the query has it."""
    for w in words:
        syllables = w.split("_")
        if set(syllables) & set(corrected.syllables):
            return Analyzed(" ".join(syllables), [w], syllables, [fold(s) for s in syllables])
    return corrected


def _rewritten(rewrites: list[Rewrite]) -> dict[str, Any] | None:
    """For the reader: the query as it was read, when that is not as typed."""
    if not any(r.rewritten for r in rewrites):
        return None
    shown = [r.shown() for r in rewrites]
    kinds = sorted({k for r in rewrites for k in r.kinds if k not in ("case", "synonym")})
    return {
        "typed": " ".join(r.typed for r in rewrites),
        "text": " ".join(text for text, _ in shown),
        "html": " ".join(html for _, html in shown),
        "kinds": kinds,
    }


@dataclass(frozen=True, eq=False)
class _Hidden:
    """The hidden list applied to one opened generation: its ids, and the documents they are there."""

    stamp: tuple | None  # of the file read (hidden_list.stamp); None: there is no list
    ids: frozenset[str]
    mask: np.ndarray | None  # True for a hidden document; None when no document of this generation is hidden
    visible: np.ndarray | None  # live and not hidden; None when nothing is hidden (then: the live ones)
    count: int  # hidden documents of this generation
    problem: str | None = None  # the list could not be read


def _narrowed(allowed: np.ndarray | None, visible: np.ndarray | None) -> np.ndarray | None:
    """The documents both masks allow (None, from either, allows all)."""
    if visible is None:
        return allowed
    return visible if allowed is None else allowed & visible


def _date_mask(arrays: IndexArrays, date_from: date | None, date_to: date | None) -> np.ndarray | None:
    """Articles published within the days asked (both ends included); undated ones are outside any range."""
    if not date_from and not date_to:
        return None
    published = arrays.published()
    mask = published > 0
    if date_from:
        mask &= published >= time_key(datetime.combine(date_from, datetime.min.time()))
    if date_to:
        mask &= published < time_key(datetime.combine(date_to + timedelta(days=1), datetime.min.time()))
    return mask


def _newest(ranked: Ranked, published: np.ndarray) -> np.ndarray:
    """Dated articles newest first, then the undated ones by relevance."""
    docs = np.flatnonzero(ranked.matched)
    when = published[docs]
    return docs[np.lexsort((docs, -ranked.scores[docs], -when, when == 0))]


def _facets(arrays: IndexArrays, matched: np.ndarray) -> dict[str, list[dict[str, Any]]]:
    out = {}
    selected = np.flatnonzero(matched)  # once for every column
    for name in FACETS:
        items = arrays.column(name).counts(selected)
        items.sort(key=lambda kv: (-kv[1], kv[0]) if name != "year" else (-int(kv[0]), 0))
        out[name] = [{"value": k, "count": v} for k, v in items]
    return out
