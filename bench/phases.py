"""Where a question's time goes: the search path's phases timed in-process, warm.

    python bench/phases.py --index /path/to/48k-index [--every 5] [--skip-every 64]

Asks every k-th ViNewsQA dev question twice through SearchService.search and
times, on the second pass, each phase (query analysis, stage one, proximity,
stored fields and highlighting, facets, did-you-mean) by wrapping it; then
how much of the posting cache the questions fill.
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from relevance import EVAL, load  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--skip-every", type=int, help="skip tables' run of postings (arrays.SKIP_EVERY), the cache "
                    "of tables grown to match")
    args = ap.parse_args()
    if not EVAL.is_dir():
        sys.exit(f"skipped: {EVAL} is absent")

    from searchsvc.analysis.vietnamese import load_model
    from searchsvc.engine import arrays, query, ranking, search

    if args.skip_every:
        arrays.SKIP_CACHE_MB = arrays.SKIP_CACHE_MB * arrays.SKIP_EVERY // args.skip_every
        arrays.SKIP_EVERY = args.skip_every

    load_model()
    spent: collections.Counter[str] = collections.Counter()

    def timed(owner, name: str, label: str) -> None:
        inner = getattr(owner, name)

        @functools.wraps(inner)
        def wrapper(*a, **k):
            start = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                spent[label] += time.perf_counter() - start

        setattr(owner, name, wrapper)

    timed(query, "analyze", "query analysis (pyvi, memoized)")
    search.analyze = query.analyze
    timed(ranking.Ranker, "score_terms", "stage one (BM25F)")
    timed(ranking.Ranker, "pair_scores", "stage two (proximity)")
    timed(ranking.Ranker, "passage_scores", "stage two (passages)")
    timed(search.SearchService, "_hits", "stored fields + highlighting")
    timed(search, "_facets", "facets")
    timed(search.SearchService, "_did_you_mean", "did-you-mean")
    timed(search.SearchService, "_restored", "diacritics restored")
    service = search.SearchService(args.index)
    questions = load(args.every, None)
    for _, q, _ in questions:
        service.search(search.SearchRequest(q=q))
    spent.clear()
    start = time.perf_counter()
    for _, q, _ in questions:
        service.search(search.SearchRequest(q=q))
    n = len(questions)
    print(f"{n} questions, {(time.perf_counter() - start) / n * 1000:.1f} ms each")
    for label, seconds in spent.most_common():
        print(f"  {label}: {seconds / n * 1000:.1f} ms")
    arrays = service.current().arrays
    print(f"posting cache: {arrays._cached / 2**20:.0f} MB held of {arrays.cache_bytes / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
