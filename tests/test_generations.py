"""searchsvc.index.generations: generation directories, the atomic CURRENT switch, clean-up and the reindex lock.

Indexes here are real Whoosh indexes on disk with a one-field schema: the
generation code does not depend on the search schema.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from whoosh import fields
from whoosh import index as whoosh_index

from searchsvc.index.generations import (
    CURRENT,
    LOCK,
    META,
    Generation,
    IndexBusy,
    IndexStore,
    IndexUnavailable,
    describe_os_error,
)

SCHEMA = fields.Schema(id=fields.ID(stored=True, unique=True))


def build(store: IndexStore, ids: list[str], copy_current: bool = False, publish: bool = True) -> Generation:
    """A generation holding ``ids`` (added to a copy of the current one with ``copy_current``)."""
    gen = store.new_generation(copy_current=copy_current)
    if copy_current:
        ix = whoosh_index.open_dir(str(gen.path))
    else:
        ix = whoosh_index.create_in(str(gen.path), SCHEMA)
    with ix.writer() as w:
        for doc_id in ids:
            w.add_document(id=doc_id)
    ix.close()
    if publish:
        store.publish(gen, {"generation": gen.number, "ids": ids})
    return gen


def served_ids(store: IndexStore) -> list[str]:
    _, ix = store.open()
    try:
        with ix.searcher() as s:
            return sorted(d["id"] for d in s.all_stored_fields())
    finally:
        ix.close()


def names(store: IndexStore) -> list[str]:
    return [g.name for g in store.generations()]


# --- reading ----------------------------------------------------------------------------------------------


def test_no_index_yet(tmp_path: Path) -> None:
    for root in (tmp_path / "missing", tmp_path):
        store = IndexStore(root)
        assert store.current() is None
        assert store.generations() == []
        with pytest.raises(IndexUnavailable) as info:
            store.open()
        assert str(info.value) == (
            f"no index at {root}: build one with 'searchsvc reindex SOURCES --index {root}'"
        )


@pytest.mark.parametrize("name", ["gen-000009", "gen-1", "../elsewhere", "", "CURRENT"])
def test_current_naming_no_generation_falls_back_or_is_unavailable(tmp_path: Path, name: str) -> None:
    store = IndexStore(tmp_path)
    gen = build(store, ["a"])
    (tmp_path / CURRENT).write_text(name + "\n", encoding="ascii")
    # An intact generation is there: it is served, and the problem is reported.
    assert store.current() == gen
    assert served_ids(store) == ["a"]
    assert store.problems(gen) == [
        f"{tmp_path / CURRENT} names {name!r}, which is not a generation here; "
        "serving gen-000001, the newest intact generation"]
    # Without one, nothing can be served, and the message says why.
    store.discard(gen)
    with pytest.raises(IndexUnavailable, match="which is not a generation here") as info:
        store.open()
    assert repr(name) in str(info.value)
    assert str(tmp_path / CURRENT) in str(info.value)
    assert store.current() is None


def test_current_naming_a_removed_generation_is_unavailable(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    gen = build(store, ["a"])
    store.discard(gen)
    assert not gen.path.exists()
    with pytest.raises(IndexUnavailable, match=r"names 'gen-000001', which is not a generation here"):
        store.open()


def test_generation_that_is_not_an_index_is_unavailable(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    gen = store.new_generation(copy_current=False)
    store.publish(gen, {})
    with pytest.raises(IndexUnavailable, match=f"cannot open index generation {gen.path}"):
        store.open()


def test_generations_lists_only_generation_dirs(tmp_path: Path) -> None:
    for name in ("gen-000002", "gen-000010", "gen-12", "gen-00000x", "other"):
        (tmp_path / name).mkdir()
    (tmp_path / "gen-000011").write_text("a file, not a generation")
    store = IndexStore(tmp_path)
    assert [(g.number, g.name) for g in store.generations()] == [(2, "gen-000002"), (10, "gen-000010")]
    assert store.current() is None


# --- publishing -----------------------------------------------------------------------------------------------


def test_publish_switches_current_atomically(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    first = build(store, ["a"])
    current_file = tmp_path / CURRENT
    assert current_file.read_text(encoding="ascii") == "gen-000001\n"
    files = {p.name: p.stat().st_size for p in first.path.iterdir() if p.name != META}
    assert json.loads((first.path / META).read_text(encoding="utf-8")) == {"generation": 1, "ids": ["a"],
                                                                           "files": files}
    assert first.meta() == {"generation": 1, "ids": ["a"], "files": files}
    inode = current_file.stat().st_ino
    with open(current_file, encoding="ascii") as before:
        second = build(store, ["b"], copy_current=True)
        # Replaced (a new file renamed over it), not rewritten in place: a reader of the old file sees the old name.
        assert before.read() == "gen-000001\n"
    assert current_file.stat().st_ino != inode
    assert current_file.read_text(encoding="ascii") == "gen-000002\n"
    assert not (tmp_path / (CURRENT + ".tmp")).exists()
    assert store.current() == second
    assert served_ids(store) == ["a", "b"]
    # The previous generation is intact for readers still on it.
    ix = whoosh_index.open_dir(str(first.path))
    assert ix.doc_count() == 1
    ix.close()


def test_new_generation_numbers_after_the_highest(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    build(store, ["a"])
    (tmp_path / "gen-000007").mkdir()
    gen = store.new_generation(copy_current=False)
    assert gen.name == "gen-000008" and gen.number == 8 and gen.path.is_dir()
    assert list(gen.path.iterdir()) == []


def test_copy_current_is_hard_links_and_leaves_the_served_generation_alone(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    first = build(store, ["a", "b", "c"])
    gen = store.new_generation(copy_current=True)
    copied = sorted(p.name for p in gen.path.iterdir())
    originals = sorted(p.name for p in first.path.iterdir() if not p.name.endswith("LOCK") and p.name != META)
    assert copied == originals and copied
    for name in copied:
        assert (gen.path / name).stat().st_ino == (first.path / name).stat().st_ino
    assert not (gen.path / META).exists()
    # Change the copy: delete one document and add one, with merging.
    ix = whoosh_index.open_dir(str(gen.path))
    with ix.writer() as w:
        w.delete_by_term("id", "a")
        w.add_document(id="d")
    ix.close()
    assert store.current() == first
    assert served_ids(store) == ["a", "b", "c"]
    store.publish(gen, {})
    assert served_ids(store) == ["b", "c", "d"]


def test_size_bytes(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    gen = build(store, ["a"])
    assert store.size_bytes(gen) == sum(p.stat().st_size for p in gen.path.iterdir())
    assert store.size_bytes(gen) > 0


def test_meta_of_a_generation_without_or_with_broken_meta(tmp_path: Path) -> None:
    gen = Generation(3, tmp_path / "gen-000003")
    gen.path.mkdir()
    assert gen.meta() == {}
    (gen.path / META).write_text("{not json", encoding="utf-8")
    assert gen.meta() == {}
    assert gen.name == "gen-000003"


# --- clean ------------------------------------------------------------------------------------------------------


def test_clean_removes_newer_and_keeps_one_previous(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    for ids in (["a"], ["b"], ["c"]):
        build(store, ids)
    # Two half-built generations newer than CURRENT, as a reindex that died before its switch leaves them.
    build(store, ["d"], publish=False)
    half = store.new_generation(copy_current=True)
    assert names(store) == ["gen-000001", "gen-000002", "gen-000003", "gen-000004", "gen-000005"]
    removed = store.clean()
    assert sorted(g.name for g in removed) == ["gen-000001", "gen-000004", "gen-000005"]
    assert names(store) == ["gen-000002", "gen-000003"]
    assert not half.path.exists()
    assert store.current().name == "gen-000003"
    assert served_ids(store) == ["c"]
    assert store.clean() == []


@pytest.mark.parametrize(("keep", "left"), [(0, ["gen-000004"]), (2, ["gen-000002", "gen-000003", "gen-000004"])])
def test_clean_keep_previous(tmp_path: Path, keep: int, left: list[str]) -> None:
    store = IndexStore(tmp_path)
    for ids in (["a"], ["b"], ["c"], ["d"]):
        build(store, ids)
    store.clean(keep_previous=keep)
    assert names(store) == left
    assert served_ids(store) == ["d"]


def test_clean_without_current_removes_every_unpublished_generation(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    build(store, ["a"], publish=False)
    build(store, ["b"], publish=False)
    assert store.current() is None
    store.clean()
    assert names(store) == []


# --- the lock ---------------------------------------------------------------------------------------------------


def test_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    with store.lock():
        assert (tmp_path / "index" / LOCK).read_text() == f"{os.getpid()}\n"
        with pytest.raises(IndexBusy) as info:
            with IndexStore(tmp_path / "index").lock():
                pytest.fail("a second holder got the lock")
        assert str(info.value) == (
            f"another reindex is running on {tmp_path / 'index'}; "
            "try again when it ends, or pass --wait to wait for it"
        )
    with IndexStore(tmp_path / "index").lock():
        pass


def test_lock_wait_blocks_until_released(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    held = threading.Event()
    released_at: list[float] = []

    def holder() -> None:
        with store.lock():
            held.set()
            time.sleep(1.0)
            released_at.append(time.monotonic())

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(IndexBusy):
            with IndexStore(tmp_path).lock():
                pass
        with IndexStore(tmp_path).lock(wait=True):
            acquired_at = time.monotonic()
    finally:
        thread.join(10)
    assert released_at and acquired_at >= released_at[0]


def test_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from searchsvc.index.generations import IndexStore\n"
        "with IndexStore(sys.argv[1]).lock():\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "locked\n"
        with pytest.raises(IndexBusy):
            with IndexStore(tmp_path).lock():
                pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    with IndexStore(tmp_path).lock():
        assert (tmp_path / LOCK).read_text() == f"{os.getpid()}\n"


# --- messages ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (errno.ENOSPC, "no space left on device (/x/index/gen-000002/seg)"),
        (errno.EROFS, "read-only file system (/x/index/gen-000002/seg)"),
        (errno.EACCES, "permission denied (/x/index/gen-000002/seg)"),
        (errno.EDQUOT, "disk quota exceeded (/x/index/gen-000002/seg)"),
    ],
)
def test_describe_os_error(err: int, expected: str) -> None:
    assert describe_os_error(OSError(err, os.strerror(err), "/x/index/gen-000002/seg")) == expected


def test_describe_os_error_without_a_file() -> None:
    assert describe_os_error(OSError(errno.EIO, "Input/output error")) == "Input/output error"


# --- faults: fallback, damage, recorded failures ----------------------------------------------------------------


def test_publish_lists_each_file_with_its_size_and_damage_compares(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    gen = build(store, ["a", "b"])
    files = gen.meta()["files"]
    assert files and META not in files
    assert files == {p.name: p.stat().st_size for p in gen.path.iterdir() if p.name != META}
    assert store.damage(gen) is None and store.check(gen) is None
    name = max(files, key=files.get)
    with open(gen.path / name, "ab") as f:
        f.write(b"x")
    assert store.damage(gen) == f"{name} has {files[name] + 1} bytes, not the {files[name]} it was published with"
    (gen.path / name).unlink()
    assert store.damage(gen) == f"{name} is missing"
    assert store.check(gen) == f"cannot open index generation {gen.path}: {name} is missing"


def test_fallback_skips_damaged_and_unpublished_generations(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    first = build(store, ["a"])
    second = build(store, ["b"], copy_current=True)
    third = build(store, ["c"], copy_current=True)
    build(store, ["d"], copy_current=True, publish=False)  # opens, but was never published
    (tmp_path / CURRENT).unlink()
    assert store.current() == third
    (third.path / "_MAIN_3.toc").unlink()
    assert store.current() == second
    assert served_ids(store) == ["a", "b"]
    (tmp_path / CURRENT).write_text("gen-000003\n", encoding="ascii")
    assert store.current() == second
    assert store.problems(second) == [
        f"{tmp_path / CURRENT} names gen-000003, which cannot be served (cannot open index generation "
        f"{third.path}: _MAIN_3.toc is missing); serving gen-000002, the newest intact generation"]
    assert store.names(third) and not store.names(second)
    assert first.path.is_dir()


def test_clean_keeps_a_damaged_published_generation_until_it_is_superseded(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    build(store, ["a"])
    second = build(store, ["b"], copy_current=True)
    third = build(store, ["c"], copy_current=True)
    (third.path / "_MAIN_3.toc").unlink()  # CURRENT's generation is damaged: gen-000002 is served
    assert store.clean() == []  # gen-000003 stays for an operator to look at; gen-000001 is the kept previous...
    assert names(store) == ["gen-000001", "gen-000002", "gen-000003"]
    fourth = build(store, ["d"], copy_current=True)
    assert fourth.name == "gen-000004" and served_ids(store) == ["a", "b", "d"]
    # ...once superseded, the damaged one goes, and the kept previous is the newest intact one.
    assert [g.name for g in store.clean()] == ["gen-000001", "gen-000003"]
    assert names(store) == ["gen-000002", "gen-000004"]
    assert second.path.is_dir()


def test_lock_records_a_failure_and_a_clean_run_clears_it(tmp_path: Path) -> None:
    store = IndexStore(tmp_path)
    assert store.last_failure() is None
    with pytest.raises(OSError):
        with store.lock():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "gen-000002"))
    failure = store.last_failure()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}: no space left on device \(.*gen-000002\)",
                        failure), failure
    assert store.problems() == [f"the last reindex failed: {failure}"] + [
        p for p in store.problems() if "free" in p]  # (a low-space warning too, on a nearly full disk)
    with store.lock():
        # While the next run holds the lock, the last failure is still reported...
        assert store.last_failure() == failure
        assert (tmp_path / LOCK).read_text() == f"{os.getpid()}\nfailed {failure}\n"
    # ...and a run that ends well clears it.
    assert store.last_failure() is None
    assert (tmp_path / LOCK).read_text() == f"{os.getpid()}\n"
    with pytest.raises(ValueError):
        with store.lock():
            raise ValueError("a reader broke\nwith more lines")
    broke = store.last_failure()
    assert broke.endswith(": a reader broke")
    with store.lock():
        with pytest.raises(IndexBusy):  # refused before it ran: records nothing
            with IndexStore(tmp_path).lock():
                pass
        assert store.last_failure() == broke
    assert store.last_failure() is None


def test_problems_of_a_healthy_index_and_of_none(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    assert store.problems() == []  # no directory: nothing to say beyond "no index", which open() says
    gen = build(store, ["a"])
    assert store.problems(gen) == []
    (tmp_path / "index" / CURRENT).unlink()
    assert store.problems(None) == [f"{tmp_path / 'index' / CURRENT} is missing"]
