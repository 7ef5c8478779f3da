"""Whoosh writing in worker processes, one new segment each.

pyvi and Whoosh's posting encoding are both pure Python, so one process can
use one core. Each worker owns a SegmentWriter for a share of the articles
(like Whoosh's own MpWriter with ``multisegment=True``), while this process
reads sources, deletes replaced articles and writes the table of contents.
Unlike MpWriter, a worker that fails reports its traceback and the whole
write is cancelled, instead of its segment silently going missing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import traceback
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from typing import Any

from searchsvc.index.pool import segment_writer

_POLL = 0.5
_PR_SET_PDEATHSIG = 1


class WorkerFailed(RuntimeError):
    """A writer process died or raised; nothing it wrote is kept."""


def _die_with_parent(parent: int) -> None:
    """A writer must not outlive a reindex killed with -9: it holds the inherited index lock (flock) and
    would keep every later reindex out. Linux kills it with its parent (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _work(storage, indexname: str, kwargs: dict, make_docs: Callable, inbox, results, parent: int) -> None:
    _die_with_parent(parent)
    try:
        ix = storage.open_index(indexname)
        writer = segment_writer(ix, _lk=False, **kwargs)
        while (batch := inbox.get()) is not None:
            for doc in make_docs(batch):
                writer.add_document(**doc)
            results.put(("progress", len(batch)))
        if writer._added:
            results.put(("segment", writer._finalize_segment()))
        else:
            # Not cancel(): that would remove the temporary folder the other writers share.
            writer._close_segment()
            results.put(("segment", None))
    except OSError as exc:
        # Disk full, permission denied, ...: the parent raises it as the same OSError, for a clear message.
        results.put(("oserror", (exc.errno, exc.strerror, exc.filename)))
    except BaseException:
        results.put(("error", traceback.format_exc()))


class ParallelWriter:
    """Add batches through ``jobs`` worker processes; delete and commit here.

    ``make_docs`` runs in the workers and turns a batch into Whoosh documents,
    so the expensive analysis happens there too.
    """

    def __init__(
        self,
        ix,
        jobs: int,
        make_docs: Callable[[Sequence[Any]], list[dict]],
        writer_kwargs: dict,
        on_progress: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.parent = segment_writer(ix, **writer_kwargs)
        self.on_progress = on_progress
        ctx = get_context("fork")
        self.results = ctx.Queue()
        self.workers = []
        for _ in range(jobs):
            inbox = ctx.Queue(maxsize=2)
            proc = ctx.Process(
                target=_work,
                args=(ix.storage, ix.indexname, writer_kwargs, make_docs, inbox, self.results, os.getpid()),
                daemon=True,
            )
            proc.start()
            self.workers.append((proc, inbox))
        self._turn = 0
        self.segments: list = []
        self._finished = 0

    def _drain(self, block: bool) -> None:
        while True:
            try:
                kind, value = self.results.get(timeout=_POLL) if block else self.results.get_nowait()
            except queue.Empty:
                if block:
                    self._check_alive()
                    continue
                return
            if kind == "progress":
                self.on_progress(value)
            elif kind == "segment":
                self._finished += 1
                if value is not None:
                    self.segments.append(value)
                if block:
                    return
            elif kind == "oserror":
                raise OSError(*value)
            else:
                raise WorkerFailed(f"an index writer process failed:\n{value}")

    def _check_alive(self) -> None:
        for proc, _ in self.workers:
            if not proc.is_alive() and proc.exitcode not in (0, None):
                raise WorkerFailed(f"an index writer process died (exit code {proc.exitcode})")

    def add(self, batch: Sequence[Any]) -> None:
        proc, inbox = self.workers[self._turn]
        self._turn = (self._turn + 1) % len(self.workers)
        while True:
            try:
                inbox.put(batch, timeout=_POLL)
                break
            except queue.Full:
                self._drain(block=False)
                self._check_alive()
        self._drain(block=False)

    def delete_by_term(self, fieldname: str, text: str) -> None:
        self.parent.delete_by_term(fieldname, text)

    def commit(self, merge: bool = True) -> None:
        """Wait for every worker's segment, then publish all of them in one table of contents."""
        for _, inbox in self.workers:
            inbox.put(None)
        while self._finished < len(self.workers):
            self._drain(block=True)
        for proc, _ in self.workers:
            proc.join()
        parent = self.parent
        final = parent._merge_segments(None, False, merge)
        if parent._added:
            # The merge policy wrote the small segments' documents into this writer's own segment: it replaces
            # them in the table of contents (as in Whoosh's SegmentWriter.commit). Left out, a merging
            # incremental run published a generation without every article of the merged segments.
            final.append(parent._finalize_segment())
        else:
            parent._close_segment()
        parent._commit_toc(final + self.segments)
        parent._finish()

    def cancel(self) -> None:
        for proc, inbox in self.workers:
            if proc.is_alive():
                proc.kill()
            proc.join()
            # Batches still queued for a dead worker must not keep this process from exiting.
            inbox.cancel_join_thread()
            inbox.close()
        self.results.cancel_join_thread()
        self.results.close()
        self.parent.cancel()
