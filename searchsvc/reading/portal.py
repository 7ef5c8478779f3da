"""A news portal's text export: section line, title, `Ngày đăng DD/MM/YYYY | HH:MM | Lượt xem: N`, then the body."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from searchsvc.reading.article import Article, ReadProblem, read_bytes, stable_id

__all__ = ["DATE_LINE_RE", "read_portal_text"]

DATE_LINE_HINT = "expected 'Ngày đăng DD/MM/YYYY | HH:MM | Lượt xem: N'"

# The portal puts no-break spaces around the separators; `\s` covers them.
DATE_LINE_RE = re.compile(
    r"""
    ^ngày\s+đăng\s*:?\s*
    (?P<day>\d{1,2})\s*/\s*(?P<month>\d{1,2})\s*/\s*(?P<year>\d{4})
    (?:\s*\|?\s*(?P<hour>\d{1,2})\s*:\s*(?P<minute>\d{2}))?
    (?:\s*\|?\s*lượt\s+xem\s*:?\s*(?P<views>\d[\d.,]*))?
    \s*\|?\s*$
    """,
    re.IGNORECASE | re.VERBOSE,
)


def read_portal_text(path: Path) -> Iterator[Article | ReadProblem]:
    """Parse a portal export: section, title, date line, then body paragraphs.

    The form is checked strictly because a shifted line would silently turn
    the section into the title or the date line into the body.
    """
    data = read_bytes(path)
    if isinstance(data, ReadProblem):
        yield data
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        yield ReadProblem(str(path), bad_line, "not UTF-8 text")
        return

    # Split on "\n" only: str.splitlines() also breaks on form feeds and
    # Unicode separators, which would make line numbers disagree with editors.
    lines = [line.strip() for line in text.split("\n")]
    numbered = [(no, line) for no, line in enumerate(lines, start=1) if line]
    if not numbered:
        yield ReadProblem(str(path), None, "empty file")
        return

    for position, (no, line) in enumerate(numbered[:2]):
        if DATE_LINE_RE.match(unicodedata.normalize("NFC", line)):
            found = "no line" if position == 0 else "only one line"
            reason = f"expected a section line and a title line before the date line, found {found}"
            yield ReadProblem(str(path), no, reason)
            return
    if len(numbered) < 2:
        yield ReadProblem(str(path), numbered[0][0] + 1, "missing title after the section line")
        return
    if len(numbered) < 3:
        yield ReadProblem(str(path), numbered[1][0] + 1, f"missing date line: {DATE_LINE_HINT}")
        return

    (_, section), (_, title), (date_no, date_line) = numbered[:3]
    match = DATE_LINE_RE.match(unicodedata.normalize("NFC", date_line))
    if match is None:
        yield ReadProblem(str(path), date_no, DATE_LINE_HINT)
        return
    try:
        published = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"] or 0),
            int(match["minute"] or 0),
        )
    except ValueError as exc:
        yield ReadProblem(str(path), date_no, f"invalid date or time in date line: {exc}")
        return
    views = int(re.sub(r"[.,]", "", match["views"])) if match["views"] else None

    yield Article(
        # The export has no URL: its title and publication time name the story. Not the view count (it
        # changes between exports) nor the body (an edited article stays the same article).
        id=stable_id("txt", "", title, published.isoformat()),
        title=title,
        body="\n".join(line for _, line in numbered[3:]),
        category=section,
        published=published,
        views=views,
        origin=str(path),
    )
