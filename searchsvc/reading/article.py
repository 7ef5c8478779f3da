"""The article type every reader yields, the problems and notices beside it, and how an article is identified.

Below every format reader, so that the readers and the dispatcher (`sources`) import it and not each other.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["Article", "ReadNotice", "ReadProblem", "canonical_url", "content_hash", "read_bytes", "stable_id"]


@dataclass(frozen=True)
class Article:
    """One news article, as read from a source, before any text analysis."""

    id: str
    title: str
    sapo: str = ""
    body: str = ""
    category: str = ""
    source: str = ""
    url: str = ""
    published: datetime | None = None
    views: int | None = None
    origin: str = ""


@dataclass(frozen=True)
class ReadProblem:
    """A line or file that could not be read; reading goes on after it."""

    path: str
    line: int | None
    reason: str
    #: A source, or part of one, could not be read (missing, unreadable, unreachable, truncated): its articles
    #: are absent from this run, so a full rebuild must not publish without them (see indexer.reindex).
    unread: bool = False

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.reason}"
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class ReadNotice:
    """Something the operator should hear about that is not a failed record.

    `kind` is one of: `merged` (a duplicate of an article already read, not
    yielded again), `undated` (the date could not be parsed; the article is
    kept without one), `summary-only` (a feed entry without full content),
    `lenient` (a malformed feed read as far as possible).
    """

    path: str
    line: int | None
    kind: str
    reason: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"


def canonical_url(url: str) -> str:
    """The form two URLs of the same page share: https, lower-case host, no fragment, tracking or trailing slash."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if not parts.netloc:
        return url
    scheme = "https" if parts.scheme.lower() in ("http", "https") else parts.scheme.lower()
    host = parts.netloc.lower().removeprefix("www.")
    path = parts.path.rstrip("/") or "/"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not k.lower().startswith("utm_") and k.lower() not in ("fbclid", "gclid", "zarsrc")])
    return urlunsplit((scheme, host, path, query, ""))


def stable_id(kind: str, url: str, *content: str) -> str:
    """The id of an article whose source names none: from its canonical URL, else from ``content``.

    Never from where a file was found or how its path was typed, so the same page read through a feed, a
    sitemap or a saved HTML file, in one run or across runs, is one article (``url-…``); without a URL,
    ``kind`` says which reader made it (``txt-…``, ``html-…``, ``feed-…``).
    """
    canonical = canonical_url(url)
    if canonical.startswith(("https://", "http://")):
        kind, key = "url", canonical
    else:
        key = "\n".join(" ".join(unicodedata.normalize("NFC", part).split()) for part in content)
    return f"{kind}-" + hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def content_hash(article: Article) -> str:
    """A hash of what a reader sees (title and body, whitespace and Unicode form ignored); '' without a body."""
    if not article.body.strip():
        return ""
    text = "\n".join(" ".join(unicodedata.normalize("NFC", part).split()) for part in (article.title, article.body))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_bytes(path: Path) -> bytes | ReadProblem:
    """A file's bytes, or the problem that says it could not be read (so its articles are missing)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        return ReadProblem(str(path), None, f"cannot read file: {exc.strerror or exc}", unread=True)
