"""Sitemaps of article pages: local files, file:// and http(s) locations, nested sitemap indexes."""

from __future__ import annotations

import http.server
import shutil
import threading
from pathlib import Path

from conftest import Echo

from searchsvc.index.indexer import reindex
from searchsvc.reading.article import Article, ReadProblem
from searchsvc.reading.sources import read_sources, sniff

HTML = Path(__file__).parent / "fixtures" / "html"




def _site(tmp_path: Path, extra_loc: str = "") -> Path:
    site = tmp_path / "site"
    (site / "pages").mkdir(parents=True)
    shutil.copy(HTML / "cau_vuot_song.html", site / "pages" / "cau_vuot_song.html")
    shutil.copy(HTML / "hoc_bong_vung_cao.htm", site / "pages" / "hoc-bong")  # no extension: sniffed
    (site / "sitemap-2021.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        "  <url><loc>pages/cau_vuot_song.html</loc></url>\n"
        f"  <url><loc>file://{site / 'pages' / 'hoc-bong'}</loc></url>\n"
        "  <url><loc>pages/da-go.html</loc></url>\n"
        f"{extra_loc}"
        "</urlset>\n",
        encoding="utf-8",
    )
    (site / "sitemap.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        "  <sitemap><loc>sitemap-2021.xml</loc></sitemap>\n"
        "</sitemapindex>\n",
        encoding="utf-8",
    )
    return site


def test_sniffs_sitemaps(tmp_path: Path) -> None:
    site = _site(tmp_path)
    assert sniff(site / "sitemap.xml") == "sitemap"
    assert sniff(site / "sitemap-2021.xml") == "sitemap"


def test_sitemap_index_reads_every_listed_page_and_reports_a_missing_one(tmp_path: Path) -> None:
    site = _site(tmp_path)
    items = list(read_sources([site / "sitemap.xml"]))
    titles = [a.title for a in items if isinstance(a, Article)]
    assert len(titles) == 2 and all(titles)
    problems = [p for p in items if isinstance(p, ReadProblem)]
    assert [(p.path, p.line) for p in problems] == [(str(site / "sitemap-2021.xml"), 5)]
    assert problems[0].reason.startswith("listed page not found: ") and problems[0].reason.endswith("da-go.html")


def test_a_directory_with_its_sitemap_indexes_each_page_once(tmp_path: Path) -> None:
    site = _site(tmp_path)
    echo = Echo()
    summary = reindex([site], tmp_path / "index", jobs=1, echo=echo)
    # Walked: the 2 pages, the index (its sitemap's 2 pages again, 1 missing) and the sitemap itself (the same
    # again): every repeated page is merged, not failed; the missing page is reported by each reading.
    assert (summary.added, summary.failed, summary.merged) == (2, 2, 4)
    assert summary.read == summary.added + summary.failed
    assert sum("was already read (" in line and "; read once" in line for line in echo.lines) == 4
    assert summary.documents == 2


def test_http_locations_are_fetched(tmp_path: Path) -> None:
    page = (HTML / "cau_vuot_song.html").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            found = self.path == "/thoi-su/cau.html"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page if found else b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        site = _site(tmp_path, f"  <url><loc>{base}/thoi-su/cau.html</loc></url>\n"
                               f"  <url><loc>{base}/khong-co.html</loc></url>\n")
        items = list(read_sources([site / "sitemap-2021.xml"]))
    finally:
        server.shutdown()
        server.server_close()
    fetched = [a for a in items if isinstance(a, Article) and a.origin == f"{base}/thoi-su/cau.html"]
    assert len(fetched) == 1 and fetched[0].body
    problems = [p.reason for p in items if isinstance(p, ReadProblem)]
    assert any(r.startswith(f"cannot fetch {base}/khong-co.html") for r in problems)
