"""Reindex: read sources, analyse and write in parallel, publish a new generation.

This process reads, validates and de-duplicates articles and decides what
changed (content hash); worker processes run pyvi and Whoosh's writing, one
segment each (parallel.py). The result becomes a new generation that is
switched to atomically (generations.py), so a failed run leaves the previous
index serving.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from searchsvc.analysis import vietnamese as analysis
from searchsvc.index import derive
from searchsvc.index.generations import Generation, IndexStore, now_iso
from searchsvc.index.mapped import FORMAT, REBUILD
from searchsvc.index.parallel import ParallelWriter
from searchsvc.index.pool import segment_writer
from searchsvc.index.schema import FOLDED, SYLLABLE, TEXT_PARTS, WORD, build_schema, codec, field_name, offsets_field
from searchsvc.index.stored import pack_offsets
from searchsvc.reading.article import Article, ReadNotice, ReadProblem
from searchsvc.reading.fetch import is_url
from searchsvc.reading.sources import read_sources

BATCH = 32


class ReindexRefused(Exception):
    """A full rebuild that would serve fewer articles than it was given, unasked, or an incremental run on an
    index it cannot continue: nothing is published."""


@dataclass
class Summary:
    """What a reindex did. ``read`` = added + updated + unchanged + failed; records in the sources = read + merged."""

    read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    merged: int = 0
    skipped_files: int = 0
    seconds: float = 0.0
    documents: int = 0
    generation: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)  # sources (or parts) that could not be read at all

    def as_dict(self) -> dict:
        d = asdict(self)
        for name in ("problems", "notes", "unread"):
            d.pop(name)
        return d

    def line(self) -> str:
        return (
            f"read {self.read}, added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"deleted {self.deleted}, failed {self.failed}"
            + (f", merged duplicates {self.merged}" if self.merged else "")
            + (f", skipped files {self.skipped_files}" if self.skipped_files else "")
            + f"; {articles(self.documents)} in {self.generation} ({self.seconds:.1f} s)"
        )


def articles(n: int) -> str:
    return f"{n} article" if n == 1 else f"{n} articles"


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


def document(p: Prepared) -> dict:
    """The Whoosh document: each text under its three fields, plus its syllable offsets."""
    a = p.article
    doc = {
        "id": a.id,
        "hash": p.digest.encode("ascii"),
        "category": a.category,
        "source": a.source,
        "url": a.url,
    }
    if a.published is not None:
        doc["published"] = a.published
        doc["year"] = str(a.published.year)
    if a.views is not None:
        doc["views"] = a.views
    for part in TEXT_PARTS:
        text = getattr(p, part)
        for unit in (WORD, SYLLABLE, FOLDED):
            doc[field_name(part, unit)] = text
        doc[offsets_field(part)] = pack_offsets(analysis.syllable_spans(analysis.unify_tones(text)))
    return doc


def documents(batch: list[Prepared]) -> list[dict]:
    return [document(p) for p in batch]


# --- the reindex -----------------------------------------------------------------------------


def count_records(paths: Iterable[Path | str]) -> int | None:
    """A cheap estimate of how many articles the sources hold, for the progress bar's ETA (None: unknown)."""
    import gzip

    total = 0
    try:
        for path in paths:
            if is_url(path):
                return None
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

            try:
                width = os.get_terminal_size(sys.stderr.fileno()).columns
            except OSError:
                width = 0
            # A terminal that reports no size (a pty under script, some CI consoles) gets a fixed width.
            self._bar = tqdm(total=total, unit=" articles", file=sys.stderr, ncols=width if width > 0 else 100,
                             dynamic_ncols=width > 0)

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
            ids[n]: hashes[n].decode("ascii")
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
    allow_partial: bool = False,
    progress: bool = False,
    echo: Callable[[str], None] = print,
) -> Summary:
    """Index ``sources`` into a new generation of ``index_dir`` and switch to it.

    Incremental by default: articles whose content hash is unchanged are not
    touched. ``full`` rebuilds from nothing. On any error the new generation
    is discarded and the previous one keeps serving.

    A full rebuild replaces every served article, so a source it could not read
    (a mistyped path, an unreachable feed) or an empty result would silently
    remove articles: it raises ReindexRefused instead, unless ``allow_partial``.
    """
    from whoosh import index as whoosh_index

    start = time.monotonic()
    paths = [s if is_url(s) else Path(s) for s in sources]
    store = IndexStore(index_dir)
    summary = Summary()
    jobs = jobs or os.cpu_count() or 1
    with store.lock(wait=wait):
        store.clean()
        current = store.current()
        # CURRENT missing, or naming a generation that cannot be served (the served one is then a fallback):
        # publish even when nothing changed, which points CURRENT at an intact generation again.
        repair = current is not None and not store.names(current)
        incremental = not full and current is not None
        guard = full and current is not None and not allow_partial
        if guard:
            missing = [f"{p}: no such file or directory" for p in paths if not is_url(p) and not p.exists()]
            if missing:  # refused before minutes of building
                raise ReindexRefused(_refusal(_unread_reason(missing), current, None))
        if incremental and not derive.is_current(current.path):
            # Its segments' postings are in no mapped file of this format, and Whoosh's files no longer hold
            # them for a merge to read: only a full rebuild makes a generation this version can serve.
            raise ReindexRefused(f"refusing an incremental reindex: {current.name} has no mapped data of format "
                                 f"{FORMAT} (written by an earlier searchsvc, or its files removed), and its postings "
                                 f"are nowhere else. Nothing was changed; {REBUILD}")
        gen = store.new_generation(copy_current=incremental)
        try:
            if incremental:
                ix = whoosh_index.open_dir(str(gen.path))
                existing = _existing_hashes(ix)
            else:
                ix = whoosh_index.create_in(str(gen.path), build_schema())
                existing = {}
            changed = _write(ix, paths, existing, incremental, delete_missing, jobs, summary,
                             Progress(count_records(paths) if progress else None, progress, echo), echo)
            with ix.reader() as reader:
                summary.documents = reader.doc_count()
            ix.close()
            if guard and summary.unread:
                raise ReindexRefused(_refusal(_unread_reason(summary.unread), current, summary.documents))
            if guard and summary.documents == 0 and _served_count(current):
                raise ReindexRefused(_refusal("it holds no articles", current, 0))
            if changed or repair:
                derive.derive(gen.path)
            summary.seconds = time.monotonic() - start
            if changed or repair:
                summary.generation = gen.name
                store.publish(gen, {
                    **summary.as_dict(),
                    "generation": gen.number,
                    "built_at": now_iso(),
                    "mode": "incremental" if incremental else "full",
                    "sources": [str(p) for p in paths],
                })
            else:
                store.discard(gen)
                summary.generation = current.name
            store.record_run({**summary.as_dict(), "finished_at": now_iso(),
                              "published": bool(changed or repair),
                              "mode": "incremental" if incremental else "full"})
        except OSError as exc:
            store.discard(gen)
            if exc.filename is None:  # a write through a file object does not say which file: name the generation
                raise OSError(exc.errno, exc.strerror, str(gen.path)) from exc
            raise
        except BaseException:
            store.discard(gen)
            raise
        store.clean()
    return summary


def _served_count(gen: Generation) -> int:
    from whoosh import index as whoosh_index

    ix = whoosh_index.open_dir(str(gen.path))
    try:
        return ix.doc_count()
    finally:
        ix.close()


def _unread_reason(unread: list[str]) -> str:
    shown = "; ".join(unread[:3]) + (f"; and {len(unread) - 3} more" if len(unread) > 3 else "")
    return f"{len(unread)} source{'s' if len(unread) > 1 else ''} could not be read ({shown})"


def _refusal(reason: str, served: Generation, built: int | None) -> str:
    """Says what was refused, what is still served, and the two ways on."""
    publish = "an empty index" if built == 0 else (
        f"the {articles(built)} that could be read" if built is not None else "what can be read")
    return (f"refusing to publish the full rebuild: {reason}. {served.name} ({articles(_served_count(served))}) "
            f"is still served. Fix SOURCES and run again, or pass --allow-partial to publish {publish}.")


def _articles(paths: list[Path], summary: Summary, echo: Callable[[str], None]) -> Iterator[Prepared]:
    """Valid, first-seen articles; every problem is reported and counted."""
    seen: dict[str, str] = {}

    def problem(text: str) -> None:
        summary.problems.append(text)
        echo(f"warning: {text}")

    notices: list[ReadNotice] = []

    def drain() -> None:
        """Merged duplicates, undated articles, summary-only feed entries: reported, not failures."""
        for n in notices:
            summary.merged += n.kind == "merged"
            summary.notes.append(str(n))
            echo(f"note: {n}")
        notices.clear()

    for item in read_sources(paths, notices=notices):
        drain()
        if isinstance(item, ReadProblem):
            if item.unread:
                summary.unread.append(str(item))
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
    drain()


def _batches(items: Iterable[Prepared], size: int) -> Iterator[list[Prepared]]:
    batch: list[Prepared] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(ix, paths, existing, incremental, delete_missing, jobs, summary, progress, echo) -> bool:
    """Write the changes; False when there were none (an incremental run then publishes nothing)."""
    seen: set[str] = set()
    kwargs = {"compound": False, "codec": codec()}
    if jobs > 1:
        analysis.load_model()  # once, before the fork: workers share the loaded model
        writer = ParallelWriter(ix, jobs, documents, kwargs, on_progress=progress.update)
    else:
        writer = _SerialWriter(segment_writer(ix, **kwargs), progress.update)
    try:
        for batch in _batches(_articles(paths, summary, echo), BATCH):
            todo = []
            for p in batch:
                doc_id = p.article.id
                seen.add(doc_id)
                if doc_id not in existing:
                    summary.added += 1
                elif existing[doc_id] == p.digest:
                    summary.unchanged += 1
                    continue
                elif not p.body and _has_body(ix, doc_id):
                    # A feed's summary of a page that an earlier run indexed in full (one id, from the URL).
                    summary.unchanged += 1
                    summary.notes.append(f"{p.article.origin}: summary only; {doc_id!r} keeps the full article")
                    echo(f"note: {summary.notes[-1]}")
                    continue
                else:
                    writer.delete_by_term("id", doc_id)
                    summary.updated += 1
                todo.append(p)
            progress.update(len(batch) - len(todo))
            if todo:
                writer.add(todo)
        if incremental and delete_missing and summary.failed:
            # A file that could not be read in full must not make its articles look removed.
            echo("warning: not deleting missing articles: some sources could not be read in full")
        elif incremental and delete_missing:
            for doc_id in sorted(set(existing) - seen):
                writer.delete_by_term("id", doc_id)
                summary.deleted += 1
        if not (summary.added or summary.updated or summary.deleted) and incremental:
            writer.cancel()
            return False
        writer.commit(merge=incremental)
        return True
    except BaseException:
        writer.cancel()
        raise
    finally:
        progress.close()


def _has_body(ix, doc_id: str) -> bool:
    with ix.searcher() as searcher:
        stored = searcher.document(id=doc_id)
    return bool(stored and stored.get("body"))


class _SerialWriter:
    """The same interface as ParallelWriter, in this process (``--jobs 1``, small inputs)."""

    def __init__(self, writer, on_progress) -> None:
        self.writer = writer
        self.on_progress = on_progress

    def add(self, batch: list[Prepared]) -> None:
        for doc in documents(batch):
            self.writer.add_document(**doc)
        self.on_progress(len(batch))

    def delete_by_term(self, fieldname: str, text: str) -> None:
        self.writer.delete_by_term(fieldname, text)

    def commit(self, merge: bool) -> None:
        self.writer.commit(merge=merge)

    def cancel(self) -> None:
        self.writer.cancel()
