"""Sitemaps: a newsroom's list of its article pages (``<urlset><url><loc>``), read page by page.

A ``<loc>`` that names a file (relative to the sitemap, or ``file://``) is
read like any other file; an ``http(s)`` one is fetched when the network
allows, with a timeout, and read as an HTML page. A sitemap index
(``<sitemapindex>``) is followed to its sitemaps. Entities are never
resolved and nothing is fetched while parsing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lxml import etree

from searchsvc.reading.article import Article, ReadNotice, ReadProblem
from searchsvc.reading.fetch import FetchError, fetch, is_url
from searchsvc.reading.html import read_html_page

__all__ = ["read_sitemap_file"]

MAX_DEPTH = 3
MAX_PAGE_BYTES = 10 * 1024 * 1024


PageReader = Callable[[Path], Iterator[Article | ReadProblem | ReadNotice]]


def read_sitemap_file(
    path: Path, read_file: PageReader, depth: int = 0
) -> Iterator[Article | ReadProblem | ReadNotice]:
    """Every page the sitemap lists; a listed file is read with ``read_file`` (the dispatcher, which knows every
    format: passed in, so that this reader need not import the dispatcher that imports it)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        tree = etree.parse(str(path), parser)
    except (OSError, etree.XMLSyntaxError) as exc:
        yield ReadProblem(str(path), None, f"not a readable sitemap: {exc}", unread=True)
        return
    root = tree.getroot()
    nested = etree.QName(root).localname == "sitemapindex"
    locs = [(el.sourceline, (el.text or "").strip()) for el in root.iter("{*}loc")]
    if not locs:
        yield ReadProblem(str(path), None, "sitemap lists no pages")
        return
    for line, loc in locs:
        if not loc:
            continue
        if is_url(loc):
            if nested:
                yield ReadProblem(str(path), line, f"sitemap {loc} is on the web; save it beside this one to read it",
                                  unread=True)
            else:
                yield from _read_page_url(loc, str(path), line)
            continue
        target = _local_path(loc, path.parent)
        if not target.is_file():
            yield ReadProblem(str(path), line, f"listed {'sitemap' if nested else 'page'} not found: {target}",
                              unread=True)
        elif nested:
            if depth >= MAX_DEPTH:
                yield ReadProblem(str(path), line, f"sitemaps nested deeper than {MAX_DEPTH}, {target} not read",
                                  unread=True)
            else:
                yield from read_sitemap_file(target, read_file, depth + 1)
        else:
            yield from read_file(target)


def _local_path(loc: str, base: Path) -> Path:
    parts = urlsplit(loc)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return (base / unquote(loc)).resolve()


def _read_page_url(url: str, sitemap: str, line: int) -> Iterator[Article | ReadProblem | ReadNotice]:
    try:
        data = fetch(url, MAX_PAGE_BYTES)
    except FetchError as exc:
        yield ReadProblem(sitemap, line, str(exc), unread=True)
        return
    yield from read_html_page(data, origin=url, url=url)
