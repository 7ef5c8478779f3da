"""The public search page through Flask's test client: every page state, errors, escaping, headers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from searchsvc import create_app
from searchsvc.engine.search import SearchRequest
from searchsvc.index.indexer import reindex
from searchsvc.web.pages import CONTENT_SECURITY_POLICY, marked, paragraphs, snippet, vn_datetime, vn_number

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "searchsvc" / "demo"
HOSTILE = Path(__file__).resolve().parent / "browser_fixtures" / "hostile.jsonl"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("pages-index")
    reindex([DEMO, HOSTILE], path, jobs=1, echo=lambda m: None)
    return path


@pytest.fixture(scope="module")
def app(index_dir):
    return create_app({"INDEX_DIR": str(index_dir), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def svc(app):
    return app.extensions["searchsvc"]


class Page(HTMLParser):
    """Just enough of an HTML page to check structure: tags with attributes, links, text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self._open_links: list[list] = []
        self.text_parts: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "a":
            self._open_links.append([attrs.get("href") or "", []])

    def handle_endtag(self, tag):
        if tag == "a" and self._open_links:
            href, text = self._open_links.pop()
            self.links.append((href, " ".join("".join(text).split())))

    def handle_data(self, data):
        self.text_parts.append(data)
        for link in self._open_links:
            link[1].append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def find(self, tag: str, **attrs) -> list[dict[str, str | None]]:
        out = []
        for t, a in self.tags:
            if t != tag:
                continue
            if all((a.get(k.rstrip("_")) == v) if v is not True else (k.rstrip("_") in a) for k, v in attrs.items()):
                out.append(a)
        return out

    def hrefs(self, containing: str = "") -> list[str]:
        return [h for h, text in self.links if containing in text]


def get(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.get_data(as_text=True)[:500])
    return response, Page(response.get_data(as_text=True))


def params(href: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(href).query)


def main_html(response) -> str:
    return re.search(r"<main.*</main>", response.get_data(as_text=True), re.S).group(0)


# --- the home page and the empty query ------------------------------------------------------


def test_home_page_has_an_accessible_search_form(client):
    response, page = get(client, "/")
    html = response.get_data(as_text=True)
    assert html.startswith("<!doctype html>")
    assert page.find("html", lang="vi")
    form = page.find("form", role="search")[0]
    assert form["action"] == "/" and form["method"] == "get"
    field = page.find("input", id="q")[0]
    assert field["name"] == "q" and field["type"] == "search"
    assert "autofocus" in field
    assert field["placeholder"].startswith("Nhập từ khóa")
    assert page.find("label", for_="q")
    assert page.find("header") and page.find("main") and page.find("footer")
    assert page.find("a", class_="skip-link", href="#main")
    assert "Tìm kiếm tin tức" in page.text
    assert page.find("link", rel="search", type="application/opensearchdescription+xml", href="/opensearch.xml")
    assert page.find("meta", name="viewport")
    # Only external scripts, no inline script or style, nothing from another origin.
    scripts = page.find("script")
    assert scripts and all(s.get("src", "").startswith("/static/") for s in scripts)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", html)


@pytest.mark.parametrize("url", ["/?q=", "/?q=%20%20%20", "/?q=&sort=newest"])
def test_empty_query_asks_for_words(client, url):
    _, page = get(client, url)
    assert "Hãy nhập từ khóa để tìm kiếm" in page.text
    assert "autofocus" in page.find("input", id="q")[0]
    assert page.hrefs("Hà Nội ngập lụt")  # examples to try


# --- results ------------------------------------------------------------------------------------


def test_results_show_highlighted_titles_snippets_and_metadata(client, svc):
    expected = svc.search(SearchRequest(q="hà nội"))
    response, page = get(client, "/?q=h%C3%A0+n%E1%BB%99i")
    html = main_html(response)
    assert f"Tìm thấy {vn_number(expected.total)} kết quả" in page.text
    assert "giây" in page.text
    assert page.find("input", id="q")[0]["value"] == "hà nội"
    assert "autofocus" not in page.find("input", id="q")[0]
    assert page.find("meta", name="robots", content="noindex, follow")
    hits = re.findall(r'<li class="hit">.*?</li>\s*(?=<li class="hit">|</ol>)', html, re.S)
    assert len(hits) == len(expected.hits) == 10
    first = expected.hits[0]
    assert '<mark>Hà Nội</mark>' in hits[0]
    assert f'href="{first.url}"' in hits[0]
    assert first.category in hits[0] and first.source in hits[0]
    assert f'<time datetime="{first.published:%Y-%m-%dT%H:%M}">{first.published:%d/%m/%Y}</time>' in hits[0]
    assert 'class="hit-snippet"' in hits[0] and "<mark>" in hits[0].split('class="hit-snippet"')[1]
    # Results in the order of the search layer.
    titles = re.findall(r'<h3 class="hit-title"><a href="[^"]*">(.*?)</a></h3>', html)
    assert [re.sub(r"</?mark>", "", t) for t in titles] == [h.title for h in expected.hits]


def test_result_without_url_links_to_the_article_page(client):
    _, page = get(client, "/?q=giao+m%C3%B9a+h%C3%B4+h%E1%BA%A5p")
    href = page.hrefs("Giao mùa")[0]
    assert urlsplit(href).path == "/articles/demo-015"
    assert params(href)["q"] == ["giao mùa hô hấp"]


def test_search_without_diacritics_finds_and_marks_accented_text(client):
    response, page = get(client, "/?q=ha+noi+ngap+lut")
    assert "<mark>Hà Nội ngập lụt</mark>" in main_html(response)
    assert page.hrefs("Hà Nội ngập lụt sau mưa lớn")


def test_no_results_is_a_helpful_page(client):
    _, page = get(client, "/?q=xyzzyqw")
    assert "Không tìm thấy kết quả cho xyzzyqw" in page.text
    assert "Kiểm tra lại chính tả" in page.text
    assert not page.find("nav", class_="pager")
    assert page.hrefs("giá đường")


def test_facets_are_filter_links_with_counts(client, svc):
    expected = svc.search(SearchRequest(q="hà nội"))
    response, page = get(client, "/?q=h%C3%A0+n%E1%BB%99i")
    html = main_html(response)
    assert page.find("aside", class_="facets")
    for name, label in (("category", "Chuyên mục"), ("source", "Nguồn"), ("year", "Năm")):
        assert f">{label}</h3>" in html
        for entry in expected.facets[name]:
            href = next(h for h, text in page.links if text.startswith(f"{entry['value']} , {entry['count']} kết quả"))
            got = params(href)
            assert got["q"] == ["hà nội"] and "page" not in got
            if name == "year":
                assert got["from"] == [f"{entry['value']}-01-01"] and got["to"] == [f"{entry['value']}-12-31"]
            else:
                assert got[name] == [entry["value"]]


def test_applying_and_removing_a_facet(client, svc):
    expected = svc.search(SearchRequest(q="hà nội", category="Thời sự"))
    response, page = get(client, "/?q=h%C3%A0+n%E1%BB%99i&category=Th%E1%BB%9Di+s%E1%BB%B1")
    assert f"Tìm thấy {vn_number(expected.total)} kết quả" in page.text
    html = main_html(response)
    assert html.count('class="hit-category"') == expected.total
    assert set(re.findall(r'class="hit-category"[^>]*>([^<]*)<', html)) == {"Thời sự"}
    # The filter is shown, marked current in the facet list, and both link to its removal.
    assert "Chuyên mục: Thời sự" in page.text
    chip = page.find("a", class_="chip")[0]["href"]
    active = page.find("a", class_="active")[0]
    assert active["aria-current"] == "true"
    for href in (chip, active["href"]):
        assert params(href) == {"q": ["hà nội"]}


def test_year_facet_and_several_filters(client):
    url = "/?q=h%C3%A0+n%E1%BB%99i&category=Th%E1%BB%9Di+s%E1%BB%B1&from=2024-01-01&to=2024-12-31"
    response, page = get(client, url)
    assert "Năm: 2024" in page.text
    assert set(re.findall(r'<time datetime="(\d{4})', main_html(response))) == {"2024"}
    clear = page.hrefs("Bỏ tất cả bộ lọc")[0]
    assert params(clear) == {"q": ["hà nội"]}
    year_chip = next(h for h, text in page.links if text.startswith("Năm: 2024"))
    assert params(year_chip) == {"q": ["hà nội"], "category": ["Thời sự"]}


def test_browse_a_section_without_words(client, svc):
    expected = svc.search(SearchRequest(q="", category="Thể thao"))
    _, page = get(client, "/?category=Th%E1%BB%83+thao")
    assert "Tin theo bộ lọc" in page.text
    assert f"Tìm thấy {vn_number(expected.total)} kết quả" in page.text


def test_sort_by_newest(client, svc):
    response, page = get(client, "/?q=h%C3%A0+n%E1%BB%99i&sort=newest&per_page=5")
    dates = re.findall(r'<time datetime="([^"]+)"', main_html(response))
    assert dates == sorted(dates, reverse=True)
    current = page.find("a", class_="current", **{"aria-current": "true"})[0]
    assert params(current["href"])["sort"] == ["newest"]
    relevance = page.hrefs("Liên quan nhất")[0]
    assert "sort" not in params(relevance)
    # A new search from this page keeps the sort, and so do the pages.
    assert page.find("input", type="hidden", name="sort", value="newest")
    assert params(page.find("a", class_="pager-next")[0]["href"])["sort"] == ["newest"]


def test_pagination_keeps_query_filters_and_sort(client, svc):
    base = "/?q=h%C3%A0+n%E1%BB%99i&category=Th%E1%BB%9Di+s%E1%BB%B1&per_page=2"
    total = svc.search(SearchRequest(q="hà nội", category="Thời sự")).total
    pages_total = -(-total // 2)
    assert pages_total >= 3
    _, page = get(client, base)
    assert f"Trang 1/{pages_total}" in page.text
    nav = page.find("nav", class_="pager")
    assert nav and nav[0]["aria-label"] == "Phân trang"
    next_href = page.find("a", class_="pager-next")[0]["href"]
    assert params(next_href) == {"q": ["hà nội"], "category": ["Thời sự"], "per_page": ["2"], "page": ["2"]}
    response, page2 = get(client, next_href)
    assert f"Trang 2/{pages_total}" in page2.text
    assert page2.find("a", class_="current", **{"aria-current": "page"})
    assert '<ol class="hit-list" start="3">' in main_html(response)
    prev_href = page2.find("a", class_="pager-prev")[0]["href"]
    assert "page" not in params(prev_href) and params(prev_href)["category"] == ["Thời sự"]
    # Changing a filter or the sort goes back to page 1.
    for href in [a["href"] for a in page2.find("a", class_="chip")] + page2.hrefs("Mới nhất"):
        assert "page" not in params(href) and params(href)["q"] == ["hà nội"]


def test_page_beyond_the_last_is_a_helpful_404(client, svc):
    total = svc.search(SearchRequest(q="hà nội")).total
    last = -(-total // 10)
    _, page = get(client, "/?q=h%C3%A0+n%E1%BB%99i&page=999", status=404)
    assert "Không có trang 999" in page.text
    assert f"có {vn_number(total)} kết quả" in page.text
    href = page.hrefs("Xem trang cuối")[0]
    assert params(href) == {"q": ["hà nội"], "page": [str(last)]}
    get(client, href)


def test_did_you_mean_restores_diacritics_and_keeps_filters(client):
    response, page = get(client, "/?q=ha+noi+ngap+lut&category=Th%E1%BB%9Di+s%E1%BB%B1&page=1")
    assert "Bạn có muốn tìm: Hà Nội ngập lụt" in page.text
    assert params(page.hrefs("Hà Nội ngập lụt")[0]) == {"q": ["Hà Nội ngập lụt"], "category": ["Thời sự"]}
    assert "<mark>Hà</mark>" in main_html(response)


def test_no_suggestion_no_did_you_mean(client):
    _, page = get(client, "/?q=h%C3%A0+n%E1%BB%99i")
    assert "Bạn có muốn tìm" not in page.text


# --- bad requests and server trouble ----------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("q=" + "a" * 600, "Từ khóa tìm kiếm quá dài (600 ký tự)"),
        ("q=x&per_page=500", "Số kết quả mỗi trang phải từ 1 đến 50"),
        ("q=x&per_page=0", "Số kết quả mỗi trang phải từ 1 đến 50"),
        ("q=x&page=abc", "Số trang phải là một số nguyên"),
        ("q=x&page=0", "Số trang phải từ 1 trở lên"),
        ("q=x&sort=popular", "Cách sắp xếp không hợp lệ"),
        ("q=x&from=22-07-2024", "Ngày bắt đầu phải có dạng năm-tháng-ngày"),
        ("q=x&from=2024-12-01&to=2024-01-01", "Ngày bắt đầu không được sau ngày kết thúc"),
    ],
)
def test_bad_requests_get_a_vietnamese_400_page(client, query, message):
    response, page = get(client, "/?" + query, status=400)
    assert response.content_type.startswith("text/html")
    assert "Không thể tìm kiếm với yêu cầu này" in page.text
    assert message in page.text
    assert "Traceback" not in page.text and "Error" not in page.text
    assert page.find("input", id="q")  # the search box is there to try again
    if "per_page" in query or "sort" in query:
        assert params(page.hrefs("Tìm lại với các thiết lập mặc định")[0]) == {"q": ["x"]}


def test_query_error_from_the_search_layer_is_a_400_page(client, svc, monkeypatch):
    from searchsvc.engine.query import QueryError

    def refuse(req):
        raise QueryError("query is not searchable")

    monkeypatch.setattr(svc, "search", refuse)
    response, page = get(client, "/?q=x", status=400)
    assert "Từ khóa hoặc bộ lọc không hợp lệ" in page.text
    assert "not searchable" not in page.text


def test_index_unavailable_is_a_503_page_and_the_api_stays_json(tmp_path):
    app = create_app({"INDEX_DIR": str(tmp_path / "none"), "TESTING": True})
    client = app.test_client()
    response, page = get(client, "/?q=h%C3%A0+n%E1%BB%99i", status=503)
    assert response.content_type.startswith("text/html")
    assert response.headers["Retry-After"].isdigit()
    assert "Tìm kiếm đang tạm gián đoạn" in page.text and "thử lại sau" in page.text
    assert params(page.hrefs("Thử lại")[0]) == {"q": ["hà nội"]}
    get(client, "/articles/demo-001", status=503)
    for url in ("/healthz", "/api/search?q=x"):
        api = client.get(url)
        assert api.status_code == 503 and api.is_json and api.get_json()["error"]["status"] == 503


def test_unexpected_error_is_a_500_page_without_a_stack_trace(client, svc, monkeypatch):
    def broken(req):
        raise RuntimeError("secret internals /srv/index")

    monkeypatch.setattr(svc, "search", broken)
    response, page = get(client, "/?q=x", status=500)
    assert response.content_type.startswith("text/html")
    assert "Đã có lỗi xảy ra" in page.text
    for leak in ("Traceback", "RuntimeError", "secret internals", "/srv/index"):
        assert leak not in response.get_data(as_text=True)


def test_html_404_for_pages_json_404_for_the_api(client):
    for url in ("/khong-co-trang-nay", "/static/khong-co.css"):
        response, page = get(client, url, status=404)
        assert response.content_type.startswith("text/html")
        assert "Không tìm thấy trang" in page.text
    response, page = get(client, "/articles/khong-co", status=404)
    assert "Không tìm thấy bài viết" in page.text
    for url in ("/api/khong-co", "/api/articles/khong-co", "/api"):
        api = client.get(url)
        assert api.status_code == 404 and api.is_json, url
        assert api.get_json()["error"]["status"] == 404
    # Other API errors keep their JSON shape too.
    api = client.get("/api/search?q=x&per_page=500")
    assert api.status_code == 400 and api.get_json()["error"]["status"] == 400


def test_wrong_method_html_for_pages_json_for_the_api(client):
    response = client.post("/")
    assert response.status_code == 405 and response.content_type.startswith("text/html")
    assert "Yêu cầu không được hỗ trợ" in response.get_data(as_text=True)
    for url in ("/api/search", "/healthz"):
        api = client.post(url)
        assert api.status_code == 405 and api.is_json


# --- the article page -----------------------------------------------------------------------


def test_article_page_marks_the_query_and_lists_related(client, svc):
    response, page = get(client, "/articles/demo-015?q=h%C3%B4+h%E1%BA%A5p")
    html = main_html(response)
    assert page.find("h1", class_="article-title")
    assert "Giao mùa, trẻ nhỏ dễ mắc bệnh" in page.text
    assert "<mark>hô hấp</mark>" in html
    assert html.count('<p class="sapo">') == 1
    body = re.search(r'<div class="article-body">(.*?)</div>', html, re.S).group(1)
    assert body.count("<p>") >= 2
    assert "Tin Phố" in page.text and "Thứ Hai, 25/09/2023, 16:00" in page.text
    related = svc.related("demo-015")
    assert related and "Bài liên quan" in page.text
    for hit in related:
        assert hit.title in page.text
    assert params(page.hrefs("Quay lại kết quả tìm kiếm")[0]) == {"q": ["hô hấp"]}
    assert page.find("title")  # and the breadcrumb links the section
    assert params(page.hrefs("Sức khỏe")[0]) == {"category": ["Sức khỏe"]}


def test_article_page_without_query_and_with_original_link(client):
    response, page = get(client, "/articles/demo-001")
    assert "<mark>" not in main_html(response)
    assert page.hrefs("Đọc bài gốc trên Báo Mẫu") == ["https://example.vn/ha-noi-ngap-lut-sau-mua-lon"]
    assert "15.230 lượt xem" in page.text


def test_article_page_ignores_an_unusable_query(client):
    response, _ = get(client, "/articles/demo-001?q=" + "a" * 600)
    assert "<mark>" not in main_html(response)


# --- escaping ---------------------------------------------------------------------------------

def assert_inert(html: str) -> None:
    """No markup from article text survives: every hostile tag is escaped text."""
    main = re.search(r"<main.*</main>", html, re.S).group(0).lower()
    for tag in ("<script", "<img", "<svg", "<b>", "<p onclick", "<a href=\"javascript"):
        assert tag not in main, tag
    assert 'href="javascript:' not in html.lower()
    assert html.count("<script") == 1  # our own, in <head>


def test_hostile_article_is_escaped_in_results(client):
    response, page = get(client, "/?q=m%C3%A3+%C4%91%E1%BB%99c+gi%E1%BA%A3+m%E1%BA%A1o")
    html = response.get_data(as_text=True)
    assert_inert(html)
    assert "Cảnh giác <mark>mã độc</mark> &lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "<script>window.__pwned=1</script>" in page.text  # shown as text
    # A javascript: URL is never used as a link: the title goes to the article page.
    assert urlsplit(page.hrefs("Cảnh giác")[0]).path == "/articles/evil-001"
    # Facet values and the source are escaped too, in text and in links.
    assert "An ninh mạng &lt;script&gt;window.__pwned=9&lt;/script&gt;" in html
    assert "Nguồn &#34;&gt;&lt;svg onload=window.__pwned=11&gt;" in html


def test_hostile_article_page_is_escaped(client):
    response, page = get(client, "/articles/evil-001?q=m%C3%A3+%C4%91%E1%BB%99c")
    html = response.get_data(as_text=True)
    assert_inert(html)
    assert "<title>Cảnh giác mã độc &lt;script&gt;" in html
    assert "&lt;/p&gt;&lt;p onclick=" in html
    assert not page.hrefs("Đọc bài gốc")


@pytest.mark.parametrize(
    "query",
    ["q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", 'q=%22%3E%3Cimg+src%3Dx+onerror%3Dalert(1)%3E',
     "q=x&category=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E", "q=x&source=%3Csvg+onload%3Dalert(1)%3E"],
)
def test_the_query_and_filters_are_escaped_everywhere(client, query):
    response = client.get("/?" + query)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
    assert html.count("<script") == 1  # our own script tag only


def test_marked_lets_only_mark_through():
    assert marked("a <mark>b</mark> &amp; c") == "a <mark>b</mark> &amp; c"
    assert marked("<script>x</script><mark>y</mark>") == "&lt;script&gt;x&lt;/script&gt;<mark>y</mark>"
    assert marked("<mark onclick=x>y</mark>") == "&lt;mark onclick=x&gt;y"
    assert marked("</mark>a<mark>b") == "a<mark>b</mark>"
    assert marked(None) == ""
    assert snippet("… a … … b …") == "… a … b …"
    assert paragraphs("one <mark>x\ny</mark> two\n\nthree") == ["one <mark>x</mark>", "y two", "three"]
    assert vn_number(1234567) == "1.234.567"


def test_vietnamese_dates():
    from datetime import datetime

    assert vn_datetime(datetime(2024, 7, 22, 6, 45)) == "Thứ Hai, 22/07/2024, 06:45"
    assert vn_datetime(datetime(2023, 10, 1)) == "Chủ nhật, 01/10/2023"
    assert vn_datetime(None) == ""


# --- headers, static files, OpenSearch ----------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/?q=x", "/articles/demo-001", "/khong-co", "/api/search?q=x", "/healthz",
                                 "/opensearch.xml"])
def test_security_headers_everywhere(client, url):
    response = client.get(url)
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_static_files_are_small_and_cached(client):
    _, page = get(client, "/")
    css = page.find("link", rel="stylesheet")[0]["href"]
    js = page.find("script")[0]["src"]
    for href, kind, limit in ((css, "text/css", 16_000), (js, "javascript", 8_000)):
        assert re.fullmatch(r"/static/[\w.]+\?v=[0-9a-f]{12}", href)
        response = client.get(href)
        assert response.status_code == 200 and kind in response.content_type
        assert len(response.data) < limit
        assert response.cache_control.public and response.cache_control.max_age == 365 * 24 * 3600
        assert response.cache_control.immutable
        plain = client.get(href.split("?")[0])
        assert plain.cache_control.max_age == 3600 and not plain.cache_control.immutable
    assert "@import" not in client.get(css).get_data(as_text=True)
    assert "http" not in client.get(css).get_data(as_text=True)


def test_opensearch_description(client):
    response = client.get("/opensearch.xml")
    assert response.status_code == 200
    assert response.mimetype == "application/opensearchdescription+xml"
    ns = {"os": "http://a9.com/-/spec/opensearch/1.1/"}
    root = ET.fromstring(response.data)
    assert root.tag == "{http://a9.com/-/spec/opensearch/1.1/}OpenSearchDescription"
    short = root.find("os:ShortName", ns).text
    assert short and len(short) <= 16
    assert root.find("os:InputEncoding", ns).text == "UTF-8"
    urls = {u.get("type"): u.get("template") for u in root.findall("os:Url", ns)}
    assert urls["text/html"] == "http://localhost/?q={searchTerms}"
    template = urls["text/html"].replace("{searchTerms}", "h%C3%A0+n%E1%BB%99i")
    response, page = get(client, template.replace("http://localhost", ""))
    assert "Kết quả tìm kiếm cho hà nội" in page.text


def test_suggest_api_feeds_autocomplete(client):
    data = client.get("/api/suggest?q=ha+n").get_json()
    assert data["query"] == "ha n"
    assert "Hà Nội ngập lụt sau mưa lớn" in data["suggestions"]
    _, page = get(client, "/")
    assert page.find("input", id="q")[0]["data-suggest"] == "/api/suggest"
