"""searchsvc.analysis.vietnamese: normalisation, folding, pyvi segmentation with exact offsets, the Whoosh analyzers.

Everything runs the real pyvi model. Expected tokens are written out
literally: a change in pyvi, its model stack or our joining rule must show
up here as a failure, not pass silently.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
from pyvi.ViTokenizer import ViTokenizer
from whoosh.analysis import SpaceSeparatedTokenizer

from searchsvc.analysis import vietnamese as analysis
from searchsvc.analysis.vietnamese import (
    FoldFilter,
    VietnameseTokenizer,
    clean,
    fold,
    folded_analyzer,
    normalize,
    segment,
    segment_uncached,
    syllable_analyzer,
    syllable_spans,
    unify_tones,
    word_analyzer,
)
from searchsvc.reading.article import Article
from searchsvc.reading.sources import read_file, read_sources

DEMO_DIR = Path(__file__).resolve().parents[1] / "searchsvc" / "demo"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def tokens(analyzer, text: str) -> list[tuple[str, int, int, int]]:
    """(text, pos, startchar, endchar) of every token, as Whoosh asks for them when indexing."""
    return [(t.text, t.pos, t.startchar, t.endchar) for t in analyzer(text, positions=True, chars=True)]


def demo_texts() -> list[str]:
    """Every title, sapo and body of the demo collection, as the indexer stores them (clean)."""
    texts = []
    for item in read_sources([DEMO_DIR]):
        assert isinstance(item, Article), item
        texts += [clean(item.title), clean(item.sapo), clean(item.body)]
    return [t for t in texts if t]


def demo_paragraphs() -> list[str]:
    return [p for text in demo_texts() for p in text.split("\n") if p.strip()]


def check_offsets(text: str) -> None:
    """The three token streams of ``text`` (clean) agree with each other and with the text itself."""
    unified = unify_tones(text)
    assert len(unified) == len(text)
    syllables = tokens(syllable_analyzer(), text)
    folded = tokens(folded_analyzer(), text)
    words = tokens(word_analyzer(), text)
    assert [pos for _, pos, _, _ in syllables] == list(range(len(syllables)))
    assert [pos for _, pos, _, _ in words] == list(range(len(words)))
    for token, _, start, end in syllables:
        assert token == unified[start:end].lower()
        assert text[start:end].strip() == text[start:end] != ""
    assert [(fold(s), p, a, b) for s, p, a, b in syllables] == folded
    # Each word is a run of whole syllables, joined by "_", and the words cover every syllable in order.
    by_start = {start: i for i, (_, _, start, _) in enumerate(syllables)}
    i = 0
    for token, _, start, end in words:
        assert by_start[start] == i, (token, start)
        parts = []
        while i < len(syllables) and syllables[i][3] <= end:
            parts.append(syllables[i][0])
            i += 1
        assert syllables[i - 1][3] == end
        assert token == "_".join(parts)
        assert "\n" not in text[start:end]
    assert i == len(syllables)


def pyvi_words(text: str) -> list[str]:
    """pyvi's own words: ``_``-joined syllables, punctuation dropped, abbreviations' trailing '.' stripped."""
    words = []
    for token in ViTokenizer.tokenize(text).split():
        if re.search(r"\w", token) is None:
            continue
        words.append("_".join(p[:-1] if len(p) > 1 and p.endswith(".") else p for p in token.split("_")))
    return words


# --- normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hòa", "hoà"),
        ("hoà", "hoà"),
        ("khỏe", "khoẻ"),
        ("khoẻ", "khoẻ"),
        ("thủy", "thuỷ"),
        ("thuỷ", "thuỷ"),
        ("tòa nhà", "toà nhà"),
        ("Ủy ban", "Uỷ ban"),
        ("hòa.", "hoà."),
        ("Hòa Bình", "Hoà Bình"),
        ("HÒA BÌNH", "HOÀ BÌNH"),
        ("KHỎE", "KHOẺ"),
        ("THỦY", "THUỶ"),
        # Not open oa/oe/uy syllables, or after q: untouched.
        ("hoàn", "hoàn"),
        ("hòang", "hòang"),
        ("quý", "quý"),
        ("Quý", "Quý"),
        ("QUÝ", "QUÝ"),
        ("quỳ", "quỳ"),
        ("thủy_sản", "thủy_sản"),
    ],
)
def test_normalize_unifies_tone_placement(text: str, expected: str) -> None:
    assert normalize(text) == expected
    assert len(unify_tones(text)) == len(text)


@pytest.mark.parametrize(("old", "new"), [("hòa", "hoà"), ("khỏe", "khoẻ"), ("thủy", "thuỷ"), ("Tòa", "Toà")])
def test_both_tone_styles_become_one_form(old: str, new: str) -> None:
    assert old != new
    assert normalize(old) == normalize(new) == new
    assert normalize(nfd(old)) == new


def test_normalize_nfd_input() -> None:
    text = "Hòa bình ở Thủy Nguyên, khỏe không? Hoàn thành quý I"
    decomposed = nfd(text)
    assert decomposed != text
    assert normalize(decomposed) == "Hoà bình ở Thuỷ Nguyên, khoẻ không? Hoàn thành quý I"
    assert unicodedata.is_normalized("NFC", normalize(decomposed))


def test_normalize_removes_zero_width_characters() -> None:
    text = "\ufeffHà\u200b Nội\u00ad đẹp\u200c\u200d\u2060"
    assert normalize(text) == "Hà Nội đẹp"
    assert clean(text) == "Hà Nội đẹp"


def test_clean_keeps_the_articles_own_tone_spelling() -> None:
    assert clean("Hòa bình, khỏe mạnh, thủy sản") == "Hòa bình, khỏe mạnh, thủy sản"
    assert clean("Hoà bình, khoẻ mạnh, thuỷ sản") == "Hoà bình, khoẻ mạnh, thuỷ sản"
    assert clean(nfd("Hòa bình")) == "Hòa bình"
    assert len(clean(nfd("Hòa bình"))) == 8


def test_unify_tones_keeps_length_on_the_demo_texts() -> None:
    for text in demo_texts():
        assert len(unify_tones(text)) == len(text)
        assert normalize(normalize(text)) == normalize(text)


# --- folding ---------------------------------------------------------------------------------

_VOWELS = {"a": "a", "ă": "a", "â": "a", "e": "e", "ê": "e", "i": "i", "o": "o", "ô": "o", "ơ": "o",
           "u": "u", "ư": "u", "y": "y"}
_TONE_MARKS = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")


def test_fold_every_vietnamese_letter() -> None:
    letters, expected = [], []
    for vowel, base in _VOWELS.items():
        for mark in _TONE_MARKS:
            for v, b in ((vowel, base), (vowel.upper(), base.upper())):
                letters.append(unicodedata.normalize("NFC", v + mark))
                expected.append(b)
    letters += ["đ", "Đ"]
    expected += ["d", "D"]
    assert all(len(letter) == 1 for letter in letters)
    assert fold("".join(letters)) == "".join(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Đường đi Hà Nội ĐẸP", "Duong di Ha Noi DEP"),
        ("thủy điện Hòa Bình", "thuy dien Hoa Binh"),
        ("Nguyễn Thị Ánh Tuyết", "Nguyen Thi Anh Tuyet"),
        ("COVID-19, 31/03/2021; TP.HCM!", "COVID-19, 31/03/2021; TP.HCM!"),
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected
    assert len(fold(text)) == len(text)


def test_fold_keeps_length_on_the_demo_texts() -> None:
    for text in demo_texts():
        folded = fold(text)
        assert len(folded) == len(text)
        assert "đ" not in folded and "Đ" not in folded


# --- the three analyzers: exact tokens and offsets ----------------------------------------------------

DATES = "Hà Nội ngày 31/03/2021, COVID-19 tại TP.HCM."


def test_word_tokens_exact() -> None:
    assert tokens(word_analyzer(), DATES) == [
        ("hà_nội", 0, 0, 6), ("ngày", 1, 7, 11), ("31", 2, 12, 14), ("03", 3, 15, 17), ("2021", 4, 18, 22),
        ("covid", 5, 24, 29), ("19", 6, 30, 32), ("tại", 7, 33, 36), ("tp", 8, 37, 39), ("hcm", 9, 40, 43),
    ]


def test_syllable_tokens_exact() -> None:
    assert tokens(syllable_analyzer(), DATES) == [
        ("hà", 0, 0, 2), ("nội", 1, 3, 6), ("ngày", 2, 7, 11), ("31", 3, 12, 14), ("03", 4, 15, 17),
        ("2021", 5, 18, 22), ("covid", 6, 24, 29), ("19", 7, 30, 32), ("tại", 8, 33, 36), ("tp", 9, 37, 39),
        ("hcm", 10, 40, 43),
    ]


def test_folded_tokens_exact() -> None:
    assert tokens(folded_analyzer(), DATES) == [
        ("ha", 0, 0, 2), ("noi", 1, 3, 6), ("ngay", 2, 7, 11), ("31", 3, 12, 14), ("03", 4, 15, 17),
        ("2021", 5, 18, 22), ("covid", 6, 24, 29), ("19", 7, 30, 32), ("tai", 8, 33, 36), ("tp", 9, 37, 39),
        ("hcm", 10, 40, 43),
    ]


def test_offsets_point_at_the_text_as_given() -> None:
    got = [DATES[s:e] for _, _, s, e in tokens(word_analyzer(), DATES)]
    assert got == ["Hà Nội", "ngày", "31", "03", "2021", "COVID", "19", "tại", "TP", "HCM"]
    check_offsets(DATES)


def test_numbers_keep_their_separators() -> None:
    text = "Có 1.434 cuộc, đạt 97,5% và 98.7%"
    assert tokens(word_analyzer(), text) == [
        ("có", 0, 0, 2), ("1.434", 1, 3, 8), ("cuộc", 2, 9, 13), ("đạt", 3, 15, 18), ("97,5", 4, 19, 23),
        ("và", 5, 25, 27), ("98.7", 6, 28, 32),
    ]
    check_offsets(text)


def test_url_is_one_token() -> None:
    text = "Xem https://example.vn/ha-noi-ngap-lut. Hết"
    assert tokens(word_analyzer(), text) == [
        ("xem", 0, 0, 3), ("https://example.vn/ha-noi-ngap-lut", 1, 4, 38), ("hết", 2, 40, 43),
    ]
    assert text[4:38] == "https://example.vn/ha-noi-ngap-lut"
    assert tokens(folded_analyzer(), text)[2] == ("het", 2, 40, 43)
    check_offsets(text)


def test_underscores_in_the_input_are_not_word_joins() -> None:
    text = "Hà_Nội và foo_bar"
    assert tokens(word_analyzer(), text) == [("hà_nội", 0, 0, 6), ("và", 1, 7, 9), ("foo", 2, 10, 13),
                                             ("bar", 3, 14, 17)]
    assert tokens(syllable_analyzer(), text) == [("hà", 0, 0, 2), ("nội", 1, 3, 6), ("và", 2, 7, 9),
                                                 ("foo", 3, 10, 13), ("bar", 4, 14, 17)]
    assert "foo_bar" not in [t for t, _, _, _ in tokens(word_analyzer(), "foo_bar")]


def test_nfd_text_after_clean() -> None:
    text = clean(nfd("Hòa bình ở Thủy Nguyên, khỏe không?"))
    assert text == "Hòa bình ở Thủy Nguyên, khỏe không?"
    assert tokens(word_analyzer(), text) == [
        ("hoà_bình", 0, 0, 8), ("ở", 1, 9, 10), ("thuỷ_nguyên", 2, 11, 22), ("khoẻ", 3, 24, 28),
        ("không", 4, 29, 34),
    ]
    assert tokens(folded_analyzer(), text) == [
        ("hoa", 0, 0, 3), ("binh", 1, 4, 8), ("o", 2, 9, 10), ("thuy", 3, 11, 15), ("nguyen", 4, 16, 22),
        ("khoe", 5, 24, 28), ("khong", 6, 29, 34),
    ]
    # Offsets point into the stored spelling: the token is unified, the text keeps "Hòa".
    assert text[0:8] == "Hòa bình"
    check_offsets(text)


def test_zero_width_text_after_clean() -> None:
    text = clean("Hà\u200b Nội\u00ad ngập lụt\ufeff")
    assert text == "Hà Nội ngập lụt"
    assert tokens(word_analyzer(), text) == [("hà_nội", 0, 0, 6), ("ngập_lụt", 1, 7, 15)]


def test_paragraph_breaks_and_punctuation() -> None:
    text = "Hà Nội mưa.\n\nTP.HCM nắng."
    assert tokens(word_analyzer(), text) == [("hà_nội", 0, 0, 6), ("mưa", 1, 7, 10), ("tp", 2, 13, 15),
                                             ("hcm", 3, 16, 19), ("nắng", 4, 20, 24)]
    assert tokens(word_analyzer(), "… “ ” - , . ! ?") == []
    assert tokens(word_analyzer(), "") == []


def test_offsets_on_every_demo_text() -> None:
    for text in demo_texts():
        check_offsets(text)


def test_offsets_on_a_long_paragraph() -> None:
    """One paragraph longer than pyvi is called on at once: it is cut at sentence ends, offsets stay exact."""
    text = " ".join(demo_paragraphs()[:60])
    assert "\n" not in text and len(text) > 3 * analysis._MAX_CHUNK
    check_offsets(text)
    assert list(syllable_spans(unify_tones(text))) == list(segment(unify_tones(text)).syllables)


# --- components alone ---------------------------------------------------------------------------


def test_tokenizer_alone_keeps_case() -> None:
    tok = VietnameseTokenizer("word")
    assert [(t.text, t.startchar, t.endchar) for t in tok("Thủ đô Hà Nội", chars=True)] == [
        ("Thủ_đô", 0, 6), ("Hà_Nội", 7, 13),
    ]
    assert [t.text for t in VietnameseTokenizer("syllable")("Thủ đô Hà Nội")] == ["Thủ", "đô", "Hà", "Nội"]


def test_tokenizer_start_pos_and_start_char() -> None:
    tok = VietnameseTokenizer("word")
    got = [(t.text, t.pos, t.startchar, t.endchar)
           for t in tok("Hà Nội ngập lụt", positions=True, chars=True, start_pos=10, start_char=100)]
    assert got == [("Hà_Nội", 10, 100, 106), ("ngập_lụt", 11, 107, 115)]


def test_tokenizer_without_tokenizing_yields_the_value() -> None:
    got = [(t.text, t.pos, t.startchar, t.endchar)
           for t in VietnameseTokenizer("word")("Hà Nội", tokenize=False, positions=True, chars=True)]
    assert got == [("Hà Nội", 0, 0, 6)]


def test_tokenizer_unit_is_checked_and_compared() -> None:
    with pytest.raises(ValueError, match="unit must be one of word, syllable, compound-syllable"):
        VietnameseTokenizer("char")
    assert VietnameseTokenizer("word") == VietnameseTokenizer("word")
    assert VietnameseTokenizer("word") != VietnameseTokenizer("syllable")
    assert hash(VietnameseTokenizer("syllable")) == hash(VietnameseTokenizer("syllable"))


def test_fold_filter_alone_keeps_offsets() -> None:
    text = "Đường  Hà Nội"
    got = [(t.text, t.startchar, t.endchar) for t in FoldFilter()(SpaceSeparatedTokenizer()(text, chars=True))]
    assert got == [("Duong", 0, 5), ("Ha", 7, 9), ("Noi", 10, 13)]


def test_words_helper_and_uncached_segmentation() -> None:
    assert analysis.words("Hà Nội ngập lụt") == ["hà_nội", "ngập_lụt"]
    text = clean("Hòa bình ở Thủy Nguyên")
    seg = analysis.segment_uncached(unify_tones(text))
    cached = segment(unify_tones(text))
    assert list(seg.syllables) == list(cached.syllables)
    assert list(seg.word_ends) == list(cached.word_ends)


# --- segmentation: per paragraph, syllables consistent with words -----------------------------------


def test_pyvi_runs_per_paragraph() -> None:
    """A long multi-paragraph text gives the words of each paragraph segmented alone, shifted."""
    paragraphs = demo_paragraphs()
    text = "\n".join(paragraphs)
    assert len(text) > 20_000
    expected = []
    base = 0
    for para in paragraphs:
        expected += [(t, s + base, e + base) for t, _, s, e in tokens(word_analyzer(), para)]
        base += len(para) + 1
    got = [(t, s, e) for t, _, s, e in tokens(word_analyzer(), text)]
    assert got == expected
    assert [p for _, p, _, _ in tokens(word_analyzer(), text)] == list(range(len(expected)))


def test_syllable_spans_equal_the_syllables_of_segment_on_the_demo() -> None:
    for text in demo_texts():
        unified = unify_tones(text)
        seg = segment_uncached(unified)
        assert list(syllable_spans(unified)) == list(seg.syllables)
        ends = list(seg.word_ends)
        assert ends == sorted(set(ends))
        assert (ends[-1] if ends else 0) == len(seg.syllables) // 2
        for first, end, start_c, end_c in seg.word_spans():
            assert start_c == seg.syllables[2 * first]
            assert end_c == seg.syllables[2 * end - 1]


def test_word_tokens_equal_pyvi_words_on_the_demo() -> None:
    for para in demo_paragraphs():
        norm = normalize(para)
        assert [t.text for t in VietnameseTokenizer("word")(norm)] == pyvi_words(norm), para


def test_pyvi_words_rule() -> None:
    """The comparison rule itself: punctuation dropped, abbreviation dots stripped."""
    assert pyvi_words("Ông Nguyễn Văn A ở TP.HCM.") == ["Ông", "Nguyễn_Văn", "A", "ở", "TP", "HCM"]


# --- the seed article (../shared) -------------------------------------------------------------------------

SEED_TITLE_WORDS = [
    "long_biên", "sơ_kết", "05", "năm", "thực_hiện", "chỉ_thị", "05", "ct", "tw", "của", "bộ", "chính_trị",
    "về", "đẩy_mạnh", "học_tập", "và", "làm", "theo", "tư_tưởng", "đạo_đức", "phong_cách", "hồ_chí_minh",
]
SEED_FIRST_PARAGRAPH_WORDS = [
    "sáng", "31", "3", "2021", "quận_uỷ", "long_biên", "tổ_chức", "hội_nghị", "sơ_kết", "5", "năm", "thực_hiện",
    "chỉ_thị", "số", "05", "ct", "tw", "ngày", "15", "5", "2016", "của", "bộ", "chính_trị", "về", "đẩy_mạnh",
    "việc", "học_tập", "và", "làm", "theo", "tư_tưởng", "đạo_đức", "phong_cách", "hồ_chí_minh", "biểu_dương",
    "khen_thưởng", "các", "tập_thể", "cá_nhân", "tiêu_biểu",
]


@pytest.fixture(scope="module")
def seed_article(seed_file: Path) -> Article:
    [article] = list(read_file(seed_file))
    assert isinstance(article, Article), article
    return article


@pytest.mark.corpus
def test_seed_golden_word_tokens(seed_article: Article) -> None:
    title = clean(seed_article.title)
    first = clean(seed_article.body).split("\n")[0]
    assert title.startswith("Long Biên sơ kết 05 năm")
    assert first.startswith("Sáng 31/3/2021, Quận ủy Long Biên")
    assert [t.text for t in word_analyzer()(title)] == SEED_TITLE_WORDS
    assert [t.text for t in word_analyzer()(first)] == SEED_FIRST_PARAGRAPH_WORDS
    assert [title[s:e] for _, _, s, e in tokens(word_analyzer(), title)][:3] == ["Long Biên", "sơ kết", "05"]


@pytest.mark.corpus
def test_seed_word_tokens_equal_pyvi_for_every_paragraph(seed_article: Article) -> None:
    paragraphs = [clean(seed_article.title)] + [p for p in clean(seed_article.body).split("\n") if p.strip()]
    assert len(paragraphs) == 20
    assert max(len(p) for p in paragraphs) > analysis._MAX_CHUNK  # one is cut into chunks for pyvi
    for para in paragraphs:
        norm = normalize(para)
        assert [t.text for t in VietnameseTokenizer("word")(norm)] == pyvi_words(norm), para
        check_offsets(para)


@pytest.mark.corpus
def test_seed_syllable_spans_equal_segment(seed_article: Article) -> None:
    body = unify_tones(clean(seed_article.body))
    assert list(syllable_spans(body)) == list(segment_uncached(body).syllables)


def test_demo_jsonl_is_what_the_tests_expect() -> None:
    """Guard for the demo-based tests: 26 JSON Lines articles, one of them stored in NFD."""
    lines = (DEMO_DIR / "articles.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 26
    nfd_ids = [r["id"] for r in records if not unicodedata.is_normalized("NFC", r["body"])]
    assert nfd_ids == ["demo-025"]
