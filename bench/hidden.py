"""What the hidden list (``searchsvc hide``) and the freshness factor cost the search path, in process.

    .venv/bin/python bench/hidden.py --index /tmp/ix48k [--every 25] [--hidden 100,1000] [--rounds 3]

The same UIT-ViNewsQA questions (every k-th dev question, as bench/relevance.py picks them) are timed through
SearchService.search (the code path of GET /api/search), warm, by one service per case: no hidden list, no hidden
list again, and a list of N hidden articles (real ids of the index, spread over it) for each N in --hidden. Each
question is asked of every service back to back, each one first in turn, so that a shared machine's load falls on
all cases alike: the median of the per-question differences from the first service is the cost, that of the
second one the noise left. Also timed on their own: the check every request makes (one ``stat`` of hidden.json),
and applying a changed list (reading it, finding its documents, building the mask), which the first request
after a ``hide`` pays, once per worker. Last, the freshness factor (RECENCY_HALF_LIFE_DAYS, VIEWS_WEIGHT): ranking
with a factor per document against without, question by question, and what building the factors takes.

The index is never written: each list is written into a scratch directory of hard links to the index's files,
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


def freshness_cost(service, questions, rounds: int) -> dict:
    """What RECENCY_HALF_LIFE_DAYS / VIEWS_WEIGHT cost where articles have dates and views: a factor per document
    multiplied into the scores (stage one and two as always), timed against none, question by question (the
    values do not matter to the time; this index may have no dates). Also: building the recency factors (every
    ten minutes) and reading the views (once per generation)."""
    import numpy as np

    from searchsvc.engine.query import build, parse

    try:
        from searchsvc.engine import freshness
    except ImportError:  # a checkout from before the settings
        return {}
    opened = service.current()
    ranker = opened.ranker
    boost = np.random.default_rng(13).uniform(1.0, 1.5, opened.arrays.size).astype(np.float32)
    plans = [build(parse(query)) for _, query, _ in questions]
    diffs = []
    for r in range(rounds + 1):
        for q, plan in enumerate(plans):
            order = (None, boost) if (r + q) % 2 else (boost, None)
            took = {}
            for factor in order:
                start = time.perf_counter()
                ranker.rank(plan, None, factor)
                took[factor is None] = (time.perf_counter() - start) * 1000
            if r:
                diffs.append(took[False] - took[True])
    published = opened.arrays.published()
    start = time.perf_counter()
    freshness.recency(published, 30.0, freshness.now_key())
    recency_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    views = opened.arrays.views()
    views_ms = (time.perf_counter() - start) * 1000
    return {"rank_paired_difference_median_ms": round(statistics.median(diffs), 3),
            "build_recency_factors_ms": round(recency_ms, 2), "read_views_ms": round(views_ms, 2),
            "dated_documents": int((published > 0).sum()), "documents_with_views": int((views > 0).sum())}


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
    from searchsvc.engine.search import SearchRequest, SearchService

    try:
        from searchsvc.index import hidden as hidden_list
        from searchsvc.index.hiding import write
    except ImportError:  # a checkout from before the hidden list
        hidden_list = None
    sizes = [int(n) for n in args.hidden.split(",") if n] if hidden_list else []

    # Two services without a list: their difference is what pairing leaves of the machine's noise.
    cases = {"none": 0, "none again": 0, **{f"{n} hidden": n for n in sizes}}
    with tempfile.TemporaryDirectory(prefix="bench-hidden-") as scratch:
        load_model()
        services = {}
        for i, case in enumerate(cases):
            root = Path(scratch) / f"index-{i}"
            linked_copy(args.index, root)
            services[case] = SearchService(root)
            services[case].warm()
        opened = services["none"].current()
        with opened.io:
            ids = sorted(opened.searcher.reader().field_terms("id"))
        step = max(1, len(ids) // max(sizes, default=1))
        apply_ms: dict[str, float] = {}
        for case, n in cases.items():
            if not n:
                continue
            chosen = [hidden_list.HiddenArticle(i, None, "2026-01-01T00:00:00+0700") for i in ids[::step][:n]]
            service, took = services[case], []
            for _ in range(3):
                write(service.store.root, chosen)
                start = time.perf_counter()
                applied = service._hidden_now(service.current())  # what the first request after a change pays
                took.append((time.perf_counter() - start) * 1000)
            assert applied.count == n, (applied.count, n)
            apply_ms[case] = round(statistics.median(took), 2)

        questions = load(args.every, None)
        times: dict[str, list[float]] = {case: [] for case in cases}
        slots = list(cases)
        for r in range(args.rounds + 1):  # the first round warms every service's caches
            for q, (_, query, _) in enumerate(questions):
                k = (r + q) % len(slots)
                for case in slots[k:] + slots[:k]:  # back to back, each first in turn: the machine's load is shared
                    start = time.perf_counter()
                    services[case].search(SearchRequest(q=query, per_page=10))
                    if r:
                        times[case].append((time.perf_counter() - start) * 1000)
        result = {
            "index": str(args.index),
            "documents": services["none"].document_count(),
            "questions": len(questions),
            "rounds": args.rounds,
            "search": {case: timing(t, 2) | {"mean_ms": round(statistics.fmean(t), 2)} for case, t in times.items()},
        }
        for case in slots[1:]:
            diffs = [b - a for a, b in zip(times["none"], times[case], strict=True)]
            result["search"][case]["paired_difference_from_none_median_ms"] = round(statistics.median(diffs), 3)
        if hidden_list:
            loops = 20_000
            start = time.perf_counter()
            for _ in range(loops):
                services["none"]._hidden_now(opened)
            result["check_per_request_us"] = round((time.perf_counter() - start) / loops * 1e6, 2)
            result["apply_changed_list_ms"] = apply_ms
        result["freshness"] = freshness_cost(services["none"], questions, args.rounds)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
