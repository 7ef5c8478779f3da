"""Did-you-mean tables (spelling.Speller) on a small index of articles written for these tests.

The vocabulary is chosen so that the most frequent candidate is not the
first in sorted order (``mưa`` sorts after ``mua`` and ``mùa``), and so that
single syllables are more frequent than the longer word they make
(``nói``/``hạ`` against ``hà_nội``). Known bugs are ``xfail(strict=True)``
with the reason starting ``BUG:``.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from searchsvc.engine.arrays import IndexArrays
from searchsvc.engine.search import SearchRequest
from searchsvc.engine.spelling import Speller
from searchsvc.index.generations import IndexStore
from searchsvc.index.indexer import reindex

ARTICLES = [
    ("sp-01", "Hà Nội đón khách du lịch", "Khách đến Hà Nội ngày càng đông."),
    ("sp-02", "Phố cổ Hà Nội về đêm", "Phố cổ Hà Nội sáng đèn."),
    ("sp-03", "Mưa to ở miền núi", "Trời mưa từ sáng, ai cũng nói mưa to."),
    ("sp-04", "Chợ quê ngày mưa", "Người dân vẫn đi chợ dù mưa, họ nói vậy."),
    ("sp-05", "Mùa mưa bắt đầu", "Cơ quan khí tượng nói mùa mưa đã tới."),
    ("sp-06", "Dự báo thời tiết", "Tuần này có mưa rào, chuyên gia nói."),
    ("sp-07", "Người dân đi mua sắm", "Nhiều người mua đồ Tết sớm."),
    ("sp-08", "Giá rau giảm", "Bà Lan đi mua rau ở chợ."),
    ("sp-09", "Đội múa lân", "Đội múa lân biểu diễn ở sân đình."),  # múa only inside múa_lân
    ("sp-10", "Giá xăng hạ", "Giá xăng hạ lần thứ ba, tài xế nói."),
    ("sp-11", "Hạ tầng giao thông", "Nhiều người nói giá vé hạ."),
    ("sp-12", "Tuyến xe buýt mới", "Xe buýt chạy từ sáng."),  # buýt only inside xe_buýt
    ("sp-13", "Ai cũng biết", "Người dân đều biết tin này."),
    ("sp-14", "Điều cần biết", "Những điều cần biết trước khi đi."),
    # dương in one article's title and body; đường in two articles' bodies
    ("sp-15", "Hàng cây dương ven biển", "Hàng cây dương xanh mát."),
    ("sp-16", "Giá cả ổn định", "Giá đường không đổi."),
    ("sp-17", "Phiên chợ cuối tuần", "Bà con bán đường để làm bánh."),
    # tình_ca begins "tinh ca nhan", but the index uses cá_nhân more
    ("sp-18", "Tài khoản cá nhân", "Thông tin cá nhân được bảo vệ. Mỗi cá nhân tự tính thuế."),
    ("sp-19", "Đêm nhạc tình ca", "Ca sĩ hát suốt đêm."),
]


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    root = tmp_path_factory.mktemp("spelling")
    src = root / "src"
    src.mkdir()
    (src / "a.jsonl").write_text("".join(
        json.dumps({"id": i, "title": t, "sapo": "", "body": b, "category": "Thử", "source": "", "url": ""},
                   ensure_ascii=False) + "\n" for i, t, b in ARTICLES), encoding="utf-8")
    reindex([src], root / "index", jobs=1, echo=lambda m: None)
    gen, ix = IndexStore(Path(root / "index")).open()
    reader = ix.reader()
    reader.arrays = IndexArrays(reader, gen.path)  # the generation's mapped tables, for Speller
    yield reader
    reader.close()


@pytest.fixture(scope="module")
def speller(reader) -> Speller:
    speller = Speller(reader, arrays=reader.arrays)
    speller.warm()
    return speller


def test_the_vocabulary_is_what_the_tests_assume(reader):
    df = reader.doc_frequency
    assert df("body", "nói") > df("body", "hà_nội") and df("body", "hạ") >= 2
    assert df("title", "mưa") + df("body", "mưa") > df("title", "mua") + df("body", "mua") > 0
    assert df("body", "múa") == 0 and df("body_s", "múa") == 1
    assert df("body", "buýt") == 0 and df("body_s", "buýt") == 1 and df("body", "biết") == 2
    assert (df("title", "dương"), df("body", "dương"), df("body", "đường")) == (1, 1, 2)
    freq = reader.frequency
    assert (freq("body", "cá_nhân"), freq("title", "tình_ca"), freq("body", "tình_ca"), freq("body", "tính")) == (
        2, 1, 0, 1)
    assert freq("body", "nhân") == freq("title", "nhân") == 0


def test_warm_builds_the_tables_once(reader):
    speller = Speller(reader, arrays=reader.arrays)
    assert speller._accents is None
    speller.warm()
    accents, deletions = speller._accents, speller._deletions
    assert accents and deletions
    speller.warm()
    assert speller._accents is accents and speller._deletions is deletions


# --- near ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("mư", "mưa"),  # a letter left out: the known syllable has one more
        ("mưaa", "mưa"),  # a letter too many
        ("mưz", "mưa"),  # a letter changed
        ("xmưa", "mưa"),
        ("nộii", "nội"),
        ("buyt", "buýt"),  # a diacritic is a letter of its own: ý for y
        ("lăn", "lân"),  # known only as a syllable of múa_lân
    ],
)
def test_near_finds_one_edit(speller, typed, expected):
    assert expected in speller.near(typed)


def test_near_substitutions_and_never_the_word_itself(speller):
    # A letter changed in one thing: another letter (x for u), its shape (ư for u) or its tone (ù for u).
    assert {"mua", "mùa", "mưa"} <= set(speller.near("mua") + ["mua"])
    near = speller.near("mưa")
    assert "mưa" not in near and "mua" in near
    assert speller.near("mưa") == sorted(near)
    assert speller.near("qqqqq") == []


def test_near_leaves_a_letter_changed_in_two_things(speller):
    # ù for ư is a tone and a shape, x for ư a letter and a shape: two slips, not one (bừn is not bạn).
    assert "mùa" not in speller.near("mưa")
    assert speller.near("mxa") == ["mua"]


def _plain(ch: str, keep_shape: bool) -> str:
    """The letter without its tone, or without its tone and shape."""
    marks = "\u0300\u0301\u0309\u0303\u0323" + ("" if keep_shape else "\u0302\u0306\u031b")
    return unicodedata.normalize("NFC", "".join(m for m in unicodedata.normalize("NFD", ch) if m not in marks))


def test_near_finds_every_known_syllable_one_edit_away(speller):
    letters = "amnuươ"
    for known in sorted(speller._syllables):
        if len(known) < 3:
            continue
        typos = {known[:i] + known[i + 1:] for i in range(len(known))}
        typos |= {known[:i] + c + known[i:] for i in range(len(known) + 1) for c in letters}
        # a plain letter for another, a tone left out, a shape left out from a letter without a tone
        typos |= {known[:i] + c + known[i + 1:] for i in range(len(known)) if known[i] in "abcdeghiklmnopqrstuvxy"
                  for c in "amnu"}
        typos |= {known[:i] + _plain(known[i], keep_shape=True) + known[i + 1:] for i in range(len(known))}
        typos |= {known[:i] + _plain(known[i], keep_shape=False) + known[i + 1:] for i in range(len(known))
                  if _plain(known[i], keep_shape=True) == known[i]}
        for typo in typos - {known}:
            assert known in speller.near(typo), (known, typo)


def test_near_finds_nothing_further_than_one_edit(speller):
    for typed in ("buit", "amu"):
        near = speller.near(typed)
        assert [s for s in near if _levenshtein(typed, s) != 1] == [], (typed, near)


# --- correct -------------------------------------------------------------------------------------------------


def test_correct_picks_the_most_frequent_candidate(speller):
    # mua, mùa and mưa are all one letter more than "ma"; mưa is the most used and the last in sorted order.
    assert speller.correct(["ma"]) == ["mưa"]
    assert speller.correct(["nộii"]) == ["nội"]
    assert speller.correct(["ma", "nộii"]) == ["mưa", "nội"]


def test_correct_leaves_known_and_non_alphabetic_syllables(speller):
    assert speller.correct(["mua", "mùa", "múa"]) == ["mua", "mùa", "múa"]  # all known, however rare
    assert speller.correct(["buýt", "lân"]) == ["buýt", "lân"]  # known from the syllables of longer words
    assert speller.correct(["2024", "x1", "covid-19", "mưa2", "m.a"]) == ["2024", "x1", "covid-19", "mưa2", "m.a"]
    assert speller.correct(["qqqqq"]) == ["qqqqq"]  # nothing near: left as typed
    assert speller.correct([]) == []


def test_correct_prefers_a_one_edit_candidate(speller):
    assert speller.correct(["buit"]) == ["buýt"]


def test_demo_did_you_mean_for_a_missing_accent(search_service):
    # Searched corrected at once (buit is no syllable the index knows, typed with or without marks) ...
    assert search_service.search(SearchRequest(q="xe buit")).rewritten["text"] == "xe buýt"
    # ... and suggested when asked to search exactly as typed.
    assert search_service.search(SearchRequest(q="xe buit", verbatim=True)).suggestion["text"] == "xe buýt"


# --- restore_diacritics ----------------------------------------------------------------------------------------


def test_restore_prefers_the_longest_known_word(speller):
    # nói and hạ are each more used than hà_nội, but "ha noi" is one word.
    assert speller.restore_diacritics(["ha", "noi"]) == ["hà", "nội"]
    assert speller.restore_diacritics(["noi", "ha"]) == ["nói", "hạ"]  # no word "noi ha": syllable by syllable
    assert speller.restore_diacritics(["ha", "noi", "noi", "ha"]) == ["hà", "nội", "nói", "hạ"]
    assert speller.restore_diacritics(["xe", "buyt"]) == ["xe", "buýt"]


def test_restore_splits_into_the_words_the_index_makes_likeliest(speller):
    # The longest word from the left would be tình_ca, leaving "nhan" unknown; tính + cá_nhân are both used
    # at least as much, and leave nothing unknown.
    assert speller.restore_diacritics(["tinh", "ca", "nhan"]) == ["tính", "cá", "nhân"]
    assert speller.restore_diacritics(["tinh", "ca"]) == ["tình", "ca"]
    # Counts are looked up once per word.
    assert speller._counts["cá_nhân"] == 2


def test_restore_prefers_the_most_frequent_spelling(speller):
    # mua (buy), mùa (season) and mưa (rain) fold alike; mưa is the most used and sorts last.
    assert speller.restore_diacritics(["mua"]) == ["mưa"]
    assert speller.restore_diacritics(["mua", "sam"]) == ["mua", "sắm"]  # the longer word decides


def test_restore_leaves_unknown_syllables(speller):
    assert speller.restore_diacritics(["ha", "noi", "qqq", "mua"]) == ["hà", "nội", "qqq", "mưa"]
    assert speller.restore_diacritics([]) == []
    assert speller.restore_diacritics(["2024"]) == ["2024"]


def test_restore_counts_articles_not_fields(speller):
    assert speller.restore_diacritics(["duong"]) == ["đường"]
