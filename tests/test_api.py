"""The JSON API through Flask's test client and through a real HTTP server (werkzeug, 127.0.0.1, a free port).

Known bugs are ``xfail(strict=True)`` with the reason starting ``BUG:``.
"""

from __future__ import annotations

import json
import re
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path

import pytest
from conftest import serve

from searchsvc import create_app
from searchsvc.index.indexer import reindex

README = Path(__file__).resolve().parents[1] / "README.md"

HIT_KEYS = {"id", "title", "url", "category", "source", "published", "views", "score", "title_html", "snippet_html"}
SEARCH_KEYS = {"query", "total", "page", "per_page", "took_ms", "hits", "facets", "suggestion", "rewritten", "expanded"}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_search_shape(body: dict) -> None:
    """Exactly the documented shape of /api/search, with the documented types."""
    assert set(body) == SEARCH_KEYS
    assert isinstance(body["query"], str)
    for name in ("total", "page", "per_page"):
        assert type(body[name]) is int
    assert isinstance(body["took_ms"], int | float) and body["took_ms"] >= 0
    assert len(body["hits"]) <= body["per_page"]
    for hit in body["hits"]:
        assert set(hit) == HIT_KEYS
        for name in ("id", "title", "url", "category", "source", "title_html", "snippet_html"):
            assert isinstance(hit[name], str), name
        assert hit["published"] is None or ISO_DATE.match(hit["published"])
        assert hit["views"] is None or type(hit["views"]) is int
        assert isinstance(hit["score"], int | float)
    assert set(body["facets"]) == {"category", "source", "year"}
    for entries in body["facets"].values():
        for entry in entries:
            assert set(entry) == {"value", "count"}
            assert isinstance(entry["value"], str) and type(entry["count"]) is int and entry["count"] > 0
    suggestion = body["suggestion"]
    assert suggestion is None or (set(suggestion) == {"text", "html"}
                                  and all(isinstance(v, str) for v in suggestion.values()))


def check_error_shape(status: int, body: dict, expected_status: int) -> None:
    assert status == expected_status
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "message"}
    assert body["error"]["status"] == expected_status and type(body["error"]["status"]) is int
    assert isinstance(body["error"]["message"], str) and body["error"]["message"].strip()


# --- /api/search -----------------------------------------------------------------------------------


def test_search_shape_and_content(client):
    response = client.get("/api/search", query_string={"q": "ha noi ngap lut", "per_page": 3})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    check_search_shape(body)
    assert (body["query"], body["total"], body["page"], body["per_page"]) == ("ha noi ngap lut", 15, 1, 3)
    first = body["hits"][0]
    assert first == {
        "id": "demo-001",
        "title": "Hà Nội ngập lụt sau mưa lớn",
        "url": "https://example.vn/ha-noi-ngap-lut-sau-mua-lon",
        "category": "Thời sự",
        "source": "Báo Mẫu",
        "published": "2024-07-22",
        "views": 15230,
        "score": first["score"],
        "title_html": "<mark>Hà Nội ngập lụt</mark> sau mưa lớn",
        "snippet_html": first["snippet_html"],
    }
    assert "<mark>Hà Nội</mark>" in first["snippet_html"]
    assert body["suggestion"] == {
        "text": "Hà Nội ngập lụt",
        "html": "<mark>Hà</mark> <mark>Nội</mark> <mark>ngập</mark> <mark>lụt</mark>",
    }
    assert sum(f["count"] for f in body["facets"]["category"]) == body["total"]
    assert sum(f["count"] for f in body["facets"]["year"]) == body["total"]


def test_search_nulls(client):
    # demo-015 has no url and no views; a correct accented query has no suggestion.
    body = client.get("/api/search", query_string={"q": "Giao mùa, trẻ nhỏ dễ mắc bệnh hô hấp"}).get_json()
    check_search_shape(body)
    assert body["suggestion"] is None
    hit = body["hits"][0]
    assert (hit["id"], hit["url"], hit["views"], hit["published"]) == ("demo-015", "", None, "2023-09-25")


def test_search_parameters(client):
    def get(**params):
        response = client.get("/api/search", query_string=params)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        check_search_shape(body)
        return body

    whole = get(q="hà nội", per_page=50)
    page2 = get(q="hà nội", per_page=4, page=2)
    assert (page2["total"], page2["page"], page2["per_page"]) == (whole["total"], 2, 4)
    assert [h["id"] for h in page2["hits"]] == [h["id"] for h in whole["hits"][4:8]]
    newest = get(q="hà nội", sort="newest", per_page=50)
    assert [h["published"] for h in newest["hits"]] == sorted((h["published"] for h in newest["hits"]), reverse=True)
    sport = get(category="Thể thao", per_page=50)  # a filter alone, without q
    assert sport["total"] == 4 and {h["category"] for h in sport["hits"]} == {"Thể thao"}
    tin_pho = get(q="hà nội", source="Tin Phố")
    assert [h["id"] for h in tin_pho["hits"]] == ["demo-002", "demo-024"]
    flood = get(q="ngập", **{"from": "2024-07-22", "to": "2024-07-22"})
    assert [h["id"] for h in flood["hits"]] == ["demo-001"]
    both = get(q="ngập", **{"from": "2024-07-22", "to": "2024-07-23"})
    assert sorted(h["id"] for h in both["hits"]) == ["demo-001", "demo-002"]
    assert get(q="ngập", **{"from": date(2024, 7, 24).isoformat()})["total"] == 0


def test_nfd_query_string_gives_the_same_answer(client):
    nfc = client.get("/api/search", query_string={"q": "Hà Nội ngập lụt"}).get_json()
    nfd = client.get("/api/search", query_string={"q": unicodedata.normalize("NFD", "Hà Nội ngập lụt")}).get_json()
    assert [h["id"] for h in nfd["hits"]] == [h["id"] for h in nfc["hits"]]
    assert nfd["query"] == "Hà Nội ngập lụt"  # the echoed query is normalised


def test_query_length_limit(client):
    ok = client.get("/api/search", query_string={"q": ("hà nội " * 80)[:500]})
    assert ok.status_code == 200
    too_long = client.get("/api/search", query_string={"q": ("hà nội " * 80)[:501]})
    check_error_shape(too_long.status_code, too_long.get_json(), 400)


def test_query_length_limit_follows_configuration(tmp_index):
    client = create_app({"INDEX_DIR": str(tmp_index), "TESTING": True, "MAX_QUERY_CHARS": 20}).test_client()
    q = "hà nội ngập lụt sau mưa lớn"  # 27 characters
    assert client.get("/api/suggest", query_string={"q": q}).status_code == 400
    assert client.get("/api/search", query_string={"q": q}).status_code == 400


# --- /api/suggest, /api/articles/<id>, /healthz ----------------------------------------------------------


def test_suggest(client):
    body = client.get("/api/suggest", query_string={"q": "ha n"}).get_json()
    assert set(body) == {"query", "suggestions"}
    assert body["query"] == "ha n"
    assert body["suggestions"][:2] == ["Hà Nội", "Hà Nội ngập lụt sau mưa lớn"]
    assert all("hà nội" in t.lower() for t in body["suggestions"])
    assert client.get("/api/suggest", query_string={"q": ""}).get_json() == {"query": "", "suggestions": []}
    assert client.get("/api/suggest").get_json() == {"query": "", "suggestions": []}


def test_article(client):
    response = client.get("/api/articles/demo-001", query_string={"q": "ha noi"})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"id", "title", "sapo", "body", "category", "source", "url", "published", "views",
                         "title_html", "sapo_html", "body_html", "related"}
    assert (body["id"], body["published"], body["views"]) == ("demo-001", "2024-07-22", 15230)
    assert body["title_html"] == "<mark>Hà Nội</mark> ngập lụt sau mưa lớn"
    related = [h["id"] for h in body["related"]]
    assert related[0] == "demo-002" and "demo-001" not in related
    for hit in body["related"]:
        assert set(hit) == HIT_KEYS


def test_healthz(client):
    body = client.get("/healthz").get_json()
    assert set(body) == {"status", "documents", "generation", "built_at", "problems"}
    assert (body["status"], body["documents"], body["generation"], body["problems"]) == ("ok", 33, 1, [])


def test_reindex_is_picked_up_by_the_running_app(index_copy, tmp_path):
    client = create_app({"INDEX_DIR": str(index_copy), "TESTING": True}).test_client()
    assert client.get("/api/search", query_string={"q": '"khinh khí cầu"'}).get_json()["total"] == 0
    assert client.get("/healthz").get_json()["generation"] == 1
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "extra.jsonl").write_text(json.dumps({
        "id": "extra-001", "title": "Lễ hội khinh khí cầu lần đầu được tổ chức", "sapo": "", "body": "Khinh khí cầu.",
        "category": "Văn hóa", "source": "Báo Mẫu", "published": "2025-07-01", "url": "",
    }, ensure_ascii=False) + "\n", encoding="utf-8")
    reindex([extra], index_copy, jobs=1, echo=lambda m: None)
    body = client.get("/api/search", query_string={"q": '"khinh khí cầu"'}).get_json()
    assert [h["id"] for h in body["hits"]] == ["extra-001"]
    assert client.get("/api/articles/extra-001").status_code == 200
    health = client.get("/healthz").get_json()
    assert (health["generation"], health["documents"]) == (2, 34)


# --- errors: one shape, everywhere -------------------------------------------------------------------------

ERRORS = [
    # (which app, method, path, status, a word the message must contain)
    ("demo", "GET", "/api/search", 400, "q"),
    ("demo", "GET", "/api/search?q=%20%20", 400, "q"),
    ("demo", "GET", "/api/search?q=m%C6%B0a&per_page=51", 400, "per_page"),
    ("demo", "GET", "/api/search?q=m%C6%B0a&page=0", 400, "page"),
    ("demo", "GET", "/api/search?q=m%C6%B0a&page=abc", 400, "page"),
    ("demo", "GET", "/api/search?q=m%C6%B0a&page=99", 400, "beyond"),
    ("demo", "GET", "/api/search?q=m%C6%B0a&sort=bogus", 400, "sort"),
    ("demo", "GET", "/api/search?q=m%C6%B0a&from=2024-13-01", 400, "from"),
    ("demo", "GET", "/api/search?q=m%C6%B0a&from=2024-07-23&to=2024-07-22", 400, "from"),
    ("demo", "GET", "/api/search?q=" + "a" * 501, 400, "long"),
    ("demo", "GET", "/api/suggest?q=" + "a" * 501, 400, "long"),
    ("demo", "GET", "/api/articles/no-such-article", 404, "no-such-article"),
    ("demo", "GET", "/api/no-such-route", 404, ""),
    ("demo", "GET", "/api", 404, ""),
    ("demo", "POST", "/api/search?q=m%C6%B0a", 405, ""),
    ("demo", "POST", "/healthz", 405, ""),
    ("missing", "GET", "/api/search?q=m%C6%B0a", 503, "index"),
    ("missing", "GET", "/healthz", 503, "index"),
]


@pytest.fixture
def missing_index_client(tmp_path):
    return create_app({"INDEX_DIR": str(tmp_path / "no-index-here"), "TESTING": True}).test_client()


@pytest.mark.parametrize(("which", "method", "path", "status", "word"), ERRORS,
                         ids=[f"{m} {p[:50]} {s}" for _, m, p, s, _ in ERRORS])
def test_every_error_has_one_shape(request, which, method, path, status, word):
    client = request.getfixturevalue("client" if which == "demo" else "missing_index_client")
    response = client.open(path, method=method)
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:200]
    body = response.get_json()
    check_error_shape(response.status_code, body, status)
    assert word in body["error"]["message"]


# --- README documents every endpoint ----------------------------------------------------------------------


def _api_rules() -> list[str]:
    app = create_app({"INDEX_DIR": "unused-index-dir", "TESTING": True})
    return sorted({r.rule for r in app.url_map.iter_rules()
                   if r.rule in ("/api", "/healthz") or r.rule.startswith(("/api/", "/healthz/"))})


def _documented(rule: str, readme: str) -> bool:
    """The rule appears in README with any placeholder spelling: <id>, <doc_id>, {id} or :id."""
    pattern = r"(?:<[^>\s]+>|\{[^}\s]+\}|:\w+)".join(re.escape(p) for p in re.split(r"<[^>]+>", rule))
    return re.search(pattern + r"(?![\w/-])", readme) is not None


API_RULES = _api_rules()


@pytest.mark.parametrize("rule", API_RULES)
def test_endpoint_is_documented_in_readme(rule):
    assert _documented(rule, README.read_text(encoding="utf-8")), f"{rule} is served but README does not mention it"


def test_documented_check_finds_the_known_endpoints():
    assert {"/api/search", "/api/suggest", "/api/articles/<doc_id>", "/healthz"} <= set(API_RULES)
    assert _documented("/api/search", "`GET /api/search?q=`")
    assert _documented("/api/articles/<doc_id>", "GET /api/articles/<id>")
    assert not _documented("/api/search", "GET /api/searches")


# --- through a real HTTP server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_server(tmp_index):
    app = create_app({"INDEX_DIR": str(tmp_index), "TESTING": True})
    with serve(app) as url:
        yield url


def http_get(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers.get_content_type(), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get_content_type(), json.loads(exc.read())


def test_http_search(live_server, client):
    status, ctype, body = http_get(f"{live_server}/api/search?q=gia+duong&per_page=5")
    assert (status, ctype) == (200, "application/json")
    check_search_shape(body)
    assert body["hits"][0]["id"] == "demo-007"
    in_process = client.get("/api/search", query_string={"q": "gia duong", "per_page": 5}).get_json()
    assert [h["id"] for h in body["hits"]] == [h["id"] for h in in_process["hits"]]
    assert body["total"] == in_process["total"]


def test_http_error(live_server):
    status, ctype, body = http_get(f"{live_server}/api/search?q=x&per_page=51")
    assert ctype == "application/json"
    check_error_shape(status, body, 400)
    status, _, body = http_get(f"{live_server}/api/articles/no-such-article")
    check_error_shape(status, body, 404)


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_http_non_ascii_query(live_server, form):
    q = unicodedata.normalize(form, "Kỳ thủ Đường Minh Khang")
    status, _, body = http_get(f"{live_server}/api/search?" + urllib.parse.urlencode({"q": q}))
    assert status == 200
    check_search_shape(body)
    assert body["query"] == "Kỳ thủ Đường Minh Khang"
    assert body["hits"][0]["id"] == "demo-013"
    title = "Kỳ thủ Đường Minh Khang giành huy chương vàng cờ vua trẻ châu Á"
    assert body["hits"][0]["title_html"] == "<mark>Kỳ thủ Đường Minh Khang</mark>" + title.removeprefix(
        "Kỳ thủ Đường Minh Khang")
    prefix = unicodedata.normalize(form, "đường minh")
    status, _, body = http_get(f"{live_server}/api/suggest?" + urllib.parse.urlencode({"q": prefix}))
    assert status == 200 and body["suggestions"] == [title]


# --- the OpenAPI document describes what the API really answers ----------------------------------------------


def _validator(client, name: str):
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    doc = client.get("/api/openapi.json").get_json()
    resource = Resource.from_contents(doc | {"$schema": Draft202012Validator.META_SCHEMA["$id"]})
    registry = Registry().with_resource("urn:api", resource)
    return Draft202012Validator({"$ref": f"urn:api#/components/schemas/{name}"}, registry=registry)


def test_openapi_document_is_valid_and_lists_every_api_route(client, app):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    routes = {r.rule.replace("<", "{").replace(">", "}") for r in app.url_map.iter_rules()
              if r.rule.startswith("/api") or r.rule == "/healthz"}
    assert routes == set(doc["paths"])


@pytest.mark.parametrize(("url", "schema"), [
    ("/api/search?q=h%C3%A0+n%E1%BB%99i", "SearchResult"),
    ("/api/search?q=ha+noi+ngap+lut&per_page=3&page=2", "SearchResult"),
    ("/api/search?q=m%C6%B0a&sort=newest&from=2024-01-01&to=2024-12-31", "SearchResult"),
    ("/api/search?q=xyzzyqw", "SearchResult"),
    ("/api/suggest?q=ha+n", "Suggestions"),
    ("/api/articles/demo-001?q=ng%E1%BA%ADp", "Article"),
    ("/healthz", "Health"),
    ("/api/search?per_page=51&q=a", "Error"),
    ("/api/articles/nope", "Error"),
    ("/api/nowhere", "Error"),
])
def test_real_responses_match_the_openapi_document(client, url, schema):
    response = client.get(url)
    errors = sorted(_validator(client, schema).iter_errors(response.get_json()), key=str)
    assert not errors, [e.message for e in errors[:3]]
    assert (response.status_code >= 400) == (schema == "Error")
