"""Searches recorded under gunicorn with 2 workers: every search exactly once, written by each worker's own thread.

The README's production command (``gunicorn -c python:searchsvc.gunicorn_conf -w 2 --preload``: the app, and so
the recorder, is created in the master before the fork) serves a copy of the demo index, with no ANALYTICS_PATH:
the database goes beside the index. Concurrent clients send searches, each with its own words, to the page and the
API, mixed with autocomplete and article requests (not recorded). Then:

- every search is in the database within seconds, while the server runs (the writers flush on their own);
- the searches sent just before the server is stopped are there too (each worker writes what is left at exit);
- every search exactly once, none other; every request answered 200 (404 for the unknown article asked);
- both workers hold the database open: each wrote through its own thread, started after the fork;
- ``searchsvc analytics --index DIR``, run as operators run it, reads them.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import stop_gunicorn, worker_pids

pytestmark = pytest.mark.slow

WORKERS = 2
CLIENTS = 6
START_TIMEOUT_S = 90.0


def _env(index: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCHSVC_")}
    env.update(SEARCHSVC_INDEX=str(index), SEARCHSVC_INSTANCE_PATH=str(tmp_path / "instance"))
    return env


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _start(index: Path, tmp_path: Path) -> tuple[subprocess.Popen, int, Path]:
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:searchsvc.gunicorn_conf", "-w", str(WORKERS),
             "-b", "127.0.0.1:0", "--preload", "--graceful-timeout", "20", "searchsvc:create_app()"],
            env=_env(index, tmp_path), cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        text = log.read_text(errors="replace")
        m = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
        if m and len(re.findall(r"Booting worker with pid", text)) >= WORKERS:
            try:
                if _get(int(m.group(1)), "/healthz") == 200:
                    return proc, int(m.group(1)), log
            except OSError:
                pass
        time.sleep(0.2)
    stop_gunicorn(proc, wait=60)  # workers exit through sys.exit: their recorders flush
    pytest.fail(f"gunicorn did not start:\n{log.read_text(errors='replace')[-3000:]}")


def _requests(tag: str, n: int) -> tuple[list[str], list[str]]:
    """(every path to send, the queries of those that are searches): each search with words of its own."""
    paths, searched = [], []
    for i in range(n):
        q = f"Hà Nội {tag}{i}" if i % 3 else f"xe buyt {tag}{i}"
        searched.append(q)
        paths.append(("/?" if i % 2 else "/api/search?") + urlencode({"q": q}))
        if i % 4 == 0:
            paths.append("/api/suggest?" + urlencode({"q": f"ha n{i}"}))
        if i % 10 == 0:
            paths.append("/api/articles/khong-co-bai-nay")
    return paths, searched


def _has_open(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def _recorded(db: Path) -> Counter:
    if not db.is_file():
        return Counter()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return Counter(q for (q,) in conn.execute("SELECT query FROM searches"))
    finally:
        conn.close()


def test_every_search_is_recorded_exactly_once_by_two_workers(tmp_index: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(tmp_index, index)
    db = tmp_path / "index.analytics" / "searches.sqlite3"
    proc, port, log = _start(index, tmp_path)
    try:
        assert not db.exists()  # nothing is written before a search
        paths, searched = _requests("a", 240)
        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = Counter(pool.map(lambda p: _get(port, p), paths))
        assert statuses == Counter({200: len(paths) - 24, 404: 24})
        deadline = time.monotonic() + 15
        while sum(_recorded(db).values()) < len(searched) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _recorded(db) == Counter(searched), "written while serving, each search once"
        writers = {pid for pid in worker_pids(proc.pid) if _has_open(pid, db)}
        assert len(writers) == WORKERS, "each worker writes through its own connection (its own thread)"

        # Sent just before the stop: written at the workers' exit, not lost.
        more_paths, more = _requests("b", 60)
        with ThreadPoolExecutor(CLIENTS) as pool:
            assert set(pool.map(lambda p: _get(port, p), more_paths)) == {200, 404}
    finally:
        stop_gunicorn(proc, wait=60)  # workers exit through sys.exit: their recorders flush
    assert proc.returncode == 0, log.read_text(errors="replace")[-3000:]
    assert _recorded(db) == Counter(searched + more)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "not recorded" not in text, text[-3000:]

    env = _env(index, tmp_path)
    del env["SEARCHSVC_INDEX"]
    done = subprocess.run([sys.executable, "-m", "searchsvc.cli", "analytics", "--index", str(index), "--json"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    totals = json.loads(done.stdout)["totals"]
    assert (totals["searches"], totals["via_api"], totals["via_page"], totals["lost"]) == (300, 150, 150, 0)
