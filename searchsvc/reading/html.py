"""Read saved HTML article pages: trafilatura for the body, the page's own metadata for the rest.

trafilatura separates the article text from menus, ads, comment boxes and
related-links lists far better than tag scraping would; the fields a site
states explicitly (JSON-LD `NewsArticle`, `og:` and `article:` meta, the
canonical link) are more exact than anything guessed from the text, so they
win where present. Dates go through `searchsvc.reading.dates` so they land on the
right day in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import lxml.html
import trafilatura
from lxml import etree
from trafilatura.utils import decode_file

from searchsvc.reading.article import Article, ReadNotice, ReadProblem, read_bytes, stable_id
from searchsvc.reading.dates import parse_date

__all__ = ["clean_text", "fragment_to_text", "read_html_file", "read_html_page"]

# Zero-width and invisible characters that CMS editors leave in copy-pasted text.
_INVISIBLE_RE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_SPACES_RE = re.compile(r"[^\S\n]+")
_BLOCK_TAGS = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
               "blockquote", "tr", "table", "section", "article", "figure", "figcaption", "pre"}
_ARTICLE_TYPES = {"NewsArticle", "Article", "ReportageNewsArticle", "AnalysisNewsArticle", "BlogPosting"}
# Boxes Vietnamese CMSs name in Vietnamese (bình luận, ý kiến, tin liên quan, tin khác, quảng cáo),
# which trafilatura's English-named rules do not know; pruned before extraction.
_VN_BOILERPLATE = ("binhluan", "binh-luan", "ykien", "y-kien", "tinlienquan", "tin-lien-quan", "tinkhac",
                   "tin-khac", "quangcao", "quang-cao", "related", "box-comment")
_VN_BOILERPLATE_TOKENS = ("qc", "ads", "banner")
PRUNE_XPATH = [
    "//*[" + " or ".join(f"contains(@class, '{name}') or contains(@id, '{name}')" for name in _VN_BOILERPLATE) + "]",
    "//*[" + " or ".join(f"contains(concat(' ', normalize-space(@class), ' '), ' {token} ')"
                         for token in _VN_BOILERPLATE_TOKENS) + "]",
]
_DATE_META = ("article:published_time", "og:published_time", "datepublished", "pubdate", "publishdate",
              "dc.date.issued", "dc.date", "date")


def clean_text(text: str) -> str:
    """Entity-free, NFC text with single spaces and one paragraph per line.

    Readers store exactly this, so what is indexed, highlighted and shown is
    free of `&nbsp;`, no-break and zero-width characters left by CMS editors.
    """
    text = html.unescape(text)
    text = unicodedata.normalize("NFC", _INVISIBLE_RE.sub("", text))
    lines = (_SPACES_RE.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def fragment_to_text(fragment: str) -> str:
    """Text of an HTML fragment (a feed's description or content), one paragraph per block element."""
    if not fragment or not fragment.strip():
        return ""
    if "<" not in fragment:
        return clean_text(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return clean_text(re.sub(r"<[^>]*>", " ", fragment))
    for bad in root.xpath(".//script|.//style|.//noscript|.//iframe"):
        bad.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCK_TAGS:
            element.tail = "\n" + (element.tail or "")
            if element.tag.lower() != "br":
                element.text = "\n" + (element.text or "")
    return clean_text(root.text_content())


def read_html_file(path: Path) -> Iterator[Article | ReadProblem | ReadNotice]:
    """Read one saved page."""
    data = read_bytes(path)
    if isinstance(data, ReadProblem):
        yield data
        return
    yield from read_html_page(data, origin=str(path))


def read_html_page(data: bytes | str, *, origin: str, url: str = "") -> Iterator[Article | ReadProblem | ReadNotice]:
    """Extract one article from a page's HTML: an Article, or a ReadProblem saying why not.

    Its id comes from the page's canonical URL, else ``url`` (where it was fetched), else its content.
    """
    text = decode_file(data) if isinstance(data, bytes) else data
    if not text.strip():
        yield ReadProblem(origin, None, "empty HTML page")
        return
    meta = _page_metadata(text)
    doc: dict[str, Any] = {}
    # Precision first; old table-layout pages give nothing in that mode and get the balanced one.
    # Tables are left out: on such pages they are the layout, not data.
    for precision in (True, False):
        extracted = trafilatura.bare_extraction(
            text,
            url=meta.get("url") or None,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            favor_precision=precision,
            prune_xpath=PRUNE_XPATH,
        )
        doc = extracted.as_dict() if extracted is not None else {}
        if (doc.get("text") or "").strip():
            break

    title = clean_text(meta.get("title") or doc.get("title") or "")
    sapo = clean_text(meta.get("description") or doc.get("description") or "")
    paragraphs = clean_text(doc.get("text") or "").split("\n")
    # trafilatura keeps the headline and the lede when they sit inside <article>; they have their own fields.
    # So do the section line and the dateline ("Thứ Hai, 2/9/2024, 08:30 (GMT+7)"), which the page states anyway.
    dateline = None
    while paragraphs and (paragraphs[0] in (title, sapo, "") or _is_dateline(paragraphs[0])):
        first = paragraphs.pop(0)
        dateline = dateline or (parse_date(first) if first not in (title, sapo) else None)
    body = "\n".join(p for p in paragraphs if p)
    if not title:
        yield ReadProblem(origin, None, "HTML page has no title (no JSON-LD headline, og:title or <title>)")
        return
    if not body and not sapo:
        yield ReadProblem(origin, None, "no article text found in the HTML page")
        return

    published = None
    raw_date = meta.get("published")
    if raw_date:
        published = parse_date(raw_date)
        if published is None:
            reason = f"unparseable publication date {raw_date!r}; article left undated"
            yield ReadNotice(origin, None, "undated", reason)
    elif dateline is not None:
        published = dateline
    elif doc.get("date"):
        # trafilatura's own date search (visible text, URL): day precision only.
        published = parse_date(doc["date"])

    categories = doc.get("categories") or []
    page_url = meta.get("url") or doc.get("url") or url
    yield Article(
        id=stable_id("html", page_url, title, published.isoformat() if published else body),
        title=title,
        sapo=sapo,
        body=body,
        category=clean_text(meta.get("section") or (categories[0] if categories else "")),
        source=clean_text(meta.get("site") or doc.get("sitename") or ""),
        url=page_url,
        published=published,
        origin=origin,
    )


def _is_dateline(paragraph: str) -> bool:
    """A paragraph that is a date and nothing else (parse_date accepts only a whole date)."""
    return len(paragraph) <= 60 and parse_date(paragraph) is not None


def _page_metadata(text: str) -> dict[str, str]:
    """What the page states about itself: JSON-LD NewsArticle first, then og:/article: meta, canonical link."""
    try:
        tree = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return {}
    meta: dict[str, str] = {}
    for element in tree.iter("meta"):
        name = (element.get("property") or element.get("name") or element.get("itemprop") or "").strip().lower()
        content = (element.get("content") or "").strip()
        if name and content and name not in meta:
            meta[name] = content
    ld = _json_ld_article(tree)

    def first(*values: Any) -> str:
        for value in values:
            if isinstance(value, dict):
                value = value.get("@id") or value.get("url") or value.get("name")
            if isinstance(value, list):
                value = value[0] if value else None
            if isinstance(value, str) and value.strip():
                return value.strip()
        return ""

    canonical = first(*(link.get("href") for link in tree.iter("link")
                        if "canonical" in (link.get("rel") or "").lower().split()))
    og_url = first(meta.get("og:url"))
    url = first(canonical, og_url, ld.get("mainEntityOfPage"), ld.get("url"))
    if url and og_url and not re.match(r"^https?://", url, re.IGNORECASE):
        url = urljoin(og_url, url)
    return {
        "title": first(ld.get("headline"), meta.get("og:title"), meta.get("twitter:title")),
        "description": first(ld.get("description"), meta.get("og:description"), meta.get("description")),
        "published": first(ld.get("datePublished"), *(meta.get(name) for name in _DATE_META)),
        "section": first(ld.get("articleSection"), meta.get("article:section")),
        "site": first(meta.get("og:site_name"), ld.get("publisher")),
        "url": url,
    }


def _json_ld_article(tree: Any) -> dict[str, Any]:
    """The first JSON-LD object typed as a news article (also inside @graph or a list)."""
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text_content().strip() or "null")
        except json.JSONDecodeError:
            continue
        stack = [data]
        while stack:
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                kind = item.get("@type")
                kinds = set(kind) if isinstance(kind, list) else {kind}
                if kinds & _ARTICLE_TYPES:
                    return item
                stack.extend(item.get("@graph") or [])
    return {}
