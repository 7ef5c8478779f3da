"""The report on readers' searches, for ``searchsvc analytics``: as text, as JSON, and as one HTML page.

Aggregated in SQL over the period (indexes on time and query), so that 90 days of a busy site read in seconds. A
search is a first page of results; further pages of the same search are counted apart and left out of the
tables, except the slowest, where a page is a request like any other. Queries are grouped by the engine's text of
them in lower case (``Hà Nội``, ``hà  nội`` are one), each shown with the form readers typed most.

The HTML page is for editors: self-contained (inline CSS, an inline SVG chart, no script, no request anywhere),
in Vietnamese, and every text from readers is escaped.
"""

from __future__ import annotations

import math
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from searchsvc.analytics import store

FILTERS_ONLY = "(no words: filters only)"
KIND_LABELS = {
    "telex": "phím Telex", "vni": "phím VNI", "typo": "sửa lỗi gõ", "synonym": "từ viết tắt, đồng nghĩa",
    "suggestion": "gợi ý (thêm dấu, sửa chính tả)", "diacritics": "thêm dấu",
}

__all__ = ["Report", "build"]


@dataclass
class Report:
    database: str
    days: int
    start: str  # the first day covered, YYYY-MM-DD (Vietnam)
    end: str  # the last, today
    generated_at: str  # UTC, ISO 8601
    totals: dict[str, Any] = field(default_factory=dict)
    per_day: list[dict[str, Any]] = field(default_factory=list)
    top_queries: list[dict[str, Any]] = field(default_factory=list)
    no_results: list[dict[str, Any]] = field(default_factory=list)
    rewritten: list[dict[str, Any]] = field(default_factory=list)
    slowest: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def as_text(self) -> str:
        return _text(self)

    def as_html(self) -> str:
        return _html(self)


def build(path: str | os.PathLike[str], days: int = 30, limit: int = 20, keep_days: int | None = None,
          now: float | None = None) -> Report:
    """The report over the last ``days`` days (today included) of the database at ``path``; records older than
    ``keep_days`` are removed first when the database may be written. No database: an empty report, with a note."""
    path = Path(path)
    now = time.time() if now is None else now
    today = datetime.fromtimestamp(now, store.VIETNAM).date()
    first = today - timedelta(days=days - 1)
    since = int(datetime(first.year, first.month, first.day, tzinfo=store.VIETNAM).timestamp())
    report = Report(os.fspath(path), days, first.isoformat(), today.isoformat(), store.utc_iso(now))
    report.totals = {"searches": 0, "more_pages": 0, "distinct_queries": 0, "no_results": 0, "rewritten": 0,
                     "via_page": 0, "via_api": 0, "took_ms_median": None, "took_ms_p95": None, "lost": 0,
                     "removed_old": 0, "oldest": None}
    opened = store.open_existing(path)
    if opened is None:
        report.notes.append(f"no searches recorded at {path} yet (no database): is it the served index's, and "
                            "is ANALYTICS on?")
        report.per_day = _days(first, today, {})
        return report
    conn, writable = opened
    try:
        if keep_days and writable:
            try:
                report.totals["removed_old"] = store.prune(conn, keep_days, now)
            except sqlite3.OperationalError as exc:  # locked by a writer for long: report all the same
                report.notes.append(f"records older than {keep_days} days not removed: {exc}")
        elif keep_days:
            report.notes.append(f"read-only access to {path}: records older than {keep_days} days not removed "
                                "(run as the service's user)")
        _fill(conn, report, since, first, today, limit)
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        report.notes.append(f"{path} holds no searches yet")
        report.per_day = _days(first, today, {})
    finally:
        conn.close()
    if keep_days and days > keep_days:
        report.notes.append(f"searches are kept {keep_days} days (ANALYTICS_DAYS): older days are empty")
    return report


def _fill(conn: sqlite3.Connection, report: Report, since: int, first: date, today: date, limit: int) -> None:
    one = conn.execute
    t = report.totals
    row = one("SELECT count(*), total(page = 1), total(page = 1 AND results = 0), total(page = 1 AND rewritten = 1), "
              "total(page = 1 AND via = 'page'), total(page = 1 AND via = 'api'), "
              "count(DISTINCT CASE WHEN page = 1 THEN normalized END) FROM searches WHERE at >= ?", (since,)).fetchone()
    requests = row[0]
    t.update(searches=int(row[1]), more_pages=requests - int(row[1]), no_results=int(row[2]),
             rewritten=int(row[3]), via_page=int(row[4]), via_api=int(row[5]), distinct_queries=int(row[6]))
    if requests:
        t["took_ms_median"] = _nth_took(conn, since, math.ceil(0.5 * requests) - 1)
        t["took_ms_p95"] = _nth_took(conn, since, math.ceil(0.95 * requests) - 1)
    t["lost"] = int(one("SELECT total(searches) FROM lost WHERE day >= ?", (first.isoformat(),)).fetchone()[0])
    oldest = one("SELECT min(at) FROM searches").fetchone()[0]
    t["oldest"] = store.local_day(oldest) if oldest is not None else None

    counts = {d: (int(s), int(z)) for d, s, z in one(
        "SELECT date(at, 'unixepoch', '+7 hours') AS day, total(page = 1), total(page = 1 AND results = 0) "
        "FROM searches WHERE at >= ? GROUP BY day", (since,))}
    report.per_day = _days(first, today, counts)

    for normalized, n, zero in one(
            "SELECT normalized, count(*) AS n, total(results = 0) FROM searches WHERE at >= ? AND page = 1 "
            "GROUP BY normalized ORDER BY n DESC, normalized LIMIT ?", (since, limit)).fetchall():
        last = one("SELECT results FROM searches WHERE normalized = ? AND at >= ? AND page = 1 "
                   "ORDER BY at DESC, id DESC LIMIT 1", (normalized, since)).fetchone()[0]
        report.top_queries.append({"query": normalized, "typed": _typed(conn, normalized, since), "searches": n,
                                   "results": last, "no_results": int(zero)})

    for normalized, n, last in one(
            "SELECT normalized, count(*) AS n, max(at) AS last FROM searches WHERE at >= ? AND page = 1 "
            "AND results = 0 GROUP BY normalized ORDER BY n DESC, last DESC LIMIT ?", (since, limit)).fetchall():
        report.no_results.append({"query": normalized, "typed": _typed(conn, normalized, since, "AND results = 0"),
                                  "searches": n, "last": store.utc_iso(last)})

    for normalized, n, r in one(
            "SELECT normalized, count(*), total(rewritten) AS r FROM searches WHERE at >= ? AND page = 1 "
            "GROUP BY normalized HAVING r > 0 ORDER BY r DESC, normalized LIMIT ?", (since, limit)).fetchall():
        read_as, kinds = one("SELECT rewritten_to, rewrite_kinds, count(*) AS c FROM searches WHERE normalized = ? "
                             "AND at >= ? AND page = 1 AND rewritten = 1 GROUP BY rewritten_to, rewrite_kinds "
                             "ORDER BY c DESC LIMIT 1", (normalized, since)).fetchone()[:2]
        report.rewritten.append({"query": normalized, "typed": _typed(conn, normalized, since, "AND rewritten = 1"),
                                 "rewritten": int(r), "searches": n, "share": round(r / n, 3), "read_as": read_as,
                                 "kinds": kinds.split(",") if kinds else []})

    # SQLite takes the bare columns of a max() query from the row with the maximum: that search's own filters.
    for (normalized, typed, category, source, date_from, date_to, sort, page, results, worst, mean,
         n) in one("SELECT normalized, query, category, source, date_from, date_to, sort, page, results, "
                   "max(took_ms) AS worst, avg(took_ms), count(*) FROM searches WHERE at >= ? GROUP BY normalized "
                   "ORDER BY worst DESC LIMIT ?", (since, limit)).fetchall():
        filters = {k: v for k, v in (("category", category), ("source", source), ("from", date_from),
                                     ("to", date_to)) if v}
        if sort != "relevance":
            filters["sort"] = sort
        if page != 1:
            filters["page"] = page
        report.slowest.append({"query": normalized, "typed": typed, "took_ms": round(worst, 1),
                               "mean_ms": round(mean, 1), "requests": n, "results": results, "filters": filters})


def _typed(conn: sqlite3.Connection, normalized: str, since: int, where: str = "") -> str:
    """The form readers typed a query in most (ties: the latest)."""
    return conn.execute(f"SELECT query, count(*) AS c, max(at) AS last FROM searches WHERE normalized = ? "
                        f"AND at >= ? AND page = 1 {where} GROUP BY query ORDER BY c DESC, last DESC LIMIT 1",
                        (normalized, since)).fetchone()[0]


def _nth_took(conn: sqlite3.Connection, since: int, n: int) -> float:
    """The ``n``-th fastest request's time (0-based): nearest-rank percentiles without reading every row."""
    return round(conn.execute("SELECT took_ms FROM searches WHERE at >= ? ORDER BY took_ms LIMIT 1 OFFSET ?",
                              (since, max(0, n))).fetchone()[0], 1)


def _days(first: date, today: date, counts: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
    out = []
    day = first
    while day <= today:
        searches, zero = counts.get(day.isoformat(), (0, 0))
        out.append({"date": day.isoformat(), "searches": searches, "no_results": zero})
        day += timedelta(days=1)
    return out


# --- text -------------------------------------------------------------------------------------------------------------


def _shown(query: str) -> str:
    return query if query else FILTERS_ONLY


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _table(title: str, header: tuple[str, ...], rows: list[tuple], empty: str) -> list[str]:
    lines = ["", title]
    if not rows:
        return [*lines, f"  ({empty})"]
    cells = [tuple(str(c) for c in header), *[tuple(str(c) for c in r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header) - 1)]
    for r in cells:
        # numbers right-aligned, the last column (a query) as it is
        lines.append("  " + "  ".join(c.rjust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    return lines


def _text(r: Report) -> str:
    t = r.totals
    lines = [f"Searches recorded in {r.database}",
             f"last {r.days} days: {r.start} to {r.end} (Vietnam time)",
             f"searches: {t['searches']:,} (search page {t['via_page']:,}, API {t['via_api']:,}); "
             f"further result pages: {t['more_pages']:,}; distinct queries: {t['distinct_queries']:,}",
             f"no results: {t['no_results']:,} ({_pct(t['no_results'], t['searches'])}); rewritten: "
             f"{t['rewritten']:,} ({_pct(t['rewritten'], t['searches'])}); time: median {_ms(t['took_ms_median'])}, "
             f"p95 {_ms(t['took_ms_p95'])}"]
    if t["lost"]:
        lines.append(f"not recorded (database locked or full, writer behind): {t['lost']:,}")
    lines += _table("Top queries", ("searches", "results", "query (as typed most)"),
                    [(q["searches"], q["results"], _with_typed(q)) for q in r.top_queries], "none")
    lines += _table("Queries with no results", ("searches", "last (UTC)", "query"),
                    [(q["searches"], q["last"][:16].replace("T", " "), _with_typed(q)) for q in r.no_results], "none")
    lines += _table("Queries most often rewritten", ("rewritten", "of", "kinds", "query -> read as"),
                    [(q["rewritten"], q["searches"], ",".join(q["kinds"]) or "-",
                      f"{_with_typed(q)} -> {q['read_as'] or '?'}") for q in r.rewritten], "none")
    lines += _table("Slowest queries", ("max", "mean", "requests", "results", "query [filters]"),
                    [(_ms(q["took_ms"]), _ms(q["mean_ms"]), q["requests"], q["results"],
                      _shown(q["query"]) + (" [" + ", ".join(f"{k}={v}" for k, v in q["filters"].items()) + "]"
                                            if q["filters"] else "")) for q in r.slowest], "none")
    lines += _table("Searches per day", ("searches", "no results", "day"),
                    [(d["searches"], d["no_results"], d["date"]) for d in r.per_day], "none")
    lines += [""] + [f"note: {n}" for n in r.notes]
    return "\n".join(lines).rstrip() + "\n"


def _with_typed(q: dict[str, Any]) -> str:
    """The query as readers typed it most; the group's lower-case text is the same words."""
    return q.get("typed") or _shown(q["query"])


# --- HTML ------------------------------------------------------------------------------------------------------------


def vn_number(n: float) -> str:
    """1234 → 1.234, as Vietnamese writes thousands."""
    return f"{int(round(n)):,}".replace(",", ".")


def vn_decimal(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def vn_pct(part: int, whole: int) -> str:
    return vn_decimal(100 * part / whole) + "%" if whole else "–"


def vn_ms(value: float | None) -> str:
    return "–" if value is None else f"{vn_decimal(value, 0 if value >= 10 else 1)} ms"


def vn_day(iso: str) -> str:
    return date.fromisoformat(iso[:10]).strftime("%d/%m/%Y")


_CSS = """
:root{--ink:#1d2733;--muted:#5b6775;--line:#dde3ea;--bg:#f6f8fa;--blue:#1f6feb;--amber:#e8912d;--card:#fff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.5 "Segoe UI","Noto Sans","Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:28px 24px 40px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:34px 0 6px}
p.lead,p.hint,footer{color:var(--muted);margin:0 0 10px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:12px;margin:20px 0 6px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card b{display:block;font-size:26px;line-height:1.2}
.card span{color:var(--muted);font-size:13px}
.card.warn b{color:#b42318}
.chart{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px}
svg{display:block;width:100%;height:auto}
.legend{font-size:13px;color:var(--muted);margin:6px 4px 0}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin:0 5px -1px 12px}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:10px;
overflow:hidden}
th,td{padding:7px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#eef2f6;font-size:13px;color:var(--muted);font-weight:600}
tr:last-child td{border-bottom:0}
td.n,th.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.q{font-weight:600}
small{color:var(--muted);font-weight:400}
.tag{display:inline-block;background:#eef2f6;border-radius:4px;padding:0 6px;margin:1px 4px 1px 0;font-size:12px}
.empty{color:var(--muted);font-style:italic}
footer{margin-top:36px;font-size:13px}
"""


def _query_cell(q: dict[str, Any]) -> str:
    """The query as readers typed it most (their capitals and diacritics), escaped: readers wrote it."""
    if not q["query"]:
        return '<td class="q"><small>(chỉ dùng bộ lọc, không có từ khóa)</small></td>'
    return f'<td class="q">{escape(q.get("typed") or q["query"])}</td>'


def _html_table(header: list[tuple[str, bool]], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f'<th class="n">{escape(h)}</th>' if numeric else f"<th>{escape(h)}</th>" for h, numeric in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _num(value: Any) -> str:
    return f'<td class="n">{value}</td>'


def _chart(per_day: list[dict[str, Any]]) -> str:
    """Searches per day as an inline SVG bar chart: with results in blue, without in amber on top."""
    width, height, left, right, top, bottom = 1040, 280, 56, 12, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((d["searches"] for d in per_day), default=0)
    step = _nice_step(peak)
    ymax = max(step * 4, step * math.ceil(peak / step)) if peak else 4
    n = max(1, len(per_day))
    slot = plot_w / n
    bar = max(1.0, slot * 0.72)
    parts = [f'<svg viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'aria-label="Số lượt tìm kiếm mỗi ngày" font-family="inherit" font-size="12">']
    tick = 0
    while tick <= ymax:
        y = top + plot_h - plot_h * tick / ymax
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dde3ea"/>'
                     f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6775">{vn_number(tick)}</text>')
        tick += step if peak else 1
    label_every = max(1, math.ceil(n / 16))
    for i, d in enumerate(per_day):
        x = left + slot * i + (slot - bar) / 2
        ok = d["searches"] - d["no_results"]
        h_ok = plot_h * ok / ymax
        h_zero = plot_h * d["no_results"] / ymax
        base = top + plot_h
        tip = (f"{vn_day(d['date'])}: {vn_number(d['searches'])} lượt tìm, "
               f"{vn_number(d['no_results'])} không có kết quả")
        parts.append(f"<g><title>{escape(tip)}</title>"
                     f'<rect x="{x:.1f}" y="{base - h_ok:.1f}" width="{bar:.1f}" height="{h_ok:.1f}" fill="#1f6feb"/>'
                     f'<rect x="{x:.1f}" y="{base - h_ok - h_zero:.1f}" width="{bar:.1f}" height="{h_zero:.1f}" '
                     f'fill="#e8912d"/></g>')
        if i % label_every == 0 or (i == n - 1 and i % label_every > label_every // 2):
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 18}" text-anchor="middle" '
                         f'fill="#5b6775">{escape(vn_day(d["date"])[:5])}</text>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#5b6775"/>')
    parts.append("</svg>")
    return "".join(parts)


def _nice_step(peak: int) -> int:
    """A round gridline step giving about four lines up to ``peak``."""
    if peak <= 4:
        return 1
    raw = peak / 4
    power = 10 ** math.floor(math.log10(raw))
    return int(next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw))


def _html(r: Report) -> str:
    t = r.totals
    generated = datetime.fromisoformat(r.generated_at.replace("Z", "+00:00")).astimezone(store.VIETNAM)
    cards = [
        (vn_number(t["searches"]), f"lượt tìm kiếm: {vn_number(t['via_page'])} trên trang tìm kiếm, "
                                   f"{vn_number(t['via_api'])} qua API", False),
        (vn_number(t["distinct_queries"]), "từ khóa khác nhau", False),
        (vn_pct(t["no_results"], t["searches"]), f"không có kết quả ({vn_number(t['no_results'])} lượt)", False),
        (vn_pct(t["rewritten"], t["searches"]), f"được hiểu lại hoặc gợi ý cách gõ khác "
                                                f"({vn_number(t['rewritten'])} lượt)", False),
        (vn_ms(t["took_ms_median"]), f"thời gian tìm trung vị; 95% dưới {vn_ms(t['took_ms_p95'])}", False),
    ]
    if t["lost"]:
        cards.append((vn_number(t["lost"]), "lượt tìm không ghi lại được (cơ sở dữ liệu bận hoặc đầy)", True))
    card_html = "".join(f'<div class="card{" warn" if warn else ""}"><b>{escape(v)}</b><span>{escape(label)}</span>'
                        "</div>" for v, label, warn in cards)

    top = [f"<tr>{_query_cell(q)}{_num(vn_number(q['searches']))}{_num(vn_number(q['results']))}</tr>"
           for q in r.top_queries]
    zero = [f"<tr>{_query_cell(q)}{_num(vn_number(q['searches']))}{_num(vn_day(_local(q['last'])))}</tr>"
            for q in r.no_results]
    rewritten = [
        f"<tr>{_query_cell(q)}<td>{escape(q['read_as'] or '')}</td>"
        f"<td>{''.join(f'<span class=tag>{escape(KIND_LABELS.get(k, k))}</span>' for k in q['kinds'])}</td>"
        f"{_num(vn_number(q['rewritten']))}{_num(vn_pct(q['rewritten'], q['searches']))}</tr>"
        for q in r.rewritten]
    slow = [
        f"<tr>{_query_cell(q)}<td>{''.join(_filter_tag(k, v) for k, v in q['filters'].items())}</td>"
        f"{_num(vn_ms(q['took_ms']))}{_num(vn_ms(q['mean_ms']))}{_num(vn_number(q['requests']))}"
        f"{_num(vn_number(q['results']))}</tr>" for q in r.slowest]
    notes = "".join(f"<p class=hint>{escape(n)}</p>" for n in r.notes)
    period = f"{vn_day(r.start)} – {vn_day(r.end)}"
    return f"""<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Độc giả tìm gì · {escape(period)}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>Độc giả tìm gì</h1>
<p class="lead">{r.days} ngày, từ {escape(vn_day(r.start))} đến {escape(vn_day(r.end))} (giờ Việt Nam) ·
lập lúc {generated.strftime("%H:%M %d/%m/%Y")}</p>
{notes}
<section class="cards">{card_html}</section>
<p class="hint">Một lượt tìm là trang kết quả đầu tiên; độc giả còn xem thêm {vn_number(t["more_pages"])} trang kết
quả tiếp theo (chỉ tính trong bảng tìm kiếm chậm nhất).</p>

<h2>Lượt tìm mỗi ngày</h2>
<div class="chart">{_chart(r.per_day)}
<p class="legend"><i style="background:#1f6feb"></i>có kết quả<i style="background:#e8912d"></i>không có kết quả</p>
</div>

<h2>Từ khóa được tìm nhiều nhất</h2>
{_html_table([("Từ khóa", False), ("Lượt tìm", True), ("Số kết quả (lần gần nhất)", True)], top,
             "Chưa có lượt tìm nào.")}

<h2>Tìm kiếm không có kết quả</h2>
<p class="hint">Điều độc giả cần mà kho tin chưa có, hoặc cách gõ mà công cụ tìm kiếm chưa hiểu.</p>
{_html_table([("Từ khóa", False), ("Lượt tìm", True), ("Lần gần nhất", True)], zero,
             "Lượt tìm nào cũng có kết quả.")}

<h2>Từ khóa thường được hiểu lại</h2>
<p class="hint">Gõ không dấu, gõ phím Telex/VNI khi tắt bộ gõ, gõ sai, viết tắt: công cụ đã tìm theo cách hiểu
bên cạnh hoặc gợi ý cách gõ đó.</p>
{_html_table([("Từ khóa", False), ("Được hiểu là", False), ("Cách hiểu", False), ("Số lần", True),
              ("Tỷ lệ", True)], rewritten, "Không có từ khóa nào được hiểu lại.")}

<h2>Tìm kiếm chậm nhất</h2>
{_html_table([("Từ khóa", False), ("Bộ lọc", False), ("Lâu nhất", True), ("Trung bình", True),
              ("Lượt", True), ("Kết quả", True)], slow, "Chưa có lượt tìm nào.")}

<footer>Không ghi địa chỉ IP, cookie hay trình duyệt của độc giả. Nguồn: {escape(r.database)}.</footer>
</main>
</body>
</html>
"""


_FILTER_LABELS = {"category": "chuyên mục", "source": "nguồn", "from": "từ ngày", "to": "đến ngày",
                  "sort": "sắp xếp", "page": "trang"}


def _filter_tag(name: str, value: Any) -> str:
    if name in ("from", "to"):
        value = vn_day(str(value))
    elif name == "sort":
        value = {"newest": "mới nhất"}.get(str(value), value)
    return f"<span class=tag>{escape(_FILTER_LABELS.get(name, name))}: {escape(str(value))}</span>"


def _local(utc: str) -> str:
    return datetime.fromisoformat(utc.replace("Z", "+00:00")).astimezone(store.VIETNAM).date().isoformat()
