"""CORS for the JSON API: other sites' pages may call /api/* from the browser, only from the origins configured.

``CORS_ORIGINS`` is empty by default: no Access-Control-* header anywhere. With origins configured, a request
from one of them gets ``Access-Control-Allow-Origin`` on /api/* (answers, errors and preflights alike), any other
origin gets none, pages and /healthz never do, and every /api/* answer says ``Vary: Origin``.

Checked twice: through Flask's test client, and in headless Chromium, where a page served from one origin
(``http://127.0.0.1:PORT1``) fetches /api/search from the service on another port, which is another origin.
The browser tests skip exactly as tests/test_browser.py does (they import it) when Chromium or Playwright is
missing, and use its launcher.
"""

from __future__ import annotations

import importlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import serve

from searchsvc import config, create_app

A = "http://a.example"
B = "http://b.example"
STRANGER = "http://evil.example"
QUERY = "/api/search?q=ha+noi"


@pytest.fixture
def no_cors_env(isolated_config: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Only the built-in defaults and what a test sets."""
    for name in ("SEARCHSVC_CORS_ORIGINS", "SEARCHSVC_PROXY_COUNT", "SEARCHSVC_INDEX"):
        monkeypatch.delenv(name, raising=False)
    return isolated_config


def make_client(tmp_index: Path, **overrides):
    return create_app({"INDEX_DIR": str(tmp_index), "TESTING": True, **overrides}).test_client()


def preflight(client, path: str, origin: str, method: str = "GET", headers: str | None = None):
    extra = {"Access-Control-Request-Headers": headers} if headers else {}
    return client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": method, **extra})


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


# --- through the test client ----------------------------------------------------------------------


def test_off_by_default(tmp_index: Path, no_cors_env: Path) -> None:
    client = make_client(tmp_index)
    assert client.application.config["CORS_ORIGINS"] == []
    for origin in (A, STRANGER, "null", "http://127.0.0.1:5000"):
        for response in (client.get(QUERY, headers={"Origin": origin}),
                         client.get("/api/search", headers={"Origin": origin}),
                         client.get("/api/suggest?q=ha", headers={"Origin": origin}),
                         preflight(client, QUERY, origin, headers="X-Requested-With")):
            assert cors_headers(response) == {}, (origin, response.request.path)


@pytest.fixture(params=[[A], [A, B]], ids=["one-origin", "two-origins"])
def cors_client(request, tmp_index: Path, no_cors_env: Path):
    """CORS on for A (and B): flask-cors on its own adds Vary: Origin only with more than one origin."""
    return make_client(tmp_index, CORS_ORIGINS=request.param)


def test_allowed_origin_gets_acao_on_answers(cors_client) -> None:
    for path in (QUERY, "/api/suggest?q=ha+n", "/api/openapi.json"):
        response = cors_client.get(path, headers={"Origin": A})
        assert response.status_code == 200, path
        assert response.headers["Access-Control-Allow-Origin"] == A
        assert "Access-Control-Allow-Credentials" not in response.headers  # no cookies: the API has none
        assert "Origin" in response.vary
    assert cors_client.get(QUERY, headers={"Origin": A}).get_json()["total"] > 0


def test_allowed_origin_can_read_errors(cors_client) -> None:
    """A cross-site caller reads the message of a 400 (and a 404) instead of an opaque network error."""
    for path, status in (("/api/search", 400), ("/api/search?q=x&per_page=500", 400), ("/api/articles/nope", 404)):
        response = cors_client.get(path, headers={"Origin": A})
        assert response.status_code == status
        assert response.headers["Access-Control-Allow-Origin"] == A
        assert "Origin" in response.vary
        assert response.get_json()["error"]["status"] == status


def test_preflight_from_allowed_origin(cors_client) -> None:
    response = preflight(cors_client, QUERY, A)
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == A
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert "GET" in methods and not methods & {"POST", "PUT", "PATCH", "DELETE"}
    assert response.headers["Access-Control-Max-Age"] == "3600"
    assert "Origin" in response.vary


def test_preflight_allows_the_headers_a_page_asks_for(cors_client) -> None:
    """Our choice: any requested header is allowed (flask-cors's default). The API reads none, so a page that
    sends X-Requested-With or a header of its own gets its answer rather than a CORS failure."""
    for asked in ("X-Requested-With", "X-Foo", "X-Foo, Content-Type"):
        response = preflight(cors_client, QUERY, A, headers=asked)
        allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
        assert allowed == {h.strip().lower() for h in asked.split(",")}
        assert response.headers["Access-Control-Allow-Origin"] == A


def test_preflight_for_a_method_the_api_has_not(cors_client) -> None:
    """POST is not allowed: no Access-Control-Allow-Methods, so the browser refuses to send it."""
    response = preflight(cors_client, QUERY, A, method="POST")
    assert "Access-Control-Allow-Methods" not in response.headers


def test_refused_origin_gets_no_acao(cors_client) -> None:
    for response in (cors_client.get(QUERY, headers={"Origin": STRANGER}),
                     cors_client.get("/api/search", headers={"Origin": STRANGER}),
                     cors_client.get("/api/suggest?q=ha", headers={"Origin": STRANGER}),
                     preflight(cors_client, QUERY, STRANGER, headers="X-Foo"),
                     cors_client.get(QUERY, headers={"Origin": A + ".evil.example"}),
                     cors_client.get(QUERY, headers={"Origin": "https://a.example"})):
        assert cors_headers(response) == {}
        assert "Origin" in response.vary  # a cache must not hand this answer to A, nor A's to this origin


def test_no_origin_no_acao(cors_client) -> None:
    """A request without Origin (curl, a server) is no cross-site browser call: nothing to allow, and the list
    of allowed origins is not given away."""
    response = cors_client.get(QUERY)
    assert response.status_code == 200
    assert cors_headers(response) == {}
    assert "Origin" in response.vary


def test_pages_and_healthz_never(cors_client) -> None:
    for path in ("/", "/?q=ha+noi", "/healthz", "/static/site.css", "/no-such-page"):
        for response in (cors_client.get(path, headers={"Origin": A}), preflight(cors_client, path, A)):
            assert cors_headers(response) == {}, path
            assert "Origin" not in response.vary, path


def test_env_var_lists_origins(tmp_index: Path, no_cors_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCHSVC_CORS_ORIGINS", f"{A}, {B}")
    client = make_client(tmp_index)
    assert config.origins(client.application.config["CORS_ORIGINS"]) == [A, B]
    assert client.get(QUERY, headers={"Origin": A}).headers["Access-Control-Allow-Origin"] == A
    assert client.get(QUERY, headers={"Origin": B}).headers["Access-Control-Allow-Origin"] == B
    assert "Access-Control-Allow-Origin" not in client.get(QUERY, headers={"Origin": STRANGER}).headers


def test_instance_config_string_and_trailing_slash(tmp_index: Path, no_cors_env: Path) -> None:
    """instance/config.py may give one string; an origin written with a trailing slash still matches."""
    instance = no_cors_env / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(f'CORS_ORIGINS = "{A}/ {B}"\n', encoding="utf-8")
    client = make_client(tmp_index)
    assert config.origins(client.application.config["CORS_ORIGINS"]) == [A, B]
    assert client.get(QUERY, headers={"Origin": A}).headers["Access-Control-Allow-Origin"] == A


# --- in a real browser ----------------------------------------------------------------------------

# The other site's page: a function that fetches a URL and reports what the page's script could read, also into
# the page itself. A fetch refused by CORS rejects with a TypeError; the response is never readable.
OTHER_SITE_PAGE = b"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Another site</title></head>
<body><p id="result">not yet</p>
<script>
window.callApi = async (url, headers) => {
  let result;
  try {
    const response = await fetch(url, {headers: headers || {}});
    const body = await response.json();
    result = {ok: true, status: response.status, total: body.total,
              title: body.hits && body.hits.length ? body.hits[0].title : null,
              error: body.error ? body.error.message : null};
  } catch (e) {
    result = {ok: false, name: e.name, message: e.message};
  }
  document.getElementById("result").textContent = JSON.stringify(result);
  return result;
};
</script></body></html>
"""


def other_site(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [OTHER_SITE_PAGE]


class Recorder:
    """WSGI middleware noting each request the service received (method, path, asked headers) and its status."""

    def __init__(self, app) -> None:
        self.app = app
        self.seen: list[tuple[str, str, str | None, str]] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        def record(status, headers, *rest):
            with self.lock:
                self.seen.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                                  environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS"), status.split()[0]))
            return start_response(status, headers, *rest)

        return self.app(environ, record)


@pytest.fixture(scope="module")
def browser():
    """A Chromium context from tests/test_browser.py's launcher; skipped as that module skips."""
    tb = importlib.import_module("test_browser")
    with tb.sync_playwright() as playwright:
        context, profile = tb.launch(playwright)
        yield context
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def sites(tmp_index: Path, tmp_path_factory) -> Iterator[dict]:
    """The other site's page on one origin; the service on two other ports: one allowing the page's origin, one
    configured for a different origin only."""
    with serve(other_site) as page_url:
        allowing = create_app({"INDEX_DIR": str(tmp_index), "CORS_ORIGINS": [page_url]})
        refusing = create_app({"INDEX_DIR": str(tmp_index), "CORS_ORIGINS": ["http://127.0.0.1:1"]})
        allowing.wsgi_app = Recorder(allowing.wsgi_app)
        refusing.wsgi_app = Recorder(refusing.wsgi_app)
        with serve(allowing) as allowing_url, serve(refusing) as refusing_url:
            yield {"page": page_url, "allowing": (allowing_url, allowing.wsgi_app),
                   "refusing": (refusing_url, refusing.wsgi_app)}


@pytest.fixture
def other_page(browser, sites):
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(sites["page"] + "/")
    page.console_messages = console
    yield page
    page.close()


def call(page, url: str, headers: dict[str, str] | None = None) -> dict:
    result = page.evaluate("([url, headers]) => window.callApi(url, headers)", [url, headers])
    assert page.text_content("#result") != "not yet"
    return result


def test_browser_allowed_origin_reads_hits(other_page, sites) -> None:
    base, recorder = sites["allowing"]
    assert base.rsplit(":", 1)[1] != sites["page"].rsplit(":", 1)[1]  # another port: another origin
    before = len(recorder.seen)
    result = call(other_page, base + "/api/search?q=ha+noi&per_page=3")
    assert result["ok"] is True, result
    assert result["status"] == 200 and result["total"] > 0 and result["title"]
    assert '"ok":true' in other_page.text_content("#result")
    assert [m for m, _, _, _ in recorder.seen[before:]] == ["GET"]  # a simple request: no preflight


def test_browser_allowed_origin_reads_an_error(other_page, sites) -> None:
    base, _ = sites["allowing"]
    result = call(other_page, base + "/api/search?q=x&per_page=500")
    assert result["ok"] is True and result["status"] == 400, result
    assert "per_page" in result["error"]


def test_browser_preflighted_request_allowed(other_page, sites) -> None:
    """A header outside the CORS-safelisted ones makes Chromium ask first (OPTIONS), then send the GET."""
    base, recorder = sites["allowing"]
    before = len(recorder.seen)
    result = call(other_page, base + "/api/suggest?q=ha+n", {"X-Requested-With": "XMLHttpRequest"})
    assert result["ok"] is True and result["status"] == 200, result
    seen = [(m, asked, status) for m, path, asked, status in recorder.seen[before:] if path == "/api/suggest"]
    assert seen == [("OPTIONS", "x-requested-with", "200"), ("GET", None, "200")]


def test_browser_refused_origin_fails(other_page, sites) -> None:
    """The service answered (200), but the browser keeps the answer from the page: TypeError, CORS."""
    base, recorder = sites["refusing"]
    before = len(recorder.seen)
    result = call(other_page, base + "/api/search?q=ha+noi&per_page=3")
    assert result == {"ok": False, "name": "TypeError", "message": "Failed to fetch"}
    assert [(m, status) for m, path, _, status in recorder.seen[before:]] == [("GET", "200")]
    other_page.wait_for_timeout(200)  # console messages arrive asynchronously
    assert any("CORS policy" in text for text in other_page.console_messages), other_page.console_messages


def test_browser_refused_origin_preflight_fails(other_page, sites) -> None:
    """Refused at the preflight: the GET itself is never sent."""
    base, recorder = sites["refusing"]
    before = len(recorder.seen)
    result = call(other_page, base + "/api/suggest?q=ha+n", {"X-Requested-With": "XMLHttpRequest"})
    assert result["ok"] is False and result["name"] == "TypeError", result
    assert [m for m, path, _, _ in recorder.seen[before:] if path == "/api/suggest"] == ["OPTIONS"]
