"""Reindex: read sources, segment in parallel, write a new generation, switch to it.

pyvi is the unavoidable cost, so it runs in a pool of worker processes while
this process does the Whoosh writing; workers send back compact
segmentations which prime the analyzers' cache, so each text is segmented
once however many fields index it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

from searchsvc import analysis
from searchsvc.generations import IndexStore, now_iso
from searchsvc.readers import Article, ReadProblem, read_sources
from searchsvc.codec import pack_offsets
from searchsvc.schema import FOLDED, SYLLABLE, TEXT_PARTS, WORD, build_schema, codec, field_name, offsets_field

BATCH = 32
WRITER_LIMIT_MB = 256


@dataclass
class Summary:
    """What a reindex did. ``read`` = added + updated + unchanged + failed."""

    read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    skipped_files: int = 0
    seconds: float = 0.0
    documents: int = 0
    generation: str = ""
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("problems")
        return d

    def line(self) -> str:
        return (
            f"read {self.read}, added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"deleted {self.deleted}, failed {self.failed}"
            + (f", skipped files {self.skipped_files}" if self.skipped_files else "")
            + f"; {self.documents} articles in {self.generation} ({self.seconds:.1f} s)"
        )


@dataclass(frozen=True)
class Prepared:
    """An article normalised for indexing, with its content hash."""

    article: Article
    title: str
    sapo: str
    body: str
    digest: str


def prepare(article: Article) -> Prepared:
    """Clean the texts once, here: the stored text is what offsets point into."""
    title = analysis.clean(article.title).strip()
    sapo = analysis.clean(article.sapo).strip()
    body = analysis.clean(article.body).strip()
    payload = json.dumps(
        [title, sapo, body, article.category, article.source, article.url,
         article.published.isoformat() if article.published else None, article.views],
        ensure_ascii=False,
    )
    return Prepared(article, title, sapo, body, hashlib.sha1(payload.encode("utf-8")).hexdigest())


def validate(article: Article) -> str | None:
    """Reject what Whoosh would mis-index silently (see dependency notes): wrong types."""
    for name in ("id", "title", "sapo", "body", "category", "source", "url"):
        if not isinstance(getattr(article, name), str):
            return f"field {name!r} must be text"
    if not article.id.strip():
        return "missing id"
    if not article.title.strip():
        return "missing title"
    if article.views is not None and (not isinstance(article.views, int) or isinstance(article.views, bool)):
        return "field 'views' must be a whole number"
    if article.views is not None and not 0 <= article.views < 2**63:
        return "field 'views' out of range"
    return None


def document(p: Prepared, segs: list[analysis.Segmentation]) -> dict:
    """The Whoosh document; ``segs`` are the parts' segmentations, for the stored offsets."""
    a = p.article
    doc = {
        "id": a.id,
        "hash": p.digest,
        "category": a.category,
        "source": a.source,
        "url": a.url,
    }
    if a.published is not None:
        doc["published"] = a.published
        doc["year"] = str(a.published.year)
    if a.views is not None:
        doc["views"] = a.views
    for part, seg in zip(TEXT_PARTS, segs, strict=True):
        text = getattr(p, part)
        for unit in (WORD, SYLLABLE, FOLDED):
            doc[field_name(part, unit)] = text
        doc[offsets_field(part)] = pack_offsets(seg.syllables)
    return doc


# --- parallel segmentation ------------------------------------------------------------


def _warm() -> None:
    analysis.segment_uncached("Khởi động")


def _segment_batch(texts: list[tuple[str, str, str]]) -> list[list[analysis.Segmentation]]:
    return [analysis.analyze(t) for t in texts]


class Segmenter:
    """Segments batches in ``jobs`` worker processes, keeping a bounded number in flight."""

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Segmenter:
        if self.jobs > 1:
            analysis._pyvi()  # import once before forking: workers share the loaded model
            self._pool = ProcessPoolExecutor(self.jobs, mp_context=get_context("fork"), initializer=_warm)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def run(self, batches: Iterable[list[Prepared]]) -> Iterator[tuple[list[Prepared], list]]:
        if self._pool is None:
            for batch in batches:
                yield batch, _segment_batch([(p.title, p.sapo, p.body) for p in batch])
            return
        pending: deque[tuple[list[Prepared], Future]] = deque()
        for batch in batches:
            pending.append((batch, self._pool.submit(_segment_batch, [(p.title, p.sapo, p.body) for p in batch])))
            if len(pending) >= 3 * self.jobs:
                done, fut = pending.popleft()
                yield done, fut.result()
        while pending:
            done, fut = pending.popleft()
            yield done, fut.result()


# --- the reindex -----------------------------------------------------------------------------


def count_records(paths: Iterable[Path]) -> int | None:
    """A cheap estimate of how many articles the sources hold, for the progress bar's ETA."""
    import gzip

    total = 0
    try:
        for path in paths:
            files = sorted(path.rglob("*")) if path.is_dir() else [path]
            for f in files:
                name = f.name
                if name.endswith(".jsonl.gz"):
                    with gzip.open(f, "rb") as fh:
                        total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
                elif name.endswith(".jsonl"):
                    with open(f, "rb") as fh:
                        total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
                elif name.endswith(".txt"):
                    total += 1
    except (OSError, EOFError):
        return None
    return total


class Progress:
    """A bar with rate and ETA on a terminal; a plain line every few seconds otherwise."""

    def __init__(self, total: int | None, enabled: bool, echo: Callable[[str], None]) -> None:
        self.enabled = enabled
        self.echo = echo
        self.count = 0
        self.total = total
        self._bar = None
        self._last = time.monotonic()
        self._start = self._last
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=" articles", dynamic_ncols=True, file=sys.stderr)

    def update(self, n: int) -> None:
        self.count += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= 5:
            self._last = now
            rate = self.count / max(now - self._start, 1e-9)
            of = f"/{self.total}" if self.total else ""
            self.echo(f"indexed {self.count}{of} articles ({rate:.0f}/s)")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _existing_hashes(ix) -> dict[str, str]:
    with ix.reader() as reader:
        if reader.doc_count_all() == 0:
            return {}
        ids = reader.column_reader("id")
        hashes = reader.column_reader("hash")
        return {
            ids[n]: hashes[n]
            for n in range(reader.doc_count_all())
            if not reader.is_deleted(n)
        }


def reindex(
    sources: Iterable[str | os.PathLike[str]],
    index_dir: str | os.PathLike[str],
    *,
    full: bool = False,
    delete_missing: bool = False,
    jobs: int | None = None,
    wait: bool = False,
    progress: bool = False,
    echo: Callable[[str], None] = print,
) -> Summary:
    """Index ``sources`` into a new generation of ``index_dir`` and switch to it.

    Incremental by default: articles whose content hash is unchanged are not
    touched. ``full`` rebuilds from nothing. On any error the new generation
    is discarded and the previous one keeps serving.
    """
    from whoosh import index as whoosh_index

    start = time.monotonic()
    paths = [Path(s) for s in sources]
    store = IndexStore(index_dir)
    summary = Summary()
    jobs = jobs or os.cpu_count() or 1
    with store.lock(wait=wait):
        store.clean()
        current = store.current()
        incremental = not full and current is not None
        gen = store.new_generation(copy_current=incremental)
        try:
            if incremental:
                ix = whoosh_index.open_dir(str(gen.path))
                existing = _existing_hashes(ix)
            else:
                ix = whoosh_index.create_in(str(gen.path), build_schema())
                existing = {}
            _write(ix, paths, existing, incremental, delete_missing, jobs, summary,
                   Progress(count_records(paths) if progress else None, progress, echo), echo)
            with ix.reader() as reader:
                summary.documents = reader.doc_count()
            ix.close()
            summary.generation = gen.name
            summary.seconds = time.monotonic() - start
            store.publish(gen, {
                "generation": gen.number,
                "built_at": now_iso(),
                "mode": "incremental" if incremental else "full",
                "sources": [str(p) for p in paths],
                **summary.as_dict(),
            })
        except BaseException:
            store.discard(gen)
            raise
        store.clean()
    return summary


def _articles(paths: list[Path], summary: Summary, echo: Callable[[str], None]) -> Iterator[Prepared]:
    """Valid, first-seen articles; every problem is reported and counted."""
    seen: dict[str, str] = {}

    def problem(text: str) -> None:
        summary.problems.append(text)
        echo(f"warning: {text}")

    for item in read_sources(paths):
        if isinstance(item, ReadProblem):
            if item.line is None and "unsupported" in item.reason:
                summary.skipped_files += 1
            else:
                summary.read += 1
                summary.failed += 1
            problem(str(item))
            continue
        summary.read += 1
        reason = validate(item)
        if reason is None and item.id in seen:
            reason = f"duplicate id {item.id!r} (first at {seen[item.id]}); this one is skipped"
        if reason is not None:
            summary.failed += 1
            problem(f"{item.origin}: {reason}")
            continue
        seen[item.id] = item.origin
        yield prepare(item)


def _batches(items: Iterable[Prepared], size: int) -> Iterator[list[Prepared]]:
    batch: list[Prepared] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(ix, paths, existing, incremental, delete_missing, jobs, summary, progress, echo) -> None:
    seen: set[str] = set()

    def changed() -> Iterator[Prepared]:
        for p in _articles(paths, summary, echo):
            seen.add(p.article.id)
            if existing.get(p.article.id) == p.digest:
                summary.unchanged += 1
                progress.update(1)
                continue
            yield p

    writer = ix.writer(limitmb=WRITER_LIMIT_MB, compound=False, codec=codec())
    try:
        with Segmenter(jobs) as segmenter:
            for batch, segs in segmenter.run(_batches(changed(), BATCH)):
                for p, seg in zip(batch, segs):
                    for text, s in zip((p.title, p.sapo, p.body), seg):
                        analysis.prime(text, s)
                    if p.article.id in existing:
                        writer.update_document(**document(p, seg))
                        summary.updated += 1
                    else:
                        writer.add_document(**document(p, seg))
                        summary.added += 1
                progress.update(len(batch))
        if incremental and delete_missing:
            for doc_id in sorted(set(existing) - seen):
                writer.delete_by_term("id", doc_id)
                summary.deleted += 1
        writer.commit(optimize=not incremental)
    except BaseException:
        writer.cancel()
        raise
    finally:
        progress.close()
