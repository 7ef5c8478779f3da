"""Writing a generation's mapped data (index/mapped.py, index/lexicon.py) after Whoosh's commit.

Run by reindex on every generation it publishes, and by a worker for a
generation written before the mapped data existed (into a private scratch
directory). Segments an incremental generation kept from the previous one
(hard links) keep their files; only new or merged segments are derived, in
parallel. The per-document arrays and spelling tables cover the whole
generation and are written anew each time, never in place.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index

from searchsvc.index.lexicon import FILE as SPELLING
from searchsvc.index.lexicon import derive_spelling
from searchsvc.index.mapped import (
    DOCS,
    FORMAT,
    MANIFEST,
    SUFFIX,
    DamagedData,
    MissingData,
    derive_docs,
    derive_segment,
    read_manifest,
    segment_file,
    segments,
    write_sections,
)


def is_current(path: Path) -> bool:
    """Whether ``path`` (a Whoosh index directory) has mapped data of this format for exactly its segments."""
    try:
        manifest = read_manifest(path)
        with whoosh_index.open_dir(str(path)).reader() as reader:
            wanted = [(segment_file(seg), base) for seg, base in segments(reader)]
    except (MissingData, DamagedData, OSError):
        return False
    return [(s["file"], s["base"]) for s in manifest.get("segments", [])] == wanted


def _derive_one(path: str, name: str) -> tuple[str, dict[str, Any]]:
    with whoosh_index.open_dir(path).reader() as reader:
        for seg, _ in segments(reader):
            if segment_file(seg) == name:
                return name, derive_segment(seg, Path(path) / name)
    raise LookupError(f"no segment for {name} in {path}")


def derive(path: Path, jobs: int = 1) -> dict[str, Any]:
    """Write the mapped data of the Whoosh index at ``path``; segments in parallel, ``jobs`` processes at most."""
    try:
        known = {s["file"]: s["described"] for s in read_manifest(path).get("segments", [])}
    except (MissingData, DamagedData):
        known = {}
    with whoosh_index.open_dir(str(path)).reader() as reader:
        leaves = [(segment_file(seg), base) for seg, base in segments(reader)]
        described: dict[str, dict[str, Any]] = {}
        for name, _ in leaves:
            if name in known and _intact(path / name, known[name]):
                described[name] = known[name]
        todo = [name for name, _ in leaves if name not in described]
        if len(todo) > 1 and jobs > 1:
            with ProcessPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
                described.update(pool.map(_derive_one, [str(path)] * len(todo), todo))
        else:
            described.update(_derive_one(str(path), name) for name in todo)
        docs, labels = derive_docs(reader)
        manifest = {
            "format": FORMAT,
            "documents": reader.doc_count_all(),
            "segments": [{"file": name, "base": base, "described": described[name]} for name, base in leaves],
            "docs": write_sections(path / DOCS, docs),
            "spelling": derive_spelling(reader, path / SPELLING),
            "labels": labels,
        }
    keep = {DOCS, SPELLING, *described}
    for stale in path.glob("*" + SUFFIX):
        if stale.name not in keep:
            stale.unlink()  # a segment merged away that Whoosh has not removed
    tmp = path / (MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path / MANIFEST)  # never in place: the previous generation may hard-link the old one
    return manifest


def _intact(path: Path, described: dict[str, Any]) -> bool:
    try:
        return path.stat().st_size == described["bytes"]
    except OSError:
        return False
