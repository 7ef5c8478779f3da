"""The ``searchsvc`` command (click's CliRunner) and the Flask app factory (its CLI, routes and error shape)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from searchsvc import create_app
from searchsvc.cli import COMMANDS, cli
from searchsvc.index.generations import IndexStore

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

SMALL = [
    {"id": "c1", "title": "Hà Nội mưa lớn", "body": "Mưa lớn ở Hà Nội.", "category": "Thời sự"},
    {"id": "c2", "title": "Giá đường tăng mạnh", "body": "Mía mất mùa.", "category": "Kinh doanh"},
]


def write_jsonl(path: Path, records: list[dict | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- reindex / search / stats --------------------------------------------------------------------------------------


@pytest.mark.corpus
def test_reindex_the_seed_then_search_it(cli_runner, seeds_dir: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    result = cli_runner.invoke(cli, ["reindex", str(seeds_dir), "--index", str(index), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("read 1, added 1, updated 0, unchanged 0, deleted 0, failed 0; "
                                    "1 article in gen-000001 (")

    result = cli_runner.invoke(cli, ["search", "Long Biên", "--json", "--index", str(index)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total"] >= 1
    hit = data["hits"][0]
    assert hit["title"].startswith("Long Biên sơ kết")
    assert hit["category"] == "Tin tức - Sự kiện nổi bật"
    assert hit["published"] == "2021-03-31"
    assert hit["views"] == 2521

    result = cli_runner.invoke(cli, ["search", "Long Biên", "--index", str(index)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"1 results \(\d+ ms\)", lines[0])
    assert lines[1].startswith(" 1. Long Biên sơ kết")
    assert "[Tin tức - Sự kiện nổi bật | - | 2021-03-31]" in lines[1]


def test_search_json_has_the_api_shape(cli_runner, tmp_index: Path) -> None:
    result = cli_runner.invoke(cli, ["search", "ha noi", "--json", "--limit", "3", "--index", str(tmp_index)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"query", "total", "page", "per_page", "took_ms", "hits", "facets"} <= set(data)
    assert data["query"] == "ha noi" and data["per_page"] == 3 and len(data["hits"]) == 3
    assert data["hits"][0]["id"] == "demo-001"


def test_stats(cli_runner, tmp_index: Path) -> None:
    result = cli_runner.invoke(cli, ["stats", "--index", str(tmp_index)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"index:        {tmp_index}"
    assert lines[1] == "generation:   1"
    assert re.fullmatch(r"built:        20\S+", lines[2])
    assert lines[3] == "documents:    33"
    assert re.fullmatch(r"size:         \d+\.\d MB", lines[4])
    assert re.fullmatch(r"last reindex: \S+ \(full\): read 33, added 33, updated 0, unchanged 0, deleted 0, "
                        r"failed 0", lines[5])

    result = cli_runner.invoke(cli, ["stats", "--json", "--index", str(tmp_index)])
    assert result.exit_code == 0
    stats = json.loads(result.stdout)
    assert stats["generation"] == 1 and stats["documents"] == 33 and stats["last_reindex_mode"] == "full"
    assert stats["size_bytes"] == IndexStore(tmp_index).size_bytes(IndexStore(tmp_index).current())


def test_reindex_exits_1_when_a_record_failed(cli_runner, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", [SMALL[0], "{broken", SMALL[1]])
    result = cli_runner.invoke(cli, ["reindex", str(src), "--index", str(tmp_path / "index"), "-j", "1", "--json",
                                     "-q"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["read"], summary["added"], summary["failed"], summary["documents"]) == (3, 2, 1, 2)
    assert f"warning: {src}:2: invalid JSON" in result.stderr


def test_reindex_exits_0_and_reports_incremental_changes(cli_runner, tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    src = write_jsonl(tmp_path / "a.jsonl", SMALL)
    assert cli_runner.invoke(cli, ["reindex", str(src), "--index", index, "-j", "1", "-q"]).exit_code == 0
    write_jsonl(src, SMALL[:1])
    result = cli_runner.invoke(cli, ["reindex", str(src), "--index", index, "-j", "1", "-q", "--delete-missing",
                                     "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["unchanged"], summary["deleted"], summary["documents"], summary["generation"]) == (
        1, 1, 1, "gen-000002")
    result = cli_runner.invoke(cli, ["reindex", str(src), "--index", index, "-j", "1", "-q", "--full", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["added"] == 1


def test_reindex_exits_2_when_the_index_is_busy(cli_runner, tmp_path: Path) -> None:
    index = tmp_path / "index"
    src = write_jsonl(tmp_path / "a.jsonl", SMALL)
    with IndexStore(index).lock():
        result = cli_runner.invoke(cli, ["reindex", str(src), "--index", str(index), "-j", "1"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (f"error: another reindex is running on {index}; "
                             "try again when it ends, or pass --wait to wait for it\n")
    assert IndexStore(index).current() is None


@pytest.mark.parametrize("args", [["stats"], ["search", "Hà Nội"]])
def test_commands_exit_2_without_an_index(cli_runner, tmp_path: Path, args: list[str]) -> None:
    index = tmp_path / "none"
    result = cli_runner.invoke(cli, [*args, "--index", str(index)])
    assert result.exit_code == 2
    assert result.stderr == f"error: no index at {index}: build one with 'searchsvc reindex SOURCES --index {index}'\n"


def test_bad_options_are_usage_errors(cli_runner, tmp_index: Path) -> None:
    assert cli_runner.invoke(cli, ["reindex", "--index", str(tmp_index)]).exit_code == 2  # SOURCES required
    assert cli_runner.invoke(cli, ["reindex", "x", "--jobs", "0", "--index", str(tmp_index)]).exit_code == 2
    assert cli_runner.invoke(cli, ["search", "x", "--limit", "51", "--index", str(tmp_index)]).exit_code == 2
    assert cli_runner.invoke(cli, ["serve", "--port", "0"]).exit_code == 2


def test_version(cli_runner) -> None:
    result = cli_runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip().endswith("version 0.5.0")


# --- where the index is: option > SEARCHSVC_INDEX_DIR > instance config > ./index ---------------------------------


def used_index(cli_runner) -> str:
    """The index directory ``stats`` looked in (none of these exist, so it names it in its error)."""
    result = cli_runner.invoke(cli, ["stats"])
    assert result.exit_code == 2
    m = re.fullmatch(r"error: no index at (.*): build one with .*\n", result.stderr)
    assert m, result.stderr
    return m.group(1)


def test_index_default_is_dot_index(cli_runner, isolated_config: Path) -> None:
    assert used_index(cli_runner) == "index"


def test_index_from_instance_config(cli_runner, isolated_config: Path, tmp_path: Path) -> None:
    (isolated_config / "instance").mkdir()
    (isolated_config / "instance" / "config.py").write_text(f"INDEX_DIR = {str(tmp_path / 'from-instance')!r}\n")
    assert used_index(cli_runner) == str(tmp_path / "from-instance")


def test_index_from_instance_path_variable(cli_runner, isolated_config: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "config.py").write_text(f"INDEX_DIR = {str(tmp_path / 'from-elsewhere')!r}\n")
    monkeypatch.setenv("SEARCHSVC_INSTANCE_PATH", str(tmp_path / "elsewhere"))
    assert used_index(cli_runner) == str(tmp_path / "from-elsewhere")


def test_environment_beats_instance_config(cli_runner, isolated_config: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated_config / "instance").mkdir()
    (isolated_config / "instance" / "config.py").write_text(f"INDEX_DIR = {str(tmp_path / 'from-instance')!r}\n")
    monkeypatch.setenv("SEARCHSVC_INDEX_DIR", str(tmp_path / "from-env"))
    assert used_index(cli_runner) == str(tmp_path / "from-env")


def test_option_beats_environment_and_instance(cli_runner, isolated_config: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, tmp_index: Path) -> None:
    (isolated_config / "instance").mkdir()
    (isolated_config / "instance" / "config.py").write_text(f"INDEX_DIR = {str(tmp_path / 'from-instance')!r}\n")
    monkeypatch.setenv("SEARCHSVC_INDEX_DIR", str(tmp_path / "from-env"))
    result = cli_runner.invoke(cli, ["stats", "--json", "--index", str(tmp_index)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["index"] == str(tmp_index)


def test_create_app_follows_the_same_chain(isolated_config: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert create_app({"TESTING": True}).config["INDEX_DIR"] == "index"
    (isolated_config / "instance").mkdir()
    (isolated_config / "instance" / "config.py").write_text(f"INDEX_DIR = {str(tmp_path / 'from-instance')!r}\n")
    assert create_app({"TESTING": True}).config["INDEX_DIR"] == str(tmp_path / "from-instance")
    monkeypatch.setenv("SEARCHSVC_INDEX_DIR", str(tmp_path / "from-env"))
    assert create_app({"TESTING": True}).config["INDEX_DIR"] == str(tmp_path / "from-env")
    assert create_app({"INDEX_DIR": "explicit", "TESTING": True}).config["INDEX_DIR"] == "explicit"


def test_environment_index_is_used_by_every_command(cli_runner, isolated_config: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    index = tmp_path / "env-index"
    monkeypatch.setenv("SEARCHSVC_INDEX_DIR", str(index))
    src = write_jsonl(tmp_path / "a.jsonl", SMALL)
    assert cli_runner.invoke(cli, ["reindex", str(src), "-j", "1", "-q"]).exit_code == 0
    assert IndexStore(index).current().name == "gen-000001"
    assert not (isolated_config / "index").exists()
    result = cli_runner.invoke(cli, ["search", "Hà Nội", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["hits"][0]["id"] == "c1"
    assert json.loads(cli_runner.invoke(cli, ["stats", "--json"]).stdout)["documents"] == 2


# --- documentation ---------------------------------------------------------------------------------------------------


def _documented_items() -> list[tuple[str, str]]:
    """(command, option) for the group's own options and for every command and each of its options."""
    items = [("", opt) for p in cli.params if isinstance(p, click.Option) for opt in p.opts]
    for name, command in sorted(cli.commands.items()):
        items.append((name, ""))
        items += [(name, opt) for p in command.params if isinstance(p, click.Option) for opt in p.opts]
    return items


def _section(text: str, command: str) -> str:
    """The README section whose heading shows ``searchsvc <command>``, else the whole README."""
    m = re.search(rf"^(#+)[^\n]*searchsvc\s+{re.escape(command)}\b[^\n]*$", text, re.MULTILINE)
    if not m:
        return text
    level = len(m.group(1))
    end = re.compile(rf"^#{{1,{level}}}\s", re.MULTILINE).search(text, m.end())
    return text[m.start():end.start() if end else len(text)]


@pytest.mark.parametrize(("command", "option"), _documented_items(),
                         ids=[f"{c} {o}".strip() for c, o in _documented_items()])
def test_readme_documents_every_command_and_option(command: str, option: str) -> None:
    assert README.is_file(), f"{README} does not exist: document the searchsvc commands there"
    text = README.read_text(encoding="utf-8")
    if not option:
        assert re.search(rf"searchsvc\s+{re.escape(command)}\b", text), f"README.md never shows 'searchsvc {command}'"
        return
    where = _section(text, command) if command else text
    assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", where), (
        f"README.md does not document {option} of 'searchsvc {command}'".replace(" ''", "")
    )


def test_every_command_is_in_the_group() -> None:
    assert sorted(cli.commands) == sorted(c.name for c in COMMANDS) == ["analytics", "hidden", "hide", "reindex",
                                                                         "search", "serve", "stats", "unhide"]


# --- the Flask app factory -------------------------------------------------------------------------------------------


def test_create_app_registers_the_commands(app, runner, tmp_index: Path) -> None:
    assert {"reindex", "search", "stats", "serve"} <= set(app.cli.commands)
    result = runner.invoke(args=["stats", "--index", str(tmp_index)])
    assert result.exit_code == 0, result.output
    assert "documents:    33" in result.output.splitlines()
    assert "generation:   1" in result.output.splitlines()


def test_app_cli_reindex_and_search(runner, tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    src = write_jsonl(tmp_path / "a.jsonl", SMALL)
    result = runner.invoke(args=["reindex", str(src), "--index", index, "-j", "1", "-q"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["search", "giá đường", "--json", "--index", index])
    assert result.exit_code == 0
    assert json.loads(result.output)["hits"][0]["id"] == "c2"


def test_app_config(app, tmp_index: Path) -> None:
    assert app.config["TESTING"] is True
    assert app.config["INDEX_DIR"] == str(tmp_index)


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    data = response.get_json()
    assert data["status"] == "ok"
    assert data["documents"] == 33
    assert data["generation"] == 1
    assert isinstance(data["built_at"], str) and data["built_at"][:2] == "20"


def test_api_search_hit_shape(client) -> None:
    response = client.get("/api/search", query_string={"q": "ha noi", "per_page": 5})
    assert response.status_code == 200
    data = response.get_json()
    assert {"query", "total", "page", "per_page", "took_ms", "hits", "facets"} <= set(data)
    assert (data["query"], data["page"], data["per_page"]) == ("ha noi", 1, 5)
    assert data["total"] >= 9 and len(data["hits"]) == 5
    hit = data["hits"][0]
    assert set(hit) == {"id", "title", "url", "category", "source", "published", "views", "score", "title_html",
                        "snippet_html"}
    assert hit["id"] == "demo-001"
    assert hit["title"] == "Hà Nội ngập lụt sau mưa lớn"
    assert hit["title_html"] == "<mark>Hà Nội</mark> ngập lụt sau mưa lớn"
    assert (hit["category"], hit["source"], hit["published"], hit["views"]) == ("Thời sự", "Báo Mẫu",
                                                                                "2024-07-22", 15230)
    assert hit["url"] == "https://example.vn/ha-noi-ngap-lut-sau-mua-lon"
    assert isinstance(hit["score"], float) and hit["score"] > 0
    assert "<mark>" in hit["snippet_html"]
    assert {f["value"] for f in data["facets"]["source"]} <= {"Báo Mẫu", "Tin Phố", "Nhật báo Ví Dụ"}


def error_of(response, status: int) -> str:
    assert response.status_code == status
    assert response.is_json, response.data[:200]
    data = response.get_json()
    assert set(data) == {"error"}
    assert set(data["error"]) == {"status", "message"}
    assert data["error"]["status"] == status
    assert isinstance(data["error"]["message"], str) and data["error"]["message"]
    return data["error"]["message"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "Hà Nội", "per_page": "500"}, "'per_page' must be between 1 and 50"),
        ({"q": "Hà Nội", "per_page": "0"}, "'per_page' must be between 1 and 50"),
        ({"q": "Hà Nội", "page": "abc"}, "'page' must be a whole number, not 'abc'"),
        ({"q": "Hà Nội", "page": "0"}, "'page' must be 1 or more"),
        ({"q": "Hà Nội", "from": "31/03/2021"}, "'from' must be a date as YYYY-MM-DD, not '31/03/2021'"),
        ({"q": ""}, "'q' is required"),
        ({"q": "x" * 501}, "query is too long (501 characters; at most 500)"),
    ],
)
def test_bad_parameters_are_400(client, params: dict, message: str) -> None:
    assert error_of(client.get("/api/search", query_string=params), 400) == message


def test_unknown_route_is_404_in_the_same_shape(client) -> None:
    error_of(client.get("/api/does-not-exist"), 404)


def test_missing_index_is_503_in_the_same_shape(tmp_path: Path) -> None:
    app = create_app({"INDEX_DIR": str(tmp_path / "missing"), "TESTING": True})
    client = app.test_client()
    for url in ("/api/search?q=H%C3%A0+N%E1%BB%99i", "/healthz"):
        message = error_of(client.get(url), 503)
        assert message == (f"the search index is not available: no index at {tmp_path / 'missing'}: "
                           f"build one with 'searchsvc reindex SOURCES --index {tmp_path / 'missing'}'")
