"""Recording searches off the request's path: a queue in the process, a daemon writer thread that writes batches.

A request only puts a tuple on a bounded queue (microseconds, no I/O, never blocks, never raises). The writer
thread writes what has gathered every :data:`INTERVAL_S` seconds or :data:`BATCH` records, whichever comes first,
and what is left when the process exits (``atexit``; gunicorn's workers exit through ``sys.exit``). Whatever cannot
be written (the database locked past the busy timeout, the disk full, no write access, the queue full because the
writer is behind) is dropped and counted, in the process and in the database's ``lost`` table once it can be
written again, and logged once per cause: a search never fails or waits because of its record.

Each process has its own thread, started by its first record: gunicorn's master with ``--preload`` creates the
app, and so the recorder, before forking the workers, and a thread does not survive a fork. A forked child starts
from an empty queue and a fresh lock (``os.register_at_fork``).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from searchsvc.analytics import store

BATCH = 200  # records per transaction at most
INTERVAL_S = 1.0  # a record waits at most this long before it is written
MAX_QUEUED = 20_000  # records waiting in a process; beyond, they are dropped (the writer is far behind)
BUSY_TIMEOUT_MS = 2000  # how long a batch waits for another writer (or a reader's lock) before it is dropped
PRUNE_EVERY_S = 3600.0  # old records are removed at the first write, then once an hour

log = logging.getLogger("searchsvc.analytics")

__all__ = ["Recorder"]


class _Flush:
    """Put on the queue behind the records to write: set once they are written (or dropped)."""

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class Recorder:
    """Searches of one server process, written to ``path`` by a thread of its own.

    :meth:`record` is all a route needs; :meth:`flush` waits for what was recorded (tests, benchmarks);
    :meth:`close` writes the rest and stops the thread (at exit).
    """

    def __init__(self, path: str | os.PathLike[str], days: int = 90, *, batch: int = BATCH,
                 interval: float = INTERVAL_S, max_queued: int = MAX_QUEUED,
                 busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self.days = int(days)
        self.batch = max(1, int(batch))
        self.interval = float(interval)
        self.max_queued = int(max_queued)
        self.busy_timeout_ms = int(busy_timeout_ms)
        self._reset()
        _recorders.add(self)

    def _reset(self) -> None:
        """A fresh start in this process: also in a forked child, where the parent's thread and locks are not."""
        self._pid = os.getpid()
        self._queue: queue.Queue = queue.Queue(self.max_queued)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._counts = {"queued": 0, "written": 0, "dropped": 0}
        self._lost: dict[str, int] = {}  # by day, not yet written to the database's ``lost`` table
        self._warned: set[str] = set()
        self._failing = False
        self._conn: sqlite3.Connection | None = None
        self._next_prune = 0.0

    # --- the request's side ---------------------------------------------------------------------------------------

    def record(self, **fields: Any) -> bool:
        """Queue one search (the fields of :class:`~searchsvc.analytics.store.Search`); False when it was dropped.

        Never raises and never blocks: recording must not slow or break a search.
        """
        try:
            row = store.Search(**fields).row()
            if self._thread is None:
                self._start()
            if self._closed:
                self._drop(1, "the process is exiting")
                return False
            self._queue.put_nowait(row)
        except queue.Full:
            self._drop(1, f"the writer is behind ({self.max_queued} searches waiting)")
            return False
        except Exception as exc:  # a bad field, no thread left at shutdown: count it, never fail the search
            self._drop(1, f"{type(exc).__name__}: {exc}")
            return False
        with self._lock:
            self._counts["queued"] += 1
        return True

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                thread = threading.Thread(target=self._run, args=(self._queue,), name="searchsvc-analytics",
                                          daemon=True)
                thread.start()
                self._thread = thread

    # --- control -----------------------------------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every search recorded so far in this process is written or dropped; False on timeout."""
        if self._thread is None or not self._thread.is_alive():
            return True
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop the thread; later records are dropped (counted)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None or not thread.is_alive() or self._pid != os.getpid():
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        thread.join(timeout)

    def stats(self) -> dict[str, Any]:
        """This process's counts: searches queued, written, dropped (locked, full, behind), and the database."""
        with self._lock:
            return {**self._counts, "path": os.fspath(self.path)}

    # --- the writer thread --------------------------------------------------------------------------------------------

    def _run(self, q: queue.Queue) -> None:
        pending: list[tuple] = []
        due: float | None = None
        while True:
            timeout = None if due is None else max(0.0, due - time.monotonic())
            try:
                item = q.get(timeout=timeout)
            except queue.Empty:
                item = None
            if isinstance(item, tuple):
                pending.append(item)
                if due is None:
                    due = time.monotonic() + self.interval
                if len(pending) < self.batch:
                    continue
            if pending or (item is not None and self._lost):  # a flush or the end also writes the counts of the lost
                self._write(pending)
                pending, due = [], None
            if isinstance(item, _Flush):
                item.done.set()
            elif item is _STOP:
                self._disconnect()
                return

    def _write(self, rows: list[tuple]) -> None:
        with self._lock:
            lost, self._lost = self._lost, {}
        try:
            if self._conn is None:
                self._conn = store.open_for_writing(self.path, self.busy_timeout_ms)
            store.write(self._conn, rows, lost)
        except (sqlite3.Error, OSError) as exc:
            self._disconnect()  # opened again for the next batch: the file may have been moved, the disk freed
            with self._lock:
                for day, count in lost.items():
                    self._lost[day] = self._lost.get(day, 0) + count
            self._drop(len(rows), _describe(exc))
            return
        with self._lock:
            self._counts["written"] += len(rows)
        if self._failing:
            self._failing = False
            log.info("searches are recorded again in %s", self.path)
        self._prune()

    def _prune(self) -> None:
        if time.monotonic() < self._next_prune or self._conn is None:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        try:
            store.prune(self._conn, self.days)
        except sqlite3.Error as exc:  # tried again in an hour; the searches themselves were written
            self._warn_once("prune", "old searches could not be removed from %s: %s", self.path, _describe(exc))

    def _disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def _drop(self, count: int, reason: str) -> None:
        with self._lock:
            self._counts["dropped"] += count
            day = store.local_day(time.time())
            self._lost[day] = self._lost.get(day, 0) + count
        self._failing = True
        self._warn_once(reason.split(" (")[0], "searches not recorded in %s: %s; they are counted, and this is "
                        "logged once per cause", self.path, reason)

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)


def _describe(exc: BaseException) -> str:
    """``database is locked``, ``database or disk is full``, ``Permission denied: '…'``: the cause, short."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


_recorders: weakref.WeakSet[Recorder] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for recorder in list(_recorders):
        recorder._reset()


def _at_exit() -> None:
    for recorder in list(_recorders):
        recorder.close(timeout=5.0)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
