"""What recording readers' searches costs: the same requests with ANALYTICS on and off, alternating runs.

    .venv/bin/python bench/analytics.py --index /tmp/ix48k --every 5 [--limit N] [--rounds 4] [--clients 2]
        [--workers 2] [--warmup 2]

Two servers over the same built index, both started as operators run them
(``gunicorn -c python:searchsvc.gunicorn_conf -w 2 --preload 'searchsvc:create_app()'``, served.py), one with
``SEARCHSVC_ANALYTICS=1`` (its database in this run's temporary directory), one with ``SEARCHSVC_ANALYTICS=0``.
Requests: the UIT-ViNewsQA dev questions picked with --every/--limit (as bench/latency.py), each as
``/api/search?q=…&per_page=10``, and every third also as the search page ``/?q=…``; the same list, in the same
order, for both. Each server first answers the list --warmup times (both workers' caches), untimed. Then --rounds
rounds of: the list on the server with analytics on, then on the one with it off (on, off, on, off, …), each run
sent by --clients threads sharing the list (2: both workers busy, so the writer thread competes with searches for
the two cores), every request timed at the client (send to last byte).

Reported per run and as the median over runs of each mode: median, p95, requests/s; the target is p95 with
analytics on within 5 % of p95 with it off (medians of the runs' p95, the machine being noisy). Then both servers
are stopped (SIGTERM: workers write what they hold at exit) and the database is checked: every search request
sent to the server with analytics on (warm-up included) recorded exactly once, or counted as not recorded
(``lost``); the server with analytics off wrote no file. Writes bench/results/analytics-<timestamp>.json; exit
status 1 when a target or the count is missed, or a request failed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relevance import EVAL, load  # noqa: E402  (bench/ is not a package)
from served import HOST, start_gunicorn, stop_gunicorn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_P95_RATIO = 1.05


def request_list(questions: list[str]) -> list[tuple[str, str]]:
    """(query, path): every question through the API, every third also through the search page."""
    out = []
    for i, q in enumerate(questions):
        out.append((q, "/api/search?" + urlencode({"q": q, "per_page": 10})))
        if i % 3 == 0:
            out.append((q, "/?" + urlencode({"q": q})))
    return out


def run(port: int, requests: list[tuple[str, str]], clients: int) -> dict[str, Any]:
    """The list once, shared by ``clients`` threads with a connection each: latencies (ms) and failures."""
    times: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    taken = 0

    def client() -> None:
        nonlocal taken
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        try:
            while True:
                with lock:
                    if taken >= len(requests):
                        return
                    _, path = requests[taken]
                    taken += 1
                start = time.perf_counter()
                try:
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    resp.read()
                    status = resp.status
                    if resp.will_close:
                        conn.close()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    status = f"{type(exc).__name__}: {exc}"
                ms = (time.perf_counter() - start) * 1000
                with lock:
                    times.append(ms)
                    if status != 200:
                        failures.append(f"{path}: {status}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {"requests": len(times), "seconds": round(elapsed, 2), "requests_per_s": round(len(times) / elapsed, 1),
            "median_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1),
            "p99_ms": round(percentile(times, 99), 1), "failures": len(failures), "failure_examples": failures[:5]}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def recorded(db: Path) -> tuple[Counter, int]:
    """The queries recorded, and the searches counted as not recorded."""
    if not db.is_file():
        return Counter(), 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        queries = Counter(q for (q,) in conn.execute("SELECT query FROM searches"))
        lost = int(conn.execute("SELECT total(searches) FROM lost").fetchone()[0])
        return queries, lost
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="a built index (bench/index.py --keep DIR)")
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=4, help="runs of each mode, alternating on and off")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    if not EVAL.is_dir():
        sys.exit(f"skipped: {EVAL} is absent")
    questions = [q for _, q, _ in load(args.every, args.limit)]
    requests = request_list(questions)
    work = Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    db = work / "on" / "analytics" / "searches.sqlite3"
    servers: dict[str, tuple[Any, int]] = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    result: dict[str, Any] = {"index": str(args.index), "questions": len(questions), "requests_per_run": len(requests),
                              "clients": args.clients, "workers": args.workers, "rounds": args.rounds,
                              "warmup_passes": args.warmup}
    try:
        for mode, flag in (("on", "1"), ("off", "0")):
            (work / mode).mkdir()
            env = {"SEARCHSVC_ANALYTICS": flag, "SEARCHSVC_ANALYTICS_PATH": str(work / mode / "analytics" /
                                                                                "searches.sqlite3")}
            servers[mode] = start_gunicorn(args.index, work / mode, args.workers, env=env)
            print(f"analytics {mode}: gunicorn on port {servers[mode][1]}", file=sys.stderr)
        sent_on: Counter = Counter()
        for mode in ("on", "off"):
            for _ in range(args.warmup):
                warm = run(servers[mode][1], requests, args.clients)
                if warm["failures"]:
                    sys.exit(f"warm-up failed ({mode}): {warm['failure_examples']}")
                if mode == "on":
                    sent_on.update(q for q, _ in requests)
        runs: list[dict[str, Any]] = []
        for r in range(args.rounds):
            for mode in ("on", "off"):
                res = {"round": r + 1, "analytics": mode, **run(servers[mode][1], requests, args.clients)}
                if mode == "on":
                    sent_on.update(q for q, _ in requests)
                runs.append(res)
                print(f"round {r + 1} analytics {mode:3}: median {res['median_ms']:6.1f} ms  p95 {res['p95_ms']:6.1f}"
                      f" ms  {res['requests_per_s']:5.1f} req/s  failures {res['failures']}", file=sys.stderr)
        result["runs"] = runs
    finally:
        for proc, _ in servers.values():
            stop_gunicorn(proc)
    summary = {}
    for mode in ("on", "off"):
        mine = [r for r in result.get("runs", []) if r["analytics"] == mode]
        summary[mode] = {k: round(statistics.median(r[k] for r in mine), 1)
                         for k in ("median_ms", "p95_ms", "p99_ms", "requests_per_s")}
    result["medians"] = summary
    ratio = summary["on"]["p95_ms"] / summary["off"]["p95_ms"]
    result["p95_ratio_on_off"] = round(ratio, 3)
    queries, lost = recorded(db)
    once = queries == sent_on
    result["recording"] = {
        "search_requests_sent": sum(sent_on.values()), "recorded": sum(queries.values()), "lost": lost,
        "each_exactly_once": once,
        "accounted_for": sum(queries.values()) + lost == sum(sent_on.values()) and all(
            queries[q] <= n for q, n in sent_on.items()) and not set(queries) - set(sent_on),
        "off_server_wrote_nothing": not (work / "off" / "analytics").exists(),
    }
    failures = sum(r["failures"] for r in result["runs"])
    missed = []
    if ratio > TARGET_P95_RATIO:
        missed.append(f"p95 with analytics {ratio:.3f} times without (target ≤ {TARGET_P95_RATIO})")
    if not result["recording"]["accounted_for"]:
        missed.append("searches neither recorded once nor counted as lost")
    if not result["recording"]["off_server_wrote_nothing"]:
        missed.append("the server with ANALYTICS=0 wrote a database")
    if failures:
        missed.append(f"{failures} requests failed")
    result["missed"] = missed
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = ROOT / "bench" / "results" / f"analytics-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, ensure_ascii=False, indent=2))
    print(f"written to {out}", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
