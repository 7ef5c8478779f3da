"""Shared fixtures: one demo index per session, the Flask app factory, CLI runners.

The demo index is built once, with the real reindex (pyvi + Whoosh, one
process), from ``searchsvc/demo``; tests that only read it use ``tmp_index``.
Tests that change an index build or copy their own under ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from searchsvc import create_app
from searchsvc.index.indexer import Summary, reindex

REPO = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO / "searchsvc" / "demo"
SHARED = Path(__file__).resolve().parents[2] / "shared"
SEEDS_DIR = SHARED / "seeds"
SEED_FILE = SEEDS_DIR / "000_40c29efcdb949413.txt"
CORPUS = SHARED / "corpus" / "vntc.jsonl.gz"
QA = SHARED / "eval" / "uit_vinewsqa"
SLICE = 2000


class Echo:
    """Collects what reindex reports through its ``echo`` callback."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, message: str) -> None:
        self.lines.append(message)


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return DEMO_DIR


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    """``../shared/seeds``; tests using it are marked ``corpus`` and skip without it."""
    if not SEED_FILE.is_file():
        pytest.skip(f"{SEED_FILE} is not available (../shared is absent)")
    return SEEDS_DIR


@pytest.fixture(scope="session")
def seed_file(seeds_dir: Path) -> Path:
    return SEED_FILE


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Summary, list[str]]:
    """The demo collection indexed once (jobs=1): the index directory, the summary and the messages."""
    root = tmp_path_factory.mktemp("demo") / "index"
    echo = Echo()
    summary = reindex([DEMO_DIR], root, jobs=1, progress=False, echo=echo)
    return root, summary, echo.lines


@pytest.fixture(scope="session")
def tmp_index(demo_build: tuple[Path, Summary, list[str]]) -> Path:
    """The session's demo index. Read-only: copy it (shutil.copytree) before changing it."""
    return demo_build[0]


@pytest.fixture
def app(tmp_index: Path):
    return create_app({"INDEX_DIR": str(tmp_index), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def cli_runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no instance/ and no SEARCHSVC_* variables: only the built-in defaults apply."""
    for name in ("SEARCHSVC_INDEX_DIR", "SEARCHSVC_INSTANCE_PATH", "SEARCHSVC_MAX_QUERY_CHARS",
                 "SEARCHSVC_MAX_CONTENT_LENGTH"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


# --- Added for test_search.py and test_api.py ------------------------------------------------


@pytest.fixture(scope="session")
def search_service(tmp_index: Path):
    """One SearchService on the session's demo index, shared (it only reads)."""
    from searchsvc.engine.search import SearchService

    return SearchService(tmp_index)


@pytest.fixture
def index_copy(tmp_index: Path, tmp_path: Path) -> Path:
    """A private copy of the demo index, for tests that reindex it."""
    import shutil

    dest = tmp_path / "index"
    shutil.copytree(tmp_index, dest)
    return dest


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """The app on a real HTTP server (werkzeug, threaded) on 127.0.0.1 and a free port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="searchsvc-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def worker_pids(master: int) -> set[int]:
    """The live children of ``master`` (gunicorn's workers), from /proc: shared by the tests that serve."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        if int(fields[1]) == master and fields[0] != "Z":
            pids.add(int(entry.name))
    return pids


def stop_gunicorn(proc: subprocess.Popen, wait: float = 30) -> bool:
    """SIGTERM to the master (graceful: workers finish their request and exit through sys.exit); its whole
    process group if it lingers past ``wait`` seconds. True when it stopped gracefully (or had already)."""
    if proc.poll() is not None:
        return True
    proc.terminate()
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the master is not reaped yet, so the group is still this server's
        proc.wait(10)
        return False
    return True


@pytest.fixture(scope="session")
def corpus_slice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """The first SLICE articles of ../shared/corpus, indexed for real (skipped without ../shared)."""
    if not CORPUS.is_file():
        pytest.skip(f"{CORPUS} is not available (../shared is absent)")
    articles = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        for line in f:
            articles.append(json.loads(line))
            if len(articles) == SLICE:
                break
    work = tmp_path_factory.mktemp("slice")
    source = work / "slice.jsonl"
    source.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8")
    reindex([source], work / "index", jobs=2, echo=lambda m: None)
    return work / "index", articles


@pytest.fixture(scope="session")
def qa_service(corpus_slice, tmp_path_factory: pytest.TempPathFactory):
    """The slice with the 898 ViNewsQA articles, served: real questions over real news."""
    from searchsvc.engine.search import SearchService

    docs = QA / "docs.jsonl"
    if not docs.is_file():
        pytest.skip(f"{docs} is not available (../shared is absent)")
    slice_file = corpus_slice[0].parent / "slice.jsonl"
    index = tmp_path_factory.mktemp("qa") / "index"
    reindex([slice_file, docs], index, jobs=2, echo=lambda m: None)
    svc = SearchService(index)
    svc.warm()
    return svc


def vinewsqa_questions() -> list[str]:
    """ViNewsQA's dev questions."""
    rows = [json.loads(line) for line in (QA / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r["query"] for r in rows if r.get("split", "dev") == "dev"]
