"""The package is the product: what ``pip install`` puts in a fresh venv serves every route with the README's command.

An installed wheel once lacked the templates (they live at the top of the repo, not in the package): every HTML
page failed while /healthz said ok, and no test noticed, because the tests run from the checkout. This one builds
the sdist and, from it, the wheel (``python -m build``, as a release would; building from the sdist checks both,
and leaves no ``build/`` directory in the checkout), installs the wheel with its dependencies into a new venv
outside the checkout, indexes the installed demo articles with the installed ``searchsvc`` and serves them with
gunicorn exactly as README.md says, from a directory that is not the repo, then asks every kind of page over HTTP.

It needs an index of packages (PyPI, a mirror or pip's cache) for ``build``, setuptools and the dependencies; it
skips only when an install fails and that index cannot be reached.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from conftest import stop_gunicorn

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PIP_TIMEOUT_S = 900
START_TIMEOUT_S = 90
HTTP_TIMEOUT_S = 30
DEMO_DOCS = 33

# In the demo articles: demo-001 is "Hà Nội ngập lụt sau mưa lớn".
ARTICLE_ID = "demo-001"
ARTICLE_TITLE = "Hà Nội ngập lụt sau mưa lớn"
QUERY = "ngập lụt"

# Where the installed package is, and which templates it uses.
WHERE = ("import json, pathlib, searchsvc, searchsvc.web.app as a; "
         "print(json.dumps([str(pathlib.Path(searchsvc.__file__).parent), str(a.templates_dir())]))")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what would make the new venv see the checkout or its configuration."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SEARCHSVC_") and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def index_reachable() -> bool:
    """Whether pip's package index answers at all (a TCP connection, or a local directory for a file:// index)."""
    url = os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple/"
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(parts.path).is_dir()
    try:
        with socket.create_connection((parts.hostname or "pypi.org", parts.port or 443), timeout=5):
            return True
    except OSError:
        return False


def run(args: list, what: str, cwd: Path, timeout: float = 300, **env: str) -> str:
    """Runs a step; fails the test with its output when it fails."""
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=clean_env(**env), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def pip_install(python: Path, args: list, what: str, cwd: Path) -> None:
    """``pip install``; a failure skips the test only when the package index cannot be reached."""
    cmd = [str(python), "-m", "pip", "install", "--no-input", *map(str, args)]
    proc = subprocess.run(cmd, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    if proc.returncode == 0:
        return
    output = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    if not index_reachable():
        pytest.skip(f"cannot install {what}: the package index is unreachable and pip's cache does not hold it")
    pytest.fail(f"installing {what} failed ({proc.returncode}):\n{output}")


def new_venv(path: Path, cwd: Path) -> Path:
    run([sys.executable, "-m", "venv", path], f"creating the venv {path}", cwd)
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, float]]:
    """The sdist and the wheel built from it: (sdist, wheel, seconds per step)."""
    tmp = tmp_path_factory.mktemp("wheel")
    times: dict[str, float] = {}
    start = time.monotonic()
    tools = new_venv(tmp / "build-venv", tmp)
    pip_install(tools, ["build"], "the build frontend (build)", tmp)
    dist = tmp / "dist"
    # Isolated builds: build fetches setuptools as pyproject.toml's [build-system] asks, in a venv of its own.
    run([tools, "-m", "build", "--outdir", dist, REPO], "python -m build", tmp, timeout=PIP_TIMEOUT_S)
    times["build sdist and wheel"] = time.monotonic() - start
    (sdist,) = dist.glob("searchsvc-*.tar.gz")
    (wheel,) = dist.glob("searchsvc-*.whl")
    return sdist, wheel, times


def repo_files(folder: str, pattern: str) -> set[str]:
    found = {p.relative_to(REPO / folder).as_posix() for p in (REPO / folder).glob(pattern) if p.is_file()}
    assert found, f"nothing matches {folder}/{pattern} in the checkout"
    return found


def test_wheel_and_sdist_carry_templates_static_and_demo(built) -> None:
    sdist, wheel, _ = built
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = set(zf.namelist())
    with tarfile.open(sdist) as tf:
        root = tf.getnames()[0].split("/")[0]
        in_sdist = {name.removeprefix(root + "/") for name in tf.getnames()}
    expected = {
        # repo path -> where the wheel installs it
        **{f"templates/{n}": f"searchsvc/templates/{n}" for n in repo_files("templates", "*.html")},
        **{f"searchsvc/static/{n}": f"searchsvc/static/{n}" for n in repo_files("searchsvc/static", "*")},
        **{f"searchsvc/demo/{n}": f"searchsvc/demo/{n}" for n in repo_files("searchsvc/demo", "**/*")},
        "searchsvc/index/stored.zdict": "searchsvc/index/stored.zdict",  # the stored column's dictionary
    }
    assert {"searchsvc/templates/search.html", "searchsvc/templates/error.html"} <= set(expected.values())
    assert sorted(set(expected.values()) - in_wheel) == [], "files missing from the wheel"
    assert sorted(set(expected) - in_sdist) == [], "files missing from the sdist"
    assert not [n for n in in_wheel if n.startswith("templates/")], "templates belong under searchsvc/ in the wheel"


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, float]]]:
    """A fresh venv outside the checkout with the wheel and its dependencies installed: (venv, seconds per step)."""
    _, wheel, times = built
    tmp = tmp_path_factory.mktemp("installed")
    start = time.monotonic()
    python = new_venv(tmp / "venv", tmp)
    pip_install(python, [wheel], "the wheel with its dependencies", tmp)
    times["install wheel and dependencies"] = time.monotonic() - start
    yield tmp / "venv", times


def test_installed_package_serves_every_route(installed, tmp_path: Path) -> None:
    venv, times = installed
    python, bindir = venv / "bin" / "python", venv / "bin"
    work = tmp_path / "elsewhere"  # not the repo: nothing may come from the checkout
    work.mkdir()
    where = json.loads(run([python, "-c", WHERE], "importing the installed package", work))
    package, templates = Path(where[0]), Path(where[1])
    assert package.is_relative_to(venv) and not package.is_relative_to(REPO), package
    assert templates == package / "templates", "the installed package must use its own templates"

    index = tmp_path / "index"
    start = time.monotonic()
    run([bindir / "searchsvc", "reindex", package / "demo", "--index", index, "--quiet"], "searchsvc reindex", work)
    times["reindex the demo"] = time.monotonic() - start

    start = time.monotonic()
    with gunicorn(bindir, index, work, tmp_path) as base:
        times["start gunicorn"] = time.monotonic() - start
        check_routes(base)
    print("wheel test timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))


class gunicorn:  # noqa: N801 - used as a context manager, named for the command
    """The README's production command, on 127.0.0.1 and a port the kernel picks; yields the base URL."""

    def __init__(self, bindir: Path, index: Path, cwd: Path, tmp: Path) -> None:
        self.bindir, self.index, self.cwd, self.tmp = bindir, index, cwd, tmp
        self.log = tmp / "gunicorn.log"
        self.proc: subprocess.Popen | None = None

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> str:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(self.bindir / "gunicorn"), "-c", "python:searchsvc.gunicorn_conf", "-w", "2",
                 "-b", "127.0.0.1:0", "--preload", "searchsvc:create_app()"],
                cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env=clean_env(SEARCHSVC_INDEX=str(self.index), SEARCHSVC_INSTANCE_PATH=str(self.tmp / "instance")),
            )
        try:
            return self._wait()
        except BaseException:
            self.__exit__()
            raise

    def _wait(self) -> str:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        port = 0
        while True:
            if not port:
                m = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", self.log_text())
                port = int(m.group(1)) if m else 0
            if port:
                try:
                    status, _, _ = get(f"http://127.0.0.1:{port}", "/healthz")
                    if status in (200, 503):
                        return f"http://127.0.0.1:{port}"
                except OSError:
                    pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer within {START_TIMEOUT_S} s:\n{self.log_text()[-4000:]}")
            time.sleep(0.2)

    def __exit__(self, exc_type: type[BaseException] | None = None, *_: object) -> None:
        """SIGTERM and wait (graceful); the whole process group only if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if not stop_gunicorn(self.proc):
            pytest.fail(f"gunicorn did not stop within 30 s of SIGTERM:\n{self.log_text()[-4000:]}")
        log = self.log_text()
        if exc_type is None:
            assert "Traceback" not in log, f"gunicorn logged an error:\n{log[-4000:]}"


def get(base: str, path: str) -> tuple[int, str, bytes]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=HTTP_TIMEOUT_S)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def check_routes(base: str) -> None:
    """Every kind of answer the service gives, over HTTP."""

    def page(path: str, status: int = 200) -> str:
        got, ctype, body = get(base, path)
        assert (got, ctype.split(";")[0]) == (status, "text/html"), (path, got, ctype, body[:500])
        return body.decode("utf-8")

    home = page("/")
    assert '<form class="search-form"' in home and 'name="q"' in home

    results = page("/?q=" + quote(QUERY))
    assert 'class="hit-title"' in results and "ngập lụt" in results

    article = page(f"/articles/{ARTICLE_ID}")
    assert ARTICLE_TITLE in article

    missing = page("/no-such-page", 404)
    assert "Không tìm thấy trang" in missing
    assert "Không tìm thấy bài viết" in page("/articles/no-such-article", 404)

    css = re.search(r'href="(/static/site\.css\?v=[0-9a-f]+)"', home)
    assert css, "the page links its stylesheet with a content hash"
    for path in ("/static/site.css", css.group(1)):
        status, ctype, body = get(base, path)
        assert (status, ctype.split(";")[0]) == (200, "text/css") and body, path
    status, ctype, body = get(base, "/static/search.js")
    assert status == 200 and "javascript" in ctype and body

    status, ctype, body = get(base, "/opensearch.xml")
    assert (status, ctype.split(";")[0]) == (200, "application/opensearchdescription+xml")
    assert b"<OpenSearchDescription" in body and f"{base}/?q={{searchTerms}}".encode() in body

    status, ctype, body = get(base, "/api/search?q=" + quote(QUERY))
    assert (status, ctype.split(";")[0]) == (200, "application/json")
    hits = json.loads(body)["hits"]
    assert hits and hits[0]["id"] == ARTICLE_ID
    # The built-in abbreviations are package data: a wheel without them would silently expand nothing.
    status, _, body = get(base, "/api/search?q=" + quote("UBND phường"))
    assert status == 200 and json.loads(body)["expanded"] == [{"typed": "UBND", "also": "ủy ban nhân dân"}]

    status, ctype, body = get(base, "/api/no-such-route")
    assert (status, ctype.split(";")[0]) == (404, "application/json") and json.loads(body)["error"]["status"] == 404

    status, ctype, body = get(base, "/healthz")
    health = json.loads(body)
    assert (status, ctype.split(";")[0]) == (200, "application/json"), health
    assert (health["status"], health["documents"], health["generation"]) == ("ok", DEMO_DOCS, 1), health
