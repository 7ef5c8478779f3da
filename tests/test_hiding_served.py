"""Hiding under load: gunicorn with 2 workers stops serving a hidden article within 5 s, and brings it back as fast.

The README's production command (``gunicorn -c python:searchsvc.gunicorn_conf -w 2 --preload``) serves a copy of
the demo index; client threads send a mix of requests that can each show *Hà Nội ngập lụt sau mưa lớn*
(``demo-001``): searches for its headline and for Hà Nội (JSON and the page), autocomplete, the related articles
of its follow-up, its article in the API and as a page. ``searchsvc hide demo-001`` and later ``searchsvc unhide``
run as separate processes. Then:

- each of the two workers (held apart, see tests/test_serving.py) answers 410 for the article within 5 s of the
  command returning, and 200 again within 5 s of ``unhide``;
- no request failed, and every answer was a 200 but the 410s of the article itself while it was hidden;
- every request sent 5 s after ``hide`` saw it nowhere, every one sent 5 s after ``unhide`` saw it everywhere, and
  every one answered before ``hide`` started saw it;
- the workers that served are the ones that started.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
from test_serving import HTTP_TIMEOUT_S, Server, get, held_apart, served_index, server, service_env  # noqa: F401 (fixtures: the README's gunicorn command, 2 workers)

pytestmark = pytest.mark.slow

TAKEN = "demo-001"
HEADLINE = "Hà Nội ngập lụt sau mưa lớn"
TAKEN_URL = "https://example.vn/ha-noi-ngap-lut-sau-mua-lon"  # where the search page links it
WITHIN_S = 5.0
LOAD_THREADS = 3
PAUSE_S = 0.02

MIX = {
    "search headline": "/api/search?" + urlencode({"q": HEADLINE, "per_page": 50}),
    "search ha noi": "/api/search?" + urlencode({"q": "ha noi", "per_page": 50}),
    "search section": "/api/search?" + urlencode({"category": "Thời sự", "per_page": 50}),
    "suggest": "/api/suggest?" + urlencode({"q": "hà nội ngập"}),
    "related": "/api/articles/demo-002",
    "article": f"/api/articles/{TAKEN}",
    "article page": f"/articles/{TAKEN}",
    "search page": "/?" + urlencode({"q": "Hà Nội ngập lụt", "per_page": 50}),
    "healthz": "/healthz",
}
GONE_ALLOWED = {"article", "article page"}  # the only requests that may answer 410, while it is hidden


def shows(key: str, status: int, body: bytes) -> bool | None:
    """Whether the answer shows the taken article (None: /healthz, which never lists articles)."""
    if key == "healthz":
        return None
    if key in GONE_ALLOWED:
        return status == 200
    if key == "search page":
        return TAKEN_URL in body.decode("utf-8")
    data = json.loads(body)
    if key == "suggest":
        return HEADLINE in data["suggestions"]
    if key == "related":
        return TAKEN in [r["id"] for r in data["related"]]
    total, ids = data["total"], [h["id"] for h in data["hits"]]
    assert len(ids) == total == sum(f["count"] for f in data["facets"]["category"]), (key, total, ids)
    return TAKEN in ids


@dataclass(frozen=True)
class Seen:
    key: str
    started: float
    ended: float
    status: int = 0
    shows: bool | None = None
    error: str | None = None


@dataclass
class Load:
    srv: Server
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(LOAD_THREADS)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(HTTP_TIMEOUT_S + 10)

    def count(self, started_after: float) -> int:
        return sum(s.started >= started_after for s in list(self.seen))

    def _run(self, n: int) -> None:
        keys = list(MIX)
        i = n * len(keys) // LOAD_THREADS
        while not self._stop.is_set():
            key = keys[i % len(keys)]
            i += 1
            started = time.monotonic()
            try:
                status, _, body = get(self.srv, MIX[key])
                seen = Seen(key, started, time.monotonic(), status,
                            shows(key, status, body) if status in (200, 410) else None)
            except Exception as exc:  # a failed request, or an answer that does not add up
                seen = Seen(key, started, time.monotonic(), error=f"{type(exc).__name__}: {exc}")
            self.seen.append(seen)
            time.sleep(PAUSE_S)


def command(index: Path, tmp_path: Path, *args: str) -> float:
    """Run ``searchsvc ARGS --index INDEX`` as an operator would; the time it returned."""
    proc = subprocess.run([sys.executable, "-m", "searchsvc.cli", *args, "--index", str(index)],
                          env=service_env(index, tmp_path / "instance"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return time.monotonic()


def both_workers(srv: Server, status: int, since: float) -> float:
    """Seconds from ``since`` until each worker, held apart from the other, answers the article with ``status``."""
    while time.monotonic() < since + WITHIN_S + 5:
        answers = held_apart(srv, MIX["article"])
        if all(a[0] == status for a in answers):
            return time.monotonic() - since
        time.sleep(0.05)
    pytest.fail(f"the workers still answer {[a[0] for a in answers]} for {TAKEN}, not {status}")


def test_both_workers_stop_serving_a_hidden_article_within_5_s(server: Server, served_index: Path,  # noqa: F811
                                                               tmp_path: Path) -> None:
    workers_before = server.workers()
    with Load(server) as load:
        time.sleep(1.5)
        hide_start = time.monotonic()
        hidden = command(served_index, tmp_path, "hide", TAKEN, "--reason", "thử gỡ bài")
        hide_lag = both_workers(server, 410, hidden)
        while time.monotonic() < hidden + WITHIN_S + 1 or load.count(hidden + WITHIN_S) < 2 * len(MIX):
            time.sleep(0.1)
        unhide_start = time.monotonic()
        unhidden = command(served_index, tmp_path, "unhide", TAKEN)
        unhide_lag = both_workers(server, 200, unhidden)
        while time.monotonic() < unhidden + WITHIN_S + 1 or load.count(unhidden + WITHIN_S) < 2 * len(MIX):
            time.sleep(0.1)
    seen = load.seen

    assert hide_lag < WITHIN_S and unhide_lag < WITHIN_S
    failed = [s for s in seen if s.error]
    assert not failed, f"{len(failed)} of {len(seen)} requests failed, e.g. {failed[:3]}\n{server.last_error()}"
    wrong = [s for s in seen if s.status != 200 and not (s.status == 410 and s.key in GONE_ALLOWED)]
    assert not wrong, f"{len(wrong)} unexpected answers, e.g. {wrong[:3]}\n{server.last_error()}"
    gone = [s for s in seen if s.status == 410]
    assert gone and all(hide_start < s.ended and s.started < unhidden for s in gone), "a 410 outside the takedown"

    listed = [s for s in seen if s.shows is not None]
    before = [s for s in listed if s.ended < hide_start]
    during = [s for s in listed if hidden + WITHIN_S <= s.started and s.ended < unhide_start]
    after = [s for s in listed if s.started >= unhidden + WITHIN_S]
    for phase, expected, group in (("before", True, before), ("hidden", False, during), ("after", True, after)):
        assert {s.key for s in group} == set(MIX) - {"healthz"}, f"not every request was sent {phase}"
        off = [s for s in group if s.shows != expected]
        assert not off, f"{phase}: {len(off)} answers {'did not show' if expected else 'showed'} it: {off[:3]}"
    assert server.workers() == workers_before and server.proc.poll() is None
    print(f"\n{len(seen)} requests {dict(Counter(s.key for s in seen))}; both workers answered 410 "
          f"{hide_lag:.2f} s after 'hide' returned and 200 {unhide_lag:.2f} s after 'unhide'; "
          f"{len(gone)} answers were 410; slowest {max(s.ended - s.started for s in seen):.2f} s")
