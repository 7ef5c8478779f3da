"""Tests for searchsvc.reading.html: saved news pages, read with trafilatura and the page's metadata."""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from searchsvc.reading.article import Article, ReadNotice, ReadProblem, stable_id
from searchsvc.reading.html import clean_text, fragment_to_text
from searchsvc.reading.sources import read_file, read_sources, sniff

HTML = Path(__file__).parent / "fixtures" / "html"
NEWS_PAGE = HTML / "cau_vuot_song.html"
BROKEN_PAGE = HTML / "hoc_bong_vung_cao.htm"

# Text of the menu, ads, comments, related links, most-read box, share bar and footer of the fixtures.
BOILERPLATE = [
    "Trang chủ", "Kinh tế", "Thể thao", "Tìm kiếm", "Quảng cáo", "QUẢNG CÁO", "căn hộ", "Vay tiêu dùng", "Ô tô điện",
    "Khóa học tiếng Anh", "Ý kiến bạn đọc", "Nguyễn Văn Bình", "đèn tín hiệu", "Cầu đẹp quá", "Bình luận",
    "ý nghĩa quá", "Tin liên quan", "Phân luồng", "Giá nhà ven sông", "Tin khác", "Tuyển sinh lớp 10",
    "Đọc nhiều", "Lễ hội hoa đào", "Chia sẻ", "Zalo", "Bản quyền", "Ghi rõ nguồn", "Giấy phép", "|",
]


def _article(path: Path) -> Article:
    [article] = [item for item in read_file(path) if isinstance(item, Article)]
    return article


def test_news_page_fields_come_from_its_metadata() -> None:
    article = _article(NEWS_PAGE)
    assert article.title == "Khánh thành cầu vượt sông Mẫu Lương sau 30 tháng thi công"
    assert article.sapo == (
        "Cây cầu dài 1,2 km nối hai bờ sông Mẫu Lương được đưa vào sử dụng sáng nay, "
        "rút ngắn quãng đường đi lại của hơn 40.000 cư dân."
    )
    assert article.published == datetime(2021, 3, 31, 16, 31)
    assert article.category == "Thời sự"
    assert article.source == "Báo Phường Mẫu"
    assert article.url == "https://baophuongmau.example.vn/thoi-su/khanh-thanh-cau-vuot-song-mau-luong-4521.html"
    assert article.origin == str(NEWS_PAGE)
    assert article.id == stable_id("html", article.url) and article.id.startswith("url-")


def test_news_page_body_is_the_article_only_in_clean_paragraphs() -> None:
    paragraphs = _article(NEWS_PAGE).body.split("\n")
    assert len(paragraphs) == 5
    assert paragraphs[0].startswith("Sáng 31/3, Ủy ban nhân dân quận tổ chức lễ khánh thành")
    assert paragraphs[0].endswith("lối đi bộ rộng 2 m ở mỗi bên.")  # &nbsp; became a plain space
    assert "chỉ còn chưa đầy 5 phút." in paragraphs[2]  # &#160; too
    assert paragraphs[3] == (
        "Bà Lê Thị Hòa, một tiểu thương ở chợ Mẫu Tây, cho biết từ nay việc chở hàng sang bờ bên kia thuận tiện "
        'hơn nhiều. "Ngày trước mỗi sáng tôi phải dậy từ 4 giờ để kịp đi vòng, giờ thì đỡ vất vả rồi", bà nói.'
    )
    assert paragraphs[4].startswith("Quận cho biết sẽ tiếp tục lắp đặt")
    body = "\n".join(paragraphs)
    assert "\u00a0" not in body and "\u200b" not in body and "&" not in body
    # The headline and the lede have their own fields and are not repeated in the body.
    assert "Khánh thành cầu vượt" not in body and "Cây cầu dài 1,2 km" not in body


@pytest.mark.parametrize("page", [NEWS_PAGE, BROKEN_PAGE], ids=["news", "broken"])
def test_no_boilerplate_leaks_into_the_body(page: Path) -> None:
    article = _article(page)
    for text in BOILERPLATE:
        assert text not in article.body, f"{text!r} leaked into the body of {page.name}"
        assert text not in article.sapo


def test_broken_markup_page() -> None:
    article = _article(BROKEN_PAGE)
    assert article.title == "Trao 120 suất học bổng cho học sinh vùng cao"
    assert article.published == datetime(2021, 4, 4, 7, 5)  # "Chủ nhật, 4/4/2021 - 07:05" in a pubdate meta
    assert article.category == "Giáo dục"
    assert article.url == (
        "http://www.giaoducmauson.example.vn/giao-duc/trao-hoc-bong-vung-cao-881.htm?utm_source=facebook"
    )
    assert article.sapo == ""
    paragraphs = article.body.split("\n")
    assert [p[:30] for p in paragraphs] == [
        "Sáng 4/4, Hội Khuyến học huyện",
        "Các em nhận học bổng đều có kế",
        "Thầy Vàng A Sử, hiệu trưởng tr",
        "Từ năm 2015 đến nay, quỹ khuyế",
    ]


def test_unparseable_date_leaves_the_page_undated_and_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    text = NEWS_PAGE.read_text(encoding="utf-8")
    text = text.replace('"datePublished": "2021-03-31T16:31:00+07:00"', '"datePublished": "2 giờ trước"')
    page.write_text(text, encoding="utf-8")
    items = list(read_file(page))
    assert items[0] == ReadNotice(str(page), None, "undated",
                                  "unparseable publication date '2 giờ trước'; article left undated")
    assert isinstance(items[1], Article) and items[1].published is None
    assert items[1].title == "Khánh thành cầu vượt sông Mẫu Lương sau 30 tháng thi công"


def test_pages_that_are_not_articles_are_reported(tmp_path: Path) -> None:
    empty = tmp_path / "empty.html"
    empty.write_text("   \n", encoding="utf-8")
    bare = tmp_path / "bare.html"
    bare.write_text("<!doctype html><html><head></head><body><nav><a href='/'>Trang chủ</a></nav></body></html>",
                    encoding="utf-8")
    assert list(read_sources([empty])) == [ReadProblem(str(empty), None, "empty HTML page")]
    [problem] = read_sources([bare])
    assert isinstance(problem, ReadProblem) and problem.line is None
    assert "title" in problem.reason or "no article text" in problem.reason


def test_html_is_sniffed_whatever_the_file_is_called(tmp_path: Path) -> None:
    no_suffix = tmp_path / "khanh-thanh-cau-4521"
    shutil.copy(NEWS_PAGE, no_suffix)
    as_txt = tmp_path / "trang.txt"
    shutil.copy(BROKEN_PAGE, as_txt)
    assert (sniff(no_suffix), sniff(as_txt)) == ("html", "html")
    assert _article(no_suffix).title == _article(NEWS_PAGE).title
    assert _article(as_txt).title == _article(BROKEN_PAGE).title


def test_ids_come_from_the_canonical_url_else_the_content(tmp_path: Path) -> None:
    first = [a.id for a in read_sources([HTML]) if isinstance(a, Article)]
    assert first == [a.id for a in read_sources([HTML]) if isinstance(a, Article)]
    assert len(set(first)) == 2 and all(i.startswith("url-") for i in first)
    # Saved elsewhere under another name: the same page, the same id.
    copy = tmp_path / "luu" / "trang-1.html"
    copy.parent.mkdir()
    shutil.copy(NEWS_PAGE, copy)
    assert _article(copy).id == _article(NEWS_PAGE).id
    # A page that states no URL is known by its content, not its file name.
    html = NEWS_PAGE.read_text(encoding="utf-8")
    bare = re.sub(r'<link rel="canonical"[^>]*>|<meta property="og:url"[^>]*>|"(mainEntityOfPage|url)": *"[^"]*",?',
                  "", html)
    assert "baophuongmau.example.vn/thoi-su" not in bare
    (tmp_path / "a.html").write_text(bare, encoding="utf-8")
    (tmp_path / "b.htm").write_text(bare, encoding="utf-8")
    a, b = _article(tmp_path / "a.html"), _article(tmp_path / "b.htm")
    assert a.url == "" and a.id == b.id and a.id.startswith("html-")


def test_clean_text_and_fragments() -> None:
    assert clean_text("  Hà&nbsp;Nội\u200b  mưa&#8203; lớn \n\n\u00a0\n Đoạn\u00adhai ") == "Hà Nội mưa lớn\nĐoạnhai"
    assert clean_text("Tho\u0300i") == "Thòi"  # NFC
    assert fragment_to_text("<p>Một&nbsp;hai</p><p>Ba<br>bốn</p><script>x()</script>") == "Một hai\nBa\nbốn"
    assert fragment_to_text("") == ""
    assert fragment_to_text("Chỉ là chữ &amp; số") == "Chỉ là chữ & số"


def test_a_dateline_at_the_top_of_the_body_is_not_body_text() -> None:
    from searchsvc.reading.html import read_html_page

    page = """<!doctype html><html lang="vi"><head><title>Giá lúa tăng mạnh ở miền Tây</title>
    <meta property="og:title" content="Giá lúa tăng mạnh ở miền Tây"></head><body>
    <article><h1>Giá lúa tăng mạnh ở miền Tây</h1><p class="date">Thứ Hai, 2/9/2024, 08:30 (GMT+7)</p>
    <p>Giá lúa tại các tỉnh miền Tây tăng thêm 300 đồng mỗi ký trong tuần qua, nông dân phấn khởi vì được giá.</p>
    <p>Thương lái cho biết nhu cầu xuất khẩu gạo đang cao, đẩy giá lúa lên mức cao nhất từ đầu năm 2024.</p>
    </article></body></html>"""
    [article] = read_html_page(page, origin="gia-lua.html")
    assert article.body.startswith("Giá lúa tại các tỉnh miền Tây")
    assert "GMT+7" not in article.body and "2/9/2024" not in article.body
    assert article.published == datetime(2024, 9, 2, 8, 30)  # the page stated no other date: the dateline's
    # A sentence that merely starts with a date stays.
    [kept] = read_html_page(page.replace("Thứ Hai, 2/9/2024, 08:30 (GMT+7)", "2/9/2024, nông dân ra đồng sớm"),
                            origin="gia-lua.html")
    assert kept.body.startswith("2/9/2024, nông dân ra đồng sớm")
