"""Soak: minutes of mixed load on gunicorn (2 workers) while the index is rebuilt, then updated, under it.

    python bench/soak.py [--minutes 10] [--limit 2000] [--add 100] [--clients 4] [--rate 10] [--jobs 2]

Index: the first --limit articles of ../shared/corpus/*.jsonl.gz (half from each file), or the demo articles
(searchsvc/demo) when ../shared is absent or with --demo. The slice is written to a temporary directory, indexed
with ``searchsvc reindex --full`` and served by
``gunicorn -c python:searchsvc.gunicorn_conf -w 2 --preload 'searchsvc:create_app()'`` on 127.0.0.1.

Load: --clients threads share a bounded rate (--rate requests/s in all) over a fixed, seeded mix: /api/search
(queries from the slice's headlines, with and without diacritics, some filtered or sorted by date), /api/suggest,
the search page, /api/articles/<id>, /healthz, and a few requests that must be refused (400, 404).

While it runs: at 25 % of the time a full rebuild (``reindex --full``), at 55 % an incremental reindex that adds
the next --add articles of the corpus (or tests/serving_fixtures with the demo). The workers must pick up both
generations without a restart.

Prints requests, errors (connection failures and any status other than the one expected: 200, or the 400/404
asked for), p50/p95 latency, the workers' RSS (VmRSS) after the warm-up and at the end and its growth (target
≤ 10 %; also from just after the first switch, which replaces the tables shared since the fork), and their PSS
(shared pages counted by share: what a worker costs on its own). Writes the same as JSON, with the memory every
5 s, to bench/results/soak-*.json. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from served import (  # noqa: E402  (bench/ is not a package)
    env_for,
    get,
    pss_kib,
    rss_kib,
    start_gunicorn,
    stop_gunicorn,
    worker_pids,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEMO = ROOT / "searchsvc" / "demo"
DEMO_EXTRA = ROOT / "tests" / "serving_fixtures" / "khinh-khi-cau.jsonl"
WORKERS = 2
RSS_GROWTH_TARGET = 10.0  # percent
FIELDS = ("id", "title", "sapo", "body", "category", "published", "url", "source", "views")
GENERIC_QUERIES = ("Hà Nội", "giá vàng", "bóng đá", "tai nạn giao thông", "học sinh", "thị trường chứng khoán",
                   "bệnh viện", "ha noi", "gia xang", "cong an")


# --- the articles -------------------------------------------------------------------------------------------------


def corpus_slice(limit: int, extra: int) -> tuple[list[dict], list[dict]]:
    """The first ``limit`` articles (half from each corpus file) and the ``extra`` that follow them."""
    files = sorted((SHARED / "corpus").glob("*.jsonl.gz"))
    per_file = [limit // len(files) + (i < limit % len(files)) for i in range(len(files))]
    base: list[dict] = []
    more: list[dict] = []
    for path, n in zip(files, per_file, strict=True):
        m = extra // len(files) + (path == files[0]) * (extra % len(files))
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= n + m:
                    break
                d = json.loads(line)
                (base if i < n else more).append({k: d[k] for k in FIELDS if k in d})
    return base, more


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: Path, articles: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for a in articles:
            f.write(json.dumps(a, ensure_ascii=False) + "\n")


def unaccent(text: str) -> str:
    """As typed without diacritics: ``Hà Nội`` → ``Ha Noi``."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_WORD = re.compile(r"\w+")


def request_mix(articles: list[dict], seed: int = 7) -> list[tuple[str, str, int]]:
    """(kind, path, expected status) of every request the load may send; kinds repeat by weight."""
    rng = random.Random(seed)
    sample = rng.sample(articles, min(40, len(articles)))
    queries = list(GENERIC_QUERIES)
    for a in sample:
        words = _WORD.findall(a["title"])
        if len(words) >= 2:
            start = rng.randrange(max(1, len(words) - 3))
            q = " ".join(words[start:start + rng.choice((2, 3, 4))])
            queries += [q, unaccent(q).lower()]
    categories = sorted({a.get("category") for a in articles if a.get("category")})
    mix: list[tuple[str, str, int]] = []
    for q in queries:
        mix.append(("search", "/api/search?" + urlencode({"q": q}), 200))
    for q in queries[::4]:
        mix.append(("search", "/api/search?" + urlencode({"q": q, "sort": "newest", "per_page": 20}), 200))
    for q, c in zip(queries[1::5], categories * 10, strict=False):
        mix.append(("search", "/api/search?" + urlencode({"q": q, "category": c}), 200))
    for a in sample[:20]:
        words = _WORD.findall(unaccent(a["title"]).lower())
        if len(words) >= 2:
            prefix = f"{words[0]} {words[1][: max(1, len(words[1]) - 1)]}"
            mix.append(("suggest", "/api/suggest?" + urlencode({"q": prefix}), 200))
    for q in queries[::3]:
        mix.append(("page", "/?" + urlencode({"q": q}), 200))
    for a in sample[:10]:
        word = (_WORD.findall(a["title"]) or [""])[0]
        mix.append(("article", f"/api/articles/{quote(a['id'], safe='')}?" + urlencode({"q": word}), 200))
    mix += [("healthz", "/healthz", 200)] * 6
    mix += [("refused", "/api/search?" + urlencode({"q": "tin", "per_page": 500}), 400),
            ("refused", "/api/articles/khong-co-bai-nay", 404)] * 2
    rng.shuffle(mix)
    return mix


# --- the server -------------------------------------------------------------------------------------------------------



# --- load, reindexing, memory -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the load started
    kind: str
    seconds: float
    status: int
    error: str | None


class Load:
    """``clients`` threads sharing one pace: at most ``rate`` requests per second in all."""

    def __init__(self, port: int, mix: list[tuple[str, str, int]], clients: int, rate: float) -> None:
        self.port, self.mix, self.interval = port, mix, 1.0 / rate
        self.samples: list[Sample] = []
        self.errors: list[str] = []
        self._next = 0
        self._slot = time.monotonic()
        self._lock = threading.Lock()
        self.stopped = threading.Event()
        self.t0 = time.monotonic()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def start(self) -> None:
        self.t0 = self._slot = time.monotonic()
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self.stopped.set()
        for t in self._threads:
            t.join(90)

    def _take(self) -> tuple[float, tuple[str, str, int]]:
        with self._lock:
            self._slot = max(self._slot + self.interval, time.monotonic())
            item = self.mix[self._next % len(self.mix)]
            self._next += 1
            return self._slot, item

    def _run(self) -> None:
        while not self.stopped.is_set():
            when, (kind, path, expected) = self._take()
            self.stopped.wait(max(0.0, when - time.monotonic()))
            if self.stopped.is_set():
                return
            start = time.monotonic()
            error = None
            status = 0
            try:
                status, body = get(self.port, path)
                if status != expected:
                    error = f"at {start - self.t0:.1f} s: {kind} {path}: {status} (expected {expected}): {body[:200]!r}"
            except Exception as exc:  # a failed request: refused, reset, timed out
                error = f"at {start - self.t0:.1f} s: {kind} {path}: {type(exc).__name__}: {exc}"
            sample = Sample(start - self.t0, kind, time.monotonic() - start, status, error)
            with self._lock:
                self.samples.append(sample)


def reindex(index_dir: Path, workdir: Path, jobs: int, *args: str) -> dict[str, Any]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "searchsvc.cli", "reindex", "--index", str(index_dir), "--quiet", "--json",
         "--jobs", str(jobs), *args],
        env=env_for(index_dir, workdir), cwd=workdir, capture_output=True, text=True,
    )
    result: dict[str, Any] = {"args": list(args), "returncode": proc.returncode,
                              "seconds": round(time.monotonic() - start, 1)}
    try:
        result["summary"] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        result["stderr"] = proc.stderr[-2000:]
    return result


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long the load runs (default 10)")
    ap.add_argument("--limit", type=int, default=2000, help="articles of the corpus to index (default 2000)")
    ap.add_argument("--add", type=int, default=100, help="articles the incremental reindex adds (default 100)")
    ap.add_argument("--clients", type=int, default=4, help="client threads (default 4)")
    ap.add_argument("--rate", type=float, default=10.0, help="requests per second, all clients together")
    ap.add_argument("--jobs", type=int, default=2, help="reindex processes (default 2)")
    ap.add_argument("--warmup", type=float, default=30.0, help="seconds before the first RSS reading (default 30)")
    ap.add_argument("--demo", action="store_true", help="the demo articles even when ../shared is present")
    args = ap.parse_args()

    commit = git_commit()  # now: the run is long, and others commit meanwhile
    duration = args.minutes * 60
    warmup = min(args.warmup, duration / 5)
    workdir = Path(tempfile.mkdtemp(prefix="searchsvc-soak-"))
    index_dir = workdir / "index"
    proc = None
    try:
        if not args.demo and (SHARED / "corpus").is_dir():
            base, more = corpus_slice(args.limit, args.add)
            data = f"../shared/corpus, first {len(base)} articles (+{len(more)} added)"
        else:
            base = read_jsonl(DEMO / "articles.jsonl")
            more = read_jsonl(DEMO_EXTRA)
            data = f"searchsvc/demo/articles.jsonl, {len(base)} articles (+{len(more)} added)"
        slice_file, more_file = workdir / "slice.jsonl", workdir / "more.jsonl"
        write_jsonl(slice_file, base)
        write_jsonl(more_file, more)
        mix = request_mix(base)
        print(f"{data}; {len(mix)} distinct requests; {args.clients} clients at {args.rate:g} req/s for "
              f"{args.minutes:g} min; warm-up {warmup:.0f} s", flush=True)

        first = reindex(index_dir, workdir, args.jobs, "--full", str(slice_file))
        if first["returncode"] != 0:
            sys.exit(f"the first build failed: {first}")
        proc, port = start_gunicorn(index_dir, workdir, WORKERS, timeout=120)
        workers = worker_pids(proc.pid)
        load = Load(port, mix, args.clients, args.rate)
        load.start()

        reindexes: list[dict[str, Any]] = []

        def reindexing() -> None:
            plan = [(0.25, ("--full", str(slice_file))), (0.55, (str(slice_file), str(more_file)))]
            for share, reindex_args in plan:
                load.stopped.wait(max(0.0, load.t0 + share * duration - time.monotonic()))
                if load.stopped.is_set():
                    return
                start = time.monotonic() - load.t0
                result = reindex(index_dir, workdir, args.jobs, *reindex_args)
                result.update(start_s=round(start, 1), end_s=round(time.monotonic() - load.t0, 1))
                reindexes.append(result)
                print(f"  reindex {' '.join(reindex_args[:1])}…: {result.get('summary', result)}", flush=True)

        reindexer = threading.Thread(target=reindexing, daemon=True)
        reindexer.start()
        rss_series: list[dict[str, Any]] = []
        rss_start: dict[int, int] = {}
        pss_start: dict[int, int] = {}
        while (now := time.monotonic() - load.t0) < duration:
            pids = sorted(worker_pids(proc.pid))
            sample = {pid: rss_kib(pid) for pid in pids}
            pss = {pid: pss_kib(pid) for pid in pids}
            rss_series.append({"at_s": round(now), "rss_kib": sample, "pss_kib": pss})
            if not rss_start and now >= warmup:
                rss_start = {pid: kib for pid, kib in sample.items() if kib}
                pss_start = {pid: kib for pid, kib in pss.items() if kib}
                print(f"  after the warm-up ({now:.0f} s): RSS {fmt_rss(rss_start)}; PSS {fmt_rss(pss_start)}",
                      flush=True)
            time.sleep(min(5.0, max(0.1, duration - now)))
        load.stop()
        reindexer.join(600)
        rss_end = {pid: kib for pid in sorted(worker_pids(proc.pid)) if (kib := rss_kib(pid))}
        pss_end = {pid: kib for pid in sorted(worker_pids(proc.pid)) if (kib := pss_kib(pid))}
        status, body = get(port, "/healthz")
        health = json.loads(body) if status == 200 else {"status": status}
        workers_end = worker_pids(proc.pid)
    finally:
        if proc is not None:
            stop_gunicorn(proc)
        shutil.rmtree(workdir, ignore_errors=True)

    samples = load.samples
    errors = [s for s in samples if s.error]
    ok = [s.seconds for s in samples if not s.error]
    windows = [(r["start_s"], r["end_s"]) for r in reindexes]
    during = [s.seconds for s in samples if not s.error and any(a <= s.at <= b for a, b in windows)]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        if not s.error:
            by_kind[s.kind].append(s.seconds)
    growth = {pid: round(100 * (rss_end[pid] - kib) / kib, 1) for pid, kib in rss_start.items() if pid in rss_end}
    pss_growth = {pid: round(100 * (pss_end[pid] - kib) / kib, 1) for pid, kib in pss_start.items() if pid in pss_end}
    # The first switch replaces the tables built before the fork (shared with the master) with each worker's own:
    # a step, once. Growth from just after it to the end tells a leak from that step.
    after = [r for r in rss_series if reindexes and r["at_s"] >= reindexes[0]["end_s"] + 5]
    rss_settled = {pid: kib for pid, kib in after[0]["rss_kib"].items() if kib} if after else {}
    settled_growth = {pid: round(100 * (rss_end[pid] - kib) / kib, 1)
                      for pid, kib in rss_settled.items() if pid in rss_end}
    result = {
        "commit": commit,
        "searchsvc": str(Path(importlib.util.find_spec("searchsvc").origin).parent),
        "data": data,
        "minutes": args.minutes,
        "clients": args.clients,
        "rate_limit": args.rate,
        "workers": WORKERS,
        "requests": len(samples),
        "requests_per_s": round(len(samples) / duration, 1),
        "errors": len(errors),
        "error_examples": [s.error for s in errors[:10]],
        "statuses": dict(Counter(s.status for s in samples)),
        "latency_ms": {"p50": ms(percentile(ok, 50)), "p95": ms(percentile(ok, 95)),
                       "p99": ms(percentile(ok, 99)), "max": ms(max(ok, default=0.0))},
        "latency_ms_during_reindex": {"requests": len(during), "p50": ms(percentile(during, 50)),
                                      "p95": ms(percentile(during, 95))},
        "latency_ms_by_kind": {k: {"requests": len(v), "p50": ms(statistics.median(v)), "p95": ms(percentile(v, 95))}
                               for k, v in sorted(by_kind.items())},
        "slowest": [{"at_s": round(s.at, 1), "kind": s.kind, "ms": ms(s.seconds)}
                    for s in sorted((s for s in samples if not s.error), key=lambda s: -s.seconds)[:10]],
        "reindexes": reindexes,
        "health_at_end": health,
        "worker_pids_start": sorted(workers),
        "worker_pids_end": sorted(workers_end),
        "rss_kib_start": rss_start,
        "rss_kib_end": rss_end,
        "rss_growth_pct": growth,
        "rss_growth_target_pct": RSS_GROWTH_TARGET,
        "rss_kib_after_first_switch": rss_settled,
        "rss_growth_after_first_switch_pct": settled_growth,
        "pss_kib_start": pss_start,
        "pss_kib_end": pss_end,
        "pss_growth_pct": pss_growth,
        "rss_series": rss_series,
    }
    expected_gen = first["summary"]["generation"]
    missed = []
    if errors:
        missed.append(f"{len(errors)} errors")
    if not growth or max(growth.values()) > RSS_GROWTH_TARGET:
        missed.append(f"RSS growth {growth} above {RSS_GROWTH_TARGET} %")
    if workers_end != workers:
        missed.append(f"workers replaced: {sorted(workers)} -> {sorted(workers_end)}")
    if len(reindexes) != 2 or any(r["returncode"] != 0 for r in reindexes):
        missed.append("a reindex did not run or failed")
    elif health.get("generation") != int(expected_gen.split("-")[1]) + 2:
        missed.append(f"served generation at the end: {health}")
    result["missed"] = missed

    print(json.dumps({k: v for k, v in result.items() if k != "rss_series"}, indent=2, ensure_ascii=False))
    print(f"requests {len(samples)}, errors {len(errors)}, p50 {result['latency_ms']['p50']} ms, "
          f"p95 {result['latency_ms']['p95']} ms; worker RSS {fmt_rss(rss_start)} -> {fmt_rss(rss_end)}, "
          f"growth {growth} % (target <= {RSS_GROWTH_TARGET:g} %), {settled_growth} % from after the first switch; "
          f"PSS {fmt_rss(pss_start)} -> {fmt_rss(pss_end)}")
    print("targets met" if not missed else "MISSED: " + "; ".join(missed))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    sys.exit(1 if missed else 0)


def git_commit() -> str:
    proc = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return proc.stdout.strip()


def fmt_rss(rss: dict[int, int]) -> str:
    return ", ".join(f"{pid}: {kib / 1024:.1f} MiB" for pid, kib in rss.items()) or "-"


if __name__ == "__main__":
    main()
