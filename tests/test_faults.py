"""Faults on the index directory: disk full, read-only, missing or damaged generations.

Real failures, no mocks: the reindex runs as the real command in a subprocess
whose writes really fail (a file size limit, a full or read-only tmpfs, an
unprivileged user), and the service answers from a real Whoosh index on disk.
What must hold every time: the reindex exits 2 with one line naming the path
and the reason, the previous generation stays intact and served, and
``/healthz`` says what is wrong (200 "degraded" while something is served,
503 in the one error shape when nothing is).

Root ignores file permissions, so as root the "unprivileged" reindex keeps
uid 0 but loses the capabilities that let it (CAP_DAC_OVERRIDE,
CAP_DAC_READ_SEARCH, CAP_FOWNER, dropped from its bounding set before exec);
for any other user it runs as that user. Mounting a small tmpfs needs root
with CAP_SYS_ADMIN; those tests skip cleanly without it.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from searchsvc import create_app
from searchsvc.index import mapped
from searchsvc.index.generations import CURRENT, LOCK, META, IndexStore
from searchsvc.index.indexer import reindex

DEMO_DIR = Path(__file__).resolve().parents[1] / "searchsvc" / "demo"
NOBODY = 65534
TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}"

# The real command, with a file size limit (RLIMIT_FSIZE) when FAULTS_FSIZE is set. pyvi is loaded first:
# it unpacks its 4 MB model into a temporary file, which the limit would stop before any index file.
LAUNCHER = """
import os, resource, signal, sys
from searchsvc.analysis import vietnamese as analysis
analysis.load_model()
limit = os.environ.get("FAULTS_FSIZE")
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes beyond the limit then fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
from searchsvc.cli import main
sys.argv[0] = "searchsvc"
main()
"""


_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_CAPBSET_DROP = 24
_FILE_PRIVILEGES = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


def _drop_file_privileges() -> None:
    """In the child, before exec: what lets root ignore file permissions goes from the bounding set."""
    for cap in _FILE_PRIVILEGES:
        if _LIBC.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def run_reindex(root: Path, *args: str, fsize: int | None = None, unprivileged: bool = False,
                cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``searchsvc reindex DEMO_DIR --index root -q ARGS`` in a subprocess; subject to file permissions even
    as root with ``unprivileged``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCHSVC_")}
    env["TMPDIR"] = tempfile.gettempdir()
    if fsize is not None:
        env["FAULTS_FSIZE"] = str(fsize)
    preexec = _drop_file_privileges if unprivileged and os.geteuid() == 0 else None
    return subprocess.run(
        [sys.executable, "-c", LAUNCHER, "reindex", str(DEMO_DIR), "--index", str(root), "-q", *args],
        env=env, cwd=cwd or root.parent, capture_output=True, text=True, timeout=180, preexec_fn=preexec,
    )


@pytest.fixture(scope="session")
def permissions_apply(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip unless an unprivileged subprocess really is refused a write a mode forbids."""
    where = tmp_path_factory.mktemp("probe")
    where.chmod(0o555)
    try:
        result = subprocess.run([sys.executable, "-c", f"open({str(where / 'x')!r}, 'w')"], capture_output=True,
                                text=True, timeout=60,
                                preexec_fn=_drop_file_privileges if os.geteuid() == 0 else None)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot run a process subject to file permissions here: {exc}")
    finally:
        where.chmod(0o755)
    if "PermissionError" not in result.stderr:
        pytest.skip("a process here can write where its permissions say it may not")


def assert_clear_failure(result: subprocess.CompletedProcess, root: Path, reason: str, path: Path,
                         served: str = "gen-000001") -> None:
    """Exit status 2 and one line naming the path and the reason; no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert result.stderr == f"error: reindex of {root} failed: {reason} ({path}); {served} is still served\n"
    assert result.stdout == ""


def generation_names(root: Path) -> list[str]:
    return [g.name for g in IndexStore(root).generations()]


def assert_intact(root: Path, name: str = "gen-000001") -> None:
    """CURRENT names ``name``, which is whole (every published file, with its size) and opens."""
    store = IndexStore(root)
    assert (root / CURRENT).read_text(encoding="ascii") == f"{name}\n"
    gen = store.current()
    assert gen is not None and gen.name == name
    assert store.damage(gen) is None and store.check(gen) is None


def health(root: Path) -> tuple[int, dict]:
    response = client_for(root).get("/healthz")
    return response.status_code, response.get_json()


def client_for(root: Path):
    return create_app({"INDEX_DIR": str(root), "TESTING": True}).test_client()


def search_ids(client, q: str) -> list[str]:
    response = client.get("/api/search", query_string={"q": q, "per_page": 50})
    assert response.status_code == 200, response.get_data(as_text=True)
    return [h["id"] for h in response.get_json()["hits"]]


def assert_serves_the_demo(root: Path) -> None:
    client = client_for(root)
    assert search_ids(client, "ha noi ngap lut")[0] == "demo-001"
    assert client.get("/api/articles/demo-013").status_code == 200


def assert_error_shape(response, status: int) -> str:
    body = response.get_json()
    assert response.status_code == status
    assert set(body) == {"error"} and set(body["error"]) == {"status", "message"}
    assert body["error"]["status"] == status
    return body["error"]["message"]


def health_validator():
    """The OpenAPI document's Health schema, as the app serves it."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    doc = create_app({"INDEX_DIR": "unused", "TESTING": True}).test_client().get("/api/openapi.json").get_json()
    resource = Resource.from_contents(doc | {"$schema": Draft202012Validator.META_SCHEMA["$id"]})
    return Draft202012Validator({"$ref": "urn:api#/components/schemas/Health"},
                                registry=Registry().with_resource("urn:api", resource))


def assert_degraded(root: Path, problems: list[str | re.Pattern], generation: int = 1) -> dict:
    status, body = health(root)
    assert status == 200
    assert not list(health_validator().iter_errors(body))
    assert (body["status"], body["generation"]) == ("degraded", generation)
    assert len(body["problems"]) == len(problems), body["problems"]
    for got, want in zip(body["problems"], problems, strict=True):
        assert re.fullmatch(want, got) if isinstance(want, re.Pattern) else got == want, got
    return body


def assert_ok(root: Path, generation: int) -> None:
    status, body = health(root)
    assert status == 200
    assert (body["status"], body["generation"], body["problems"]) == ("ok", generation, [])


def failed(message: str) -> re.Pattern:
    return re.compile(f"the last reindex failed: {TIMESTAMP}: " + re.escape(message))


def write_extra(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "extra.jsonl").write_text(json.dumps({
        "id": "extra-001", "title": "Lễ hội khinh khí cầu lần đầu được tổ chức", "sapo": "",
        "body": "Hàng trăm khinh khí cầu bay lên trên bầu trời.", "category": "Văn hóa",
        "source": "Báo Mẫu", "published": "2025-07-01", "url": "",
    }, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def two_generations(index_copy: Path, tmp_path: Path) -> Path:
    """The demo index in gen-000001, and gen-000002 with one more article (CURRENT names it)."""
    reindex([write_extra(tmp_path / "extra")], index_copy, jobs=1, echo=lambda m: None)
    assert generation_names(index_copy) == ["gen-000001", "gen-000002"]
    assert_intact(index_copy, "gen-000002")
    return index_copy


def segment_file(gen_dir: Path, suffix: str = ".trm") -> Path:
    """The one file ending in ``suffix`` that only this generation has (not hard-linked from another)."""
    (path,) = [p for p in gen_dir.iterdir() if p.name.endswith(suffix) and p.stat().st_nlink == 1]
    return path


# --- missing index, CURRENT broken, generations damaged (in process, real index on disk) ----------------------


def test_no_index_at_all_is_a_503_in_the_error_shape(tmp_path: Path) -> None:
    root = tmp_path / "none"
    client = client_for(root)
    for url in ("/healthz", "/api/search?q=h%C3%A0+n%E1%BB%99i"):
        message = assert_error_shape(client.get(url), 503)
        assert message == (f"the search index is not available: no index at {root}: "
                           f"build one with 'searchsvc reindex SOURCES --index {root}'")


def test_missing_current_serves_the_newest_intact_generation(two_generations: Path) -> None:
    root = two_generations
    (root / CURRENT).unlink()
    assert_degraded(root, [f"{root / CURRENT} is missing; serving gen-000002, the newest intact generation"], 2)
    assert search_ids(client_for(root), '"khinh khí cầu"') == ["extra-001"]


def test_current_naming_a_missing_generation_serves_the_newest_intact_one(two_generations: Path) -> None:
    root = two_generations
    (root / CURRENT).write_text("gen-000007\n", encoding="ascii")
    assert_degraded(root, [f"{root / CURRENT} names 'gen-000007', which is not a generation here; "
                           "serving gen-000002, the newest intact generation"], 2)
    assert search_ids(client_for(root), '"khinh khí cầu"') == ["extra-001"]


def test_unreadable_current_serves_the_newest_intact_generation(two_generations: Path) -> None:
    root = two_generations
    (root / CURRENT).unlink()
    (root / CURRENT).mkdir()  # unreadable as a file, for root too
    assert_degraded(root, [f"cannot read {root / CURRENT}: Is a directory ({root / CURRENT}); "
                           "serving gen-000002, the newest intact generation"], 2)
    assert_serves_the_demo(root)


def test_current_naming_a_damaged_generation_serves_the_previous_one(two_generations: Path) -> None:
    root = two_generations
    lost = segment_file(root / "gen-000002")
    lost.unlink()
    assert_degraded(root, [
        f"{root / CURRENT} names gen-000002, which cannot be served (cannot open index generation "
        f"{root / 'gen-000002'}: {lost.name} is missing); serving gen-000001, the newest intact generation"])
    client = client_for(root)
    assert search_ids(client, '"khinh khí cầu"') == []  # gen-000001 has no extra article: it is what is served
    assert search_ids(client, "ha noi ngap lut")[0] == "demo-001"


def test_a_truncated_file_is_damage_too(two_generations: Path) -> None:
    root = two_generations
    stored = segment_file(root / "gen-000002", "_stored.col")  # opened lazily: Whoosh alone would not notice
    size = stored.stat().st_size
    os.truncate(stored, size - 10)
    assert_degraded(root, [
        f"{root / CURRENT} names gen-000002, which cannot be served (cannot open index generation "
        f"{root / 'gen-000002'}: {stored.name} has {size - 10} bytes, not the {size} it was published with); "
        "serving gen-000001, the newest intact generation"])


def test_half_built_generations_are_never_served(two_generations: Path) -> None:
    root = two_generations
    # A reindex that died before publishing: a hard-linked copy that Whoosh opens, but no meta.json.
    half = IndexStore(root).new_generation(copy_current=True)
    assert half.name == "gen-000003" and not (half.path / META).exists()
    (root / CURRENT).unlink()
    assert_degraded(root, [f"{root / CURRENT} is missing; serving gen-000002, the newest intact generation"], 2)


def test_nothing_intact_is_a_503_naming_the_damage(index_copy: Path) -> None:
    root = index_copy
    lost = segment_file(root / "gen-000001")
    lost.unlink()
    client = client_for(root)
    expected = (f"the search index is not available: cannot open index generation {root / 'gen-000001'}: "
                f"{lost.name} is missing")
    assert assert_error_shape(client.get("/healthz"), 503) == expected
    assert assert_error_shape(client.get("/api/search?q=m%C6%B0a"), 503) == expected
    assert assert_error_shape(client.get("/api/suggest?q=ha"), 503) == expected


def test_a_running_service_moves_to_an_intact_generation_when_current_breaks(two_generations: Path) -> None:
    root = two_generations
    client = client_for(root)
    assert search_ids(client, '"khinh khí cầu"') == ["extra-001"]
    lost = segment_file(root / "gen-000002")
    lost.unlink()
    (root / CURRENT).write_text("gen-000002\n", encoding="ascii")  # rewritten: the workers look again
    assert search_ids(client, '"khinh khí cầu"') == []
    body = client.get("/healthz").get_json()
    assert (body["status"], body["generation"]) == ("degraded", 1)


def test_damage_under_a_running_service_is_reported(index_copy: Path) -> None:
    root = index_copy
    client = client_for(root)
    assert client.get("/healthz").get_json()["status"] == "ok"
    stored = segment_file(root / "gen-000001", "_stored.col")
    size = stored.stat().st_size
    os.truncate(stored, 100)
    body = client.get("/healthz").get_json()
    assert (body["status"], body["generation"]) == ("degraded", 1)
    assert body["problems"] == [
        f"the served generation {root / 'gen-000001'} is damaged ({stored.name} has 100 bytes, not the {size} "
        "it was published with): restore it from a backup or run a full reindex"]


def test_a_reindex_repairs_a_broken_current(two_generations: Path) -> None:
    root = two_generations
    lost = segment_file(root / "gen-000002")
    lost.unlink()
    # Nothing changed in the sources since gen-000001: still, a new generation is published, from the intact one.
    summary = reindex([DEMO_DIR], root, jobs=1, echo=lambda m: None)
    assert (summary.unchanged, summary.added, summary.documents, summary.generation) == (33, 0, 33, "gen-000003")
    assert_intact(root, "gen-000003")
    # The damaged generation went (older than the served one now); the intact previous one stays.
    assert generation_names(root) == ["gen-000001", "gen-000003"]
    assert_ok(root, 3)
    assert_serves_the_demo(root)


# --- disk full -------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_disk_full_file_size_limit(index_copy: Path, jobs: str) -> None:
    root = index_copy
    result = run_reindex(root, "--full", "--jobs", jobs, fsize=100_000)  # the demo's term file is ~380 kB
    assert_clear_failure(result, root, "file too large", root / "gen-000002")
    assert generation_names(root) == ["gen-000001"]  # the half-written generation is gone
    assert_intact(root)
    assert_serves_the_demo(root)
    assert_degraded(root, [failed(f"file too large ({root / 'gen-000002'})")])
    # With room again, the next reindex succeeds and clears the report.
    result = run_reindex(root, "--full", "--jobs", jobs)
    assert result.returncode == 0, result.stderr
    assert_intact(root, "gen-000002")
    assert_ok(root, 2)


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount a small tmpfs (root with CAP_SYS_ADMIN only; skips otherwise); unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size: str, where: str = "fs") -> Path:
        point = tmp_path / where
        point.mkdir()
        if os.geteuid() != 0 or not shutil.which("mount"):
            pytest.skip("mounting a small file system needs root")
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "searchsvc-test",
                                 str(point)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a small file system here: {result.stderr.strip()}")
        mounted.append(point)
        return point

    def bind_read_only(source: Path, where: str) -> Path:
        """A read-only view of ``source`` (a bind mount), as systemd's ReadOnlyPaths= makes one."""
        point = tmp_path / where
        point.mkdir()
        subprocess.run(["mount", "--bind", str(source), str(point)], check=True)
        mounted.append(point)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(point)], check=True)
        return point

    mount.bind_read_only = bind_read_only  # type: ignore[attr-defined]
    yield mount
    gc.collect()  # the apps' searchers hold index files open
    for point in reversed(mounted):
        subprocess.run(["umount", str(point)], capture_output=True, check=False)
        if os.path.ismount(point):
            subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


@pytest.mark.slow
def test_disk_full_no_space_left(mount_tmpfs, tmp_index: Path) -> None:
    fs = mount_tmpfs("1232k")  # the demo index takes 0.74 MB of blocks: a full rebuild beside it does not fit
    root = fs / "index"
    shutil.copytree(tmp_index, root)
    low_space = re.compile(r"only \d+\.\d MB free on the file system holding " + re.escape(str(root))
                           + r" \(a reindex may need 67\.1 MB\): the next reindex may fail")
    assert_degraded(root, [low_space])  # said before any reindex fails
    result = run_reindex(root, "--full", "--jobs", "1", cwd=fs)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    m = re.fullmatch(f"error: reindex of {re.escape(str(root))} failed: no space left on device "
                     r"\((.+)\); gen-000001 is still served\n", result.stderr)
    assert m, result.stderr
    assert m.group(1).startswith(str(root / "gen-000002"))
    assert generation_names(root) == ["gen-000001"]
    assert_intact(root)
    assert_serves_the_demo(root)
    assert_degraded(root, [failed(f"no space left on device ({m.group(1)})"), low_space])


# --- read-only ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_index_directory_not_writable(permissions_apply: None, index_copy: Path) -> None:
    root = index_copy
    root.chmod(0o555)  # the reindex user owns the index but may not add a generation to it
    not_writable = (f"{root} is not writable by its owner (uid {os.getuid()}, mode 0555): "
                    "the next reindex will fail")
    assert_degraded(root, [not_writable])  # said before any reindex fails
    try:
        result = run_reindex(root, "--jobs", "1", unprivileged=True)
        assert_clear_failure(result, root, "permission denied", root / "gen-000002")
        assert generation_names(root) == ["gen-000001"]
        assert_intact(root)
        assert_serves_the_demo(root)
        assert_degraded(root, [failed(f"permission denied ({root / 'gen-000002'})"), not_writable])
    finally:
        root.chmod(0o755)
    result = run_reindex(root, "--jobs", "1", unprivileged=True)
    assert result.returncode == 0, result.stderr
    assert_intact(root)  # nothing changed: nothing published, and the failure report is cleared
    assert_ok(root, 1)


@pytest.mark.slow
def test_reindex_by_a_user_who_may_not_write_the_index(permissions_apply: None, index_copy: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to give the index to another user")
    root = index_copy
    for path in [root, *root.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)  # the reindex below is "other" to it: read, not write
    result = run_reindex(root, "--jobs", "1", unprivileged=True)
    assert_clear_failure(result, root, "permission denied", root / LOCK)
    assert_intact(root)
    assert_serves_the_demo(root)
    # The service cannot know who runs the reindex: it judges the directory by its owner, who may write.
    assert_ok(root, 1)


@pytest.mark.slow
def test_read_only_file_system(mount_tmpfs, tmp_index: Path) -> None:
    fs = mount_tmpfs("128m")
    root = fs / "index"
    shutil.copytree(tmp_index, root)
    subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
    read_only = f"the file system holding {root} is read-only: the next reindex will fail"
    assert_degraded(root, [read_only])
    result = run_reindex(root, "--jobs", "1", cwd=fs)
    assert_clear_failure(result, root, "read-only file system", root / LOCK)
    assert_intact(root)
    assert_serves_the_demo(root)
    assert_degraded(root, [read_only])  # nothing could be recorded: the check says it all


@pytest.mark.slow
def test_read_only_view_of_a_writable_file_system_is_not_a_problem(mount_tmpfs, tmp_index: Path) -> None:
    """As systemd's ReadOnlyPaths= gives the service: the reindex, elsewhere, can still write."""
    fs = mount_tmpfs("128m")  # tmpfs takes only what is used: room enough, and no low-space report
    shutil.copytree(tmp_index, fs / "index")
    ro = mount_tmpfs.bind_read_only(fs, "ro-view")
    assert_ok(ro / "index", 1)
    result = run_reindex(ro / "index", "--jobs", "1", cwd=ro)
    assert_clear_failure(result, ro / "index", "read-only file system", ro / "index" / LOCK)


def test_a_search_that_meets_damage_with_nothing_intact_is_a_503(index_copy: Path) -> None:
    root = index_copy
    client = client_for(root)
    assert search_ids(client, "mưa")
    gen = root / "gen-000001"
    (seg,) = mapped.read_manifest(gen)["segments"]
    data = seg["described"]["sections"]["data"]  # the postings the ranking reads: checked term by term
    with open(gen / seg["file"], "r+b") as f:  # same size, so only reading finds it
        f.seek(data["offset"])
        f.write(b"\xff" * data["bytes"])
    message = assert_error_shape(client.get("/api/search?q=l%E1%BB%85+h%E1%BB%99i+%C4%91%C3%A8n"), 503)
    assert message.startswith("the search index is not available: gen-000001 cannot be read (")
