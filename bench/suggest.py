"""Autocomplete as a reader types: every prefix of remembered headline words, timed in-process.

    python bench/suggest.py --index /path/to/48k-index [--headlines 100]

Takes the headline queries of bench/relevance.py (4-7 consecutive words of a
corpus title), and for each asks SearchService.suggest with every prefix a
reader would send while typing it (one more character at a time, with and
without diacritics). The first pass is cold (posting lists read from disk);
the second, the same prefixes again, is warm. Reports median, p95 and max,
and how often the article's own title is among the 8 suggestions once the
whole phrase is typed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from relevance import ROOT, headlines, timing  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--headlines", type=int, default=100)
    args = ap.parse_args()
    corpus = ROOT.parent / "shared" / "corpus"
    if not corpus.is_dir():
        sys.exit(f"skipped: {corpus} is absent")

    from searchsvc.analysis.vietnamese import fold, load_model
    from searchsvc.engine.search import SearchService

    load_model()
    service = SearchService(args.index)
    start = time.perf_counter()
    service.warm()
    warm_s = time.perf_counter() - start
    known = headlines(args.headlines)
    prefixes = [text[:i] for _, words, _ in known for text in (words, fold(words)) for i in range(1, len(text) + 1)
                if not text[:i].endswith(" ")]
    result: dict = {"index_documents": service.health()["documents"], "tables_s": round(warm_s, 2)}
    for label in ("cold", "warm"):
        times = []
        for p in prefixes:
            start = time.perf_counter()
            service.suggest(p)
            times.append((time.perf_counter() - start) * 1000)
        result[label] = {**timing(times, 2), "asks": len(times)}
    found = 0
    for doc_id, words, _ in known:
        title = service.article(doc_id)["title"]
        found += title in service.suggest(words)
    result["own_title_in_suggestions"] = round(found / len(known), 3)
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"suggest-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
