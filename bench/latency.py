"""Search latency through HTTP at news scale: one warm client (median, p95), then throughput at 8 clients.

    .venv/bin/python bench/latency.py --index /tmp/bench/ix48k --every 5 [--limit N] [--workers 2] [--clients 8]
        [--warmup 1] [--requests N] [--seconds 120] [--port P] [--verbatim]

The index must be a built one, e.g. ../shared/corpus plus ../shared/eval/uit_vinewsqa/docs.jsonl (about 48k
articles; `python bench/index.py --keep DIR`). It is served by
``gunicorn -c python:searchsvc.gunicorn_conf -w 2 --preload 'searchsvc:create_app()'``
from this venv on 127.0.0.1 (SEARCHSVC_INDEX=DIR, as in docs/operations.md), started here and always stopped at
the end. Questions: the UIT-ViNewsQA dev questions, picked with --every/--limit as in bench/relevance.py.

Every request is ``GET /api/search?q=<question>&per_page=10``, timed client-side (wall time from sending the
request to the last byte of the answer); each answer must be 200 with hits that carry ``title_html`` and
``snippet_html``. The server's own ``took_ms`` is reported beside it, and ``http_overhead_ms`` is the difference
(HTTP, JSON, the client; at 8 clients also the wait for a free worker).

1. Warm-up: the whole question list --warmup times (default once) through the server, untimed. Caches (postings,
   segmentation) are per worker and a question reaches whichever worker accepts it, so after one pass a question
   has warmed one of the workers, not necessarily the one that answers it later.
2. Single client, sequential, one http.client connection (kept alive where the server allows it; gunicorn's sync
   workers close it after each answer, so each request also pays a loopback connect): median, p95, max.
3. --clients threads (default 8), each with its own connection, share the same questions in turn until --requests
   answers (default: one pass over the questions) or --seconds: requests/s, median, p95, errors.
4. Single client again with the questions without diacritics (``analysis.vietnamese.fold``), after warming those.

With --verbatim, between 2 and 3: each question asked as typed and with ``verbatim=1`` (the text taken as it is,
not read for Telex keys, typos or abbreviations), the two in turn: what the reading of issue 15 costs, paired.

Issue-3 targets (single client, with diacritics): p95 <= 100 ms, median <= 40 ms. Percentiles are nearest-rank.
Prints a JSON summary and writes it to bench/results/latency-<timestamp>.json. Exit status 1 when any request
failed; missed targets are listed under "missed".
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relevance import EVAL, load  # noqa: E402  (bench/ is not a package)
from served import HOST, get, pss_kib, rss_kib, start_gunicorn, stop_gunicorn, worker_pids  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PER_PAGE = 10
TARGET_P95_MS = 100.0
TARGET_MEDIAN_MS = 40.0
SLOWEST = 10  # slowest questions listed per single-client run


# --- the server -----------------------------------------------------------------------------------------------------


def worker_boots(log: Path) -> int:
    return len(re.findall(r"Booting worker with pid", log.read_text(errors="replace")))


# --- one request ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    qid: str
    query: str
    seconds: float  # client-side wall time
    status: int
    took_ms: float | None  # the server's own figure
    hits: int
    unmarked_hits: int  # hits with no <mark> in title_html nor snippet_html
    error: str | None
    reused: bool  # sent on a connection that was already open


def search_path(query: str, verbatim: bool = False) -> str:
    return "/api/search?" + urlencode({"q": query, "per_page": PER_PAGE, **({"verbatim": 1} if verbatim else {})})


class Client:
    """One HTTP connection, reopened when the server closes it."""

    def __init__(self, port: int, timeout: float = 60) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def close(self) -> None:
        self.conn.close()

    def ask(self, qid: str, query: str, verbatim: bool = False) -> Answer:
        path = search_path(query, verbatim)
        reused = self.conn.sock is not None
        status, took, hits, unmarked, error = 0, None, 0, 0, None
        start = time.perf_counter()
        try:
            self.conn.request("GET", path)
            resp = self.conn.getresponse()
            body = resp.read()
            seconds = time.perf_counter() - start
            status = resp.status
            if resp.will_close:
                self.conn.close()
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, malformed
            seconds = time.perf_counter() - start
            self.conn.close()
            return Answer(qid, query, seconds, 0, None, 0, 0, f"{type(exc).__name__}: {exc}", reused)
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if status != 200:
            error = f"status {status}: {body[:200]!r}"
        elif not isinstance(data, dict) or not isinstance(data.get("hits"), list):
            error = f"not a search answer: {body[:200]!r}"
        else:
            took = data.get("took_ms")
            hits = len(data["hits"])
            for h in data["hits"]:
                if not isinstance(h.get("title_html"), str) or not isinstance(h.get("snippet_html"), str):
                    error = f"a hit without title_html/snippet_html: {json.dumps(h, ensure_ascii=False)[:200]}"
                    break
                if "<mark>" not in h["title_html"] and "<mark>" not in h["snippet_html"]:
                    unmarked += 1
            if hits > PER_PAGE:
                error = f"{hits} hits for per_page={PER_PAGE}"
        return Answer(qid, query, seconds, status, took, hits, unmarked, error, reused)


# --- the phases -----------------------------------------------------------------------------------------------------


def warm_up(port: int, questions: list[tuple[str, str]], passes: int) -> dict[str, Any]:
    """The questions ``passes`` times, one client; summarized like a timed run (its slowest show cold costs)."""
    client = Client(port)
    start = time.perf_counter()
    try:
        answers = [client.ask(qid, q) for _ in range(passes) for qid, q in questions]
    finally:
        client.close()
    return summarize(answers, time.perf_counter() - start, slowest=5)


def single_client(port: int, questions: list[tuple[str, str]]) -> dict[str, Any]:
    client = Client(port)
    start = time.perf_counter()
    try:
        answers = [client.ask(qid, q) for qid, q in questions]
    finally:
        client.close()
    return summarize(answers, time.perf_counter() - start, slowest=SLOWEST)


def typed_and_verbatim(port: int, questions: list[tuple[str, str]]) -> dict[str, Any]:
    """Each question as typed (read for Telex, typos, abbreviations: issue 15) and with ``verbatim=1`` (taken as
    it is), one after the other in turn, one client: what reading a query costs, paired on the same warm server."""
    client = Client(port)
    typed: list[Answer] = []
    verbatim: list[Answer] = []
    start = time.perf_counter()
    try:
        for i, (qid, q) in enumerate(questions):
            for as_is in ((False, True) if i % 2 else (True, False)):
                (verbatim if as_is else typed).append(client.ask(qid, q, verbatim=as_is))
    finally:
        client.close()
    elapsed = time.perf_counter() - start
    out = summarize(typed, elapsed, slowest=SLOWEST)
    out["verbatim"] = summarize(verbatim, elapsed, slowest=SLOWEST)
    return out


def concurrent_clients(port: int, questions: list[tuple[str, str]], clients: int, requests: int,
                       seconds: float) -> dict[str, Any]:
    """``clients`` threads take the questions in turn until ``requests`` answers or ``seconds`` have passed."""
    answers: list[Answer] = []
    lock = threading.Lock()
    taken = 0
    go = threading.Event()
    deadline = 0.0

    def run() -> None:
        nonlocal taken
        client = Client(port)
        go.wait()
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if taken >= requests:
                        return
                    qid, q = questions[taken % len(questions)]
                    taken += 1
                answer = client.ask(qid, q)
                with lock:
                    answers.append(answer)
        finally:
            client.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    deadline = start + seconds
    go.set()
    for t in threads:
        t.join(seconds + 120)
    elapsed = time.perf_counter() - start
    result = summarize(answers, elapsed, slowest=5)
    result = {"clients": clients, "requests_per_s": round(len(answers) / elapsed, 1) if elapsed else 0.0,
              "stopped_by": "requests" if len(answers) >= requests else "seconds", **result}
    return result


def summarize(answers: list[Answer], elapsed: float, slowest: int) -> dict[str, Any]:
    ok = [a for a in answers if not a.error]
    errors = [a for a in answers if a.error]
    wall = [a.seconds * 1000 for a in ok]
    took = [a.took_ms for a in ok if a.took_ms is not None]
    overhead = [a.seconds * 1000 - a.took_ms for a in ok if a.took_ms is not None]
    result: dict[str, Any] = {
        "requests": len(answers),
        "seconds": round(elapsed, 1),
        "errors": len(errors),
        "error_examples": [f"{a.qid} {a.query!r}: {a.error}" for a in errors[:10]],
        "latency_ms": stats(wall),
        "server_took_ms": stats(took),
        "http_overhead_ms": {"median": r1(percentile(overhead, 50)), "p95": r1(percentile(overhead, 95))},
        "answers_without_hits": sum(1 for a in ok if a.hits == 0),
        "answers_with_fewer_than_10_hits": [f"{a.qid} {a.query!r}: {a.hits}" for a in ok if a.hits < PER_PAGE][:10],
        "hits_without_mark": sum(a.unmarked_hits for a in ok),
        "hits": sum(a.hits for a in ok),
        "requests_on_reused_connection": sum(1 for a in answers if a.reused),
    }
    if slowest:
        result["slowest"] = [
            {"qid": a.qid, "query": a.query, "ms": r1(a.seconds * 1000), "took_ms": a.took_ms}
            for a in sorted(ok, key=lambda a: a.seconds, reverse=True)[:slowest]
        ]
    return result


def stats(values_ms: list[float]) -> dict[str, float]:
    return {"median": r1(percentile(values_ms, 50)), "p95": r1(percentile(values_ms, 95)),
            "p99": r1(percentile(values_ms, 99)), "max": r1(max(values_ms, default=0.0)),
            "mean": r1(statistics.fmean(values_ms)) if values_ms else 0.0}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p % of the values at or below it."""
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))]


def r1(x: float) -> float:
    return round(x, 1)


# --- main -----------------------------------------------------------------------------------------------------------


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # so that the finally below stops gunicorn


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--index", type=Path, required=True, help="a built index directory (e.g. /tmp/bench/ix48k)")
    ap.add_argument("--every", type=int, default=1, help="use every k-th dev question (default 1)")
    ap.add_argument("--limit", type=int, default=None, help="at most N questions")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients in the throughput phase (default 8)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed passes over the whole question list before timing (default 1)")
    ap.add_argument("--requests", type=int, default=None,
                    help="answers in the throughput phase (default: one pass over the questions)")
    ap.add_argument("--seconds", type=float, default=120.0, help="time limit of the throughput phase (default 120)")
    ap.add_argument("--port", type=int, default=None, help="port for gunicorn on 127.0.0.1 (default: a free one)")
    ap.add_argument("--no-folded", action="store_true", help="skip the run without diacritics")
    ap.add_argument("--verbatim", action="store_true",
                    help="also ask each question with verbatim=1, in turn with the normal ask (the reading's cost)")
    args = ap.parse_args()
    if not EVAL.is_dir():
        sys.exit(f"skipped: {EVAL} is absent")
    if not (args.index / "CURRENT").is_file():
        sys.exit(f"{args.index} is not a built index (no CURRENT)")

    from searchsvc.analysis.vietnamese import fold

    questions = [(qid, q) for qid, q, _ in load(args.every, args.limit)]
    folded = [(qid, fold(q)) for qid, q in questions]
    requests = args.requests or len(questions)
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="searchsvc-latency-"))
    log = workdir / "gunicorn.log"
    proc = None
    result: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", "bench/latency.py", *sys.argv[1:]]),
        "index": str(args.index.resolve()),
        "questions": len(questions),
        "every": args.every,
        "limit": args.limit,
        "per_page": PER_PAGE,
        "workers": args.workers,
        "warmup_passes": args.warmup,
        "cpus": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        print(f"{len(questions)} dev questions; gunicorn -w {args.workers}, index {args.index}",
              file=sys.stderr, flush=True)
        proc, port = start_gunicorn(args.index.resolve(), workdir, args.workers, args.port or 0)
        boots = worker_boots(log)
        health = json.loads(get(port, "/healthz")[1])
        result.update(index_documents=health.get("documents"), generation=health.get("generation"),
                      health=health.get("status"))

        def phase(name: str, run: Callable[[], dict[str, Any]]) -> None:
            print(f"  {name}…", file=sys.stderr, flush=True)
            result[name] = run()
            r = result[name]
            print(f"  {name}: {r['requests']} requests, {r['errors']} errors, median {r['latency_ms']['median']} ms, "
                  f"p95 {r['latency_ms']['p95']} ms" + (f", {r['requests_per_s']} req/s" if "requests_per_s" in r
                                                        else ""), file=sys.stderr, flush=True)

        phase("warmup", lambda: warm_up(port, questions, args.warmup))
        phase("single_client", lambda: single_client(port, questions))
        if args.verbatim:
            phase("typed_and_verbatim", lambda: typed_and_verbatim(port, questions))
            v = result["typed_and_verbatim"]["verbatim"]["latency_ms"]
            print(f"  verbatim=1: median {v['median']} ms, p95 {v['p95']} ms", file=sys.stderr, flush=True)
        phase("concurrent", lambda: concurrent_clients(port, questions, args.clients, requests, args.seconds))
        if not args.no_folded:
            phase("warmup_without_diacritics", lambda: warm_up(port, folded, args.warmup))
            phase("single_client_without_diacritics", lambda: single_client(port, folded))
        result["worker_boots"] = {"start": boots, "end": worker_boots(log)}  # more at the end: a worker was replaced
        # Each worker after every question was asked in it: its posting cache and tables at this index's size.
        workers = sorted(worker_pids(proc.pid))
        result["worker_memory_mib"] = {
            "rss": [round((rss_kib(p) or 0) / 1024, 1) for p in workers],
            "pss": [round((pss_kib(p) or 0) / 1024, 1) for p in workers],
        }
    finally:
        if proc is not None:
            stop_gunicorn(proc)
        server_log = log.read_text(errors="replace") if log.is_file() else ""
        shutil.rmtree(workdir, ignore_errors=True)
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    problems = [line for line in server_log.splitlines()
                if re.search(r"\[(ERROR|CRITICAL)\]|WORKER TIMEOUT|Traceback", line)]
    result["server_log_problems"] = problems[:20]

    single = result["single_client"]["latency_ms"]
    result["targets"] = {"median_ms": TARGET_MEDIAN_MS, "p95_ms": TARGET_P95_MS}
    missed = []
    if single["median"] > TARGET_MEDIAN_MS:
        missed.append(f"median {single['median']} ms > {TARGET_MEDIAN_MS:g} ms")
    if single["p95"] > TARGET_P95_MS:
        missed.append(f"p95 {single['p95']} ms > {TARGET_P95_MS:g} ms")
    result["missed"] = missed
    failed = sum(result[k]["errors"] for k in ("warmup", "single_client", "concurrent", "warmup_without_diacritics",
                                                 "single_client_without_diacritics") if k in result)

    print(json.dumps(result, indent=2, ensure_ascii=False))
    conc = result["concurrent"]
    print(f"single client: median {single['median']} ms, p95 {single['p95']} ms "
          f"(server took_ms median {result['single_client']['server_took_ms']['median']}, "
          f"p95 {result['single_client']['server_took_ms']['p95']}); {conc['clients']} clients: "
          f"{conc['requests_per_s']} req/s, median {conc['latency_ms']['median']} ms, "
          f"p95 {conc['latency_ms']['p95']} ms; errors {failed}", file=sys.stderr)
    print("targets met" if not missed else "MISSED: " + "; ".join(missed), file=sys.stderr)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"latency-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"written to {path.relative_to(ROOT)}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
