"""An operator's slips never empty the live index, and an empty index is a normal state (issue 12).

Every test runs the real commands on a real index (the demo articles, pyvi, Whoosh on disk) and
checks the count served before and after, through the search layer that the web app uses.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import DEMO_DIR, serve

from searchsvc import create_app
from searchsvc.cli import cli
from searchsvc.engine.search import SearchRequest, SearchService
from searchsvc.index.generations import IndexStore

SEARCHSVC = [sys.executable, "-m", "searchsvc.cli"]


def served(index: Path) -> tuple[str, int]:
    """The generation a fresh server would serve, and its article count."""
    service = SearchService(index)
    return service.current().gen.name, service.document_count()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connecting is refused at once


# --- a full rebuild refuses to publish a loss ---------------------------------------------------------------------


def test_full_rebuild_of_a_mistyped_path_keeps_the_index(cli_runner, index_copy: Path, tmp_path: Path) -> None:
    before = served(index_copy)
    typo = tmp_path / "srv" / "typo-dir"
    result = cli_runner.invoke(cli, ["reindex", str(typo), "--full", "--index", str(index_copy), "-q"])
    assert result.exit_code == 2, result.output
    assert str(typo) in result.stderr and "no such file or directory" in result.stderr
    assert "--allow-partial" in result.stderr
    assert f"{before[0]} (33 articles) is still served" in result.stderr
    assert served(index_copy) == before == ("gen-000001", 33)
    assert [g.name for g in IndexStore(index_copy).generations()] == ["gen-000001"]  # nothing half-built left


def test_full_rebuild_with_one_missing_source_among_good_ones_is_refused(cli_runner, index_copy: Path,
                                                                         tmp_path: Path) -> None:
    result = cli_runner.invoke(cli, ["reindex", str(DEMO_DIR / "portal"), str(tmp_path / "nope.jsonl"), "--full",
                                     "--index", str(index_copy), "-q"])
    assert result.exit_code == 2
    assert f"{tmp_path / 'nope.jsonl'}: no such file or directory" in result.stderr
    assert served(index_copy) == ("gen-000001", 33)


def test_full_rebuild_with_an_unreachable_feed_url_is_refused(cli_runner, index_copy: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/rss/tin-moi.rss"
    result = cli_runner.invoke(cli, ["reindex", url, str(DEMO_DIR), "--full", "--index", str(index_copy), "-q"])
    assert result.exit_code == 2, result.output
    assert f"could not be read ({url}: cannot fetch {url}" in result.stderr
    assert "--allow-partial to publish the 33 articles that could be read" in result.stderr
    assert served(index_copy) == ("gen-000001", 33)

    # Deliberately: the articles that could be read are published, and the run says a record failed.
    result = cli_runner.invoke(cli, ["reindex", url, str(DEMO_DIR), "--full", "--allow-partial",
                                     "--index", str(index_copy), "-q"])
    assert result.exit_code == 1, result.output
    assert served(index_copy) == ("gen-000002", 33)


def test_full_rebuild_from_a_truncated_file_is_refused(cli_runner, index_copy: Path, tmp_path: Path) -> None:
    records = [{"id": f"t{i}", "title": f"Tin số {i} về giá lúa", "body": "Giá lúa tăng. " * 50} for i in range(200)]
    data = gzip.compress("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())
    damaged = tmp_path / "export.jsonl.gz"
    damaged.write_bytes(data[: len(data) // 2])
    result = cli_runner.invoke(cli, ["reindex", str(damaged), "--full", "--index", str(index_copy), "-q"])
    assert result.exit_code == 2, result.output
    assert "gzip data truncated or corrupt" in result.stderr and str(damaged) in result.stderr
    assert served(index_copy) == ("gen-000001", 33)


def test_full_rebuild_to_no_articles_is_refused_unless_asked(cli_runner, index_copy: Path, tmp_path: Path) -> None:
    empty = tmp_path / "exports"
    empty.mkdir()
    result = cli_runner.invoke(cli, ["reindex", str(empty), "--full", "--index", str(index_copy), "-q"])
    assert result.exit_code == 2
    assert "it holds no articles" in result.stderr and "--allow-partial to publish an empty index" in result.stderr
    assert served(index_copy) == ("gen-000001", 33)

    result = cli_runner.invoke(cli, ["reindex", str(empty), "--full", "--allow-partial", "--index", str(index_copy),
                                     "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("read 0, added 0,") and "0 articles in gen-000002" in result.stdout
    assert served(index_copy) == ("gen-000002", 0)


def test_incremental_run_of_a_mistyped_path_changes_nothing(cli_runner, index_copy: Path, tmp_path: Path) -> None:
    result = cli_runner.invoke(cli, ["reindex", str(tmp_path / "typo"), "--index", str(index_copy), "-q"])
    assert result.exit_code == 1  # a source failed; nothing else happened
    assert served(index_copy) == ("gen-000001", 33)


def test_a_refused_rebuild_run_as_a_process_keeps_a_running_server_answering(index_copy: Path,
                                                                             tmp_path: Path) -> None:
    app = create_app({"INDEX_DIR": str(index_copy), "TESTING": True})
    with serve(app) as base:
        def total() -> int:
            with urllib.request.urlopen(f"{base}/api/search?q=H%C3%A0+N%E1%BB%99i", timeout=10) as r:
                return json.load(r)["total"]

        before = total()
        result = subprocess.run([*SEARCHSVC, "reindex", str(tmp_path / "typo"), "--full", "--index", str(index_copy)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr
        assert before > 0 and total() == before
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as r:
            assert json.load(r)["documents"] == 33


# --- the last run, also when it changed nothing -------------------------------------------------------------------


def test_stats_shows_a_run_that_changed_nothing(cli_runner, index_copy: Path) -> None:
    assert cli_runner.invoke(cli, ["reindex", str(DEMO_DIR), "--index", str(index_copy), "-q"]).exit_code == 0
    result = cli_runner.invoke(cli, ["stats", "--index", str(index_copy), "--json"])
    stats = json.loads(result.stdout)
    assert stats["generation"] == 1
    assert stats["last_reindex_mode"] == "incremental" and stats["last_reindex_published"] is False
    assert stats["last_reindex_summary"]["unchanged"] == 33 and stats["last_reindex_summary"]["read"] == 33
    assert stats["last_reindex"] >= stats["built_at"]
    text = cli_runner.invoke(cli, ["stats", "--index", str(index_copy)]).stdout
    assert "(incremental): read 33, added 0, updated 0, unchanged 33" in text
    assert "nothing changed, no new generation" in text


# --- the shell search -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "   "])
def test_search_with_an_empty_query_is_a_usage_error(cli_runner, tmp_index: Path, query: str) -> None:
    result = cli_runner.invoke(cli, ["search", query, "--index", str(tmp_index)])
    assert result.exit_code == 2
    assert "QUERY is empty" in result.stderr


def test_search_json_took_ms_leaves_out_start_up(tmp_index: Path) -> None:
    start = time.monotonic()
    result = subprocess.run([*SEARCHSVC, "search", "Hà Nội ngập lụt", "--json", "--index", str(tmp_index)],
                            capture_output=True, text=True, timeout=120)
    wall_ms = (time.monotonic() - start) * 1000
    assert result.returncode == 0, result.stderr
    took = json.loads(result.stdout)["took_ms"]
    # Start-up (Python, pyvi's model, opening the index) is most of the command's time; the search is not.
    assert 0 < took < wall_ms / 4, (took, wall_ms)


# --- an empty index is a normal state -------------------------------------------------------------------------------


@pytest.fixture
def empty_index(tmp_path: Path) -> Path:
    from searchsvc.index.indexer import reindex

    source = tmp_path / "nothing-yet"
    source.mkdir()
    root = tmp_path / "index"
    summary = reindex([source], root, jobs=1, progress=False, echo=lambda m: None)
    assert summary.documents == 0 and summary.generation == "gen-000001"
    return root


def test_empty_index_answers_searches_with_no_hits(empty_index: Path) -> None:
    client = create_app({"INDEX_DIR": str(empty_index), "TESTING": True}).test_client()
    for url in ("/api/search?q=H%C3%A0+N%E1%BB%99i", "/api/search?q=ha+noi&sort=newest",
                "/api/search?category=Th%E1%BB%83+thao", "/api/search?q=%22xe+bu%C3%BDt%22+-m%C6%B0a"):
        r = client.get(url)
        assert r.status_code == 200, (url, r.get_json())
        body = r.get_json()
        assert body["total"] == 0 and body["hits"] == []
        assert body["facets"] == {"category": [], "source": [], "year": []}
    assert client.get("/api/suggest?q=h%C3%A0").get_json()["suggestions"] == []
    assert client.get("/api/articles/demo-001").status_code == 404
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json()["documents"] == 0 and health.get_json()["generation"] == 1


def test_empty_index_page_says_nothing_is_indexed_yet(empty_index: Path) -> None:
    client = create_app({"INDEX_DIR": str(empty_index), "TESTING": True}).test_client()
    for url in ("/", "/?q=H%C3%A0+N%E1%BB%99i"):
        r = client.get(url)
        assert r.status_code == 200
        page = r.get_data(as_text=True)
        assert "Kho tin chưa có bài viết nào" in page, url
        assert "Thử tìm" not in page  # no example searches that cannot find anything


def test_non_empty_index_page_does_not_say_nothing_is_indexed(client) -> None:
    for url in ("/", "/?q=zzzxqv"):
        page = client.get(url).get_data(as_text=True)
        assert "Kho tin chưa có bài viết nào" not in page


def test_empty_index_stats_and_shell_search(cli_runner, empty_index: Path) -> None:
    stats = json.loads(cli_runner.invoke(cli, ["stats", "--index", str(empty_index), "--json"]).stdout)
    assert stats["documents"] == 0 and stats["generation"] == 1
    result = cli_runner.invoke(cli, ["search", "Hà Nội", "--index", str(empty_index)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("0 results (")


@pytest.mark.slow
def test_searchsvc_serve_starts_over_an_empty_index(empty_index: Path) -> None:
    port = closed_port()
    proc = subprocess.Popen([*SEARCHSVC, "serve", "--index", str(empty_index), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"serve exited with {proc.returncode}: {proc.stdout.read()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    health = json.load(r)
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not answer within 60 s"
                time.sleep(0.2)
        assert health["status"] == "ok" and health["documents"] == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q=ha+noi", timeout=10) as r:
            assert json.load(r)["total"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


# --- ids do not depend on how a path was typed ----------------------------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"


def _site(tmp_path: Path) -> Path:
    """A portal dump: feeds/ (RSS with a summary-only entry for a page also saved in full) and pages/."""
    import shutil

    site = tmp_path / "site"
    (site / "feeds").mkdir(parents=True)
    shutil.copy(FIXTURES / "feeds" / "tin_moi.rss", site / "feeds" / "tin_moi.rss")
    shutil.copytree(FIXTURES / "html", site / "pages")
    return site


def test_reindexing_a_folder_then_its_parent_then_the_folder_keeps_one_copy(tmp_path: Path) -> None:
    from searchsvc.index.indexer import reindex

    site, index = _site(tmp_path), tmp_path / "index"
    first = reindex([site / "feeds"], index, jobs=1, echo=lambda m: None)
    feed_count = first.documents
    assert feed_count == 3
    again = reindex([site], index, jobs=1, echo=lambda m: None)  # the parent: the feed again, plus the pages
    assert again.documents == feed_count + 1  # the bridge page is the feed's summary-only entry, now in full
    third = reindex([site / "feeds"], index, jobs=1, echo=lambda m: None)
    assert third.documents == again.documents and third.added == 0
    # Typed as a relative path from elsewhere: the same ids.
    cwd = os.getcwd()
    try:
        os.chdir(site)
        fourth = reindex(["./feeds/"], index, jobs=1, echo=lambda m: None)
    finally:
        os.chdir(cwd)
    assert fourth.added == 0 and fourth.documents == again.documents


def test_a_page_and_its_feed_entry_in_separate_runs_are_one_article(tmp_path: Path) -> None:
    from searchsvc.index.indexer import reindex

    site, index = _site(tmp_path), tmp_path / "index"
    url = "https://baophuongmau.example.vn/thoi-su/khanh-thanh-cau-vuot-song-mau-luong-4521.html"
    reindex([site / "pages"], index, jobs=1, echo=lambda m: None)
    service = SearchService(index)
    [hit] = [h for h in service.search(SearchRequest(q="cầu vượt sông Mẫu Lương")).hits if h.url == url]
    full_body = service.article(hit.id)["body"]
    assert full_body.startswith("Sáng 31/3")

    # The feed, later: its summary-only entry for the same URL does not replace the full page.
    notes: list[str] = []
    summary = reindex([site / "feeds"], index, jobs=1, echo=notes.append)
    assert any("summary only" in n and hit.id in n for n in notes), notes
    fresh = SearchService(index)
    assert [h.id for h in fresh.search(SearchRequest(q="cầu vượt sông Mẫu Lương", per_page=50)).hits
            if h.url == url] == [hit.id]
    assert fresh.article(hit.id)["body"] == full_body
    assert summary.documents == 2 + 2  # 2 pages + the feed's 2 other entries

    # The other way round: a summary-only entry first, then the full page updates that same article.
    index2 = tmp_path / "index2"
    reindex([site / "feeds"], index2, jobs=1, echo=lambda m: None)
    assert SearchService(index2).article(hit.id)["body"] == ""
    later = reindex([site / "pages"], index2, jobs=1, echo=lambda m: None)
    assert later.updated == 1 and later.added == 1
    assert SearchService(index2).article(hit.id)["body"] == full_body
