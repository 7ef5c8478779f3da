"""Read news articles from JSON Lines dumps, portal text exports, HTML pages and feeds.

Readers never raise on bad input: they yield `ReadProblem` values next to the
`Article` values, so one broken line or file cannot stop a whole indexing run
and the caller decides how to report problems. HTML pages and RSS/Atom feeds
are read by `html_reader` and `feed_reader`; files are routed by extension and,
where it is missing or misleading, by sniffing their first kilobyte.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Article",
    "ReadNotice",
    "ReadProblem",
    "read_file",
    "read_sources",
]

#: File name endings that `read_sources` picks up (matched case-insensitively).
SUPPORTED_SUFFIXES: tuple[str, ...] = (".jsonl", ".jsonl.gz", ".txt", ".html", ".htm", ".xml", ".rss", ".atom")

_HTML_SUFFIXES = (".html", ".htm")
_FEED_SUFFIXES = (".xml", ".rss", ".atom")
_SNIFF_BYTES = 1024

# Aware timestamps are stored as naive Vietnam local time so that every
# `published` value is comparable; Vietnam has used UTC+7 without DST since 1975.
VIETNAM_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")

DATE_LINE_HINT = "expected 'Ngày đăng DD/MM/YYYY | HH:MM | Lượt xem: N'"

# The portal puts no-break spaces around the separators; `\s` covers them.
_DATE_LINE_RE = re.compile(
    r"""
    ^ngày\s+đăng\s*:?\s*
    (?P<day>\d{1,2})\s*/\s*(?P<month>\d{1,2})\s*/\s*(?P<year>\d{4})
    (?:\s*\|?\s*(?P<hour>\d{1,2})\s*:\s*(?P<minute>\d{2}))?
    (?:\s*\|?\s*lượt\s+xem\s*:?\s*(?P<views>\d[\d.,]*))?
    \s*\|?\s*$
    """,
    re.IGNORECASE | re.VERBOSE,
)

_OPTIONAL_TEXT_FIELDS = ("sapo", "body", "category", "source", "url")


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
    from searchsvc.reading.feeds import read_feed_url
    from searchsvc.reading.fetch import is_url

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
        yield from _read_jsonl(path, compressed=True)
    elif name.endswith(".jsonl"):
        yield from _read_jsonl(path, compressed=False)
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
            yield from _read_portal_text(path)
        elif kind == "jsonl":
            yield from _read_jsonl(path, compressed=False)
        elif kind == "html":
            from searchsvc.reading.html import read_html_file

            yield from read_html_file(path)
        elif kind == "feed":
            from searchsvc.reading.feeds import read_feed_file

            yield from read_feed_file(path)
        elif kind == "sitemap":
            from searchsvc.reading.sitemaps import read_sitemap_file

            yield from read_sitemap_file(path)
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
    if any(_DATE_LINE_RE.match(line) for line in lines[:5]):
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


# --- JSON Lines -------------------------------------------------------------


def _read_jsonl(path: Path, *, compressed: bool) -> Iterator[Article | ReadProblem]:
    """Read a JSON Lines file line by line in binary mode.

    Decoding each line separately confines a bad byte to its own line, and a
    truncated gzip stream still gives up the articles before the damage.
    """
    lineno = 0
    try:
        opener = gzip.open if compressed else open
        with opener(path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if lineno == 1 and raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    yield ReadProblem(str(path), None, "the file is UTF-16 (it starts with a UTF-16 byte order "
                                                       "mark); JSON Lines must be UTF-8: save it as UTF-8",
                                      unread=True)
                    return
                item = _parse_jsonl_line(path, lineno, raw)
                if item is not None:
                    yield item
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        yield ReadProblem(
            str(path),
            lineno + 1,
            f"gzip data truncated or corrupt, stopped reading: {exc}",
            unread=True,
        )
    except OSError as exc:
        yield ReadProblem(str(path), None, f"cannot read file: {exc.strerror or exc}", unread=True)


def _parse_jsonl_line(path: Path, lineno: int, raw: bytes) -> Article | ReadProblem | None:
    """Turn one raw line into an Article, a ReadProblem, or None if blank."""
    if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ReadProblem(
            str(path),
            lineno,
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
        )
    if not text.strip():
        return None
    try:
        record = json.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        return ReadProblem(str(path), lineno, f"invalid JSON: {exc.msg} (column {exc.pos + 1})")
    if not isinstance(record, dict):
        return ReadProblem(str(path), lineno, f"expected a JSON object, got {_json_type(record)}")
    return _article_from_record(record, path, lineno)


def _article_from_record(record: dict[str, Any], path: Path, lineno: int) -> Article | ReadProblem:
    """Validate one JSON object; every field error on the line is reported together."""
    errors: list[str] = []

    def required_text(key: str) -> str:
        value = record.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors.append(f"missing or empty '{key}'")
            return ""
        if not isinstance(value, str):
            errors.append(f"'{key}' must be a string, got {_json_type(value)}")
            return ""
        return value.strip()

    def optional_text(key: str) -> str:
        value = record.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            errors.append(f"'{key}' must be a string, got {_json_type(value)}")
            return ""
        return value.strip()

    article_id = required_text("id")
    title = required_text("title")
    texts = {key: optional_text(key) for key in _OPTIONAL_TEXT_FIELDS}

    published: datetime | None = None
    raw_published = record.get("published")
    if raw_published is None:
        pass
    elif not isinstance(raw_published, str):
        errors.append(f"'published' must be a string, got {_json_type(raw_published)}")
    elif raw_published.strip():
        published = _parse_timestamp(raw_published.strip())
        if published is None:
            errors.append(f"unparseable 'published' {raw_published!r} (expected YYYY-MM-DD or an ISO 8601 date-time)")

    views = record.get("views")
    if views is not None and (not isinstance(views, int) or isinstance(views, bool)):
        errors.append(f"'views' must be an integer, got {_json_type(views)}")
        views = None
    elif views is not None and views < 0:
        errors.append(f"'views' must not be negative, got {views}")
        views = None

    if errors:
        return ReadProblem(str(path), lineno, "; ".join(errors))
    return Article(
        id=article_id,
        title=title,
        published=published,
        views=views,
        origin=f"{path}:{lineno}",
        **texts,
    )


def _parse_timestamp(value: str) -> datetime | None:
    """Parse 'YYYY-MM-DD' (midnight) or ISO 8601; aware values become naive Vietnam time."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(VIETNAM_TZ).replace(tzinfo=None)
    return parsed


def _json_type(value: object) -> str:
    """Name a JSON value's type the way a person editing the file would."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# --- Portal text export -----------------------------------------------------


def _read_portal_text(path: Path) -> Iterator[Article | ReadProblem]:
    """Parse a portal export: section, title, date line, then body paragraphs.

    The form is checked strictly because a shifted line would silently turn
    the section into the title or the date line into the body.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield ReadProblem(str(path), None, f"cannot read file: {exc.strerror or exc}", unread=True)
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        yield ReadProblem(str(path), bad_line, "not UTF-8 text")
        return

    # Split on "\n" only: str.splitlines() also breaks on form feeds and
    # Unicode separators, which would make line numbers disagree with editors.
    lines = [line.strip() for line in text.split("\n")]
    numbered = [(no, line) for no, line in enumerate(lines, start=1) if line]
    if not numbered:
        yield ReadProblem(str(path), None, "empty file")
        return

    for position, (no, line) in enumerate(numbered[:2]):
        if _DATE_LINE_RE.match(unicodedata.normalize("NFC", line)):
            found = "no line" if position == 0 else "only one line"
            reason = f"expected a section line and a title line before the date line, found {found}"
            yield ReadProblem(str(path), no, reason)
            return
    if len(numbered) < 2:
        yield ReadProblem(str(path), numbered[0][0] + 1, "missing title after the section line")
        return
    if len(numbered) < 3:
        yield ReadProblem(str(path), numbered[1][0] + 1, f"missing date line: {DATE_LINE_HINT}")
        return

    (_, section), (_, title), (date_no, date_line) = numbered[:3]
    match = _DATE_LINE_RE.match(unicodedata.normalize("NFC", date_line))
    if match is None:
        yield ReadProblem(str(path), date_no, DATE_LINE_HINT)
        return
    try:
        published = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"] or 0),
            int(match["minute"] or 0),
        )
    except ValueError as exc:
        yield ReadProblem(str(path), date_no, f"invalid date or time in date line: {exc}")
        return
    views = int(re.sub(r"[.,]", "", match["views"])) if match["views"] else None

    yield Article(
        # The export has no URL: its title and publication time name the story. Not the view count (it
        # changes between exports) nor the body (an edited article stays the same article).
        id=stable_id("txt", "", title, published.isoformat()),
        title=title,
        body="\n".join(line for _, line in numbered[3:]),
        category=section,
        published=published,
        views=views,
        origin=str(path),
    )
