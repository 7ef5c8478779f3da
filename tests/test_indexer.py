"""searchsvc.index.indexer.reindex end to end: real sources, real pyvi, real Whoosh generations on disk.

Searching goes through SearchService, the layer the API and the CLI use.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from datetime import datetime
from pathlib import Path

import pytest
from conftest import Echo
from whoosh import index as whoosh_index

from searchsvc.analysis.vietnamese import clean
from searchsvc.engine.search import SearchRequest, SearchService
from searchsvc.index.generations import CURRENT, META, IndexBusy, IndexStore
from searchsvc.index.indexer import Summary, reindex
from searchsvc.reading.sources import read_sources

DEMO_DIR = Path(__file__).resolve().parents[1] / "searchsvc" / "demo"
DEMO_JSONL = DEMO_DIR / "articles.jsonl"
DEMO_IDS = 33  # 26 JSON Lines articles + 7 portal text articles




def demo_records() -> list[dict]:
    return [json.loads(line) for line in DEMO_JSONL.read_text(encoding="utf-8").splitlines()]


def write_jsonl(path: Path, records: list[dict | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def copies(n: int, prefix: str = "copy") -> list[dict]:
    """``n`` demo articles under new ids (real text, so pyvi has real work)."""
    records = demo_records()
    out = []
    for i in range(n):
        r = dict(records[i % len(records)])
        r["id"] = f"{prefix}-{i:04d}"
        # Distinct text and URL, or the reader would merge the copies as duplicates of one article.
        r["title"] += f" ({prefix} {i})"
        r["url"] = r.get("url", "") + f"?copy={i}" if r.get("url") else ""
        out.append(r)
    return out


SMALL = [
    {"id": "s1", "title": "Hà Nội mưa lớn, nhiều tuyến phố ngập", "body": "Mưa lớn kéo dài ở Hà Nội.",
     "category": "Thời sự", "source": "Báo Mẫu", "published": "2024-07-01", "views": 10},
    {"id": "s2", "title": "Đà Nẵng đón khách du lịch", "body": "Bãi biển Mỹ Khê đông khách.",
     "category": "Du lịch", "source": "Tin Phố", "published": "2024-07-02"},
    {"id": "s3", "title": "Giá đường tăng mạnh", "body": "Mía mất mùa khiến giá đường tăng.",
     "category": "Kinh doanh", "source": "Báo Mẫu", "published": "2024-07-03", "views": 5},
    {"id": "s4", "title": "Đội tuyển hòa 1-1", "body": "Trận đấu kết thúc với tỉ số hòa.",
     "category": "Thể thao", "source": "Tin Phố"},
    {"id": "s5", "title": "Khám sức khỏe cho người cao tuổi", "body": "Chương trình khám khoẻ miễn phí.",
     "category": "Sức khỏe", "source": "Báo Mẫu", "published": "2024-07-05", "views": 0},
]


def assert_adds_up(summary: Summary) -> None:
    assert summary.read == summary.added + summary.updated + summary.unchanged + summary.failed


def ids(svc: SearchService, q: str, **kw) -> list[str]:
    return [h.id for h in svc.search(SearchRequest(q=q, per_page=50, **kw)).hits]


def gen_names(root: Path) -> list[str]:
    return [g.name for g in IndexStore(root).generations()]


def published_ok(root: Path) -> None:
    """Every generation directory left is a published, openable index (no half-built one remains)."""
    for gen in IndexStore(root).generations():
        assert (gen.path / META).is_file(), f"{gen.name} was never published"
        ix = whoosh_index.open_dir(str(gen.path))
        ix.close()


def index_content(root: Path) -> dict:
    """Everything an index holds, by article id: stored fields, and every posting (weight, positions)."""
    _, ix = IndexStore(root).open()
    try:
        with ix.searcher() as s:
            reader = s.reader()
            docid = {n: reader.stored_fields(n)["id"] for n in reader.all_doc_ids()}
            stored = {docid[n]: reader.stored_fields(n) for n in docid}
            postings: dict = {}
            for fieldname in ix.schema.names():
                field = ix.schema[fieldname]
                if not field.indexed or fieldname == "hash":
                    continue
                for term in reader.lexicon(fieldname):
                    m = reader.postings(fieldname, term)
                    rows = []
                    while m.is_active():
                        if m.id() in docid:
                            positions = (
                                tuple(m.value_as("positions")) if field.format.supports("positions") else ()
                            )
                            rows.append((docid[m.id()], m.weight(), positions))
                        m.next()
                    if rows:
                        postings[(fieldname, term)] = sorted(rows)
            return {"stored": stored, "postings": postings, "count": reader.doc_count()}
    finally:
        ix.close()


# --- full build ------------------------------------------------------------------------------------------------


def test_full_build_of_the_demo(demo_build) -> None:
    root, summary, messages = demo_build
    assert summary.as_dict() | {"seconds": 0} == {
        "read": DEMO_IDS, "added": DEMO_IDS, "updated": 0, "unchanged": 0, "deleted": 0, "failed": 0, "merged": 0,
        "skipped_files": 0, "seconds": 0, "documents": DEMO_IDS, "generation": "gen-000001",
    }
    assert summary.problems == [] and messages == []
    assert (root / CURRENT).read_text(encoding="ascii") == "gen-000001\n"
    meta = json.loads((root / "gen-000001" / META).read_text(encoding="utf-8"))
    assert meta["mode"] == "full" and meta["documents"] == DEMO_IDS and meta["failed"] == 0
    assert meta["sources"] == [str(DEMO_DIR)]
    assert summary.line().startswith("read 33, added 33, updated 0, unchanged 0, deleted 0, failed 0; "
                                     "33 articles in gen-000001 (")


def test_three_levels_are_indexed(tmp_index: Path) -> None:
    _, ix = IndexStore(tmp_index).open()
    try:
        with ix.reader() as r:
            assert "hà_nội" in set(r.field_terms("title"))
            assert {"hà", "nội"} <= set(r.field_terms("title_s"))
            assert {"ha", "noi"} <= set(r.field_terms("title_f"))
            assert "hà" not in set(r.field_terms("title_f"))
            # Tone placement is unified in the terms: both spellings of the demo index as one term.
            assert "thuỷ" in set(r.field_terms("body_s")) and "thủy" not in set(r.field_terms("body_s"))
            exact = set(r.field_terms("title_s")) | set(r.field_terms("title"))  # compound or one-syllable word
            assert "hoà" in exact and "hòa" not in exact
    finally:
        ix.close()


def test_stored_fields_of_an_article(tmp_index: Path) -> None:
    svc = SearchService(tmp_index)
    doc = svc.article("demo-001")
    record = demo_records()[0]
    assert doc["title"] == "Hà Nội ngập lụt sau mưa lớn"
    assert doc["sapo"] == record["sapo"] and doc["body"] == record["body"]
    assert doc["category"] == "Thời sự" and doc["source"] == "Báo Mẫu"
    assert doc["published"] == datetime(2024, 7, 22, 6, 45)
    assert doc["views"] == 15230
    assert doc["url"] == "https://example.vn/ha-noi-ngap-lut-sau-mua-lon"
    assert svc.article("no-such-id") is None


def test_stored_text_is_clean_but_keeps_the_articles_spelling(tmp_index: Path) -> None:
    svc = SearchService(tmp_index)
    raw = {r["id"]: r for r in demo_records()}
    nfd_doc = svc.article("demo-025")
    assert not unicodedata.is_normalized("NFC", raw["demo-025"]["body"])
    assert nfd_doc["body"] == clean(raw["demo-025"]["body"]) == unicodedata.normalize("NFC", raw["demo-025"]["body"])
    assert svc.article("demo-011")["title"] == "Đội tuyển nữ hòa 1-1 trước đối thủ mạnh"
    assert svc.article("demo-026")["title"] == "Trồng rau thuỷ canh trên sân thượng giữa phố"


def test_search_with_and_without_diacritics(tmp_index: Path) -> None:
    svc = SearchService(tmp_index)
    with_phrase = {a.id for a in read_sources([DEMO_DIR])
                   if "Hà Nội" in clean(" ".join((a.title, a.sapo, a.body)))}
    assert len(with_phrase) == 9 and "demo-025" in with_phrase  # the NFD article is among them
    accented = ids(svc, "Hà Nội")
    folded = ids(svc, "ha noi")
    assert accented[0] == folded[0] == "demo-001"
    assert with_phrase <= set(folded) and with_phrase <= set(accented)
    # As a phrase, exactly the articles with the two syllables side by side.
    assert set(ids(svc, '"ha noi"')) == with_phrase
    assert set(ids(svc, '"Hà Nội"')) == with_phrase


def test_search_finds_both_tone_spellings(tmp_index: Path) -> None:
    svc = SearchService(tmp_index)
    assert set(ids(svc, "thủy")) == set(ids(svc, "thuỷ")) == {"demo-002", "demo-008", "demo-026"}
    assert set(ids(svc, 'title:"hoà"')) == set(ids(svc, 'title:"hòa"')) == {"demo-011"}


def test_search_a_portal_article(tmp_index: Path) -> None:
    svc = SearchService(tmp_index)
    result = svc.search(SearchRequest(q='title:"bãi sông Hồng"'))
    assert result.total == 1
    [hit] = result.hits
    assert hit.title == "Phường An Lạc ra quân làm sạch bãi sông Hồng"
    assert hit.category == "Thời sự"
    assert hit.published == datetime(2024, 5, 12, 8, 15)
    assert hit.views == 1342


@pytest.fixture(scope="module")
def demo_and_seed(tmp_path_factory: pytest.TempPathFactory, seeds_dir: Path) -> tuple[Path, Summary]:
    root = tmp_path_factory.mktemp("demo-seed") / "index"
    return root, reindex([DEMO_DIR, seeds_dir], root, jobs=1, echo=Echo())


@pytest.mark.corpus
def test_full_build_demo_and_seed(demo_and_seed) -> None:
    root, summary = demo_and_seed
    assert (summary.read, summary.added, summary.failed, summary.documents) == (34, 34, 0, 34)
    assert summary.generation == "gen-000001"
    assert SearchService(root).stats()["documents"] == 34


@pytest.mark.corpus
def test_long_bien_finds_the_seed(demo_and_seed) -> None:
    root, _ = demo_and_seed
    result = SearchService(root).search(SearchRequest(q="Long Biên"))
    assert result.total >= 1
    hit = result.hits[0]
    assert hit.title.startswith("Long Biên sơ kết 05 năm thực hiện Chỉ thị 05-CT/TW")
    assert hit.category == "Tin tức - Sự kiện nổi bật"
    assert hit.published == datetime(2021, 3, 31, 16, 31)
    assert hit.as_json()["published"] == "2021-03-31"
    assert hit.views == 2521
    assert hit.id.startswith("txt-")
    assert "<mark>Long Biên</mark>" in hit.title_html
    # Without diacritics too.
    assert ids(SearchService(root), "long bien")[0] == hit.id


# --- incremental -------------------------------------------------------------------------------------------------


def test_rerun_unchanged_adds_nothing_and_publishes_nothing(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", SMALL)
    root = tmp_path / "index"
    first = reindex([src], root, jobs=1, echo=Echo())
    assert (first.read, first.added, first.documents, first.generation) == (5, 5, 5, "gen-000001")
    current = root / CURRENT
    inode, meta = current.stat().st_ino, (root / "gen-000001" / META).read_text()
    again = reindex([src], root, jobs=1, echo=Echo())
    assert again.as_dict() | {"seconds": 0} == {
        "read": 5, "added": 0, "updated": 0, "unchanged": 5, "deleted": 0, "failed": 0, "merged": 0, "skipped_files": 0,
        "seconds": 0, "documents": 5, "generation": "gen-000001",
    }
    assert gen_names(root) == ["gen-000001"]
    assert current.stat().st_ino == inode
    assert (root / "gen-000001" / META).read_text() == meta
    assert_adds_up(first)
    assert_adds_up(again)


@pytest.mark.parametrize("jobs", [1, 2])
def test_changed_title_is_updated(tmp_path: Path, tmp_index: Path, jobs: int) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(DEMO_JSONL, src / "articles.jsonl")
    shutil.copytree(DEMO_DIR / "portal", src / "portal")
    root = tmp_path / "index"
    shutil.copytree(tmp_index, root)
    svc = SearchService(root)
    old_title = "TP.HCM khởi công cầu mới bắc qua sông Sài Gòn"
    new_title = "Khánh thành tuyến tàu điện ngầm xuyên đêm"
    assert ids(svc, 'title:"khởi công cầu mới"') == ["demo-004"]
    assert ids(svc, 'title:"tàu điện ngầm xuyên đêm"') == []
    records = demo_records()
    assert records[3]["id"] == "demo-004" and records[3]["title"] == old_title
    records[3]["title"] = new_title
    write_jsonl(src / "articles.jsonl", records)

    summary = reindex([src], root, jobs=jobs, echo=Echo())
    assert (summary.read, summary.added, summary.updated, summary.unchanged, summary.deleted, summary.failed) == (
        33, 0, 1, 32, 0, 0)
    assert_adds_up(summary)
    assert summary.documents == 33
    assert summary.generation == "gen-000002"
    assert (root / CURRENT).read_text() == "gen-000002\n"
    assert json.loads((root / "gen-000002" / META).read_text())["mode"] == "incremental"
    assert ids(svc, 'title:"tàu điện ngầm xuyên đêm"') == ["demo-004"]
    assert ids(svc, 'title:"khởi công cầu mới"') == []
    assert svc.article("demo-004")["title"] == new_title
    assert svc.stats()["documents"] == 33
    # The previous generation is kept, unchanged, for readers still on it.
    assert gen_names(root) == ["gen-000001", "gen-000002"]
    old = whoosh_index.open_dir(str(root / "gen-000001"))
    with old.searcher() as s:
        assert s.document(id="demo-004")["title"] == old_title
        assert s.doc_count() == 33
    old.close()


def test_missing_articles_stay_unless_delete_missing(tmp_path: Path) -> None:
    root = tmp_path / "index"
    reindex([write_jsonl(tmp_path / "all.jsonl", SMALL)], root, jobs=1, echo=Echo())
    part = write_jsonl(tmp_path / "part.jsonl", SMALL[:3])
    svc = SearchService(root)

    kept = reindex([part], root, jobs=1, echo=Echo())
    assert (kept.read, kept.unchanged, kept.deleted, kept.documents) == (3, 3, 0, 5)
    assert kept.generation == "gen-000001"
    assert svc.article("s5") is not None
    assert ids(svc, 'title:"Khám sức khỏe"') == ["s5"]

    removed = reindex([part], root, jobs=1, delete_missing=True, echo=Echo())
    assert (removed.read, removed.added, removed.updated, removed.unchanged, removed.deleted, removed.failed) == (
        3, 0, 0, 3, 2, 0)
    assert_adds_up(removed)
    assert removed.documents == 3
    assert removed.generation == "gen-000002"
    assert svc.article("s4") is None and svc.article("s5") is None
    assert svc.article("s1")["title"] == SMALL[0]["title"]
    assert "s5" not in ids(svc, "Khám sức khỏe")
    assert svc.stats()["documents"] == 3


def test_full_rebuild_replaces_everything(tmp_path: Path) -> None:
    root = tmp_path / "index"
    reindex([write_jsonl(tmp_path / "all.jsonl", SMALL)], root, jobs=1, echo=Echo())
    summary = reindex([write_jsonl(tmp_path / "two.jsonl", SMALL[:2])], root, full=True, jobs=1, echo=Echo())
    assert (summary.read, summary.added, summary.unchanged, summary.documents) == (2, 2, 0, 2)
    assert summary.generation == "gen-000002"
    assert json.loads((root / "gen-000002" / META).read_text())["mode"] == "full"
    assert SearchService(root).article("s3") is None


# --- bad input ---------------------------------------------------------------------------------------------------


def test_bad_records_are_reported_with_file_and_line(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "bad.jsonl", [
        SMALL[0],
        '{"id": "b2", "title": "broken',
        {"id": "b3", "body": "không có tiêu đề"},
        {"id": "s1", "title": "Bản trùng id", "body": "trùng"},
        SMALL[1],
        {"id": "v1", "title": "Lượt xem quá lớn", "views": 2**63},
        {"id": "v2", "title": "Lượt xem lớn nhất", "views": 2**63 - 1},
    ])
    echo = Echo()
    root = tmp_path / "index"
    summary = reindex([src], root, jobs=1, echo=echo)
    assert (summary.read, summary.added, summary.failed, summary.documents) == (7, 3, 4, 3)
    assert_adds_up(summary)
    assert summary.problems == [
        f"{src}:2: invalid JSON: Unterminated string starting at (column 23)",
        f"{src}:3: missing or empty 'title'",
        f"{src}:4: duplicate id 's1' (first at {src}:1); this one is skipped",
        f"{src}:6: field 'views' out of range",
    ]
    assert echo.lines == [f"warning: {p}" for p in summary.problems]
    svc = SearchService(root)
    assert svc.article("s1")["title"] == SMALL[0]["title"]  # the first one wins
    assert svc.article("s2") is not None
    assert svc.article("b3") is None and svc.article("v1") is None
    assert svc.article("v2")["views"] == 2**63 - 1
    assert json.loads((root / "gen-000001" / META).read_text())["failed"] == 4


def test_unsupported_and_missing_sources(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_jsonl(src / "a.jsonl", SMALL[:2])
    (src / "notes.csv").write_text("id,title\n")
    (src / "README.md").write_text("skipped silently\n")
    summary = reindex([src, tmp_path / "nope.jsonl"], tmp_path / "index", jobs=1, echo=Echo())
    assert (summary.read, summary.added, summary.failed, summary.skipped_files) == (3, 2, 1, 1)
    assert_adds_up(summary)
    assert summary.problems == [
        f"{src / 'notes.csv'}: unsupported file type, skipped",
        f"{tmp_path / 'nope.jsonl'}: no such file or directory",
    ]


# --- parallel writing --------------------------------------------------------------------------------------------


def test_two_jobs_write_the_same_index_as_one(tmp_path: Path, tmp_index: Path) -> None:
    root = tmp_path / "index"
    summary = reindex([DEMO_DIR], root, jobs=2, echo=Echo())
    assert (summary.read, summary.added, summary.failed, summary.documents) == (DEMO_IDS, DEMO_IDS, 0, DEMO_IDS)
    parallel, serial = index_content(root), index_content(tmp_index)
    assert parallel["count"] == serial["count"] == DEMO_IDS
    assert parallel["stored"] == serial["stored"]
    assert parallel["postings"].keys() == serial["postings"].keys()
    assert parallel["postings"] == serial["postings"]
    assert len(parallel["postings"]) > 4000


# --- concurrency and failure --------------------------------------------------------------------------------------


def test_second_reindex_is_refused_while_one_runs(tmp_path: Path) -> None:
    root = tmp_path / "index"
    src = write_jsonl(tmp_path / "a.jsonl", SMALL)
    reindex([src], root, jobs=1, echo=Echo())
    changed = write_jsonl(tmp_path / "b.jsonl", SMALL + [{"id": "s6", "title": "Bài mới"}])
    with IndexStore(root).lock():
        with pytest.raises(IndexBusy, match="another reindex is running on"):
            reindex([changed], root, jobs=1, echo=Echo())
    assert gen_names(root) == ["gen-000001"]
    assert (root / CURRENT).read_text() == "gen-000001\n"


def test_wait_for_a_running_reindex(tmp_path: Path) -> None:
    root = tmp_path / "index"
    src = write_jsonl(tmp_path / "a.jsonl", SMALL)
    held = threading.Event()
    released_at: list[float] = []

    def holder() -> None:
        with IndexStore(root).lock():
            held.set()
            time.sleep(1.0)
            released_at.append(time.monotonic())

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        summary = reindex([src], root, jobs=1, wait=True, echo=Echo())
        finished_at = time.monotonic()
    finally:
        thread.join(10)
    assert released_at and finished_at > released_at[0]
    assert (summary.added, summary.documents, summary.generation) == (5, 5, "gen-000001")


def interrupting_source(tmp_path: Path, n: int = 40) -> Path:
    """``n`` new articles, then a broken line: the problem report comes after batches have been handed out."""
    return write_jsonl(tmp_path / "more.jsonl", copies(n, "new") + ["{broken"])


def interrupt(message: str) -> None:
    raise KeyboardInterrupt(message)


def test_interrupted_reindex_leaves_the_previous_generation_serving(tmp_path: Path, tmp_index: Path) -> None:
    root = tmp_path / "index"
    shutil.copytree(tmp_index, root)
    src = interrupting_source(tmp_path)
    with pytest.raises(KeyboardInterrupt, match="invalid JSON"):
        reindex([DEMO_DIR, src], root, jobs=1, echo=interrupt)
    assert (root / CURRENT).read_text() == "gen-000001\n"
    assert gen_names(root) == ["gen-000001"]
    svc = SearchService(root)
    assert svc.stats()["documents"] == DEMO_IDS
    assert ids(svc, 'title:"Hà Nội ngập lụt"') == ["demo-001"]
    with IndexStore(root).lock():
        pass  # free
    summary = reindex([DEMO_DIR, src], root, jobs=1, echo=Echo())
    assert (summary.added, summary.unchanged, summary.failed, summary.documents) == (40, DEMO_IDS, 1, 73)
    assert_adds_up(summary)
    assert summary.generation == "gen-000002"
    assert gen_names(root) == ["gen-000001", "gen-000002"]
    published_ok(root)


class ProcessDidNotExit(Exception):
    """The process finished its work but did not exit."""


INTERRUPT_SCRIPT = """
import json, sys
from pathlib import Path
from searchsvc.index.generations import IndexStore
from searchsvc.index.indexer import reindex
from searchsvc.engine.search import SearchService

index, src, state = sys.argv[1:4]

def interrupt(message):
    raise KeyboardInterrupt(message)

try:
    reindex([src], index, jobs=2, echo=interrupt)
    interrupted = False
except KeyboardInterrupt:
    interrupted = True
with IndexStore(index).lock():
    pass
Path(state).write_text(json.dumps({
    "interrupted": interrupted,
    "current": (Path(index) / "CURRENT").read_text(),
    "generations": [g.name for g in IndexStore(index).generations()],
    "documents": SearchService(index).stats()["documents"],
}))
"""


@pytest.mark.slow
def test_interrupted_parallel_reindex_then_the_process_exits(tmp_path: Path) -> None:
    root = tmp_path / "index"
    reindex([write_jsonl(tmp_path / "a.jsonl", SMALL)], root, jobs=1, echo=Echo())
    # Enough batches that the workers, slower than the reading, still have some queued when it stops.
    src = interrupting_source(tmp_path, 320)
    script = tmp_path / "run.py"
    script.write_text(INTERRUPT_SCRIPT)
    state = tmp_path / "state.json"
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, str(script), str(root), str(src), str(state)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert state.exists(), f"the script ended ({proc.poll()}) without reporting"
        got = json.loads(state.read_text())
        assert got == {"interrupted": True, "current": "gen-000001\n", "generations": ["gen-000001"],
                       "documents": 5}
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise ProcessDidNotExit("reindex(jobs=2) was interrupted and reported; 10 s later the process "
                                    "still had not exited") from None
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def kill_during_reindex(tmp_path: Path, root: Path, gen_name: str) -> None:
    """Run the real CLI on a large source and SIGKILL it once it has started writing ``gen_name``."""
    src = write_jsonl(tmp_path / "big.jsonl", copies(1500, "big"))
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "searchsvc.cli", "reindex", str(src), "--index", str(root), "--jobs", "1", "-q"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (root / gen_name).is_dir():
            assert proc.poll() is None, "the reindex ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(0.5)
        assert proc.poll() is None, "the reindex ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_killed_reindex_leaves_the_index_serving_and_the_lock_free(tmp_path: Path, tmp_index: Path) -> None:
    root = tmp_path / "index"
    shutil.copytree(tmp_index, root)
    kill_during_reindex(tmp_path, root, "gen-000002")
    assert (root / CURRENT).read_text() == "gen-000001\n"
    assert gen_names(root) == ["gen-000001", "gen-000002"]  # the half-built one is still there
    assert not (root / "gen-000002" / META).exists()
    assert SearchService(root).stats()["documents"] == DEMO_IDS
    with IndexStore(root).lock():
        pass  # the kernel released the dead process's lock
    summary = reindex([write_jsonl(tmp_path / "a.jsonl", SMALL)], root, jobs=1, echo=Echo())
    assert (summary.added, summary.documents, summary.generation) == (5, DEMO_IDS + 5, "gen-000002")
    assert gen_names(root) == ["gen-000001", "gen-000002"]
    published_ok(root)
    assert SearchService(root).article("s1") is not None


@pytest.mark.slow
def test_killed_first_reindex_leaves_no_half_generation_after_the_next(tmp_path: Path) -> None:
    root = tmp_path / "index"
    kill_during_reindex(tmp_path, root, "gen-000001")
    assert not (root / CURRENT).exists()
    summary = reindex([write_jsonl(tmp_path / "a.jsonl", SMALL)], root, jobs=1, echo=Echo())
    assert summary.documents == 5
    assert (root / CURRENT).read_text() == f"{summary.generation}\n"
    published_ok(root)
