"""What the ranking reads, written once per generation and mapped by every worker instead of copied.

Whoosh keeps the stored fields and the term dictionary; the postings of
the ranking's fields (schema.MAPPED_FIELDS) are only here. The
ranking path wants whole posting lists and per-document columns as numpy
arrays; decoding them in every worker and keeping them in a private cache
paid the memory once per worker and again at every generation switch
(issue 16). So the indexer writes them as flat little-endian files beside
Whoosh's own (a segment's postings as the codec writes the segment,
index/codec.py; the rest per generation, index/derive.py), and every worker
``mmap``s them: the operating system keeps one
copy in its page cache for all processes, a new worker is warm at once, and
a list is decoded per query only as far as the query needs.

Files, each listed with its sections, sizes and CRC-32s in ``mapped.json``:

``MAIN_<segment>.mapped``
    one Whoosh segment's postings (written once, with its description in
    ``.mapped.json`` beside it; an incremental generation hard-links the
    segments it keeps, and Whoosh deletes the files with their segment):
    ``hashes`` (sorted 32-bit hashes of ``field NUL term``), ``entries``
    (21 bytes per term: where its key and data are, how many postings and
    positions, the byte width of each coded array, the data's CRC-32; a
    key's length and a data's size follow from the next key and the widths
    and counts, :func:`data_layout`), ``keys`` (in the order of the hashes)
    and ``data`` (per term: document number gaps, frequencies and,
    for the folded fields, positions; for a common list, its maxima per cell of
    64 documents, which bound what pruning can skip; see :func:`encode`). The
    only copy of those postings: Whoosh reads them from here too (a segment
    merge, index/codec.py), so the file cannot be derived again from Whoosh.
``docs.mapped``
    per document of the generation: ``live`` (not deleted), ``len:<field>``
    (length in terms, as Whoosh's length byte gives it), ``codes:<column>``
    with the labels in the manifest, ``published`` and ``views``.
``spelling.mapped``
    the spelling tables (index/lexicon.py).

A changed, truncated or missing file is found by size when the generation is
opened, by the CRC-32 of every section but ``data`` then too, and by the
term's own CRC-32 when a worker first reads a term's data (:class:`DamagedData`).
A generation without mapped data of this format (an earlier searchsvc's) is
refused the same way (:class:`MissingData`): it must be rebuilt in full.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import mmap
import os
import struct
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.lib import format as npformat

FORMAT = 7  # 1: positions as gaps, 2: document numbers as they are (neither released), 3: no title syllables,
#            4: postings also in Whoosh's files, 5: postings only here or cell maxima (two builds, neither released),
#            6: both, 7: 21-byte term entries and 32-bit hashes (issue 16's 2x; stored column of index/stored.py)
CELL = 64  # documents per cell of the maxima tables (pruning, engine/ranking.py)
CELLED_SHARE = 8  # a list with a posting for an eighth of the documents it spans or more has a maxima table
CELLED_AT_LEAST = 256  # postings
MANIFEST = "mapped.json"
DOCS = "docs.mapped"
SPELLING = "spelling.mapped"  # index/lexicon.py
SUFFIX = ".mapped"
_ALIGN = 8
# A term's entry: where its key starts in ``keys``, its number of postings and of positions, where its data starts
# in ``data`` (in units of 8 bytes: every term's data is 8-byte aligned), the data's CRC-32 and the widths byte of
# :func:`encode`. 21 bytes, not 45: at 48k articles, half a million terms (issue 16's budget of 2x the text).
ENTRY = np.dtype([("key", "<u4"), ("n", "<u4"), ("npos", "<u4"), ("data", "<u4"), ("crc", "<u4"), ("widths", "u1")])
_ENTRY_STRUCT = struct.Struct("<IIIIIB")  # ENTRY, field by field
_DATA_UNIT = 8
_U32 = struct.Struct("<I")
assert _ENTRY_STRUCT.size == ENTRY.itemsize
_WIDTHS = (np.dtype("u1"), np.dtype("<u2"), np.dtype("<u4"), np.dtype("<f4"))


class CellMaxima:
    """Per cell of CELL documents (segment-local), what a list's postings there can score at most: the largest
    frequency and the largest frequency / field length (BM25's length norm bounds the score through both,
    whatever the collection's average length is when it is read)."""

    __slots__ = ("freq", "ratio")

    def __init__(self, freq: np.ndarray, ratio: np.ndarray) -> None:
        self.freq = freq
        self.ratio = ratio


class PostingArrays:
    """One term's postings: document numbers, frequencies and (if asked) positions."""

    __slots__ = ("ids", "freqs", "pos_starts", "positions", "cells")

    def __init__(self, ids: np.ndarray, freqs: np.ndarray, pos_starts=None, positions=None, cells=None) -> None:
        self.ids = ids
        self.freqs = freqs
        self.pos_starts = pos_starts  # positions of posting i: positions[pos_starts[i]:pos_starts[i + 1]]
        self.positions = positions
        self.cells = cells  # CellMaxima of a common list (engine/arrays.py: each segment's, with its first cell)


class Coded(NamedTuple):
    """One term's arrays in one segment as written (:func:`encode`): document number gaps, frequencies (also the
    number of positions of each posting, in a positions field), positions (or None) and cell maxima (or None)."""

    n: int
    gaps: np.ndarray
    freqs: np.ndarray
    positions: np.ndarray | None
    cells: CellMaxima | None


class DamagedData(Exception):
    """A derived file missing, cut short or changed since the indexer wrote it."""


# --- sections: named arrays in one file -------------------------------------------------------------


def write_sections(path: Path, sections: dict[str, np.ndarray]) -> dict[str, Any]:
    """Write the arrays end to end (8-byte aligned) through a temporary file; their description for the manifest.

    Replaced whole, never rewritten in place: the previous generation may hard-link the old file."""
    described: dict[str, Any] = {}
    tmp = path.with_name(path.name + ".tmp")
    offset = 0
    with open(tmp, "wb") as f:
        for name, array in sections.items():
            array = np.ascontiguousarray(array)
            pad = -offset % _ALIGN
            f.write(b"\0" * pad)
            offset += pad
            data = array.tobytes()
            f.write(data)
            described[name] = {"offset": offset, "bytes": len(data), "dtype": npformat.dtype_to_descr(array.dtype),
                               "shape": list(array.shape), "crc32": zlib.crc32(data)}
            offset += len(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return {"bytes": offset, "sections": described}


class Sections:
    """A file of :func:`write_sections`, mapped read-only; sections are numpy views of the map (no copy)."""

    def __init__(self, path: Path, described: dict[str, Any], lazy: Iterable[str] = ()) -> None:
        self.path = path
        self.described = described["sections"]
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size != described["bytes"]:
                    raise DamagedData(f"{path.name} has {size} bytes, not the {described['bytes']} it was written with")
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except FileNotFoundError as exc:
            raise DamagedData(f"{path.name} is missing") from exc
        for name, d in self.described.items():
            if name not in lazy and zlib.crc32(self._map[d["offset"]:d["offset"] + d["bytes"]]) != d["crc32"]:
                raise DamagedData(f"{path.name}: section {name} does not match its checksum")

    def array(self, name: str) -> np.ndarray:
        d = self.described[name]
        dtype = npformat.descr_to_dtype(d["dtype"])
        count = int(np.prod(d["shape"], dtype=np.int64))
        return np.frombuffer(self._map, dtype=dtype, count=count, offset=d["offset"]).reshape(d["shape"])

    def raw(self, offset: int, size: int) -> memoryview:
        """Bytes of the file without a copy."""
        return memoryview(self._map)[offset:offset + size]


def hash32(data: bytes) -> int:
    """The hash by which mapped tables (terms here, strings in index/lexicon.py) are sorted and found: 32 bits
    are enough, since a lookup compares the strings of equal hashes anyway, and half the size of 64."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=4).digest(), "little")


def _key(fieldname: str, btext: bytes) -> bytes:
    return fieldname.encode("utf-8") + b"\0" + btext


# --- one segment's postings ------------------------------------------------------------------------


def _width(values: np.ndarray) -> int:
    top = int(values.max()) if values.size else 0
    return 0 if top < 1 << 8 else 1 if top < 1 << 16 else 2


def _align(n: int) -> int:
    return n + (-n % 4)


def cell_maxima(ids: np.ndarray, freqs: np.ndarray, lengths: np.ndarray) -> CellMaxima:
    """The maxima of :class:`CellMaxima` over cells of CELL documents; the ratio rounded up to float16, so it is
    never below the true one (a bound must not be undercut by rounding)."""
    cells = ids.astype(np.int64) // CELL
    count = int(cells[-1]) + 1 if len(cells) else 0
    freq = np.zeros(count, dtype=np.float32)
    ratio = np.zeros(count, dtype=np.float32)
    np.maximum.at(freq, cells, freqs.astype(np.float32))
    np.maximum.at(ratio, cells, freqs.astype(np.float32) / np.maximum(lengths.astype(np.float32), 1.0))
    half = ratio.astype(np.float16)
    low = half.astype(np.float32) < ratio
    half[low] = np.nextafter(half[low], np.float16(np.inf))
    return CellMaxima(freq.astype(np.uint16), half)


def _celled(ids: np.ndarray) -> bool:
    return len(ids) >= CELLED_AT_LEAST and len(ids) * CELLED_SHARE >= int(ids[-1]) + 1


def encode(p: PostingArrays, lengths: np.ndarray | None = None) -> tuple[bytes, int, int]:
    """One term's data: its bytes, the widths byte (ids, frequencies, positions: two bits each, 64 when
    positions follow, 128 when cell maxima follow) and the number of positions.

    A common list (:func:`_celled`) ends with its :func:`cell_maxima` from ``lengths`` (each posting's field
    length, as Whoosh's length byte gives it): the number of cells (u32, 4 bytes of padding), the largest
    frequency per cell (u16) and the largest frequency / length (float16).

    Document numbers are stored as gaps (one byte each for a common word), decoded by one running sum;
    positions as they are, not as gaps: a query reads them straight from the map, with no copy and no
    decoding (a running sum restarting at every document, over every position of a common syllable, took
    most of a question's time). Each array is in the narrowest width that holds it, 4-byte aligned."""
    ids = np.diff(p.ids.astype(np.int64), prepend=0)
    idw = _width(ids)
    freqs = p.freqs
    integral = bool(np.all(freqs == np.round(freqs))) and (not freqs.size or freqs.min() >= 0)
    fw = _width(freqs.astype(np.int64)) if integral else 3
    data = bytearray(ids.astype(_WIDTHS[idw]).tobytes())
    data += b"\0" * (_align(len(data)) - len(data))
    data += (freqs.astype(np.int64) if integral else freqs).astype(_WIDTHS[fw]).tobytes()
    pw, npos = 0, 0
    if p.positions is not None:
        counts = np.diff(p.pos_starts)
        if fw == 3 or not np.array_equal(counts, freqs.astype(np.int64)):
            raise ValueError("a positions field whose frequencies are not its position counts")
        pos = p.positions.astype(np.int64)
        pw = _width(pos)
        data += b"\0" * (_align(len(data)) - len(data))
        data += pos.astype(_WIDTHS[pw]).tobytes()
        npos = len(pos)
    flags = 64 if p.positions is not None else 0
    if lengths is not None and integral and _celled(p.ids):
        cells = cell_maxima(p.ids, freqs, lengths)
        data += b"\0" * (-len(data) % 8)
        data += struct.pack("<II", len(cells.freq), 0) + cells.freq.tobytes()
        data += b"\0" * (_align(len(data)) - len(data))
        data += cells.ratio.tobytes()
        flags |= 128
    data += b"\0" * (-len(data) % 8)  # the next term's data starts 8-byte aligned
    return bytes(data), idw | fw << 2 | pw << 4 | flags, npos


class _Layout(NamedTuple):
    """Where a term's coded arrays start in its data (:func:`encode`), and the data's size."""

    freqs: int
    positions: int
    cells: int  # how many cells of maxima
    cell_freq: int
    cell_ratio: int
    size: int


def data_layout(n: int, npos: int, widths: int, u32_at: Callable[[int], int]) -> _Layout:
    """The layout of a term's data from its counts and widths byte, as :func:`encode` lays it out;
    ``u32_at(offset)`` reads the number of cells of a common list (the only count the entry does not hold)."""
    freqs = _align(n * _WIDTHS[widths & 3].itemsize)
    end = freqs + n * _WIDTHS[widths >> 2 & 3].itemsize
    positions = cells = cell_freq = cell_ratio = 0
    if widths & 64:
        positions = _align(end)
        end = positions + npos * _WIDTHS[widths >> 4 & 3].itemsize
    if widths & 128:
        end += -end % 8
        cells = u32_at(end)
        cell_freq = end + 8
        cell_ratio = _align(cell_freq + 2 * cells)
        end = cell_ratio + 2 * cells
    return _Layout(freqs, positions, cells, cell_freq, cell_ratio, end + -end % 8)


class SegmentBuilder:
    """One segment's postings as they are written (index/codec.py hands them over term by term): the file
    :class:`SegmentPostings` maps, and beside it its description (``<file>.json``) for the manifest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keys: list[bytes] = []
        self.entries: list[tuple] = []
        self.chunks: list[bytes] = []
        self.key_at = self.data_at = 0

    def add(self, fieldname: str, btext: bytes, arrays: PostingArrays, lengths: np.ndarray | None = None) -> None:
        data, widths, npos = encode(arrays, lengths)
        if self.data_at // _DATA_UNIT >= 1 << 32 or npos >= 1 << 32:
            raise ValueError(f"{self.path.name}: a segment's postings past the 32-bit fields of its term entries")
        self.keys.append(_key(fieldname, btext))
        self.entries.append((len(arrays.ids), npos, self.data_at // _DATA_UNIT, zlib.crc32(data), widths))
        self.chunks.append(data)
        self.data_at += len(data)

    def write(self) -> dict[str, Any]:
        hashes = np.array([hash32(k) for k in self.keys], dtype=np.uint32)
        order = np.argsort(hashes, kind="stable").tolist()
        keys = [self.keys[i] for i in order]  # in the order of the hashes: a key ends where the next one starts
        starts = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum([len(k) for k in keys], out=starts[1:])
        if starts[-1] >= 1 << 32:
            raise ValueError(f"{self.path.name}: a segment's terms past the 32-bit fields of its term entries")
        table = np.zeros(len(keys), dtype=ENTRY)
        if keys:
            rows = np.array([self.entries[i] for i in order], dtype=np.int64)
            table["key"] = starts[:-1]
            for column, name in enumerate(("n", "npos", "data", "crc", "widths")):
                table[name] = rows[:, column]
        described = write_sections(self.path, {
            "hashes": hashes[order],
            "entries": table,
            "keys": np.frombuffer(b"".join(keys), dtype=np.uint8),
            "data": np.frombuffer(b"".join(self.chunks), dtype=np.uint8),
        })
        described["format"] = FORMAT
        sidecar = self.path.with_name(self.path.name + ".json")
        tmp = sidecar.with_name(sidecar.name + ".tmp")
        tmp.write_text(json.dumps(described), encoding="utf-8")
        os.replace(tmp, sidecar)
        return described


def built_description(path: Path) -> dict[str, Any] | None:
    """What :meth:`SegmentBuilder.write` said of the file at ``path``, if it is of this format and still whole
    (a segment an incremental generation kept has it by its hard link)."""
    try:
        described = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))
        ok = described["format"] == FORMAT and path.stat().st_size == described["bytes"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return described if ok else None


def _within(raw: memoryview, layout: _Layout, n: int, npos: int, widths: int, docs: int) -> bool:
    """Whether a term's documents stay within its segment's ``docs`` and its frequencies add up to its
    positions: engine/kernels.py walks the data without bounds checks, trusting both (the CRC-32 catches a
    changed byte, not a writer's mistake)."""
    gaps = np.frombuffer(raw, dtype=_WIDTHS[widths & 3], count=n)
    if n and int(gaps.sum(dtype=np.int64)) >= docs:
        return False
    if widths & 64:
        freqs = np.frombuffer(raw, dtype=_WIDTHS[widths >> 2 & 3], count=n, offset=layout.freqs)
        return int(freqs.sum(dtype=np.int64)) == npos
    return True


class SegmentPostings:
    """One segment's mapped postings: a term's arrays decoded on request (segment-local document numbers)."""

    def __init__(self, path: Path, described: dict[str, Any], docs: int | None = None) -> None:
        self.sections = Sections(path, described, lazy=("data",))
        self.docs = docs  # the segment's documents, when known: a term's data is checked to stay within them
        self.hashes = self.sections.array("hashes")
        self.entries = self.sections.array("entries")
        self.keys = self.sections.array("keys")
        self.data_at = self.sections.described["data"]["offset"]
        self.verified = np.zeros(len(self.entries), dtype=bool)  # data CRC checked once per term and process
        # Read through memoryviews with bisect and struct: a term found in 2-3 µs rather than numpy's 18 (a
        # question looks up some 300 terms).
        self._hashes = memoryview(self.hashes).cast("B").cast("I")
        self._entries = memoryview(self.entries).cast("B")
        self._keys = memoryview(self.keys)

    def _entry(self, i: int) -> tuple:
        """(key, n, npos, data, crc, widths) of entry ``i``."""
        return _ENTRY_STRUCT.unpack_from(self._entries, i * _ENTRY_STRUCT.size)

    def _key_end(self, i: int) -> int:
        return _ENTRY_STRUCT.unpack_from(self._entries, (i + 1) * _ENTRY_STRUCT.size)[0] if i + 1 < len(
            self.hashes) else len(self._keys)

    def find(self, fieldname: str, text: str) -> int:
        """The term's entry number, or -1."""
        key = _key(fieldname, text.encode("utf-8"))
        h = hash32(key)
        hashes = self._hashes
        i = bisect.bisect_left(hashes, h)
        while i < len(hashes) and hashes[i] == h:
            at = self._entry(i)[0]
            if self._key_end(i) - at == len(key) and self._keys[at:at + len(key)] == key:
                return i
            i += 1
        return -1

    def doc_frequency(self, fieldname: str, text: str) -> int:
        i = self.find(fieldname, text)
        return 0 if i < 0 else self._entry(i)[1]

    def _term(self, fieldname: str, text: str) -> tuple[tuple, _Layout, memoryview] | None:
        """A term's entry, layout and data (checked against its CRC-32 the first time this process reads it)."""
        i = self.find(fieldname, text)
        if i < 0:
            return None
        entry = self._entry(i)
        _, n, npos, data, crc, widths = entry
        start = self.data_at + data * _DATA_UNIT
        try:
            layout = data_layout(n, npos, widths, lambda at: _U32.unpack_from(self.sections.raw(start + at, 4))[0])
        except struct.error:
            layout = None
        raw = self.sections.raw(start, layout.size) if layout else memoryview(b"")
        if not self.verified[i]:
            if layout is None or len(raw) != layout.size or zlib.crc32(raw) != crc:
                raise DamagedData(f"{self.sections.path.name}: the postings of {fieldname}:{text!r} do not match "
                                  "their checksum")
            if self.docs is not None and not _within(raw, layout, n, npos, widths, self.docs):
                raise DamagedData(f"{self.sections.path.name}: the postings of {fieldname}:{text!r} point past "
                                  "their segment")
            self.verified[i] = True
        return entry, layout, raw

    def coded(self, fieldname: str, text: str) -> Coded | None:
        """The term's arrays as written, views of the map: nothing decoded yet (engine/arrays.py decodes a list's
        parts from every segment straight into one array)."""
        found = self._term(fieldname, text)
        if found is None:
            return None
        (_, n, npos, _, _, widths), layout, raw = found
        idw, fw, pw = _WIDTHS[widths & 3], _WIDTHS[widths >> 2 & 3], _WIDTHS[widths >> 4 & 3]
        gaps = np.frombuffer(raw, dtype=idw, count=n)
        freqs = np.frombuffer(raw, dtype=fw, count=n, offset=layout.freqs)
        positions = cells = None
        if widths & 64:
            positions = np.frombuffer(raw, dtype=pw, count=npos, offset=layout.positions)
            if pw.itemsize == 4:
                positions = positions.view(np.int32)
        if widths & 128:
            count = layout.cells
            cells = CellMaxima(np.frombuffer(raw, dtype="<u2", count=count, offset=layout.cell_freq),
                               np.frombuffer(raw, dtype="<f2", count=count, offset=layout.cell_ratio))
        return Coded(n, gaps, freqs, positions, cells)

    def postings(self, fieldname: str, text: str, positions: bool = False) -> PostingArrays | None:
        """The term's arrays (segment-local document numbers), with its cell maxima when it has them."""
        c = self.coded(fieldname, text)
        if c is None:
            return None
        out = PostingArrays(np.cumsum(c.gaps, dtype=np.intp), c.freqs.astype(np.float32), cells=c.cells)
        if positions and c.positions is not None:
            out.positions = c.positions  # a view of the map: no copy
            out.pos_starts = np.zeros(c.n + 1, dtype=np.intp)
            np.cumsum(c.freqs, out=out.pos_starts[1:])
        return out


def segments(reader) -> list[tuple]:
    """The reader's segments with their first document number; none for an empty index (Whoosh then gives an
    EmptyReader, which has no term or column tables to read)."""
    return [(seg, base) for seg, base in reader.leaf_readers() if seg.doc_count_all()]


def segment_file(seg) -> str:
    return seg.segment().segment_id() + SUFFIX


# --- a generation: derive, check, open ----------------------------------------------------------------


class MissingData(DamagedData):
    """The generation has no mapped data of this format (built by an earlier searchsvc, or its files removed).

    Refused like damaged data: the postings cannot be derived again from Whoosh, which no longer has them, so
    such an index is rebuilt in full (``searchsvc reindex --full``)."""


REBUILD = "rebuild the index in full: searchsvc reindex --full"


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MissingData(f"{path.name} has no {MANIFEST} ({REBUILD})") from exc
    except (OSError, ValueError) as exc:
        raise DamagedData(f"{MANIFEST} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise MissingData(f"{path.name}'s mapped data is not of format {FORMAT}, written by an earlier searchsvc "
                          f"({REBUILD})")
    return manifest


class Mapped:
    """One generation's mapped data, opened: its segments' postings (with their first document number) and its
    per-document arrays. Checked on opening (sizes, section checksums); raises DamagedData or MissingData."""

    def __init__(self, path: Path, reader) -> None:
        manifest = read_manifest(path)
        wanted = [(segment_file(seg), base) for seg, base in segments(reader)]
        listed = [(s["file"], s["base"]) for s in manifest["segments"]]
        if listed != wanted:
            raise MissingData(f"{path.name}'s mapped data is not for its segments")
        self.path = path
        self.size = int(manifest["documents"])
        bases = [s["base"] for s in manifest["segments"]]
        self.segments = [(SegmentPostings(path / s["file"], s["described"], end - s["base"]), s["base"])
                         for s, end in zip(manifest["segments"], [*bases[1:], self.size][:len(bases)], strict=True)]
        self.docs = Sections(path / DOCS, manifest["docs"])
        self.spelling = Sections(path / SPELLING, manifest["spelling"])
        self.labels: dict[str, list[str]] = manifest["labels"]

    def doc_array(self, name: str) -> np.ndarray:
        return self.docs.array(name)
