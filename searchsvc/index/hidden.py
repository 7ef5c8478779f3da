"""The hidden list: articles an operator took down (``searchsvc hide``), read side.

The list is one small JSON file in the index directory, beside the generations and not inside one, so that it
survives every reindex (full or incremental) and the removal of old generations, and applies to whatever
generation is served::

    index/hidden.json   {"format": 1, "articles": [{"id", "title", "hidden_at", "reason"}, …]}

It is replaced whole, never edited in place (``index/hiding.py``: a temporary file, fsync, ``os.replace``, fsync of
the directory), so a reader sees either the old list or the new one, and a writer killed at any moment leaves one
of the two. The search layer stats the file on every request and reads it again when it changed: the list is ids,
which each generation maps to its own document numbers.

This module only reads; writing (and its lock) is ``index/hiding.py``, which the search layer may not import.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HIDDEN = "hidden.json"
FORMAT = 1


class HiddenListError(Exception):
    """The hidden list exists but cannot be read or is not a list this version understands."""


@dataclass(frozen=True)
class HiddenArticle:
    """One entry: the article's id, its title when it was hidden (None if it was not indexed), when, and why."""

    id: str
    title: str | None
    hidden_at: str
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "hidden_at": self.hidden_at, "reason": self.reason}


def path(root: str | os.PathLike[str]) -> Path:
    return Path(root) / HIDDEN


def stamp(root: str | os.PathLike[str]) -> tuple[int, int, int] | None:
    """What tells a changed list apart, by one ``stat``: a replaced file is a new inode. None without a list."""
    try:
        st = os.stat(os.path.join(root, HIDDEN))  # not pathlib: this runs on every request
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def parse(data: bytes) -> dict[str, HiddenArticle]:
    """The entries of a list file's bytes, by id, in the order they were hidden."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HiddenListError(f"not JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("articles"), list):
        raise HiddenListError(f'not a hidden list of format {FORMAT} ({{"format": {FORMAT}, "articles": [...]}})')
    out: dict[str, HiddenArticle] = {}
    for item in doc["articles"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise HiddenListError(f"an entry without an id: {item!r}"[:200])
        title, reason = item.get("title"), item.get("reason")
        out[item["id"]] = HiddenArticle(
            id=item["id"],
            title=title if isinstance(title, str) else None,
            hidden_at=str(item.get("hidden_at") or ""),
            reason=reason if isinstance(reason, str) else None,
        )
    return out


def read(root: str | os.PathLike[str]) -> dict[str, HiddenArticle]:
    """The hidden articles by id; empty when nothing was ever hidden.

    Raises HiddenListError when the file exists but cannot be read or parsed (it is only ever replaced whole,
    so that means a change by hand or a disk error).
    """
    try:
        data = path(root).read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise HiddenListError(f"cannot read it ({exc.strerror or exc})") from exc
    return parse(data)


def render(articles: list[HiddenArticle]) -> bytes:
    """The file's bytes for these entries (what :func:`parse` reads back)."""
    doc = {"format": FORMAT, "articles": [a.as_json() for a in articles]}
    return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
