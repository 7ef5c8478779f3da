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
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

__all__ = ["sent2features"]

_NO_SET: frozenset[str] = frozenset()
_NO_DICT: dict[str, frozenset[str]] = {}
_CACHE_MAX = 50_000

# token -> (lower, isupper, istitle, isdigit, bigram followers, trigram tails).
# Syllables repeat a lot (a few thousand cover most text), so each distinct
# token is analysed once; the shared lower-case string also keeps its hash.
_token_cache: dict[str, tuple] = {}


@cache
def _index() -> tuple[dict[str, set[str]], dict[str, dict[str, set[str]]]]:
    """pyvi's bigram/trigram sets as nested lookups: first word -> next words.

    Exactly equivalent to pyvi's ``" ".join(ngram).lower() in set``: pyvi puts
    a dictionary line in ``bi_grams`` iff it has exactly one space (two for
    ``tri_grams``), so an entry splits into space-free parts in one way only,
    and a joined n-gram whose tokens contain spaces has too many spaces to
    match, just as it finds no space-free part here. Built once on first use
    (later changes to pyvi's sets are not seen; pyvi never makes any).

    pyvi is imported here, not at module top, as in ``searchsvc.analysis``:
    the import costs about 1 s and 100 MiB.
    """
    from pyvi.ViTokenizer import ViTokenizer

    bigrams: dict[str, set[str]] = {}
    for gram in ViTokenizer.bi_grams:
        a, b = gram.split(" ")
        bigrams.setdefault(a, set()).add(b)
    trigrams: dict[str, dict[str, set[str]]] = {}
    for gram in ViTokenizer.tri_grams:
        a, b, c = gram.split(" ")
        trigrams.setdefault(a, {}).setdefault(b, set()).add(c)
    return bigrams, trigrams


def _analyse(token: str) -> tuple:
    """Everything the features need from one token, computed once and cached."""
    bigrams, trigrams = _index()
    low = token.lower()
    info = (
        low,
        token.isupper(),
        token.istitle(),
        token.isdigit(),
        bigrams.get(low, _NO_SET),
        trigrams.get(low, _NO_DICT),
    )
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
