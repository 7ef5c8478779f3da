"""The service under gunicorn for the benchmarks (latency.py, soak.py): start, ask, stop.

Started as operators run it (docs/operations.md), from this venv, on 127.0.0.1,
in its own session so that a stuck master can be killed with its workers.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"


def env_for(index_dir: Path, workdir: Path) -> dict[str, str]:
    """The environment with only our index: no SEARCHSVC_* of the caller, no instance/config.py of the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCHSVC_")}
    env["SEARCHSVC_INDEX"] = str(index_dir)
    env["SEARCHSVC_INSTANCE_PATH"] = str(workdir / "instance")
    # Readers' searches (on by default, as in production) go to the run's directory, not beside a shared index.
    env["SEARCHSVC_ANALYTICS_PATH"] = str(workdir / "analytics" / "searches.sqlite3")
    return env


def worker_pids(master: int) -> set[int]:
    """The live children of ``master`` (gunicorn's workers), from /proc."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
            if int(ppid) == master and state != "Z":
                pids.add(int(entry.name))
    return pids


def _proc_kib(path: str, field: str) -> int | None:
    """A ``Field:  N kB`` line of a /proc file, in KiB; None once the process is gone."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_kib(pid: int) -> int | None:
    return _proc_kib(f"/proc/{pid}/status", "VmRSS")


def pss_kib(pid: int) -> int | None:
    """Proportional set size: pages shared with the master and the other worker counted by share."""
    return _proc_kib(f"/proc/{pid}/smaps_rollup", "Pss")


def start_gunicorn(index_dir: Path, workdir: Path, workers: int, port: int = 0,
                   timeout: float = 180, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    """gunicorn serving ``index_dir`` on ``port`` (0: one the kernel picks); returns it and its port once
    /healthz answers 200 and every worker runs. Its log is ``workdir/gunicorn.log``; ``env``: more settings
    (``SEARCHSVC_*``)."""
    log = workdir / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:searchsvc.gunicorn_conf",
             "-w", str(workers), "-b", f"{HOST}:{port}", "--preload", "searchsvc:create_app()"],
            env={**env_for(index_dir, workdir), **(env or {})}, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if m:
            port = int(m.group(1))
            try:
                if get(port, "/healthz")[0] == 200 and len(worker_pids(proc.pid)) == workers:
                    return proc, port
            except OSError:
                pass
        time.sleep(0.2)
    stop_gunicorn(proc)
    sys.exit(f"gunicorn did not start:\n{log.read_text(errors='replace')[-3000:]}")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the master is not reaped yet: its process group is still ours
        proc.wait(10)


def get(port: int, path: str, timeout: float = 60) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()
