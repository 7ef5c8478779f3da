"""Freshness and popularity in the relevance order (issue 13): RECENCY_HALF_LIFE_DAYS and VIEWS_WEIGHT.

A small real index (pyvi, Whoosh on disk) of five short articles written for this test, equally relevant to
*hồ sen nở rộ* (the same sentence about a different village each), dated relative to today's wall clock, with
views from JSON Lines ``views`` and from a portal export's ``Lượt xem``; one undated, one without views. The
settings must reorder those ties, and change nothing else: not the total, not the hit set, not the facets, not
the newest-first order; off (the default) they leave every score exactly as the ranking gives it.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from searchsvc import create_app
from searchsvc.engine.freshness import RECENCY_WEIGHT, TIMEZONE, Freshness, popularity, recency
from searchsvc.engine.query import build, parse
from searchsvc.engine.search import SearchRequest, SearchService
from searchsvc.index.indexer import reindex

QUERY = "hồ sen nở rộ"
# id, village, age in days (None: undated), views (None: none given)
ARTICLES = [("sen-01", "Đông", 2, 100), ("sen-02", "Tây", 40, 5000), ("sen-03", "Nam", 400, None),
            ("sen-04", "Bắc", None, 900)]
PORTAL = ("Trung", 10, 20000)  # the portal export: its id comes from title and time
TEXT = "Mùa hè năm nay, hồ sen của làng {} nở rộ sớm. Người dân trong vùng rủ nhau ra bờ hồ ngắm hoa và chụp ảnh."
OTHER = {"id": "other-01", "title": "Chợ hoa ven sông họp sớm", "category": "Đời sống", "source": "Báo Thử",
         "body": "Chợ hoa ven sông mở cửa từ tờ mờ sáng, bán đủ loại hoa tươi cho người đi làm.", "views": 50}


@pytest.fixture(scope="module")
def lotus_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("lotus")
    now = datetime.now(TIMEZONE).replace(tzinfo=None, microsecond=0)
    with open(src / "lotus.jsonl", "w", encoding="utf-8") as f:
        for doc_id, village, age, views in ARTICLES:
            record = {"id": doc_id, "title": f"Hồ sen làng {village} nở rộ", "sapo": "", "body": TEXT.format(village),
                      "category": "Đời sống", "source": "Báo Thử",
                      "published": (now - timedelta(days=age)).isoformat() if age is not None else ""}
            if views is not None:
                record["views"] = views
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.write(json.dumps(OTHER, ensure_ascii=False) + "\n")
    village, age, views = PORTAL
    when = now - timedelta(days=age)
    (src / "trung.txt").write_text(
        f"Đời sống\n\nHồ sen làng {village} nở rộ\nNgày đăng {when:%d/%m/%Y} | {when:%H:%M}  | Lượt xem: {views}\n\n"
        f"{TEXT.format(village)}\n", encoding="utf-8")
    root = src / "index"
    summary = reindex([src], root, jobs=1, progress=False, echo=lambda m: None)
    assert summary.failed == 0 and summary.added == 6
    return root


def results(index: Path, freshness: Freshness | None = None, **request) -> dict:
    service = SearchService(index, freshness=freshness) if freshness else SearchService(index)
    r = service.search(SearchRequest(q=QUERY, per_page=50, **request))
    return {"total": r.total, "ids": [h.id for h in r.hits], "scores": {h.id: h.score for h in r.hits},
            "facets": r.facets, "hits": r.hits}


def village(hit_ids: list[str], hits) -> list[str]:
    """The hits as their villages (the portal article's id is derived, its title is not)."""
    titles = {h.id: h.title for h in hits}
    return [titles[i].split("làng ")[1].split()[0] for i in hit_ids]


def test_off_by_default_the_scores_are_the_rankings_own(lotus_index: Path) -> None:
    assert create_app({"INDEX_DIR": str(lotus_index)}).extensions["searchsvc"].freshness == Freshness()
    assert not Freshness().on
    off = results(lotus_index)
    assert off["total"] == 5 and "other-01" not in off["ids"]
    assert len(set(off["scores"].values())) == 1, off["scores"]  # five ties: the texts differ only by the village
    # Exactly what the ranker gives without any factor (the code path before these settings).
    service = SearchService(lotus_index)
    opened = service.current()
    ranked = opened.ranker.rank(build(parse(QUERY)))
    with opened.io:
        docnums = {i: opened.searcher.document_number(id=i) for i in off["ids"]}
    assert off["scores"] == {i: float(ranked.scores[n]) for i, n in docnums.items()}
    assert results(lotus_index, Freshness(0, 0)) == off


def test_recency_orders_ties_newest_first_and_keeps_the_undated(lotus_index: Path) -> None:
    off = results(lotus_index)
    fresh = results(lotus_index, Freshness(recency_half_life_days=30))
    assert village(fresh["ids"], fresh["hits"]) == ["Đông", "Trung", "Tây", "Nam", "Bắc"]  # 2, 10, 40, 400 days
    base = off["scores"]["sen-01"]
    expected = {"sen-01": 2, "sen-02": 40, "sen-03": 400}
    for doc_id, age in expected.items():
        factor = 1 + RECENCY_WEIGHT * 0.5 ** (age / 30)
        assert fresh["scores"][doc_id] == pytest.approx(base * factor, rel=1e-3), doc_id
    assert fresh["scores"]["sen-04"] == base  # undated: its whole relevance, no less
    assert max(fresh["scores"].values()) <= base * (1 + RECENCY_WEIGHT)
    # Only the order changes.
    assert fresh["total"] == off["total"] and set(fresh["ids"]) == set(off["ids"]) and fresh["facets"] == off["facets"]


def test_views_order_ties_most_read_first_and_keep_the_viewless(lotus_index: Path) -> None:
    off = results(lotus_index)
    read = results(lotus_index, Freshness(views_weight=0.3))
    # 20,000 (the portal export's Lượt xem), 5,000, 900, 100, none.
    assert village(read["ids"], read["hits"]) == ["Trung", "Tây", "Bắc", "Đông", "Nam"]
    base = off["scores"]["sen-01"]
    top = read["scores"][read["ids"][0]]
    assert top == pytest.approx(base * 1.3, rel=1e-5)  # the most viewed article of the index counts 1 + w times
    assert read["scores"]["sen-02"] == pytest.approx(base * (1 + 0.3 * math.log1p(5000) / math.log1p(20000)),
                                                     rel=1e-5)
    assert read["scores"]["sen-03"] == base  # no views: its whole relevance
    assert read["total"] == off["total"] and set(read["ids"]) == set(off["ids"]) and read["facets"] == off["facets"]


def test_both_together_multiply(lotus_index: Path) -> None:
    off = results(lotus_index)
    both = results(lotus_index, Freshness(recency_half_life_days=30, views_weight=0.3))
    recent = results(lotus_index, Freshness(recency_half_life_days=30))
    read = results(lotus_index, Freshness(views_weight=0.3))
    base = off["scores"]["sen-01"]
    for doc_id in off["ids"]:
        assert both["scores"][doc_id] == pytest.approx(recent["scores"][doc_id] * read["scores"][doc_id] / base,
                                                       rel=1e-5)
    assert both["total"] == off["total"] and set(both["ids"]) == set(off["ids"])


def test_newest_first_is_a_pure_date_sort_whatever_the_settings(lotus_index: Path) -> None:
    off = results(lotus_index, sort="newest")
    assert village(off["ids"], off["hits"]) == ["Đông", "Trung", "Tây", "Nam", "Bắc"]  # the undated last
    for setting in (Freshness(recency_half_life_days=30), Freshness(views_weight=0.3), Freshness(7, 1.0)):
        assert results(lotus_index, setting, sort="newest") == off, setting


def test_the_app_factory_and_the_environment_pass_the_settings_on(lotus_index: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCHSVC_VIEWS_WEIGHT", "0.3")
    app = create_app({"INDEX_DIR": str(lotus_index), "RECENCY_HALF_LIFE_DAYS": 30})
    assert app.extensions["searchsvc"].freshness == Freshness(recency_half_life_days=30, views_weight=0.3)
    data = app.test_client().get("/api/search", query_string={"q": QUERY, "per_page": 50}).get_json()
    expected = results(lotus_index, Freshness(30, 0.3))
    assert [h["id"] for h in data["hits"]] == expected["ids"] and data["total"] == 5
    with pytest.raises(ValueError, match="VIEWS_WEIGHT must be a number, 0 or more"):
        create_app({"INDEX_DIR": str(lotus_index), "VIEWS_WEIGHT": -1})


def test_views_follow_an_updated_article(lotus_index: Path, tmp_path: Path) -> None:
    """An incremental reindex that changes an article's views writes a new segment and deletes the old copy: the
    views read are the new ones, from every segment, and the deleted copy counts for nothing."""
    import shutil

    index = tmp_path / "index"
    shutil.copytree(lotus_index, index)
    lines = (lotus_index.parent / "lotus.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    for r in records:
        if r["id"] == "sen-03":
            r["views"] = 50_000  # had none; now the most read of the index
    src = tmp_path / "update.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    summary = reindex([src], index, jobs=1, progress=False, echo=lambda m: None)
    assert (summary.updated, summary.failed) == (1, 0)
    read = results(index, Freshness(views_weight=0.3))
    base = results(index)["scores"]["sen-01"]
    assert read["ids"][0] == "sen-03" and read["scores"]["sen-03"] == pytest.approx(base * 1.3, rel=1e-5)
    portal = read["ids"][1]
    assert portal.startswith("txt-") and read["scores"][portal] == pytest.approx(
        base * (1 + 0.3 * math.log1p(20_000) / math.log1p(50_000)), rel=1e-5)
    assert read["scores"]["sen-02"] == pytest.approx(base * (1 + 0.3 * math.log1p(5000) / math.log1p(50_000)),
                                                     rel=1e-5)
    assert read["total"] == 5


def test_the_factors() -> None:
    day = 86_400 * 1_000_000
    now = 1000 * day
    published = np.array([now, now - 30 * day, now - 3000 * day, 0, now + 5 * day], dtype=np.int64)
    factors = recency(published, 30, now)
    assert factors.tolist() == pytest.approx([1.5, 1.25, 1.0, 1.0, 1.5])  # a future date counts as new
    assert popularity(np.array([0, 0]), 0.3) is None  # nobody has views: no factor at all
    assert popularity(np.array([0, 99, 9999]), 0.5).tolist() == pytest.approx([1.0, 1.25, 1.5])
