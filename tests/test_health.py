"""/healthz tells the truth: 503 when the pages cannot be rendered, not only when the index cannot be served.

A package installed without its templates (issue 12) answered every HTML page with an error while /healthz said
"ok"; a load balancer must see such an instance as down.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from searchsvc import create_app
from searchsvc.web import app as web_app

TEMPLATES = web_app.templates_dir()  # the real ones, before any test points the app elsewhere


def app_with_templates(monkeypatch: pytest.MonkeyPatch, index: Path, templates: Path):
    """A real app, made by create_app, whose template folder is ``templates`` (as an install would give it)."""
    monkeypatch.setattr(web_app, "templates_dir", lambda: templates)
    return create_app({"INDEX_DIR": str(index), "TESTING": True})


def check_503(response, *words: str) -> str:
    assert response.status_code == 503
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "message"}
    assert body["error"]["status"] == 503
    message = body["error"]["message"]
    for word in words:
        assert word in message, (word, message)
    return message


def test_ok_with_documents_and_generation(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["documents"], body["generation"], body["problems"]) == ("ok", 33, 1, [])


@pytest.mark.parametrize("folder", ["empty", "absent"])
def test_templates_missing_is_503(monkeypatch, tmp_index, tmp_path, folder) -> None:
    templates = tmp_path / "templates"
    if folder == "empty":
        templates.mkdir()
    client = app_with_templates(monkeypatch, tmp_index, templates).test_client()
    message = check_503(client.get("/healthz"), "templates", str(templates), "search.html", "article.html",
                        "error.html", "generation 1", "33 documents")
    assert "index is not available" not in message
    assert client.get("/api/search?q=m%C6%B0a").status_code == 200  # the index answers; the pages cannot
    # A page still answers, with a plain error page, rather than dropping the connection.
    page = client.get("/?q=m%C6%B0a")
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert "Đã có lỗi xảy ra" in page.get_data(as_text=True)


def test_one_template_missing_is_named(monkeypatch, tmp_index, tmp_path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    for page in TEMPLATES.glob("*.html"):
        if page.name != "article.html":
            (templates / page.name).write_bytes(page.read_bytes())
    client = app_with_templates(monkeypatch, tmp_index, templates).test_client()
    message = check_503(client.get("/healthz"), "article.html")
    assert "search.html" not in message and "error.html" not in message


def test_a_broken_template_is_named(monkeypatch, tmp_index, tmp_path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    for page in TEMPLATES.glob("*.html"):
        (templates / page.name).write_bytes(page.read_bytes())
    (templates / "error.html").write_text('{% extends "base.html" %}{% block content %}{% if %}', encoding="utf-8")
    client = app_with_templates(monkeypatch, tmp_index, templates).test_client()
    check_503(client.get("/healthz"), "error.html")


def test_index_and_templates_missing_names_both(monkeypatch, tmp_path) -> None:
    client = app_with_templates(monkeypatch, tmp_path / "no-index", tmp_path / "no-templates").test_client()
    check_503(client.get("/healthz"), "index is not available", "templates", "search.html")


def test_repaired_templates_are_seen_without_a_restart(monkeypatch, tmp_index, tmp_path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    client = app_with_templates(monkeypatch, tmp_index, templates).test_client()
    assert client.get("/healthz").status_code == 503
    for page in TEMPLATES.glob("*.html"):
        (templates / page.name).write_bytes(page.read_bytes())
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 200


def test_the_packaged_templates_are_checked_once(app, monkeypatch) -> None:
    """Healthy templates are loaded once per process, not on every /healthz."""
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    calls = []
    real = app.jinja_env.get_template
    monkeypatch.setattr(app.jinja_env, "get_template", lambda *a, **k: calls.append(a) or real(*a, **k))
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert calls == []
