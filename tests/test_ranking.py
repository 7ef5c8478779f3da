"""The ranking (ranking.Ranker) on a small index of articles written for these tests.

Each group of articles differs in one respect only, and the one expected to
lose is written first (a lower document number), so a tie would order it
first and fail the test. A second, incremental run updates two articles:
their new versions live in a second segment and the old ones are deleted.
Known bugs are ``xfail(strict=True)`` with the reason starting ``BUG:``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchsvc.analysis.vietnamese import fold
from searchsvc.engine import ranking
from searchsvc.engine.query import analyze, build, mark_question_words, parse
from searchsvc.engine.ranking import Ranked
from searchsvc.engine.search import SearchRequest, SearchService
from searchsvc.index.indexer import reindex

ARTICLES = [
    # đường (sugar, road) and dương (poplar): the folded-only one has more of it, and in its title too.
    {"id": "duong-folded", "title": "Rặng dương ven biển Quảng Trị", "sapo": "",
     "body": "Rặng dương chắn gió cho làng chài. Người dân trồng thêm dương mỗi mùa mưa.",
     "category": "Đời sống", "source": "Tin Phố", "published": "2024-03-02"},
    {"id": "duong-exact", "title": "Giá đường tăng mạnh", "sapo": "",
     "body": "Giá đường bán lẻ tại chợ tăng thêm hai nghìn đồng.",
     "category": "Kinh tế", "source": "Báo Mẫu", "published": "2024-03-01"},
    # Hà Nội ngập lụt, and a reader's letter with the very same words typed without diacritics.
    {"id": "hn-letter", "title": "Ha Noi ngap lut sau mua lon", "sapo": "",
     "body": "Nhieu tuyen pho o Ha Noi ngap lut sau tran mua lon keo dai.",
     "category": "Thời sự", "source": "", "published": "2024-07-23"},
    {"id": "hn-flood", "title": "Hà Nội ngập lụt sau mưa lớn", "sapo": "",
     "body": "Nhiều tuyến phố ở Hà Nội ngập lụt sau trận mưa lớn kéo dài.",
     "category": "Thời sự", "source": "Báo Mẫu", "published": "2024-07-22"},
    {"id": "hn-bus", "title": "Hà Nội mở thêm tuyến xe buýt", "sapo": "",
     "body": "Thành phố Hà Nội mở thêm tuyến xe buýt nối ngoại thành.",
     "category": "Thời sự", "source": "Tin Phố", "published": "2024-05-10"},
    {"id": "ha-long", "title": "Người dân Hạ Long nói về mùa lũ", "sapo": "",
     "body": "Ông Tư kể lại đêm nước lên nhanh ở Hạ Long.",
     "category": "Đời sống", "source": "", "published": "2023-11-05"},
    # Proximity: the same words, "mèo đen" side by side in one, apart in the other.
    {"id": "meo-far", "title": "Chuyện trong xóm", "sapo": "",
     "body": "Con mèo nằm ngủ trên mái nhà đen.",
     "category": "Đời sống", "source": "", "published": "2024-01-01"},
    {"id": "meo-near", "title": "Chuyện trong xóm", "sapo": "",
     "body": "Con mèo đen nằm ngủ trên mái nhà.",
     "category": "Đời sống", "source": "", "published": "2024-01-02"},
    # BM25F: one query word in title, sapo and body; two different ones in the body; all three.
    {"id": "bm-one", "title": "Giá tôm tăng", "sapo": "Tôm về chợ ít.",
     "body": "Người bán tôm cho biết hàng về chậm.",
     "category": "Kinh tế", "source": "Báo Mẫu", "published": "2024-02-01"},
    {"id": "bm-two", "title": "Giá hải sản", "sapo": "Hàng về chợ ít.",
     "body": "Người bán cua và mực cho biết hàng về chậm.",
     "category": "Kinh tế", "source": "Tin Phố", "published": "2024-02-02"},
    {"id": "bm-three", "title": "Giá hải sản", "sapo": "Hàng về chợ ít.",
     "body": "Người bán tôm, cua, mực cho biết hàng về chậm.",
     "category": "Kinh tế", "source": "Tin Phố", "published": "2024-02-03"},
    # Phrases: "xe buýt" and "điện" apart, and "xe buýt điện".
    {"id": "bus-split", "title": "Tuyến xe buýt mới", "sapo": "",
     "body": "Tuyến xe buýt này chạy bằng điện từ tháng sau.",
     "category": "Giao thông", "source": "Báo Mẫu", "published": "2024-06-01"},
    {"id": "bus-adj", "title": "Thử nghiệm xe buýt điện", "sapo": "",
     "body": "Xe buýt điện chạy thử trên phố.",
     "category": "Giao thông", "source": "Tin Phố", "published": "2024-06-02"},
    # Proximity across words: a compound repeated all over, and the query's words in one sentence.
    {"id": "pair-repeat", "title": "Chuyện ở khoa ngoại", "sapo": "",
     "body": "Bệnh nhân đông. Bệnh nhân chờ lâu. Bệnh nhân than phiền. Có người xuất viện. Bệnh nhân mới vào.",
     "category": "Sức khỏe", "source": "Tin Phố", "published": "2024-10-01"},
    {"id": "pair-sentence", "title": "Chuyện ở khoa ngoại", "sapo": "",
     "body": "Hôm qua bệnh nhân xuất viện sau ca mổ. Người thân cảm ơn các y tá và người nhà cùng phòng.",
     "category": "Sức khỏe", "source": "Tin Phố", "published": "2024-10-02"},
    # Related articles: the same story under two ids (a word apart), and another on the subject.
    {"id": "durian-1", "title": "Sầu riêng Đắk Lắk sang Trung Quốc", "sapo": "",
     "body": "Sầu riêng Đắk Lắk được xuất khẩu chính ngạch sang Trung Quốc từ tháng này.",
     "category": "Nông nghiệp", "source": "Tin Phố", "published": "2024-11-01"},
    {"id": "durian-copy", "title": "Sầu riêng Đắk Lắk sang Trung Quốc", "sapo": "",
     "body": "Sầu riêng Đắk Lắk được xuất khẩu chính ngạch sang Trung Quốc từ tháng này, theo sở.",
     "category": "Nông nghiệp", "source": "Báo Mẫu", "published": "2024-11-01"},
    {"id": "durian-farm", "title": "Vườn sầu riêng ở Đắk Lắk vào vụ", "sapo": "",
     "body": "Nhà vườn Đắk Lắk thu hoạch sầu riêng sớm để kịp xuất khẩu.",
     "category": "Nông nghiệp", "source": "Tin Phố", "published": "2024-11-02"},
    # A headline with a question word, and one without it.
    {"id": "flu-plain", "title": "Ăn khi bị cúm", "sapo": "",
     "body": "Khi bị cúm nên ăn cháo loãng và uống đủ nước.",
     "category": "Sức khỏe", "source": "Tin Phố", "published": "2024-12-01"},
    {"id": "flu-what", "title": "Ăn gì khi bị cúm", "sapo": "",
     "body": "Khi bị cúm nên ăn cháo loãng và uống đủ nước.",
     "category": "Sức khỏe", "source": "Tin Phố", "published": "2024-12-01"},
    # A question: the article it asks about, and a readers' column full of question words.
    {"id": "qa-column", "title": "Hỏi gì đáp nấy: là gì, ra sao?", "sapo": "",
     "body": "Bạn đọc hỏi gì, tòa soạn đáp nấy. Món này là gì, có tác dụng gì? Ăn gì, uống gì, kiêng gì?",
     "category": "Sức khỏe", "source": "Tin Phố", "published": "2024-09-01"},
    {"id": "qa-article", "title": "Củ nghệ trong căn bếp", "sapo": "",
     "body": "Nghệ có tác dụng chống viêm nhẹ, theo lời một thầy thuốc ở Huế.",
     "category": "Sức khỏe", "source": "Báo Mẫu", "published": "2024-09-02"},
]
# Twelve notices alike but for the round's number: many equal scores for one query.
NUMBERS = ["một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín", "mười", "mươi", "trăm"]
TIES = [
    {"id": f"tiem-{n:02d}", "title": "Lịch tiêm chủng cho trẻ", "sapo": "",
     "body": f"Đợt {w} tiêm chủng cho trẻ diễn ra tại trạm y tế.",
     "category": "Sức khỏe", "source": "", "published": f"2024-08-{n:02d}"}
    for n, w in enumerate(NUMBERS, start=1)
]
UPDATED = ("meo-near", "bus-adj")  # rewritten by the second run: new versions in the second segment


@dataclass
class Corpus:
    svc: SearchService
    docnum: dict[str, int]

    @property
    def opened(self):
        return self.svc.current()

    @property
    def ranker(self):
        return self.opened.ranker

    def id_of(self, docnum: int) -> str:
        return self.opened.searcher.stored_fields(int(docnum))["id"]


def _write(path: Path, articles: list[dict]) -> None:
    path.write_text("".join(json.dumps({"url": "", **a}, ensure_ascii=False) + "\n" for a in articles),
                    encoding="utf-8")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    root = tmp_path_factory.mktemp("ranking")
    src = root / "src"
    src.mkdir()
    _write(src / "a.jsonl", ARTICLES + TIES)
    reindex([src], root / "index", jobs=1, echo=lambda m: None)
    _write(src / "a.jsonl", [{**a, "views": 10} for a in ARTICLES if a["id"] in UPDATED])
    assert reindex([src], root / "index", jobs=1, echo=lambda m: None).updated == len(UPDATED)
    svc = SearchService(root / "index")
    opened = svc.current()
    reader = opened.searcher.reader()
    docnum = {reader.stored_fields(n)["id"]: n for n in range(reader.doc_count_all()) if not reader.is_deleted(n)}
    assert len(docnum) == len(ARTICLES) + len(TIES)
    return Corpus(svc, docnum)


def ids(corpus: Corpus, q: str, **kw) -> list[str]:
    return [h.id for h in corpus.svc.search(SearchRequest(q=q, per_page=50, **kw)).hits]


def ranked_ids(corpus: Corpus, plan, allowed=None) -> list[str]:
    ranked = corpus.ranker.rank(plan, allowed)
    return [corpus.id_of(d) for d in ranked.order(0, ranked.total)]


def test_updated_articles_are_in_the_second_segment_once(corpus):
    leaves = list(corpus.opened.searcher.reader().leaf_readers())
    assert len(leaves) == 2 and leaves[0][0].has_deletions()
    second = leaves[1][1]
    assert all(corpus.docnum[i] >= second for i in UPDATED)
    assert ids(corpus, "mèo").count("meo-near") == 1
    assert ids(corpus, '"xe buýt điện"') == ["bus-adj"]


# --- exact, folded and restored spellings -------------------------------------------------------------------


def _dense_stage_one(ranker, a) -> np.ndarray:
    """BM25F of every clause over every document of the collection (how stage one was computed until 0.3)."""
    from searchsvc.engine import ranking

    scores = np.zeros(ranker.n, dtype=np.float32)
    for c in ranker.clauses(a):
        tf = np.zeros(ranker.n, dtype=np.float32)
        df = 0
        for part, fieldname, unit in c.sources:
            p = ranker.arrays.postings(fieldname, c.term)
            if len(p.ids):
                df = max(df, len(p.ids))
                tf[p.ids] += ranking.PART_WEIGHTS[part] * p.freqs * ranker.norm(part, unit)[p.ids]
        if df:
            scores += (c.weight * ranker.idf(df) * (ranking.K1 + 1)) * tf / (tf + ranking.K1)
    return scores


@pytest.mark.parametrize("q", ["đường", "duong", "mèo con ở đâu", "xe buýt điện", "tôm cua mực", "Hà Nội"])
def test_stage_one_touches_only_the_documents_of_each_clause_and_equals_dense_bm25f(corpus, q):
    a = analyze(q)
    sparse = corpus.ranker.score_terms(a)
    assert np.array_equal(sparse, _dense_stage_one(corpus.ranker, a))  # bit for bit: the same float32 sums
    assert sparse.any()


def test_exact_spelling_ranks_above_a_folded_match(corpus):
    assert ids(corpus, "đường") == ["duong-exact", "duong-folded"]  # dương still matches, below
    assert set(ids(corpus, "duong")) == {"duong-exact", "duong-folded"}
    assert ids(corpus, "dương")[0] == "duong-folded"  # and the other way round
    scores = corpus.ranker.score_terms(analyze("đường"))
    assert scores[corpus.docnum["duong-exact"]] > 3 * scores[corpus.docnum["duong-folded"]] > 0


def test_query_without_diacritics_ranks_the_accented_article_first(corpus):
    result = corpus.svc.search(SearchRequest(q="ha noi ngap lut", per_page=50))
    found = [h.id for h in result.hits]
    assert found[0] == "hn-flood"
    assert found.index("hn-letter") > found.index("hn-flood")  # same words, written without diacritics
    assert {"hn-bus", "ha-long"} <= set(found)  # Hà Nội alone; Hạ Long ... nói: folded matches rank lower
    assert found.index("hn-bus") > found.index("hn-letter")
    assert result.suggestion["text"] == "Hà Nội ngập lụt"


def test_restored_diacritics_decide_between_the_article_and_the_letter(corpus):
    plan = build(parse("ha noi ngap lut"))
    restored = corpus.opened.speller.restore_diacritics(plan.scored[0].folded)
    assert restored == ["hà", "nội", "ngập", "lụt"]
    # Typed without diacritics, the letter matches exactly and the article only through folding ...
    assert ranked_ids(corpus, plan)[0] == "hn-letter"
    # ... so it is the diacritics restored from the index that put the article first.
    with_restored = replace(plan, restored=[analyze(" ".join(restored))])
    assert ranked_ids(corpus, with_restored)[:2] == ["hn-flood", "hn-letter"]


# --- questions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["Tác dụng của nghệ là gì?", "tac dung cua nghe la gi"])
def test_a_question_finds_the_article_not_the_question_words(corpus, q):
    assert ids(corpus, q)[0] == "qa-article"


@pytest.mark.parametrize(("q", "question", "content"), [
    ("Ai là người thực hiện ca phẫu thuật?", ["ai"], ["là", "người", "thực_hiện", "ca", "phẫu_thuật"]),
    ("Hút thuốc lá như thế nào đối với con người?", ["như", "thế_nào"], ["hút", "thuốc_lá", "đối_với", "con_người"]),
    ("Bệnh nhân nằm viện mấy ngày?", ["mấy"], ["bệnh_nhân", "nằm", "viện", "ngày"]),
    ("tac dung cua nghe la gi", ["la", "gi"], ["tac", "dung", "cua", "nghe"]),
    ("vi sao benh nao kho chua", ["vi", "sao"], ["benh", "nao", "kho", "chua"]),  # nao: não, a content word
    ("ngôi sao nào sáng nhất", ["nào"], ["ngôi_sao", "sáng", "nhất"]),  # sao inside a word stays
    ("là gì", [], ["là", "gì"]),  # nothing else would be left
    ("Ai Cập ra sao", ["ra", "sao"], ["ai", "cập"]),  # a capitalised run is a name, whatever pyvi made of it
    ("chung kết Sao Mai ra sao", ["ra"], ["chung_kết", "sao", "mai", "sao"]),  # sao asks once, names once
])
def test_question_words_are_marked(q, question, content):
    a = mark_question_words(analyze(q))
    assert a.words == analyze(q).words  # all still searched, the question words counting less
    assert sorted(a.question_words) == sorted(question)
    assert [w for w in a.words if w not in a.question_words] == content
    content_syllables = [s for w in content for s in w.split("_")]
    assert a.question_syllables == {s for w in question for s in w.split("_")} - set(content_syllables)
    assert a.content_folded == list(dict.fromkeys(fold(s) for s in content_syllables))


def test_a_headline_with_a_question_word_finds_its_article(corpus):
    """The reader who remembers "ăn gì khi bị cúm" means the article whose title says gì."""
    assert ids(corpus, "ăn gì khi bị cúm")[:2] == ["flu-what", "flu-plain"]
    assert ids(corpus, "an gi khi bi cum")[:2] == ["flu-what", "flu-plain"]


def test_question_words_alone_are_still_searched(corpus):
    assert ids(corpus, "là gì")[0] == "qa-column"


# --- related articles ---------------------------------------------------------------------------------------


def test_related_articles_share_the_subject_but_not_the_story(corpus):
    related = [h.id for h in corpus.svc.related("durian-1")]
    assert related[0] == "durian-farm"
    assert "durian-copy" not in related and "durian-1" not in related  # the same title: the same story
    assert "durian-1" not in [h.id for h in corpus.svc.related("durian-copy")]
    assert corpus.svc.related("no-such-article") == []


# --- proximity ---------------------------------------------------------------------------------------------


def test_words_side_by_side_rank_above_the_same_words_apart(corpus):
    a = analyze("mèo đen")
    near, far = corpus.docnum["meo-near"], corpus.docnum["meo-far"]
    stage_one = corpus.ranker.score_terms(a)
    assert stage_one[near] == pytest.approx(stage_one[far])  # the same words, lengths and parts
    assert ids(corpus, "mèo đen") == ["meo-near", "meo-far"]
    assert ids(corpus, "meo den") == ["meo-near", "meo-far"]
    docs = np.array(sorted([near, far]))
    bonus = dict(zip(docs.tolist(), corpus.ranker.pair_scores(a, docs).tolist(), strict=True))
    assert bonus[near] > 0 and bonus[far] == 0
    assert corpus.ranker.pair_scores(analyze("mèo"), docs).tolist() == [0, 0]  # one word: no pairs


@pytest.mark.parametrize(("q", "pairs"), [
    ("bệnh nhân xuất viện", [("nhan", "xuat")]),  # typed with diacritics: the words' neighbours only
    ("benh nhan xuat vien", [("benh", "nhan"), ("nhan", "xuat"), ("xuat", "vien")]),  # compounds too
    ("Hà Nội", []),
])
def test_pairs(q, pairs):
    assert analyze(q).pairs == pairs


def test_a_sentence_with_the_query_ranks_above_a_repeated_compound(corpus):
    """Pairs inside a word would count bệnh nhân a second time (the word match counts it) and put the
    article that repeats it first."""
    assert ids(corpus, "bệnh nhân xuất viện")[:2] == ["pair-sentence", "pair-repeat"]


def test_proximity_reads_positions_across_segments(corpus):
    # bus-adj (second segment) has "buýt điện" side by side, bus-split (first) has them apart.
    a = analyze("buýt điện")
    adj, split = corpus.docnum["bus-adj"], corpus.docnum["bus-split"]
    docs = np.array(sorted([adj, split]))
    bonus = dict(zip(docs.tolist(), corpus.ranker.pair_scores(a, docs).tolist(), strict=True))
    assert bonus[adj] > 0 and bonus[split] == 0


# --- BM25F -------------------------------------------------------------------------------------------------


def test_one_word_in_every_part_counts_less_than_two_words(corpus):
    """BM25F adds a word's frequencies over title, sapo and body before saturating: tôm in all three parts
    of bm-one is one word found; cua and mực once each in bm-two's body are two. (Saturating each part apart
    and adding up would put bm-one first: its title counts double.)"""
    stage_one = corpus.ranker.score_terms(analyze("tôm cua mực"))
    assert stage_one[corpus.docnum["bm-two"]] > stage_one[corpus.docnum["bm-one"]]
    assert ids(corpus, "tôm cua mực") == ["bm-three", "bm-two", "bm-one"]


def test_more_query_words_matched_ranks_higher(corpus):
    assert ids(corpus, "tôm cua mực")[0] == "bm-three"
    assert ids(corpus, "hà nội xe buýt")[0] == "hn-bus"
    assert ids(corpus, "xe buýt điện")[:2] == ["bus-adj", "bus-split"]  # then hn-bus, with no điện
    assert ids(corpus, "xe buýt điện").index("hn-bus") == 2


# --- phrases, exclusions and filters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('"xe buýt điện"', {"bus-adj"}),
        ('"xe buyt dien"', {"bus-adj"}),
        ('"điện xe buýt"', set()),  # the order counts
        ('"buýt bằng"', set()),  # bus-split has "buýt này chạy bằng": apart
        ('"xe buýt"', {"hn-bus", "bus-split", "bus-adj"}),
        ('title:"buýt điện"', {"bus-adj"}),
        ('title:"bằng điện"', set()),  # in bus-split's body, not its title
        ('"giá đường"', {"duong-exact"}),
        ('"rặng dương"', {"duong-folded"}),
        ('"rặng đường"', set()),  # typed with diacritics: the exact syllables are needed too
        ('"rang duong"', {"duong-folded"}),
        ('"mèo đen"', {"meo-near"}),
    ],
)
def test_phrases_need_their_syllables_side_by_side(corpus, q, expected):
    assert set(ids(corpus, q)) == expected


def test_phrase_with_words_ranks_only_the_phrase_matches(corpus):
    assert ids(corpus, '"mèo đen" nằm ngủ') == ["meo-near"]
    assert ids(corpus, '"xe buýt" điện')[:2] == ["bus-adj", "bus-split"]
    assert set(ids(corpus, '"xe buýt" điện')) == {"bus-adj", "bus-split", "hn-bus"}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("xe buýt -điện", {"hn-bus"}),
        ('xe buýt -"buýt điện"', {"hn-bus", "bus-split"}),
        ("duong -đường", {"duong-folded"}),  # an accented exclusion takes only that spelling
        ("duong -duong", set()),
        ("mèo -đen", set()),
        ('xe buýt -category:"Giao thông"', {"hn-bus"}),
        ('giá -source:"Tin Phố"', {"duong-exact", "bm-one"}),
        ('giá -category:"Kinh tế" -source:"Báo Mẫu"', set()),
    ],
)
def test_excluded_words_and_filters_remove(corpus, q, expected):
    assert set(ids(corpus, q)) == expected


def test_filters_any_value_of_a_field_all_fields(corpus):
    ranker = corpus.ranker

    def docs(mask) -> set[str]:
        return {corpus.id_of(d) for d in np.flatnonzero(mask)}

    assert ranker.filters({}) is None
    assert docs(ranker.filters({"category": ["Giao thông"]})) == {"bus-split", "bus-adj"}
    assert docs(ranker.filters({"category": ["Giao thông", "Kinh tế"]})) == {
        "bus-split", "bus-adj", "duong-exact", "bm-one", "bm-two", "bm-three"}
    assert docs(ranker.filters({"category": ["Giao thông", "Kinh tế"], "source": ["Tin Phố"]})) == {
        "bus-adj", "bm-two", "bm-three"}
    assert not docs(ranker.filters({"category": ["No such section"]}))
    assert set(ids(corpus, 'giá category:"Kinh tế" source:"Tin Phố"')) == {"bm-two", "bm-three"}
    assert set(ids(corpus, 'category:"Giao thông"')) == {"bus-split", "bus-adj"}  # a filter alone lists
    assert set(ids(corpus, "xe buýt", category="Giao thông")) == {"bus-split", "bus-adj"}


def test_allowed_narrows_and_deleted_versions_never_match(corpus):
    ranker = corpus.ranker
    plan = build(parse("xe buýt"))
    allowed = np.zeros(ranker.n, dtype=bool)
    allowed[corpus.docnum["hn-bus"]] = True
    assert ranked_ids(corpus, plan, allowed) == ["hn-bus"]
    everything = np.ones(ranker.n, dtype=bool)  # deleted first versions included: rank() drops them
    ranked = ranker.rank(build(parse("mèo")), everything)
    assert sorted(corpus.id_of(d) for d in np.flatnonzero(ranked.matched)) == ["meo-far", "meo-near"]
    assert not (ranked.matched & ~ranker.arrays.live).any()
    assert (ranked.scores[~ranked.matched] == 0).all()


# --- Ranked.order --------------------------------------------------------------------------------------------


def _reference(scores: np.ndarray, matched: np.ndarray) -> list[int]:
    docs = np.flatnonzero(matched).tolist()
    return sorted(docs, key=lambda d: (-scores[d], d))


def _pages(ranked: Ranked, per_page: int) -> list[list[int]]:
    return [ranked.order(start, start + per_page).tolist() for start in range(0, ranked.total, per_page)]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_order_pages_are_consistent_with_distinct_scores(data):
    n = data.draw(st.integers(1, 120))
    scores = np.array(data.draw(st.lists(st.floats(0.5, 1000, width=32), min_size=n, max_size=n, unique=True)),
                      dtype=np.float32)
    matched = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    scores[~matched] = 0
    ranked = Ranked(scores, matched)
    per_page = data.draw(st.integers(1, 25))
    pages = _pages(ranked, per_page)
    flat = [d for page in pages for d in page]
    assert flat == _reference(scores, matched) == ranked.order(0, ranked.total).tolist()
    assert all(len(p) == per_page for p in pages[:-1])


def test_order_breaks_ties_by_document_number_on_a_whole_list(corpus):
    ranked = corpus.ranker.rank(build(parse("tiêm chủng")))
    assert ranked.total == len(TIES)
    whole = ranked.order(0, ranked.total)
    assert whole.tolist() == _reference(ranked.scores, ranked.matched)
    assert len(set(ranked.scores[whole].tolist())) < len(TIES)  # there are ties to break


TIED = np.array([3, 1, 2, 1, 1, 2, 1, 1, 3, 1, 1, 2, 1, 1, 1, 1, 2, 1, 1, 1], dtype=np.float32)


def test_order_pages_are_consistent_with_tied_scores():
    ranked = Ranked(TIED.copy(), np.ones(len(TIED), dtype=bool))
    flat = [d for page in _pages(ranked, 4) for d in page]
    assert flat == _reference(TIED, np.ones(len(TIED), dtype=bool))


def test_search_pages_do_not_overlap_when_scores_tie(corpus):
    whole = ids(corpus, "tiêm chủng")
    assert sorted(whole) == sorted(a["id"] for a in TIES)
    paged = [h.id for page in (1, 2, 3) for h in
             corpus.svc.search(SearchRequest(q="tiêm chủng", per_page=5, page=page)).hits]
    assert paged == whole


@pytest.mark.parametrize("q", ["tiêm chủng", "mèo con ở đâu", "xe buýt điện", "tôm cua mực"])
@pytest.mark.parametrize("candidates", [2, 3, 300])
def test_pages_read_among_stage_two_candidates_equal_pages_read_over_every_score(corpus, monkeypatch, q,
                                                                                   candidates):
    """A page within stage two's candidates is ordered among them alone (Ranked.first): the same pages, ties and
    all, as a pass over every matched score; pages past them still take that pass."""
    monkeypatch.setattr(ranking, "CANDIDATES", candidates)
    ranked = corpus.ranker.rank(build(parse(q)))
    assert ranked.first is not None and len(ranked.first) >= min(candidates, ranked.total)
    every = Ranked(ranked.scores, ranked.matched)
    for per_page in (1, 2, 5):
        assert _pages(ranked, per_page) == _pages(every, per_page), per_page
