"""The search layer through SearchService, on a real on-disk index of searchsvc/demo (real pyvi, real Whoosh).

Assertions name the demo articles by id; the sets below were read off the
demo text (searchsvc/demo/articles.jsonl and portal/*.txt). Known bugs are
``xfail(strict=True)`` with the reason starting ``BUG:``.
"""

from __future__ import annotations

import html
import json
import random
import re
import unicodedata
from datetime import date
from pathlib import Path

import pytest

from searchsvc.analysis.vietnamese import fold
from searchsvc.engine.highlight import FRAGMENT_CHARS, TOP_FRAGMENTS
from searchsvc.engine.query import MAX_QUERY_CHARS
from searchsvc.engine.search import MAX_PER_PAGE, QueryError, SearchRequest, SearchService
from searchsvc.index.indexer import reindex

# Portal articles take their id from their path under searchsvc/demo.
TXT_SONG_HONG = "txt-ed2eefece9c68747"  # "Phường An Lạc ra quân làm sạch bãi sông Hồng" (… người dân Hà Nội …)
TXT_KHAM_SANG_LOC = "txt-1a3f44d9aad9fb6a"  # "Trạm y tế phường khám sàng lọc …" (đường huyết, dưỡng, sức khỏe)
TXT_BONG_BAN = "txt-deedd31e6e19685a"  # "Sôi nổi giải bóng bàn cán bộ, công chức phường năm 2025" (Thể thao)
TXT_CA_TRU = "txt-32cc20824291dbb1"  # "Câu lạc bộ ca trù phường biểu diễn chào xuân" (Văn hóa)

# Articles whose text has "Hà Nội" side by side.
HA_NOI = {"demo-001", "demo-002", "demo-003", "demo-012", "demo-016", "demo-022", "demo-025", "demo-026",
          TXT_SONG_HONG}
# Articles that write đường / Đường, and those that only have a word folding to "duong" (dương, Dương, dưỡng, đương).
DUONG_EXACT = {"demo-001", "demo-002", "demo-004", "demo-007", "demo-013", TXT_KHAM_SANG_LOC}
DUONG_FOLDED_ONLY = {"demo-005", "demo-022", "demo-024", "demo-026"}
TIN_PHO = {"demo-002", "demo-006", "demo-009", "demo-011", "demo-015", "demo-018", "demo-021", "demo-024"}
THE_THAO = {"demo-011", "demo-012", "demo-013", TXT_BONG_BAN}

MARK = re.compile(r"</?mark>")


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def search(svc: SearchService, q: str, **kw):
    kw.setdefault("per_page", MAX_PER_PAGE)  # the demo has 33 articles: one page holds every hit
    return svc.search(SearchRequest(q=q, **kw))


def ids(svc: SearchService, q: str, **kw) -> list[str]:
    return [h.id for h in search(svc, q, **kw).hits]


def marked_words(fragment_html: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"<mark>(.*?)</mark>", fragment_html)]


def plain(fragment_html: str) -> str:
    """The text an ``*_html`` string shows: marks removed, entities decoded."""
    return html.unescape(MARK.sub("", fragment_html))


def assert_only_mark_markup(fragment_html: str) -> None:
    rest = MARK.sub("", fragment_html)
    assert "<" not in rest and ">" not in rest, fragment_html
    assert fragment_html.count("<mark>") == fragment_html.count("</mark>"), fragment_html


# --- query understanding -------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["Hà Nội ngập lụt", "gánh hàng rong", "đường", "sức khỏe", 'title:"xe buýt"'])
def test_nfd_query_finds_what_nfc_finds(search_service, q):
    expected = ids(search_service, q)
    assert expected
    assert ids(search_service, nfd(q)) == expected


def test_article_stored_in_nfd_is_found_and_served_as_nfc(search_service):
    # demo-025's body is NFD in articles.jsonl.
    assert ids(search_service, "bà Nguyễn Thị Hạnh")[0] == "demo-025"
    assert ids(search_service, nfd("bà Nguyễn Thị Hạnh"))[0] == "demo-025"
    body = search_service.article("demo-025")["body"]
    assert body.startswith("Mỗi sáng, bà Nguyễn Thị Hạnh")
    assert unicodedata.is_normalized("NFC", body)


@pytest.mark.parametrize(
    ("old", "new", "written_old", "written_new"),
    [
        # (query in old tone placement, new placement, articles writing the old one, articles writing the new one)
        ("hòa", "hoà", {"demo-011", "demo-002"}, {"demo-021"}),
        ("thủy", "thuỷ", {"demo-008", "demo-002"}, {"demo-026"}),
        ("khỏe", "khoẻ", {"demo-014", TXT_KHAM_SANG_LOC, TXT_BONG_BAN}, {"demo-012"}),
        ("sức khỏe", "sức khoẻ", {"demo-014"}, {"demo-012"}),
    ],
)
def test_tone_placement_variants_find_the_same_articles(search_service, old, new, written_old, written_new):
    found_old, found_new = ids(search_service, old), ids(search_service, new)
    assert found_old == found_new
    assert written_old | written_new <= set(found_old)


def test_i_y_variants_find_the_same_articles(search_service):
    assert "demo-017" in ids(search_service, "kỳ")
    assert {"demo-016", "demo-013", "demo-008"} <= set(ids(search_service, "kì"))


def test_quoted_compound_matches_only_the_side_by_side_syllables(search_service):
    assert set(ids(search_service, '"hà nội"')) == HA_NOI
    assert set(ids(search_service, '"Hà Nội"')) == HA_NOI
    assert set(ids(search_service, '"ha noi"')) == HA_NOI
    assert ids(search_service, '"nội hà"') == []


def test_compound_is_not_split_articles_with_the_word_rank_first(search_service):
    # "hà nội" also matches "nội dung", "nội tạng", "Thu Hà" by syllable; the nine with the word come first.
    found = ids(search_service, "hà nội")
    assert len(found) > len(HA_NOI)
    assert set(found[:len(HA_NOI)]) == HA_NOI


def test_exclude_word_and_phrase(search_service):
    rain = set(ids(search_service, "mưa lớn"))
    assert {"demo-001", "demo-002"} <= rain
    assert set(ids(search_service, "mưa lớn -ngập")) == rain - {"demo-001", "demo-002"}  # the two with "ngập"
    assert set(ids(search_service, 'mưa lớn -"hà nội"')) == rain - HA_NOI
    assert set(ids(search_service, '"hà nội" -"mưa lớn"')) == HA_NOI - {"demo-001", "demo-002"}


def test_or_between_words(search_service):
    found = set(ids(search_service, "xe buýt OR robot"))
    assert {"demo-003", "demo-019", "demo-018"} <= found


def test_or_between_phrases(search_service):
    assert set(ids(search_service, '"xe buýt" OR "nhổ cỏ"')) == {"demo-003", "demo-019", "demo-018"}
    assert "demo-018" in ids(search_service, '"xe buýt" OR robot')


def test_title_field(search_service):
    assert set(ids(search_service, "title:xe")) == {"demo-003", "demo-019", "demo-023"}  # "xe" in other bodies too
    assert set(ids(search_service, 'title:"xe buýt"')) == {"demo-003", "demo-019"}
    assert set(ids(search_service, 'title:"ha noi"')) == {"demo-001", "demo-002", "demo-003", "demo-016", "demo-025"}


def test_category_and_source_filters_in_the_query(search_service):
    assert set(ids(search_service, 'category:"Thể thao"')) == THE_THAO
    assert set(ids(search_service, 'source:"Tin Phố"')) == TIN_PHO
    result = search(search_service, 'hà nội source:"Tin Phố"')
    assert {h.id for h in result.hits} == {"demo-002", "demo-024"}
    assert result.hits[0].id == "demo-002"  # has "Hà Nội"; demo-024 only "nội tạng"
    assert all(h.source == "Tin Phố" for h in result.hits)


def test_category_filter_with_old_tone_placement(search_service):
    assert set(ids(search_service, 'category:"Sức khỏe"')) == {"demo-014", "demo-015", TXT_KHAM_SANG_LOC}
    assert set(ids(search_service, 'category:"Văn hóa"')) == {"demo-021", "demo-022", TXT_CA_TRU}


def test_negated_filter_excludes(search_service):
    assert not set(ids(search_service, 'cầu thủ -category:"Thể thao"')) & THE_THAO
    assert all(h.source != "Báo Mẫu" for h in search(search_service, 'mưa -source:"Báo Mẫu"').hits)


@pytest.mark.parametrize(
    ("q", "same_as"),
    [
        ('"hà nội', "hà nội"),  # unbalanced quote: the words are searched
        ('hà nội"', "hà nội"),
        ("hà\x00nội\x07\x1b", "hà nội"),  # control characters are spaces
        ("\u200bhà\u00ad nội\ufeff", "hà nội"),  # zero-width characters vanish
        ("hà nội OR", "hà nội"),
        ("- hà nội -", "hà nội"),
    ],
)
def test_odd_syntax_is_searched_as_words(search_service, q, same_as):
    result = search(search_service, q)
    assert [h.id for h in result.hits] == ids(search_service, same_as)
    assert not re.search(r"[\x00-\x1f\x7f]", result.query)


@pytest.mark.parametrize("q", ["-", "OR", "?!...", '"', '""', "title:", 'category:""', "- OR -", "\x00\x01", "…",
                               "&<>", "\ud800", "😀", "   "])
def test_queries_without_words_find_nothing_quietly(search_service, q):
    result = search(search_service, q)
    assert (result.total, result.hits, result.suggestion) == (0, [], None)


def test_query_length_limit(search_service):
    words = ("hà nội ngập lụt " * 40)[:MAX_QUERY_CHARS]
    assert MAX_QUERY_CHARS == 500 and len(words) == 500
    assert search(search_service, words).hits[0].id == "demo-001"
    with pytest.raises(QueryError, match="too long"):
        search(search_service, words + "x")
    with pytest.raises(QueryError):
        search(search_service, "a" * 5000)


def test_query_length_limit_is_the_same_for_nfd(search_service):
    q = ("Hà Nội ngập lụt " * 40)[:480]
    assert search(search_service, q).total
    assert [h.id for h in search(search_service, nfd(q)).hits] == ids(search_service, q)


def test_random_syntax_raises_nothing_but_query_error(search_service):
    rng = random.Random(20240722)
    alphabet = list("ahnoiđườngHàNội \"-:()*?!.,_\\'\x00\x07\u0300\u0301\u200b") + [
        "OR", "title:", "category:", "source:", '-"', '"', " OR ", "hà nội", "-", "\n"]
    for _ in range(120):
        q = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        try:
            result = search(search_service, q, per_page=5)
        except QueryError:
            continue
        assert result.total >= len(result.hits)


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Robot nhổ cỏ do ai chế tạo?", "demo-018"),
        ("Khi nào công bố kết quả thi vào lớp 10 ở Hà Nội?", "demo-016"),
        ("Mỗi ki-lô-gam đường kính trắng giá bao nhiêu?", "demo-007"),
        ("Ai giành huy chương vàng cờ vua trẻ châu Á?", "demo-013"),
    ],
)
def test_natural_language_question_ranks_the_answer_first(search_service, question, answer):
    assert ids(search_service, question)[0] == answer


# --- ranking ---------------------------------------------------------------------------------------


def test_exact_duong_ranks_written_duong_first(search_service):
    found = ids(search_service, "đường")
    assert set(found) == DUONG_EXACT | DUONG_FOLDED_ONLY
    assert set(found[:2]) == {"demo-013", "demo-007"}  # Đường / đường in the title
    assert set(found[:4]) <= DUONG_EXACT


def test_exact_duong_ranks_every_duong_article_above_duong_only_ones(search_service):
    found = ids(search_service, "đường")
    last_exact = max(found.index(i) for i in DUONG_EXACT)
    first_folded = min(found.index(i) for i in DUONG_FOLDED_ONLY)
    assert last_exact < first_folded, found


def test_folded_duong_finds_both_kinds(search_service):
    found = set(ids(search_service, "duong"))
    assert DUONG_EXACT | DUONG_FOLDED_ONLY <= found


def test_accentless_query_finds_the_flood_article_first(search_service):
    found = ids(search_service, "ha noi ngap lut")
    assert found[0] == "demo-001"
    assert "demo-002" in found[:3]  # the follow-up on the same flood


@pytest.mark.parametrize(
    ("headline", "doc_id"),
    [
        ("Khởi tố nhóm đối tượng làm giả", "demo-023"),
        ("Gánh hàng rong giữa lòng phố cổ", "demo-025"),
        ("Triển lãm sơn mài", "demo-022"),
        ("Lễ hội hoa ban", "demo-021"),
        ("Phường An Lạc ra quân làm sạch bãi sông Hồng", TXT_SONG_HONG),
        ("xuat khau thuy san phuc hoi", "demo-008"),
    ],
)
def test_headline_query_puts_that_article_first(search_service, headline, doc_id):
    assert ids(search_service, headline)[0] == doc_id


# --- sorting, filters, facets, pagination ----------------------------------------------------------


def test_sort_newest(search_service):
    result = search(search_service, "hà nội", sort="newest")
    dates = [h.published for h in result.hits]
    assert None not in dates  # every demo article is dated
    assert dates == sorted(dates, reverse=True)
    assert [h.id for h in result.hits[:3]] == ["demo-025", TXT_BONG_BAN, "demo-012"]
    assert {h.id for h in result.hits} == set(ids(search_service, "hà nội"))


@pytest.mark.parametrize(("field", "value", "expected"), [("category", "Thể thao", THE_THAO),
                                                          ("source", "Tin Phố", TIN_PHO)])
def test_filter_parameters(search_service, field, value, expected):
    assert set(ids(search_service, "", **{field: value})) == expected
    narrowed = search(search_service, "hà nội", **{field: value})
    assert narrowed.hits and all(getattr(h, field) == value for h in narrowed.hits)
    assert {h.id for h in narrowed.hits} == set(ids(search_service, "hà nội")) & expected


def test_filter_parameters_in_nfd(search_service):
    assert set(ids(search_service, "", source=nfd("Tin Phố"))) == TIN_PHO
    assert set(ids(search_service, "", category=nfd("Sức khỏe"))) == {"demo-014", "demo-015", TXT_KHAM_SANG_LOC}


@pytest.mark.parametrize(
    ("date_from", "date_to", "expected"),
    [
        (date(2024, 7, 22), date(2024, 7, 22), ["demo-001"]),  # 06:45 that day: both ends inclusive
        (date(2024, 7, 22), date(2024, 7, 23), ["demo-001", "demo-002"]),  # demo-002 at 09:10 on the 'to' day
        (date(2024, 7, 23), date(2024, 7, 23), ["demo-002"]),
        (None, date(2024, 7, 22), ["demo-001"]),
        (date(2024, 7, 24), None, []),
    ],
)
def test_date_range_is_inclusive(search_service, date_from, date_to, expected):
    assert sorted(ids(search_service, "ngập", date_from=date_from, date_to=date_to)) == expected


def test_date_range_alone_lists_articles(search_service):
    found = search(search_service, "", date_from=date(2024, 7, 22), date_to=date(2024, 7, 23))
    assert {h.id for h in found.hits} == {"demo-001", "demo-002"}


def test_facets_count_the_whole_result_set(search_service):
    whole = search(search_service, "hà nội")
    first_page = search(search_service, "hà nội", per_page=2)
    assert first_page.total == whole.total == 15
    assert len(first_page.hits) == 2
    assert first_page.facets == whole.facets
    facets = whole.facets
    assert set(facets) == {"category", "source", "year"}
    # Every article has a category and a date: those counts sum to the total. Portal articles have no source.
    assert sum(f["count"] for f in facets["category"]) == whole.total
    assert sum(f["count"] for f in facets["year"]) == whole.total
    assert sum(f["count"] for f in facets["source"]) == sum(1 for h in whole.hits if h.source)
    for name in ("category", "source"):
        counts = {}
        for h in whole.hits:
            if getattr(h, name):
                counts[getattr(h, name)] = counts.get(getattr(h, name), 0) + 1
        assert {f["value"]: f["count"] for f in facets[name]} == counts
        assert [f["count"] for f in facets[name]] == sorted(counts.values(), reverse=True)
    years = [f["value"] for f in facets["year"]]
    assert years == sorted(years, reverse=True) == ["2025", "2024", "2023"]
    assert {f["value"]: f["count"] for f in facets["year"]} == {"2025": 3, "2024": 11, "2023": 1}


def test_pagination(search_service):
    whole = [h.id for h in search(search_service, "hà nội").hits]
    pages = [search(search_service, "hà nội", per_page=4, page=p) for p in (1, 2, 3, 4)]
    assert [p.total for p in pages] == [15] * 4
    assert [p.page for p in pages] == [1, 2, 3, 4]
    assert [h.id for p in pages for h in p.hits] == whole
    assert [len(p.hits) for p in pages] == [4, 4, 4, 3]
    with pytest.raises(QueryError, match="beyond"):
        search(search_service, "hà nội", per_page=4, page=5)
    newest = [h.id for h in search(search_service, "hà nội", sort="newest").hits]
    assert [h.id for p in (1, 2) for h in search(search_service, "hà nội", sort="newest", per_page=8, page=p).hits] \
        == newest


@pytest.mark.parametrize(
    "request_kw",
    [
        {"per_page": MAX_PER_PAGE + 1},
        {"per_page": 0},
        {"page": 0},
        {"page": 2},  # "-" has no results: page 2 is beyond them
        {"sort": "bogus"},
        {"date_from": date(2024, 7, 23), "date_to": date(2024, 7, 22)},
    ],
)
def test_bad_requests_raise_query_error(search_service, request_kw):
    q = "-" if request_kw.get("page") == 2 else "hà nội"
    with pytest.raises(QueryError):
        search_service.search(SearchRequest(q=q, **request_kw))


# --- results: highlighting and escaping --------------------------------------------------------------


@pytest.mark.parametrize("q", ["hà nội", "ha noi ngap lut", "đường", "duong", "mưa lớn", "xe buýt", "người dân",
                               "học sinh", "rác thải nhựa", '"công nhân"'])
def test_html_is_the_article_text_with_marks(search_service, q):
    for hit in search(search_service, q).hits:
        assert_only_mark_markup(hit.title_html)
        assert_only_mark_markup(hit.snippet_html)
        assert plain(hit.title_html) == hit.title
        article = search_service.article(hit.id)
        fragments = [f.strip(" …") for f in plain(hit.snippet_html).split(" … ")]
        assert 1 <= len(fragments) <= TOP_FRAGMENTS
        for fragment in fragments:
            # About FRAGMENT_CHARS; cutting at word boundaries moves each end by at most 20 characters.
            assert len(fragment) <= FRAGMENT_CHARS + 40, fragment
            assert fragment in article["body"] or fragment in article["sapo"], fragment


def test_accentless_query_marks_the_articles_own_spelling(search_service):
    hit = search(search_service, "ha noi ngap lut").hits[0]
    assert hit.title_html == "<mark>Hà Nội ngập lụt</mark> sau mưa lớn"
    assert "<mark>Hà Nội</mark>" in hit.snippet_html
    old_tone = {h.id: h for h in search(search_service, "hoà").hits}  # new placement typed, old written
    assert "<mark>hòa</mark>" in old_tone["demo-011"].title_html
    assert "<mark>hoà</mark>" in old_tone["demo-021"].snippet_html


def test_query_with_diacritics_marks_exact_spellings_only(search_service):
    hits = {h.id: h for h in search(search_service, "đường").hits}
    for doc_id in DUONG_FOLDED_ONLY:
        assert "<mark>" not in hits[doc_id].title_html + hits[doc_id].snippet_html, doc_id
    for doc_id in DUONG_EXACT:
        words = marked_words(hits[doc_id].title_html) + marked_words(hits[doc_id].snippet_html)
        assert words and {w.lower() for w in words} == {"đường"}, doc_id
    # Typed without diacritics, both kinds are marked.
    loose = {h.id: h for h in search(search_service, "duong").hits}
    assert marked_words(loose["demo-024"].title_html) == ["Dương"]


TMP_ARTICLES = [
    {"id": "tmp-html", "title": "Cảnh báo <b>mã độc</b> & <script>alert(1)</script> lừa đảo",
     "sapo": "Tóm tắt có <i>thẻ</i> & ký tự.",
     "body": "Đoạn đầu nói về mã độc <script>alert(2)</script> & \"trích dẫn\" 'đơn' > < cùng mã độc khác.",
     "category": "Công nghệ", "published": "2024-03-01", "url": "https://example.vn/x", "source": "Báo <Thử>"},
    {"id": "tmp-undated", "title": "Bài không có ngày về mã độc", "sapo": "", "body": "Mã độc lây lan.",
     "category": "Công nghệ", "url": "", "source": ""},
    {"id": "tmp-2025", "title": "Mã độc mới nhắm vào điện thoại", "sapo": "", "body": "Một loại mã độc mới.",
     "category": "Công nghệ", "published": "2025-01-02", "url": "", "source": "Tin Phố"},
]


@pytest.fixture(scope="module")
def tmp_service(tmp_path_factory) -> SearchService:
    """A small index of articles written for these tests: markup in the text, one undated."""
    root = tmp_path_factory.mktemp("tmp-articles")
    src = root / "src" / "articles.jsonl"
    src.parent.mkdir()
    src.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in TMP_ARTICLES), encoding="utf-8")
    reindex([src.parent], root / "index", jobs=1, echo=lambda m: None)
    return SearchService(root / "index")


def test_markup_in_articles_is_escaped(tmp_service):
    hit = {h.id: h for h in search(tmp_service, "mã độc").hits}["tmp-html"]
    assert hit.title_html == ("Cảnh báo &lt;b&gt;<mark>mã độc</mark>&lt;/b&gt; &amp; "
                              "&lt;script&gt;alert(1)&lt;/script&gt; lừa đảo")
    assert hit.snippet_html == ("Đoạn đầu nói về <mark>mã độc</mark> &lt;script&gt;alert(2)&lt;/script&gt; &amp; "
                                "&quot;trích dẫn&quot; &#x27;đơn&#x27; &gt; &lt; cùng <mark>mã độc</mark> khác.")
    # A query for the markup's own words marks them inside the escaped text, never as tags.
    script = search(tmp_service, "script").hits[0]
    assert script.title_html.count("&lt;<mark>script</mark>&gt;") == 1
    assert_only_mark_markup(script.title_html)
    article = tmp_service.article("tmp-html", "mã độc")
    for part in ("title_html", "sapo_html", "body_html"):
        assert_only_mark_markup(article[part])
    assert article["sapo_html"] == "Tóm tắt có &lt;i&gt;thẻ&lt;/i&gt; &amp; ký tự."


def test_sort_newest_places_undated_articles_consistently(tmp_service):
    result = search(tmp_service, "mã độc", sort="newest")
    order = [h.id for h in result.hits]
    assert set(order) == {"tmp-html", "tmp-undated", "tmp-2025"}
    dated = [h.published for h in result.hits if h.published]
    assert dated == sorted(dated, reverse=True)
    assert order.index("tmp-2025") < order.index("tmp-html")
    paged = [h.id for p in (1, 2, 3) for h in search(tmp_service, "mã độc", sort="newest", per_page=1, page=p).hits]
    assert paged == order


def test_sort_newest_puts_undated_articles_last(tmp_service):
    assert [h.id for h in search(tmp_service, "mã độc", sort="newest").hits][-1] == "tmp-undated"


# --- did you mean ------------------------------------------------------------------------------------


def test_did_you_mean_restores_diacritics(search_service):
    assert search(search_service, "ha noi ngap lut").suggestion == {
        "text": "Hà Nội ngập lụt",
        "html": "<mark>Hà</mark> <mark>Nội</mark> <mark>ngập</mark> <mark>lụt</mark>",
    }
    assert search(search_service, "xuat khau thuy san").suggestion["text"] == "Xuất khẩu thủy sản"


@pytest.mark.parametrize("q", ["Hà Nội ngập lụt", "giá đường", "xe buýt điện", "hòa", "đường"])
def test_no_suggestion_for_a_correct_accented_query(search_service, q):
    assert search(search_service, q).suggestion is None


@pytest.mark.parametrize(
    ("q", "text", "marked"),
    [
        ("hà nộii", "Hà Nội", "Hà <mark>Nội</mark>"),
        ("xe buýtt", "xe buýt", "xe <mark>buýt</mark>"),
        ("hà nộii ngập lụt", "Hà Nội ngập lụt", "Hà <mark>Nội</mark> ngập lụt"),
    ],
)
def test_a_misspelt_syllable_is_searched_corrected_and_suggested_when_verbatim(search_service, q, text, marked):
    result = search(search_service, q)
    assert result.rewritten is not None and result.rewritten["kinds"] == ["typo"]
    assert result.rewritten["text"].lower() == text.lower() and result.suggestion is None
    assert "<mark>" in result.rewritten["html"]
    exact = search(search_service, q, verbatim=True)
    assert exact.rewritten is None and exact.suggestion == {"text": text, "html": marked}
    assert result.total >= exact.total


def test_did_you_mean_corrects_an_ascii_misspelling(search_service):
    result = search(search_service, "robott")
    assert result.total == 0
    assert result.suggestion is not None and result.suggestion["text"] == "robot"


def test_did_you_mean_marks_only_changed_words(search_service):
    exact = search(search_service, "thủy sảnn", verbatim=True)
    assert exact.suggestion == {"text": "thủy sản", "html": "thủy <mark>sản</mark>"}
    assert search(search_service, "thủy sảnn").rewritten["html"] == "thuỷ <mark>sản</mark>"


def test_suggestion_html_is_escaped(search_service):
    suggestion = search(search_service, "ha noi http://x.vn/<b>&c").suggestion
    assert suggestion["text"] == "hà nội http://x.vn/<b>&c"
    assert suggestion["html"] == "<mark>hà</mark> <mark>nội</mark> http://x.vn/&lt;b&gt;&amp;c"
    assert plain(suggestion["html"]) == suggestion["text"]


def test_suggestion_only_for_plain_queries_on_the_first_page(search_service):
    assert search(search_service, "ha noi ngap lut", per_page=10, page=2).suggestion is None
    assert search(search_service, 'ha noi ngap lut source:"Báo Mẫu"').suggestion is None
    assert search(search_service, '"ha noi" ngap lut').suggestion is None


# --- autocomplete ------------------------------------------------------------------------------------

HA_NOI_TITLES = {
    "Hà Nội ngập lụt sau mưa lớn",
    "Hà Nội khẩn trương tiêu thoát nước, khắc phục hậu quả mưa lớn",
    "Hà Nội mở thêm ba tuyến xe buýt điện nối ngoại thành",
}


HA_NOI_TITLES_IN_ORDER = [
    "Hà Nội ngập lụt sau mưa lớn",  # begin with it, shortest first
    "Hà Nội mở thêm ba tuyến xe buýt điện nối ngoại thành",
    "Hà Nội khẩn trương tiêu thoát nước, khắc phục hậu quả mưa lớn",
    "Gánh hàng rong giữa lòng phố cổ Hà Nội",  # then those with it further in
    "Hơn 100.000 học sinh Hà Nội bước vào kỳ thi vào lớp 10",
]


def test_suggest_accent_insensitive(search_service):
    suggestions = search_service.suggest("ha n")
    assert suggestions[0] == "Hà Nội"  # the word completed, as titles write it
    assert HA_NOI_TITLES <= set(suggestions)
    assert all("hà nội" in t.lower() for t in suggestions)
    assert len(suggestions) == len(set(suggestions)) <= 8
    assert search_service.suggest("Hà N") == suggestions == search_service.suggest("HA N")
    assert search_service.suggest(nfd("hà n")) == suggestions


def test_suggest_a_completed_word_then_titles_that_begin_with_what_was_typed(search_service):
    assert search_service.suggest("ha n") == ["Hà Nội", *HA_NOI_TITLES_IN_ORDER]
    assert search_service.suggest("ha n", limit=3) == ["Hà Nội", *HA_NOI_TITLES_IN_ORDER[:2]]
    # Neither title begins with xe buýt: the shorter first; xe buýt is in two titles, so it completes "xe b".
    assert search_service.suggest("xe b") == ["xe buýt", "Ứng dụng tra cứu xe buýt ra mắt phiên bản mới",
                                              "Hà Nội mở thêm ba tuyến xe buýt điện nối ngoại thành"]


def test_suggest_completes_a_word_only_from_two_titles_or_more(search_service):
    assert search_service.suggest("robo") == ["Sinh viên chế tạo robot hỗ trợ nông dân nhổ cỏ"]


def test_suggest_a_partial_syllable_matches_the_syllables_it_begins(search_service):
    assert search_service.suggest("robot hỗ t") == search_service.suggest("robo")
    assert search_service.suggest("robot t") == []  # side by side, in the order typed
    assert search_service.suggest("hỗ trợ robot") == []


@pytest.mark.parametrize("prefix", ["", "   ", "-", '"', "?!", "OR"])
def test_suggest_nothing_typed(search_service, prefix):
    assert search_service.suggest(prefix) == []


def test_suggest_continues_what_was_typed(search_service):
    titles = search_service.suggest("hà nội ng")
    assert titles == ["Hà Nội ngập lụt sau mưa lớn"]  # one title: no word completed
    assert all(re.search(r"(^|\s)ha noi ng", fold(t.lower())) for t in titles)


@pytest.mark.parametrize(("words", "title", "shown"), [
    (["hà", "nội"], "Hà Nội mở thêm tuyến xe buýt", "Hà Nội"),  # a name
    (["giá", "xe"], "Giá xe tăng", "giá xe"),  # a capital that begins the title
    (["xe", "biển"], "Hà Nội: Xe biển xanh", "xe biển"),  # or a sentence in it
    (["trump"], "Ông Trump nói", "Trump"),
    (["thuỷ", "sản"], "Xuất khẩu thủy sản phục hồi", "thủy sản"),  # as written, in its tone style
])
def test_completed_words_are_shown_as_titles_write_them(words, title, shown):
    from searchsvc.engine.search import _as_titles_write

    assert _as_titles_write(words, ["Không liên quan", title]) == shown


def test_suggest_keeps_the_diacritics_typed(search_service):
    """Typed without diacritics, a completion takes the index's; typed with them, only completions that
    keep them (the index's đường is not offered for a reader's dương)."""
    assert search_service.suggest("ha n")[0] == "Hà Nội"
    assert search_service.suggest("hạ n")[:1] != ["Hà Nội"]


# --- article and related -------------------------------------------------------------------------------


def test_related_shares_the_subject_and_excludes_the_article(search_service):
    related = [h.id for h in search_service.related("demo-001")]
    assert "demo-001" not in related and 1 <= len(related) <= 5
    assert related[0] == "demo-002"  # the same Hà Nội downpour, a day later
    assert [h.id for h in search_service.related("demo-003")][0] == "demo-019"  # both about xe buýt
    assert search_service.related("no-such-article") == []


def test_article_marks_the_query_terms(search_service):
    article = search_service.article("demo-001", "ha noi")
    assert article["id"] == "demo-001" and article["title"] == "Hà Nội ngập lụt sau mưa lớn"
    assert article["title_html"] == "<mark>Hà Nội</mark> ngập lụt sau mưa lớn"
    assert marked_words(article["sapo_html"]) == ["Hà Nội"]  # not the "nội" of "nội thành"
    assert marked_words(article["body_html"]) == ["Hà Nội"]
    for part in ("title", "sapo", "body"):
        assert plain(article[f"{part}_html"]) == article[part]
    assert not any(k.endswith("_offsets") for k in article)
    unmarked = search_service.article("demo-001")
    assert "<mark>" not in unmarked["title_html"] + unmarked["sapo_html"] + unmarked["body_html"]
    assert search_service.article("no-such-article", "ha noi") is None


# --- a reindex under a running service -------------------------------------------------------------------


def test_running_service_picks_up_a_new_generation(index_copy: Path, tmp_path: Path):
    svc = SearchService(index_copy)
    before = svc.health()
    assert search(svc, '"khinh khí cầu"').total == 0
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "extra.jsonl").write_text(json.dumps({
        "id": "extra-001", "title": "Lễ hội khinh khí cầu lần đầu được tổ chức", "sapo": "",
        "body": "Hàng trăm khinh khí cầu bay lên trên bầu trời.", "category": "Văn hóa",
        "source": "Báo Mẫu", "published": "2025-07-01", "url": "https://example.vn/khinh-khi-cau",
    }, ensure_ascii=False) + "\n", encoding="utf-8")
    reindex([extra], index_copy, jobs=1, echo=lambda m: None)
    after = svc.health()
    assert after["generation"] == before["generation"] + 1
    assert after["documents"] == before["documents"] + 1
    assert ids(svc, '"khinh khí cầu"') == ["extra-001"]
    assert search(svc, "khinh khi cau").suggestion["text"] == "khinh khí cầu"  # new vocabulary too
    assert ids(svc, "ha noi ngap lut")[0] == "demo-001"  # the old articles are still there
