"""Parse the date forms Vietnamese news sites print into Vietnam local time.

Every reader stores `published` as a naive datetime in Asia/Ho_Chi_Minh local
time (UTC+7, no DST since 1975), so dates from JSON Lines, portal exports,
HTML pages and feeds compare and facet on the same calendar day. A date with
an explicit offset (ISO `+00:00`, `Z`, `GMT+7`, RFC 822 `GMT`) is converted;
a date without one is taken as already local, which is what Vietnamese sites
mean when they print `31/03/2021 16:31`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

__all__ = ["VIETNAM_TZ", "parse_date", "to_vietnam_time"]

VIETNAM_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")

# "Thứ Tư,", "thứ 4", "Chủ nhật", "CN" before the date: dropped, never checked
# against the date (sites get the weekday wrong more often than the date).
_WEEKDAY_RE = re.compile(
    r"^\s*(?:thứ\s*(?:hai|ba|tư|bốn|năm|sáu|bảy|[2-7])|chủ\s*nhật|cn)\b\s*[,\-–|]?\s*",
    re.IGNORECASE,
)
_NUMERIC_RE = re.compile(
    r"""
    ^(?:ngày\s+)?
    (?P<day>\d{1,2})\s*[/.\-]\s*(?P<month>\d{1,2})\s*[/.\-]\s*(?P<year>\d{4})
    (?:\s*[,|\-–]?\s*(?:lúc\s*)?(?P<hour>\d{1,2})\s*[:hg]\s*(?P<minute>\d{2})(?:\s*:\s*(?P<second>\d{2}))?
       (?:\s*(?P<ampm>sa|ch|am|pm))?)?
    \s*(?P<offset>\(?\s*(?:gmt|utc)\s*(?P<sign>[+\-])\s*(?P<oh>\d{1,2})(?::?(?P<om>\d{2}))?\s*\)?)?
    \s*$
    """,
    re.IGNORECASE | re.VERBOSE,
)
# "16:31 31/03/2021" and "16:31, 31/3/2021": time first, as some portals print it.
_TIME_FIRST_RE = re.compile(
    r"^(?P<time>\d{1,2}\s*[:h]\s*\d{2}(?:\s*:\s*\d{2})?)\s*[,|\-–]?\s*(?:ngày\s+)?(?P<rest>.+)$", re.IGNORECASE
)
# "ngày 31 tháng 3 năm 2021"
_WORDS_RE = re.compile(r"^(?:ngày\s+)?(\d{1,2})\s+tháng\s+(\d{1,2})\s*(?:năm\s+|,\s*)?(\d{4})$", re.IGNORECASE)


def to_vietnam_time(value: datetime) -> datetime:
    """An aware datetime as naive Vietnam local time; naive values are assumed local already."""
    if value.tzinfo is None:
        return value
    return value.astimezone(VIETNAM_TZ).replace(tzinfo=None)


def parse_date(text: str | None) -> datetime | None:
    """Parse a Vietnamese site's date, ISO 8601 or RFC 822; None when it is not a date.

    Accepts, among others: `31/03/2021 16:31`, `Thứ Tư, 31/3/2021, 16:31 (GMT+7)`,
    `16:31 31/03/2021`, `31-03-2021`, `ngày 31 tháng 3 năm 2021`,
    `2021-03-31T09:31:00Z`, `Wed, 31 Mar 2021 09:31:00 GMT`.
    """
    if not text:
        return None
    value = " ".join(unicodedata.normalize("NFC", text).replace("\u200b", "").split())
    if not value:
        return None
    for parse in (_parse_iso, _parse_numeric, _parse_rfc822):
        try:
            parsed = parse(value)
        except (ValueError, OverflowError, TypeError, IndexError):
            parsed = None
        if parsed is not None:
            return parsed
    return None


def _parse_iso(value: str) -> datetime | None:
    if not re.match(r"^\d{4}-\d{2}-\d{2}", value):
        return None
    return to_vietnam_time(datetime.fromisoformat(value.replace(" ", "T", 1) if "T" not in value else value))


def _parse_numeric(value: str) -> datetime | None:
    value = _WEEKDAY_RE.sub("", value, count=1)
    time_first = _TIME_FIRST_RE.match(value)
    if time_first and not re.match(r"^\d{1,2}\s*[/.\-]", value):
        value = f"{time_first['rest']} {time_first['time']}"
    match = _NUMERIC_RE.match(value)
    if match is None:
        words = _WORDS_RE.match(value)
        if words is None:
            return None
        return datetime(int(words[3]), int(words[2]), int(words[1]))
    hour = int(match["hour"] or 0)
    ampm = (match["ampm"] or "").lower()
    if ampm in ("ch", "pm") and hour < 12:
        hour += 12
    elif ampm in ("sa", "am") and hour == 12:
        hour = 0
    local = datetime(int(match["year"]), int(match["month"]), int(match["day"]),
                     hour, int(match["minute"] or 0), int(match["second"] or 0))
    if match["offset"]:
        delta = timedelta(hours=int(match["oh"]), minutes=int(match["om"] or 0))
        tz = timezone(delta if match["sign"] == "+" else -delta)
        return to_vietnam_time(local.replace(tzinfo=tz))
    return local


def _parse_rfc822(value: str) -> datetime | None:
    if not re.search(r"[A-Za-z]{3}", value):
        return None
    return to_vietnam_time(parsedate_to_datetime(value))
