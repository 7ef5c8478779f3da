"""Telex and VNI keys typed with the input method off (``Haf Nooij``, ``Ha2 No6i5``), read back as Vietnamese.

A reader whose keyboard did not convert types the keys themselves: Telex
``aa aw ee oo ow uw w dd`` for ``â ă ê ô ơ ư ư đ`` and ``s f r x j`` for the
five tones; VNI digits ``6 7 8 9`` for the vowel marks and ``đ``, ``1``-``5``
for the tones. Decoding is pure spelling: a candidate is returned only when it
is a well-formed Vietnamese syllable (initial, vowels, final), so ``Windows`` or
``Liverpool`` give nothing. Whether the decoded reading is the likelier query
is for the caller to judge, against the index's vocabulary (engine/rewrite.py).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["decode", "decode_telex", "decode_vni", "is_syllable"]

_ACUTE, _GRAVE, _HOOK, _TILDE, _DOT = "\u0301", "\u0300", "\u0309", "\u0303", "\u0323"
_TELEX_TONES = {"s": _ACUTE, "f": _GRAVE, "r": _HOOK, "x": _TILDE, "j": _DOT}
_VNI_TONES = {"1": _ACUTE, "2": _GRAVE, "3": _HOOK, "4": _TILDE, "5": _DOT}
_TELEX_MARKS = (("dd", "đ"), ("aa", "â"), ("aw", "ă"), ("ee", "ê"), ("oo", "ô"), ("ow", "ơ"), ("uw", "ư"))

_INITIALS = ("ngh", "ng", "nh", "ch", "gh", "gi", "kh", "ph", "qu", "th", "tr", "b", "c", "d", "đ", "g", "h", "k",
             "l", "m", "n", "p", "r", "s", "t", "v", "x", "")
_FINALS = ("ng", "nh", "ch", "c", "m", "n", "p", "t", "")
_NUCLEI = (
    "a", "ă", "â", "e", "ê", "i", "y", "o", "ô", "ơ", "u", "ư",
    "ai", "ao", "au", "ay", "âu", "ây", "eo", "êu", "ia", "iu", "iê", "oa", "oă", "oe", "oi", "ôi", "ơi", "oo",
    "ua", "uâ", "uê", "ui", "uô", "uơ", "uy", "ưa", "ưi", "ưu", "ươ", "ya", "yê",
    "iêu", "oai", "oay", "oao", "oeo", "uây", "uôi", "uya", "uyê", "uyu", "ươi", "ươu", "yêu",
)
# Vowels that carry a mark of their own take the tone (ươ: on ơ).
_MARKED = "ăâêôơư"
_SYLLABLE_RE = re.compile(
    "^(" + "|".join(sorted(_INITIALS, key=len, reverse=True)) + ")"
    "(" + "|".join(sorted(_NUCLEI, key=len, reverse=True)) + ")"
    "(" + "|".join(sorted(_FINALS, key=len, reverse=True)) + ")$"
)


def _strip_tone(text: str) -> tuple[str, str | None]:
    """The text without its tone mark (vowel marks kept), and the tone."""
    tone = None
    out = []
    for ch in unicodedata.normalize("NFD", text):
        if ch in (_ACUTE, _GRAVE, _HOOK, _TILDE, _DOT):
            tone = ch
        else:
            out.append(ch)
    return unicodedata.normalize("NFC", "".join(out)), tone


def _parts(base: str) -> tuple[str, str, str] | None:
    m = _SYLLABLE_RE.match(base)
    if not m:
        return None
    initial, nucleus, final = m.groups()
    if not nucleus:
        return None
    # gi + a vowel: the i belongs to the initial (già); "gi" alone is the vowel i (gì).
    return initial, nucleus, final


def is_syllable(word: str) -> bool:
    """A well-formed Vietnamese syllable (lower case; any tone, any vowel marks)."""
    base, tone = _strip_tone(word.lower())
    parts = _parts(base)
    if parts is None:
        return False
    _, _, final = parts
    # Stop finals (c, ch, p, t) take only the acute or the dot below.
    return not (final in ("c", "ch", "p", "t") and tone not in (None, _ACUTE, _DOT))


def _place_tone(base: str, tone: str | None) -> str | None:
    """Put ``tone`` on the vowel Vietnamese spelling puts it on (new style, as analysis.unify_tones does)."""
    parts = _parts(base)
    if parts is None:
        return None
    initial, nucleus, final = parts
    if tone is None:
        return base
    if any(ch in _MARKED for ch in nucleus):
        at = max(i for i, ch in enumerate(nucleus) if ch in _MARKED)  # ươ, iê, uô: on the marked vowel
    elif len(nucleus) == 3:
        at = 1  # oai, uya: the middle one
    elif len(nucleus) == 2 and (final or nucleus in ("oa", "oe", "uy")):
        at = 1  # hoàn, toán; and open oa, oe, uy in the new style: hoà, khoẻ, thuỷ
    else:
        at = 0  # a single vowel; ai, ao, ia, ua, ui … open
    vowel = unicodedata.normalize("NFC", nucleus[at] + tone)
    return initial + nucleus[:at] + vowel + nucleus[at + 1:] + final


def _restore_case(typed: str, decoded: str) -> str:
    if typed.isupper() and len(typed) > 1:
        return decoded.upper()
    if typed[:1].isupper():
        return decoded[:1].upper() + decoded[1:]
    return decoded


def decode_telex(word: str) -> str | None:
    """``nooij`` → ``nội``, ``truwowngf`` → ``trường``, ``dd`` → ``đ``; None when nothing was converted or the
    result is not a Vietnamese syllable."""
    text = word.lower()
    if not text.isascii() or not text.isalpha():
        return None
    tone = None
    # A tone key comes anywhere after the first vowel (naof, nafo; truwowfng): none of s f r x j can be a
    # final consonant there.
    first_vowel = next((i for i, ch in enumerate(text) if ch in "aeiouy"), None)
    if first_vowel is not None:
        keys = [i for i, ch in enumerate(text) if i > first_vowel and ch in _TELEX_TONES]
        if len(keys) > 1:
            return None  # one syllable takes one tone: Norris, Harris are names, not keys
        if keys:
            tone = _TELEX_TONES[text[keys[-1]]]
            text = "".join(ch for i, ch in enumerate(text) if i not in keys)
    marked = text
    for keys, letter in _TELEX_MARKS:
        marked = marked.replace(keys, letter)
    marked = marked.replace("uơ", "ươ")  # uow, as Telex users type ươ
    if "w" in marked:  # a lone w: ư (tw, nhw)
        marked = marked.replace("w", "ư")
    if marked == text and tone is None:
        return None
    decoded = _place_tone(marked, tone)
    if decoded is None or not is_syllable(decoded):
        return None
    return _restore_case(word, decoded)


def decode_vni(word: str) -> str | None:
    """``No6i5`` → ``Nội``, ``d9`` → ``đ``, ``tru7o7ng2`` → ``trường``; None without VNI digits or when the result
    is not a Vietnamese syllable."""
    text = word.lower()
    if not text.isascii() or not any(ch.isdigit() for ch in text) or not text[:1].isalpha():
        return None
    if not all(ch.isalpha() or ch in "123456789" for ch in text):
        return None
    tone = None
    out: list[str] = []
    for ch in text:
        if ch in _VNI_TONES:
            tone = _VNI_TONES[ch]
        elif ch in "6789":
            for i in range(len(out) - 1, -1, -1):
                mark = {("6", "a"): "â", ("6", "e"): "ê", ("6", "o"): "ô", ("7", "o"): "ơ", ("7", "u"): "ư",
                        ("8", "a"): "ă", ("9", "d"): "đ"}.get((ch, out[i]))
                if mark:
                    out[i] = mark
                    if ch == "7" and mark == "ơ" and i > 0 and out[i - 1] == "u":
                        out[i - 1] = "ư"  # u7o7 and uo7 both mean ươ
                    break
            else:
                return None
        else:
            out.append(ch)
    decoded = _place_tone("".join(out), tone)
    if decoded is None or not is_syllable(decoded):
        return None
    return _restore_case(word, decoded)


def decode(word: str) -> str | None:
    """The syllable ``word`` spells in VNI (when it has digits) or Telex, if any."""
    return decode_vni(word) if any(ch.isdigit() for ch in word) else decode_telex(word)
