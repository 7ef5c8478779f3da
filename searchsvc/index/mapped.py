"""What the ranking reads, written once per generation and mapped by every worker instead of copied.

Whoosh stays the index of record (stored fields, the term dictionary). The
ranking path wants whole posting lists and per-document columns as numpy
arrays; decoding them in every worker and keeping them in a private cache
paid the memory once per worker and again at every generation switch
(issue 16). So the indexer derives them as flat little-endian files beside
Whoosh's own, and every worker ``mmap``s them: the operating system keeps one
copy in its page cache for all processes, a new worker is warm at once, and
a list is decoded per query only as far as the query needs.

Files, each listed with its sections, sizes and CRC-32s in ``mapped.json``:

``MAIN_<segment>.mapped``
    one Whoosh segment's postings (written once; an incremental generation
    hard-links the segments it keeps, and Whoosh deletes the file with its
    segment): ``hashes`` (sorted 64-bit hashes of ``field NUL term``),
    ``entries`` (per term: where its key and data are, how many postings and
    positions, the byte width of each coded array, the data's CRC-32),
    ``keys`` and ``data`` (per term: document numbers, frequencies and, for
    the folded fields, positions; see :func:`encode`).
``docs.mapped``
    per document of the generation: ``live`` (not deleted), ``len:<field>``
    (length in terms, as Whoosh's length byte gives it), ``codes:<column>``
    with the labels in the manifest, ``published`` and ``views``.

A changed, truncated or missing file is found by size when the generation is
opened, by the CRC-32 of every section but ``data`` then too, and by the
term's own CRC-32 when a worker first reads a term's data (:class:`DamagedData`).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npformat
from whoosh.codec import whoosh3
from whoosh.reading import TermNotFound
from whoosh.util.numeric import byte_to_length

from searchsvc.index.codec import PostingArrays, read_posting_arrays
from searchsvc.index.schema import FOLDED, text_fields

FORMAT = 2  # 1: gap-coded document numbers and positions (never released)
MANIFEST = "mapped.json"
DOCS = "docs.mapped"
SPELLING = "spelling.mapped"  # index/lexicon.py
SUFFIX = ".mapped"
COLUMNS = ("category", "source", "year")
POSTING_FIELDS = (*text_fields(), *COLUMNS)  # what the ranking, filters and facets read; not id, hash, views
_ALIGN = 8
_UNDATED = 2**63  # Whoosh writes an unsigned maximum where a document has no date
_LENGTH_TABLE = np.array([byte_to_length(i) for i in range(256)], dtype=np.float32)
ENTRY = np.dtype([("key", "<u8"), ("key_len", "<u4"), ("n", "<u4"), ("npos", "<u8"), ("data", "<u8"),
                  ("size", "<u8"), ("widths", "u1"), ("crc", "<u4")])
_WIDTHS = (np.dtype("u1"), np.dtype("<u2"), np.dtype("<u4"), np.dtype("<f4"))


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


def term_hash(fieldname: str, text: str | bytes) -> int:
    btext = text.encode("utf-8") if isinstance(text, str) else text
    return int.from_bytes(hashlib.blake2b(_key(fieldname, btext), digest_size=8).digest(), "little")


def _key(fieldname: str, btext: bytes) -> bytes:
    return fieldname.encode("utf-8") + b"\0" + btext


# --- one segment's postings ------------------------------------------------------------------------


def _width(values: np.ndarray) -> int:
    top = int(values.max()) if values.size else 0
    return 0 if top < 1 << 8 else 1 if top < 1 << 16 else 2


def _align(n: int) -> int:
    return n + (-n % 4)


def encode(p: PostingArrays) -> tuple[bytes, int, int]:
    """One term's data: its bytes, the widths byte (ids, frequencies, positions: two bits each, and 64 when
    positions follow) and the number of positions.

    Document numbers and positions are stored as they are, not as gaps, in the narrowest width that holds
    them, each array 4-byte aligned: a query then reads positions straight from the map, with no copy and no
    decoding (a running sum over every position of a common syllable took most of a question's time)."""
    ids = p.ids.astype(np.int64)
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
    data += b"\0" * (-len(data) % 8)  # the next term's data starts 8-byte aligned
    return bytes(data), idw | fw << 2 | pw << 4 | (64 if p.positions is not None else 0), npos


def derive_segment(seg, path: Path) -> dict[str, Any]:
    """Write one Whoosh segment reader's postings (:data:`POSTING_FIELDS`) to ``path``."""
    keys: list[bytes] = []
    entries: list[tuple] = []
    chunks: list[bytes] = []
    key_at = data_at = 0
    for fieldname in POSTING_FIELDS:
        if fieldname not in seg.schema:
            continue
        fmt = seg.schema[fieldname].format
        positions = fieldname.endswith(FOLDED)
        for btext in seg.lexicon(fieldname):
            try:
                matcher = seg._terms.matcher(fieldname, btext, fmt)
            except (TermNotFound, KeyError):
                continue
            arrays = read_posting_arrays(matcher, positions=positions)
            data, widths, npos = encode(arrays)
            key = _key(fieldname, btext)
            keys.append(key)
            entries.append((key_at, len(key), len(arrays.ids), npos, data_at, len(data), widths, zlib.crc32(data)))
            chunks.append(data)
            key_at += len(key)
            data_at += len(data)
    hashes = np.array([int.from_bytes(hashlib.blake2b(k, digest_size=8).digest(), "little") for k in keys],
                      dtype=np.uint64)
    order = np.argsort(hashes, kind="stable")
    table = np.array(entries, dtype=ENTRY)[order] if entries else np.zeros(0, dtype=ENTRY)
    return write_sections(path, {
        "hashes": hashes[order],
        "entries": table,
        "keys": np.frombuffer(b"".join(keys), dtype=np.uint8),
        "data": np.frombuffer(b"".join(chunks), dtype=np.uint8),
    })


class SegmentPostings:
    """One segment's mapped postings: a term's arrays decoded on request (segment-local document numbers)."""

    def __init__(self, path: Path, described: dict[str, Any]) -> None:
        self.sections = Sections(path, described, lazy=("data",))
        self.hashes = self.sections.array("hashes")
        self.entries = self.sections.array("entries")
        self.keys = self.sections.array("keys")
        self.data_at = self.sections.described["data"]["offset"]
        self.verified = np.zeros(len(self.entries), dtype=bool)  # data CRC checked once per term and process

    def find(self, fieldname: str, text: str) -> int:
        """The term's entry number, or -1."""
        btext = text.encode("utf-8")
        key = _key(fieldname, btext)
        h = np.uint64(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little"))
        i = int(np.searchsorted(self.hashes, h))
        while i < len(self.hashes) and self.hashes[i] == h:
            e = self.entries[i]
            if int(e["key_len"]) == len(key) and self.keys[int(e["key"]):int(e["key"]) + len(key)].tobytes() == key:
                return i
            i += 1
        return -1

    def doc_frequency(self, fieldname: str, text: str) -> int:
        i = self.find(fieldname, text)
        return 0 if i < 0 else int(self.entries[i]["n"])

    def postings(self, fieldname: str, text: str, positions: bool = False) -> PostingArrays | None:
        i = self.find(fieldname, text)
        if i < 0:
            return None
        e = self.entries[i]
        n, npos, widths = int(e["n"]), int(e["npos"]), int(e["widths"])
        raw = self.sections.raw(self.data_at + int(e["data"]), int(e["size"]))
        if not self.verified[i]:
            if len(raw) != int(e["size"]) or zlib.crc32(raw) != int(e["crc"]):
                raise DamagedData(f"{self.sections.path.name}: the postings of {fieldname}:{text!r} do not match "
                                  "their checksum")
            self.verified[i] = True
        idw, fw, pw = _WIDTHS[widths & 3], _WIDTHS[widths >> 2 & 3], _WIDTHS[widths >> 4 & 3]
        ids = np.frombuffer(raw, dtype=idw, count=n).astype(np.int32)
        at = _align(n * idw.itemsize)
        stored = np.frombuffer(raw, dtype=fw, count=n, offset=at)
        out = PostingArrays(ids, stored.astype(np.float32))
        if positions and widths & 64:
            pos = np.frombuffer(raw, dtype=pw, count=npos, offset=_align(at + n * fw.itemsize))
            out.positions = pos.view(np.int32) if pw.itemsize == 4 else pos  # a view of the map: no copy
            out.pos_starts = np.zeros(n + 1, dtype=np.int32)
            np.cumsum(stored, out=out.pos_starts[1:])
        return out


# --- the generation's per-document columns -----------------------------------------------------------


def _column_values(leaves: list[tuple], size: int, fieldname: str) -> list:
    values: list = [None] * size
    for seg, base in leaves:
        if seg._perdoc.has_column(fieldname):
            for i, v in enumerate(seg.column_reader(fieldname, translate=False)):
                values[base + i] = v
    return values


def _views(leaves: list[tuple], size: int) -> np.ndarray:
    """Views per document from the numeric field's full-precision terms (the field has no column)."""
    docs: list[int] = []
    values: list[int] = []
    for seg, base in leaves:
        if "views" not in seg.schema:
            continue
        field = seg.schema["views"]
        for (name, btext), info in seg.iter_from("views", b"\x00"):  # full precision: shift 0
            if name != "views" or not btext.startswith(b"\x00"):
                break
            value = max(int(field.from_bytes(btext)), 0)
            ids = info.inlined_postings()[0] if info.is_inlined() else seg.postings("views", btext).all_ids()
            for d in ids:
                docs.append(base + d)
                values.append(value)
    table = np.zeros(size, dtype=np.int64)
    table[np.array(docs, dtype=np.int64)] = values
    return table


def derive_docs(reader) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Per-document arrays of a whole reader (global document numbers), and each column's labels."""
    leaves = segments(reader)
    size = reader.doc_count_all()
    live = np.ones(size, dtype=bool)
    for seg, base in leaves:
        if seg.has_deletions():
            live[[base + d for d in seg.deleted_docs_set]] = False
    arrays: dict[str, np.ndarray] = {"live": live}
    for fieldname in text_fields():
        table = np.zeros(size, dtype=np.float32)
        for seg, base in leaves:
            column = seg._perdoc._cached_reader(whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN)
            if column is not None:
                raw = np.fromiter(iter(column), dtype=np.uint8, count=seg.doc_count_all())
                table[base:base + len(raw)] = _LENGTH_TABLE[raw]
        arrays["len:" + fieldname] = table
    labels: dict[str, list[str]] = {}
    for name in COLUMNS:
        values = [v.decode("utf-8") if isinstance(v, bytes) else str(v or "")
                  for v in _column_values(leaves, size, name)]
        labels[name] = sorted(set(values) | {""})
        index = {label: i for i, label in enumerate(labels[name])}
        arrays["codes:" + name] = np.fromiter((index[v] for v in values), dtype=np.int32, count=size)
    arrays["published"] = np.fromiter(
        (v if isinstance(v, int) and 0 < v < _UNDATED else 0 for v in _column_values(leaves, size, "published")),
        dtype=np.int64, count=size)
    arrays["views"] = _views(leaves, size)
    return arrays, labels


def segments(reader) -> list[tuple]:
    """The reader's segments with their first document number; none for an empty index (Whoosh then gives an
    EmptyReader, which has no term or column tables to read)."""
    return [(seg, base) for seg, base in reader.leaf_readers() if seg.doc_count_all()]


def segment_file(seg) -> str:
    return seg.segment().segment_id() + SUFFIX


# --- a generation: derive, check, open ----------------------------------------------------------------


class MissingData(Exception):
    """The generation has no mapped data of this format (built by an older searchsvc)."""


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MissingData(f"{path.name} has no {MANIFEST}") from exc
    except (OSError, ValueError) as exc:
        raise DamagedData(f"{MANIFEST} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise MissingData(f"{path.name}'s mapped data is not of format {FORMAT}")
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
        self.segments = [(SegmentPostings(path / s["file"], s["described"]), s["base"])
                         for s in manifest["segments"]]
        self.docs = Sections(path / DOCS, manifest["docs"])
        self.spelling = Sections(path / SPELLING, manifest["spelling"])
        self.labels: dict[str, list[str]] = manifest["labels"]

    def doc_array(self, name: str) -> np.ndarray:
        return self.docs.array(name)
