"""Compact on-disk encodings for our postings.

Whoosh's stock formats pickle every posting's value and store each weight as
a pickled float. With three fields per text part that made the index eight
times the size of the text and its writing four times the cost of pyvi
(measured: docs/benchmarks.md). These small subclasses keep Whoosh's
interfaces and change only the bytes:

- :class:`TermFrequency`: the frequency travels as the posting's weight, so a
  posting has no value bytes at all;
- :class:`DeltaPositions`: positions as varint deltas;
- :class:`CompactCodec`: posting blocks as varint bytes (ids, whole-number
  weights, values) instead of pickled tuples, and field lengths read into a
  table once per field instead of looked up per posting;
- :class:`MappedCodec` (the one every writer uses, schema.codec()): the
  ranking's fields' postings are handed, term by term as they are written,
  to index/mapped.py's builder, so that a segment's mapped file is written by
  the process that writes the segment, with no second pass over it; and that
  file is then their only copy (issue 16: they were stored twice). Whoosh's
  postings file gets nothing for those fields, its term dictionary keeps each
  term's statistics (document frequency, weights, lengths), and a matcher
  Whoosh asks for (a segment merge, an incremental reindex's
  ``commit(merge=True)``) reads the segment's mapped file. Such a term's
  info in Whoosh's dictionary has no extent (:class:`_NoExtentTermInfo`),
  and the codec's stored fields are index/stored.py's column.
"""

from __future__ import annotations

import pickle
import zlib
from array import array
from pathlib import Path

import numpy as np
from whoosh import formats
from whoosh.codec import whoosh3
from whoosh.matching import ListMatcher
from whoosh.util.numeric import byte_to_length, length_to_byte

from searchsvc.index.mapped import (
    FORMAT,
    SUFFIX,
    DamagedData,
    PostingArrays,
    SegmentBuilder,
    SegmentPostings,
    built_description,
)
from searchsvc.index.stored import STORED
from searchsvc.index.varint import unvarints, varints

INLINE_LIMIT = 1


class TermFrequency(formats.Format):
    """Frequency and weight, no positions: matching and scoring only."""

    posting_size = 0  # no value bytes: the weight is the frequency

    def __init__(self, field_boost: float = 1.0, **options) -> None:
        self.field_boost = field_boost
        self.options = options

    def word_values(self, value, analyzer, **kwargs):
        freqs: dict[str, int] = {}
        for t in formats.tokens(value, analyzer, kwargs):
            freqs[t.text] = freqs.get(t.text, 0) + 1
        fb = self.field_boost
        return ((w, f, f * fb, b"") for w, f in freqs.items())

    def encode(self, value) -> bytes:
        return b""

    def decode_frequency(self, valuestring: bytes) -> int:
        return 1  # only asked for when the weight is not at hand; scoring uses the weight

    def decode_weight(self, valuestring: bytes) -> float:
        return self.field_boost

    def combine(self, vs) -> bytes:
        return b""


def deltas(values) -> list[int]:
    """Each value minus the one before it (the first minus 0): small numbers for sorted input."""
    out = []
    prev = 0
    for v in values:
        out.append(v - prev)
        prev = v
    return out


def _count_varints(data: bytes) -> int:
    return sum(1 for b in data if b < 0x80)


class DeltaPositions(formats.Positions):
    """Positions for phrases, proximity and highlighting: deltas as varints instead of a pickle."""

    def word_values(self, value, analyzer, **kwargs):
        poses: dict[str, list[int]] = {}
        kwargs["positions"] = True
        for t in formats.tokens(value, analyzer, kwargs):
            poses.setdefault(t.text, []).append(t.pos)
        fb = self.field_boost
        for w, poslist in poses.items():
            yield (w, len(poslist), len(poslist) * fb, self.encode(poslist))

    def encode(self, poslist: list[int]) -> bytes:
        return varints(deltas(poslist))

    def decode_positions(self, valuestring: bytes) -> list[int]:
        out = []
        pos = 0
        for d in unvarints(valuestring):
            pos += d
            out.append(pos)
        return out

    def decode_frequency(self, valuestring: bytes) -> int:
        return _count_varints(valuestring)

    def decode_weight(self, valuestring: bytes) -> float:
        return self.decode_frequency(valuestring) * self.field_boost

    def combine(self, vs) -> bytes:
        s: set[int] = set()
        for v in vs:
            s.update(self.decode_positions(v))
        return self.encode(sorted(s))


class _CompactPostingsWriter(whoosh3.W3PostingsWriter):
    """Blocks whose ids, weights and values are varint bytes instead of pickled tuples.

    Whoosh pickles each posting's id, weight (a float) and value separately;
    on a positions field that framing cost more than the positions. Here ids
    are varint deltas, whole-number weights are varints, and on positions
    fields the weight (the frequency) is not stored at all but counted from
    the value. The outer block layout (and so block skipping) is Whoosh's.
    """

    def finish_postings(self):
        # A term in one document (most of the vocabulary) goes inline into the terms file
        # instead of a block of its own. Whoosh means to do this (``inlinelimit``) but its
        # test never passes and the call it would make is misspelt.
        if not self.written() and len(self) <= INLINE_LIMIT:
            terminfo = self._terminfo
            terminfo.add_block(self)
            weights = [int(w) if float(w).is_integer() else w for w in self._weights]
            terminfo.set_inlined(self._ids, weights, self._values)
            self._terminfo = None
            return terminfo
        return super().finish_postings()

    def _write_block(self, last: bool = False) -> None:
        # Whoosh's own, except that a block is compressed only when that makes it smaller:
        # most blocks are a rare term's few postings, which zlib only lengthens.
        if not self._blockcount:
            self._postfile.write(whoosh3.WHOOSH3_HEADER_MAGIC)
        self._terminfo.add_block(self)
        databytes = pickle.dumps((self._mini_ids(), self._mini_weights(), self._mini_values()), 2)
        comp = 0
        if self._compression:
            packed = zlib.compress(databytes, self._compression)
            if len(packed) < len(databytes):
                databytes, comp = packed, self._compression
        ids = self._ids
        infobytes = pickle.dumps(
            (len(ids), ids[-1], self._maxweight, comp, length_to_byte(self._minlength),
             length_to_byte(self._maxlength)),
            2,
        )
        blocklength = len(infobytes) + len(databytes)
        self._postfile.write_int(-blocklength if last else blocklength)
        self._postfile.write(infobytes)
        self._postfile.write(databytes)
        self._blockcount += 1
        self._new_block()

    def _mini_ids(self):
        return varints(deltas(self._ids))

    def _mini_weights(self):
        weights = self._weights
        fb = self._format.field_boost
        if isinstance(self._format, DeltaPositions) and fb == 1.0 and len(self._values) == len(weights):
            if all(w == _count_varints(v) for w, v in zip(weights, self._values, strict=True)):
                return b""  # derive from the values
        if all(float(w).is_integer() and w >= 0 for w in weights):
            return varints(int(w) for w in weights) or b"\x00"
        return super()._mini_weights()

    def _mini_values(self):
        if self._format.fixed_value_size() == 0 or not self._values:
            return super()._mini_values()
        return (varints(len(v) for v in self._values), b"".join(self._values))


class _CompactLeafMatcher(whoosh3.W3LeafMatcher):
    """Reads the blocks _CompactPostingsWriter writes (and, by their types, Whoosh's own)."""

    def _read_ids(self):
        if self._data is None:
            self._read_data()
        ids = self._data[0]
        if not isinstance(ids, bytes):
            return super()._read_ids()
        out = []
        total = 0
        for d in unvarints(ids):
            total += d
            out.append(total)
        self._ids = out

    def _read_weights(self):
        if self._data is None:
            self._read_data()
        weights = self._data[1]
        if not isinstance(weights, bytes):
            return super()._read_weights()
        if weights:
            self._weights = array("f", unvarints(weights))
        else:
            if self._values is None:
                self._read_values()
            self._weights = array("f", [_count_varints(v) for v in self._values])

    def _read_values(self):
        if self._data is None:
            self._read_data()
        vs = self._data[2]
        if not (isinstance(vs, tuple) and len(vs) == 2 and isinstance(vs[0], bytes) and isinstance(vs[1], bytes)
                and self._fixedsize != 0):
            return super()._read_values()
        lengths, blob = vs
        values = []
        pos = 0
        for n in unvarints(lengths):
            values.append(blob[pos:pos + n])
            pos += n
        self._values = values


class _LengthTableReader(whoosh3.W3PerDocReader):
    """Field lengths read once per field into a list, not through a column lookup per posting.

    Writing a segment asks for a document's field length once per posting,
    and BM25 once per scored document; the stock lookup was a fifth of the
    cost of writing (profiled).
    """

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0):
        tables = self.__dict__.setdefault("_length_tables", {})
        table = tables.get(fieldname)
        if table is None:
            reader = self._cached_reader(whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN)
            if reader is None:
                return default
            table = tables[fieldname] = [byte_to_length(b) if b else None for b in reader]
        return table[docnum]


class _StoredPerDocReader(_LengthTableReader):
    """:class:`_LengthTableReader` whose stored fields are index/stored.py's column."""

    def stored_fields(self, docnum):
        """Read from the column of index/stored.py (the codec writes it there, :class:`_StoredPerDocWriter`)."""
        return self._cached_reader("_stored", STORED)[docnum] or {}


class _StoredPerDocWriter(whoosh3.W3PerDocWriter):
    """Whoosh's per-document writer, with the stored fields in index/stored.py's column instead of a pickle
    deflated alone (issue 16's 2x: a third less)."""

    def _create_column(self, fieldname, column) -> None:
        super()._create_column(fieldname, STORED if fieldname == "_stored" else column)


class _NoExtentTermInfo(whoosh3.W3TermInfo):
    """A mapped field's term info as Whoosh's term dictionary stores it: the statistics, without the 12 bytes of
    an extent in the postings file that would point at nothing (5 MB at 48k articles: issue 16's 2x).

    Written as Whoosh writes inlined postings, flag set, with the 2-byte pickle of None for the postings: Whoosh's
    own ``W3TermInfo.from_bytes`` reads it back as a term info with neither inlined postings nor an extent, and
    only :class:`_MappedTermsReader` ever asks for those postings (from the mapped file)."""

    _NONE = pickle.dumps(None, 0)  # b"N."

    def to_bytes(self) -> bytes:
        return self._struct.pack(
            1, self._weight, self._df, 0 if self._minlength is None else length_to_byte(self._minlength),
            length_to_byte(self._maxlength), self._maxweight, 0xFFFFFFFF if self._minid is None else self._minid,
            0xFFFFFFFF if self._maxid is None else self._maxid) + self._NONE


class _TermInfoOnlyWriter(whoosh3.W3PostingsWriter):
    """A mapped field's postings writer: each term's statistics go into Whoosh's term info (document frequency,
    total and greatest weight, shortest and longest field, first and last document), its postings nowhere (the
    segment's mapped file is their only copy). The term info points at no bytes of the postings file."""

    def start_postings(self, format_, terminfo) -> None:
        super().start_postings(format_, _NoExtentTermInfo())

    def _write_block(self, last: bool = False) -> None:
        self._terminfo.add_block(self)
        self._blockcount += 1
        self._new_block()

    def finish_postings(self):
        if self._ids:
            self._write_block(last=True)
        terminfo, self._terminfo = self._terminfo, None
        return terminfo


class _MappingFieldWriter(whoosh3.W3FieldWriter):
    """Whoosh's field writer, except that each mapped field's postings go to the segment's mapped file only."""

    def __init__(self, codec, storage, segment, fields: tuple[str, ...], positions: tuple[str, ...]) -> None:
        super().__init__(codec, storage, segment)
        self._builder = SegmentBuilder(Path(storage.folder) / (segment.segment_id() + SUFFIX))
        self._mapped_fields, self._positions_fields = frozenset(fields), frozenset(positions)
        self._capture = self._with_positions = False
        self._ids: list[int] = []
        self._weights: list[float] = []
        self._values: list[bytes] = []
        self._lengths: list[float] = []

    def start_field(self, fieldname, fieldobj) -> None:
        super().start_field(fieldname, fieldobj)
        self._capture = fieldname in self._mapped_fields
        self._with_positions = fieldname in self._positions_fields
        if self._capture:
            self._postwriter = _TermInfoOnlyWriter(self._postfile, blocklimit=self._codec._blocklimit)

    def start_term(self, btext) -> None:
        super().start_term(btext)
        self._ids, self._weights, self._values, self._lengths = [], [], [], []

    def add(self, docnum, weight, vbytes, length) -> None:
        super().add(docnum, weight, vbytes, length)
        if self._capture:
            self._ids.append(docnum)
            self._weights.append(weight)
            self._lengths.append(length)  # as Whoosh's length byte gives it (_LengthTableReader)
            if self._with_positions:
                self._values.append(vbytes or b"")

    def finish_term(self) -> None:
        super().finish_term()
        if self._capture:
            arrays = PostingArrays(np.array(self._ids, dtype=np.int64), np.array(self._weights, dtype=np.float32))
            if self._with_positions:
                blob = b"".join(self._values)
                lengths = np.array([len(v) for v in self._values], dtype=np.int64)
                _fill_positions(arrays, np.frombuffer(blob, dtype=np.uint8), lengths, blob)
            self._builder.add(self._fieldname, self._btext, arrays, np.array(self._lengths, dtype=np.float32))

    def close(self) -> None:
        super().close()
        self._builder.write()


class _MappedTermsReader(whoosh3.W3TermsReader):
    """Whoosh's term dictionary of a segment; a mapped field's term matches through the segment's mapped file.

    A merge reads every posting of the segments it merges through :meth:`matcher`; a missing or damaged
    mapped file raises DamagedData there, so a merge never writes a segment with postings lost."""

    def __init__(self, codec, dbfile, length, postfile, path: Path, fields: tuple[str, ...]) -> None:
        super().__init__(codec, dbfile, length, postfile)
        self._path = path
        self._fields = frozenset(fields)
        self._mapped: SegmentPostings | None = None

    def _segment_postings(self) -> SegmentPostings:
        if self._mapped is None:
            described = built_description(self._path)
            if described is None:
                raise DamagedData(f"{self._path.name} is missing or not of format {FORMAT}: the only copy of its "
                                  "segment's postings")
            self._mapped = SegmentPostings(self._path, described)
        return self._mapped

    def matcher(self, fieldname, tbytes, format_, scorer=None):
        if fieldname not in self._fields:
            return super().matcher(fieldname, tbytes, format_, scorer=scorer)
        terminfo = self.term_info(fieldname, tbytes)  # TermNotFound for a term the segment does not have
        positions = format_.supports("positions")
        arrays = self._segment_postings().postings(fieldname, tbytes.decode("utf-8"), positions=positions)
        if arrays is None or len(arrays.ids) != terminfo.doc_frequency():
            raise DamagedData(f"{self._path.name} does not hold the postings of {fieldname}:{tbytes!r} that "
                              "Whoosh's term dictionary lists")
        values = position_values(arrays) if positions else None
        return ListMatcher(arrays.ids.tolist(), arrays.freqs.tolist(), values, format_, scorer=scorer,
                           term=(fieldname, tbytes), terminfo=terminfo)


class CompactCodec(whoosh3.W3Codec):
    """Whoosh's W3 codec, writing integral weights as small ints and reading lengths from a table.

    Segments written by searchsvc 0.3 and earlier pickled this class, so it stays to open them (and refuse them:
    their mapped data is of an earlier format); :class:`MappedCodec` writes with it the fields it does not map."""

    def per_document_reader(self, storage, segment):
        return _LengthTableReader(storage, segment)

    def postings_writer(self, dbfile, byteids: bool = False):
        return _CompactPostingsWriter(
            dbfile,
            blocklimit=self._blocklimit,
            byteids=byteids,
            compression=self._compression,
            inlinelimit=self._inlinelimit,
        )

    def postings_reader(self, dbfile, terminfo, format_, term=None, scorer=None):
        if terminfo.is_inlined():
            return super().postings_reader(dbfile, terminfo, format_, term=term, scorer=scorer)
        offset, length = terminfo.extent()
        return _CompactLeafMatcher(dbfile, offset, length, format_, term=term, scorer=scorer)


class MappedCodec(CompactCodec):
    """:class:`CompactCodec` whose ``mapped_fields``' postings (with positions for ``positions_fields``) are
    written only to each segment's mapped file (index/mapped.py) and read back from it.

    A class of its own, pickled into each segment: searchsvc 0.3, which would read these segments' postings
    from Whoosh's postings file, cannot unpickle it and so refuses such an index instead of misreading it."""

    def __init__(self, mapped_fields: tuple[str, ...], positions_fields: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(**kwargs)
        self.mapped_fields = tuple(mapped_fields)
        self.positions_fields = tuple(positions_fields)

    def per_document_writer(self, storage, segment):
        return _StoredPerDocWriter(self, storage, segment)

    def per_document_reader(self, storage, segment):
        return _StoredPerDocReader(storage, segment)

    def field_writer(self, storage, segment):
        if not getattr(storage, "folder", None):
            raise ValueError("MappedCodec writes a mapped file beside each segment: it needs a directory storage")
        return _MappingFieldWriter(self, storage, segment, self.mapped_fields, self.positions_fields)

    def terms_reader(self, storage, segment):
        tiname = segment.make_filename(self.TERMS_EXT)
        path = Path(storage.folder) / (segment.segment_id() + SUFFIX)
        return _MappedTermsReader(self, storage.open_file(tiname), storage.file_length(tiname),
                                  segment.open_file(storage, self.POSTS_EXT), path, self.mapped_fields)


def position_values(arrays: PostingArrays) -> list[bytes]:
    """Each posting's positions as :class:`DeltaPositions` encodes them (the value Whoosh passes on in a merge),
    varint-coded for all postings at once."""
    starts = arrays.pos_starts
    pos = np.asarray(arrays.positions, dtype=np.int64)
    gaps = np.diff(pos, prepend=0)
    firsts = starts[:-1][np.diff(starts) > 0]
    gaps[firsts] = pos[firsts]
    nbytes = np.ones(len(gaps), dtype=np.int64)
    for bits in (7, 14, 21, 28, 35, 42, 49, 56):
        nbytes += gaps >= (1 << bits)
    ends = np.cumsum(nbytes)
    out = np.zeros(int(ends[-1]) if len(ends) else 0, dtype=np.uint8)
    at = ends - nbytes
    for k in range(int(nbytes.max()) if len(nbytes) else 0):
        some = nbytes > k
        more = (nbytes > k + 1).astype(np.int64) << 7
        out[at[some] + k] = ((gaps[some] >> (7 * k)) & 0x7F | more[some]).astype(np.uint8)
    blob = out.tobytes()
    bounds = np.concatenate(([0], ends))[starts].tolist()
    return [blob[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


# --- Whole posting lists as arrays (the ranking path, ranking.py) ---------------------------------


def np_unvarints(data: bytes) -> np.ndarray:
    """:func:`unvarints` for a whole buffer at once, as int64."""
    b = np.frombuffer(data, dtype=np.uint8)
    if b.size == 0:
        return np.zeros(0, dtype=np.int64)
    ends = b < 0x80
    if ends.all():
        return b.astype(np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ends[:-1])))
    group = np.cumsum(np.concatenate(([0], ends[:-1]))).astype(np.int64)
    shift = 7 * (np.arange(b.size) - starts[group])
    return np.add.reduceat((b & 0x7F).astype(np.int64) << shift, starts)


def _restart_cumsum(deltas_: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Running sums that start again at each run of ``counts`` items (delta-coded lists laid end to end)."""
    total = np.cumsum(deltas_)
    ends = np.cumsum(counts)
    base = np.concatenate(([0], total[ends[:-1] - 1])) if len(counts) else np.zeros(0, dtype=np.int64)
    return total - np.repeat(base, counts)


def _count_ends(blob: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """How many varints each of the values laid end to end in ``blob`` holds."""
    csum = np.concatenate(([0], np.cumsum(blob < 0x80)))
    stops = np.cumsum(lengths)
    return csum[stops] - csum[stops - lengths]


def _fill_positions(arrays: PostingArrays, blob: np.ndarray, lengths: np.ndarray, blob_bytes: bytes) -> None:
    """Turn byte extents of delta-coded position lists into positions and per-posting starts."""
    per_posting = _count_ends(blob, lengths) if len(lengths) else np.zeros(0, dtype=np.int64)
    arrays.positions = _restart_cumsum(np_unvarints(blob_bytes), per_posting)
    arrays.pos_starts = np.concatenate(([0], np.cumsum(per_posting)))
