"""Reindex while serving: gunicorn keeps answering, and answering right, through a full rebuild and an update.

The real service runs under gunicorn with 2 workers (the command of docs/operations.md) on a copy of the demo
index. A few client threads send a fixed mix of requests (JSON search with and without diacritics, filters and
sorting, autocomplete, the search page, /healthz) while ``searchsvc reindex --full`` and then an incremental
``searchsvc reindex`` that adds three new articles (``tests/serving_fixtures``, the word *khinh khí cầu*) run as
separate processes. Then:

- no request failed and every one answered 200 (the mix holds only valid requests, so no 4xx or 5xx);
- no answer mixes two generations: each one is consistent in itself (facet counts add up to the total, every hit
  is listed) and equals, as a whole, the answer of the old or of the new generation, never new hits with old
  totals or facets; /healthz's generation and document count belong together;
- requests sent a few seconds after the update returned all see the new articles, and so does each of the two
  workers, held apart on purpose (one is kept busy reading a request while the other answers);
- the workers that served are the ones that started: none crashed or was killed on the way;
- both workers map the new generation's postings, written by the reindex, and derived nothing themselves.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import DEMO_DIR, stop_gunicorn, worker_pids

pytestmark = pytest.mark.slow

NEW_ARTICLES = Path(__file__).parent / "serving_fixtures" / "khinh-khi-cau.jsonl"
NEW_IDS = {"serve-001", "serve-002", "serve-003"}
DEMO_DOCS = 33
WORKERS = 2
GRACE_S = 3.0  # "searchable within a few seconds of the switch": every request sent later must see the update
LOAD_THREADS = 3
PAUSE_S = 0.02  # between two requests of one client thread: a bounded rate
HTTP_TIMEOUT_S = 30.0
START_TIMEOUT_S = 60.0


def _url(path: str, **params: Any) -> str:
    return f"{path}?{urlencode(params)}"


# Every request of the load, by name. per_page=50 lists every hit of the demo index, so an answer can be compared
# with another as a whole without depending on how ties are ordered in differently segmented generations.
MIX: dict[str, str] = {
    "search khinh khí cầu": _url("/api/search", q="khinh khí cầu", per_page=50),
    "search khinh khi cau": _url("/api/search", q="khinh khi cau", per_page=50),
    "search ha noi": _url("/api/search", q="ha noi", per_page=50),
    "search Hà Nội ngập lụt": _url("/api/search", q="Hà Nội ngập lụt", per_page=50),
    "search tiem vac xin": _url("/api/search", q="tiem vac xin", per_page=50),
    "search xe buyt newest": _url("/api/search", q="xe buyt", sort="newest", per_page=50),
    "search le hoi category": _url("/api/search", q="le hoi", category="Văn hóa", per_page=50),
    "suggest khinh kh": _url("/api/suggest", q="khinh kh"),
    "suggest ha no": _url("/api/suggest", q="ha no"),
    "suggest xe bu": _url("/api/suggest", q="xe bu"),
    "page khinh khi cau": _url("/", q="khinh khi cau", per_page=50),
    "page ha noi": _url("/", q="ha noi", per_page=50),
    "healthz": "/healthz",
}
UNCHANGED = {"search tiem vac xin"}  # the new articles do not match it: its answer must not change at all

_PAGE_TOTAL = re.compile(r"Tìm thấy <strong>([\d.]+)</strong> kết quả")
_PAGE_HIT = re.compile(r'<h3 class="hit-title"><a href="([^"]+)"')


# --- the server -----------------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen
    host: str
    port: int
    log: Path

    def workers(self) -> set[int]:
        return worker_pids(self.proc.pid)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def last_error(self) -> str:
        """The end of the last traceback the server logged, to say why it answered 500."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        start = text.rfind("Traceback")
        return "\n".join(text[start:].splitlines()[-4:]) if start >= 0 else "(no traceback logged)"


def service_env(index_dir: Path, instance: Path) -> dict[str, str]:
    """This environment with the index named and no configuration from elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCHSVC_")}
    env["SEARCHSVC_INDEX"] = str(index_dir)
    env["SEARCHSVC_INSTANCE_PATH"] = str(instance)  # absent: no instance/config.py applies
    return env


@pytest.fixture
def served_index(tmp_index: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "index"
    shutil.copytree(tmp_index, dest)
    return dest


@pytest.fixture
def server(served_index: Path, tmp_path: Path) -> Iterator[Server]:
    """``gunicorn -c python:searchsvc.gunicorn_conf -w 2 --preload 'searchsvc:create_app()'``
    on 127.0.0.1 and a port the kernel picks."""
    log = tmp_path / "gunicorn.log"
    scratch = tmp_path / "tmp"  # where a worker would derive mapped data the reindex did not write
    scratch.mkdir()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:searchsvc.gunicorn_conf",
             "-w", str(WORKERS), "-b", "127.0.0.1:0", "--preload",
             "--graceful-timeout", "10", "searchsvc:create_app()"],
            env={**service_env(served_index, tmp_path / "instance"), "TMPDIR": str(scratch)}, cwd=tmp_path,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    srv = Server(proc, "127.0.0.1", 0, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not srv.port:
            m = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", srv.log_text())
            if m:
                srv.port = int(m.group(1))
            elif proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{srv.log_text()}")
            else:
                time.sleep(0.1)
        while True:
            try:
                status, _, _ = get(srv, "/healthz")
            except OSError:
                status = 0
            if status == 200 and len(srv.workers()) == WORKERS:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer /healthz with {WORKERS} workers:\n{srv.log_text()}")
            time.sleep(0.1)
        yield srv
    finally:
        stop_gunicorn(proc)


def mapped_files(pid: int) -> set[str]:
    """The paths of the files a process maps (``/proc/PID/maps``, the sixth column)."""
    fields = (line.split(maxsplit=5) for line in Path(f"/proc/{pid}/maps").read_text().splitlines())
    return {f[5] for f in fields if len(f) == 6}


def get(srv: Server, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=HTTP_TIMEOUT_S)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


# --- what an answer says --------------------------------------------------------------------------


def observe(key: str, ctype: str, body: bytes) -> tuple[Any, list[str]]:
    """A comparable summary of one answer, and what is inconsistent within it."""
    kind = key.split()[0]
    problems: list[str] = []
    if kind == "page":
        if not ctype.startswith("text/html"):
            return None, [f"content type {ctype!r}"]
        html = body.decode("utf-8")
        m = _PAGE_TOTAL.search(html)
        total = int(m.group(1).replace(".", "")) if m else 0
        hits = _PAGE_HIT.findall(html)
        if len(hits) != min(total, 50):
            problems.append(f"{len(hits)} hits listed for a total of {total}")
        return (total, frozenset(hits)), problems
    if not ctype.startswith("application/json"):
        return None, [f"content type {ctype!r}"]
    data = json.loads(body)
    if kind == "healthz":
        if data.get("status") != "ok":
            problems.append(f"status {data.get('status')!r}")
        return (data["generation"], data["documents"]), problems
    if kind == "suggest":
        return frozenset(data["suggestions"]), problems
    total, hits, facets = data["total"], data["hits"], data["facets"]
    ids = [h["id"] for h in hits]
    if len(ids) != min(total, 50) or len(set(ids)) != len(ids):
        problems.append(f"{len(ids)} hits ({len(set(ids))} distinct) for a total of {total}")
    for name in ("category", "year"):  # every demo and new article has a section and a date
        counted = sum(f["count"] for f in facets[name])
        if counted != total:
            problems.append(f"{name} facet counts add up to {counted}, the total is {total}")
    if sum(f["count"] for f in facets["source"]) > total:
        problems.append("source facet counts add up to more than the total")
    return (total, json.dumps(facets, sort_keys=True), frozenset(ids),
            json.dumps(data["suggestion"], sort_keys=True)), problems


def snapshot(srv: Server) -> dict[str, Any]:
    """Every request of the mix, once, with nothing else running: the reference answers."""
    out = {}
    for key, path in MIX.items():
        status, ctype, body = get(srv, path)
        assert status == 200, (key, status, body[:300])
        value, problems = observe(key, ctype, body)
        assert not problems, (key, problems)
        out[key] = value
    return out


# --- the load -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    key: str
    thread: int
    started: float
    ended: float
    status: int = 0
    value: Any = None
    problems: tuple[str, ...] = ()
    error: str | None = None


@dataclass
class Load:
    """A few client threads cycling through MIX, each from its own offset, one request at a time."""

    srv: Server
    threads: int = LOAD_THREADS
    observations: list[Observation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), name=f"load-{i}", daemon=True)
                         for i in range(self.threads)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> list[Observation]:
        self._stop.set()
        for t in self._threads:
            t.join(HTTP_TIMEOUT_S + 10)
        assert not any(t.is_alive() for t in self._threads), "a load thread did not finish"
        return self.observations

    def count(self, started_after: float) -> int:
        with self._lock:
            return sum(o.started >= started_after for o in self.observations)

    def _run(self, n: int) -> None:
        keys = list(MIX)
        i = n * len(keys) // self.threads
        while not self._stop.is_set():
            key = keys[i % len(keys)]
            i += 1
            started = time.monotonic()
            try:
                status, ctype, body = get(self.srv, MIX[key])
            except Exception as exc:  # a failed request: connection refused or reset, timeout
                obs = Observation(key, n, started, time.monotonic(), error=f"{type(exc).__name__}: {exc}")
            else:
                ended = time.monotonic()
                value, problems = (None, [])
                if status == 200:
                    try:
                        value, problems = observe(key, ctype, body)
                    except (ValueError, KeyError, TypeError) as exc:
                        problems = [f"unreadable answer: {type(exc).__name__}: {exc}"]
                obs = Observation(key, n, started, ended, status, value, tuple(problems))
            with self._lock:
                self.observations.append(obs)
            time.sleep(PAUSE_S)


# --- reindexing -----------------------------------------------------------------------------------


def run_reindex(index_dir: Path, tmp_path: Path, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "searchsvc.cli", "reindex", "--index", str(index_dir), "--quiet", "--json", *args],
        env=service_env(index_dir, tmp_path / "instance"), cwd=tmp_path,
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def held_apart(srv: Server, path: str) -> tuple[tuple[int, str, bytes], tuple[int, str, bytes]]:
    """``path`` answered by each of the two workers.

    A sync worker serves one connection at a time. The first connection sends its request line but not the end
    of its headers, so the worker that accepted it waits, reading; the second request can then only be served by
    the other worker. The first one is completed afterwards.
    """
    held = socket.create_connection((srv.host, srv.port), timeout=HTTP_TIMEOUT_S)
    try:
        held.sendall(f"GET {path} HTTP/1.1\r\nHost: {srv.host}:{srv.port}\r\n".encode("ascii"))
        time.sleep(0.5)  # accepted by an idle worker by now
        other = get(srv, path)
        held.sendall(b"Connection: close\r\n\r\n")
        resp = http.client.HTTPResponse(held)
        resp.begin()
        first = (resp.status, resp.getheader("Content-Type", ""), resp.read())
    finally:
        held.close()
    return first, other


# --- the test -------------------------------------------------------------------------------------


def test_reindex_while_serving(server: Server, served_index: Path, tmp_path: Path) -> None:
    workers_before = server.workers()
    old = snapshot(server)
    gen0 = old["healthz"][0]
    assert old["healthz"] == (gen0, DEMO_DOCS)

    load = Load(server)
    load.start()
    try:
        time.sleep(1.5)
        full_start = time.monotonic()
        full = run_reindex(served_index, tmp_path, "--full", "--jobs", "2", str(DEMO_DIR))
        full_end = time.monotonic()
        time.sleep(1.0)
        update_start = time.monotonic()
        update = run_reindex(served_index, tmp_path, "--jobs", "2", str(DEMO_DIR), str(NEW_ARTICLES))
        switched = time.monotonic()  # CURRENT names the new generation by the time the command returns
        # The new articles become searchable without a restart.
        lag = None
        while time.monotonic() < switched + GRACE_S:
            status, ctype, body = get(server, MIX["search khinh khi cau"])
            if status == 200 and NEW_IDS <= observe("search", ctype, body)[0][2]:
                lag = time.monotonic() - switched
                break
            time.sleep(0.05)
        # Load that must all see the update: a few seconds, and two full turns of the mix.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            time.monotonic() < switched + GRACE_S + 3.0
            or load.count(started_after=switched + GRACE_S) < 2 * len(MIX)
        ):
            time.sleep(0.1)
    finally:
        observations = load.stop()

    assert full["documents"] == DEMO_DOCS and full["generation"] == f"gen-{gen0 + 1:06d}", full
    assert (update["added"], update["unchanged"], update["updated"], update["deleted"]) == (3, DEMO_DOCS, 0, 0)
    assert update["documents"] == DEMO_DOCS + 3 and update["generation"] == f"gen-{gen0 + 2:06d}", update
    assert lag is not None, f"the new articles were not found within {GRACE_S} s of the switch"

    new = snapshot(server)
    assert new["healthz"] == (gen0 + 2, DEMO_DOCS + 3)
    assert NEW_IDS <= new["search khinh khi cau"][2] and not NEW_IDS & old["search khinh khi cau"][2]
    for key in MIX:  # the update changes every answer of the mix but one: comparing with old and new means something
        assert (old[key] == new[key]) == (key in UNCHANGED), key
    for key in ("suggest khinh kh", "suggest ha no", "suggest xe bu"):
        assert len(new[key]) < 8, "a full list of suggestions may be cut differently: compare complete lists"

    # Each worker, held apart from the other, finds the new articles.
    for answer in held_apart(server, MIX["search khinh khi cau"]):
        status, ctype, body = answer
        assert status == 200, body[:300]
        assert observe("search", ctype, body) == (new["search khinh khi cau"], [])
    assert server.workers() == workers_before, "a worker died or was replaced while serving"
    # Both workers read the new generation's postings from the files the reindex wrote (mapped, shared through
    # the page cache), and neither derived or copied them for itself.
    new_gen = served_index / f"gen-{gen0 + 2:06d}"
    written = {f.name for f in new_gen.glob("*.mapped")}
    assert "docs.mapped" in written and "spelling.mapped" in written and len(written) > 2, written
    for pid in workers_before:
        mapped_now = {Path(path).name for path in mapped_files(pid) if path.startswith(f"{new_gen}/")}
        assert written <= mapped_now, f"worker {pid} maps {sorted(mapped_now)} of {new_gen.name}, not all of {written}"
    assert not list((tmp_path / "tmp").glob("searchsvc-mapped-*")), "a worker derived mapped data itself"
    assert server.proc.poll() is None

    # Nothing failed.
    by_kind = Counter(o.key.split()[0] for o in observations)
    failed = [o for o in observations if o.error]
    assert not failed, f"{len(failed)} of {len(observations)} requests failed, e.g. {failed[:3]}"
    bad_status = [o for o in observations if o.status != 200]
    assert not bad_status, f"{len(bad_status)} answers were not 200, e.g. {bad_status[:3]}\n{server.last_error()}"
    inconsistent = [o for o in observations if o.problems]
    assert not inconsistent, f"{len(inconsistent)} answers were inconsistent, e.g. {inconsistent[:3]}"
    # Each answer is one generation's answer, whole.
    healthz_ok = {(gen0, DEMO_DOCS), (gen0 + 1, DEMO_DOCS), (gen0 + 2, DEMO_DOCS + 3)}
    mixed = [o for o in observations
             if (o.value not in healthz_ok if o.key == "healthz" else o.value not in (old[o.key], new[o.key]))]
    assert not mixed, f"{len(mixed)} answers were neither the old nor the new generation's, e.g. {mixed[:3]}"
    # The full rebuild changed no answer, nothing of the update showed before it ran, every later request saw it.
    early = [o for o in observations if o.ended < update_start and o.key != "healthz" and o.value != old[o.key]]
    assert not early, f"answers changed before the update ran: {early[:3]}"
    later = [o for o in observations if o.started >= switched + GRACE_S]
    stale = [o for o in later if o.value != (new[o.key] if o.key != "healthz" else (gen0 + 2, DEMO_DOCS + 3))]
    assert not stale, f"{len(stale)} requests sent {GRACE_S} s after the switch got the old generation: {stale[:3]}"
    # The load really ran through both reindexes and after the switch.
    for label, (start, end) in {"full rebuild": (full_start, full_end), "update": (update_start, switched)}.items():
        during = [o for o in observations if o.started < end and o.ended > start]
        assert len(during) >= LOAD_THREADS, f"only {len(during)} requests overlapped the {label}"
    assert len(later) >= 2 * len(MIX) and {o.key for o in later} == set(MIX)
    print(f"\n{len(observations)} requests {dict(by_kind)}; full rebuild {full_end - full_start:.1f} s, "
          f"update {switched - update_start:.1f} s, new articles visible {lag:.2f} s after the update returned; "
          f"slowest answer {max(o.ended - o.started for o in observations):.2f} s")
