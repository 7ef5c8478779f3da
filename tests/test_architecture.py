"""The tree shows the architecture, and this test keeps it so (in the spirit of Datasette's test that fails on an
undocumented option): each part of the system imports only what lies below it, and no import circle exists.

Read from the modules' own source with ``ast``: every ``import`` counts, those inside functions too, since a lazy
import is still a dependency. Data flows files → reading → analysis → index → engine → web / cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "searchsvc"

# What each part may import of ours (a module, or a package and all below it). Listed by prefix.
ALLOWED: dict[str, tuple[str, ...]] = {
    "searchsvc.reading": ("searchsvc.reading",),
    "searchsvc.analysis": ("searchsvc.analysis",),
    "searchsvc.index": ("searchsvc.index", "searchsvc.analysis", "searchsvc.reading"),
    # The search layer reads an index and never writes one: not the indexer, its worker pool or writers. It reads
    # the hidden list (index.hidden), never writes it (index.hiding is the hide/unhide commands').
    "searchsvc.engine": ("searchsvc.engine", "searchsvc.analysis", "searchsvc.index.schema",
                         "searchsvc.index.codec", "searchsvc.index.generations", "searchsvc.index.hidden",
                         "searchsvc.index.mapped", "searchsvc.index.lexicon", "searchsvc.index.derive",
                         "searchsvc.index.stored"),
    # Readers' searches recorded and reported: knows nothing of the engine or Flask (the routes hand it plain values).
    "searchsvc.analytics": ("searchsvc.analytics", "searchsvc.config"),
    # Routes call the search service; they never touch Whoosh or storage (the analytics recorder is reached through
    # the app's extensions, never imported: no SQLite in a route).
    "searchsvc.web.api": ("searchsvc.web", "searchsvc.engine.search"),
    "searchsvc.web.pages": ("searchsvc.web", "searchsvc.engine.search"),
    "searchsvc.web.openapi": ("searchsvc.engine.search",),
    # The factory wires the service, the routes, the searches' recorder and pyvi's preloading (before gunicorn forks).
    "searchsvc.web.app": ("searchsvc.web", "searchsvc.engine.search", "searchsvc.config",
                          "searchsvc.analysis.vietnamese", "searchsvc.analytics.recorder"),
    "searchsvc.config": (),
    "searchsvc.gunicorn_conf": ("searchsvc.engine.search",),
    "searchsvc.cli": ("searchsvc.config", "searchsvc.reading", "searchsvc.analysis", "searchsvc.index",
                      "searchsvc.engine", "searchsvc.web.app", "searchsvc.analytics"),
    "searchsvc": ("searchsvc.cli", "searchsvc.web.app"),
    # The name indexes written by 0.1 pickled their codec under (index/codec.py's old place).
    "searchsvc.codec": ("searchsvc.index.codec",),
}

# Third-party packages a part must not import.
FORBIDDEN_LIBRARIES: dict[str, tuple[str, ...]] = {
    "searchsvc.reading": ("whoosh", "pyvi", "flask"),
    "searchsvc.analysis": ("flask",),
    "searchsvc.index": ("flask",),
    "searchsvc.engine": ("flask",),
    "searchsvc.web": ("whoosh", "pyvi", "sqlite3"),
    "searchsvc.analytics": ("whoosh", "pyvi", "flask", "numpy"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(source: str, name: str) -> set[str]:
    """Every module ``source`` imports, by absolute name; ``from package import module`` names the module."""
    package = name if MODULES.get(name, Path()).name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            modules = {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES}
            found |= modules
            if len(modules) < len(node.names):  # names defined in base itself
                found.add(base)
    return found


def ours(names: set[str]) -> set[str]:
    return {n for n in names if n == "searchsvc" or n.startswith("searchsvc.")}


def part_of(name: str) -> str:
    """The most specific key of ALLOWED that ``name`` falls under."""
    keys = [k for k in ALLOWED if name == k or name.startswith(k + ".")]
    return max(keys, key=len)


def violations(name: str, source: str) -> list[str]:
    part = part_of(name)
    out = []
    for target in sorted(ours(imports(source, name))):
        if target == name:
            continue
        if not any(target == a or target.startswith(a + ".") for a in ALLOWED[part]):
            out.append(f"{name} imports {target}, which {part} may not import")
    for key, banned in FORBIDDEN_LIBRARIES.items():
        if name == key or name.startswith(key + "."):
            for target in imports(source, name):
                if target.split(".")[0] in banned:
                    out.append(f"{name} imports {target}: {key} must not use {target.split('.')[0]}")
    return out


def test_every_module_is_covered_by_a_rule() -> None:
    assert len(MODULES) > 30
    for name in MODULES:
        assert part_of(name), name


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_follow_the_layers(name: str) -> None:
    assert violations(name, MODULES[name].read_text(encoding="utf-8")) == []


def test_no_import_circles() -> None:
    graph = {name: {t for t in ours(imports(p.read_text(encoding="utf-8"), name)) if t in MODULES and t != name}
             for name, p in MODULES.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == [], "import circles: " + "; ".join(" → ".join(c) for c in cycles)


def test_each_part_says_what_it_is_and_what_it_may_import() -> None:
    for part in ("reading", "analysis", "index", "engine", "web", "analytics"):
        doc = ast.get_docstring(ast.parse((PACKAGE / part / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "import" in doc, f"searchsvc/{part}/__init__.py must say what it is and what it may import"


# --- the checker itself catches what it is for -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "source", "expected"), [
    ("searchsvc.web.api", "from searchsvc.index.generations import IndexStore\n", "may not import"),
    ("searchsvc.web.pages", "def f():\n    import whoosh.index\n", "must not use whoosh"),
    ("searchsvc.analysis.vietnamese", "from searchsvc.engine.query import parse\n", "may not import"),
    ("searchsvc.reading.html", "from searchsvc.index import schema\n", "may not import"),
    ("searchsvc.engine.search", "from searchsvc.index.indexer import reindex\n", "may not import"),
    ("searchsvc.engine.search", "from searchsvc.index.hiding import hide\n", "may not import"),
    ("searchsvc.engine.search", "from searchsvc.index import hiding\n", "may not import"),
    ("searchsvc.reading.sitemaps", "from . import sources\n", None),
    ("searchsvc.web.api", "from searchsvc.analytics.store import write\n", "may not import"),
    ("searchsvc.web.pages", "def f():\n    import sqlite3\n", "must not use sqlite3"),
    ("searchsvc.analytics.report", "from searchsvc.engine.search import SearchResult\n", "may not import"),
])
def test_the_checker_finds_forbidden_imports(name: str, source: str, expected: str | None) -> None:
    found = violations(name, source)
    if expected is None:
        assert found == []
    else:
        assert found and expected in found[0], found
