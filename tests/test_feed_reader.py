"""Tests for searchsvc.reading.feeds (RSS 2.0, Atom) and for reading a directory mixing every format."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from conftest import Echo

from searchsvc.engine.search import SearchService
from searchsvc.index.generations import IndexStore
from searchsvc.index.indexer import reindex
from searchsvc.reading.article import Article, ReadNotice, ReadProblem, stable_id
from searchsvc.reading.sources import read_file, read_sources, sniff

FIXTURES = Path(__file__).parent / "fixtures"
FEEDS = FIXTURES / "feeds"
RSS = FEEDS / "tin_moi.rss"
ATOM = FEEDS / "giao_duc.atom"
SUMMARY_ONLY = FEEDS / "chi_tom_tat.xml"
BAD_DATE = FEEDS / "ngay_loi.rss"




def _split(items: list) -> tuple[list[Article], list[ReadNotice], list[ReadProblem]]:
    return (
        [i for i in items if isinstance(i, Article)],
        [i for i in items if isinstance(i, ReadNotice)],
        [i for i in items if isinstance(i, ReadProblem)],
    )


def test_rss_entries() -> None:
    articles, notices, problems = _split(list(read_file(RSS)))
    assert problems == []
    assert [(a.title, a.published, a.category, a.url) for a in articles] == [
        ("Chợ đêm Mẫu Đông mở cửa trở lại sau hai tháng sửa chữa", datetime(2021, 4, 1, 19, 15), "Kinh tế",
         "https://baophuongmau.example.vn/kinh-te/cho-dem-mau-dong-mo-cua-4530.html"),
        ("Khánh thành cầu vượt sông Mẫu Lương sau 30 tháng thi công", datetime(2021, 3, 31, 16, 31), "Thời sự",
         "http://baophuongmau.example.vn/thoi-su/khanh-thanh-cau-vuot-song-mau-luong-4521.html#top"),
        ("Phường Mẫu Tây ra mắt điểm đọc sách miễn phí cho thiếu nhi", datetime(2021, 4, 1, 20, 5), "Văn hóa",
         "https://baophuongmau.example.vn/van-hoa/diem-doc-sach-thieu-nhi-4533.html"),
    ]
    market = articles[0]
    assert market.source == "Báo Phường Mẫu - Tin mới nhất"
    assert market.sapo == (
        "Hơn 200 gian hàng của chợ đêm Mẫu Đông đón khách từ tối nay, sau đợt cải tạo mái che và hệ thống điện."
    )
    # content:encoded is the body, in paragraphs, without repeating the description.
    assert market.body.split("\n") == [
        "Ban quản lý chợ cho biết toàn bộ dây điện cũ đã được thay bằng hệ thống ngầm, các lối đi được mở rộng "
        "thêm 1 m để xe cứu hỏa có thể vào khi cần.",
        "Tiểu thương được miễn phí thuê gian hàng trong tháng đầu tiên để bù lại thời gian nghỉ bán.",
    ]
    assert market.origin == f"{RSS}#1"
    # An entry with content and no description keeps its content as the body.
    assert articles[2].sapo == "" and articles[2].body.startswith("Điểm đọc sách đặt tại nhà văn hóa")
    assert [(n.kind, n.path) for n in notices] == [("summary-only", f"{RSS}#2")]
    assert [a.id for a in articles] == [stable_id("feed", a.url) for a in articles]
    assert len({a.id for a in articles}) == 3 and all(a.id.startswith("url-") for a in articles)


def test_atom_entries() -> None:
    articles, notices, problems = _split(list(read_file(ATOM)))
    assert problems == []
    pool, grant = articles
    assert pool.title == "Trường Mẫu Sơn mở lớp bơi miễn phí cho học sinh tiểu học"
    assert pool.published == datetime(2021, 4, 5, 1, 30)  # 18:30 UTC on the 4th is the 5th in Vietnam
    assert (pool.category, pool.source) == ("Giáo dục", "Tin Giáo dục Mẫu Sơn")
    assert pool.url == "https://giaoducmauson.example.vn/giao-duc/lop-boi-mien-phi-885.htm"
    assert pool.sapo == "Mỗi khóa học kéo dài hai tuần, dành cho 60 học sinh lớp 3 đến lớp 5."
    assert pool.body.split("\n") == [
        "Nhà trường phối hợp với trung tâm thể thao huyện bố trí huấn luyện viên và nhân viên cứu hộ tại hồ bơi "
        "trong suốt buổi học.",
        "Phụ huynh đăng ký cho con tại văn phòng trường đến hết ngày 15/4.",
    ]
    assert grant.published == datetime(2021, 4, 4, 7, 5)
    assert [n.kind for n in notices] == ["summary-only"]


def test_summary_only_feed_is_indexed_with_what_it_has_and_flagged() -> None:
    articles, notices, problems = _split(list(read_file(SUMMARY_ONLY)))
    assert problems == []
    assert [(a.title, a.sapo, a.body, a.category, a.published) for a in articles] == [
        ("Huyện Mẫu Sơn ra quân làm đường giao thông nông thôn",
         "Người dân năm xã góp hơn 3.000 ngày công để bê tông hóa 12 km đường thôn trong tháng 4.", "",
         "Tin hoạt động", datetime(2021, 4, 3, 8, 0)),
        ("Lịch tiếp công dân của lãnh đạo huyện tháng 4/2021",
         "Lãnh đạo huyện tiếp công dân định kỳ vào thứ Năm tuần thứ hai và thứ tư của tháng tại trụ sở tiếp dân.",
         "", "Thông báo", datetime(2021, 4, 3, 10, 30)),
    ]
    assert [(n.kind, n.path) for n in notices] == [
        ("summary-only", f"{SUMMARY_ONLY}#1"),
        ("summary-only", f"{SUMMARY_ONLY}#2"),
    ]


def test_bad_date_leaves_the_entry_undated_and_is_reported() -> None:
    articles, notices, problems = _split(list(read_file(BAD_DATE)))
    assert problems == []
    assert [(a.title, a.published) for a in articles] == [
        ("Tổ dân phố số 5 tổng vệ sinh đường làng", None),
        ("Thông báo lịch cắt điện ngày 6/4", datetime(2021, 4, 5, 9, 0)),
    ]
    undated = [n for n in notices if n.kind == "undated"]
    assert [str(n) for n in undated] == [
        f"{BAD_DATE}#1: entry 1 'Tổ dân phố số 5 tổng vệ sinh đường làng': unparseable date "
        "'Cập nhật 2 giờ trước'; article left undated"
    ]


def test_broken_and_empty_feeds(tmp_path: Path) -> None:
    empty = tmp_path / "rong.rss"
    empty.write_text('<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>',
                     encoding="utf-8")
    garbage = tmp_path / "hong.xml"
    garbage.write_text("<?xml version='1.0'?><sitemap><url>", encoding="utf-8")
    no_title = tmp_path / "khong_tieu_de.rss"
    no_title.write_text('<rss version="2.0"><channel><title>T</title><item><link>https://x.example.vn/a</link>'
                        "<description>Mô tả</description></item></channel></rss>", encoding="utf-8")
    assert list(read_file(empty)) == [ReadProblem(str(empty), None, "feed has no entries")]
    [problem] = read_file(garbage)
    assert isinstance(problem, ReadProblem) and problem.line is None
    assert list(read_file(no_title)) == [
        ReadProblem(str(no_title), None, "entry 1 (https://x.example.vn/a): no title, skipped")
    ]


def test_feeds_are_sniffed_whatever_the_file_is_called(tmp_path: Path) -> None:
    as_txt = tmp_path / "tin.txt"
    shutil.copy(ATOM, as_txt)
    no_suffix = tmp_path / "rss"
    shutil.copy(RSS, no_suffix)
    assert (sniff(as_txt), sniff(no_suffix), sniff(RSS), sniff(ATOM)) == ("feed", "feed", "feed", "feed")
    assert [a.title for a in read_file(no_suffix) if isinstance(a, Article)] == [
        a.title for a in read_file(RSS) if isinstance(a, Article)
    ]


# --- a directory mixing every format -------------------------------------------------------------


def _mixed(tmp_path: Path) -> Path:
    src = tmp_path / "site"
    shutil.copytree(FIXTURES, src)
    records = [
        {"id": "j-1", "title": "Phường Mẫu Đông lắp camera an ninh", "body": "Hai mươi camera được lắp ở các ngõ."},
        {"id": "j-2", "title": "Giải bóng đá thiếu niên khai mạc", "body": "Mười hai đội tham dự giải năm nay."},
        # The same text as j-1 under another id: merged by content hash.
        {"id": "j-3", "title": "Phường Mẫu Đông  lắp camera an ninh", "body": "Hai mươi camera được lắp ở các ngõ.\n"},
    ]
    lines = [json.dumps(r, ensure_ascii=False) for r in records] + ['{"id": "j-4", "title": ']
    (src / "bai.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # JSON Lines saved without an extension: routed by sniffing.
    (src / "xuat_ban").write_text(json.dumps({"id": "s-1", "title": "Tin không có đuôi tệp"}) + "\n",
                                  encoding="utf-8")
    (src / "ghi_chu.csv").write_text("id,title\n", encoding="utf-8")
    return src


def test_read_sources_merges_duplicates_across_formats(tmp_path: Path) -> None:
    src = _mixed(tmp_path)
    notices: list[ReadNotice] = []
    items = list(read_sources([src], notices=notices))
    articles, _, problems = _split(items)
    assert [str(p) for p in problems] == [
        f"{src / 'bai.jsonl'}:4: invalid JSON: Expecting value (column 24)",
        f"{src / 'ghi_chu.csv'}: unsupported file type, skipped",
    ]
    merged = [n for n in notices if n.kind == "merged"]
    by_origin = {a.origin: a for a in articles}
    html_bridge = by_origin[str(src / "html" / "cau_vuot_song.html")]
    html_grant = by_origin[str(src / "html" / "hoc_bong_vung_cao.htm")]
    assert [str(n) for n in merged] == [
        f"{src / 'bai.jsonl'}:3: duplicate of 'j-1' ({src / 'bai.jsonl'}:1), same title and body; 'j-3' merged into it",
        # Summary-only feed entries give way to the full pages of the same canonical URL: one article, one id.
        f"{src / 'feeds' / 'giao_duc.atom'}#2: {html_grant.id!r} was already read ({html_grant.origin}), "
        "same canonical URL https://giaoducmauson.example.vn/giao-duc/trao-hoc-bong-vung-cao-881.htm; read once",
        f"{src / 'feeds' / 'tin_moi.rss'}#2: {html_bridge.id!r} was already read ({html_bridge.origin}), same "
        "canonical URL https://baophuongmau.example.vn/thoi-su/khanh-thanh-cau-vuot-song-mau-luong-4521.html; "
        "read once",
    ]
    assert len(articles) == 2 + 1 + 1 + 2 + 7  # jsonl, sniffed jsonl, portal, html, feed entries
    assert len({a.id for a in articles}) == len(articles)
    assert html_bridge.body.startswith("Sáng 31/3")  # the full page won over the summary-only entry


def test_reindex_of_a_mixed_directory_reconciles_with_its_inputs(tmp_path: Path) -> None:
    src = _mixed(tmp_path)
    # Inputs: 4 JSONL lines (2 articles, 1 content duplicate, 1 broken), 1 sniffed JSONL line, 1 portal export,
    # 2 HTML pages, 9 feed entries of which 2 repeat the HTML pages, 1 CSV file nobody reads.
    records = 4 + 1 + 1 + 2 + 9
    echo = Echo()
    summary = reindex([src], tmp_path / "index", jobs=1, echo=echo)
    # 3 records merged into others (a JSONL duplicate, two feed entries repeating HTML pages): 13 indexed.
    assert (summary.read, summary.added, summary.merged, summary.failed, summary.skipped_files) == (
        records - 3, 13, 3, 1, 1)
    assert summary.read + summary.merged == records
    assert summary.read == summary.added + summary.updated + summary.unchanged + summary.failed
    assert summary.documents == summary.added
    assert summary.problems == [
        f"{src / 'bai.jsonl'}:4: invalid JSON: Expecting value (column 24)",
        f"{src / 'ghi_chu.csv'}: unsupported file type, skipped",
    ]
    assert [line for line in echo.lines if line.startswith("warning:")] == [f"warning: {p}" for p in summary.problems]
    assert sum(line.startswith("note:") and ("merged into it" in line or "read once" in line)
               for line in echo.lines) == 3
    notices: list[ReadNotice] = []
    unique = [a for a in read_sources([src], notices=notices) if isinstance(a, Article)]
    assert len(unique) == summary.added
    svc = SearchService(tmp_path / "index")
    for article in unique:
        doc = svc.article(article.id)
        assert doc is not None and doc["title"] == article.title
    again = reindex([src], tmp_path / "index", jobs=1, echo=Echo())
    assert (again.read, again.added, again.unchanged, again.failed, again.merged) == (records - 3, 0, 13, 1, 3)


def test_reindex_reads_a_feed_by_url_and_reports_one_it_cannot_fetch(tmp_path: Path) -> None:
    """A feed URL is fetched (here from a server on 127.0.0.1) and read like a saved feed."""
    import http.server
    import socket
    import threading

    feed = (FIXTURES / "feeds" / "tin_moi.rss").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = feed if self.path == "/rss/tin-moi.rss" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/rss+xml")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/rss.xml"
    try:
        url = f"http://127.0.0.1:{server.server_port}/rss/tin-moi.rss"
        saved = [a for a in read_sources([FIXTURES / "feeds" / "tin_moi.rss"]) if isinstance(a, Article)]
        summary = reindex([url, closed], tmp_path / "index", jobs=1, echo=Echo())
    finally:
        server.shutdown()
        server.server_close()
    assert summary.added == len(saved) > 0 and summary.failed == 1
    assert summary.problems[0].startswith(f"{closed}: cannot fetch {closed}")
    _, ix = IndexStore(tmp_path / "index").open()
    with ix.searcher() as searcher:
        assert sorted(d["title"] for d in searcher.documents()) == sorted(a.title for a in saved)
    ix.close()
