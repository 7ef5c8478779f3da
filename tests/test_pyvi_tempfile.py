"""pyvi's model leaves no file behind, whatever ends the process.

Importing pyvi unpickles its sklearn_crfsuite model, which writes the crfsuite
model (640 KB) to ``model*.crfsuite`` in the temp directory and deletes it only
at normal interpreter exit: each server process ended by a signal used to leave
one. ``searchsvc.analysis.pyvi_features`` reads the model from pyvi's pickle
and opens it in memory, without importing pyvi's tokenizer or scikit-learn.
Checked here with real processes, each with a temp directory of its own
(``TMPDIR``): servers ended by SIGTERM and SIGKILL leave it empty, and tagging
equals pyvi's own, in the process and in forked ones.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import worker_pids

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 60.0
REPO = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, index: Path) -> tuple[dict[str, str], Path]:
    """This environment with an empty temp directory of its own, the index named and no other configuration."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCHSVC_")}
    env.update(TMPDIR=str(temp), SEARCHSVC_INDEX=str(index), SEARCHSVC_INSTANCE_PATH=str(tmp_path / "instance"))
    return env, temp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _wait_healthy(proc: subprocess.Popen, port: int, log: Path, workers: int = 0) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
                if resp.status == 200 and len(worker_pids(proc.pid)) >= workers:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the server did not answer /healthz:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen, pids: set[int]) -> None:
    """Whatever is left of a server this test started: SIGKILL to each of its processes, by id."""
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def started() -> Iterator[list[tuple[subprocess.Popen, set[int]]]]:
    """Servers a test starts, with their workers; killed by id afterwards if still there."""
    servers: list[tuple[subprocess.Popen, set[int]]] = []
    yield servers
    for proc, pids in servers:
        _stop(proc, pids)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_dev_server_ended_by_a_signal_leaves_no_file(tmp_index: Path, tmp_path: Path, started, sig) -> None:
    """``searchsvc serve`` (one process): nothing in its temp directory while it serves, nor after the signal."""
    env, temp = _env(tmp_path, tmp_index)
    port = _free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "searchsvc.cli", "serve", "--port", str(port)],
                                env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    started.append((proc, {proc.pid}))
    _wait_healthy(proc, port, log)
    assert os.listdir(temp) == []  # gone while serving, not only at exit
    proc.send_signal(sig)
    assert proc.wait(30) == -sig
    assert os.listdir(temp) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_gunicorn_ended_by_a_signal_leaves_no_file(tmp_index: Path, tmp_path: Path, started, sig) -> None:
    """The README's production command with 2 workers; SIGTERM to the master (graceful stop), or SIGKILL to
    the master and both workers at once (the OOM killer, ``kill -9`` of the service's processes)."""
    env, temp = _env(tmp_path, tmp_index)
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:searchsvc.gunicorn_conf", "-w", "2",
             "-b", f"127.0.0.1:{port}", "--preload", "searchsvc:create_app()"],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
        )
    pids = {proc.pid}
    started.append((proc, pids))
    _wait_healthy(proc, port, log, workers=2)
    workers = worker_pids(proc.pid)
    pids |= workers
    assert os.listdir(temp) == []
    if sig == signal.SIGKILL:
        for pid in (*workers, proc.pid):
            os.kill(pid, signal.SIGKILL)
    else:
        proc.terminate()
    proc.wait(30)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)
    assert os.listdir(temp) == []


_FRESH = """
import json, multiprocessing, os, sys, tempfile
from searchsvc.analysis import pyvi_features

sents = json.loads(sys.argv[1])
pyvi_features.warm()
out = {"left": os.listdir(tempfile.gettempdir()), "sklearn": "sklearn" in sys.modules,
       "pyvi_imported": "pyvi.ViTokenizer" in sys.modules, "parent": pyvi_features.tag(sents)}
with multiprocessing.get_context("fork").Pool(2) as pool:  # workers forked after warm(), as gunicorn's are
    out["children"] = pool.map(pyvi_features.tag, [sents, sents])
print(json.dumps(out))
"""


def test_the_model_is_read_without_a_file_or_sklearn(tmp_path: Path) -> None:
    """In a fresh interpreter with its own temp directory: the model opened from pyvi's pickle in memory (no
    file written, scikit-learn and pyvi's tokenizer never imported: 1.3 s of a server's start) tags exactly
    as pyvi's own model does, in the process and in children forked from it."""
    from pyvi.ViTokenizer import ViTokenizer

    sents = [ViTokenizer.sylabelize(text)[1] for text in (
        "Học sinh học ở Thành phố Hồ Chí Minh, an toàn khu.",
        "Ban Chấp Hành Trung ương Đảng họp tại Hà Nội ngày 31/3/2021.",
    )]
    expected = [list(labels) for labels in ViTokenizer.model.predict(
        [ViTokenizer.sent2features(s, False) for s in sents])]
    temp = tmp_path / "tmp"
    temp.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", _FRESH, json.dumps(sents)],
        capture_output=True, text=True, timeout=120, check=True, cwd=REPO, env={**os.environ, "TMPDIR": str(temp)},
    )
    out = json.loads(result.stdout)
    assert out["left"] == [] and os.listdir(temp) == []
    assert not out["sklearn"] and not out["pyvi_imported"]
    assert out["parent"] == expected
    assert out["children"] == [expected, expected]
    assert result.stderr == ""
