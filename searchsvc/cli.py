"""The ``searchsvc`` command: reindex, search, stats, serve, hide, unhide, hidden, analytics.

The same commands are registered on the Flask app (``flask --app searchsvc``),
as in Flask's tutorial; the console script is the one operators use.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import click

from searchsvc.config import analytics_path, freshness, load, resolve_index

INDEX_HELP = (
    "Index directory. Default: $SEARCHSVC_INDEX (or $SEARCHSVC_INDEX_DIR), else INDEX_DIR in instance/config.py, "
    "else ./index."
)


def index_option(f: Callable) -> Callable:
    return click.option("--index", "index_dir", type=click.Path(file_okay=False), default=None, help=INDEX_HELP)(f)


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.command("reindex")
@click.argument("sources", nargs=-1, required=True)
@index_option
@click.option("--full", is_flag=True, help="Rebuild from nothing instead of updating changed articles.")
@click.option("--delete-missing", is_flag=True, help="Remove indexed articles that are no longer in SOURCES.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Processes for word segmentation. Default: the number of cores.")
@click.option("--wait", is_flag=True, help="Wait for a running reindex to end instead of refusing.")
@click.option("--allow-partial", is_flag=True,
              help="With --full: publish even when a source could not be read or nothing was read.")
@click.option("--quiet", "-q", is_flag=True, help="No progress, only problems and the summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def reindex_command(sources, index_dir, full, delete_missing, jobs, wait, allow_partial, quiet, as_json) -> None:
    """Index articles from SOURCES (files, directories or feed URLs) into a new generation and switch to it.

    Reads JSON Lines (.jsonl, .jsonl.gz), the portal text export (.txt), saved HTML article pages and
    RSS/Atom feeds (files, or http(s) URLs when the network allows); files are also recognised by content.
    Bad records are reported with file and line; the rest is indexed. Exit
    status 1 when any record failed, 2 when the reindex could not run or was refused (a full rebuild missing
    a source, or empty): the previous generation then keeps serving.
    """
    from searchsvc.index.generations import IndexBusy, IndexStore, describe_os_error
    from searchsvc.index.indexer import ReindexRefused, reindex

    index_dir = resolve_index(index_dir)
    try:
        summary = reindex(
            sources, index_dir, full=full, delete_missing=delete_missing, jobs=jobs, wait=wait,
            allow_partial=allow_partial, progress=not quiet, echo=lambda m: click.echo(m, err=True),
        )
    except (IndexBusy, ReindexRefused) as exc:
        _fail(str(exc))
    except OSError as exc:
        served = IndexStore(index_dir).current()
        _fail(f"reindex of {index_dir} failed: {describe_os_error(exc)}; "
              + (f"{served.name} is still served" if served else "there is no index to serve"))
    if as_json:
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        click.echo(summary.line())
    if summary.failed:
        sys.exit(1)


@click.command("search")
@click.argument("query")
@index_option
@click.option("--limit", "-n", type=click.IntRange(1, 50), default=10, show_default=True, help="How many hits.")
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON object as GET /api/search.")
def search_command(query, index_dir, limit, as_json) -> None:
    """Search the index from the shell, for a quick check."""
    from searchsvc.analysis.vietnamese import load_model
    from searchsvc.engine.search import Freshness, IndexUnavailable, QueryError, SearchRequest, SearchService

    if not query.strip():
        raise click.UsageError("QUERY is empty: give the words to search for")
    # Ranked as the web app ranks (RECENCY_HALF_LIFE_DAYS, VIEWS_WEIGHT from the same configuration).
    try:
        config = load()
        service = SearchService(resolve_index(index_dir), freshness=Freshness(**freshness(config)),
                                synonyms_file=config.get("SYNONYMS_FILE") or None)
    except ValueError as exc:
        _fail(f"configuration: {exc}")
    try:
        # Start-up first (pyvi's model, opening the index), so that took_ms is the search, as the API reports it.
        load_model()
        service.current()
        result = service.search(SearchRequest(q=query, per_page=limit))
    except QueryError as exc:
        _fail(str(exc))
    except IndexUnavailable as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
        return
    click.echo(f"{result.total} results ({result.took_ms:.0f} ms)")
    for i, hit in enumerate(result.hits, 1):
        when = hit.published.date().isoformat() if hit.published else "-"
        click.echo(f"{i:2}. {hit.title}  [{hit.category or '-'} | {hit.source or '-'} | {when}]  {hit.id}")


@click.command("stats")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def stats_command(index_dir, as_json) -> None:
    """Document count, generation, size and the last reindex."""
    from searchsvc.engine.search import IndexUnavailable, SearchService

    try:
        stats = SearchService(resolve_index(index_dir)).stats()
    except IndexUnavailable as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(stats, ensure_ascii=False, indent=2))
        return
    s = stats["last_reindex_summary"]
    click.echo(f"index:        {stats['index']}")
    click.echo(f"generation:   {stats['generation']}")
    click.echo(f"built:        {stats['built_at']}")
    click.echo(f"documents:    {stats['documents']}")
    if stats.get("hidden"):
        click.echo(f"hidden:       {stats['hidden']} of them (searchsvc hidden), not shown")
    click.echo(f"size:         {stats['size_bytes'] / 1e6:.1f} MB")
    click.echo(f"last reindex: {stats['last_reindex']} ({stats['last_reindex_mode']}): "
               f"read {s['read']}, added {s['added']}, updated {s['updated']}, unchanged {s['unchanged']}, "
               f"deleted {s['deleted']}, failed {s['failed']}"
               + ("" if stats["last_reindex_published"] else "; nothing changed, no new generation"))
    for problem in stats.get("problems", []):
        click.echo(f"problem:      {problem}")


@click.command("serve")
@index_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; the default keeps it local.")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True, help="Port to listen on.")
@click.option("--demo", is_flag=True, help="Build the demo index first when the index has none.")
def serve_command(index_dir, host, port, demo) -> None:
    """Serve the search page and the JSON API (development server; see README for gunicorn)."""
    from searchsvc.index.generations import IndexStore, IndexUnavailable
    from searchsvc.web.app import create_app

    index_dir = resolve_index(index_dir)
    if demo and IndexStore(index_dir).current() is None:
        from searchsvc.index.indexer import reindex

        click.echo(f"building the demo index in {index_dir} ...", err=True)
        summary = reindex([demo_dir()], index_dir, progress=False, echo=lambda m: click.echo(m, err=True))
        click.echo(summary.line(), err=True)
    app = create_app({"INDEX_DIR": os.fspath(index_dir)})
    with contextlib.suppress(IndexUnavailable):  # the page and /healthz say so instead
        app.extensions["searchsvc"].warm()
    app.run(host=host, port=port)


def _index_root(index_dir: str | None) -> Path:
    """The index directory of hide/unhide/hidden, which must exist: a mistyped --index must not start a list
    nowhere near the served index."""
    root = resolve_index(index_dir)
    if not root.is_dir():
        _fail(f"no index directory {root}: give the served index with --index (or SEARCHSVC_INDEX)")
    return root


def _ids(ids: tuple[str, ...]) -> list[str]:
    cleaned = [i.strip() for i in ids]
    if not all(cleaned):
        raise click.UsageError("an ID is empty")
    return cleaned


@click.command("hide")
@click.argument("ids", nargs=-1, required=True)
@index_option
@click.option("--reason", default=None, help="Why it was taken down (kept with it, shown by 'searchsvc hidden').")
def hide_command(ids, index_dir, reason) -> None:
    """Take articles down at once and for good: gone from results, facets, autocomplete and related articles,
    their pages answer 410, on running servers within a second, until 'searchsvc unhide'.

    An id the served index does not hold is recorded all the same (it stays hidden if a later reindex brings
    it). Exit status 0 when every id is hidden and served, 1 when some id is not in the served index (recorded
    anyway), 2 when nothing could be recorded.
    """
    from searchsvc.index.generations import describe_os_error
    from searchsvc.index.hidden import HiddenListError
    from searchsvc.index.hiding import hide, served_titles

    root = _index_root(index_dir)
    ids = _ids(ids)
    generation, titles = served_titles(root, ids)
    try:
        change = hide(root, ids, reason=reason, titles=titles)
    except HiddenListError as exc:
        _fail(f"the hidden list {root / 'hidden.json'} cannot be read ({exc}); nothing was changed: fix it first")
    except OSError as exc:
        _fail(f"cannot write the hidden list in {root}: {describe_os_error(exc)}; nothing was changed")
    for doc_id in ids:
        title = f"  {titles[doc_id]}" if titles.get(doc_id) else ""
        click.echo(f"{'hidden' if doc_id in change.changed else 'already hidden'}: {doc_id}{title}")
    unknown = [i for i in ids if i not in titles]
    for doc_id in unknown:
        where = f"the served index ({generation})" if generation else "any index yet"
        click.echo(f"note: {doc_id} is not in {where}; recorded: it stays hidden if a reindex brings it", err=True)
    click.echo(f"{len(change.changed)} hidden, {len(change.unchanged)} already hidden, "
               f"{len(unknown)} not in the served index; servers stop showing them within a second")
    if unknown:
        sys.exit(1)


@click.command("unhide")
@click.argument("ids", nargs=-1, required=True)
@index_option
def unhide_command(ids, index_dir) -> None:
    """Bring hidden articles back, on running servers within a second.

    Exit status 0 when every id was hidden and is back, 1 when some id was not on the hidden list (the others
    are back), 2 when nothing could be changed.
    """
    from searchsvc.index.generations import describe_os_error
    from searchsvc.index.hidden import HiddenListError
    from searchsvc.index.hiding import unhide

    root = _index_root(index_dir)
    ids = _ids(ids)
    try:
        change = unhide(root, ids)
    except HiddenListError as exc:
        _fail(f"the hidden list {root / 'hidden.json'} cannot be read ({exc}); nothing was changed: fix it first")
    except OSError as exc:
        _fail(f"cannot write the hidden list in {root}: {describe_os_error(exc)}; nothing was changed")
    for doc_id in change.changed:
        click.echo(f"unhidden: {doc_id}")
    for doc_id in change.unchanged:
        click.echo(f"note: {doc_id} was not hidden", err=True)
    click.echo(f"{len(change.changed)} unhidden, {len(change.unchanged)} not hidden")
    if change.unchanged:
        sys.exit(1)


@click.command("hidden")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def hidden_command(index_dir, as_json) -> None:
    """The hidden articles: id, title, when, why, and whether the served index holds them."""
    from searchsvc.index import hidden
    from searchsvc.index.hiding import served_titles

    root = _index_root(index_dir)
    try:
        entries = list(hidden.read(root).values())
    except hidden.HiddenListError as exc:
        _fail(f"the hidden list {hidden.path(root)} cannot be read: {exc}")
    _, titles = served_titles(root, [e.id for e in entries])
    rows = [{**e.as_json(), "title": titles.get(e.id) or e.title, "served": e.id in titles} for e in entries]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("nothing is hidden")
        return
    for row in rows:
        click.echo(f"{row['id']}  {row['hidden_at']}  {row['title'] or '(not in the served index)'}"
                   + (f"  reason: {row['reason']}" if row["reason"] else ""))
    click.echo(f"{len(rows)} hidden, {sum(r['served'] for r in rows)} of them in the served index")


@click.command("analytics")
@index_option
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True,
              help="Report on the last N days (Vietnam's days, today included).")
@click.option("--limit", "-n", type=click.IntRange(1, 1000), default=20, show_default=True, help="Rows per table.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None,
              help="Write the report as one self-contained HTML page (for editors) to FILE.")
def analytics_command(index_dir, days, limit, as_json, html_file) -> None:
    """What readers searched for: top queries, queries with no results, queries most often rewritten, the
    slowest, searches per day.

    Reads the searches the server of the index recorded (ANALYTICS_PATH, by default beside the index:
    <INDEX_DIR>.analytics/searches.sqlite3) and removes those older than ANALYTICS_DAYS.
    """
    from searchsvc.analytics import report

    config = load()
    path = analytics_path(config, resolve_index(index_dir))
    try:
        result = report.build(path, days=days, limit=limit, keep_days=int(config["ANALYTICS_DAYS"]))
    except sqlite3.Error as exc:
        _fail(f"cannot read the searches in {path}: {exc}")
    if html_file and not as_json:  # (the text and the JSON carry the notes)
        for note in result.notes:
            click.echo(f"note: {note}", err=True)
    if html_file:
        try:
            Path(html_file).write_text(result.as_html(), encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {html_file}: {exc.strerror or exc}")
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
    elif html_file:
        click.echo(f"wrote {html_file}: {result.totals['searches']} searches, {result.start} to {result.end}")
    else:
        click.echo(result.as_text(), nl=False)


def demo_dir() -> Path:
    return Path(__file__).parent / "demo"


COMMANDS = (reindex_command, search_command, stats_command, serve_command, hide_command, unhide_command,
            hidden_command, analytics_command)


@click.group()
@click.version_option(package_name="searchsvc")
def cli() -> None:
    """searchsvc: full-text search for Vietnamese news."""


for _command in COMMANDS:
    cli.add_command(_command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
