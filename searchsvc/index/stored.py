"""The stored column: what a hit page shows of an article (its fields) and where its syllables are.

Whoosh stores each document's fields as a pickle, deflated alone at level 3. An article is a few kilobytes of
Vietnamese, too short for deflate to learn its common words before it ends, and its syllable offsets (the
highlighter's map from position to characters) shared one stream and one Huffman table with the text. At
48k articles that column was 92 MB of the index's 326 (issue 16: index ≤ 2x the raw text). Here, per document:

- the fields but the offsets, pickled and deflated at level 9 with a preset dictionary (``stored.zdict``: the
  commonest words and word sequences of Vietnamese news, written by ``bench/stored_zdict.py``), so that even
  an article's first sentence finds its words already seen;
- then, in a deflate block of its own (own Huffman table), every ``<part>_offsets``: one byte per syllable
  (:func:`pack_offsets`).

The reader gives back the same dict of fields as Whoosh's column did. The dictionary is part of the format:
a changed ``stored.zdict`` needs a new ``mapped.FORMAT`` (a value inflated with another dictionary fails its
CRC-32, :class:`DamagedStored`, but a build must not get that far).
"""

from __future__ import annotations

import pickle
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from whoosh import columns

from searchsvc.index.varint import unvarints, varints

ZDICT = (Path(__file__).with_name("stored.zdict")).read_bytes()
LEVEL = 9
OFFSETS_SUFFIX = "_offsets"
_HEAD = struct.Struct("<I")
_NAME = struct.Struct("<BI")
_CRC = struct.Struct("<I")

# --- syllable offsets -------------------------------------------------------------------------------------------

_GAP_BITS = 5  # a code is gap << 5 | length
_ESCAPE = 0xE0  # gap 7: the pair is in the escapes after the codes
_MAX_GAP, _MAX_LENGTH = 6, 31


def pack_offsets(flat: Iterable[int]) -> bytes:
    """Syllable start/end offsets (start 0, end 0, start 1, ...) as the highlighter's map from position to
    characters: the syllable count (varint), then one byte per syllable, its gap from the previous end (0-6
    characters; nearly always one space) and its length (0-31), then the (gap, length) varints of the few that
    do not fit, whose byte is 0xE0. Half the bytes of a varint pair each, and they compress as well again."""
    bounds = np.asarray(flat, dtype=np.int64)
    if bounds.size % 2:
        raise ValueError("syllable offsets come in (start, end) pairs")
    steps = np.diff(bounds, prepend=0)
    if steps.size and steps.min() < 0:
        raise ValueError("syllable offsets must not go back")
    gaps, lengths = steps[0::2], steps[1::2]
    escaped = (gaps > _MAX_GAP) | (lengths > _MAX_LENGTH)
    codes = gaps << _GAP_BITS | lengths
    codes[escaped] = _ESCAPE
    out = varints([len(codes)]) + codes.astype(np.uint8).tobytes()
    return out + varints(np.stack([gaps[escaped], lengths[escaped]], axis=1).ravel().tolist())


def offset_bounds(data: bytes) -> np.ndarray:
    """Every syllable's start and end, laid end to end (start 0, end 0, start 1, ...): a running sum of the
    codes' gaps and lengths, by vector operations, since an article has thousands of syllables and the
    highlighter picks out the few it marks."""
    if not data:
        return np.zeros(0, dtype=np.int64)
    n, at = 0, 0
    for shift in range(0, 64, 7):  # the count, a varint
        b = data[at]
        n |= (b & 0x7F) << shift
        at += 1
        if b < 0x80:
            break
    codes = np.frombuffer(data, dtype=np.uint8, count=n, offset=at)
    steps = np.empty(2 * n, dtype=np.int64)
    steps[0::2] = codes >> _GAP_BITS
    steps[1::2] = codes & _MAX_LENGTH
    escaped = codes == _ESCAPE
    if n and escaped.any():
        pairs = np.array(unvarints(data[at + n:]), dtype=np.int64).reshape(-1, 2)
        where = np.flatnonzero(escaped)
        steps[2 * where] = pairs[:, 0]
        steps[2 * where + 1] = pairs[:, 1]
    return np.cumsum(steps)


def unpack_offsets(data: bytes) -> np.ndarray:
    """The (start, end) of every syllable, one row each."""
    return offset_bounds(data).reshape(-1, 2)


# --- a document's stored fields ----------------------------------------------------------------------------------


class DamagedStored(Exception):
    """A stored value that does not match its checksum (changed, or deflated with another dictionary)."""


def pack_fields(fields: dict) -> bytes:
    """A document's stored fields as the column keeps them (see the module's docstring): raw deflate and the
    CRC-32 of what it holds, not the zlib format (whose Adler-32 and dictionary check took a third of the time to
    read an article back; measured, bench notes in docs/benchmarks.md)."""
    head = pickle.dumps({k: v for k, v in fields.items() if not k.endswith(OFFSETS_SUFFIX)}, pickle.HIGHEST_PROTOCOL)
    tail = bytearray()
    for name, value in fields.items():
        if name.endswith(OFFSETS_SUFFIX):
            encoded = name.encode("utf-8")
            tail += _NAME.pack(len(encoded), len(value)) + encoded + value
    packer = zlib.compressobj(LEVEL, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, ZDICT)
    first = _HEAD.pack(len(head)) + head
    out = packer.compress(first)
    if tail:
        out += packer.flush(zlib.Z_BLOCK) + packer.compress(bytes(tail))
    return out + packer.flush() + _CRC.pack(zlib.crc32(tail, zlib.crc32(first)))


def unpack_fields(data: bytes) -> dict:
    """The dict :func:`pack_fields` was given."""
    try:
        raw = zlib.decompressobj(-15, zdict=ZDICT).decompress(memoryview(data)[:-_CRC.size])
    except zlib.error as exc:
        raise DamagedStored(f"a stored document cannot be inflated: {exc}") from exc
    if zlib.crc32(raw) != _CRC.unpack_from(data, len(data) - _CRC.size)[0]:
        raise DamagedStored("a stored document does not match its checksum")
    size = _HEAD.unpack_from(raw)[0]
    at = _HEAD.size + size
    fields = pickle.loads(memoryview(raw)[_HEAD.size:at])
    while at < len(raw):
        name_len, value_len = _NAME.unpack_from(raw, at)
        at += _NAME.size
        name = raw[at:at + name_len].decode("utf-8")
        at += name_len
        fields[name] = raw[at:at + value_len]
        at += value_len
    return fields


class StoredColumn(columns.Column):
    """Whoosh's ``_stored`` column in the layout of :func:`pack_fields` (the codec, index/codec.py, puts it in
    place of Whoosh's pickled and deflated one)."""

    reversible = False

    def writer(self, dbfile):
        return self.Writer(dbfile)

    def reader(self, dbfile, basepos, length, doccount):
        return self.Reader(dbfile, basepos, length, doccount)

    class Writer(columns.VarBytesColumn.Writer):
        def add(self, docnum, v) -> None:
            columns.VarBytesColumn.Writer.add(self, docnum, pack_fields(v))

    class Reader(columns.VarBytesColumn.Reader):
        def __getitem__(self, docnum):
            v = columns.VarBytesColumn.Reader.__getitem__(self, docnum)
            return unpack_fields(v) if v else None

        def __iter__(self):
            for v in columns.VarBytesColumn.Reader.__iter__(self):
                yield unpack_fields(v) if v else None

        def load(self):
            return list(self)


STORED = StoredColumn()
