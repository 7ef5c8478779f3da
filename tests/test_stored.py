"""The stored column (index/stored.py): offsets in one byte per syllable, fields deflated with a preset dictionary."""

from __future__ import annotations

import zlib
from array import array

import numpy as np
import pytest

from searchsvc.analysis.vietnamese import syllable_spans, unify_tones
from searchsvc.index import stored
from searchsvc.index.stored import offset_bounds, pack_fields, pack_offsets, unpack_fields, unpack_offsets


def _pairs(flat) -> list[list[int]]:
    return [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]


def test_offsets_of_an_empty_text() -> None:
    assert pack_offsets(array("i")) == b"\x00"
    assert unpack_offsets(pack_offsets(array("i"))).shape == (0, 2)
    assert offset_bounds(b"").shape == (0,)


def test_offsets_past_65535_characters_and_long_gaps_and_syllables() -> None:
    text = ("Hà Nội, ngày 31/03/2021: mưa lớn. " * 3000 + " " * 300 + "x" * 40 + "\n\n" + "a" * 200 + " cuối")
    flat = syllable_spans(unify_tones(text))
    assert flat[-1] > 100_000
    data = pack_offsets(flat)
    assert unpack_offsets(data).tolist() == _pairs(flat)
    assert np.array_equal(offset_bounds(data), np.asarray(flat))
    assert len(data) < len(flat)  # one byte per syllable, but for the escapes


def test_offsets_escapes_alone_and_at_the_ends() -> None:
    flat = [100, 300, 301, 302, 302, 302, 400, 1000, 1007, 1040]  # a gap of 100, a length of 200, an empty one
    assert unpack_offsets(pack_offsets(flat)).tolist() == _pairs(flat)
    big = [1 << 40, (1 << 40) + 5]
    assert unpack_offsets(pack_offsets(big)).tolist() == [big]


def test_offsets_count_characters_of_non_bmp_text() -> None:
    """Offsets are Python string indices: an emoji is one character, whatever its UTF-8 or UTF-16 length."""
    text = "Tin 😀 mới 𝕏 nhất 🇻🇳 hôm nay"
    flat = syllable_spans(text)
    spans = unpack_offsets(pack_offsets(flat)).tolist()
    assert [text[a:b] for a, b in spans] == [text[a:b] for a, b in _pairs(flat)]
    assert "nhất" in [text[a:b] for a, b in spans]


def test_offsets_refuse_what_is_not_pairs_going_forward() -> None:
    with pytest.raises(ValueError):
        pack_offsets([1, 2, 3])
    with pytest.raises(ValueError):
        pack_offsets([5, 9, 7, 8])


def test_fields_round_trip() -> None:
    text = "Thủ tướng chủ trì hội nghị trực tuyến với các địa phương về phòng chống dịch 😀. " * 40
    fields = {"id": "a1", "title": "Tin mới", "body": text, "views": 12, "url": "https://vnexpress.net/a1",
              "body_offsets": pack_offsets(syllable_spans(text)), "title_offsets": pack_offsets(array("i")),
              "sapo": ""}
    back = unpack_fields(pack_fields(fields))
    assert back == fields
    assert unpack_fields(pack_fields({"id": "x"})) == {"id": "x"}


def test_fields_compress_better_than_whoosh_did() -> None:
    import pickle

    text = ("Theo Bộ Y tế, trong ngày hôm nay cả nước ghi nhận thêm nhiều ca mắc mới tại các tỉnh thành phố. "
            "Người dân cần tuân thủ các biện pháp phòng chống dịch bệnh theo hướng dẫn của cơ quan chức năng.")
    fields = {"id": "a", "title": "Cả nước ghi nhận thêm ca mắc mới", "body": text,
              "body_offsets": pack_offsets(syllable_spans(text))}
    whoosh_did = len(zlib.compress(pickle.dumps(fields, -1), 3))
    assert len(pack_fields(fields)) < 0.8 * whoosh_did


def test_a_changed_stored_value_is_refused() -> None:
    data = bytearray(pack_fields({"id": "a", "body": "Hà Nội mùa thu " * 30}))
    data[len(data) // 2] ^= 0x20
    with pytest.raises(stored.DamagedStored):
        unpack_fields(bytes(data))


def test_the_dictionary_is_deflates_window() -> None:
    assert 0 < len(stored.ZDICT) <= 32 * 1024
