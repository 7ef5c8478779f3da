"""Readers' searches recorded and reported (issue 13, part 2), with the real app, recorder and SQLite database.

What is recorded (page and API searches, as typed, normalised, rewritten, filters, page, count, time) and what is
not (autocomplete, articles, refused requests, the CLI's search; nothing about the reader: address, cookie, user
agent); ``searchsvc analytics`` as text, JSON and one self-contained HTML page; old records removed; nothing at
all with ``ANALYTICS = False``; a database held locked by another connection drops and counts searches while every
search still answers 200 at once. gunicorn with several workers: tests/test_analytics_served.py.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from pathlib import Path

import pytest

from searchsvc import create_app
from searchsvc.analytics import report, store
from searchsvc.analytics.recorder import Recorder
from searchsvc.cli import cli
from searchsvc.config import analytics_path, load

READER = {"REMOTE_ADDR": "203.0.113.77"}
HEADERS = {"User-Agent": "Mozilla/5.0 (ReaderAgentMarker)", "Cookie": "session=CookieMarker42",
           "X-Forwarded-For": "198.51.100.23", "Referer": "https://example.vn/RefererMarker"}
IDENTIFYING = ("203.0.113.77", "198.51.100.23", "ReaderAgentMarker", "CookieMarker42", "RefererMarker")


def rows(path: Path) -> list[dict]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM searches ORDER BY id")]
    finally:
        conn.close()


def written(app) -> Path:
    """Wait for the app's recorder to write what it was given; its database."""
    recorder = app.extensions["searchsvc.analytics"]
    assert recorder.flush(30)
    return recorder.path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "analytics" / "searches.sqlite3"


@pytest.fixture
def app(tmp_index: Path, db: Path):
    return create_app({"INDEX_DIR": str(tmp_index), "ANALYTICS_PATH": str(db), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def search(client, path: str = "/api/search", status: int = 200, **params):
    response = client.get(path, query_string=params, headers=HEADERS, environ_base=READER)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response


# --- what is recorded ----------------------------------------------------------------------------------------------


def test_page_and_api_searches_are_recorded_as_typed_with_filters_and_counts(app, client, db: Path) -> None:
    api = search(client, q="Hà  Nội", category="Thời sự", source="", sort="newest", per_page=5, **{
        "from": "2020-01-01", "to": "2030-12-31"}).json
    search(client, q="ha noi", page=2)
    page = search(client, "/", q="Haf Nooij")
    search(client, "/", q="UBND")
    search(client, q="zzzkhongco")

    got = rows(written(app))
    assert [r["via"] for r in got] == ["api", "api", "page", "page", "api"]
    first = got[0]
    assert first["query"] == "Hà  Nội"  # as typed
    assert first["normalized"] == "hà nội"  # the engine's text (NFC, one space), lower case
    assert (first["category"], first["source"], first["date_from"], first["date_to"]) == (
        "Thời sự", None, "2020-01-01", "2030-12-31")
    assert (first["sort"], first["page"], first["per_page"], first["verbatim"]) == ("newest", 1, 5, 0)
    assert first["results"] == api["total"] and first["took_ms"] == pytest.approx(api["took_ms"], abs=0.06)
    assert abs(first["at"] - time.time()) < 60
    assert (first["rewritten"], first["rewritten_to"], first["rewrite_kinds"]) == (0, None, None)

    assert (got[1]["page"], got[1]["normalized"]) == (2, "ha noi")
    assert got[1]["results"] == 15
    # Keys typed with the input method off: read as Hà Nội, and the page says so; the record too.
    assert "Hà Nội" in page.get_data(as_text=True)
    assert (got[2]["rewritten"], got[2]["rewritten_to"], got[2]["rewrite_kinds"]) == (1, "Hà Nội", "telex")
    # An abbreviation also searched spelled out.
    assert (got[3]["rewritten"], got[3]["rewrite_kinds"]) == (1, "synonym")
    assert "ủy ban nhân dân" in got[3]["rewritten_to"]
    assert (got[4]["results"], got[4]["rewritten"]) == (0, 0)


def test_a_did_you_mean_counts_as_rewritten(app, client) -> None:
    answer = search(client, q="ha noi").json
    assert answer["suggestion"]["text"] == "Hà Nội"
    (row,) = rows(written(app))
    assert (row["rewritten"], row["rewritten_to"], row["rewrite_kinds"]) == (1, "Hà Nội", "suggestion")


def test_nothing_identifies_the_reader(app, client, db: Path) -> None:
    search(client, q="Hà Nội")
    search(client, "/", q="xe buýt")
    written(app)
    conn = sqlite3.connect(db)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(searches)")]
    conn.close()
    assert columns == ["id", *store.COLUMNS]
    assert not {"ip", "addr", "address", "remote_addr", "user_agent", "agent", "cookie", "session", "referer"} & {
        c.lower() for c in columns}
    data = b"".join(p.read_bytes() for p in db.parent.iterdir())  # the database, its -wal and -shm
    for marker in IDENTIFYING:
        assert marker.encode() not in data, marker
    assert "xe buýt".encode() in data  # (what is recorded is in these files)


def test_what_is_not_a_readers_search_is_not_recorded(app, client, tmp_index: Path) -> None:
    search(client, "/api/suggest", q="ha no")  # autocomplete keystrokes
    article_id = search(client, q="Hà Nội").json["hits"][0]["id"]  # recorded: the one search here
    search(client, f"/api/articles/{article_id}", q="Hà Nội")
    search(client, f"/articles/{article_id}", q="Hà Nội")
    search(client, "/healthz")
    search(client, "/")  # the home page
    search(client, "/", q="   ")  # nothing typed, no filter: the page asks for words
    search(client, status=400, q="tin", per_page=500)  # refused
    search(client, "/", status=400, q="tin", sort="sideways")
    search(client, "/", status=404, q="Hà Nội", page=99)  # past the last page
    assert [r["query"] for r in rows(written(app))] == ["Hà Nội"]


def test_the_cli_search_is_not_recorded(cli_runner, isolated_config: Path, tmp_index: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "cli" / "searches.sqlite3"
    monkeypatch.setenv("SEARCHSVC_ANALYTICS_PATH", str(db))
    result = cli_runner.invoke(cli, ["search", "Hà Nội", "--index", str(tmp_index)])
    assert result.exit_code == 0, result.output
    assert not db.parent.exists()


def test_a_server_and_the_command_find_the_same_database_beside_the_index(
        cli_runner, isolated_config: Path, index_copy: Path) -> None:
    """No ANALYTICS_PATH: <INDEX_DIR>.analytics/searches.sqlite3, outside the index (which may be read-only)."""
    before = sorted(p.relative_to(index_copy) for p in index_copy.rglob("*"))
    app = create_app({"INDEX_DIR": str(index_copy), "TESTING": True})
    search(app.test_client(), q="Hà Nội")
    path = written(app)
    assert path == index_copy.parent / "index.analytics" / "searches.sqlite3" == analytics_path(load(), index_copy)
    assert sorted(p.relative_to(index_copy) for p in index_copy.rglob("*")) == before
    result = cli_runner.invoke(cli, ["analytics", "--index", str(index_copy), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["searches"] == 1


# --- the report ------------------------------------------------------------------------------------------------


@pytest.fixture
def reported(app, client, db: Path) -> Path:
    """A few days of real searches through the app: the same query typed three ways, one without results, one
    rewritten, one hostile; then one record moved two days back (as if searched then)."""
    for q in ("Hà Nội", "hà nội", "HÀ NỘI", "ha noi", "ha noi", "zzzkhongco", "Haf Nooij", "xe buýt",
              "<script>alert('x')</script>"):
        search(client, q=q)
    search(client, "/", q="Hà Nội", category="Thời sự")
    search(client, "/", q="Hà Nội", page=2)  # a further page of a search
    written(app)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE searches SET at = at - 2 * 86400 WHERE query = 'xe buýt'")
    conn.commit()
    conn.close()
    return db


def test_analytics_text(cli_runner, isolated_config: Path, reported: Path, monkeypatch) -> None:
    monkeypatch.setenv("SEARCHSVC_ANALYTICS_PATH", str(reported))
    result = cli_runner.invoke(cli, ["analytics", "--days", "7"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "last 7 days" in out
    assert "searches: 10 (search page 1, API 9); further result pages: 1;" in out
    sections = ["Top queries", "Queries with no results", "Queries most often rewritten", "Slowest queries",
                "Searches per day"]
    assert [s for s in sections if s in out] == sections
    top = out.split("Top queries")[1].split("Queries with no results")[0]
    first = top.strip().splitlines()[1].split()
    assert first[0] == "4" and " ".join(first[2:]) == "Hà Nội"  # three ways of typing it, plus the page: one query
    assert re.search(r"^\s+1\s+\S+ \S+\s+zzzkhongco$", out.split("Queries with no results")[1], re.MULTILINE)
    assert "ha noi -> Hà Nội" in out and "Haf Nooij -> Hà Nội" in out
    days = out.split("Searches per day")[1].strip().splitlines()[1:]
    assert len(days) == 7 and days[-1].split()[0] == "9" and days[-3].split()[0] == "1"


def test_analytics_json(cli_runner, isolated_config: Path, reported: Path, monkeypatch) -> None:
    monkeypatch.setenv("SEARCHSVC_ANALYTICS_PATH", str(reported))
    result = cli_runner.invoke(cli, ["analytics", "--json", "--limit", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["days"] == 30 and len(data["per_day"]) == 30
    t = data["totals"]
    assert (t["searches"], t["more_pages"], t["no_results"], t["via_page"], t["via_api"], t["lost"]) == (
        10, 1, 2, 1, 9, 0)
    assert t["rewritten"] == 4  # ha noi twice (did you mean), Haf Nooij (telex), the script tag (did you mean)
    assert t["took_ms_median"] > 0 and t["took_ms_p95"] >= t["took_ms_median"]
    assert len(data["top_queries"]) == 3
    assert data["top_queries"][0] == {"query": "hà nội", "typed": "Hà Nội", "searches": 4,
                                      "results": data["top_queries"][0]["results"], "no_results": 0}
    assert data["top_queries"][1]["query"] == "ha noi" and data["top_queries"][1]["searches"] == 2
    assert sorted(q["query"] for q in data["no_results"]) == ["<script>alert('x')</script>", "zzzkhongco"]
    rewritten = {q["query"]: q for q in data["rewritten"]}
    assert rewritten["ha noi"] | {"share": 1.0} == {"query": "ha noi", "typed": "ha noi", "rewritten": 2,
                                                    "searches": 2, "share": 1.0, "read_as": "Hà Nội",
                                                    "kinds": ["suggestion"]}
    assert rewritten["haf nooij"]["kinds"] == ["telex"]
    assert len(data["slowest"]) == 3
    assert data["slowest"][0]["took_ms"] >= data["slowest"][1]["took_ms"] >= data["slowest"][2]["took_ms"]
    assert sum(d["searches"] for d in data["per_day"]) == 10


def test_analytics_html_is_one_self_contained_page(cli_runner, isolated_config: Path, reported: Path,
                                                   tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SEARCHSVC_ANALYTICS_PATH", str(reported))
    page = tmp_path / "report.html"
    result = cli_runner.invoke(cli, ["analytics", "--html", str(page), "--days", "14"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {page}: 10 searches")
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and '<html lang="vi">' in html and '<meta charset="utf-8">' in html
    # Nothing is fetched from anywhere: no external src/href, no stylesheet or script file, no CSS url().
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(", html, re.IGNORECASE)
    assert "<style>" in html and "<svg" in html and html.count("<rect") == 2 * 14
    for heading in ("Lượt tìm mỗi ngày", "Từ khóa được tìm nhiều nhất", "Tìm kiếm không có kết quả",
                    "Từ khóa thường được hiểu lại", "Tìm kiếm chậm nhất"):
        assert f"<h2>{heading}</h2>" in html
    assert "Hà Nội" in html and "zzzkhongco" in html and "phím Telex" in html
    # What readers typed is text, never markup.
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    # The same command with --json as well prints JSON and still writes the page.
    page.unlink()
    result = cli_runner.invoke(cli, ["analytics", "--html", str(page), "--json"])
    assert json.loads(result.stdout)["totals"]["searches"] == 10 and page.is_file()


def test_analytics_with_nothing_recorded_yet(cli_runner, isolated_config: Path, tmp_path: Path) -> None:
    index = tmp_path / "never-served"
    result = cli_runner.invoke(cli, ["analytics", "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["totals"]["searches"] == 0 and len(data["per_day"]) == 30
    assert "no searches recorded" in data["notes"][0]
    assert not (tmp_path / "never-served.analytics").exists()  # the command never creates a database
    result = cli_runner.invoke(cli, ["analytics", "--index", str(index)])
    assert result.exit_code == 0 and "note: no searches recorded" in result.stdout


# --- retention ---------------------------------------------------------------------------------------------------


def _old(db: Path, *ages_days: float) -> None:
    conn = store.open_for_writing(db, 2000)
    now = time.time()
    store.write(conn, [store.Search(via="api", query=f"cũ {age}", normalized=f"cũ {age}", results=1, took_ms=1.0,
                                    at=now - age * 86400).row() for age in ages_days],
                {store.local_day(now - 100 * 86400): 4})
    conn.close()


def test_old_records_are_removed_by_the_writer(tmp_index: Path, db: Path) -> None:
    _old(db, 100, 91, 89, 1)
    app = create_app({"INDEX_DIR": str(tmp_index), "ANALYTICS_PATH": str(db), "ANALYTICS_DAYS": 90})
    search(app.test_client(), q="Hà Nội")
    assert [r["query"] for r in rows(written(app))] == ["cũ 89", "cũ 1", "Hà Nội"]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM lost").fetchone()[0] == 0  # the old day's count too
    conn.close()


def test_old_records_are_removed_by_the_command(cli_runner, isolated_config: Path, db: Path, monkeypatch) -> None:
    _old(db, 40, 31, 29, 0)
    monkeypatch.setenv("SEARCHSVC_ANALYTICS_PATH", str(db))
    monkeypatch.setenv("SEARCHSVC_ANALYTICS_DAYS", "30")
    result = cli_runner.invoke(cli, ["analytics", "--json", "--days", "60"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["totals"]["removed_old"] == 2
    assert sorted(r["query"] for r in rows(db)) == ["cũ 0", "cũ 29"]
    assert any("kept 30 days" in n for n in data["notes"])


# --- off ---------------------------------------------------------------------------------------------------------


def test_analytics_off_records_nothing_and_creates_no_file(tmp_index: Path, index_copy: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "off" / "searches.sqlite3"
    app = create_app({"INDEX_DIR": str(index_copy), "ANALYTICS_PATH": str(db), "ANALYTICS": False})
    assert app.extensions["searchsvc.analytics"] is None
    client = app.test_client()
    search(client, q="Hà Nội")
    search(client, "/", q="Hà Nội")
    # From the environment too, as operators set it (SEARCHSVC_ANALYTICS=0), and with the default place.
    monkeypatch.setenv("SEARCHSVC_ANALYTICS", "0")
    app = create_app({"INDEX_DIR": str(index_copy)})
    assert app.config["ANALYTICS"] is False and app.extensions["searchsvc.analytics"] is None
    search(app.test_client(), q="Hà Nội")
    assert not db.parent.exists() and not (tmp_path / "index.analytics").exists()
    monkeypatch.setenv("SEARCHSVC_ANALYTICS", "1")
    assert create_app({"INDEX_DIR": str(index_copy)}).config["ANALYTICS"] is True


# --- failures: never the search's ---------------------------------------------------------------------------------


def test_a_locked_database_drops_and_counts_searches_and_never_fails_one(app, client, db: Path, caplog) -> None:
    search(client, q="Hà Nội")
    written(app)
    recorder = app.extensions["searchsvc.analytics"]
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process holding the database (a long report, a backup)
    caplog.set_level(logging.WARNING, logger="searchsvc.analytics")
    try:
        for q in ("xe buýt", "ha noi", "tiem vac xin"):
            start = time.perf_counter()
            search(client, q=q)
            search(client, "/", q=q)
            assert time.perf_counter() - start < 1.5  # not held up by the lock (the writer waits 2 s for it)
        assert recorder.flush(30)
        assert recorder.stats()["dropped"] == 6 and recorder.stats()["written"] == 1
        search(client, q="lần nữa")
        assert recorder.flush(30)
        assert recorder.stats()["dropped"] == 7
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    warnings = [r for r in caplog.records if r.name == "searchsvc.analytics" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "database is locked" in warnings[0].getMessage()  # logged once
    search(client, q="sau đó")
    assert recorder.flush(30)
    assert [r["query"] for r in rows(db)] == ["Hà Nội", "sau đó"]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT total(searches) FROM lost").fetchone()[0] == 7  # written with the next batch
    conn.close()
    assert report.build(db).as_json()["totals"]["lost"] == 7


def test_a_writer_far_behind_drops_at_the_queue(tmp_path: Path) -> None:
    db = tmp_path / "behind" / "searches.sqlite3"
    recorder = Recorder(db, batch=1, max_queued=2)
    assert recorder.record(via="api", query="a", normalized="a", results=1, took_ms=1.0)
    assert recorder.flush(10)
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        assert recorder.record(via="api", query="b", normalized="b", results=1, took_ms=1.0)
        time.sleep(0.3)  # the writer took it and waits for the lock; two more fit in the queue
        accepted = [recorder.record(via="api", query=q, normalized=q, results=1, took_ms=1.0) for q in "cdefg"]
    finally:
        time.sleep(0.2)
        locker.execute("ROLLBACK")
        locker.close()
    assert accepted == [True, True, False, False, False]
    assert recorder.flush(10)
    assert sorted(r["query"] for r in rows(db)) == ["a", "b", "c", "d"]
    assert recorder.stats()["dropped"] == 3
    recorder.close()


def test_a_bad_record_is_counted_never_raised(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "x" / "searches.sqlite3")
    assert recorder.record(via="api", query="q", normalized="q", results="many", took_ms=1.0) is False
    assert recorder.record(via="api", query="q") is False  # fields missing
    assert recorder.stats()["dropped"] == 2
    recorder.close()


def test_an_unwritable_place_drops_and_the_searches_still_answer(tmp_index: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    app = create_app({"INDEX_DIR": str(tmp_index), "ANALYTICS_PATH": str(blocker / "searches.sqlite3")})
    client = app.test_client()
    search(client, q="Hà Nội")
    search(client, "/", q="Hà Nội")
    recorder = app.extensions["searchsvc.analytics"]
    assert recorder.flush(30)
    assert recorder.stats()["dropped"] == 2 and recorder.stats()["written"] == 0
