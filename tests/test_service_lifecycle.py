"""SearchService across a fork and across generations, on real on-disk indexes of searchsvc/demo.

gunicorn (``--preload``) builds the service's tables once and forks its
workers: each worker must read through file handles of its own (a handle
inherited from the parent shares its position with every other process)
while keeping the tables built before the fork. A reindex publishes a new
generation under a running service: it must be served only once its tables
are built, so no request waits for them.
"""

from __future__ import annotations

import json
import os
import select
import signal
import threading
from pathlib import Path

from searchsvc.engine.ranking import Ranker
from searchsvc.engine.search import FACETS, SearchRequest, SearchService
from searchsvc.index.indexer import reindex
from searchsvc.index.schema import FOLDED, TEXT_PARTS, WORD

QUERIES = ["hà nội", "ha noi ngap lut", "đường", "duong", "xe buýt điện", "mưa lớn -ngập", '"hà nội" -"mưa lớn"',
           "robott", "sức khỏe", "Robot nhổ cỏ do ai chế tạo?", 'category:"Thể thao"', "giá vàng", "học sinh"]
ROUNDS = 6
CHILD_SECONDS = 60


def answer(svc: SearchService, q: str) -> dict:
    """What a reader sees: the hits in order with their snippets, the total, the suggestion, the facets."""
    result = svc.search(SearchRequest(q=q, per_page=20))
    return {
        "total": result.total,
        "hits": [[h.id, h.title_html, h.snippet_html] for h in result.hits],
        "suggestion": result.suggestion,
        "facets": result.facets,
    }


def run_queries(svc: SearchService, expected: dict[str, dict]) -> dict[str, list[str]]:
    errors: list[str] = []
    wrong: list[str] = []
    for _ in range(ROUNDS):
        for q in QUERIES:
            try:
                got = answer(svc, q)
            except Exception as exc:  # reported, not raised: the child must always report
                errors.append(f"{q!r}: {exc!r}")
                continue
            if got != expected[q]:
                wrong.append(q)
    return {"errors": errors, "wrong": wrong}


def is_warm(opened) -> bool:
    return (
        opened.speller._accents is not None
        and set(opened.arrays._columns) >= set(FACETS)
        and {(p, u) for p in TEXT_PARTS for u in (WORD, FOLDED)} <= set(opened.ranker._norms)
    )


# --- fork --------------------------------------------------------------------------------------------------


def test_forked_child_reopens_files_and_searches_alongside_the_parent(tmp_index, search_service):
    expected = {q: answer(search_service, q) for q in QUERIES}  # from another service: svc reads nothing early
    svc = SearchService(tmp_index)
    svc.warm()  # as gunicorn's preload does, before forking
    parent_open = svc.current()
    assert parent_open.pid == os.getpid() and is_warm(parent_open)
    accents, parent_reader, parent_io = parent_open.speller._accents, parent_open.searcher.reader(), parent_open.io

    go_r, go_w = os.pipe()
    res_r, res_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(go_w)
            os.close(res_r)
            os.read(go_r, 1)  # start together with the parent
            opened = svc.current()
            reader = opened.searcher.reader()
            report = {
                "pid": os.getpid(),
                "open_pid": opened.pid,
                "same_generation": opened is parent_open,
                "tables_kept": opened.speller._accents is accents and is_warm(opened),
                "own_reader": reader is not parent_reader and opened.arrays.reader is reader
                and opened.speller.reader is reader,
                "own_lock": opened.io is not parent_io and opened.arrays.io is opened.io
                and opened.speller.io is opened.io,
                **run_queries(svc, expected),
            }
            with os.fdopen(res_w, "w", encoding="utf-8") as out:
                json.dump(report, out)
            status = 0
        finally:
            os._exit(status)

    os.close(go_r)
    os.close(res_w)
    raw = ""
    try:
        os.write(go_w, b"g")
        os.close(go_w)
        mine = run_queries(svc, expected)  # at the same time as the child
        ready, _, _ = select.select([res_r], [], [], CHILD_SECONDS)
        if ready:
            with os.fdopen(res_r, encoding="utf-8") as f:
                raw = f.read()
    finally:
        if not raw:
            os.kill(pid, signal.SIGKILL)  # hung or failed: do not wait for it
        _, status = os.waitpid(pid, 0)
    assert raw, f"the child did not report (wait status {status})"
    assert os.waitstatus_to_exitcode(status) == 0
    report = json.loads(raw)
    assert report["pid"] == pid != os.getpid()
    assert report["open_pid"] == pid  # current() reopened the files in the child ...
    assert report["own_reader"] and report["own_lock"]
    assert report["same_generation"] and report["tables_kept"]  # ... keeping the tables built before the fork
    assert (report["errors"], report["wrong"]) == ([], [])
    assert mine == {"errors": [], "wrong": []}
    assert svc.current() is parent_open and parent_open.pid == os.getpid()  # the parent's own stay as they were
    assert parent_open.searcher.reader() is parent_reader and parent_open.io is parent_io


def test_current_in_the_parent_does_not_reopen(tmp_index):
    svc = SearchService(tmp_index)
    opened = svc.current()
    reader = opened.searcher.reader()
    for _ in range(3):
        assert svc.current() is opened
    assert opened.searcher.reader() is reader and opened.pid == os.getpid()


# --- a new generation ---------------------------------------------------------------------------------------

EXTRA = {
    "id": "extra-001", "title": "Lễ hội khinh khí cầu lần đầu được tổ chức", "sapo": "",
    "body": "Hàng trăm khinh khí cầu bay lên trên bầu trời.", "category": "Văn hóa",
    "source": "Báo Mẫu", "published": "2025-07-01", "url": "https://example.vn/khinh-khi-cau",
}


def publish_extra(index_dir: Path, tmp_path: Path, articles: list[dict]) -> None:
    extra = tmp_path / "extra"
    extra.mkdir(exist_ok=True)
    (extra / "extra.jsonl").write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles),
                                       encoding="utf-8")
    reindex([extra], index_dir, jobs=1, echo=lambda m: None)


def test_new_generation_is_served_only_once_warm(index_copy, tmp_path):
    svc = SearchService(index_copy)
    first = svc.current()
    assert not is_warm(first)  # the first generation opens lazily (SearchService.warm is for before a fork)
    assert svc.search(SearchRequest(q='"khinh khí cầu"')).total == 0
    publish_extra(index_copy, tmp_path, [EXTRA])

    # While another thread opens the new generation, a request stays on the old one rather than wait.
    with svc._lock:
        assert svc.current() is first
    newer = svc.current()
    assert newer is not first and newer.gen.number == first.gen.number + 1
    assert is_warm(newer)  # built before it was served
    assert svc.current() is newer
    assert [h.id for h in svc.search(SearchRequest(q='"khinh khí cầu"')).hits] == ["extra-001"]
    assert svc.search(SearchRequest(q="khinh khi cau")).suggestion["text"] == "khinh khí cầu"
    assert isinstance(newer.ranker, Ranker) and newer.ranker.arrays is newer.arrays


def test_requests_during_a_switch_get_the_old_generation_or_a_warm_new_one(index_copy, tmp_path):
    svc = SearchService(index_copy)
    first = svc.current()
    svc.search(SearchRequest(q="hà nội"))
    seen: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def serve() -> None:
        try:
            while not stop.is_set():
                opened = svc.current()
                seen.append((opened.gen.number, opened is first or is_warm(opened)))
                if opened is not first:
                    return
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=serve) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        publish_extra(index_copy, tmp_path, [EXTRA])
        for t in threads:
            t.join(timeout=30)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert errors == []
    assert all(warm for _, warm in seen)
    assert {number for number, _ in seen} == {first.gen.number, first.gen.number + 1}
    newer = svc.current()
    assert newer.gen.number == first.gen.number + 1 and is_warm(newer)
