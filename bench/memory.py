"""Memory, start-up and latency of the served index, as issue 16 measures them.

    .venv/bin/python bench/memory.py --index /tmp/ix48k [--index /tmp/ix148k] [--workers 2 --workers 4]
        [--questions 300] [--clients 8] [--requests 600]

For each index and worker count: start the README's production command
(``gunicorn -c python:searchsvc.gunicorn_conf -w N --preload 'searchsvc:create_app()'``, bench/served.py) and time
it until /healthz answers with every worker running ("ready"), and until the first search is answered; ask the
first --questions UIT-ViNewsQA dev questions once (first round: every list is read for the first time by
whichever worker answers) and again (second round), one client, ``GET /api/search?q=...&per_page=10``;
then --clients threads share --requests more (requests/s). For each round, the workers' page faults and CPU time
per question (/proc/PID/stat: what part of a reply's time the worker computes). Then each worker's memory from
``/proc/PID/smaps_rollup``: RSS, PSS, USS (private clean + dirty) and ``Private_Dirty`` (what no other process
can share and the kernel cannot drop: the issue's budget, 150 MiB), and from ``/proc/PID/smaps`` the resident
pages mapped from the index's files (page cache, shared by every worker and reclaimable; not in the budget).

Prints a table and writes bench/results/memory-<timestamp>.json. An index given more than once (``--index A --index B
--index A --index B``: alternating, since a shared machine's load drifts) gets the median of its second-round p95.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relevance import load  # noqa: E402  (bench/ is not a package)
from served import get, start_gunicorn, stop_gunicorn, worker_pids  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUDGET_PRIVATE_DIRTY_MIB = 150


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def ask(port: int, q: str) -> float:
    start = time.perf_counter()
    status, body = get(port, "/api/search?" + urlencode({"q": q, "per_page": 10}))
    elapsed = (time.perf_counter() - start) * 1000
    if status != 200 or not json.loads(body)["hits"]:
        raise SystemExit(f"{q!r}: {status} {body[:200]!r}")
    return elapsed


def round_of(port: int, questions: list[str]) -> dict[str, float]:
    times = [ask(port, q) for q in questions]
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(percentile(times, 95), 1),
            "max_ms": round(max(times), 1)}


def throughput(port: int, questions: list[str], clients: int, requests: int) -> dict[str, float]:
    lock = threading.Lock()
    taken = [0]
    times: list[float] = []
    errors: list[str] = []

    def client() -> None:
        while True:
            with lock:
                if taken[0] >= requests:
                    return
                i = taken[0]
                taken[0] += 1
            try:
                t = ask(port, questions[i % len(questions)])
            except (OSError, SystemExit) as exc:
                errors.append(str(exc))
                continue
            with lock:
                times.append(t)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    return {"requests_per_s": round(len(times) / seconds, 1), "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(percentile(times, 95), 1), "errors": len(errors)}


def rollup(pid: int) -> dict[str, int]:
    """smaps_rollup's fields in KiB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        out[name] = int(value.split()[0])
    return out


def index_pages_kib(pid: int, index_dir: Path) -> int:
    """Resident KiB of the mappings of the index's own files (page cache)."""
    total, inside = 0, False
    prefix = str(index_dir.resolve())
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        first = line.split(maxsplit=5)
        if len(first) >= 5 and "-" in first[0] and ":" not in first[0]:
            inside = len(first) == 6 and first[5].startswith(prefix)
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def memory(master: int, index_dir: Path) -> list[dict[str, float]]:
    out = []
    for pid in sorted(worker_pids(master)):
        r = rollup(pid)
        out.append({
            "pid": pid,
            "rss_mib": round(r["Rss"] / 1024, 1),
            "pss_mib": round(r["Pss"] / 1024, 1),
            "uss_mib": round((r["Private_Clean"] + r["Private_Dirty"]) / 1024, 1),
            "private_dirty_mib": round(r["Private_Dirty"] / 1024, 1),
            "index_pages_mib": round(index_pages_kib(pid, index_dir) / 1024, 1),
        })
    return out


def counters(master: int) -> dict[int, tuple[int, int, float]]:
    """Each worker's minor and major page faults and CPU seconds so far, from /proc/PID/stat."""
    out = {}
    for pid in worker_pids(master):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out[pid] = (int(fields[7]), int(fields[9]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return out


def spent(before: dict[int, tuple[int, int, float]], after: dict[int, tuple[int, int, float]],
          asked: int) -> dict[str, float]:
    """What the workers spent between two :func:`counters`: page faults (a minor one maps a page already in the
    page cache into the worker; a major one reads it from disk) and CPU time per question asked."""
    delta = [tuple(a - b for a, b in zip(after[pid], before[pid], strict=True)) for pid in after if pid in before]
    return {"minor_faults": sum(int(d[0]) for d in delta), "major_faults": sum(int(d[1]) for d in delta),
            "worker_cpu_ms_per_question": round(sum(d[2] for d in delta) * 1000 / asked, 1)}


def articles(index_dir: Path) -> int:
    gen = (index_dir / "CURRENT").read_text().strip()
    return int(json.loads((index_dir / gen / "meta.json").read_text())["documents"])


def run(index_dir: Path, workers: int, questions: list[str], clients: int, requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        workdir = Path(tmp)
        start = time.perf_counter()
        proc, port = start_gunicorn(index_dir, workdir, workers)
        ready = time.perf_counter() - start
        try:
            at_start = memory(proc.pid, index_dir)
            ask(port, questions[0])
            first_answer = time.perf_counter() - start
            before = counters(proc.pid)
            first = round_of(port, questions)
            between = counters(proc.pid)
            second = round_of(port, questions)
            after = counters(proc.pid)
            loaded = throughput(port, questions, clients, requests)
            mem = memory(proc.pid, index_dir)
        finally:
            stop_gunicorn(proc)
    return {
        "index": str(index_dir), "articles": articles(index_dir), "workers": workers,
        "ready_s": round(ready, 2), "first_answer_s": round(first_answer, 2),
        "first_round": first | spent(before, between, len(questions)),
        "second_round": second | spent(between, after, len(questions)), f"clients_{clients}": loaded,
        "memory_at_start": at_start, "memory": mem,
        "first_over_second_p95": round(first["p95_ms"] / second["p95_ms"], 2),
        "max_private_dirty_mib": max(m["private_dirty_mib"] for m in mem),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, action="append", required=True)
    ap.add_argument("--workers", type=int, action="append")
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=600)
    args = ap.parse_args()
    questions = [q for _, q, _ in load(every=1, limit=args.questions)]
    runs = []
    for index_dir in args.index:
        for workers in args.workers or [2]:
            result = run(index_dir, workers, questions, args.clients, args.requests)
            runs.append(result)
            print(json.dumps(result, ensure_ascii=False), flush=True)
    print()
    print("| articles | workers | ready | first answer | first round p50/p95 | second round p50/p95 | "
          f"{args.clients} clients req/s | per worker RSS / PSS / USS / Private_Dirty | index pages mapped |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        mem = "; ".join(f"{m['rss_mib']:.0f} / {m['pss_mib']:.0f} / {m['uss_mib']:.0f} / {m['private_dirty_mib']:.0f}"
                        for m in r["memory"])
        pages = "; ".join(f"{m['index_pages_mib']:.0f}" for m in r["memory"])
        loaded = r[f"clients_{args.clients}"]
        print(f"| {r['articles']:,} | {r['workers']} | {r['ready_s']} s | {r['first_answer_s']} s | "
              f"{r['first_round']['p50_ms']} / {r['first_round']['p95_ms']} ms | "
              f"{r['second_round']['p50_ms']} / {r['second_round']['p95_ms']} ms | {loaded['requests_per_s']} | "
              f"{mem} MiB | {pages} MiB |")
    repeated = {}  # an index given several times (alternating with another: a noisy machine's fair comparison)
    for r in runs:
        repeated.setdefault((r["articles"], r["workers"]), []).append(r["second_round"]["p95_ms"])
    if any(len(p95s) > 1 for p95s in repeated.values()):
        print()
        for (articles, workers), p95s in sorted(repeated.items()):
            print(f"{articles:,} articles, {workers} workers: second-round p95 over {len(p95s)} runs "
                  f"{', '.join(map(str, p95s))} ms, median {statistics.median(p95s)} ms")
    out = ROOT / "bench" / "results" / f"memory-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"runs": runs, "argv": sys.argv[1:]}, ensure_ascii=False, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}")
    missed = [r for r in runs if r["max_private_dirty_mib"] > BUDGET_PRIVATE_DIRTY_MIB]
    if missed:
        print(f"Private_Dirty over {BUDGET_PRIVATE_DIRTY_MIB} MiB in {len(missed)} run(s)")


if __name__ == "__main__":
    main()
