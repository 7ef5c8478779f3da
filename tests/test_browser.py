"""The search page in a real browser: Debian's headless Chromium driven by Playwright.

The app runs in a real HTTP server on 127.0.0.1 (ephemeral port) over an
index of the demo articles plus one hostile article whose title and body are
full of markup and script. Screenshots go to ``test-artifacts/``.

Skipped, with the reason, only when ``/usr/bin/chromium`` or Playwright is
missing. Playwright never downloads a browser here: it drives the system one.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    pytest.skip("playwright is not installed (pip install -e '.[test]')", allow_module_level=True)

from conftest import serve  # noqa: E402

from searchsvc import create_app  # noqa: E402
from searchsvc.index.indexer import reindex  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "searchsvc" / "demo"
HOSTILE = Path(__file__).resolve().parent / "browser_fixtures" / "hostile.jsonl"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1280, "height": 900}
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("browser-index")
    reindex([DEMO, HOSTILE], index_dir, jobs=1, echo=lambda m: None)
    app = create_app({"INDEX_DIR": str(index_dir)})
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def playwright():
    with sync_playwright() as p:
        yield p


def launch(playwright, **options):
    """Chromium from Debian, in a fresh user-data dir that is removed afterwards."""
    profile = tempfile.mkdtemp(prefix="searchsvc-chromium-")
    context = playwright.chromium.launch_persistent_context(
        profile,
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport=DESKTOP,
        locale="vi-VN",
        **options,
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context, profile


@pytest.fixture(scope="module")
def browser_context(playwright):
    context, profile = launch(playwright)
    yield context
    context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def nojs_context(playwright):
    context, profile = launch(playwright, java_script_enabled=False)
    yield context
    context.close()
    shutil.rmtree(profile, ignore_errors=True)


class Problems:
    """What the browser complained about: script errors and Content-Security-Policy violations."""

    def __init__(self, page) -> None:
        self.items: list[str] = []
        page.on("pageerror", lambda exc: self.items.append(f"page error: {exc}"))
        page.on("console", self._console)

    def _console(self, message) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.items.append(f"CSP: {message.text}")


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    problems = Problems(page)
    yield page
    page.close()
    assert problems.items == [], problems.items


def shot(page, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide in a {page.viewport_size['width']}px window"


def pwned(page):
    return page.evaluate("window.__pwned")


# --- searching --------------------------------------------------------------------------------


def test_type_a_query_submit_and_see_highlighted_results(page, base_url):
    page.goto(base_url + "/")
    box = page.locator("#q")
    expect(box).to_be_focused()  # autofocus
    page.keyboard.type("hà nội")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/\?q="))
    assert query_of(page.url) == {"q": ["hà nội"]}
    expect(page.locator("h1")).to_have_text("Kết quả tìm kiếm cho hà nội")
    expect(page.locator(".summary")).to_contain_text("kết quả trong")
    expect(page.locator(".hit")).to_have_count(10)
    expect(page.locator(".hit-title mark").first).to_have_text("Hà Nội")
    expect(page.locator(".hit-snippet mark").first).to_be_visible()
    expect(box).to_have_value("hà nội")
    # The mark is visibly highlighted.
    background = page.locator(".hit-title mark").first.evaluate("m => getComputedStyle(m).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")


def test_search_without_diacritics_shows_accented_results(page, base_url):
    page.goto(base_url + "/")
    page.locator("#q").fill("ha noi ngap lut")
    page.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"q=ha\+noi\+ngap\+lut"))
    first = page.locator(".hit-title").first
    expect(first).to_have_text("Hà Nội ngập lụt sau mưa lớn")
    expect(first.locator("mark")).to_have_text("Hà Nội ngập lụt")


def test_apply_and_remove_a_facet(page, base_url):
    page.goto(base_url + "/?q=" + quote("hà nội"))
    total_before = page.locator(".summary strong").inner_text()
    page.locator(".facet a", has_text="Thời sự").click()
    page.wait_for_url(re.compile(r"category="))
    assert query_of(page.url)["category"] == ["Thời sự"]
    categories = page.locator(".hit-category").all_inner_texts()
    assert categories and set(categories) == {"Thời sự"}
    expect(page.locator(".chip")).to_contain_text("Chuyên mục: Thời sự")
    expect(page.locator(".facet a.active")).to_have_attribute("aria-current", "true")
    page.locator(".chip").click()
    page.wait_for_url(lambda url: "category=" not in url)
    assert query_of(page.url) == {"q": ["hà nội"]}
    expect(page.locator(".summary strong")).to_have_text(total_before)
    expect(page.locator(".chip")).to_have_count(0)


def test_go_to_page_two_keeping_the_filters(page, base_url):
    page.goto(base_url + "/?q=" + quote("hà nội") + "&per_page=3")
    page.locator(".facet a", has_text="Thời sự").click()
    page.wait_for_url(re.compile(r"category="))
    first_page = page.locator(".hit-title").all_inner_texts()
    page.get_by_role("link", name="Trang sau").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert query_of(page.url) == {"q": ["hà nội"], "category": ["Thời sự"], "per_page": ["3"], "page": ["2"]}
    expect(page.locator(".pager [aria-current=page]")).to_have_text(re.compile(r"2$"))
    second_page = page.locator(".hit-title").all_inner_texts()
    assert second_page and not set(second_page) & set(first_page)
    assert set(page.locator(".hit-category").all_inner_texts()) == {"Thời sự"}
    page.get_by_role("link", name="Trang trước").click()
    page.wait_for_url(lambda url: "page" not in query_of(url))
    assert page.locator(".hit-title").all_inner_texts() == first_page


def test_autocomplete_with_the_keyboard(page, base_url):
    page.goto(base_url + "/")
    box = page.locator("#q")
    expect(box).to_have_attribute("role", "combobox")
    box.press_sequentially("ha n", delay=40)
    listbox = page.locator("#q-suggestions")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    options = listbox.locator("[role=option]")
    expect(options.first).to_contain_text("Hà Nội")
    texts = options.all_inner_texts()
    assert len(texts) >= 2
    shot(page, "autocomplete-1280", full_page=False)

    page.keyboard.press("ArrowDown")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", "q-suggestion-0")
    expect(box).to_have_value(texts[0])
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(options.nth(0)).to_have_attribute("aria-selected", "false")
    expect(box).to_have_value(texts[1])
    page.keyboard.press("ArrowUp")
    expect(box).to_have_value(texts[0])

    page.keyboard.press("Escape")  # closes the list and restores what was typed
    expect(listbox).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(box).to_have_value("ha n")

    page.keyboard.press("ArrowDown")  # opens the list again
    expect(listbox).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(box).to_have_value(texts[1])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/\?q="))
    assert query_of(page.url) == {"q": [texts[1]]}
    expect(page.locator(".hit-title").first).to_have_text(texts[1])


def test_open_an_article_page(page, base_url):
    page.goto(base_url + "/?q=" + quote("hô hấp"))
    page.locator(".hit-title a", has_text="Giao mùa").click()
    page.wait_for_url(re.compile(r"/articles/demo-015\?q="))
    expect(page.locator("h1")).to_have_text("Giao mùa, trẻ nhỏ dễ mắc bệnh hô hấp")
    expect(page.locator(".article mark").first).to_have_text(re.compile("hô hấp", re.I))
    assert page.locator(".article-body p").count() >= 2
    related = page.locator(".related li a")
    assert related.count() >= 1
    expect(page.locator(".related h2")).to_have_text("Bài liên quan")
    shot(page, "article-1280")
    page.set_viewport_size(PHONE)
    no_horizontal_scroll(page)
    shot(page, "article-360")
    page.get_by_role("link", name=re.compile("Quay lại kết quả tìm kiếm")).click()
    page.wait_for_url(re.compile(r"/\?q="))
    expect(page.locator("#q")).to_have_value("hô hấp")


# --- escaping -------------------------------------------------------------------------------------


def assert_nothing_ran(page) -> None:
    page.wait_for_load_state("load")
    page.wait_for_timeout(150)  # let any onerror/onload handler fire, if one had slipped through
    assert pwned(page) is None
    assert page.locator("main script, main img, main svg, main [onclick], main [onerror]").count() == 0
    assert page.locator("a[href^='javascript:' i]").count() == 0


def test_no_script_from_articles_or_queries_ever_runs(page, base_url):
    page.goto(base_url + "/?q=" + quote("mã độc giả mạo"))
    title = page.locator(".hit-title", has_text="Cảnh giác")
    expect(title).to_contain_text("<script>window.__pwned=1</script>")
    expect(title).to_contain_text('<img src=x onerror="window.__pwned=2">')
    expect(title.locator("mark").first).to_have_text("mã độc")
    assert_nothing_ran(page)
    expect(page.locator(".facet a", has_text="An ninh mạng")).to_contain_text("<script>window.__pwned=9</script>")
    shot(page, "hostile-results-1280")

    page.locator(".facet a", has_text="An ninh mạng").click()  # a facet value full of markup
    page.wait_for_url(re.compile(r"category="))
    expect(page.locator(".chip")).to_contain_text("<script>")
    assert_nothing_ran(page)

    page.locator(".hit-title a", has_text="Cảnh giác").click()  # javascript: URL → our article page
    page.wait_for_url(re.compile(r"/articles/evil-001"))
    expect(page.locator("h1")).to_contain_text("<script>window.__pwned=1</script>")
    expect(page.locator(".article-body")).to_contain_text('<svg onload="window.__pwned=7"></svg>')
    expect(page.locator(".article-meta")).to_contain_text('Nguồn "><svg onload=window.__pwned=11>')
    assert_nothing_ran(page)

    for hostile_query in ("<script>window.__pwned=1</script>", '"><img src=x onerror="window.__pwned=2">'):
        page.goto(base_url + "/?q=" + quote(hostile_query) + "&category=" + quote("<svg onload=window.__pwned=3>"))
        expect(page.locator("#q")).to_have_value(hostile_query)
        assert_nothing_ran(page)

    page.goto(base_url + "/")
    page.locator("#q").press_sequentially("canh giac ma", delay=30)  # suggestions are inserted as text
    expect(page.locator("#q-suggestions [role=option]").first).to_contain_text("<script>window.__pwned=1</script>")
    assert_nothing_ran(page)


# --- layout, accessibility, no JavaScript --------------------------------------------------------


def test_screenshots_at_phone_and_desktop_width(page, base_url):
    url = base_url + "/?q=" + quote("hà nội")
    for name, size in (("results-360", PHONE), ("results-1280", DESKTOP)):
        page.set_viewport_size(size)
        page.goto(url)
        expect(page.locator(".hit").first).to_be_visible()
        no_horizontal_scroll(page)
        assert page.locator(".hit-title").first.bounding_box()["width"] <= size["width"]
        shot(page, name)
    # On a desktop the filters sit beside the results; on a phone, above them.
    facets, hits = page.locator(".facets").bounding_box(), page.locator(".hits").bounding_box()
    assert facets["x"] + facets["width"] <= hits["x"]
    page.set_viewport_size(PHONE)
    facets, hits = page.locator(".facets").bounding_box(), page.locator(".hits").bounding_box()
    assert facets["y"] + facets["height"] <= hits["y"]
    for name, path in (("home-360", "/"), ("no-results-360", "/?q=xyzzyqw"), ("error-360", "/?per_page=500&q=x")):
        page.goto(base_url + path)
        no_horizontal_scroll(page)
        shot(page, name)


CONTRAST_JS = """
(selectors) => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = {};
  for (const sel of selectors) {
    const el = document.querySelector(sel);
    if (!el) { out[sel] = null; continue; }
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    out[sel] = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }
  return out;
}
"""


def test_accessibility_basics(page, base_url):
    page.goto(base_url + "/?q=" + quote("hà nội") + "&per_page=5")
    assert page.locator("html").get_attribute("lang") == "vi"
    for role in ("banner", "main", "contentinfo", "search", "complementary"):
        expect(page.get_by_role(role)).to_have_count(1)
    expect(page.get_by_role("navigation", name="Phân trang")).to_be_visible()
    expect(page.get_by_role("combobox", name="Tìm kiếm tin tức")).to_be_visible()
    expect(page.get_by_role("button", name="Tìm kiếm")).to_be_visible()
    assert page.locator("h1").count() == 1

    # The first Tab shows the skip link; following it lands in the main content.
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["y"] >= 0
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    # Focus is visible on the search box and on links.
    page.locator("#q").focus()
    for target in ("#q", ".hit-title a"):
        element = page.locator(target).first
        if target != "#q":
            element.focus()
        style = element.evaluate("e => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth]; }")
        assert style[0] != "none" and float(style[1].rstrip("px")) >= 2, (target, style)

    ratios = page.evaluate(CONTRAST_JS, ["body", ".summary", ".hit-title a", ".hit-meta", ".hit-category",
                                         ".hit-snippet", ".hit-snippet mark", ".facet a", ".count", ".sort a",
                                         ".search-button", ".pager a", ".site-footer", "#q"])
    low = {k: v for k, v in ratios.items() if v is None or v < 4.5}
    assert not low, low


def test_works_without_javascript(nojs_context, base_url):
    page = nojs_context.new_page()
    try:
        page.set_viewport_size(PHONE)
        page.goto(base_url + "/")
        box = page.locator("#q")
        assert box.get_attribute("role") is None  # search.js did not run
        box.fill("ha noi")
        box.press("Enter")
        page.wait_for_url(re.compile(r"/\?q=ha\+noi"))
        expect(page.locator(".hit-title mark").first).to_be_visible()
        page.locator(".facet a", has_text="Thời sự").click()
        page.wait_for_url(re.compile(r"category="))
        assert set(page.locator(".hit-category").all_inner_texts()) == {"Thời sự"}
        page.locator(".chip").click()
        page.wait_for_url(lambda url: "category=" not in url)
        page.get_by_role("link", name="Trang sau").click()
        page.wait_for_url(re.compile(r"page=2"))
        expect(page.locator(".hit").first).to_be_visible()
        no_horizontal_scroll(page)
        shot(page, "nojs-results-360")
    finally:
        page.close()
