"""The public search page: server-rendered HTML over the search layer.

Routes here parse parameters, call :class:`~searchsvc.engine.search.SearchService`
and render ``templates/``; they never touch Whoosh. Everything works without
JavaScript; ``static/search.js`` only adds autocomplete.

Text from articles and queries is always escaped by Jinja. The search layer's
``*_html`` strings go through :func:`marked`, which lets ``<mark>`` through
and escapes any other markup that might slip in.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from flask import Blueprint, Response, current_app, render_template, request, url_for
from jinja2 import TemplateError
from markupsafe import Markup, escape
from werkzeug.exceptions import Gone, HTTPException, NotFound

from searchsvc.engine.search import MAX_PER_PAGE, SORTS, ArticleHidden, IndexUnavailable, QueryError
from searchsvc.web.api import BadParameter, error_response, record_search, search_request, service

pages = Blueprint("pages", __name__)

SITE_NAME = "Tìm tin"
DEFAULT_PER_PAGE = 10
STATIC_MAX_AGE = 3600  # unversioned static URLs
VERSIONED_MAX_AGE = 365 * 24 * 3600  # ?v=<content hash>: the URL changes with the file
RETRY_AFTER_SECONDS = 30

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}

# Query parameters of the search page, in the order links are written.
PARAMS = ("q", "category", "source", "from", "to", "sort", "per_page", "page", "verbatim")
FILTER_PARAMS = ("category", "source", "from", "to")
FACET_LABELS = {"category": "Chuyên mục", "source": "Nguồn", "year": "Năm"}
SORT_LABELS = {"relevance": "Liên quan nhất", "newest": "Mới nhất"}
WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
EXAMPLES = ("Hà Nội ngập lụt", "giá đường", "xe buýt điện", "tiem vac xin")

_YEAR = re.compile(r"^\d{4}$")
_MARK = re.compile(r"(</?mark>)")
_ELLIPSES = re.compile(r"…(?:\s*…)+")


@pages.record_once
def _setup(state) -> None:
    app = state.app
    if app.config.get("SEND_FILE_MAX_AGE_DEFAULT") is None:
        app.config["SEND_FILE_MAX_AGE_DEFAULT"] = STATIC_MAX_AGE


# --- helpers for templates ---------------------------------------------------------------


def marked(html: Any) -> Markup:
    """The search layer's escaped text with ``<mark>`` markup, made safe to insert as HTML.

    Only ``<mark>``/``</mark>`` survive; any other ``<`` or ``>`` is escaped
    (defence in depth: the search layer already escapes), stray closing tags
    are dropped and open marks are closed, so a fragment never marks the rest
    of the page.
    """
    if not html:
        return Markup("")
    out: list[str] = []
    depth = 0
    for i, part in enumerate(_MARK.split(str(html))):
        if i % 2 == 0:
            out.append(part.replace("<", "&lt;").replace(">", "&gt;"))
        elif part == "<mark>":
            depth += 1
            out.append(part)
        elif depth:
            depth -= 1
            out.append(part)
    out.append("</mark>" * depth)
    return Markup("".join(out))


def snippet(html: Any) -> Markup:
    """A result snippet: :func:`marked`, with the ellipses of adjoining fragments merged."""
    return marked(_ELLIPSES.sub("…", str(html or "")))


def paragraphs(html: Any) -> list[Markup]:
    """``body_html`` split into paragraphs (the search layer separates them with newlines)."""
    return [marked(p) for p in str(html or "").split("\n") if p.strip()]


def vn_number(n: int | float | None) -> str:
    """``15230`` → ``15.230``, as Vietnamese writes thousands."""
    return f"{int(n or 0):,}".replace(",", ".")


def vn_seconds(ms: float) -> str:
    seconds = max(ms, 0.0) / 1000
    if seconds < 0.001:
        return "dưới 0,001 giây"
    return f"{seconds:.3f}".replace(".", ",") + " giây"


def vn_date(value: datetime | date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def vn_datetime(value: datetime | None) -> str:
    """``Thứ Hai, 22/07/2024, 06:45``; no time when the article gave only a date."""
    if not value:
        return ""
    text = f"{WEEKDAYS[value.weekday()]}, {value.strftime('%d/%m/%Y')}"
    if isinstance(value, datetime) and (value.hour, value.minute) != (0, 0):
        text += value.strftime(", %H:%M")
    return text


def iso(value: datetime | date | None) -> str:
    if not value:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M") if (value.hour, value.minute) != (0, 0) else value.date().isoformat()
    return value.isoformat()


def is_external(url: str | None) -> bool:
    return bool(url) and url.lower().startswith(("https://", "http://"))


def article_href(item: Any, q: str = "") -> str:
    """The article's own URL when it has a web address, else our article page (marking ``q``)."""
    url = getattr(item, "url", None) if not isinstance(item, dict) else item.get("url")
    if is_external(url):
        return url
    doc_id = item["id"] if isinstance(item, dict) else item.id
    return url_for("pages.article", doc_id=doc_id, q=q.strip() or None)


_static_versions: dict[tuple[str, int], str] = {}


def static_url(filename: str) -> str:
    """A static file's URL with a content hash, so it can be cached for a long time."""
    path = Path(current_app.static_folder or "") / filename
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return url_for("static", filename=filename)
    key = (str(path), stamp)
    version = _static_versions.get(key)
    if version is None:
        version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        _static_versions[key] = version
    return url_for("static", filename=filename, v=version)


def current_params() -> dict[str, str]:
    """The search page's parameters as given, without empty ones and defaults."""
    params = {k: request.args.get(k, "") for k in PARAMS}
    if params["sort"] == "relevance":
        params["sort"] = ""
    if params["per_page"] == str(DEFAULT_PER_PAGE):
        params["per_page"] = ""
    if params["page"] == "1":
        params["page"] = ""
    return {k: v for k, v in params.items() if v}


def search_href(**changes: Any) -> str:
    """The search page URL with ``changes`` applied (``None`` removes a parameter).

    Changing a filter, the sort or the page size goes back to page 1; the
    query, filters, sort and page size are otherwise kept.
    """
    params = current_params()
    if any(k in changes for k in (*FILTER_PARAMS, "q", "sort", "per_page")) and "page" not in changes:
        params.pop("page", None)
    for key, value in changes.items():
        default = (key == "page" and int(value or 1) == 1) or (key == "sort" and value == "relevance")
        if value is None or value == "" or default:
            params.pop(key, None)
        else:
            params[key] = str(value)
    ordered = [(k, params[k]) for k in PARAMS if k in params]
    return url_for("pages.index") + ("?" + urlencode(ordered) if ordered else "")


def year_range(year: str) -> dict[str, str]:
    return {"from": f"{year}-01-01", "to": f"{year}-12-31"}


def selected_year() -> str | None:
    """The year the date range covers exactly, when it is one (as the year facet sets it)."""
    start, end = request.args.get("from", ""), request.args.get("to", "")
    year = start[:4]
    if _YEAR.match(year) and year_range(year) == {"from": start, "to": end}:
        return year
    return None


def active_filters() -> list[dict[str, str]]:
    """The filters in force, each with the link that removes it."""
    chips = []
    for name in ("category", "source"):
        value = request.args.get(name)
        if value:
            chips.append({"label": FACET_LABELS[name], "value": value, "href": search_href(**{name: None})})
    year = selected_year()
    start, end = request.args.get("from"), request.args.get("to")
    if year:
        chips.append({"label": FACET_LABELS["year"], "value": year, "href": search_href(**{"from": None, "to": None})})
    else:
        if start:
            chips.append({"label": "Từ ngày", "value": _display_date(start), "href": search_href(**{"from": None})})
        if end:
            chips.append({"label": "Đến ngày", "value": _display_date(end), "href": search_href(to=None)})
    return chips


def _display_date(raw: str) -> str:
    try:
        return vn_date(date.fromisoformat(raw))
    except ValueError:
        return raw


def facet_groups(facets: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Facets as filter links: each value links to the filtered search, the selected one to its removal."""
    year = selected_year()
    groups = []
    for name in ("category", "source", "year"):
        items = []
        for entry in facets.get(name, []):
            value = str(entry["value"])
            if name == "year":
                active = value == year
                href = search_href(**{"from": None, "to": None}) if active else search_href(**year_range(value))
            else:
                active = value == request.args.get(name)
                href = search_href(**{name: None if active else value})
            items.append({"value": value, "count": entry["count"], "active": active, "href": href})
        if items:
            groups.append({"name": name, "label": FACET_LABELS[name], "items": items})
    return groups


def pagination(page: int, per_page: int, total: int) -> dict[str, Any] | None:
    pages_total = max(1, math.ceil(total / per_page))
    if pages_total <= 1:
        return None
    window = {1, pages_total, *range(max(1, page - 2), min(pages_total, page + 2) + 1)}
    links: list[dict[str, Any] | None] = []
    last = 0
    for n in sorted(window):
        if n - last > 1:
            links.append(None)  # a gap: …
        links.append({"number": n, "href": search_href(page=n), "current": n == page})
        last = n
    return {
        "page": page,
        "pages": pages_total,
        "links": links,
        "prev": search_href(page=page - 1) if page > 1 else None,
        "next": search_href(page=page + 1) if page < pages_total else None,
    }


@pages.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "site_name": SITE_NAME,
        "static_url": static_url,
        "search_href": search_href,
        "article_href": article_href,
        "max_query_chars": current_app.config.get("MAX_QUERY_CHARS", 500),
    }


for _name, _fn in {
    "marked": marked,
    "snippet": snippet,
    "paragraphs": paragraphs,
    "vn_number": vn_number,
    "vn_seconds": vn_seconds,
    "vn_date": vn_date,
    "vn_datetime": vn_datetime,
    "iso": iso,
}.items():
    pages.add_app_template_filter(_fn, _name)


# --- parameters ---------------------------------------------------------------------------


def check_params() -> str | None:
    """A Vietnamese explanation of the first unusable parameter, or None."""
    args = request.args
    limit = current_app.config.get("MAX_QUERY_CHARS", 500)
    q = args.get("q", "")
    if len(q) > limit:
        return (f"Từ khóa tìm kiếm quá dài ({vn_number(len(q))} ký tự). "
                f"Hãy rút gọn còn tối đa {vn_number(limit)} ký tự.")
    numbers = (("page", 1, None, "Số trang"), ("per_page", 1, MAX_PER_PAGE, "Số kết quả mỗi trang"))
    for name, low, high, label in numbers:
        raw = args.get(name, "")
        if raw == "":
            continue
        try:
            value = int(raw)
        except ValueError:
            return f"{label} phải là một số nguyên."
        if value < low or (high is not None and value > high):
            return f"{label} phải từ {low} đến {high}." if high else f"{label} phải từ {low} trở lên."
    sort = args.get("sort", "")
    if sort and sort not in SORTS:
        return "Cách sắp xếp không hợp lệ: chỉ có thể sắp xếp theo mức độ liên quan hoặc mới nhất."
    dates = {}
    for name, label in (("from", "Ngày bắt đầu"), ("to", "Ngày kết thúc")):
        raw = args.get(name, "")
        if raw:
            try:
                dates[name] = date.fromisoformat(raw)
            except ValueError:
                return f"{label} phải có dạng năm-tháng-ngày (ví dụ 2024-07-22)."
    if len(dates) == 2 and dates["from"] > dates["to"]:
        return "Ngày bắt đầu không được sau ngày kết thúc."
    return None


def has_filters() -> bool:
    return any(request.args.get(k) for k in FILTER_PARAMS)


# --- pages --------------------------------------------------------------------------------


def _retry_href() -> str | None:
    """The same page again, for errors worth retrying (5xx on our own pages)."""
    if request.endpoint not in ("pages.index", "pages.article"):
        return None
    href = url_for(request.endpoint, **(request.view_args or {}))
    query = request.query_string.decode("utf-8", "replace")
    return href + ("?" + query if query else "")


def render_error(status: int, title: str, message: str, **extra: Any) -> Response:
    if status >= 500:
        extra.setdefault("retry_href", _retry_href())
    try:
        body = render_template("error.html", status=status, title=title, message=message,
                               q=request.args.get("q", ""), **extra)
    except TemplateError:
        # The templates themselves are broken or missing (/healthz says so): still answer, in plain HTML.
        current_app.logger.exception("error page template failed")
        body = f"<!doctype html><html lang=vi><title>{escape(title)}</title><h1>{escape(title)}</h1>" \
               f"<p>{escape(message)}</p></html>"
    response = Response(body, status=status, mimetype="text/html")
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@pages.get("/")
def index() -> Response | str:
    q = request.args.get("q", "")
    if "q" not in request.args and not has_filters():
        return render_template("search.html", state="home", q="", examples=EXAMPLES, autofocus=True,
                               nothing_indexed=_nothing_indexed())
    problem = check_params()
    if problem:
        return render_error(400, "Không thể tìm kiếm với yêu cầu này", problem, **_plain_search_link())
    req = search_request()
    if not req.q.strip() and not has_filters():
        return render_template("search.html", state="empty", q=q, examples=EXAMPLES, autofocus=True,
                               nothing_indexed=_nothing_indexed())
    try:
        result = service().search(req)
    except QueryError:
        beyond = _beyond_last_page(req)
        if beyond is not None:
            return beyond
        raise
    record_search(req, result, "page")
    chips = active_filters()
    return render_template(
        "search.html",
        state="results" if result.total else "none",
        q=q,
        result=result,
        offset=(result.page - 1) * result.per_page,
        facets=facet_groups(result.facets) if result.total else [],
        chips=chips,
        clear_filters=search_href(**dict.fromkeys(FILTER_PARAMS)) if chips else None,
        sorts=[{"value": s, "label": SORT_LABELS[s], "current": s == req.sort, "href": search_href(sort=s)}
               for s in SORTS],
        pager=pagination(result.page, result.per_page, result.total),
        suggestion=result.suggestion,
        suggestion_href=search_href(q=result.suggestion["text"]) if result.suggestion else None,
        verbatim_href=search_href(verbatim="1") if result.rewritten else None,
        examples=EXAMPLES,
        nothing_indexed=not result.total and _nothing_indexed(),
    )


def _nothing_indexed() -> bool:
    """An index with no articles yet (a new site): the page says so instead of suggesting other words."""
    try:
        return service().document_count() == 0
    except IndexUnavailable:
        return False  # the home page still shows; a search then says the index is unavailable


def _beyond_last_page(req):
    """A page past the last one: say so and link to the pages that exist (404), else None."""
    if req.page <= 1:
        return None
    first = service().search(replace(req, page=1))
    if (req.page - 1) * req.per_page < first.total:
        return None
    if not first.total:
        message = "Tìm kiếm này không có kết quả nào."
        return render_error(404, f"Không có trang {vn_number(req.page)}", message, back_href=search_href(page=1),
                            back_label="Về trang kết quả đầu tiên")
    last = math.ceil(first.total / req.per_page)
    message = (f"Tìm kiếm này có {vn_number(first.total)} kết quả, chia thành {vn_number(last)} trang; "
               f"không có trang {vn_number(req.page)}.")
    return render_error(404, f"Không có trang {vn_number(req.page)}", message,
                        back_href=search_href(page=last), back_label=f"Xem trang cuối (trang {vn_number(last)})")


def _plain_search_link() -> dict[str, str]:
    """For a refused request: the same words, with the default page, sort and no filters."""
    q = request.args.get("q", "").strip()
    if not q or len(q) > current_app.config.get("MAX_QUERY_CHARS", 500):
        return {}
    return {"back_href": url_for("pages.index", q=q), "back_label": "Tìm lại với các thiết lập mặc định"}


@pages.get("/articles/<path:doc_id>")
def article(doc_id: str) -> Response | str:
    q = request.args.get("q", "")
    if len(q) > current_app.config.get("MAX_QUERY_CHARS", 500):
        q = ""  # only used for highlighting: show the article unmarked
    try:
        try:
            art = service().article(doc_id, q)
        except QueryError:
            art = service().article(doc_id)
    except ArticleHidden:
        raise Gone() from None
    if art is None:
        raise NotFound()
    related = service().related(doc_id)
    return render_template("article.html", article=art, q=q, related=related)


@pages.get("/opensearch.xml")
def opensearch() -> Response | str:
    root = request.url_root
    template = root + "?q={searchTerms}"
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<OpenSearchDescription xmlns="http://a9.com/-/spec/opensearch/1.1/" '
        'xmlns:moz="http://www.mozilla.org/2006/browser/search/">\n'
        f"  <ShortName>{xml_escape(SITE_NAME)}</ShortName>\n"
        "  <Description>Tìm kiếm tin tức tiếng Việt, có dấu hoặc không dấu</Description>\n"
        "  <InputEncoding>UTF-8</InputEncoding>\n"
        "  <OutputEncoding>UTF-8</OutputEncoding>\n"
        "  <Language>vi</Language>\n"
        f'  <Url type="text/html" method="get" template={quoteattr(template)}/>\n'
        f'  <Url type="application/opensearchdescription+xml" rel="self" '
        f"template={quoteattr(root + 'opensearch.xml')}/>\n"
        f"  <moz:SearchForm>{xml_escape(root)}</moz:SearchForm>\n"
        "</OpenSearchDescription>\n"
    )
    response = Response(xml, mimetype="application/opensearchdescription+xml")
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


# --- errors -------------------------------------------------------------------------------

HTTP_MESSAGES = {
    404: ("Không tìm thấy trang", "Trang bạn tìm không tồn tại hoặc đã bị gỡ. Hãy thử tìm kiếm bài viết bạn cần."),
    410: ("Bài viết đã bị gỡ", "Bài viết này đã bị gỡ và không còn được hiển thị. Hãy tìm kiếm các bài viết khác."),
    405: ("Yêu cầu không được hỗ trợ", "Trang này chỉ mở được bằng cách truy cập thông thường."),
    500: ("Đã có lỗi xảy ra", "Máy chủ gặp sự cố khi xử lý yêu cầu. Lỗi đã được ghi lại; vui lòng thử lại sau."),
}


def _http_error_page(exc: HTTPException):
    code = exc.code or 500
    fallback = ("Không thể xử lý yêu cầu", "Vui lòng thử lại hoặc tìm kiếm từ trang chủ.")
    title, message = HTTP_MESSAGES.get(code, fallback)
    if request.endpoint == "pages.article" and code == 404:
        title, message = "Không tìm thấy bài viết", "Bài viết này không có trong kho tin hoặc đã bị gỡ."
    return render_error(code, title, message)


@pages.errorhandler(BadParameter)
@pages.errorhandler(QueryError)
def _bad_request(exc: Exception):
    current_app.logger.info("bad search request: %s", exc)
    return render_error(400, "Không thể tìm kiếm với yêu cầu này",
                        "Từ khóa hoặc bộ lọc không hợp lệ. Hãy sửa lại từ khóa hoặc bỏ bớt bộ lọc rồi thử lại.",
                        **_plain_search_link())


@pages.errorhandler(IndexUnavailable)
def _unavailable(exc: IndexUnavailable):
    current_app.logger.warning("search index unavailable: %s", exc)
    return render_error(503, "Tìm kiếm đang tạm gián đoạn",
                        "Kho tin đang được cập nhật hoặc tạm thời không truy cập được. Vui lòng thử lại sau ít phút.")


@pages.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return _http_error_page(exc)


@pages.errorhandler(Exception)
def _internal(exc: Exception):
    current_app.logger.exception("unhandled error on %s", request.path)
    title, message = HTTP_MESSAGES[500]
    return render_error(500, title, message)


def _wants_json() -> bool:
    path = request.path
    return path == "/api" or path.startswith("/api/") or path == "/healthz"


@pages.app_errorhandler(404)
@pages.app_errorhandler(405)
@pages.app_errorhandler(500)
def _app_http_error(exc: HTTPException):
    """Unmatched URLs: an HTML page for readers, the JSON error shape under /api and /healthz."""
    if _wants_json():
        return error_response(exc.code or 500, exc.description or exc.name)
    return _http_error_page(exc)


@pages.after_app_request
def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint == "static" and response.status_code in (200, 304):
        response.cache_control.public = True
        if request.args.get("v"):
            response.cache_control.max_age = VERSIONED_MAX_AGE
            response.cache_control.immutable = True
        else:
            response.cache_control.max_age = current_app.config.get("SEND_FILE_MAX_AGE_DEFAULT") or STATIC_MAX_AGE
    return response
