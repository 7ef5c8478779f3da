"""HTTP routes. They parse parameters and call the search layer; they never touch Whoosh.

Every error, everywhere, has one JSON shape:
``{"error": {"status": <int>, "message": "<clear text>"}}``.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from jinja2 import TemplateNotFound
from werkzeug.exceptions import HTTPException, NotFound

from searchsvc.engine.search import (
    MAX_PER_PAGE,
    ArticleHidden,
    IndexUnavailable,
    QueryError,
    SearchRequest,
    SearchResult,
    SearchService,
)

api = Blueprint("api", __name__)


class BadParameter(ValueError):
    """A request parameter that cannot be used; the message names it."""


def service() -> SearchService:
    return current_app.extensions["searchsvc"]


def error_response(status: int, message: str) -> Response:
    response = jsonify({"error": {"status": status, "message": message}})
    response.status_code = status
    return response


def _int_arg(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(f"'{name}' must be a whole number, not {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"{low} or more"
        raise BadParameter(f"'{name}' must be {bound}")
    return value


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadParameter(f"'{name}' must be a date as YYYY-MM-DD, not {raw!r}") from None


def search_request() -> SearchRequest:
    """The search parameters, shared by the JSON endpoint and the HTML page."""
    return SearchRequest(
        q=request.args.get("q", ""),
        page=_int_arg("page", 1, 1),
        per_page=_int_arg("per_page", 10, 1, MAX_PER_PAGE),
        sort=request.args.get("sort") or "relevance",
        category=request.args.get("category") or None,
        source=request.args.get("source") or None,
        date_from=_date_arg("from"),
        date_to=_date_arg("to"),
        verbatim=request.args.get("verbatim", "") not in ("", "0", "false"),
    )


@api.get("/api/search")
def api_search() -> Response:
    req = search_request()
    if not req.q.strip() and not (req.category or req.source or req.date_from or req.date_to):
        raise BadParameter("'q' is required")
    result = service().search(req)
    record_search(req, result, "api")
    return jsonify(result.as_json())


def record_search(req: SearchRequest, result: SearchResult, via: str) -> None:
    """Hand a reader's search to the analytics recorder the app factory made (``via``: "page" or "api").

    The recorder only queues it (its own thread writes), so this costs microseconds and never fails the search.
    Nothing about the reader is passed: no address, cookie or user agent. ``searchsvc search`` is not recorded
    (an operator's check), nor autocomplete keystrokes.
    """
    recorder = current_app.extensions.get("searchsvc.analytics")
    if recorder is None:  # ANALYTICS = False
        return
    read_as, kinds = rewrite_of(result)
    recorder.record(
        via=via, query=req.q, normalized=result.query, results=result.total, took_ms=result.took_ms,
        page=req.page, per_page=req.per_page, sort=req.sort, category=req.category, source=req.source,
        date_from=req.date_from.isoformat() if req.date_from else None,
        date_to=req.date_to.isoformat() if req.date_to else None, verbatim=req.verbatim,
        rewritten_to=read_as, rewrite_kinds=kinds,
    )


def rewrite_of(result: SearchResult) -> tuple[str | None, list[str]]:
    """What the engine searched or proposed instead of the words typed, and how: the analytics' ``rewritten``.

    The hook for the engine's rewrites: kinds come from ``SearchResult.rewritten["kinds"]`` (telex, vni, typo, and
    whatever kind the engine adds later, e.g. diacritics restored), ``synonym`` when abbreviations were also searched
    spelled out (``expanded``), ``suggestion`` when a did-you-mean was offered (typed without diacritics, or
    misspelt with verbatim=1). Returns (the text read or suggested, kinds); (None, []) when searched as typed.
    """
    kinds: list[str] = []
    read_as = None
    if result.rewritten:
        kinds += [str(k) for k in result.rewritten.get("kinds") or ()] or ["rewritten"]
        read_as = result.rewritten.get("text")
    if result.expanded:
        kinds.append("synonym")
        also = ", ".join(str(e.get("also")) for e in result.expanded)
        read_as = f"{read_as or result.query} (+ {also})"
    if result.suggestion:
        kinds.append("suggestion")
        read_as = read_as or result.suggestion.get("text")
    return read_as, kinds


@api.get("/api/suggest")
def api_suggest() -> Response:
    q = request.args.get("q", "")
    if len(q) > current_app.config["MAX_QUERY_CHARS"]:
        raise BadParameter(f"'q' is too long (at most {current_app.config['MAX_QUERY_CHARS']} characters)")
    return jsonify({"query": q, "suggestions": service().suggest(q) if q.strip() else []})


@api.get("/api/articles/<doc_id>")
def api_article(doc_id: str) -> Response:
    article = service().article(doc_id, request.args.get("q", ""))
    if article is None:
        raise NotFound(f"no article with id {doc_id!r}")
    article["published"] = article["published"].date().isoformat() if article.get("published") else None
    article["related"] = [h.as_json() for h in service().related(doc_id)]
    return jsonify(article)


@api.get("/api/openapi.json")
def api_openapi() -> Response:
    from searchsvc.web.openapi import document

    return jsonify(document())


# The templates the HTML pages render (search.html and article.html extend base.html; every page error is error.html).
PAGE_TEMPLATES = ("base.html", "search.html", "article.html", "error.html")


def templates_problem(app: Flask) -> str | None:
    """Why the HTML pages cannot be rendered (a template that does not load), or None.

    A package installed without its templates answers every page with an error while the index is fine, so
    /healthz checks them too. Jinja keeps the templates it loaded (outside debug), so a success is remembered for
    the process; a failure is looked at again on the next call (a few ``stat`` calls): a repaired install is seen
    without a restart.
    """
    if app.extensions.get("searchsvc.templates_ok"):
        return None
    failed: list[str] = []
    for name in PAGE_TEMPLATES:
        try:
            app.jinja_env.get_template(name)
        except Exception as exc:  # TemplateNotFound, a syntax error, an unreadable file: the page fails the same way
            failed.append(name if isinstance(exc, TemplateNotFound) else f"{name} ({exc})")
    if not failed:
        app.extensions["searchsvc.templates_ok"] = True
        return None
    return (f"the page templates cannot be loaded from {app.template_folder}: {', '.join(failed)}; "
            "the HTML pages cannot be served")


@api.get("/healthz")
def healthz() -> Response:
    """200 with status "ok" or "degraded" (and its problems); 503 in the error shape when the index cannot be
    served or the pages' templates cannot be loaded, so that a load balancer takes the instance out."""
    broken = templates_problem(current_app)
    try:
        health = service().health()
    except IndexUnavailable as exc:
        if broken is None:
            raise
        return error_response(503, f"the search index is not available: {exc}; {broken}")
    if broken is not None:
        # The index is not the problem: say so, with what a 200 would have reported.
        return error_response(503, f"{broken} (the index itself is served: generation {health['generation']}, "
                                   f"{health['documents']} documents)")
    return jsonify(health)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(BadParameter)
    @app.errorhandler(QueryError)
    def bad_request(exc: Exception):
        return error_response(400, str(exc))

    @app.errorhandler(IndexUnavailable)
    def unavailable(exc: IndexUnavailable):
        return error_response(503, f"the search index is not available: {exc}")

    @app.errorhandler(ArticleHidden)
    def gone(exc: ArticleHidden):
        """Taken down on purpose (searchsvc hide): 410 tells caches and crawlers to drop it, unlike 404."""
        return error_response(410, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def internal(exc: Exception):
        app.logger.exception("unhandled error")
        return error_response(500, "internal error; it has been logged")
