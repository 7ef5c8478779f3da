"""Faster, exact replacement for pyvi 0.1.1's CRF feature extraction.

pyvi's ``ViTokenizer.word2features`` rebuilds each position's dict with
several ``dict.update`` calls, lowers and tests every token three to five
times, and joins, lowers and hashes every bigram and trigram twice (once from
each side). That is about 40 % of pyvi's segmentation time. Here each
distinct token is analysed once (and cached), each n-gram is looked up once
in a nested index of pyvi's dictionary, and each dict is built as a literal.

The result is identical to ``ViTokenizer.sent2features(tokens, False)``:
same keys in the same order, same values and value types. Key order is kept
too, because crfsuite sums attribute weights in item order, and a different
float summation order could in principle flip a near-tie label.

Looking up lowered tokens one by one is equivalent to pyvi's
``" ".join(ngram).lower()`` because the only context-dependent lowercasing in
``str.lower`` (Greek final sigma) stops its context scan at a character that
is neither cased nor case-ignorable; the space is one, exactly like a string
edge. The tests check this on odd characters (``İ``, ``ß``, ``Σ``, ``ǅ``, ...).

``tag`` goes one step further and skips the dicts: once features are fast,
most of ``ViTokenizer.model.predict`` is pycrfsuite turning each dict into
crfsuite attributes (type checks, ``key + ":" + value``, UTF-8 encoding, zero
weights). ``tag`` hands the tagger, per position, a tuple of ready-made UTF-8
attribute names, each meaning weight 1, in pyvi's key order with the False
features left out. That is the same crfsuite input up to terms that add
exactly nothing, so the scores, and hence the labels, are the same; see
``_items``.
"""

from __future__ import annotations

import importlib.util
import pickle
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pycrfsuite

__all__ = ["sent2features", "tag", "warm"]

_NO_SET: frozenset[str] = frozenset()
_NO_DICT: dict[str, frozenset[str]] = {}
_CACHE_MAX = 50_000
_MODEL = "models/pyvi3.pkl"  # pyvi 0.1.1's files: the CRF model (pickled by sklearn_crfsuite), its dictionary
_WORDS = "models/words.txt"
_ITEM_CACHE_MAX = 20_000  # entries are ~1 KB (tuples of bytes), so a smaller bound

# token -> (lower, isupper, istitle, isdigit, bigram followers, trigram tails).
# Syllables repeat a lot (a few thousand cover most text), so each distinct
# token is analysed once; the shared lower-case string also keeps its hash.
_token_cache: dict[str, tuple] = {}

# token -> (lower, bigram followers, trigram tails, own attributes,
# attributes as left neighbour x4, as right neighbour x4); see _analyse_items.
_item_cache: dict[str, tuple] = {}


@cache
def syllables() -> frozenset[str]:
    """Every syllable of pyvi's dictionary (its bigrams and trigrams), lower case: Vietnamese as written,
    whatever an index holds (engine/spelling.py never corrects one of these into another)."""
    bigrams, trigrams = _index()
    out = set(bigrams)
    for nexts in bigrams.values():
        out |= nexts
    for a, seconds in trigrams.items():
        out.add(a)
        for b, thirds in seconds.items():
            out.add(b)
            out |= thirds
    return frozenset(s for s in out if s.isalpha())


@cache
def _index() -> tuple[dict[str, set[str]], dict[str, dict[str, set[str]]]]:
    """pyvi's bigram/trigram sets as nested lookups: first word -> next words.

    Exactly equivalent to pyvi's ``" ".join(ngram).lower() in set``: pyvi puts
    a dictionary line in ``bi_grams`` iff it has exactly one space (two for
    ``tri_grams``), so an entry splits into space-free parts in one way only,
    and a joined n-gram whose tokens contain spaces has too many spaces to
    match, just as it finds no space-free part here. Built once on first use
    (later changes to pyvi's sets are not seen; pyvi never makes any).

    Read from pyvi's ``models/words.txt`` as ``ViTokenizer`` reads it (a line of two space-separated words is a
    bigram, of three a trigram), without importing pyvi (see :func:`_tagger`).
    """
    bigrams: dict[str, set[str]] = {}
    trigrams: dict[str, dict[str, set[str]]] = {}
    with open(_pyvi_file(_WORDS), encoding="utf-8", newline="") as f:  # newline="": as codecs.open reads it
        lines = f.read().split("\n")
    for line in lines:
        parts = line.split(" ")
        if len(parts) == 2:
            bigrams.setdefault(parts[0], set()).add(parts[1])
        elif len(parts) == 3:
            trigrams.setdefault(parts[0], {}).setdefault(parts[1], set()).add(parts[2])
    return bigrams, trigrams


def _properties(token: str) -> tuple:
    """(lower, isupper, istitle, isdigit, bigram followers, trigram tails)."""
    bigrams, trigrams = _index()
    low = token.lower()
    return (
        low,
        token.isupper(),
        token.istitle(),
        token.isdigit(),
        bigrams.get(low, _NO_SET),
        trigrams.get(low, _NO_DICT),
    )


def _analyse(token: str) -> tuple:
    """Everything the features need from one token, computed once and cached."""
    info = _properties(token)
    if len(_token_cache) >= _CACHE_MAX:
        _token_cache.clear()  # crude bound; refilling is cheap
    _token_cache[token] = info
    return info


def sent2features(tokens: Sequence[str]) -> list[dict]:
    """Same result as ViTokenizer.sent2features(tokens, False), faster."""
    n = len(tokens)
    if n == 0:
        return []
    get = _token_cache.get
    low, up, title, digit, bi_next, tri_next = zip(
        *[get(t) or _analyse(t) for t in tokens], strict=True
    )
    # bi[k]: pair (k, k + 1); tri[k]: triple (k, k + 1, k + 2). Each is both
    # the '+1'/'+2' feature of position k and the '-1'/'-2' feature of the
    # last position of the n-gram, so each lookup serves two dicts. The
    # shifted zips below are meant to stop at the shortest input.
    low1 = low[1:]
    bi = [b in nexts for nexts, b in zip(bi_next, low1, strict=False)]
    tri = [
        c in tails.get(b, _NO_SET) if tails else False
        for tails, b, c in zip(tri_next, low1, low[2:], strict=False)
    ]

    def edge(i: int) -> dict:
        """Features of a position near an end, with pyvi's conditional keys."""
        f = {
            "bias": 1.0,
            "word.lower()": low[i],
            "word.isupper()": up[i],
            "word.istitle()": title[i],
            "word.isdigit()": digit[i],
        }
        if i > 0:
            f["-1:word.lower()"] = low[i - 1]
            f["-1:word.istitle()"] = title[i - 1]
            f["-1:word.isupper()"] = up[i - 1]
            f["-1:word.bi_gram()"] = bi[i - 1]
            if i > 1:
                f["-2:word.tri_gram()"] = tri[i - 2]
        if i < n - 1:
            f["+1:word.lower()"] = low[i + 1]
            f["+1:word.istitle()"] = title[i + 1]
            f["+1:word.isupper()"] = up[i + 1]
            f["+1:word.bi_gram()"] = bi[i]
            if i < n - 2:
                f["+2:word.tri_gram()"] = tri[i]
        return f

    if n < 4:
        return [edge(i) for i in range(n)]

    # Interior positions 2 .. n-3 have all 15 keys: one literal each, fed by
    # shifted views of the per-token lists (zip stops at tri[2:], length n-4).
    interior = [
        {
            "bias": 1.0,
            "word.lower()": w_low,
            "word.isupper()": w_up,
            "word.istitle()": w_title,
            "word.isdigit()": w_digit,
            "-1:word.lower()": p_low,
            "-1:word.istitle()": p_title,
            "-1:word.isupper()": p_up,
            "-1:word.bi_gram()": p_bi,
            "-2:word.tri_gram()": p_tri,
            "+1:word.lower()": n_low,
            "+1:word.istitle()": n_title,
            "+1:word.isupper()": n_up,
            "+1:word.bi_gram()": n_bi,
            "+2:word.tri_gram()": n_tri,
        }
        for (
            w_low, w_up, w_title, w_digit,
            p_low, p_title, p_up, p_bi, p_tri,
            n_low, n_title, n_up, n_bi, n_tri,
        ) in zip(
            low[2:], up[2:], title[2:], digit[2:],
            low1, title[1:], up[1:], bi[1:], tri,
            low[3:], title[3:], up[3:], bi[2:], tri[2:],
            strict=False,
        )
    ]
    return [edge(0), edge(1), *interior, edge(n - 2), edge(n - 1)]


# --- tagging without dicts ----------------------------------------------------

# Tails appended to a neighbour's attributes, indexed by 2 * bigram + trigram
# (bools): pyvi's "-1:word.bi_gram()" / "-2:word.tri_gram()" (left neighbour)
# and "+1:word.bi_gram()" / "+2:word.tri_gram()" (right neighbour), in pyvi's
# order, left out when False.
_LEFT_TAILS = ((), (b"-2:word.tri_gram()",), (b"-1:word.bi_gram()",), (b"-1:word.bi_gram()", b"-2:word.tri_gram()"))
_RIGHT_TAILS = ((), (b"+2:word.tri_gram()",), (b"+1:word.bi_gram()",), (b"+1:word.bi_gram()", b"+2:word.tri_gram()"))


def _analyse_items(token: str) -> tuple:
    """One token's crfsuite attribute names in each role, built once and cached.

    The names are the UTF-8 bytes pycrfsuite would make from pyvi's dict
    (``key`` for a True or 1.0 value, ``key:value`` for a string; UTF-8 of a
    concatenation is the concatenation of the UTF-8s). A lone surrogate
    raises UnicodeEncodeError here; pyvi fails on it too, in pycrfsuite, as
    a SystemError caused by the same UnicodeEncodeError.
    """
    low, up, title, digit, bi_next, tri_next = _token_cache.get(token) or _properties(token)
    name = low.encode("utf-8")
    own = (b"bias", b"word.lower():" + name)
    own += (b"word.isupper()",) * up + (b"word.istitle()",) * title + (b"word.isdigit()",) * digit
    left = (b"-1:word.lower():" + name,) + (b"-1:word.istitle()",) * title + (b"-1:word.isupper()",) * up
    right = (b"+1:word.lower():" + name,) + (b"+1:word.istitle()",) * title + (b"+1:word.isupper()",) * up
    info = (
        low,
        bi_next,
        tri_next,
        own,
        tuple(left + t for t in _LEFT_TAILS),
        tuple(right + t for t in _RIGHT_TAILS),
    )
    if len(_item_cache) >= _ITEM_CACHE_MAX:
        _item_cache.clear()
    _item_cache[token] = info
    return info


def _items(tokens: Sequence[str]) -> list[tuple[bytes, ...]]:
    """crfsuite items scoring exactly like ``ViTokenizer.sent2features(tokens, False)``.

    pycrfsuite turns a dict item into attributes in key order: a string value
    ``v`` of key ``k`` becomes attribute ``k:v`` with weight 1.0, a bool or
    number becomes ``k`` with weight ``float(value)``; a plain sequence of
    names gives each weight 1.0. crfsuite adds ``weight * value`` to the state
    scores attribute by attribute in that order (unknown names are dropped).
    So this item, pyvi's names in pyvi's order minus the False ones, performs
    the same additions except terms ``w * 0.0 = ±0.0``, which change no sum
    (at most the sign of an exact zero, which nothing downstream can see).
    Non-empty ``tokens`` only.
    """
    get = _item_cache.get
    low, bi_next, tri_next, own, lefts, rights = zip(*[get(t) or _analyse_items(t) for t in tokens], strict=True)
    if len(own) == 1:
        return [own[0]]
    # n-gram lookups as in sent2features: bi[k] for pair (k, k+1), tri[k] for
    # (k, k+1, k+2); the shifted zips are meant to stop at the shortest input.
    low1 = low[1:]
    bi = [b in nexts for nexts, b in zip(bi_next, low1, strict=False)]
    tri = [
        c in tails.get(b, _NO_SET) if tails else False
        for tails, b, c in zip(tri_next, low1, low[2:], strict=False)
    ]
    # left[k]: "-1/-2" attributes of position k+1 (its left neighbour is k);
    # right[k]: "+1/+2" attributes of position k (its right neighbour is k+1).
    left = [v[2 * b + t] for v, b, t in zip(lefts, bi, [False, *tri], strict=False)]
    right = [v[2 * b + t] for v, b, t in zip(rights[1:], bi, [*tri, False], strict=True)]
    return [
        own[0] + right[0],
        *[o + l + r for o, l, r in zip(own[1:], left, right[1:], strict=False)],
        own[-1] + left[-1],
    ]


class _Kept:
    """Stands in for a class of pyvi's pickled model: keeps the object's state and does nothing else."""

    def __setstate__(self, state: dict) -> None:
        self.state = state


class _ModelUnpickler(pickle.Unpickler):
    """Reads pyvi's model without sklearn_crfsuite: its CRF estimator, file resource and training log become
    :class:`_Kept` (the crfsuite model itself is the file resource's bytes); anything else is refused."""

    KEPT = {("sklearn_crfsuite.estimator", "CRF"), ("sklearn_crfsuite._fileresource", "FileResource"),
            ("pycrfsuite._logparser", "TrainLogParser")}
    ALLOWED = {("_codecs", "encode"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar")}

    def find_class(self, module: str, name: str) -> type:
        if (module, name) in self.KEPT:
            return _Kept
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"pyvi's model refers to {module}.{name}, which it is not expected to")


def _pyvi_file(name: str) -> Path:
    """A data file of the installed pyvi package, found without importing it."""
    spec = importlib.util.find_spec("pyvi")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("pyvi is not installed")
    return Path(spec.origin).parent / name


def _tagger() -> pycrfsuite.Tagger:
    return _model()[0]


@cache
def _model() -> tuple[pycrfsuite.Tagger, bytes]:
    """pyvi's CRF model, opened from memory, and the bytes it is opened from (crfsuite reads them in place: they
    must live as long as the tagger).

    Importing ``pyvi.ViTokenizer`` would do it through sklearn_crfsuite, which imports scikit-learn (1.3 s of a
    server's 2 s start at 148k articles, issue 16) and writes the model to a temporary file that a process
    ended by a signal left behind. Here the model's bytes are taken from pyvi's pickle and handed to crfsuite
    directly: no sklearn, no file. A tagger opened before ``fork`` is inherited: crfsuite holds the model in
    memory, so each process tags with its own copy.
    """
    import pycrfsuite

    with open(_pyvi_file(_MODEL), "rb") as f:
        model = _ModelUnpickler(f).load()
    data = model.state["modelfile"].state["__FILE_RESOURCE_DATA__"]
    tagger = pycrfsuite.Tagger()
    tagger.open_inmemory(data)
    return tagger, data


def warm() -> None:
    """Load pyvi's n-gram index and open its tagger now, e.g. before forking workers: workers forked afterwards
    inherit both instead of each building the index and opening the model again."""
    _tagger()
    _index()


def tag(sentences: Sequence[Sequence[str]]) -> list[list[str]]:
    """Labels (B_W / I_W) for each sentence of syllables: same result as
    ViTokenizer.model.predict([ViTokenizer.sent2features(s, False) for s in sentences]), faster.

    Not thread-safe, like pyvi's predict: crfsuite's tagger holds the current
    sentence between its ``set`` and ``viterbi`` steps.
    """
    run = _tagger().tag
    return [run(_items(tokens)) if len(tokens) else [] for tokens in sentences]
