"""The OpenAPI 3.1 description of the JSON API, served at /api/openapi.json.

Written as data beside the code it describes (limits come from the same
constants), and checked against real responses by the tests.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from searchsvc.engine.search import MAX_PER_PAGE, SORTS

_NULLABLE_STR = {"type": ["string", "null"]}

_ERROR = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "message"],
            "additionalProperties": False,
            "properties": {"status": {"type": "integer", "minimum": 400, "maximum": 599},
                           "message": {"type": "string", "minLength": 1}},
        }
    },
}

_HIT = {
    "type": "object",
    "required": ["id", "title", "url", "category", "source", "published", "views", "score", "title_html",
                 "snippet_html"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "url": {"type": "string"},
        "category": {"type": "string"},
        "source": {"type": "string"},
        "published": {"type": ["string", "null"], "format": "date"},
        "views": {"type": ["integer", "null"]},
        "score": {"type": "number"},
        "title_html": {"type": "string", "description": "escaped text; only <mark> is markup"},
        "snippet_html": {"type": "string", "description": "escaped text; only <mark> is markup"},
    },
}

_FACET = {
    "type": "array",
    "items": {"type": "object", "required": ["value", "count"], "additionalProperties": False,
              "properties": {"value": {"type": "string"}, "count": {"type": "integer", "minimum": 1}}},
}

_SEARCH = {
    "type": "object",
    "required": ["query", "total", "page", "per_page", "took_ms", "hits", "facets", "suggestion", "rewritten",
                 "expanded"],
    "additionalProperties": False,
    "properties": {
        "query": {"type": "string"},
        "total": {"type": "integer", "minimum": 0},
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
        "took_ms": {"type": "number", "minimum": 0},
        "hits": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
        "facets": {"type": "object", "required": ["category", "source", "year"], "additionalProperties": False,
                   "properties": {name: {"$ref": "#/components/schemas/Facet"} for name in ("category", "source",
                                                                                          "year")}},
        "suggestion": {"oneOf": [{"type": "null"}, {
            "type": "object", "required": ["text", "html"], "additionalProperties": False,
            "properties": {"text": {"type": "string"}, "html": {"type": "string"}}}]},
        "rewritten": {"oneOf": [{"type": "null"}, {
            "type": "object", "required": ["typed", "text", "html", "kinds"], "additionalProperties": False,
            "description": "The query as it was searched, when words typed were read as others: Telex or VNI keys "
                           "decoded (Haf Nooij: Hà Nội), typos corrected (Hà Nôi: Hà Nội). html marks the words "
                           "read differently; search again with verbatim=1 for the words exactly as typed.",
            "properties": {"typed": {"type": "string"}, "text": {"type": "string"}, "html": {"type": "string"},
                           "kinds": {"type": "array", "items": {"enum": ["telex", "vni", "typo"]}}}}]},
        "expanded": {"type": "array", "description": "Abbreviations typed that were also searched spelled out "
                                                     "(UBND: ủy ban nhân dân), from the built-in and the operator's "
                                                     "synonyms.",
                     "items": {"type": "object", "required": ["typed", "also"], "additionalProperties": False,
                               "properties": {"typed": {"type": "string"}, "also": {"type": "string"}}}},
    },
}

_ARTICLE = {
    "type": "object",
    "required": ["id", "title", "sapo", "body", "category", "source", "url", "published", "title_html", "sapo_html",
                 "body_html", "related"],
    "properties": {
        "id": {"type": "string"}, "title": {"type": "string"}, "sapo": {"type": "string"},
        "body": {"type": "string"}, "category": {"type": "string"}, "source": {"type": "string"},
        "url": {"type": "string"}, "published": {"type": ["string", "null"], "format": "date"},
        "views": {"type": ["integer", "null"]},
        "title_html": {"type": "string"}, "sapo_html": {"type": "string"}, "body_html": {"type": "string"},
        "related": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
    },
}


_HEALTH = {
    "type": "object",
    "required": ["status", "documents", "generation", "built_at", "problems"],
    "additionalProperties": False,
    "properties": {
        "status": {"enum": ["ok", "degraded"], "description": "degraded: serving, but see problems"},
        "documents": {"type": "integer", "minimum": 0},
        "generation": {"type": "integer", "minimum": 1, "description": "the generation served"},
        "built_at": _NULLABLE_STR,
        "problems": {"type": "array", "items": {"type": "string", "minLength": 1},
                     "description": "what an operator should fix, in plain words; empty when status is ok"},
    },
}


def _param(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _answers(ok: str, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {"schema": {
        "$ref": f"#/components/schemas/{ok}"}}}}}
    for status in errors:
        out[str(status)] = {"$ref": "#/components/responses/Error"}
    return out


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "searchsvc", "version": version("searchsvc"),
                 "description": "Full-text search for Vietnamese news. Every error has the Error shape. Pages of "
                                "other sites may call it from the browser when the deployment lists their origins "
                                "(CORS_ORIGINS): GET, answers and errors alike."},
        "paths": {
            "/api/search": {"get": {
                "summary": "Ranked, highlighted, faceted search",
                "parameters": [
                    _param("q", {"type": "string"}, "the query; syntax: \"phrase\", -word, OR, title:, category:, "
                           "source:; required unless a filter is given"),
                    _param("page", {"type": "integer", "minimum": 1, "default": 1}, "page number"),
                    _param("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 10},
                           "hits per page"),
                    _param("sort", {"type": "string", "enum": list(SORTS), "default": "relevance"}, "order"),
                    _param("category", {"type": "string"}, "only this section"),
                    _param("source", {"type": "string"}, "only this source"),
                    _param("from", {"type": "string", "format": "date"}, "published on or after (YYYY-MM-DD)"),
                    _param("to", {"type": "string", "format": "date"}, "published on or before (YYYY-MM-DD)"),
                    _param("verbatim", {"type": "string", "enum": ["", "0", "1", "false", "true"]},
                           "1: search the words exactly as typed (no Telex/VNI decoding, no typo correction, "
                           "no synonyms)"),
                ],
                "responses": _answers("SearchResult", 400, 503),
            }},
            "/api/suggest": {"get": {
                "summary": "Titles continuing a typed prefix (autocomplete)",
                "parameters": [_param("q", {"type": "string"}, "what was typed so far", required=True)],
                "responses": _answers("Suggestions", 400, 503),
            }},
            "/api/articles/{doc_id}": {"get": {
                "summary": "One article, its text marked for q, and related articles",
                "parameters": [
                    {"name": "doc_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    _param("q", {"type": "string"}, "terms to mark"),
                ],
                "responses": _answers("Article", 404, 410, 503),  # 410: taken down (searchsvc hide)
            }},
            "/healthz": {"get": {
                "summary": "Service and index state",
                "description": "200 while a generation is served: status \"ok\", or \"degraded\" with the "
                               "problems to fix (CURRENT broken and an older intact generation served, the last "
                               "reindex failed, the index's file system full or read-only). 503, in the Error "
                               "shape naming the problems, when the pages cannot be answered: no generation can be "
                               "served, or the page templates cannot be loaded. An empty index (0 documents) is "
                               "a normal state.",
                "responses": _answers("Health", 503)}},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {
                "description": "OpenAPI 3.1", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["openapi", "info", "paths"]}}}}}}},
        },
        "components": {
            "schemas": {
                "Error": _ERROR,
                "Hit": _HIT,
                "Facet": _FACET,
                "SearchResult": _SEARCH,
                "Article": _ARTICLE,
                "Suggestions": {"type": "object", "required": ["query", "suggestions"], "additionalProperties": False,
                                "properties": {"query": {"type": "string"},
                                               "suggestions": {"type": "array", "items": {"type": "string"}}}},
                "Health": _HEALTH,
            },
            "responses": {"Error": {"description": "Any error", "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/Error"}}}}},
        },
    }
