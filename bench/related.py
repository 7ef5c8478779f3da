"""Related articles (the article page and GET /api/articles/<id>), timed in-process.

    python bench/related.py --index /path/to/48k-index [--every 500]

Asks SearchService.related for every k-th article of the index, twice: the
first pass cold (posting lists read from disk), the second warm. Reports
median, p95 and max, and how often a suggestion repeats the article's own
title (the same story under another id).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from relevance import ROOT, timing  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--every", type=int, default=500)
    args = ap.parse_args()

    from searchsvc.analysis.vietnamese import load_model
    from searchsvc.engine.search import SearchService

    load_model()
    service = SearchService(args.index)
    service.warm()
    reader = service.current().searcher.reader()
    articles = [reader.stored_fields(n) for n in range(0, reader.doc_count_all(), args.every)
                if not reader.is_deleted(n)]
    result: dict = {"index_documents": service.health()["documents"]}
    repeats = 0
    for label in ("cold", "warm"):
        times = []
        for stored in articles:
            start = time.perf_counter()
            hits = service.related(stored["id"])
            times.append((time.perf_counter() - start) * 1000)
            repeats += label == "warm" and any(h.title.strip().lower() == stored["title"].strip().lower() for h in hits)
        result[label] = {**timing(times), "asks": len(times)}
    result["own_title_repeated"] = round(repeats / len(articles), 3)
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"related-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
