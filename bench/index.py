"""Index build benchmark: full build, pyvi-only baseline, incremental re-run, size and memory.

    python bench/index.py [--jobs 2] [--limit N] [--skip-pyvi] [--extra] [--keep DIR]

Sources: ../shared/corpus/*.jsonl.gz plus ../shared/eval/uit_vinewsqa/docs.jsonl
(47,897 articles); with --extra also ../shared/corpus-xl/extra.jsonl.gz (100,625
more, about 148,500 in all), to measure how cost grows with the collection.
Prints articles/s of the full build, the same run's pyvi-only segmentation
throughput over the same text with the same number of processes, their
ratio, the index size against the raw text, and peak RSS.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def sources(extra: bool = False) -> list[Path]:
    paths = sorted((SHARED / "corpus").glob("*.jsonl.gz")) + [SHARED / "eval" / "uit_vinewsqa" / "docs.jsonl"]
    return paths + [SHARED / "corpus-xl" / "extra.jsonl.gz"] if extra else paths


def read_texts(paths: list[Path], limit: int | None) -> list[tuple[str, str, str]]:
    texts = []
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                texts.append((d["title"], d.get("sapo", ""), d["body"]))
                if limit and len(texts) >= limit:
                    return texts
    return texts


def _pyvi_article(texts: tuple[str, str, str]) -> int:
    from pyvi import ViTokenizer

    n = 0
    for text in texts:
        for para in text.split("\n"):
            if para.strip():
                ViTokenizer.tokenize(para)
                n += len(para)
    return n


def pyvi_only(texts: list[tuple[str, str, str]], jobs: int) -> float:
    """Seconds for plain pyvi over the same text, per paragraph, in ``jobs`` processes."""
    from pyvi import ViTokenizer  # noqa: F401  (loaded before the fork, as the indexer does)

    start = time.perf_counter()
    with get_context("fork").Pool(jobs) as pool:
        for _ in pool.imap_unordered(_pyvi_article, texts, chunksize=64):
            pass
    return time.perf_counter() - start


def run(cmd: list[str]) -> tuple[float, dict, int]:
    """Wall seconds, the JSON summary, and the peak RSS (KiB) of the largest process it ran."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, json.loads(proc.stdout.strip().splitlines()[-1]), peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--limit", type=int, default=None, help="only the first N articles (quick runs)")
    ap.add_argument("--skip-pyvi", action="store_true", help="skip the pyvi-only baseline")
    ap.add_argument("--keep", type=Path, default=None, help="build the index here and keep it")
    ap.add_argument("--extra", action="store_true", help="add ../shared/corpus-xl (about 3x the articles)")
    args = ap.parse_args()
    needed = [SHARED / "corpus"] + ([SHARED / "corpus-xl"] if args.extra else [])
    for folder in needed:
        if not folder.is_dir():
            sys.exit(f"skipped: {folder} is absent")

    paths = sources(args.extra)
    texts = read_texts(paths, args.limit)
    chars = sum(len(t) + len(s) + len(b) for t, s, b in texts)
    raw_bytes = sum(len((t + s + b).encode("utf-8")) for t, s, b in texts)
    print(f"{len(texts)} articles, {chars / 1e6:.1f}M characters, {raw_bytes / 1e6:.1f} MB of text; jobs={args.jobs}")

    workdir = Path(tempfile.mkdtemp(prefix="searchsvc-bench-"))
    src = paths
    if args.limit:
        src = [workdir / "slice.jsonl"]
        with open(src[0], "w", encoding="utf-8") as f:
            for i, (t, s, b) in enumerate(texts):
                f.write(json.dumps({"id": f"a{i}", "title": t, "sapo": s, "body": b}, ensure_ascii=False) + "\n")
    index_dir = args.keep or (workdir / "index")
    if args.keep and index_dir.exists():
        shutil.rmtree(index_dir)
    exe = [sys.executable, "-m", "searchsvc.cli", "reindex", "--json", "--quiet", "--jobs", str(args.jobs),
           "--index", str(index_dir)]
    full_s, full, peak_kib = run([*exe, "--full", *map(str, src)])
    incr_s, incr, _ = run([*exe, *map(str, src)])
    gen = index_dir / f"gen-{int(full['generation'].split('-')[1]):06d}"
    size = sum(f.stat().st_size for f in gen.iterdir() if f.is_file())

    result = {
        "articles": len(texts),
        "characters": chars,
        "raw_text_bytes": raw_bytes,
        "jobs": args.jobs,
        "full_build_s": round(full_s, 1),
        "articles_per_s": round(len(texts) / full_s, 1),
        "index_bytes": size,
        "index_to_raw": round(size / raw_bytes, 2),
        "peak_rss_mib": round(peak_kib / 1024),
        "incremental_s": round(incr_s, 1),
        "incremental_to_full": round(incr_s / full_s, 3),
        "incremental_summary": {k: incr[k] for k in ("read", "added", "updated", "unchanged", "deleted", "failed")},
    }
    if not args.skip_pyvi:
        pyvi_s = pyvi_only(texts, args.jobs)
        result["pyvi_only_s"] = round(pyvi_s, 1)
        result["pyvi_articles_per_s"] = round(len(texts) / pyvi_s, 1)
        result["pyvi_chars_per_s"] = round(chars / pyvi_s)
        result["ratio_build_to_pyvi"] = round(pyvi_s / full_s, 3)
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"index-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
