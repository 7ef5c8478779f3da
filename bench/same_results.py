"""Everything a search answers, written to a file to compare before and after a change that must not change it.

    python bench/same_results.py --index /tmp/ix48k4 OUT.json      # then: cmp BEFORE.json OUT.json

For 150 ViNewsQA dev questions (every 5th), as typed and without diacritics: the JSON of
``SearchService.search(SearchRequest(q=q, per_page=10))`` without ``took_ms``, each hit's score as Python
prints the float (the JSON rounds it), and a SHA-1 of every ``Ranker.rank`` result (all scores and the
matched mask, so a change below the first page shows too); for every 10th question also page 2 and
``sort=newest``; for every 15th the article with its marks, for every 25th its related articles. A speed
change (issue 16) must leave the file byte for byte the same.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relevance import load  # noqa: E402

from searchsvc.analysis.vietnamese import fold  # noqa: E402
from searchsvc.engine import ranking  # noqa: E402
from searchsvc.engine.search import SearchRequest, SearchService  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True, type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    digests: list[str] = []
    rank = ranking.Ranker.rank

    def recorded(self, *a, **k):
        r = rank(self, *a, **k)
        digests.append(hashlib.sha1(r.scores.tobytes() + r.matched.tobytes()).hexdigest())
        return r

    ranking.Ranker.rank = recorded
    svc = SearchService(args.index)
    out: list = []
    for i, (_, q, _) in enumerate(load(every=5, limit=150)):
        asks = [SearchRequest(q=q, per_page=10), SearchRequest(q=fold(q), per_page=10)]
        if i % 10 == 0:
            asks += [SearchRequest(q=q, per_page=10, page=2), SearchRequest(q=q, per_page=10, sort="newest")]
        for ask in asks:
            result = svc.search(ask)
            answer = result.as_json()
            answer.pop("took_ms")
            answer["rank_digests"], answer["raw_scores"] = digests[:], [repr(h.score) for h in result.hits]
            digests.clear()
            out.append(answer)
        first = next((a["hits"][0]["id"] for a in reversed(out) if isinstance(a, dict) and a.get("hits")), None)
        if first and i % 15 == 0:
            out.append({k: str(v) for k, v in (svc.article(first, q) or {}).items()})
        if first and i % 25 == 0:
            out.append([h.as_json() for h in svc.related(first)])
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=0, default=str), encoding="utf-8")
    print(f"{len(out)} answers written to {args.out}")


if __name__ == "__main__":
    main()
