"""Issue 5, "keeps serving and loses nothing": a reindex killed with SIGKILL at each phase, and malformed files.

The kills run the real CLI in a subprocess and watch the new generation's directory to choose the moment:
before any segment file of the new generation exists, while segments are written (no meta.json yet), and
as close to the switch of CURRENT as polling allows. After each kill the index must serve one whole
generation (the previous one, or the new one if the atomic rename had happened), the lock must be free,
and the next reindex, with no clean-up by hand, must end with every article.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Echo
from test_indexer import assert_adds_up, copies, ids, published_ok, write_jsonl

from searchsvc.engine.search import SearchService
from searchsvc.index.generations import CURRENT, LOCK, META, IndexBusy, IndexStore
from searchsvc.index.indexer import reindex

# Small original articles for the generation that must keep serving.
BASE = [
    {"id": "b1", "title": "Chợ nổi Cái Răng tấp nập mùa nước nổi",
     "body": "Ghe thuyền chở bưởi, xoài và khóm cập bến từ lúc trời còn tối.", "category": "Du lịch"},
    {"id": "b2", "title": "Làng gốm Bát Tràng nhận đơn hàng cuối năm",
     "body": "Người thợ nặn bình gốm men lam suốt ngày đêm cho kịp Tết.", "category": "Kinh doanh"},
    {"id": "b3", "title": "Sân bay Long Thành lắp đặt mái nhà ga",
     "body": "Những tấm mái hình hoa sen được cẩu lên độ cao bốn mươi mét.", "category": "Thời sự"},
    {"id": "b4", "title": "Vườn quốc gia Cúc Phương thả voọc về rừng",
     "body": "Đàn voọc mông trắng được chăm sóc hai năm trước khi tái thả.", "category": "Môi trường"},
]
BIG_N = 800  # enough for a jobs=1 run to spend a few seconds writing, little enough to keep the file fast
PREV, NEW = "gen-000001", "gen-000002"


@pytest.fixture(scope="module")
def base_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("base")
    root = d / "index"
    summary = reindex([write_jsonl(d / "base.jsonl", BASE)], root, jobs=1, echo=Echo())
    assert (summary.documents, summary.generation) == (len(BASE), PREV)
    return root


@pytest.fixture(scope="module")
def big_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("big") / "big.jsonl", copies(BIG_N, "big"))


def children(pid: int) -> list[int]:
    """The processes ``pid`` forked (the reindex's writer workers), from /proc."""
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def new_segment_files(root: Path) -> set[str]:
    """Segment files in the new generation that the previous one does not have (its hard links are not new)."""
    try:
        new = set(os.listdir(root / NEW))
    except FileNotFoundError:
        return set()
    old = set(os.listdir(root / PREV)) if (root / PREV).is_dir() else set()
    return {n for n in new - old if n.startswith("MAIN_")}


def kill_reindex(tmp_path: Path, root: Path, src: Path, jobs: int, moment: Callable[[], bool],
                 settle: float = 0.0) -> list[int]:
    """Run ``searchsvc reindex`` and SIGKILL only the reindex process as soon as ``moment()`` is true.

    Returns the pids of the workers it had forked (they are not signalled here: a caller kills them).
    """
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "searchsvc.cli", "reindex", str(src), "--index", str(root), "--jobs", str(jobs),
         "-q"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not moment():
            assert proc.poll() is None, "the reindex ended before the moment to kill it"
            assert time.monotonic() < deadline
            time.sleep(0.0005)
        if settle:
            time.sleep(settle)
        assert proc.poll() is None, "the reindex ended before it could be killed"
        workers = children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return workers


def end_workers(pids: list[int]) -> None:
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.01)


def assert_serving_whole_generation(root: Path) -> str:
    """One whole generation is served, with all its articles; returns its name."""
    store = IndexStore(root)
    served = store.current()
    assert served is not None
    assert store.names(served), "CURRENT must name the generation served (no fallback needed)"
    assert (served.path / META).is_file(), f"{served.name} is served but was never published"
    svc = SearchService(root)
    expected = {PREV: len(BASE), NEW: len(BASE) + BIG_N}[served.name]
    assert svc.stats()["documents"] == expected
    assert "b2" in ids(svc, "gốm Bát Tràng")
    assert svc.article("b4")["title"] == BASE[3]["title"]
    if served.name == NEW:
        assert svc.article(f"big-{BIG_N - 1:04d}") is not None
    return served.name


def assert_lock_free(root: Path) -> None:
    with IndexStore(root).lock():
        pass


def lock_holders(root: Path) -> list[str]:
    """The processes with the index's lock file open (pid and command line), from /proc."""
    lock = str((root / LOCK).resolve())
    held = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) == lock for fd in (entry / "fd").iterdir()):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                held.append(f"{entry.name}: {command[:120]}")
        except OSError:
            continue
    return held


def wait_until_lock_free(root: Path, seconds: float = 10.0) -> None:
    """Orphaned writers die with their parent, though on a loaded machine not always at once; one that
    outlived it would block on its inbox forever, so waiting a few seconds still tells the two apart."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            assert_lock_free(root)
            return
        except IndexBusy as busy:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"the lock is still held {seconds:g} s after the kill: {lock_holders(root)}") from busy
            time.sleep(0.05)


def assert_next_reindex_completes(root: Path, src: Path) -> None:
    summary = reindex([src], root, jobs=2, echo=Echo())
    assert_adds_up(summary)
    assert summary.failed == 0
    assert summary.documents == len(BASE) + BIG_N
    assert (root / CURRENT).read_text() == f"{summary.generation}\n"
    published_ok(root)  # no half-built generation left behind
    svc = SearchService(root)
    assert svc.stats()["documents"] == len(BASE) + BIG_N
    assert "b2" in ids(svc, "gốm Bát Tràng")
    assert svc.article("big-0000") is not None and svc.article(f"big-{BIG_N - 1:04d}") is not None


def fresh(base_index: Path, tmp_path: Path, name: str = "index") -> Path:
    root = tmp_path / name
    shutil.copytree(base_index, root)
    return root


# --- kill -9 at several points ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_killed_before_any_segment_is_written(tmp_path: Path, base_index: Path, big_source: Path) -> None:
    root = fresh(base_index, tmp_path)
    # jobs=2: the parent loads the model before forking the writers; kill the moment the directory appears.
    workers = kill_reindex(tmp_path, root, big_source, 2, lambda: (root / NEW).is_dir())
    try:
        assert workers == []  # no writer forked yet
        assert new_segment_files(root) == set(), "the kill came after segments were written"
        assert not (root / NEW / META).exists()
        assert assert_serving_whole_generation(root) == PREV
        assert_lock_free(root)
    finally:
        end_workers(workers)
    assert_next_reindex_completes(root, big_source)


@pytest.mark.slow
def test_killed_while_writing_segments(tmp_path: Path, base_index: Path, big_source: Path) -> None:
    root = fresh(base_index, tmp_path)
    workers = kill_reindex(tmp_path, root, big_source, 1, lambda: bool(new_segment_files(root)), settle=0.5)
    try:
        assert workers == []  # jobs=1 writes in the reindex process itself
        assert new_segment_files(root), "no segment file of the new generation was written"
        assert not (root / NEW / META).exists(), "the kill came after the commit"
        assert assert_serving_whole_generation(root) == PREV
        assert_lock_free(root)
    finally:
        end_workers(workers)
    assert_next_reindex_completes(root, big_source)


@pytest.mark.slow
def test_killed_parallel_reindex_while_writing_releases_the_lock(
        tmp_path: Path, base_index: Path, big_source: Path) -> None:
    root = fresh(base_index, tmp_path)
    workers = kill_reindex(tmp_path, root, big_source, 2, lambda: bool(new_segment_files(root)), settle=0.3)
    try:
        assert workers, "the writer workers were not running yet"
        assert not (root / NEW / META).exists()
        assert assert_serving_whole_generation(root) == PREV
        wait_until_lock_free(root)  # fails if the orphaned workers still hold the lock
        assert not any(alive(p) for p in workers)
    finally:
        end_workers(workers)  # the orphans this test caused, by pid
    assert_next_reindex_completes(root, big_source)


def late_phase(root: Path) -> str:
    """Which step of IndexStore.publish the kill interrupted, judged from what it left on disk."""
    if (root / CURRENT).read_text().strip() == NEW:
        return "after the switch (CURRENT renamed)"
    if (root / (CURRENT + ".tmp")).exists():
        return "CURRENT.tmp written, not yet renamed"
    if (root / NEW / META).exists():
        return "meta.json written, CURRENT.tmp not yet"
    return "before meta.json"


@pytest.mark.slow
def test_killed_around_the_switch(tmp_path: Path, base_index: Path, big_source: Path,
                                  record_property: pytest.RecordProperty) -> None:
    """Kill the moment meta.json or CURRENT.tmp appears; whatever step was hit, one whole generation serves.

    Polling cannot promise which step a kill lands on (publish fsyncs for a few milliseconds between
    meta.json and the rename), so up to three attempts are made, stopping at the first one that landed
    before the rename; every attempt checks the invariant and the phases hit are recorded.
    """
    phases = []
    for attempt in range(3):
        root = fresh(base_index, tmp_path, f"index-{attempt}")
        tmp_current = root / (CURRENT + ".tmp")
        workers = kill_reindex(tmp_path, root, big_source, 2,
                               lambda root=root, t=tmp_current: (root / NEW / META).exists() or t.exists())
        try:
            assert workers == []  # the writers were joined before the commit
            phase = late_phase(root)
            phases.append(phase)
            assert phase != "before meta.json"
            served = assert_serving_whole_generation(root)
            assert (served == NEW) == phase.startswith("after the switch")
            assert_lock_free(root)
        finally:
            end_workers(workers)
        assert_next_reindex_completes(root, big_source)
        if not phase.startswith("after"):
            break
    record_property("phases_hit", phases)
    print(f"kill around the switch hit: {phases}")


# --- malformed article files -----------------------------------------------------------------------------------

GOOD = [
    {"id": "g1", "title": "Hoa sen Đồng Tháp nở rộ đầu hạ", "body": "Đầm sen Tháp Mười đón khách chụp ảnh."},
    {"id": "g2", "title": "Ngư dân Quảng Ngãi trúng mùa cá cơm", "body": "Thuyền về bến đầy khoang cá tươi."},
    {"id": "g3", "title": "Trường vùng cao có thư viện mới", "body": "Học sinh người Mông đọc sách mỗi chiều."},
]
UTF16 = [
    {"id": "u1", "title": "Gói bánh chưng ngày giáp Tết", "body": "Lá dong rửa sạch, gạo nếp ngâm qua đêm."},
    {"id": "u2", "title": "Phố ông đồ cho chữ đầu xuân", "body": "Người xếp hàng xin chữ Phúc treo nhà."},
]
SENTENCE = "Những thửa ruộng bậc thang chín vàng trải dài tới chân núi. "
TEN_MB = 10 * 1024 * 1024


def jsonl_bytes(records: list[dict], encoding: str) -> bytes:
    return ("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n").encode(encoding)


@pytest.fixture(scope="module")
def malformed(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("malformed")
    src = d / "src"
    src.mkdir()
    write_jsonl(src / "a_good.jsonl", GOOD[:2])
    (src / "b_utf16.jsonl").write_bytes(jsonl_bytes(UTF16, "utf-16"))  # "utf-16" writes a BOM
    (src / "c_binary.jsonl").write_bytes(random.Random(20240705).randbytes(4096))
    reps = TEN_MB // len(SENTENCE.encode("utf-8")) + 1
    big = {"id": "huge", "title": "Mùa lúa chín trên ruộng bậc thang Mù Cang Chải", "body": SENTENCE * reps}
    write_jsonl(src / "d_huge.jsonl", [big, GOOD[2]])
    assert (src / "d_huge.jsonl").stat().st_size > TEN_MB
    root = d / "index"
    echo = Echo()
    start = time.monotonic()
    summary = reindex([src], root, jobs=1, echo=echo)
    print(f"reindex of the malformed sources: {time.monotonic() - start:.1f} s")
    return src, root, summary, echo.lines


@pytest.mark.slow
def test_malformed_files_do_not_lose_good_articles(malformed) -> None:
    src, root, summary, _ = malformed
    assert_adds_up(summary)
    assert summary.added == 4  # g1, g2, g3 and the 10 MB article
    assert summary.documents == 4
    svc = SearchService(root)
    assert svc.stats()["documents"] == 4
    assert "g1" in ids(svc, "hoa sen Đồng Tháp")
    assert "g2" in ids(svc, "cá cơm")
    assert "g3" in ids(svc, "thư viện")  # the good article after the 10 MB one in the same file
    assert "g3" in ids(svc, "thu vien")


@pytest.mark.slow
def test_a_ten_megabyte_body_is_indexed_whole(malformed) -> None:
    _, root, summary, _ = malformed
    assert not [p for p in summary.problems if "d_huge" in p]
    svc = SearchService(root)
    article = svc.article("huge")
    assert article is not None and len(article["body"].encode("utf-8")) > TEN_MB - len(SENTENCE) * 4
    assert "huge" in ids(svc, "ruộng bậc thang")


@pytest.mark.slow
def test_utf16_and_binary_files_are_reported_by_file_and_line(malformed) -> None:
    src, root, summary, lines = malformed
    utf16, binary = src / "b_utf16.jsonl", src / "c_binary.jsonl"
    assert lines == [f"warning: {p}" for p in summary.problems]
    assert all(p.startswith((f"{utf16}:", f"{binary}:")) for p in summary.problems)
    # Every reported problem is one of the two files (or a line of the binary one), and counts as failed.
    assert summary.failed == len(summary.problems)
    # JSON Lines must be UTF-8: a UTF-16 file is one problem that says so, not a line-by-line decoding error.
    assert summary.problems[0] == (f"{utf16}: the file is UTF-16 (it starts with a UTF-16 byte order mark); "
                                   "JSON Lines must be UTF-8: save it as UTF-8")
    assert SearchService(root).article("u1") is None
    binary_lines = random.Random(20240705).randbytes(4096).count(b"\n") + 1
    got = [p for p in summary.problems if p.startswith(f"{binary}:")]
    assert [p.split(":", 2)[1] for p in got] == [str(n) for n in range(1, binary_lines + 1)]
    assert all(p.split(":", 2)[2].strip().startswith(("not valid UTF-8", "invalid JSON")) for p in got)


@pytest.mark.slow
def test_a_utf16_file_is_reported_as_utf16(malformed) -> None:
    src, _, summary, _ = malformed
    utf16 = src / "b_utf16.jsonl"
    got = [p for p in summary.problems if p.startswith(f"{utf16}:")]
    assert len(got) <= len(UTF16)
    assert all("UTF-16" in p for p in got)
