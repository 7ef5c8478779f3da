"""Tests for searchsvc.reading.sources: JSON Lines, gzip, portal text export, walking."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import unicodedata
from datetime import datetime
from pathlib import Path

import pytest

from searchsvc.reading.article import Article, ReadProblem
from searchsvc.reading.portal import DATE_LINE_HINT
from searchsvc.reading.sources import SUPPORTED_SUFFIXES, read_file, read_sources

FIXTURES = Path(__file__).parent / "fixtures"
PORTAL_FIXTURE = FIXTURES / "portal" / "hien_mau.txt"
DEMO_DIR = Path(__file__).parents[1] / "searchsvc" / "demo"
SEEDS_DIR = Path(__file__).parents[2] / "shared" / "seeds"
SEED_FILE = SEEDS_DIR / "000_40c29efcdb949413.txt"

NBSP = "\u00a0"


def _line(**fields: object) -> str:
    return json.dumps(fields, ensure_ascii=False)


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _txt_id(title: str, published: str) -> str:
    """A portal export's id: its title and publication time, whitespace and Unicode form folded."""
    key = " ".join(unicodedata.normalize("NFC", title).split()) + "\n" + published
    return "txt-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def _split(items: list[Article | ReadProblem]) -> tuple[list[Article], list[ReadProblem]]:
    articles = [i for i in items if isinstance(i, Article)]
    problems = [i for i in items if isinstance(i, ReadProblem)]
    assert len(articles) + len(problems) == len(items)
    return articles, problems


FULL_RECORD = {
    "id": "a-1",
    "title": "Hà Nội ngập lụt sau mưa lớn",
    "sapo": "Mưa lớn gây ngập.",
    "body": "Đoạn một.\nĐoạn hai.",
    "category": "Thời sự",
    "published": "2024-07-22T06:45:00",
    "url": "https://example.vn/ngap",
    "source": "Báo Mẫu",
    "views": 15230,
    "tags": ["ignored", "extra key"],
}


def _expected_full(origin: str) -> Article:
    return Article(
        id="a-1",
        title="Hà Nội ngập lụt sau mưa lớn",
        sapo="Mưa lớn gây ngập.",
        body="Đoạn một.\nĐoạn hai.",
        category="Thời sự",
        source="Báo Mẫu",
        url="https://example.vn/ngap",
        published=datetime(2024, 7, 22, 6, 45),
        views=15230,
        origin=origin,
    )


# --- JSON Lines ---------------------------------------------------------------


def test_jsonl_reads_all_fields_and_defaults(tmp_path: Path) -> None:
    path = _write_lines(
        tmp_path / "a.jsonl",
        [json.dumps(FULL_RECORD, ensure_ascii=False), _line(id="a-2", title="Chỉ có tiêu đề")],
    )
    assert list(read_file(path)) == [
        _expected_full(f"{path}:1"),
        Article(id="a-2", title="Chỉ có tiêu đề", origin=f"{path}:2"),
    ]


def test_jsonl_gzip_reads_same_articles(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(FULL_RECORD, ensure_ascii=False) + "\n")
        fh.write("\n")
        fh.write(_line(id="a-2", title="Hai") + "\n")
    assert list(read_file(path)) == [
        _expected_full(f"{path}:1"),
        Article(id="a-2", title="Hai", origin=f"{path}:3"),
    ]


def test_jsonl_suffix_is_case_insensitive(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "UPPER.JSONL", [_line(id="x", title="T")])
    assert [a.id for a in read_file(path)] == ["x"]


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ("", None),
        ("   ", None),
        (None, None),
        ("2021-03-31", datetime(2021, 3, 31, 0, 0)),
        ("2021-03-31T16:31:00", datetime(2021, 3, 31, 16, 31)),
        ("2021-03-31 16:31", datetime(2021, 3, 31, 16, 31)),
        ("2021-03-31T16:31:00+07:00", datetime(2021, 3, 31, 16, 31)),
        ("2021-03-31T09:31:00Z", datetime(2021, 3, 31, 16, 31)),
        ("2021-03-31T11:31:00+02:00", datetime(2021, 3, 31, 16, 31)),
        ("2021-03-31T20:00:00-05:00", datetime(2021, 4, 1, 8, 0)),
    ],
)
def test_jsonl_published_forms(tmp_path: Path, published: str | None, expected: datetime | None) -> None:
    path = _write_lines(tmp_path / "p.jsonl", [_line(id="x", title="T", published=published)])
    [article] = read_file(path)
    assert isinstance(article, Article)
    assert article.published == expected
    assert article.published is None or article.published.tzinfo is None


def test_jsonl_missing_published_key_is_none(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "p.jsonl", [_line(id="x", title="T")])
    [article] = read_file(path)
    assert isinstance(article, Article)
    assert article.published is None
    assert article.views is None


def test_jsonl_bad_lines_are_reported_and_reading_continues(tmp_path: Path) -> None:
    lines = [
        _line(id="ok-1", title="Một"),  # 1
        '{"id": "x", "title": ',  # 2 invalid JSON
        "",  # 3 blank: skipped silently
        "   ",  # 4 blank: skipped silently
        '["id", "title"]',  # 5 not an object
        _line(title="Thiếu id"),  # 6
        _line(id="", title="Id rỗng"),  # 7
        _line(id="x", title="   "),  # 8
        _line(id="x", title=42),  # 9
        _line(id=7, title="Id là số"),  # 10
        _line(id="x", title="T", views="2521"),  # 11
        _line(id="x", title="T", views=True),  # 12
        _line(id="x", title="T", views=-1),  # 13
        _line(id="x", title="T", published="31/03/2021"),  # 14
        _line(id="x", title="T", published=20210331),  # 15
        _line(id="x", title="T", body=["a", "b"]),  # 16
        '"just a string"',  # 17
        _line(id="ok-2", title="Hai", views=0),  # 18
    ]
    path = _write_lines(tmp_path / "bad.jsonl", lines)
    p = str(path)
    assert list(read_file(path)) == [
        Article(id="ok-1", title="Một", origin=f"{p}:1"),
        ReadProblem(p, 2, "invalid JSON: Expecting value (column 22)"),
        ReadProblem(p, 5, "expected a JSON object, got array"),
        ReadProblem(p, 6, "missing or empty 'id'"),
        ReadProblem(p, 7, "missing or empty 'id'"),
        ReadProblem(p, 8, "missing or empty 'title'"),
        ReadProblem(p, 9, "'title' must be a string, got number"),
        ReadProblem(p, 10, "'id' must be a string, got number"),
        ReadProblem(p, 11, "'views' must be an integer, got string"),
        ReadProblem(p, 12, "'views' must be an integer, got boolean"),
        ReadProblem(p, 13, "'views' must not be negative, got -1"),
        ReadProblem(
            p,
            14,
            "unparseable 'published' '31/03/2021' (expected YYYY-MM-DD or an ISO 8601 date-time)",
        ),
        ReadProblem(p, 15, "'published' must be a string, got number"),
        ReadProblem(p, 16, "'body' must be a string, got array"),
        ReadProblem(p, 17, "expected a JSON object, got string"),
        Article(id="ok-2", title="Hai", views=0, origin=f"{p}:18"),
    ]


def test_jsonl_all_field_errors_of_a_line_are_reported_together(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "m.jsonl", [_line(title=1, views=1.5)])
    assert list(read_file(path)) == [
        ReadProblem(
            str(path),
            1,
            "missing or empty 'id'; 'title' must be a string, got number; 'views' must be an integer, got number",
        )
    ]


def test_jsonl_null_optional_fields_become_empty(tmp_path: Path) -> None:
    path = _write_lines(
        tmp_path / "n.jsonl",
        [_line(id=" x ", title=" T ", sapo=None, url=None, views=None, published=None)],
    )
    assert list(read_file(path)) == [Article(id="x", title="T", origin=f"{path}:1")]


def test_jsonl_undecodable_line_is_reported_and_next_lines_read(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        _line(id="1", title="Một").encode("utf-8")
        + b"\n"
        + b'{"id": "2", "title": "\xff\xfe"}\n'
        + _line(id="3", title="Ba").encode("utf-8")
        + b"\n"
    )
    assert list(read_file(path)) == [
        Article(id="1", title="Một", origin=f"{path}:1"),
        ReadProblem(str(path), 2, "not valid UTF-8 (byte 0xff at offset 22)"),
        Article(id="3", title="Ba", origin=f"{path}:3"),
    ]


def test_jsonl_latin1_accented_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_bytes('{"id": "1", "title": "café"}\n'.encode("latin-1"))
    assert list(read_file(path)) == [ReadProblem(str(path), 1, "not valid UTF-8 (byte 0xe9 at offset 25)")]


def test_jsonl_bom_and_crlf_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + _line(id="1", title="Một").encode("utf-8")
        + b"\r\n"
        + _line(id="2", title="Hai").encode("utf-8")
        + b"\r\n"
    )
    assert list(read_file(path)) == [
        Article(id="1", title="Một", origin=f"{path}:1"),
        Article(id="2", title="Hai", origin=f"{path}:2"),
    ]


def test_truncated_gzip_yields_articles_so_far_then_one_problem(tmp_path: Path) -> None:
    rng = random.Random(7)
    lines = [
        _line(id=f"g-{n}", title=f"Tin {n}", body=" ".join(str(rng.random()) for _ in range(8))) for n in range(1, 401)
    ]
    data = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])

    articles, problems = _split(list(read_file(path)))
    assert 0 < len(articles) < len(lines)
    assert [a.id for a in articles] == [f"g-{n}" for n in range(1, len(articles) + 1)]
    assert len(problems) == 1
    [problem] = problems
    assert problem.path == str(path)
    assert problem.line == len(articles) + 1
    assert problem.reason.startswith("gzip data truncated or corrupt, stopped reading:")


def test_file_that_is_not_gzip_is_one_problem(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "plain.jsonl.gz", [_line(id="1", title="T")])
    [problem] = read_file(path)
    assert isinstance(problem, ReadProblem)
    assert (problem.path, problem.line) == (str(path), 1)
    assert problem.reason.startswith("gzip data truncated or corrupt")


# --- Portal text export -----------------------------------------------------------


def test_portal_fixture_is_parsed() -> None:
    [article] = read_file(PORTAL_FIXTURE)
    assert isinstance(article, Article)
    assert article.category == "Tin tức - Hoạt động phường"
    assert article.title == "Phường Hòa Mẫu tổ chức ngày hội hiến máu tình nguyện"
    assert article.published == datetime(2022, 6, 5, 9, 7)
    assert article.views == 1348
    assert article.body.split("\n") == [
        "Sáng 4/6/2022, phường Hòa Mẫu tổ chức ngày hội hiến máu tình nguyện tại "
        "nhà văn hóa phường với sự tham gia của hơn 150 người.",
        f"Bà Ngô Thị Mẫu{NBSP} - Chủ tịch Hội Chữ thập đỏ phường phát biểu tại ngày hội",
        "Kết thúc ngày hội, ban tổ chức đã tiếp nhận 132 đơn vị máu để chuyển về bệnh viện tuyến trên.",
    ]
    assert (article.sapo, article.source, article.url) == ("", "", "")
    assert article.origin == str(PORTAL_FIXTURE)


def test_portal_id_comes_from_the_story_not_the_path(tmp_path: Path) -> None:
    first = list(read_file(PORTAL_FIXTURE))
    second = list(read_sources([PORTAL_FIXTURE]))
    assert first == second
    assert first[0].id == _txt_id(first[0].title, first[0].published.isoformat())

    # However the path is typed or the file is moved or renamed, the same story has the same id.
    via_dir = [a for a in read_sources([FIXTURES]) if a.origin == str(PORTAL_FIXTURE)]
    via_sub = [a for a in read_sources([PORTAL_FIXTURE.parent]) if a.origin == str(PORTAL_FIXTURE)]
    moved = tmp_path / "exports" / "2024" / "bai-123.txt"
    moved.parent.mkdir(parents=True)
    moved.write_bytes(PORTAL_FIXTURE.read_bytes())
    assert [a.id for a in via_dir] == [a.id for a in via_sub] == [first[0].id]
    assert [a.id for a in read_sources([tmp_path])] == [first[0].id]

    # The view count changes between exports and the body may be edited: still the same article.
    text = PORTAL_FIXTURE.read_text(encoding="utf-8")
    edited = re.sub(r"Lượt xem: *[\d.,]+", "Lượt xem: 987654", text) + "\nMột đoạn bổ sung.\n"
    assert edited != text
    moved.write_text(edited, encoding="utf-8")
    [again] = read_file(moved)
    assert again.id == first[0].id and again.body != first[0].body

    # Another story (another title) is another article.
    moved.write_text(edited.replace(first[0].title, first[0].title + " (cập nhật)"), encoding="utf-8")
    [other] = read_file(moved)
    assert other.id != first[0].id


def _portal(tmp_path: Path, text: str, name: str = "p.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("date_line", "published", "views"),
    [
        ("Ngày đăng 31/03/2021 | 16:31  | Lượt xem: 2521", datetime(2021, 3, 31, 16, 31), 2521),
        (
            f"Ngày đăng 31/03/2021 | 16:31 {NBSP}|{NBSP}Lượt xem: 2521",
            datetime(2021, 3, 31, 16, 31),
            2521,
        ),
        ("  Ngày đăng   1/3/2021  |  7:05  |  Lượt xem:   12  ", datetime(2021, 3, 1, 7, 5), 12),
        ("Ngày đăng 31/03/2021 | Lượt xem: 2.521", datetime(2021, 3, 31, 0, 0), 2521),
        ("Ngày đăng 31/03/2021 | 16:31", datetime(2021, 3, 31, 16, 31), None),
        ("Ngày đăng 31/03/2021", datetime(2021, 3, 31, 0, 0), None),
        (unicodedata.normalize("NFD", "Ngày đăng 02/01/2024 | 00:05"), datetime(2024, 1, 2, 0, 5), None),
    ],
)
def test_portal_date_line_variants(tmp_path: Path, date_line: str, published: datetime, views: int | None) -> None:
    path = _portal(tmp_path, f"Mục\n\nTiêu đề\n{date_line}\n\nThân bài.\n")
    [article] = read_file(path)
    assert isinstance(article, Article)
    assert (article.published, article.views) == (published, views)
    assert (article.category, article.title, article.body) == ("Mục", "Tiêu đề", "Thân bài.")


def test_portal_without_body_is_still_an_article(tmp_path: Path) -> None:
    path = _portal(tmp_path, "Mục\nTiêu đề\nNgày đăng 31/03/2021 | 16:31 | Lượt xem: 3\n")
    [article] = read_file(path)
    assert isinstance(article, Article)
    assert (article.title, article.body, article.views) == ("Tiêu đề", "", 3)


def test_portal_bom_and_crlf_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    text = "Mục\r\n\r\nTiêu đề\r\nNgày đăng 31/03/2021 | 16:31\r\n\r\nĐoạn 1\r\n\r\nĐoạn 2\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    [article] = read_file(path)
    assert isinstance(article, Article)
    assert (article.category, article.title, article.body) == ("Mục", "Tiêu đề", "Đoạn 1\nĐoạn 2")


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", None, "empty file"),
        ("\n  \n\n", None, "empty file"),
        ("Mục\n", 2, "missing title after the section line"),
        ("Mục\n\nTiêu đề\n", 4, f"missing date line: {DATE_LINE_HINT}"),
        ("Mục\nTiêu đề\n\nĐoạn thân bài thay cho dòng ngày\nĐoạn 2\n", 4, DATE_LINE_HINT),
        ("Mục\nTiêu đề\nNgày đăng hôm qua | Lượt xem: 3\n\nThân bài\n", 3, DATE_LINE_HINT),
        (
            "Mục\n\nNgày đăng 31/03/2021 | 16:31\n\nThân bài\n",
            3,
            "expected a section line and a title line before the date line, found only one line",
        ),
        (
            "\nNgày đăng 31/03/2021 | 16:31\nThân bài\n",
            2,
            "expected a section line and a title line before the date line, found no line",
        ),
        (
            "Mục\nTiêu đề\nNgày đăng 31/02/2021 | 16:31\nThân bài\n",
            3,
            "invalid date or time in date line: day is out of range for month",
        ),
        (
            "Mục\nTiêu đề\nNgày đăng 30/04/2021 | 25:10\nThân bài\n",
            3,
            "invalid date or time in date line: hour must be in 0..23",
        ),
    ],
)
def test_portal_malformed_files(tmp_path: Path, text: str, line: int | None, reason: str) -> None:
    path = _portal(tmp_path, text)
    assert list(read_file(path)) == [ReadProblem(str(path), line, reason)]


def test_portal_non_utf8_text_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cp1258.txt"
    path.write_bytes(b"Muc\n\nTieu de\nNg\xe0y \xf0\xe3ng 31/03/2021\n")
    assert list(read_file(path)) == [ReadProblem(str(path), 4, "not UTF-8 text")]


# --- Walking sources ---------------------------------------------------------------


def test_read_sources_walks_sorted_recursive_and_reports_unsupported(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "a" / "deep").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "empty").mkdir()
    _write_lines(root / "b.jsonl", [_line(id="b1", title="B1"), _line(id="b2", title="B2")])
    _write_lines(root / "a" / "c.jsonl", [_line(id="c1", title="C1")])
    with gzip.open(root / "a" / "deep" / "d.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(_line(id="d1", title="D1") + "\n")
    _portal(root / "a", "Mục\nTiêu đề Z\nNgày đăng 01/01/2024\nThân\n", name="z.txt")
    (root / "notes.csv").write_text("id,title\n", encoding="utf-8")
    (root / "data.json").write_text("{}", encoding="utf-8")
    _write_lines(root / ".hidden.jsonl", [_line(id="h", title="H")])
    _write_lines(root / ".git" / "x.jsonl", [_line(id="g", title="G")])
    (root / "README.md").write_text("# data\n", encoding="utf-8")

    items = list(read_sources([root]))
    summary = [a.id if isinstance(a, Article) else str(a) for a in items]
    assert summary == [
        "c1",
        "d1",
        _txt_id("Tiêu đề Z", "2024-01-01T00:00:00"),
        "b1",
        "b2",
        f"{root / 'data.json'}: unsupported file type, skipped",
        f"{root / 'notes.csv'}: unsupported file type, skipped",
    ]
    assert list(read_sources([root])) == items


def test_read_sources_reports_missing_paths_and_continues(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    good = _write_lines(tmp_path / "g.jsonl", [_line(id="1", title="T")])
    assert list(read_sources([missing, good, str(missing) + ".jsonl"])) == [
        ReadProblem(str(missing), None, "no such file or directory", unread=True),
        Article(id="1", title="T", origin=f"{good}:1"),
        ReadProblem(str(missing) + ".jsonl", None, "no such file or directory", unread=True),
    ]


def test_explicit_files_are_read_even_if_hidden_and_reported_if_unsupported(
    tmp_path: Path,
) -> None:
    hidden = _write_lines(tmp_path / ".h.jsonl", [_line(id="h", title="H")])
    other = tmp_path / "x.json"
    other.write_text("{}", encoding="utf-8")
    assert list(read_sources([hidden, other])) == [
        Article(id="h", title="H", origin=f"{hidden}:1"),
        ReadProblem(str(other), None, "unsupported file type, skipped"),
    ]


def test_read_problem_str() -> None:
    assert str(ReadProblem("a.jsonl", 3, "invalid JSON")) == "a.jsonl:3: invalid JSON"
    assert str(ReadProblem("a.csv", None, "unsupported")) == "a.csv: unsupported"


def test_supported_suffixes() -> None:
    assert SUPPORTED_SUFFIXES == (".jsonl", ".jsonl.gz", ".txt", ".html", ".htm", ".xml", ".rss", ".atom")


# --- Real seed and demo data ---------------------------------------------------------


@pytest.mark.corpus
def test_real_portal_seed() -> None:
    if not SEED_FILE.is_file():
        pytest.skip(f"seed file not available: {SEED_FILE}")
    [article] = read_sources([SEED_FILE])
    assert isinstance(article, Article)
    assert article.title.startswith("Long Biên sơ kết 05 năm")
    assert article.category == "Tin tức - Sự kiện nổi bật"
    assert article.published == datetime(2021, 3, 31, 16, 31)
    assert article.views == 2521
    paragraphs = article.body.split("\n")
    assert any(p.startswith("Đ/c Nguyễn Thế Thạch") for p in paragraphs)
    assert all(p == p.strip() and p for p in paragraphs)
    assert article.id == _txt_id(article.title, "2021-03-31T16:31:00")


DEMO_JSONL_COUNT = 26
DEMO_PORTAL_COUNT = 7


def test_demo_articles_all_load() -> None:
    items = list(read_sources([DEMO_DIR]))
    articles, problems = _split(items)
    assert problems == []
    assert len(articles) == DEMO_JSONL_COUNT + DEMO_PORTAL_COUNT
    assert len({a.id for a in articles}) == len(articles)
    assert sum(a.id.startswith("demo-") for a in articles) == DEMO_JSONL_COUNT
    assert sum(a.id.startswith("txt-") for a in articles) == DEMO_PORTAL_COUNT
    assert all(a.published is not None and a.category and a.body for a in articles)

    by_id = {a.id: a for a in articles}
    # One body is stored decomposed on purpose, for normalisation tests.
    assert not unicodedata.is_normalized("NFC", by_id["demo-025"].body)
    assert all(unicodedata.is_normalized("NFC", a.title + a.sapo + a.body) for a in articles if a.id != "demo-025")
