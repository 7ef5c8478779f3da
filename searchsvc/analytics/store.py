"""The searches database: one SQLite file in WAL mode, written by every process of a server, read by the command.

WAL lets readers (``searchsvc analytics``) read while a worker writes, and several workers' writers take turns
(``busy_timeout``) with transactions of one batch each, a few milliseconds. Times are Unix seconds; days are
Vietnam's (UTC+7, no daylight saving), the readers' and the editors' day.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

VIETNAM = timezone(timedelta(hours=7), "ICT")
SCHEMA_VERSION = 1
PRUNE_CHUNK = 5000  # rows deleted per transaction, so that a large removal does not hold the writers up

COLUMNS = ("at", "via", "query", "normalized", "rewritten", "rewritten_to", "rewrite_kinds", "category", "source",
           "date_from", "date_to", "sort", "verbatim", "page", "per_page", "results", "took_ms")

SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,            -- when, Unix seconds
    via TEXT NOT NULL,              -- 'page' (/) or 'api' (/api/search)
    query TEXT NOT NULL,            -- as typed
    normalized TEXT NOT NULL,       -- the engine's text of it (NFC, spaces), in lower case: what reports group by
    rewritten INTEGER NOT NULL,     -- 1 when the engine read it otherwise (rewrite_kinds) or suggested another
    rewritten_to TEXT,              -- what it was read as, or the suggestion
    rewrite_kinds TEXT,             -- comma-separated: telex, vni, typo, synonym, suggestion, ...
    category TEXT,
    source TEXT,
    date_from TEXT,                 -- YYYY-MM-DD
    date_to TEXT,
    sort TEXT NOT NULL,
    verbatim INTEGER NOT NULL,
    page INTEGER NOT NULL,
    per_page INTEGER NOT NULL,
    results INTEGER NOT NULL,       -- the total found
    took_ms REAL NOT NULL           -- the engine's time
);
CREATE INDEX IF NOT EXISTS searches_at ON searches (at);
CREATE INDEX IF NOT EXISTS searches_normalized ON searches (normalized);
-- Searches that could not be recorded (database locked or full, writer behind), by day: the report says so.
CREATE TABLE IF NOT EXISTS lost (day TEXT PRIMARY KEY, searches INTEGER NOT NULL);
"""

_INSERT = f"INSERT INTO searches ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


@dataclass(frozen=True, slots=True)
class Search:
    """One search as recorded. Nothing in it identifies the reader."""

    via: str
    query: str
    normalized: str
    results: int
    took_ms: float
    page: int = 1
    per_page: int = 10
    sort: str = "relevance"
    category: str | None = None
    source: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    verbatim: bool = False
    rewritten_to: str | None = None
    rewrite_kinds: tuple[str, ...] = ()
    at: float = 0.0  # 0: now

    def row(self) -> tuple:
        """The values of :data:`COLUMNS`, checked here (the caller's thread) so that the writer never chokes."""
        kinds = [self.rewrite_kinds] if isinstance(self.rewrite_kinds, str) else list(self.rewrite_kinds)
        return (int(self.at or time.time()), str(self.via), str(self.query), str(self.normalized).lower(),
                int(bool(kinds or self.rewritten_to)), _text(self.rewritten_to), ",".join(map(str, kinds)) or None,
                _text(self.category), _text(self.source), _text(self.date_from), _text(self.date_to), str(self.sort),
                int(bool(self.verbatim)), int(self.page), int(self.per_page), int(self.results), float(self.took_ms))


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def local_day(at: float) -> str:
    """The Vietnamese calendar day of a Unix time, YYYY-MM-DD."""
    return datetime.fromtimestamp(at, VIETNAM).date().isoformat()


def utc_iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def open_for_writing(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection that may write, creating the database (and its directory) the first time.

    Autocommit mode: :func:`write` opens its own short ``BEGIN IMMEDIATE`` transaction. Another process creating
    the database at the same moment is waited for, as any writer is (``busy_timeout``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False)
    try:
        _prepare(conn, busy_timeout_ms)
    except BaseException:
        conn.close()
        raise
    return conn


def open_existing(path: Path, busy_timeout_ms: int = 2000) -> tuple[sqlite3.Connection, bool] | None:
    """For the report: the database read-write when allowed (to remove old records), else read-only; None when
    there is none. Never creates one (a command run as another user would leave a file the service cannot
    write)."""
    if not path.is_file():
        return None
    uri = "file:" + quote(os.fspath(path.resolve()))
    try:
        conn = sqlite3.connect(uri + "?mode=rw", uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn, True
    except sqlite3.Error:
        pass
    conn = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None)
    return conn, False


def _prepare(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:  # switching a new file to WAL takes an exclusive lock, which the busy handler does not always wait for
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: no fsync per transaction; a power cut may lose the last
    if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(SCHEMA):  # not executescript, which commits on its own
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise


def _statements(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def write(conn: sqlite3.Connection, rows: list[tuple], lost: dict[str, int] | None = None) -> None:
    """One batch in one short transaction, with the counts of searches that could not be recorded before."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(_INSERT, rows)
        for day, count in (lost or {}).items():
            conn.execute("INSERT INTO lost (day, searches) VALUES (?, ?) "
                         "ON CONFLICT (day) DO UPDATE SET searches = searches + excluded.searches", (day, count))
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def prune(conn: sqlite3.Connection, days: int, now: float | None = None) -> int:
    """Remove records older than ``days`` days, a chunk per transaction; how many were removed."""
    cutoff = int((now or time.time()) - days * 86400)
    removed = 0
    while True:
        cur = conn.execute("DELETE FROM searches WHERE id IN (SELECT id FROM searches WHERE at < ? LIMIT ?)",
                           (cutoff, PRUNE_CHUNK))
        removed += cur.rowcount
        if cur.rowcount < PRUNE_CHUNK:
            break
    conn.execute("DELETE FROM lost WHERE day < ?", (local_day(cutoff),))
    return removed
