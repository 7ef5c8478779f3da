"""Which reader reads what: files routed by name and, where that is missing or misleading, by content; directories
walked in name order; URLs fetched as feeds; the same article from two places read once.

Readers never raise on bad input: they yield `ReadProblem` values next to the
`Article` values, so one broken line or file cannot stop a whole indexing run
and the caller decides how to report problems.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from searchsvc.reading.article import Article, ReadNotice, ReadProblem, canonical_url, content_hash
from searchsvc.reading.feeds import read_feed_file, read_feed_url
from searchsvc.reading.fetch import is_url
from searchsvc.reading.html import read_html_file
from searchsvc.reading.jsonl import read_jsonl
from searchsvc.reading.portal import DATE_LINE_RE, read_portal_text
from searchsvc.reading.sitemaps import read_sitemap_file

__all__ = ["SUPPORTED_SUFFIXES", "read_file", "read_sources", "sniff"]

#: File name endings that `read_sources` picks up (matched case-insensitively).
SUPPORTED_SUFFIXES: tuple[str, ...] = (".jsonl", ".jsonl.gz", ".txt", ".html", ".htm", ".xml", ".rss", ".atom")

_HTML_SUFFIXES = (".html", ".htm")
_FEED_SUFFIXES = (".xml", ".rss", ".atom")
_SNIFF_BYTES = 1024


def read_sources(
    paths: Iterable[Path | str], *, notices: list[ReadNotice] | None = None
) -> Iterator[Article | ReadProblem]:
    """Read every supported file under `paths`, in a deterministic order, each article once.

    Directories are walked recursively with entries sorted by name, so ids,
    problem reports and index order are the same on every run. Hidden entries
    and README files inside directories are skipped silently; other files
    with an unsupported type are reported and skipped.

    With a `notices` list, an article whose canonical URL or content (title
    and body) was already read under another id is merged into the first one:
    it is not yielded, and a `merged` ReadNotice says so. Without one there
    is no merging, so a caller that cannot report merges never drops an
    article silently. Articles without a body but with a URL
    (summary-only feed entries) are yielded last, so a full copy of the same
    page wins over them wherever it sits in the walk. Notices are appended to `notices` when
    given (they are never yielded, so callers that only know Article and
    ReadProblem keep working). Same-id repeats are left to the caller.
    """
    seen: dict[bytes, tuple[str, str]] = {}
    held: list[Article] = []

    def duplicate(item: Article) -> bool:
        keys = _dedupe_keys(item)
        match = next((key for key in keys if key in seen), None)
        if match is not None:
            first_id, first_origin = seen[match]
            same = f"canonical URL {canonical_url(item.url)}" if match.startswith(b"u") else "title and body"
            if notices is not None and first_id == item.id:  # one page by two routes (a feed and a saved page)
                notices.append(ReadNotice(item.origin, None, "merged",
                                          f"{item.id!r} was already read ({first_origin}), same {same}; read once"))
            elif notices is not None:
                notices.append(ReadNotice(
                    item.origin, None, "merged",
                    f"duplicate of {first_id!r} ({first_origin}), same {same}; {item.id!r} merged into it",
                ))
            return True
        for key in keys:
            seen.setdefault(key, (item.id, item.origin))
        return False

    for item in _read_paths(paths):
        if isinstance(item, ReadNotice):
            if notices is not None:
                notices.append(item)
            continue
        if isinstance(item, Article) and notices is not None:
            if not item.body.strip() and item.url.strip():
                # A summary-only copy (a feed entry) waits: the full page may come later and should win.
                held.append(item)
                continue
            if duplicate(item):
                continue
        yield item
    for item in held:
        if not duplicate(item):
            yield item


def _read_paths(paths: Iterable[Path | str]) -> Iterator[Article | ReadProblem | ReadNotice]:
    for raw_path in paths:
        if is_url(raw_path):
            yield from read_feed_url(str(raw_path))
            continue
        path = Path(raw_path)
        if path.is_dir():
            yield from _read_directory(path, set())
        elif path.exists():
            yield from read_file(path)
        else:
            yield ReadProblem(str(path), None, "no such file or directory", unread=True)


def _dedupe_keys(article: Article) -> list[bytes]:
    keys = []
    url = canonical_url(article.url)
    if url:
        keys.append(b"u" + hashlib.blake2b(url.encode("utf-8"), digest_size=16).digest())
    digest = content_hash(article)
    if digest:
        keys.append(b"h" + bytes.fromhex(digest)[:16])
    return keys


def read_file(path: Path) -> Iterator[Article | ReadProblem | ReadNotice]:
    """Read one file, choosing the format by its name and, where that is not enough, its content.

    `.jsonl`/`.jsonl.gz` are always JSON Lines. Any other file is sniffed: an
    RSS/Atom feed, an HTML page or JSON Lines is read as such whatever it is
    called (a `.txt` that sniffs as none of them stays a portal export, and
    an `.html`/`.xml` that sniffs as nothing is still tried by its name).

    Articles without an id of their own get one from their URL or content
    (`stable_id`), never from the file's path.
    """
    path = Path(path)
    name = path.name.lower()
    if not path.exists():
        yield ReadProblem(str(path), None, "no such file or directory", unread=True)
    elif path.is_dir():
        yield ReadProblem(str(path), None, "is a directory, not a file")
    elif name.endswith(".jsonl.gz"):
        yield from read_jsonl(path, compressed=True)
    elif name.endswith(".jsonl"):
        yield from read_jsonl(path, compressed=False)
    else:
        kind = sniff(path)
        if kind is None:
            if name.endswith(".txt"):
                kind = "portal"
            elif name.endswith(_HTML_SUFFIXES):
                kind = "html"
            elif name.endswith(_FEED_SUFFIXES):
                kind = "feed"
        if kind == "portal":
            yield from read_portal_text(path)
        elif kind == "jsonl":
            yield from read_jsonl(path, compressed=False)
        elif kind == "html":
            yield from read_html_file(path)
        elif kind == "feed":
            yield from read_feed_file(path)
        elif kind == "sitemap":
            yield from read_sitemap_file(path, read_file)
        else:
            yield ReadProblem(str(path), None, "unsupported file type, skipped")


def sniff(path: Path) -> str | None:
    """Guess a file's format from its first kilobyte: 'feed', 'sitemap', 'html', 'jsonl', 'portal' or None.

    Used when the extension is missing or misleading (`bai-viet` saved
    without `.html`, a feed saved as `.txt`); None when nothing is recognised.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
            fh.seek(0)
            first_line = fh.readline(1 << 20)
    except OSError:
        return None
    head = head.removeprefix(codecs.BOM_UTF8)
    first_line = first_line.removeprefix(codecs.BOM_UTF8)
    text = head.decode("utf-8", errors="ignore")
    lowered = text.lstrip().lower()
    markup = re.sub(r"<!--.*?-->", "", lowered, flags=re.DOTALL)
    markup = re.sub(r"^<\?xml[^>]*\?>\s*", "", markup)
    if markup.startswith("<"):
        if re.match(r"(<\?xml-stylesheet[^>]*>\s*)*<(rss|feed|rdf:rdf)\b", markup):
            return "feed"
        if re.match(r"(<\?xml-stylesheet[^>]*>\s*)*<(urlset|sitemapindex)\b", markup):
            return "sitemap"
        if re.match(r"(<!doctype\s+html|<html|<head|<body|<meta|<title|<article)\b", markup):
            return "html"
        return None
    if lowered.startswith("{"):
        try:
            record = json.loads(first_line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return "jsonl" if isinstance(record, dict) and ("id" in record or "title" in record) else None
    lines = [unicodedata.normalize("NFC", line.strip()) for line in text.split("\n") if line.strip()]
    if any(DATE_LINE_RE.match(line) for line in lines[:5]):
        return "portal"
    return None


def _read_directory(directory: Path, seen: set[Path]) -> Iterator[Article | ReadProblem]:
    """Walk `directory` depth-first in name order; `seen` breaks symlink loops."""
    real = directory.resolve()
    if real in seen:
        return
    seen.add(real)
    try:
        entries = sorted(directory.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        yield ReadProblem(str(directory), None, f"cannot list directory: {exc.strerror}", unread=True)
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.name.upper().startswith("README"):
            continue
        if entry.is_dir():
            yield from _read_directory(entry, seen)
        elif entry.is_file():
            yield from read_file(entry)
