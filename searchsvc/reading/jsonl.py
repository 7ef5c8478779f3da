"""JSON Lines dumps (`.jsonl`, `.jsonl.gz`): one article per line, every field checked, every bad line reported."""

from __future__ import annotations

import codecs
import gzip
import json
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from searchsvc.reading.article import Article, ReadProblem
from searchsvc.reading.dates import VIETNAM_TZ

__all__ = ["read_jsonl"]

_OPTIONAL_TEXT_FIELDS = ("sapo", "body", "category", "source", "url")


def read_jsonl(path: Path, *, compressed: bool) -> Iterator[Article | ReadProblem]:
    """Read a JSON Lines file line by line in binary mode.

    Decoding each line separately confines a bad byte to its own line, and a
    truncated gzip stream still gives up the articles before the damage.
    """
    lineno = 0
    try:
        opener = gzip.open if compressed else open
        with opener(path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if lineno == 1 and raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    yield ReadProblem(str(path), None, "the file is UTF-16 (it starts with a UTF-16 byte order "
                                                       "mark); JSON Lines must be UTF-8: save it as UTF-8",
                                      unread=True)
                    return
                item = _parse_jsonl_line(path, lineno, raw)
                if item is not None:
                    yield item
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        yield ReadProblem(
            str(path),
            lineno + 1,
            f"gzip data truncated or corrupt, stopped reading: {exc}",
            unread=True,
        )
    except OSError as exc:
        yield ReadProblem(str(path), None, f"cannot read file: {exc.strerror or exc}", unread=True)


def _parse_jsonl_line(path: Path, lineno: int, raw: bytes) -> Article | ReadProblem | None:
    """Turn one raw line into an Article, a ReadProblem, or None if blank."""
    if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ReadProblem(
            str(path),
            lineno,
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
        )
    if not text.strip():
        return None
    try:
        record = json.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        return ReadProblem(str(path), lineno, f"invalid JSON: {exc.msg} (column {exc.pos + 1})")
    if not isinstance(record, dict):
        return ReadProblem(str(path), lineno, f"expected a JSON object, got {_json_type(record)}")
    return _article_from_record(record, path, lineno)


def _article_from_record(record: dict[str, Any], path: Path, lineno: int) -> Article | ReadProblem:
    """Validate one JSON object; every field error on the line is reported together."""
    errors: list[str] = []

    def required_text(key: str) -> str:
        value = record.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors.append(f"missing or empty '{key}'")
            return ""
        if not isinstance(value, str):
            errors.append(f"'{key}' must be a string, got {_json_type(value)}")
            return ""
        return value.strip()

    def optional_text(key: str) -> str:
        value = record.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            errors.append(f"'{key}' must be a string, got {_json_type(value)}")
            return ""
        return value.strip()

    article_id = required_text("id")
    title = required_text("title")
    texts = {key: optional_text(key) for key in _OPTIONAL_TEXT_FIELDS}

    published: datetime | None = None
    raw_published = record.get("published")
    if raw_published is None:
        pass
    elif not isinstance(raw_published, str):
        errors.append(f"'published' must be a string, got {_json_type(raw_published)}")
    elif raw_published.strip():
        published = _parse_timestamp(raw_published.strip())
        if published is None:
            errors.append(f"unparseable 'published' {raw_published!r} (expected YYYY-MM-DD or an ISO 8601 date-time)")

    views = record.get("views")
    if views is not None and (not isinstance(views, int) or isinstance(views, bool)):
        errors.append(f"'views' must be an integer, got {_json_type(views)}")
        views = None
    elif views is not None and views < 0:
        errors.append(f"'views' must not be negative, got {views}")
        views = None

    if errors:
        return ReadProblem(str(path), lineno, "; ".join(errors))
    return Article(
        id=article_id,
        title=title,
        published=published,
        views=views,
        origin=f"{path}:{lineno}",
        **texts,
    )


def _parse_timestamp(value: str) -> datetime | None:
    """Parse 'YYYY-MM-DD' (midnight) or ISO 8601; aware values become naive Vietnam time."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(VIETNAM_TZ).replace(tzinfo=None)
    return parsed


def _json_type(value: object) -> str:
    """Name a JSON value's type the way a person editing the file would."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
