"""Index generations on disk: build aside, switch atomically, never serve a half-built index.

Layout of an index directory::

    index/
      CURRENT          name of the generation being served ("gen-000007")
      gen-000006/      the previous generation, kept for readers still on it
      gen-000007/      a Whoosh index plus meta.json
      .reindex.lock    held (flock) by the one running reindex

Whoosh writes in place and does not fsync, so a crash during a commit can
leave an index no one should serve. A reindex therefore always writes into a
new generation directory (an incremental one starts as hard links of the
current generation: Whoosh never rewrites a file, it only adds and deletes),
fsyncs it, then replaces CURRENT with an atomic rename. Readers only ever
open what CURRENT names. The lock is an flock, so the kernel releases it when
the process dies: a killed reindex leaves no stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index

CURRENT = "CURRENT"
LOCK = ".reindex.lock"
META = "meta.json"
_GEN_RE = re.compile(r"^gen-(\d{6,})$")


class IndexUnavailable(Exception):
    """No generation can be served (never built, removed, unreadable)."""


class IndexBusy(Exception):
    """Another reindex holds the lock."""


@dataclass(frozen=True)
class Generation:
    number: int
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def meta(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexStore:
    """One index directory and its generations."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # --- reading -------------------------------------------------------------
    def current(self) -> Generation | None:
        """The generation CURRENT names, or None when there is none to serve."""
        try:
            name = (self.root / CURRENT).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IndexUnavailable(f"cannot read {self.root / CURRENT}: {exc.strerror}") from exc
        m = _GEN_RE.match(name)
        if not m or not (self.root / name).is_dir():
            raise IndexUnavailable(f"{self.root / CURRENT} names {name!r}, which is not a generation here")
        return Generation(int(m.group(1)), self.root / name)

    def open(self) -> tuple[Generation, whoosh_index.Index]:
        gen = self.current()
        if gen is None:
            raise IndexUnavailable(
                f"no index at {self.root}: build one with 'searchsvc reindex SOURCES --index {self.root}'"
            )
        try:
            return gen, whoosh_index.open_dir(str(gen.path))
        except (OSError, whoosh_index.IndexError) as exc:
            raise IndexUnavailable(f"cannot open index generation {gen.path}: {exc}") from exc

    def generations(self) -> list[Generation]:
        if not self.root.is_dir():
            return []
        gens = []
        for child in self.root.iterdir():
            m = _GEN_RE.match(child.name)
            if m and child.is_dir():
                gens.append(Generation(int(m.group(1)), child))
        return sorted(gens, key=lambda g: g.number)

    # --- writing -------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, wait: bool = False) -> Iterator[None]:
        """Hold the reindex lock; refuse at once (IndexBusy) unless ``wait``."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError as exc:
                raise IndexBusy(
                    f"another reindex is running on {self.root}; "
                    "try again when it ends, or pass --wait to wait for it"
                ) from exc
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def new_generation(self, copy_current: bool) -> Generation:
        """A fresh generation directory; with ``copy_current``, hard links of the served one."""
        self.root.mkdir(parents=True, exist_ok=True)
        numbers = [g.number for g in self.generations()]
        number = max(numbers, default=0) + 1
        path = self.root / f"gen-{number:06d}"
        path.mkdir()
        current = self.current() if copy_current else None
        if current is not None:
            for src in current.path.iterdir():
                if src.is_file() and not src.name.endswith("LOCK") and src.name != META:
                    os.link(src, path / src.name)
        return Generation(number, path)

    def publish(self, gen: Generation, meta: dict[str, Any]) -> None:
        """Make ``gen`` the served generation: durable first, then one atomic rename."""
        (gen.path / META).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        for child in gen.path.iterdir():
            if child.is_file():
                _fsync_path(child)
        _fsync_path(gen.path, directory=True)
        tmp = self.root / (CURRENT + ".tmp")
        with open(tmp, "w", encoding="ascii") as f:
            f.write(gen.name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / CURRENT)
        _fsync_path(self.root, directory=True)

    def discard(self, gen: Generation) -> None:
        shutil.rmtree(gen.path, ignore_errors=True)

    def clean(self, keep_previous: int = 1) -> list[Generation]:
        """Remove half-built generations and all but ``keep_previous`` older ones.

        Call with the lock held. The previous generation stays so that a server
        that has not yet noticed the switch keeps answering from intact files.
        """
        current = self.current()
        removed = []
        if current is None:  # nothing was ever published: every generation is half-built
            older, newer = [], self.generations()
        else:
            older = [g for g in self.generations() if g.number < current.number]
            newer = [g for g in self.generations() if g.number > current.number]
        # Newer than CURRENT means a reindex died before its switch.
        for gen in newer + older[: max(0, len(older) - keep_previous)]:
            self.discard(gen)
            removed.append(gen)
        return removed

    def size_bytes(self, gen: Generation) -> int:
        return sum(f.stat().st_size for f in gen.path.iterdir() if f.is_file())


def describe_os_error(exc: OSError) -> str:
    """Operators read this: name the path and the reason, not a traceback."""
    reason = {
        errno.ENOSPC: "no space left on device",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EDQUOT: "disk quota exceeded",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{reason}{where}"


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
