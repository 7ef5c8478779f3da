"""The front door as deployed: ``deploy/nginx.conf`` in front of gunicorn, run with ``deploy/searchsvc.service``.

Debian's ``nginx`` (``.ci/run`` installs it; the test skips without it) runs the repository's site file in a
minimal main configuration of its own (pid, logs and temporary files under ``tmp_path``). The rendered copy
differs from the committed file only in the addresses (nginx on 127.0.0.1 and a free port, the upstream at
gunicorn's port) and the static directory (the repository's ``searchsvc/static/``); each substitution fails
the test if the text it replaces is not in the file exactly once. gunicorn runs the unit's ExecStart (the
README's production command) with the unit's environment, on the session's demo index and 127.0.0.1:0.
Through nginx, over real HTTP:

- the search page and the JSON API answer;
- static files are served by nginx from disk (gunicorn's access log has no line for them) with a year's
  ``Cache-Control`` for the versioned URLs pages link, an hour without ``?v=``;
- the page, the API and CSS are gzipped for a client that accepts it;
- the reader's address reaches the app: a request from 127.0.0.9 is logged by gunicorn as 127.0.0.9
  (gunicorn logs REMOTE_ADDR after the app ran, and ProxyFix rewrites it in place), also when the client
  forges an ``X-Forwarded-For`` (only nginx's hop is trusted); the public host and port reach it too;
- a 1 MB request body is refused with 413 (a 9 KB request line with 414), a burst of API requests gets
  429s, both in the JSON error shape, while the same burst on the page is not limited; with gunicorn gone,
  the API and /healthz answer 502 in that shape.

And the unit file passes ``systemd-analyze verify`` and runs the README's production command.
"""

from __future__ import annotations

import grp
import gzip
import http.client
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow

DEPLOY = REPO / "deploy"
SITE = DEPLOY / "nginx.conf"
UNIT = DEPLOY / "searchsvc.service"
STATIC = REPO / "searchsvc" / "static"
START_TIMEOUT_S = 60.0
HTTP_TIMEOUT_S = 30.0
QUERY = "ha%20noi"  # in the demo articles (Hà Nội ngập lụt ...)

# What the committed files say, and what the test puts in their place.
UNIT_GUNICORN = "/srv/searchsvc/app/.venv/bin/gunicorn"
UNIT_BIND = "127.0.0.1:8000"
UNIT_INDEX = "SEARCHSVC_INDEX=/srv/searchsvc/index"
SITE_UPSTREAM = "server 127.0.0.1:8000;"
SITE_LISTEN = "listen 80;"
SITE_LISTEN6 = "listen [::]:80;"
SITE_ALIAS = "alias /srv/searchsvc/app/searchsvc/static/;"


def substitute(text: str, old: str, new: str, source: Path) -> str:
    """``text`` with ``old`` replaced by ``new``; fails the test unless ``old`` occurs exactly once."""
    count = text.count(old)
    if count != 1:
        pytest.fail(f"{source.relative_to(REPO)}: expected {old!r} once, found it {count} times; update this test")
    return text.replace(old, new)


def unit_values(text: str, key: str) -> list[str]:
    """Every value of ``key`` in the unit's [Service] section, in order."""
    section, values = "", []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line
        elif section == "[Service]" and line.startswith(key + "="):
            values.append(line[len(key) + 1:])
    return values


def venv_gunicorn() -> Path:
    path = Path(sys.executable).parent / "gunicorn"
    if not path.is_file():
        pytest.fail(f"no gunicorn beside {sys.executable}")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accepting(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def nginx_binary() -> str:
    """Debian's nginx (in /usr/sbin, which a user's PATH may lack); skips the test without it."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run does)")
    return found


def wait_for(predicate, what: str, proc: subprocess.Popen, log: Path, timeout: float = START_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None or time.monotonic() > deadline:
            text = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
            pytest.fail(f"{what} (exit status {proc.poll()}):\n{text}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen, sig: signal.Signals) -> None:
    """``sig`` to the master (graceful), then its whole process group if it lingers."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # not reaped yet, so the group is still this process's
        proc.wait(10)


# --- gunicorn, as the unit runs it ---------------------------------------------------------------------


@dataclass
class Gunicorn:
    proc: subprocess.Popen
    port: int
    access_log: Path

    def access_lines(self) -> list[str]:
        return self.access_log.read_text(encoding="utf-8", errors="replace").splitlines()

    def logged(self, marker: str) -> str:
        """The access log line holding ``marker``, waiting for it (gunicorn writes it after answering)."""
        def find() -> str | None:
            return next((line for line in self.access_lines() if marker in line), None)
        return wait_for(find, f"gunicorn logged no request with {marker!r}", self.proc, self.access_log, 10.0)


@pytest.fixture
def gunicorn(tmp_index: Path, tmp_path: Path) -> Iterator[Gunicorn]:
    unit = UNIT.read_text(encoding="utf-8")
    (exec_start,) = unit_values(unit, "ExecStart")
    argv = shlex.split(exec_start)
    assert argv[0] == UNIT_GUNICORN, f"the unit's ExecStart runs {argv[0]}, expected {UNIT_GUNICORN}"
    args = shlex.split(substitute(shlex.join(argv[1:]), f"-b {UNIT_BIND}", "-b 127.0.0.1:0", UNIT))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCHSVC_")}
    env["SEARCHSVC_INSTANCE_PATH"] = str(tmp_path / "instance")  # absent: no instance/config.py applies
    assignments = shlex.split(" ".join(unit_values(unit, "Environment")))
    if UNIT_INDEX not in assignments:
        pytest.fail(f"{UNIT.relative_to(REPO)}: no Environment={UNIT_INDEX}; update this test")
    for assignment in assignments:
        name, _, value = assignment.partition("=")
        env[name] = str(tmp_index) if assignment == UNIT_INDEX else value
    assert env.get("SEARCHSVC_PROXY_COUNT") == "1", "the unit must trust exactly one proxy: nginx"

    access_log, log = tmp_path / "gunicorn-access.log", tmp_path / "gunicorn.log"
    access_log.touch()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(venv_gunicorn()), *args, "--access-logfile", str(access_log)],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        def listening() -> int | None:
            m = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
            return int(m.group(1)) if m else None
        port = wait_for(listening, "gunicorn did not start", proc, log)
        yield Gunicorn(proc, port, access_log)
    finally:
        stop(proc, signal.SIGTERM)


# --- nginx, with the repository's site file -------------------------------------------------------------


@dataclass
class Nginx:
    proc: subprocess.Popen
    port: int
    access_log: Path

    def request(self, method: str, path: str, *, source: str | None = None, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT_S,
                                          source_address=(source, 0) if source else None)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def get(self, path: str, **kwargs) -> tuple[int, http.client.HTTPMessage, bytes]:
        return self.request("GET", path, **kwargs)


def render_site(upstream_port: int, listen_port: int) -> str:
    text = SITE.read_text(encoding="utf-8")
    text = substitute(text, SITE_UPSTREAM, f"server 127.0.0.1:{upstream_port};", SITE)
    text = substitute(text, SITE_LISTEN, f"listen 127.0.0.1:{listen_port};", SITE)
    text = substitute(text, SITE_LISTEN6, "# (IPv6 listen removed by the test: loopback only)", SITE)
    return substitute(text, SITE_ALIAS, f'alias "{STATIC}/";', SITE)


def main_config(prefix: Path, site: Path, mime_types: Path) -> str:
    """The http {} around the site file: what /etc/nginx/nginx.conf gives it, with every path under ``prefix``."""
    user = ""
    if os.geteuid() == 0:  # workers would run as nobody, who cannot enter pytest's private temporary directory
        user = f"user {pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name};"
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                               "uwsgi", "scgi"))
    return f"""daemon off;
master_process on;
worker_processes 1;
{user}
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} notice;
events {{ worker_connections 256; }}
http {{
    include {mime_types};
    default_type application/octet-stream;
    log_format upstream '$remote_addr "$request" $status upstream=$upstream_addr';
    access_log {prefix / "access.log"} upstream;
{temp}
    include "{site}";
}}
"""


@pytest.fixture
def nginx(nginx_binary: str, gunicorn: Gunicorn, tmp_path: Path) -> Iterator[Nginx]:
    binary = nginx_binary  # first: without nginx, the test skips before gunicorn starts
    version = subprocess.run([binary, "-V"], capture_output=True, text=True, check=True).stderr
    m = re.search(r"--conf-path=(\S+)", version)
    mime_types = Path(m.group(1) if m else "/etc/nginx/nginx.conf").parent / "mime.types"
    if not mime_types.is_file():
        pytest.fail(f"nginx is installed but {mime_types} is missing")
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    conf, error_log = prefix / "nginx.conf", prefix / "error.log"
    for _attempt in range(3):  # the free port may be taken between choosing and binding it
        port = free_port()
        (prefix / "searchsvc.conf").write_text(render_site(gunicorn.port, port), encoding="utf-8")
        conf.write_text(main_config(prefix, prefix / "searchsvc.conf", mime_types), encoding="utf-8")
        proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf), "-e", str(error_log)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not accepting(port) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.poll() is not None and "Address already in use" in error_log.read_text(errors="replace"):
                continue
            wait_for(lambda port=port: accepting(port), "nginx did not start", proc, error_log, 1.0)
            yield Nginx(proc, port, prefix / "access.log")
            return
        finally:
            stop(proc, signal.SIGQUIT)
    pytest.fail(f"nginx found no free port:\n{error_log.read_text(errors='replace')[-2000:]}")


def error_shape(status: int, headers: http.client.HTTPMessage, body: bytes) -> dict:
    assert headers.get("Content-Type", "").startswith("application/json"), headers.get("Content-Type")
    data = json.loads(body)
    assert set(data) == {"error"} and set(data["error"]) == {"status", "message"}, data
    assert data["error"]["status"] == status and data["error"]["message"], data
    return data


def burst(nginx: Nginx, path: str, source: str, count: int = 60, threads: int = 20) -> tuple[Counter, list, float]:
    """``count`` GETs of ``path`` from ``source``, ``threads`` at a time: the statuses, the 429s, seconds taken."""
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(lambda _: nginx.get(path, source=source), range(count)))
    elapsed = time.monotonic() - started
    return Counter(status for status, _, _ in answers), [a for a in answers if a[0] == 429], elapsed


# --- the tests -------------------------------------------------------------------------------------------


def test_nginx_in_front_of_gunicorn(nginx: Nginx, gunicorn: Gunicorn) -> None:
    # The search page and the API, through nginx.
    status, headers, body = nginx.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html"), (status, body[:300])
    status, headers, page = nginx.get(f"/?q={QUERY}")
    assert status == 200 and headers["Content-Type"].startswith("text/html"), (status, page[:300])
    assert "Content-Security-Policy" in headers  # the app's own headers pass through
    status, headers, body = nginx.get(f"/api/search?q={QUERY}")
    assert status == 200 and headers["Content-Type"].startswith("application/json"), (status, body[:300])
    assert json.loads(body)["total"] > 0
    status, _, body = nginx.get("/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok", body

    # Static files: the URLs the page links, served by nginx from disk for a year; unversioned for an hour.
    linked = sorted(set(re.findall(r'(?:href|src)="(/static/[^"]+\?v=[^"]+)"', page.decode())))
    assert {url.split("?")[0] for url in linked} >= {"/static/site.css", "/static/search.js"}, linked
    for url in linked:
        status, headers, body = nginx.get(url.replace("&amp;", "&"))
        assert status == 200, (url, status)
        assert body == (STATIC / url.split("?")[0].removeprefix("/static/")).read_bytes(), url
        cache = headers.get("Cache-Control", "")
        assert "max-age=31536000" in cache and "immutable" in cache and "public" in cache, (url, cache)
    status, headers, _ = nginx.get("/static/site.css")
    assert status == 200 and headers.get("Cache-Control") == "public, max-age=3600", headers.get("Cache-Control")
    assert headers["Content-Type"].startswith("text/css") and headers.get("X-Content-Type-Options") == "nosniff"

    # gzip, for the page, the API and a stylesheet.
    for path, kind in (("/?q=" + QUERY, "text/html"), (f"/api/search?q={QUERY}", "application/json"),
                       ("/static/site.css?v=x", "text/css")):
        status, headers, body = nginx.get(path, headers={"Accept-Encoding": "gzip"})
        assert status == 200 and headers.get("Content-Encoding") == "gzip", (path, dict(headers))
        assert "Accept-Encoding" in headers.get("Vary", ""), (path, headers.get("Vary"))
        assert headers["Content-Type"].startswith(kind)
        text = gzip.decompress(body).decode("utf-8")
        if kind == "text/html":
            assert text.lstrip().lower().startswith("<!doctype html") and "</html>" in text
        elif kind == "application/json":
            assert json.loads(text)["total"] > 0
        else:
            assert text == (STATIC / "site.css").read_text(encoding="utf-8")

    # Served by nginx, not the app: gunicorn never saw a /static/ request (checked once a later request of
    # the same client is in its log), and nginx's own log has no upstream for them.
    marker = uuid.uuid4().hex
    assert nginx.get(f"/healthz?after-static={marker}")[0] == 200
    gunicorn.logged(marker)
    assert not [line for line in gunicorn.access_lines() if "/static/" in line]
    static_lines = [line for line in nginx.access_log.read_text().splitlines() if '"GET /static/' in line]
    assert static_lines and all(line.endswith("upstream=-") for line in static_lines), static_lines

    # The reader's address reaches the app: gunicorn's access log shows REMOTE_ADDR as the app left it.
    # Without ProxyFix it would be nginx's address, 127.0.0.1; a forged X-Forwarded-For is not believed.
    for forged in (None, "198.51.100.7"):
        marker = uuid.uuid4().hex
        headers = {"X-Forwarded-For": forged} if forged else {}
        assert nginx.get(f"/healthz?probe={marker}", source="127.0.0.9", headers=headers)[0] == 200
        line = gunicorn.logged(marker)
        assert line.split()[0] == "127.0.0.9", line
    # ... and so do the public host and port (X-Forwarded-Host/-Port), in the links the app writes in full.
    status, _, body = nginx.get("/opensearch.xml", headers={"Host": f"search.example.vn:{nginx.port}"})
    assert status == 200 and f"http://search.example.vn:{nginx.port}/" in body.decode(), body[:500]

    # A body over the limit: 413 from nginx, in the API's error shape.
    status, headers, body = nginx.request("POST", f"/api/search?q={QUERY}", body=b"x" * (1 << 20),
                                          headers={"Content-Type": "application/octet-stream"})
    assert status == 413, (status, body[:300])
    error_shape(413, headers, body)
    # A request line over nginx's 8 KB header buffers: refused before it reaches the app.
    assert nginx.get("/api/search?q=" + "a" * 9000)[0] == 414

    # A burst on the API from one address: the first 21 (1 + burst 20) pass, most of the rest get 429s in
    # the JSON error shape; 10 more a second may pass while the burst lasts.
    statuses, limited, elapsed = burst(nginx, f"/api/search?q={QUERY}", "127.0.0.10")
    assert set(statuses) <= {200, 429} and statuses[429] > 0, statuses
    assert 21 <= statuses[200] <= 21 + 10 * elapsed + 1, (statuses, elapsed)
    for _, headers, body in limited:
        error_shape(429, headers, body)
        assert headers.get("Retry-After") == "1"
    # The same burst on the search page, from another address, is not rate limited.
    statuses, _, _ = burst(nginx, f"/?q={QUERY}", "127.0.0.11")
    assert statuses == Counter({200: 60}), statuses

    # gunicorn gone: nginx answers the API and /healthz with 502 in the error shape.
    stop(gunicorn.proc, signal.SIGTERM)
    for path in (f"/api/search?q={QUERY}", "/healthz"):
        status, headers, body = nginx.get(path)
        assert status == 502, (path, status, body[:300])
        error_shape(502, headers, body)


def test_unit_file_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on a copy naming this machine's gunicorn and user.

    verify checks that ExecStart's program exists (and, in some versions, that User= does): the copy runs
    the venv's gunicorn instead of /srv/searchsvc/app/.venv/bin/gunicorn and the current user instead of
    ``searchsvc``; nothing else changes. verify exits 0 even for unknown keys or unparsable values (it
    prints them and carries on), so the test also requires that it prints nothing about the unit. On a
    machine without systemd running it may print things about the host; those do not count.
    """
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed")
    text = UNIT.read_text(encoding="utf-8")
    text = substitute(text, f"ExecStart={UNIT_GUNICORN} ", f"ExecStart={venv_gunicorn()} ", UNIT)
    text = substitute(text, "\nUser=searchsvc\n", f"\nUser={pwd.getpwuid(os.getuid()).pw_name}\n", UNIT)
    text = substitute(text, "\nGroup=searchsvc\n", f"\nGroup={grp.getgrgid(os.getgid()).gr_name}\n", UNIT)
    copy = tmp_path / UNIT.name
    copy.write_text(text, encoding="utf-8")
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "SYSTEMD_LOG_COLOR": "0"})
    output = result.stdout + result.stderr
    about_unit = [line for line in output.splitlines() if UNIT.name in line]
    assert result.returncode == 0 and not about_unit, output


def test_unit_runs_the_readme_production_command() -> None:
    """The unit's ExecStart and environment are the README's production command, word for word."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^SEARCHSVC_INDEX=\S+ \.venv/bin/gunicorn .*$", readme, re.MULTILINE)
    assert m, "README.md no longer shows the production gunicorn command; update this test"
    readme_env, readme_gunicorn, *readme_args = shlex.split(m.group(0))
    unit = UNIT.read_text(encoding="utf-8")
    (exec_start,) = unit_values(unit, "ExecStart")
    unit_gunicorn, *unit_args = shlex.split(exec_start)
    assert unit_args == readme_args
    assert unit_gunicorn.endswith("/" + readme_gunicorn)
    assert readme_env in shlex.split(" ".join(unit_values(unit, "Environment")))
