"""Relevance on UIT-ViNewsQA (dev) at news scale: MRR@10, Recall@10, nDCG@10, with and without diacritics.

    python bench/relevance.py --index /path/to/48k-index [--every 1] [--limit N] [--headlines 300]
        [--recency-half-life DAYS] [--views-weight W]

--recency-half-life and --views-weight rank as RECENCY_HALF_LIFE_DAYS and VIEWS_WEIGHT do (engine/freshness.py;
default 0, off): what a setting costs the evaluation sets, and their time. The team's corpus has no dates and no
views, so there they change nothing; --worst-case then bounds what they could cost on an archive that has them:
each relevant article is ranked as if it got no bonus and every other article the largest the settings give
(1.5 for recency, 1 + W for views; the product for both), from the pure relevance scores of the top 50.

Also known-item "headline" queries: 4-7 consecutive words of a corpus title
(that article must come first), and as many from titles that hold a
question word (gì, nào, ai, sao, bao nhiêu), with and without diacritics.

The index must hold ../shared/corpus plus ../shared/eval/uit_vinewsqa/docs.jsonl
(build it with `python bench/index.py --keep DIR`, or `searchsvc reindex` on
those files). Questions go through SearchService.search, the code path of
GET /api/search. Each question has one relevant article.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval" / "uit_vinewsqa"


def load(every: int, limit: int | None) -> list[tuple[str, str, str]]:
    qrels = {}
    for line in (EVAL / "qrels.tsv").read_text(encoding="utf-8").splitlines():
        qid, doc, _ = line.split("\t")
        qrels[qid] = doc
    out = []
    with open(EVAL / "queries.jsonl", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % every:
                continue
            q = json.loads(line)
            if q.get("split", "dev") == "dev":
                out.append((q["qid"], q["query"], qrels[q["qid"]]))
            if limit and len(out) >= limit:
                break
    return out


def headlines(count: int = 300, seed: int = 7) -> list[tuple[str, str, str]]:
    """Known-item queries: a few consecutive words remembered from a headline; that article should come first."""
    import gzip
    import random

    rng = random.Random(seed)
    picked = []
    for path in sorted((ROOT.parent / "shared" / "corpus").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i % 157 == 0:
                    d = json.loads(line)
                    words = d["title"].split()
                    if len(words) >= 6:
                        n = rng.randint(4, min(7, len(words) - 1))
                        start = rng.randint(0, len(words) - n)
                        picked.append((d["id"], " ".join(words[start:start + n]).strip(",.:;!?\"'“”"), d["id"]))
    rng.shuffle(picked)
    return picked[:count]


QUESTION_SYLLABLES = ("gì", "nào", "ai", "sao", "nhiêu")


def question_headlines(count: int = 300, seed: int = 3) -> list[tuple[str, str, str]]:
    """Known-item queries from headlines that hold a question word (``Ăn gì để ngừa cúm``): 4-7 consecutive
    words around it. Questions are searched with their question words counting little; a headline that
    has one must still come first."""
    import gzip
    import random

    rng = random.Random(seed)
    picked = []
    for path in sorted((ROOT.parent / "shared" / "corpus").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                words = d["title"].split()
                at = [i for i, w in enumerate(words) if w.lower().strip("?,.:!\"'") in QUESTION_SYLLABLES]
                if len(words) >= 6 and at and rng.random() < 0.2:
                    n = rng.randint(4, min(7, len(words)))
                    start = max(0, min(at[0] - rng.randint(0, n - 1), len(words) - n))
                    picked.append((d["id"], " ".join(words[start:start + n]).strip(",.:;!?\"'“”"), d["id"]))
    rng.shuffle(picked)
    return picked[:count]


def timing(times_ms: list[float], digits: int = 1) -> dict[str, float]:
    """Median, nearest-rank p95 and max of some timings, in ms."""
    times_ms = sorted(times_ms)
    return {"median_ms": round(statistics.median(times_ms), digits),
            "p95_ms": round(times_ms[int(0.95 * (len(times_ms) - 1))], digits),
            "max_ms": round(times_ms[-1], digits)}


def evaluate(service, questions, transform=lambda q: q, worst: float = 1.0) -> dict:
    """Success@1, MRR@10, Recall@10, nDCG@10 and times; ``worst`` > 1: the relevant article falls behind every
    other one whose score times ``worst`` reaches its own (see --worst-case)."""
    from searchsvc.engine.search import SearchRequest

    rr, hits10, ndcg, times, totals = [], 0, [], [], []
    for _, query, relevant in questions:
        start = time.perf_counter()
        result = service.search(SearchRequest(q=transform(query), per_page=10 if worst <= 1 else 50))
        times.append((time.perf_counter() - start) * 1000)
        totals.append(result.total)
        ids = [h.id for h in result.hits]
        rank = ids.index(relevant) + 1 if relevant in ids else None
        if rank is not None and worst > 1:
            # Those beyond the 50th score less than the 50th: if it passes, 40 others do, and rank > 10 anyway.
            own = result.hits[rank - 1].score
            rank = 1 + sum(1 for h in result.hits if h.id != relevant and h.score * worst >= own)
        if rank is not None and rank <= 10:
            rr.append(1 / rank)
            ndcg.append(1 / math.log2(rank + 1))
            hits10 += 1
        else:
            rr.append(0.0)
            ndcg.append(0.0)
    n = len(questions)
    return {
        "questions": n,
        "success@1": round(sum(1 for r in rr if r == 1.0) / n, 4),
        "mrr@10": round(sum(rr) / n, 4),
        "recall@10": round(hits10 / n, 4),
        "ndcg@10": round(sum(ndcg) / n, 4),
        # The count a reader is told (issue 15: at most 2 % of the collection at the median).
        "median_total": statistics.median(totals),
        "median_total_share": round(statistics.median(totals) / service.current().arrays.doc_count, 4),
        **timing(times),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--every", type=int, default=1, help="use every k-th question")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--no-folded", action="store_true", help="skip the run without diacritics")
    ap.add_argument("--headlines", type=int, default=300, help="known-item headline queries (0: none)")
    ap.add_argument("--recency-half-life", type=float, default=0.0, metavar="DAYS",
                    help="RECENCY_HALF_LIFE_DAYS (0: off)")
    ap.add_argument("--views-weight", type=float, default=0.0, metavar="W", help="VIEWS_WEIGHT (0: off)")
    ap.add_argument("--worst-case", action="store_true",
                    help="rank by relevance alone, then bound the settings' cost (see above)")
    args = ap.parse_args()
    if not EVAL.is_dir():
        sys.exit(f"skipped: {EVAL} is absent")

    from searchsvc.analysis.vietnamese import fold, load_model
    from searchsvc.engine.freshness import RECENCY_WEIGHT
    from searchsvc.engine.search import Freshness, SearchService

    load_model()
    freshness = Freshness(recency_half_life_days=args.recency_half_life, views_weight=args.views_weight)
    worst = (1 + RECENCY_WEIGHT if args.recency_half_life > 0 else 1.0) * (1 + args.views_weight)
    if args.worst_case:
        freshness = Freshness()  # the bound is applied to the pure relevance scores
    else:
        worst = 1.0
    service = SearchService(args.index, freshness=freshness)
    run = functools.partial(evaluate, worst=worst)
    questions = load(args.every, args.limit)
    evaluate(service, questions[:20])  # warm caches
    result = {"index_documents": service.health()["documents"],
              "recency_half_life_days": args.recency_half_life, "views_weight": args.views_weight,
              "worst_case_factor": worst if args.worst_case else None,
              "with_diacritics": run(service, questions)}
    if not args.no_folded:
        result["without_diacritics"] = run(service, questions, fold)
    if args.headlines:
        known = headlines(args.headlines)
        result["headline_words"] = run(service, known)
        if not args.no_folded:
            result["headline_words_without_diacritics"] = run(service, known, fold)
        asking = question_headlines(args.headlines)
        result["headline_words_with_a_question_word"] = run(service, asking)
        if not args.no_folded:
            result["headline_words_with_a_question_word_without_diacritics"] = run(service, asking, fold)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"relevance-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
