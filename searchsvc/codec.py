"""Compact on-disk encodings for our postings.

Whoosh's stock formats pickle every posting's value and store each weight as
a pickled float. With three fields per text part that made the index eight
times the size of the text and its writing four times the cost of pyvi
(measured: docs/benchmarks.md). These small subclasses keep Whoosh's
interfaces and change only the bytes:

- :class:`TermFrequency`: the frequency travels as the posting's weight, so a
  posting has no value bytes at all;
- :class:`DeltaPositions`: positions as deltas in the narrowest array type;
- :class:`CompactCodec`: writes whole-number weights as ints, not floats.
"""

from __future__ import annotations

from array import array

from whoosh import formats
from whoosh.codec import whoosh3
from whoosh.util.numeric import byte_to_length


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


def _pack(values: list[int]) -> bytes:
    top = max(values, default=0)
    code = "B" if top < 0x100 else "H" if top < 0x10000 else "I"
    return code.encode("ascii") + array(code, values).tobytes()


def _unpack(data: bytes) -> array:
    return array(chr(data[0]), data[1:])


class DeltaPositions(formats.Positions):
    """Positions for phrases and proximity, delta-encoded in bytes instead of pickled."""

    def word_values(self, value, analyzer, **kwargs):
        poses: dict[str, list[int]] = {}
        kwargs["positions"] = True
        for t in formats.tokens(value, analyzer, kwargs):
            poses.setdefault(t.text, []).append(t.pos)
        fb = self.field_boost
        for w, poslist in poses.items():
            yield (w, len(poslist), len(poslist) * fb, self.encode(poslist))

    def encode(self, poslist: list[int]) -> bytes:
        deltas = [poslist[0]]
        deltas += [b - a for a, b in zip(poslist, poslist[1:], strict=False)]
        return _pack(deltas)

    def decode_positions(self, valuestring: bytes) -> list[int]:
        out = []
        pos = 0
        for d in _unpack(valuestring):
            pos += d
            out.append(pos)
        return out

    def decode_frequency(self, valuestring: bytes) -> int:
        return len(valuestring[1:]) // array(chr(valuestring[0])).itemsize

    def decode_weight(self, valuestring: bytes) -> float:
        return self.decode_frequency(valuestring) * self.field_boost

    def combine(self, vs) -> bytes:
        s: set[int] = set()
        for v in vs:
            s.update(self.decode_positions(v))
        return self.encode(sorted(s))


class _IntWeightPostingsWriter(whoosh3.W3PostingsWriter):
    def _mini_weights(self):
        weights = self._weights
        if len(weights) > 1 and all(w == weights[0] for w in weights):
            return super()._mini_weights()
        if all(float(w).is_integer() for w in weights):
            return tuple(int(w) for w in weights)
        return super()._mini_weights()


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


class CompactCodec(whoosh3.W3Codec):
    """Whoosh's W3 codec, writing integral weights as small ints, reading lengths from a table."""

    def per_document_reader(self, storage, segment):
        return _LengthTableReader(storage, segment)

    def postings_writer(self, dbfile, byteids: bool = False):
        return _IntWeightPostingsWriter(
            dbfile,
            blocklimit=self._blocklimit,
            byteids=byteids,
            compression=self._compression,
            inlinelimit=self._inlinelimit,
        )


def pack_offsets(flat: array) -> bytes:
    """Syllable start/end offsets of a text, delta-encoded: the highlighter's map from position to characters."""
    deltas = []
    prev = 0
    for v in flat:
        deltas.append(v - prev)
        prev = v
    return _pack(deltas)


def unpack_offsets(data: bytes) -> list[tuple[int, int]]:
    if not data:
        return []
    spans = []
    total = 0
    it = iter(_unpack(data))
    for d_start in it:
        start = total + d_start
        end = start + next(it)
        spans.append((start, end))
        total = end
    return spans
