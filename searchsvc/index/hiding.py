"""Writing the hidden list (``searchsvc hide`` / ``unhide``): whole files, under a lock of their own.

A takedown must hold at once and for good, and a kill at any moment must never leave half a list: each change
reads the list, writes the whole new one to a temporary file beside it, fsyncs it, renames it over the list
(``os.replace``, atomic) and fsyncs the directory. Concurrent commands queue on an flock of ``.hidden.lock``, not
the reindex lock, so an article can be hidden while a long reindex runs (the list is ids: it applies to the
generation that reindex publishes too). The kernel releases the flock of a killed command.

The search layer never imports this module; it reads the list through ``index/hidden.py``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from searchsvc.index import hidden
from searchsvc.index.generations import IndexStore, IndexUnavailable
from searchsvc.index.hidden import HiddenArticle

LOCK = ".hidden.lock"
_TMP = hidden.HIDDEN + ".tmp"


@dataclass
class Change:
    """What one command did: the ids it changed, and those it left as they were (already hidden, not hidden)."""

    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@contextlib.contextmanager
def locked(root: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the hidden list's own lock (waits: a change takes milliseconds)."""
    fd = os.open(Path(root) / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def write(root: str | os.PathLike[str], articles: list[HiddenArticle]) -> None:
    """Replace the list with ``articles``, durably, in one rename. Call with the lock held."""
    root = Path(root)
    tmp = root / _TMP
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)  # readable by the service user
    try:
        data = hidden.render(articles)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, hidden.path(root))
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def hide(root: str | os.PathLike[str], ids: Iterable[str], reason: str | None = None,
         titles: dict[str, str] | None = None, now: str | None = None) -> Change:
    """Add ``ids`` to the list (``titles``: those known now). An id already hidden keeps its date; a new
    ``reason`` replaces its old one. Raises HiddenListError when the present list cannot be read (it is
    not overwritten: it may hold takedowns)."""
    titles = titles or {}
    when = now or time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out = Change()
    with locked(root):
        entries = hidden.read(root)
        for doc_id in dict.fromkeys(ids):
            old = entries.get(doc_id)
            if old is None:
                entries[doc_id] = HiddenArticle(doc_id, titles.get(doc_id), when, reason)
                out.changed.append(doc_id)
            else:
                entries[doc_id] = replace(old, reason=reason if reason is not None else old.reason,
                                          title=old.title or titles.get(doc_id))
                out.unchanged.append(doc_id)
        write(root, list(entries.values()))
    return out


def unhide(root: str | os.PathLike[str], ids: Iterable[str]) -> Change:
    """Take ``ids`` off the list; ids not on it are reported as unchanged."""
    out = Change()
    with locked(root):
        entries = hidden.read(root)
        for doc_id in dict.fromkeys(ids):
            (out.changed if entries.pop(doc_id, None) is not None else out.unchanged).append(doc_id)
        if out.changed:
            write(root, list(entries.values()))
    return out


def served_titles(root: str | os.PathLike[str], ids: Iterable[str]) -> tuple[str | None, dict[str, str]]:
    """The served generation's name and the titles of those of ``ids`` it holds (None, {} without an index)."""
    try:
        gen, ix = IndexStore(root).open()
    except IndexUnavailable:
        return None, {}
    try:
        with ix.searcher() as searcher:
            found = {}
            for doc_id in ids:
                stored = searcher.document(id=doc_id)
                if stored is not None:
                    found[doc_id] = stored.get("title") or ""
            return gen.name, found
    finally:
        ix.close()
