"""What the hidden list (``searchsvc hide``) costs the search path, in process, on a built index.

    .venv/bin/python bench/hidden.py --index /tmp/ix48k [--every 25] [--hidden 100,1000] [--rounds 3]

The same UIT-ViNewsQA questions (every k-th dev question, as bench/relevance.py picks them) are timed through
SearchService.search (the code path of GET /api/search), warm, in rounds that alternate: no hidden list, then a
list of N hidden articles (real ids of the index, spread over it) for each N in --hidden. Alternating rounds in
one process cancel most of the noise of a shared machine. Also timed on their own: the check every request makes
(one ``stat`` of hidden.json), and applying a changed list (reading it, finding its documents, building the mask),
which the first request after a ``hide`` pays.

The index is never written: the list is written into a scratch directory of hard links to the index's files,
removed at the end. Without ``searchsvc.index.hidden`` (an older checkout on PYTHONPATH) only the no-list rounds
run, for a before/after comparison. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relevance import EVAL, load, timing  # noqa: E402  (bench/ is not a package)


def linked_copy(index: Path, dest: Path) -> None:
    """``index``'s CURRENT and generations as hard links under ``dest`` (nothing of ``index`` is ever written)."""
    dest.mkdir()
    shutil.copy2(index / "CURRENT", dest / "CURRENT")
    for gen in index.iterdir():
        if gen.is_dir() and gen.name.startswith("gen-"):
            (dest / gen.name).mkdir()
            for f in gen.iterdir():
                os.link(f, dest / gen.name / f.name)


def time_questions(service, questions) -> list[float]:
    from searchsvc.engine.search import SearchRequest

    out = []
    for _, query, _ in questions:
        start = time.perf_counter()
        service.search(SearchRequest(q=query, per_page=10))
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--every", type=int, default=25, help="every k-th question (25: 100 questions)")
    ap.add_argument("--hidden", default="100,1000", help="sizes of the hidden list, comma-separated")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not EVAL.is_dir():
        sys.exit(f"skipped: {EVAL} is absent")

    from searchsvc.analysis.vietnamese import load_model
    from searchsvc.engine.search import SearchService

    try:
        from searchsvc.index import hidden as hidden_list
        from searchsvc.index.hiding import write
    except ImportError:  # a checkout from before the hidden list
        hidden_list = None
    sizes = [int(n) for n in args.hidden.split(",") if n] if hidden_list else []

    with tempfile.TemporaryDirectory(prefix="bench-hidden-") as scratch:
        root = Path(scratch) / "index"
        linked_copy(args.index, root)
        load_model()
        service = SearchService(root)
        service.warm()
        opened = service.current()
        questions = load(args.every, None)
        time_questions(service, questions)  # warm: postings, segmentation
        with opened.io:
            ids = sorted(opened.searcher.reader().field_terms("id"))
        step = max(1, len(ids) // max(sizes, default=1))
        lists = {n: ids[::step][:n] for n in sizes}

        times: dict[str, list[float]] = {"none": []}
        apply_ms: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            if hidden_list:
                hidden_list.path(root).unlink(missing_ok=True)
            times["none"] += time_questions(service, questions)
            for n, chosen in lists.items():
                write(root, [hidden_list.HiddenArticle(i, None, "2026-01-01T00:00:00+0700") for i in chosen])
                start = time.perf_counter()
                applied = service._hidden_now(opened)  # what the first request after the change pays
                apply_ms.setdefault(str(n), []).append((time.perf_counter() - start) * 1000)
                assert applied.count == n, (applied.count, n)
                times.setdefault(str(n), []).extend(time_questions(service, questions))

        result = {
            "index": str(args.index),
            "documents": service.document_count(),
            "questions": len(questions),
            "rounds": args.rounds,
            "search": {name: timing(t, 2) | {"mean_ms": round(statistics.fmean(t), 2)} for name, t in times.items()},
        }
        if hidden_list:
            loops = 20_000
            start = time.perf_counter()
            for _ in range(loops):
                service._hidden_now(opened)
            result["check_per_request_us"] = round((time.perf_counter() - start) / loops * 1e6, 2)
            result["apply_changed_list_ms"] = {n: round(statistics.median(t), 2) for n, t in apply_ms.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
