"""searchsvc.analysis.pyvi_features must give exactly pyvi 0.1.1's CRF features and labels.

Exactness is the whole contract: the CRF model was trained on pyvi's
features, so any difference (a value, a type such as 1 for True, or even
the key order, which sets crfsuite's summation order) could change labels.
``tag`` skips the dicts, so it is checked twice: its crfsuite input must be
pyvi's minus zero-weight attributes, in the same order, and its labels must
be pyvi's predicted labels.
"""

from __future__ import annotations

import gzip
import itertools
import json
import multiprocessing
import os
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from searchsvc.analysis import pyvi_features
from searchsvc.analysis.pyvi_features import sent2features, tag

ViTokenizer = pytest.importorskip("pyvi.ViTokenizer").ViTokenizer

SHARED = Path(__file__).parents[2] / "shared"
SEED = SHARED / "seeds" / "000_40c29efcdb949413.txt"
CORPUS = SHARED / "corpus" / "vntc.jsonl.gz"
VNDS = SHARED / "corpus" / "vnds.jsonl.gz"


def _signature(features: list[dict]) -> list[list[tuple[str, type, object]]]:
    """Keys in order with value types and values: `==` alone takes True for 1.0."""
    return [[(k, type(v), v) for k, v in f.items()] for f in features]


def assert_same(tokens: Sequence[str]) -> list[dict]:
    ours = sent2features(tokens)
    ref = ViTokenizer.sent2features(list(tokens), False)
    assert ours == ref, tokens
    assert _signature(ours) == _signature(ref), tokens
    return ours


def _syllables(paragraph: str) -> list[str]:
    return ViTokenizer.sylabelize(paragraph)[1]


def _count(features: list[dict], key: str) -> int:
    return sum(1 for f in features if f.get(key) is True)


# --- (a) hand-written tricky inputs ------------------------------------------

# A few lower-case dictionary entries, picked deterministically.
_BIGRAMS = sorted(g for g in ViTokenizer.bi_grams if g == g.lower())[:: 997]
_TRIGRAMS = sorted(g for g in ViTokenizer.tri_grams if g == g.lower())[:: 97]

TRICKY: list[list[str]] = [
    [],
    ["Hà"],
    [""],
    ["Hà", "Nội"],
    ["học", "sinh"],
    ["Học", "Sinh"],
    ["HỌC", "SINH"],
    ["Học", "sinh", "học", "sinh", "học"],
    ["Thành", "phố", "Hồ", "Chí", "Minh"],
    ["an", "toàn", "khu"],
    ["An", "Toàn", "Khu", "."],
    ["Ban", "Chấp", "Hành", "Trung", "ương"],
    ["2021", "31/3/2021", "05", "1.000", "1,5", "²", "٣", "12a", "V.League"],
    ["UBND", "TP.", "HCM", "CT/TW", "Mr.", "ThS.", "NLĐ", "A", "a"],
    [",", ".", "...", "“", "”", "(", ")", "-", "==>", "->", ">>", "\n", "…", "_"],
    ["İ", "İstanbul", "İİ", "i̇", "I"],
    ["ß", "STRASSE", "Straße", "ẞ", "ß", "ss"],
    ["ΟΔΟΣ", "Σ", "ΑΣ", "σ", "ς", "Σ'", "'Σ", "ΑΣ'", "Α", "ΣΑ"],
    ["ǅ", "ǆ", "Ǆ", "ǅungla", "ﬁ", "ﬃx", "Ω", "K", "ſ"],
    ["đ", "Đ", "ĐẢNG", "Đảng", "ĐảNg", "hoà", "hòa", "thuỷ", "khoẻ"],
    ["\u0301", "a\u0301", "A\u0301", "e\u0323\u0302"],  # NFD: combining marks
    ["hà nội", "Hà Nội", "x", "học sinh"],  # tokens containing spaces
    ["https://vnexpress.net/a", "ai@vnexpress.net", "x_y", "😀", "\u200b"],
    # crfsuite names: "k:v" joins, C strings end at NUL, the model knows "\n"
    [":", "a:b", "::", "Hà:", "\n", "\t", "a\x00", "\x00", "Hà\x00Nội", "x"],
    # words.txt has mixed-case entries, which pyvi's lowered lookup never hits
    ["sao", "Mộc", "tia", "X", "giờ", "G", "Thượng", "Đế"],
    *[[w.title() for w in g.split(" ")] for g in _BIGRAMS],
    *[g.upper().split(" ") for g in _TRIGRAMS],
    *[["Ở", *g.split(" "), "."] for g in _TRIGRAMS],
]


def _id(tokens: list[str]) -> str:
    return "|".join(tokens)[:40] or "empty"


@pytest.mark.parametrize("tokens", TRICKY, ids=_id)
def test_tricky_tokens(tokens: list[str]) -> None:
    assert_same(tokens)


def test_every_prefix_length() -> None:
    """Lengths 0..12 cover every mix of edge and interior positions."""
    tokens = _syllables("Học sinh học ở Thành phố Hồ Chí Minh, an toàn khu 12 ΟΔΟΣ.")
    assert len(tokens) >= 12
    for n in range(len(tokens) + 1):
        assert_same(tokens[:n])


def test_dictionary_hits_are_seen() -> None:
    """The identity checks above are not vacuous: n-gram features do fire."""
    feats = assert_same(["Ban", "Chấp", "Hành", "học", "sinh", "."])
    assert feats[0]["+2:word.tri_gram()"] is True
    assert feats[2]["-2:word.tri_gram()"] is True
    assert feats[3]["+1:word.bi_gram()"] is True
    assert feats[4]["-1:word.bi_gram()"] is True


def test_shared_input_is_not_mutated() -> None:
    tokens = ("Hà", "Nội", "mùa", "thu")
    sent2features(tokens)
    assert tokens == ("Hà", "Nội", "mùa", "thu")
    assert_same(tokens)  # any Sequence, not only lists


def test_ngram_index_is_pyvi_dictionary() -> None:
    """The nested lookup holds exactly pyvi's sets, nothing lost or added."""
    bigrams, trigrams = pyvi_features._index()
    assert {f"{a} {b}" for a, bs in bigrams.items() for b in bs} == ViTokenizer.bi_grams
    rebuilt = {f"{a} {b} {c}" for a, bcs in trigrams.items() for b, cs in bcs.items() for c in cs}
    assert rebuilt == ViTokenizer.tri_grams


def test_token_cache_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pyvi_features, "_CACHE_MAX", 3)
    monkeypatch.setattr(pyvi_features, "_token_cache", {})
    tokens = _syllables("Học sinh học ở Thành phố Hồ Chí Minh, an toàn khu.")
    for _ in range(3):  # cold, warm and cleared-midway caches
        assert_same(tokens)
        assert len(pyvi_features._token_cache) <= 3


ODD = "İıIißẞΣσςΑαǅǄǆﬁſKΩ'’-.·\u0301\u0323\u0300 _0²٣Aaa"


def test_lower_of_join_is_join_of_lowers() -> None:
    """The premise of the speed-up, on characters whose lowering is special."""
    rng = random.Random(1)
    # pyvi lowers the joined n-gram; sent2features joins lowered tokens.
    for words in itertools.product(ODD, repeat=3):
        a, b, c = (w.lower() for w in words)
        assert " ".join(words).lower() == a + " " + b + " " + c
        assert " ".join(words[:2]).lower() == a + " " + b
    for _ in range(5000):
        words = ["".join(rng.choices(ODD, k=rng.randint(0, 4))) for _ in range(3)]
        a, b, c = (w.lower() for w in words)
        assert " ".join(words).lower() == a + " " + b + " " + c


def test_random_tokens() -> None:
    rng = random.Random(7)
    syllables = sorted({s for g in _BIGRAMS + _TRIGRAMS for s in g.split(" ")})
    for _ in range(300):
        tokens = []
        for _ in range(rng.randint(0, 12)):
            if rng.random() < 0.6:
                s = rng.choice(syllables)
                tokens.append(rng.choice([s, s.title(), s.upper()]))
            else:
                tokens.append("".join(rng.choices(ODD, k=rng.randint(0, 3))))
        assert_same(tokens)


# --- (b) the seed article ------------------------------------------------------


def _seed_paragraphs() -> list[str]:
    if not SEED.exists():
        pytest.skip(f"{SEED} not found (../shared is absent)")
    return SEED.read_text(encoding="utf-8-sig").split("\n")


@pytest.mark.corpus
def test_seed_article() -> None:
    hits = 0
    for paragraph in _seed_paragraphs():
        feats = assert_same(_syllables(paragraph))
        hits += _count(feats, "+1:word.bi_gram()")
    assert hits > 50


@pytest.mark.corpus
def test_seed_predict_labels() -> None:
    model = ViTokenizer.model
    paragraphs = [p for p in _seed_paragraphs() if p.strip()][:6]
    assert paragraphs
    sents = [_syllables(p) for p in paragraphs]
    ours = [list(y) for y in model.predict([sent2features(s) for s in sents])]
    ref_features = [ViTokenizer.sent2features(s, False) for s in sents]
    ref = [list(y) for y in model.predict(ref_features)]
    assert ours == ref
    assert any("I_W" in labels for labels in ours)


# --- (c) the corpus ------------------------------------------------------------


def _corpus_bodies(limit: int, path: Path = CORPUS) -> Iterator[str]:
    if not path.exists():
        pytest.skip(f"{path} not found (../shared is absent)")
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in itertools.islice(lines, limit):
            yield json.loads(line)["body"]


@pytest.mark.corpus
def test_corpus_first_200_articles() -> None:
    articles = paragraphs = tri_hits = 0
    for body in _corpus_bodies(200):
        articles += 1
        for paragraph in body.split("\n"):
            paragraphs += 1
            feats = assert_same(_syllables(paragraph))
            tri_hits += _count(feats, "+2:word.tri_gram()")
    assert articles == 200
    assert paragraphs > 200
    assert tri_hits > 0


# --- (d) tag: crfsuite input and labels ----------------------------------------


def pyvi_labels(sentences: Sequence[Sequence[str]]) -> list[list[str]]:
    """The reference: pyvi's features through sklearn_crfsuite's predict."""
    features = [ViTokenizer.sent2features(list(s), False) for s in sentences]
    return [list(labels) for labels in ViTokenizer.model.predict(features)]


def assert_same_items(tokens: Sequence[str]) -> None:
    """Our crfsuite input is pyvi's with the zero-weight attributes left out.

    pycrfsuite's own ItemSequence shows what crfsuite receives: attribute
    names with weights, in order. The counts guard against duplicate names,
    which ``items()`` (a dict per position) would merge.
    """
    from pycrfsuite import ItemSequence

    features = ViTokenizer.sent2features(list(tokens), False)
    ours = pyvi_features._items(tokens) if tokens else []
    assert [len(item) for item in ours] == [sum(v is not False for v in f.values()) for f in features], tokens
    ref = [[(k, v) for k, v in item.items() if v != 0.0] for item in ItemSequence(features).items()]
    assert [list(item.items()) for item in ItemSequence(ours).items()] == ref, tokens


def assert_same_tags(sentences: Sequence[Sequence[str]]) -> list[list[str]]:
    ours = tag(sentences)
    assert ours == pyvi_labels(sentences)
    assert all(type(labels) is list for labels in ours)
    return ours


@pytest.mark.parametrize("tokens", TRICKY, ids=_id)
def test_tag_tricky_tokens(tokens: list[str]) -> None:
    assert_same_items(tokens)
    assert_same_tags([tokens])


def test_tag_batch() -> None:
    labels = assert_same_tags(TRICKY)
    assert len(labels) == len(TRICKY)
    assert any("I_W" in x for x in labels) and any("B_W" in x for x in labels)


def test_tag_every_prefix_length() -> None:
    tokens = _syllables("Ban Chấp Hành học sinh ở Thành phố Hồ Chí Minh, an toàn khu 12 ΟΔΟΣ.")
    prefixes = [tokens[:n] for n in range(len(tokens) + 1)]
    for prefix in prefixes:
        assert_same_items(prefix)
    assert_same_tags(prefixes)
    assert_same_tags([tuple(p) for p in prefixes])  # any Sequence


def test_tag_empty_input() -> None:
    assert tag([]) == [] == pyvi_labels([])
    assert tag([[]]) == [[]] == pyvi_labels([[]])
    assert_same_tags([[], ("Hà", "Nội"), [], ["Hà"], []])


def test_tag_ngram_attributes_fire() -> None:
    items = pyvi_features._items(["Ban", "Chấp", "Hành", "học", "sinh", "."])
    assert b"+2:word.tri_gram()" in items[0]
    assert b"-2:word.tri_gram()" in items[2]
    assert b"+1:word.bi_gram()" in items[3]
    assert b"-1:word.bi_gram()" in items[4]
    assert b"-1:word.bi_gram()" not in items[3]


def test_tag_lone_surrogate_fails_like_pyvi() -> None:
    """Neither can encode it; pycrfsuite's to_item reports that as a SystemError."""
    with pytest.raises(SystemError) as pyvi_error:
        pyvi_labels([["a", "\ud800"]])
    assert isinstance(pyvi_error.value.__cause__, UnicodeEncodeError)
    with pytest.raises(UnicodeEncodeError):
        tag([["a", "\ud800"]])
    assert_same_tags([["a", "b"]])  # nothing left half-done


def test_item_cache_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pyvi_features, "_ITEM_CACHE_MAX", 3)
    monkeypatch.setattr(pyvi_features, "_item_cache", {})
    monkeypatch.setattr(pyvi_features, "_token_cache", {})
    tokens = _syllables("Học sinh học ở Thành phố Hồ Chí Minh, an toàn khu.")
    for _ in range(3):  # cold, warm and cleared-midway caches
        assert_same_items(tokens)
        assert_same_tags([tokens, tokens[3:]])
        assert len(pyvi_features._item_cache) <= 3
    assert pyvi_features._token_cache == {}  # tag alone does not fill the features' cache


def test_tag_random_tokens() -> None:
    rng = random.Random(11)
    syllables = sorted({s for g in _BIGRAMS + _TRIGRAMS for s in g.split(" ")})
    batch = []
    for _ in range(300):
        tokens = []
        for _ in range(rng.randint(0, 12)):
            if rng.random() < 0.7:
                s = rng.choice(syllables)
                tokens.append(rng.choice([s, s.title(), s.upper()]))
            else:
                tokens.append("".join(rng.choices(ODD + ":\n", k=rng.randint(0, 3))))
        assert_same_items(tokens)
        batch.append(tokens)
    assert_same_tags(batch)


_FORK_TEXT = [
    "Học sinh học ở Thành phố Hồ Chí Minh, an toàn khu.",
    "Ban Chấp Hành Trung ương Đảng họp tại Hà Nội ngày 31/3/2021.",
    "",
    "UBND TP. HCM công bố 1.000 ca ΟΔΟΣ İstanbul.",
]


def _tag_in_child(sentences: list[list[str]]) -> tuple[int, int, list[list[str]]]:
    return os.getpid(), id(pyvi_features._tagger()), tag(sentences)


def test_tag_in_forked_workers() -> None:
    """Workers forked after the tagger is open use the inherited tagger and agree."""
    sents = [_syllables(p) for p in _FORK_TEXT] * 5
    expected = tag(sents)
    parent_tagger = id(pyvi_features._tagger())
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_tag_in_child, [sents[i::4] for i in range(4)])
    assert {pid for pid, _, _ in results} - {os.getpid()}
    assert {tagger for _, tagger, _ in results} == {parent_tagger}
    assert [labels for _, _, labels in results] == [expected[i::4] for i in range(4)]
    assert tag(sents) == expected  # the parent's tagger is unaffected


_FRESH_FORK = """
import json, multiprocessing, os, sys, tempfile
from pyvi.ViTokenizer import ViTokenizer
from searchsvc.analysis import pyvi_features
sents = json.loads(sys.argv[1])
fork = multiprocessing.get_context("fork")
temp = tempfile.gettempdir()

# 1. pyvi imported before fork by code other than ours, its tagger not opened: each worker opens it
# and deletes the model file; a worker that finds it already deleted by its sibling reads it through
# the descriptor it inherited.
assert ViTokenizer.model._tagger is None
written = os.listdir(temp)
with fork.Pool(2) as pool:
    lazy = pool.map(pyvi_features.tag, [sents[i::2] for i in range(2)])
assert ViTokenizer.model._tagger is None

# 2. warm() opens the tagger here (the file may be gone already: case 1's workers deleted it), then
# a child that exits normally (sklearn_crfsuite's FileResource.__del__ runs) changes nothing for the
# workers forked after it, which use the inherited tagger.
pyvi_features.warm()
pid = os.fork()
if pid == 0:
    sys.exit(0)
os.waitpid(pid, 0)
with fork.Pool(2) as pool:
    warmed = pool.map(pyvi_features.tag, [sents[i::2] for i in range(2)])
print(json.dumps([lazy, warmed, pyvi_features.tag(sents), written, os.listdir(temp)]))
"""


def test_tag_in_workers_forked_before_and_after_warm(tmp_path: Path) -> None:
    """In a fresh interpreter with its own temp directory, to see pyvi's model file come and go."""
    sents = [_syllables(p) for p in _FORK_TEXT]
    out = subprocess.run(
        [sys.executable, "-c", _FRESH_FORK, json.dumps(sents)],
        capture_output=True, text=True, timeout=120, check=True, cwd=Path(__file__).parents[1],
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    lazy, warmed, parent, written, left = json.loads(out.stdout)
    expected = pyvi_labels(sents)
    assert lazy == warmed == [expected[i::2] for i in range(2)]
    assert parent == expected
    assert len(written) == 1 and written[0].startswith("model") and written[0].endswith(".crfsuite")
    assert left == []
    assert out.stderr == ""  # nothing from FileResource.__del__ about the missing file


@pytest.mark.corpus
def test_seed_tag() -> None:
    sents = [_syllables(p) for p in _seed_paragraphs()]
    for tokens in sents:
        assert_same_items(tokens)
    labels = assert_same_tags(sents)
    assert sum(x.count("I_W") for x in labels) > 100


@pytest.mark.corpus
@pytest.mark.parametrize(("path", "limit"), [(CORPUS, 1000), (VNDS, 500)], ids=["vntc-1000", "vnds-500"])
def test_corpus_tag(path: Path, limit: int) -> None:
    """Every paragraph (body split on "\\n", empty ones too), one batch per article.

    The crfsuite input itself is compared on the first 200 articles only: it
    costs more than the labels (all articles: ~30 s instead of ~15 s).
    """
    articles = paragraphs = inside = 0
    for body in _corpus_bodies(limit, path):
        sents = [_syllables(p) for p in body.split("\n")]
        if articles < 200:
            for tokens in sents:
                assert_same_items(tokens)
        labels = assert_same_tags(sents)
        articles += 1
        paragraphs += len(sents)
        inside += sum(x.count("I_W") for x in labels)
    assert articles == limit
    assert paragraphs >= limit
    assert inside > 10 * limit
