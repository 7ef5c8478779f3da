"""Taking an article down (issue 13): ``searchsvc hide``/``unhide``/``hidden`` on a real index, every surface.

The commands run through click (in process) or as real processes; the surfaces are read through the Flask test
client of an app on the same index directory, which notices the changed list on its next request. Hidden means
gone from: search hits and total, facet counts, filter-only and newest-first searches, autocomplete, related
articles; the article answers 410 (JSON error shape, Vietnamese page). ``stats`` and ``/healthz`` still count the
generation's documents and say how many are hidden.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import DEMO_DIR

from searchsvc import create_app
from searchsvc.cli import cli
from searchsvc.index import hidden
from searchsvc.index.generations import IndexStore
from searchsvc.index.hiding import hide

SEARCHSVC = [sys.executable, "-m", "searchsvc.cli"]
NEW_ARTICLES = Path(__file__).parent / "serving_fixtures" / "khinh-khi-cau.jsonl"

TAKEN = "demo-001"
HEADLINE = "Hà Nội ngập lụt sau mưa lớn"


def surfaces(client) -> dict:
    """Everything a reader can see that the hidden article could show up in."""
    def search(**params) -> dict:
        response = client.get("/api/search", query_string={"per_page": 50, **params})
        assert response.status_code == 200, response.get_json()
        data = response.get_json()
        assert sum(f["count"] for f in data["facets"]["category"]) == data["total"]  # every demo article has one
        return {"total": data["total"], "ids": [h["id"] for h in data["hits"]], "facets": data["facets"]}

    article = client.get(f"/api/articles/{TAKEN}")
    page = client.get(f"/articles/{TAKEN}")
    return {
        "headline": search(q=HEADLINE),
        "ha noi": search(q="Hà Nội"),
        "ha noi newest": search(q="ha noi", sort="newest"),
        "section only": search(category="Thời sự"),
        "year only": search(**{"from": "2024-01-01", "to": "2024-12-31"}),
        "suggest": client.get("/api/suggest", query_string={"q": "hà nội ngập"}).get_json()["suggestions"],
        "suggest folded": client.get("/api/suggest", query_string={"q": "ha noi ng"}).get_json()["suggestions"],
        "related": [r["id"] for r in client.get("/api/articles/demo-002").get_json()["related"]],
        "article": (article.status_code, article.get_json()),
        "page": (page.status_code, page.get_data(as_text=True)),
        "healthz": client.get("/healthz").get_json()["documents"],
    }


def shows(seen: dict, doc_id: str = TAKEN) -> list[str]:
    """Where ``doc_id`` shows (the demo's HEADLINE for the suggestions)."""
    out = [k for k, v in seen.items() if isinstance(v, dict) and doc_id in v["ids"]]
    out += [k for k in ("suggest", "suggest folded") if HEADLINE in seen[k]]
    out += ["related"] if doc_id in seen["related"] else []
    out += ["article"] if seen["article"][0] == 200 else []
    return out


def app_on(index: Path):
    return create_app({"INDEX_DIR": str(index), "TESTING": True})


def test_hide_takes_the_article_off_every_surface_and_unhide_brings_it_back(cli_runner, index_copy: Path) -> None:
    client = app_on(index_copy).test_client()
    before = surfaces(client)
    assert shows(before) == ["headline", "ha noi", "ha noi newest", "section only", "year only", "suggest",
                             "suggest folded", "related", "article"]
    assert before["headline"]["ids"][0] == TAKEN

    result = cli_runner.invoke(cli, ["hide", TAKEN, "--reason", "yêu cầu của tòa soạn", "--index", str(index_copy)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"hidden: {TAKEN}  {HEADLINE}"
    after = surfaces(client)  # the same app, no restart: the next request sees the list
    assert shows(after) == []
    for key in ("headline", "ha noi", "ha noi newest", "section only", "year only"):
        assert after[key]["total"] == before[key]["total"] - 1, key
        assert after[key]["ids"] == [i for i in before[key]["ids"] if i != TAKEN], key  # the rest, in order
    thoi_su = {f["value"]: f["count"] for f in after["ha noi"]["facets"]["category"]}["Thời sự"]
    assert thoi_su == {f["value"]: f["count"] for f in before["ha noi"]["facets"]["category"]}["Thời sự"] - 1
    status, body = after["article"]
    assert status == 410 and body == {"error": {"status": 410, "message": f"article '{TAKEN}' has been taken down"}}
    status, html = after["page"]
    assert status == 410 and "Bài viết này đã bị gỡ" in html and HEADLINE not in html
    # Counts of the generation stay what they are; stats says how many of them are hidden.
    assert after["healthz"] == before["healthz"] == 33
    stats = json.loads(cli_runner.invoke(cli, ["stats", "--json", "--index", str(index_copy)]).stdout)
    assert (stats["documents"], stats["hidden"]) == (33, 1)
    listed = json.loads(cli_runner.invoke(cli, ["hidden", "--json", "--index", str(index_copy)]).stdout)
    assert [(r["id"], r["title"], r["reason"], r["served"]) for r in listed] == [
        (TAKEN, HEADLINE, "yêu cầu của tòa soạn", True)]

    result = cli_runner.invoke(cli, ["unhide", TAKEN, "--index", str(index_copy)])
    assert result.exit_code == 0 and result.stdout.splitlines()[0] == f"unhidden: {TAKEN}"
    assert surfaces(client) == before
    assert cli_runner.invoke(cli, ["hidden", "--index", str(index_copy)]).stdout == "nothing is hidden\n"


def test_exit_statuses_and_unknown_ids(cli_runner, index_copy: Path, tmp_path: Path) -> None:
    index = ["--index", str(index_copy)]
    result = cli_runner.invoke(cli, ["hide", "demo-002", "not-yet-7", *index])
    assert result.exit_code == 1, result.output  # recorded, but one id is not in the served index
    assert "note: not-yet-7 is not in the served index (gen-000001); recorded" in result.stderr
    assert result.stdout.splitlines()[-1].startswith("2 hidden, 0 already hidden, 1 not in the served index")
    result = cli_runner.invoke(cli, ["hide", "demo-002", "--reason", "sai thông tin", *index])
    assert result.exit_code == 0 and result.stdout.startswith("already hidden: demo-002")
    entries = hidden.read(index_copy)
    assert list(entries) == ["demo-002", "not-yet-7"] and entries["demo-002"].reason == "sai thông tin"
    assert entries["not-yet-7"].title is None

    result = cli_runner.invoke(cli, ["unhide", "demo-002", "demo-003", *index])
    assert result.exit_code == 1 and "note: demo-003 was not hidden" in result.stderr
    assert list(hidden.read(index_copy)) == ["not-yet-7"]
    text = cli_runner.invoke(cli, ["hidden", *index]).stdout
    assert "not-yet-7" in text and "(not in the served index)" in text

    missing = tmp_path / "typo"
    for args in (["hide", "x"], ["unhide", "x"], ["hidden"]):
        result = cli_runner.invoke(cli, [*args, "--index", str(missing)])
        assert result.exit_code == 2 and f"no index directory {missing}" in result.stderr
        assert not missing.exists()
    assert cli_runner.invoke(cli, ["hide", " ", *index]).exit_code == 2  # an empty id is a usage error
    assert cli_runner.invoke(cli, ["hide", *index]).exit_code == 2  # ID required


def test_a_list_broken_by_hand_is_reported_and_not_overwritten(cli_runner, index_copy: Path) -> None:
    client = app_on(index_copy).test_client()
    assert cli_runner.invoke(cli, ["hide", TAKEN, "--index", str(index_copy)]).exit_code == 0
    assert client.get(f"/api/articles/{TAKEN}").status_code == 410
    (index_copy / "hidden.json").write_text('{"format": 1, "articles": [', encoding="utf-8")
    # The server keeps hiding what it had hidden, and says what is wrong.
    assert client.get(f"/api/articles/{TAKEN}").status_code == 410
    health = client.get("/healthz").get_json()
    assert health["status"] == "degraded"
    assert any("hidden list" in p and "stay hidden" in p for p in health["problems"]), health
    # Commands refuse to replace it: it may hold takedowns.
    result = cli_runner.invoke(cli, ["hide", "demo-002", "--index", str(index_copy)])
    assert result.exit_code == 2 and "cannot be read" in result.stderr
    assert (index_copy / "hidden.json").read_text(encoding="utf-8") == '{"format": 1, "articles": ['
    assert cli_runner.invoke(cli, ["hidden", "--index", str(index_copy)]).exit_code == 2
    # A fresh process has nothing to go on: it hides nothing, and says so.
    fresh = app_on(index_copy).test_client()
    assert fresh.get(f"/api/articles/{TAKEN}").status_code == 200
    assert any("nothing is hidden" in p for p in fresh.get("/healthz").get_json()["problems"])


def test_hidden_stays_hidden_through_reindexes_and_generation_cleanup(cli_runner, index_copy: Path) -> None:
    client = app_on(index_copy).test_client()
    index = ["--index", str(index_copy)]
    assert cli_runner.invoke(cli, ["hide", TAKEN, *index]).exit_code == 0
    # An id hidden before it is indexed stays hidden when a reindex brings it.
    assert cli_runner.invoke(cli, ["hide", "serve-002", *index]).exit_code == 1
    listed = hidden.path(index_copy).read_bytes()

    def seen() -> tuple[str, list[str], list[str], int]:
        stats = json.loads(cli_runner.invoke(cli, ["stats", "--json", *index]).stdout)
        hits = client.get("/api/search", query_string={"q": HEADLINE, "per_page": 50}).get_json()["hits"]
        balloons = client.get("/api/search", query_string={"q": "khinh khí cầu", "per_page": 50}).get_json()["hits"]
        return stats["generation"], [h["id"] for h in hits], [h["id"] for h in balloons], stats["hidden"]

    runs = [["--full", str(DEMO_DIR)], [str(DEMO_DIR), str(NEW_ARTICLES)], ["--full", str(DEMO_DIR), str(NEW_ARTICLES)]]
    for n, args in enumerate(runs, start=2):
        result = cli_runner.invoke(cli, ["reindex", *args, "-j", "1", "-q", *index])
        assert result.exit_code == 0, result.output
        generation, ids, balloons, count = seen()
        assert generation == n and TAKEN not in ids and ids, (args, ids)
        assert client.get(f"/api/articles/{TAKEN}").status_code == 410
        if NEW_ARTICLES.name in " ".join(args):
            assert "serve-001" in balloons and "serve-002" not in balloons, balloons
            assert client.get("/api/articles/serve-002").status_code == 410
        assert count == (2 if NEW_ARTICLES.name in " ".join(args) else 1)
    # Older generations were cleaned away; the list, beside them, is untouched.
    assert [g.name for g in IndexStore(index_copy).generations()] == ["gen-000003", "gen-000004"]
    assert hidden.path(index_copy).read_bytes() == listed

    assert cli_runner.invoke(cli, ["unhide", TAKEN, "serve-002", *index]).exit_code == 0
    _, ids, balloons, count = seen()
    assert ids[0] == TAKEN and "serve-002" in balloons and count == 0


def test_hiding_works_while_a_reindex_holds_its_lock(cli_runner, index_copy: Path) -> None:
    client = app_on(index_copy).test_client()
    with IndexStore(index_copy).lock():
        result = cli_runner.invoke(cli, ["hide", TAKEN, "--index", str(index_copy)])
        assert result.exit_code == 0, result.output
        assert client.get(f"/api/articles/{TAKEN}").status_code == 410


def test_concurrent_hide_commands_lose_nothing(index_copy: Path) -> None:
    ids = [f"demo-{n:03d}" for n in range(2, 10)]
    procs = [subprocess.Popen([*SEARCHSVC, "hide", doc_id, "--index", str(index_copy)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for doc_id in ids]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert sorted(hidden.read(index_copy)) == ids


@pytest.mark.slow
def test_a_killed_hide_never_leaves_half_a_list(index_copy: Path) -> None:
    """SIGKILL ``searchsvc hide`` at moments spread over its run, a few times: the list always parses and is the
    old one or the new one, a reader polling it meanwhile never sees anything else, and the next command works.
    The list holds 20,000 ids, so that writing it takes long enough for some kills to land in the middle."""
    hide(index_copy, [f"old-{n:05d}" for n in range(20_000)], reason="a long list, so that writing takes a while")
    expected = [set(hidden.read(index_copy))]
    start = time.monotonic()
    subprocess.run([*SEARCHSVC, "hide", "timing-run", "--index", str(index_copy)], check=False, capture_output=True)
    run_s = time.monotonic() - start
    expected.append(expected[-1] | {"timing-run"})

    stop = threading.Event()
    seen: list[frozenset[str]] = []
    errors: list[str] = []

    def poll() -> None:
        while not stop.is_set():
            try:
                seen.append(frozenset(hidden.read(index_copy)))
            except hidden.HiddenListError as exc:
                errors.append(str(exc))

    reader = threading.Thread(target=poll, daemon=True)
    reader.start()
    rng = random.Random(13)
    killed_alive = 0
    outcomes = []
    try:
        for n in range(8):
            doc_id = f"kill-{n}"
            proc = subprocess.Popen([*SEARCHSVC, "hide", doc_id, "--index", str(index_copy)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.5, 1.0) * run_s)
            if proc.poll() is None:
                killed_alive += 1
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            now = set(hidden.read(index_copy))
            assert now in (expected[-1], expected[-1] | {doc_id}), f"try {n}: neither the old nor the new list"
            outcomes.append("new" if doc_id in now else "old")
            expected.append(now)
    finally:
        stop.set()
        reader.join(10)
    assert not errors, errors[:3]
    assert {s for s in seen} <= {frozenset(s) for s in expected}
    assert killed_alive >= 1, "no command was still running when killed: the test proved nothing"
    print(f"\n{killed_alive} of 8 commands killed while running (one run: {run_s:.2f} s); lists left: {outcomes}; "
          f"{len(seen)} reads meanwhile, all whole")
    # The lock died with the killed commands: the next one goes through at once.
    done = subprocess.run([*SEARCHSVC, "hide", "after", "--index", str(index_copy)], capture_output=True, timeout=60)
    assert done.returncode == 1 and "after" in hidden.read(index_copy)
