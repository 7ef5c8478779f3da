"""Index generations on disk: build aside, switch atomically, never serve a half-built index.

Layout of an index directory::

    index/
      CURRENT          name of the generation being served ("gen-000007")
      gen-000006/      the previous generation, kept for readers still on it
      gen-000007/      a Whoosh index plus meta.json
      .reindex.lock    held (flock) by the one running reindex
      last-run.json    what the last finished reindex did, also when it changed nothing
      hidden.json      articles taken down (searchsvc hide), by id, for every generation (index/hidden.py)
      .hidden.lock     held (flock) while hide/unhide replace hidden.json; not the reindex lock

Whoosh writes in place and does not fsync, so a crash during a commit can
leave an index no one should serve. A reindex therefore always writes into a
new generation directory (an incremental one starts as hard links of the
current generation: Whoosh never rewrites a file, it only adds and deletes),
fsyncs it, then replaces CURRENT with an atomic rename. Readers only ever
open what CURRENT names. The lock is an flock, so the kernel releases it when
the process dies: a killed reindex leaves no stale lock behind. Nothing here
touches hidden.json: it lives beside the generations, so it survives every
reindex and the removal of old generations (:meth:`IndexStore.clean`).

When what CURRENT names cannot be served (CURRENT missing or unreadable, its
generation removed or damaged), readers fall back to the newest *intact*
generation: one with a meta.json (written only by publish, after Whoosh's
commit, so a half-built generation never has one) that Whoosh opens with all
its segments. :meth:`IndexStore.problems` says what is wrong, for /healthz.
A reindex that fails records why in the lock file (its first line is the
holder's pid); the next successful one clears it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index

CURRENT = "CURRENT"
LOCK = ".reindex.lock"
META = "meta.json"
LAST_RUN = "last-run.json"
FILES = "files"
_GEN_RE = re.compile(r"^gen-(\d{6,})$")
_FAILED = "failed "
# Below this much free space, /healthz warns whatever the index's size: the next reindex may not fit.
MIN_FREE_BYTES = 64 * 1024 * 1024


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
    def named(self) -> Generation | None:
        """The generation CURRENT names, as written there; None when there is no CURRENT.

        Raises IndexUnavailable when CURRENT cannot be read or names no generation directory here.
        """
        try:
            name = (self.root / CURRENT).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            reason = describe_os_error(exc) if isinstance(exc, OSError) else "not a generation name"
            raise IndexUnavailable(f"cannot read {self.root / CURRENT}: {reason}") from exc
        m = _GEN_RE.match(name)
        if not m or not (self.root / name).is_dir():
            raise IndexUnavailable(f"{self.root / CURRENT} names {name!r}, which is not a generation here")
        return Generation(int(m.group(1)), self.root / name)

    def names(self, gen: Generation) -> bool:
        """Whether CURRENT names ``gen`` (False when CURRENT is missing, unreadable or names another)."""
        try:
            return self.named() == gen
        except IndexUnavailable:
            return False

    def open(self, skip: Mapping[str, str] | None = None) -> tuple[Generation, whoosh_index.Index]:
        """The generation to serve, opened: the one CURRENT names, else the newest intact one.

        ``skip`` names generations a reader found damaged (a checksum of index/mapped.py's data), with why:
        never chosen.
        Raises IndexUnavailable (saying why CURRENT's generation cannot be served) when none can be.
        """
        try:
            named = self.named()
        except IndexUnavailable as exc:
            named, problem = None, str(exc)
        else:
            problem = None
        skip = skip or {}
        if named is not None and named.name in skip:
            named, problem = None, f"{named.name} cannot be read ({skip[named.name]})"
        if named is not None:
            try:
                return named, self._open_generation(named)
            except IndexUnavailable as exc:
                problem = str(exc)
        for gen in reversed(self.generations()):
            if gen != named and gen.name not in skip and (gen.path / META).is_file():
                try:
                    return gen, self._open_generation(gen)
                except IndexUnavailable:
                    continue
        if problem is None:
            problem = f"no index at {self.root}: build one with 'searchsvc reindex SOURCES --index {self.root}'"
        raise IndexUnavailable(problem)

    def current(self) -> Generation | None:
        """The generation served (as :meth:`open` chooses it), or None when there is none to serve."""
        try:
            gen, ix = self.open()
        except IndexUnavailable:
            return None
        ix.close()
        return gen

    def check(self, gen: Generation) -> str | None:
        """Why ``gen`` cannot be served, or None when it is intact (see :meth:`damage`) and Whoosh opens it."""
        try:
            self._open_generation(gen).close()
        except IndexUnavailable as exc:
            return str(exc)
        return None

    def damage(self, gen: Generation) -> str | None:
        """A file of ``gen`` missing or changed since it was published, by its meta.json; cheap (stat calls)."""
        files = gen.meta().get(FILES)
        if not isinstance(files, dict):
            return None  # published before files were listed, or not published at all
        for name, size in sorted(files.items()):
            try:
                actual = (gen.path / name).stat().st_size
            except FileNotFoundError:
                return f"{name} is missing"
            except OSError as exc:
                return describe_os_error(exc)
            if actual != size:
                return f"{name} has {actual} bytes, not the {size} it was published with"
        return None

    def _open_generation(self, gen: Generation) -> whoosh_index.Index:
        damage = self.damage(gen)
        if damage is not None:
            raise IndexUnavailable(f"cannot open index generation {gen.path}: {damage}")
        try:
            ix = whoosh_index.open_dir(str(gen.path))
            ix.reader().close()  # opens each segment's files: a missing or truncated one fails here
        except OSError as exc:
            raise IndexUnavailable(f"cannot open index generation {gen.path}: {describe_os_error(exc)}") from exc
        except Exception as exc:  # a damaged table of contents or segment raises anything at all
            raise IndexUnavailable(f"cannot open index generation {gen.path}: {exc or type(exc).__name__}") from exc
        return ix

    def problems(self, serving: Generation | None = None) -> list[str]:
        """What an operator should fix, cheaply checked, in plain words (empty when all is well).

        ``serving`` is the generation this process serves. Checked: CURRENT and the generation it
        names; a failure recorded by the last reindex; free space on the index's file system; whether
        the next reindex could write there. The service usually has only read access to the index
        (the reindex user owns it), so writability is judged by the directory owner's permissions and
        the file system's own read-only state, not by this process's access.
        """
        out = []
        try:
            named = self.named()
        except IndexUnavailable as exc:
            named, out = None, [str(exc)]
        else:
            if named is None and (serving is not None or self.generations()):
                out.append(f"{self.root / CURRENT} is missing")
        if named is not None and named != serving:
            reason = self.check(named)
            out.append(f"{self.root / CURRENT} names {named.name}, which cannot be served"
                       + (f" ({reason})" if reason else " (when it was last read)"))
        if out and serving is not None:
            out[-1] += f"; serving {serving.name}, the newest intact generation"
        damage = self.damage(serving) if serving is not None else None
        if damage is not None:
            out.append(f"the served generation {serving.path} is damaged ({damage}): "
                       "restore it from a backup or run a full reindex")
        failure = self.last_failure()
        if failure:
            out.append(f"the last reindex failed: {failure}")
        if self.root.is_dir():
            out.extend(self._writing_problems(serving))
        return out

    def last_failure(self) -> str | None:
        """Why the last reindex failed (with when), as it recorded it in the lock file; None if it did not."""
        try:
            text = (self.root / LOCK).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(_FAILED):
                return line[len(_FAILED):]
        return None

    def _writing_problems(self, serving: Generation | None) -> list[str]:
        out = []
        try:
            fs = os.statvfs(self.root)
            st = self.root.stat()
        except OSError as exc:
            return [f"cannot check {self.root}: {describe_os_error(exc)}"]
        if _read_only_file_system(self.root):
            return [f"the file system holding {self.root} is read-only: the next reindex will fail"]
        if (st.st_mode & (stat.S_IWUSR | stat.S_IXUSR)) != (stat.S_IWUSR | stat.S_IXUSR):
            # The reindex user owns the index (see docs/operations.md); a mode without u+w is a read-only index.
            out.append(f"{self.root} is not writable by its owner (uid {st.st_uid}, mode "
                       f"{stat.S_IMODE(st.st_mode):04o}): the next reindex will fail")
        free = fs.f_bavail * fs.f_frsize
        need = max(MIN_FREE_BYTES, self.size_bytes(serving) if serving is not None else 0)
        if free < need:
            out.append(f"only {_megabytes(free)} free on the file system holding {self.root} "
                       f"(a reindex may need {_megabytes(need)}): the next reindex may fail")
        return out

    def last_run(self) -> dict[str, Any]:
        """What the last finished reindex recorded (:meth:`record_run`); {} before the first."""
        try:
            return json.loads((self.root / LAST_RUN).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def record_run(self, run: dict[str, Any]) -> None:
        """Keep what a reindex did, including one that published nothing because nothing changed."""
        tmp = self.root / (LAST_RUN + ".tmp")
        tmp.write_text(json.dumps(run, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, self.root / LAST_RUN)

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
        """Hold the reindex lock; refuse at once (IndexBusy) unless ``wait``.

        An exception out of the ``with`` block is recorded in the lock file (see :meth:`last_failure`);
        leaving it normally clears the record.
        """
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
            failure = self.last_failure()
            _rewrite(fd, f"{os.getpid()}\n" + (f"{_FAILED}{failure}\n" if failure else ""))
            try:
                yield
            except Exception as exc:
                # Best effort: the file's first block is already allocated, so this works on a full disk.
                with contextlib.suppress(OSError):
                    _rewrite(fd, f"{os.getpid()}\n{_FAILED}{now_iso()}: {_describe(exc)}\n")
                raise
            with contextlib.suppress(OSError):
                _rewrite(fd, f"{os.getpid()}\n")
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
        """Make ``gen`` the served generation: durable first, then one atomic rename.

        meta.json gets ``files``, each file's size, by which :meth:`damage` later tells a damaged generation.
        """
        files = {f.name: f.stat().st_size for f in sorted(gen.path.iterdir()) if f.is_file() and f.name != META}
        (gen.path / META).write_text(json.dumps({**meta, FILES: files}, ensure_ascii=False, indent=2),
                                     encoding="utf-8")
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
        """Remove half-built generations and all but ``keep_previous`` older intact ones.

        Call with the lock held. The previous generation stays so that a server
        that has not yet noticed the switch keeps answering from intact files.
        Nothing published (with a meta.json) and newer than the served generation
        is removed: it may be one CURRENT names that was damaged, for an operator
        to look at; the next publish makes it older, and then it goes.
        """
        current = self.current()
        gens = self.generations()
        newer = [g for g in gens if current is None or g.number > current.number]
        older = [g for g in gens if current is not None and g.number < current.number]
        # Newer than the served one and never published: a reindex died before its switch.
        doomed = [g for g in newer if not (g.path / META).is_file()]
        kept = 0
        for gen in reversed(older):
            if kept < keep_previous and self.check(gen) is None:
                kept += 1
            else:
                doomed.append(gen)
        removed = []
        for gen in sorted(doomed, key=lambda g: g.number):
            self.discard(gen)
            removed.append(gen)
        return removed

    def size_bytes(self, gen: Generation) -> int:
        try:
            return sum(f.stat().st_size for f in gen.path.iterdir() if f.is_file())
        except FileNotFoundError:  # removed meanwhile (by a reindex's clean-up)
            return 0


def describe_os_error(exc: OSError) -> str:
    """Operators read this: name the path and the reason, not a traceback."""
    reason = {
        errno.ENOSPC: "no space left on device",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EDQUOT: "disk quota exceeded",
        errno.EFBIG: "file too large",
        errno.EPERM: "operation not permitted",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{reason}{where}"


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    first = str(exc).strip().splitlines()
    return first[0] if first else type(exc).__name__


def _rewrite(fd: int, text: str) -> None:
    """Replace a small file's content in place: write first, then shorten (never frees its block first)."""
    data = text.encode("utf-8")
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _read_only_file_system(path: Path) -> bool:
    """Whether the file system itself (its superblock) is read-only, as after ``errors=remount-ro``.

    Read from /proc/self/mountinfo, which tells the file system's state apart from a read-only view of
    it (a read-only bind mount, systemd's ReadOnlyPaths= for the service): only the first stops a
    reindex run by another user. False where mountinfo is not available.
    """
    try:
        lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return False
    target = os.path.realpath(path)
    best: tuple[int, bool] | None = None
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if target == point or target.startswith(point.rstrip("/") + "/"):
            if best is None or len(point) >= best[0]:  # the deepest mount point; of stacked ones, the last
                best = (len(point), "ro" in tail[2].split(","))
    return best is not None and best[1]
