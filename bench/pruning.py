"""How much of the collection dynamic pruning could leave out of stage one, with bounds of three tightnesses.

    .venv/bin/python bench/pruning.py --index /tmp/ix48k [--every 3] [--limit 100] [--blocks 64 --blocks 512]
        [--heavy | --built [--rounds 3]]

Issue 16 asks for dynamic pruning (MaxScore, block-max WAND) in stage one. Whether it pays depends on how many
documents can still reach the CANDIDATES-th best score (theta, the last one stage two rescores) once the
clauses too light to lift a document there on their own are set aside (MaxScore's "non-essential" clauses).
For each ViNewsQA dev question this scores every clause exhaustively (ranking.Ranker, as served), takes the
true theta, and counts the documents that an exact pruning would still have to score:

- bound = a clause's weight (what stage one knows without reading a list; MaxScore as first built);
- bound = the clause's true maximum contribution over the collection (the best a per-list maximum can do);
- bound = its true maximum within each block of B consecutive documents (what block-max data written with
  the postings could give), added to the exact score of the essential clauses.

Prints the median and 90th percentile share of the collection, and the share of postings in essential lists.
These are ideal bounds, taken from the exhaustive scores: a real implementation can only be looser.

With ``--heavy``, measures the split the built pruning makes (light clauses scored everywhere, heavy ones bounded
per cell) at three thresholds. With ``--built``, measures the pruning that is built (ranking.Ranker._pruned,
cell maxima written by the indexer) instead: for each question asked through SearchService, pruned and
exhaustive in alternating rounds, the CPU time of each (p50 / p95), the share of questions pruned and of
documents scored exactly (and of the cells they lie in), whether every page (hits, scores, snippets, count,
facets) was the same, and the last round's wall time in the parts of stage one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relevance import load  # noqa: E402  (bench/ is not a package)

from searchsvc.engine import ranking  # noqa: E402
from searchsvc.engine.query import build, parse  # noqa: E402
from searchsvc.engine.ranking import CANDIDATES  # noqa: E402
from searchsvc.engine.search import SearchRequest, SearchService  # noqa: E402


def split(bounds: list[float], theta: float) -> int:
    """How many of the lightest clauses (in ``bounds`` order) add up to less than theta: the non-essential ones."""
    total = 0.0
    for i, b in enumerate(bounds):
        if total + b >= theta:
            return i
        total += b
    return len(bounds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--every", type=int, default=3)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--blocks", type=int, action="append", help="block sizes in documents (default 64, 512)")
    ap.add_argument("--built", action="store_true", help="measure the pruning that is built, against exhaustive")
    ap.add_argument("--rounds", type=int, default=3, help="with --built: alternating rounds of each")
    ap.add_argument("--heavy", action="store_true", help="how many documents the light / heavy split leaves to score")
    args = ap.parse_args()
    if args.built:
        built(args)
        return
    if args.heavy:
        heavy(args)
        return
    blocks = args.blocks or [64, 512]
    service = SearchService(args.index)
    service.warm()
    opened = service.current()
    ranker, n = opened.ranker, opened.ranker.n
    shares: dict[str, list[float]] = {"weight": [], "list maximum": []}
    essential_postings: list[float] = []
    shares.update({f"block maximum, {b} documents": [] for b in blocks})
    for _, q, _ in load(every=args.every, limit=args.limit):
        plan = build(parse(q))
        contributions, weights, postings = [], [], []
        for a in plan.scored:
            for c in ranker.clauses(a):
                lists, df = ranker._listed(c)
                if lists:
                    w = c.weight * ranker.idf(df) * (ranking.K1 + 1)
                    s = np.zeros(n, dtype=np.float32)
                    ranker._add_listed(s, np.zeros(n, dtype=np.float32), lists, w)
                    contributions.append(s)
                    weights.append(w)
                    postings.append(sum(c.n for parts, *_ in lists for c, _ in parts))
        if not contributions:
            continue
        total = np.sum(contributions, axis=0)
        k = min(CANDIDATES, int((total > 0).sum()))
        theta = float(-np.partition(-total, k - 1)[k - 1])
        maxima = [float(s.max()) for s in contributions]
        for name, bounds in (("weight", weights), ("list maximum", maxima)):
            order = sorted(range(len(contributions)), key=bounds.__getitem__)
            cut = split([bounds[i] for i in order], theta)
            essential = order[cut:]
            reach = np.zeros(n, dtype=bool)
            for i in essential:
                reach |= contributions[i] > 0
            shares[name].append(float(reach.mean()))
            if name == "list maximum":
                essential_postings.append(sum(postings[i] for i in essential) / sum(postings))
                partial = np.sum([contributions[i] for i in essential], axis=0) if essential else np.zeros(n)
                for b in blocks:
                    nb = -(-n // b)
                    bound = np.zeros(nb, dtype=np.float64)
                    for i in order[:cut]:
                        padded = np.zeros(nb * b, dtype=np.float32)
                        padded[:n] = contributions[i]
                        bound += padded.reshape(nb, b).max(axis=1)
                    reach = (partial > 0) & (partial + np.repeat(bound, b)[:n] >= theta)
                    shares[f"block maximum, {b} documents"].append(float(reach.mean()))
    print(f"{len(shares['weight'])} questions, {n:,} documents, theta = the {CANDIDATES}th best stage-one score")
    print("| bound | documents still to score: median | p90 |\n|---|---|---|")
    for name, values in shares.items():
        print(f"| {name} | {np.median(values):.3f} | {np.percentile(values, 90):.3f} |")
    print(f"Postings in the essential lists (list maxima): median {np.median(essential_postings):.3f} of all the "
          "question's postings")


def heavy(args: argparse.Namespace) -> None:
    """For splits at a quarter, an eighth and half of the collection (ranking.HEAVY_SHARE): the share of a
    question's postings in its light clauses (scored everywhere) and how many documents could still reach the
    floor once the heavy ones are bounded per cell (as ranking.Ranker._pruned bounds them), with the floor taken
    from the light clauses alone and with the true theta (the best a sampled floor can do)."""
    from searchsvc.engine import kernels

    service = SearchService(args.index)
    service.warm()
    opened = service.current()
    ranker, n, arrays = opened.ranker, opened.ranker.n, opened.arrays
    found: dict[int, list[tuple[float, int, int]]] = {8: [], 4: [], 2: []}
    for _, q, _ in load(every=args.every, limit=args.limit):
        plan = build(parse(q))
        plan.restored = service._restored(opened, plan)
        if plan.expanded or plan.required or plan.preferred:
            continue
        groups = [(a, 1.0) for a in plan.scored] + [(a, ranking.RESTORED_WEIGHT) for a in plan.restored]
        clauses = []
        for g, (a, weight) in enumerate(groups):
            for c in ranker.clauses(a, weight=weight):
                lists, df = ranker._listed(c)
                if lists:
                    clauses.append((g, lists, c.weight * ranker.idf(df) * (ranking.K1 + 1),
                                    sum(part.n for parts, *_ in lists for part, _ in parts)))
        scores, any_word = ranker._stage_one(plan, {})
        eligible = arrays.live & any_word
        if np.count_nonzero(eligible) <= CANDIDATES:
            continue
        theta = np.partition(scores[eligible], -CANDIDATES)[-CANDIDATES]
        for share, out in found.items():
            lower = np.zeros(n, dtype=np.float32)
            upper = np.zeros(n, dtype=np.float32)
            full = np.zeros(n, dtype=np.float32)
            rest = np.zeros(len(arrays.cell_starts))
            light = 0
            for g, lists, w, postings in clauses:
                if postings * share < n:
                    one = np.zeros(n, dtype=np.float32)
                    ranker._add_listed(one, full, lists, w)
                    upper += one
                    if g < len(plan.scored):
                        lower += one
                    light += postings
                else:
                    tf = sum(ranker._list_bound(listed) for listed in lists)
                    rest += w * tf / (tf + ranking.K1) * (1 + ranking.PRUNE_MARGIN)
            floor = np.partition(lower[eligible], -CANDIDATES)[-CANDIDATES]
            kernels.raise_by_cell(upper, rest.astype(np.float32), arrays.cell_starts, arrays.cell_stops)
            reach = [int(np.count_nonzero(arrays.live & (upper >= f * (1 - ranking.PRUNE_MARGIN))))
                     for f in (floor, theta)]
            out.append((light / sum(c[3] for c in clauses), *reach))
    print(f"{len(found[2])} questions, {n:,} documents, theta = the {CANDIDATES}th best stage-one score")
    print("| heavy: postings for at least | light clauses' share of the postings (median) | documents that could "
          "reach the light floor: median / p90 | ... reach theta: median / p90 |\n|---|---|---|---|")
    for share, out in found.items():
        v = np.array(out)
        print(f"| 1/{share} of the collection | {np.median(v[:, 0]):.3f} | {np.median(v[:, 1]):,.0f} / "
              f"{np.percentile(v[:, 1], 90):,.0f} | {np.median(v[:, 2]):,.0f} / {np.percentile(v[:, 2], 90):,.0f} |")


def built(args: argparse.Namespace) -> None:
    import statistics
    import time

    service = SearchService(args.index)
    service.warm()
    arrays = service.current().arrays
    n = arrays.size
    questions = [q for _, q, _ in load(every=args.every, limit=args.limit)]
    exact: list[tuple[float, float]] = []  # per call: share of the documents, share of the cells they lie in
    real = ranking.Ranker._exact

    def counting(self, light_sums, heavy, scored, docs):
        exact.append((len(docs) / n, len(np.unique(arrays.cell_of[docs])) / len(arrays.cell_starts)))
        return real(self, light_sums, heavy, scored, docs)

    ranking.Ranker._exact = counting
    phases: dict[bool, dict[str, float]] = {True: {}, False: {}}
    timing = [True]  # the mode being timed
    for name in ("_pruned", "_stage_one", "_exact", "_list_bound", "_add_listed", "_folded_docs"):
        inner = getattr(ranking.Ranker, name)

        def timed(self, *a, _inner=inner, _name=name, **k):
            start = time.perf_counter()
            try:
                return _inner(self, *a, **k)
            finally:
                into = phases[timing[0]]
                into[_name] = into.get(_name, 0.0) + time.perf_counter() - start

        setattr(ranking.Ranker, name, timed)
    pages: dict[bool, list] = {True: [], False: []}
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    each: dict[bool, list[float]] = {}
    shares: list[tuple[float, float]] = []
    for q in questions:  # warm both paths
        service.search(SearchRequest(q=q, per_page=10))
    for r in range(args.rounds):
        for on in (True, False):
            ranking.PRUNING = on
            timing[0] = on
            phases[on].clear()  # the last round's
            spent = []
            for q in questions:
                before = len(exact)
                t = time.process_time()
                result = service.search(SearchRequest(q=q, per_page=10))
                spent.append((time.process_time() - t) * 1000)
                if r == 0:
                    pages[on].append((result.total, result.facets,
                                      [(h.id, h.score, h.snippet_html) for h in result.hits]))
                    if on and len(exact) - before == 2:  # the sample, then what could still reach the floor
                        shares.append(exact[-1])
            each[on] = spent[:]  # the last round's, question by question
            spent.sort()
            times[on].append((statistics.median(spent), spent[int(0.95 * len(spent))]))
    same = sum(a == b for a, b in zip(pages[True], pages[False], strict=True))
    docs, cells = (statistics.median(x) for x in zip(*shares, strict=True)) if shares else (0.0, 0.0)
    print(f"{len(questions)} questions, {n:,} documents; pruned {len(shares)}, scoring exactly a median "
          f"{docs:.3f} of the collection, in {cells:.2f} of its cells of 64; pages identical: {same} of "
          f"{len(questions)}")
    for on in (True, False):
        print(("pruned    " if on else "exhaustive"), "CPU ms p50 / p95 per round:",
              ", ".join(f"{a:.1f} / {b:.1f}" for a, b in times[on]))
    faster = sum(a < b for a, b in zip(each[True], each[False], strict=True))
    print(f"pruned faster than exhaustive for {faster} of {len(questions)} questions (last round)")
    for on in (True, False):  # nested: _add_listed runs inside _stage_one and _pruned, _exact inside _pruned...
        print(("pruned    " if on else "exhaustive"), "wall ms a question, last round:",
              ", ".join(f"{k} {v * 1000 / len(questions):.2f}" for k, v in sorted(phases[on].items(),
                                                                                 key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
