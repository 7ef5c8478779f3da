"""Unsigned LEB128 varints: one byte for numbers below 128, which most deltas are. Whoosh's postings of the
unmapped fields (codec.py) and the stored syllable offsets' rare escapes (stored.py) are written with them."""

from __future__ import annotations

from collections.abc import Iterable


def varints(values: Iterable[int]) -> bytes:
    out = bytearray()
    for v in values:
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
    return bytes(out)


def unvarints(data: bytes) -> list[int]:
    out = []
    v = shift = 0
    for b in data:
        if b < 0x80:
            out.append(v | (b << shift))
            v = shift = 0
        else:
            v |= (b & 0x7F) << shift
            shift += 7
    return out
