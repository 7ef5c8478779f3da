"""CPU time of a question in process, warm: what a worker spends, without HTTP and without the machine's noise.

    python bench/cpu.py --index /tmp/ix48k7 [--index /tmp/ix148k7] [--questions 300] [--rounds 3]

The first --questions UIT-ViNewsQA dev questions (bench/memory.py asks the same ones over HTTP), through
``SearchService.search`` (10 hits), --rounds times; the last round's CPU time per question (process time: a
shared machine's other work does not count, as wall time would) as p50 / p95 / mean. Run the code being
compared alternately on a loaded machine: CPU time still grows with cache and memory contention.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relevance import load  # noqa: E402

from searchsvc.engine.search import SearchRequest, SearchService  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", action="append", required=True, type=Path)
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    questions = [q for _, q, _ in load(every=1, limit=args.questions)]
    for index in args.index:
        service = SearchService(index)
        service.warm()
        times: list[float] = []
        for _ in range(args.rounds):
            times = []
            for q in questions:
                start = time.process_time()
                service.search(SearchRequest(q=q, per_page=10))
                times.append((time.process_time() - start) * 1000)
        print(f"{index}: {service.stats()['documents']:,} articles, CPU ms a question, round {args.rounds}: "
              f"p50 {statistics.median(times):.1f}, p95 {percentile(times, 95):.1f}, "
              f"mean {statistics.fmean(times):.1f}")


if __name__ == "__main__":
    main()
