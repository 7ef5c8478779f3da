"""Writing a generation's mapped data (index/mapped.py, index/lexicon.py) after Whoosh's commit.

Run by reindex on every generation it publishes. A segment's postings are
mapped as Whoosh writes it (the codec hands them over, in the indexer's
worker processes, and keeps no other copy); segments an incremental
generation kept from the previous one keep their files (hard links). A
segment without its file (written by an earlier searchsvc) cannot be read
back from Whoosh, which has not got those postings: such an index is
rebuilt in full (:class:`MissingData`). The per-document arrays and spelling
tables cover the whole generation and are written anew each time, never in
place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import index as whoosh_index
from whoosh.codec import whoosh3
from whoosh.util.numeric import byte_to_length

from searchsvc.index.lexicon import FILE as SPELLING
from searchsvc.index.lexicon import derive_spelling
from searchsvc.index.mapped import (
    DOCS,
    FORMAT,
    MANIFEST,
    REBUILD,
    SUFFIX,
    DamagedData,
    MissingData,
    built_description,
    read_manifest,
    segment_file,
    segments,
    write_sections,
)
from searchsvc.index.schema import COLUMNS, text_fields

_UNDATED = 2**63  # Whoosh writes an unsigned maximum where a document has no date
_LENGTH_TABLE = np.array([byte_to_length(i) for i in range(256)], dtype=np.float32)


def _length_bytes(seg, fieldname: str) -> np.ndarray:
    """A segment's length bytes of a field (none when no document has it)."""
    column = seg._perdoc._cached_reader(whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN)
    if column is None:
        return np.zeros(0, dtype=np.uint8)
    return np.fromiter(iter(column), dtype=np.uint8, count=seg.doc_count_all())


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
            raw = _length_bytes(seg, fieldname)
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


def is_current(path: Path) -> bool:
    """Whether ``path`` (a Whoosh index directory) has mapped data of this format for exactly its segments."""
    try:
        manifest = read_manifest(path)
        with whoosh_index.open_dir(str(path)).reader() as reader:
            wanted = [(segment_file(seg), base) for seg, base in segments(reader)]
    except (MissingData, DamagedData, OSError):
        return False
    return [(s["file"], s["base"]) for s in manifest.get("segments", [])] == wanted


def derive(path: Path) -> dict[str, Any]:
    """Write the manifest and the per-generation mapped data of the Whoosh index at ``path``, whose segments'
    files the codec wrote; MissingData if a segment has none of this format."""
    with whoosh_index.open_dir(str(path)).reader() as reader:
        leaves = [(segment_file(seg), base) for seg, base in segments(reader)]
        described: dict[str, dict[str, Any]] = {}
        for name, _ in leaves:
            written = built_description(path / name)  # mapped by the codec as Whoosh wrote the segment, or kept
            if written is None:
                raise MissingData(f"{path.name}: segment file {name} is missing or not of format {FORMAT}, and "
                                  f"its postings are nowhere else ({REBUILD})")
            described[name] = written
        docs, labels = derive_docs(reader)
        manifest = {
            "format": FORMAT,
            "documents": reader.doc_count_all(),
            "segments": [{"file": name, "base": base, "described": described[name]} for name, base in leaves],
            "docs": write_sections(path / DOCS, docs),
            "spelling": derive_spelling(reader, path / SPELLING),
            "labels": labels,
        }
    keep = {DOCS, SPELLING, *described, *(name + ".json" for name in described)}
    for stale in [*path.glob("*" + SUFFIX), *path.glob("*" + SUFFIX + ".json")]:
        if stale.name not in keep:
            stale.unlink()  # a segment merged away that Whoosh has not removed
    tmp = path / (MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path / MANIFEST)  # never in place: the previous generation may hard-link the old one
    return manifest

