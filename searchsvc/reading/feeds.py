"""Read RSS 2.0 and Atom feed files with feedparser: each entry becomes an article.

feedparser copes with the malformed feeds newsrooms really publish (bad
entities, wrong encodings declared, Atom and RSS variants); entry dates go
through `searchsvc.reading.dates` first, because Vietnamese sites often put
`31/03/2021 16:31` in `pubDate`, which RFC 822 parsers reject.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import feedparser

from searchsvc.reading.article import Article, ReadNotice, ReadProblem, read_bytes, stable_id
from searchsvc.reading.dates import VIETNAM_TZ, parse_date, to_vietnam_time
from searchsvc.reading.fetch import FetchError, fetch
from searchsvc.reading.html import clean_text, fragment_to_text

__all__ = ["read_feed", "read_feed_file", "read_feed_url"]

MAX_FEED_BYTES = 20 * 1024 * 1024


def read_feed_url(url: str) -> Iterator[Article | ReadProblem | ReadNotice]:
    """Fetch a feed the operator named by URL (when the network allows) and read it like a saved one."""
    try:
        data = fetch(url, MAX_FEED_BYTES)
    except FetchError as exc:
        yield ReadProblem(url, None, str(exc), unread=True)
        return
    yield from read_feed(data, origin=url)


def read_feed_file(path: Path) -> Iterator[Article | ReadProblem | ReadNotice]:
    """Read one saved feed."""
    data = read_bytes(path)
    if isinstance(data, ReadProblem):
        yield data
        return
    yield from read_feed(data, origin=str(path))


def read_feed(data: bytes, *, origin: str) -> Iterator[Article | ReadProblem | ReadNotice]:
    """Every entry of a feed document as an Article; entries that cannot be one as ReadProblems.

    An entry's id comes from its link (`stable_id`), so the same story in two feeds, or as a saved page,
    is one article; an entry without a link is known by its guid, else its title and date.
    """
    parsed = feedparser.parse(data, sanitize_html=True, resolve_relative_uris=False)
    entries = parsed.get("entries") or []
    version = parsed.get("version") or ""
    if not entries:
        unreadable = bool(parsed.get("bozo")) and not version
        if unreadable:
            reason = f"not a readable RSS or Atom feed: {parsed.get('bozo_exception')}"
        else:
            reason = "feed has no entries"
        yield ReadProblem(origin, None, reason, unread=unreadable)
        return
    if parsed.get("bozo"):
        yield ReadNotice(origin, None, "lenient", f"malformed feed read leniently: {parsed.get('bozo_exception')}")
    feed_title = clean_text(parsed.feed.get("title", ""))
    for number, entry in enumerate(entries, start=1):
        yield from _entry(entry, number, origin, feed_title)


def _entry(entry: Any, number: int, origin: str, source: str) -> Iterator[Article | ReadProblem | ReadNotice]:
    where = f"{origin}#{number}"
    link = (entry.get("link") or "").strip()
    title = fragment_to_text(entry.get("title", "")).replace("\n", " ")
    if not title:
        yield ReadProblem(origin, None, f"entry {number}{f' ({link})' if link else ''}: no title, skipped")
        return
    summary = fragment_to_text(entry.get("summary", ""))
    contents = [c for c in entry.get("content") or [] if (c.get("value") or "").strip()]
    body = fragment_to_text(contents[0]["value"]) if contents else ""
    if body == summary:
        summary = ""  # no description: feedparser copies the content into the summary
    elif summary and body.startswith(summary):
        body = body[len(summary):].strip()
    if not body:
        yield ReadNotice(where, None, "summary-only", f"entry {number} {title!r}: feed carries only a summary")

    published = None
    raw_date = entry.get("published") or entry.get("updated") or ""
    if raw_date:
        # dict.get: feedparser's own .get maps updated_parsed to published_parsed with a DeprecationWarning.
        parsed = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
        published = parse_date(raw_date) or _struct_time(parsed)
        if published is None:
            yield ReadNotice(where, None, "undated",
                             f"entry {number} {title!r}: unparseable date {raw_date!r}; article left undated")

    tags = [clean_text(t.get("term") or "") for t in entry.get("tags") or []]
    guid = (entry.get("id") or "").strip()
    yield Article(
        id=stable_id("feed", link, *([guid] if guid else [title, raw_date])),
        title=title,
        sapo=summary,
        body=body,
        category=next((t for t in tags if t), ""),
        source=source,
        url=link,
        published=published,
        origin=where,
    )


def _struct_time(value: Any) -> datetime | None:
    """feedparser's parsed date (a UTC struct_time) as Vietnam local time."""
    if not value:
        return None
    return to_vietnam_time(datetime.fromtimestamp(calendar.timegm(value), VIETNAM_TZ))
