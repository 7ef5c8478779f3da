"""Tests for searchsvc.reading.dates: Vietnamese date forms land on the right day in Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import datetime

import pytest

from searchsvc.reading.dates import parse_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("31/03/2021 16:31", datetime(2021, 3, 31, 16, 31)),
        ("Thứ Tư, 31/3/2021, 16:31 (GMT+7)", datetime(2021, 3, 31, 16, 31)),
        ("thứ 4, 31/03/2021 - 16:31 GMT+07:00", datetime(2021, 3, 31, 16, 31)),
        ("Chủ nhật, 4/4/2021 - 07:05", datetime(2021, 4, 4, 7, 5)),
        ("16:31 31/03/2021", datetime(2021, 3, 31, 16, 31)),
        ("31/03/2021 04:31 CH", datetime(2021, 3, 31, 16, 31)),
        ("31-03-2021", datetime(2021, 3, 31)),
        ("ngày 31 tháng 3 năm 2021", datetime(2021, 3, 31)),
        ("2021-03-31", datetime(2021, 3, 31)),
        ("2021-03-31T16:31:00+07:00", datetime(2021, 3, 31, 16, 31)),
        ("2021-03-31T09:31:00Z", datetime(2021, 3, 31, 16, 31)),
        # 20:00 UTC is already the next morning in Hà Nội: the day must move.
        ("2021-03-31T20:00:00+00:00", datetime(2021, 4, 1, 3, 0)),
        ("31/03/2021 23:30 (GMT+0)", datetime(2021, 4, 1, 6, 30)),
        ("Wed, 31 Mar 2021 09:31:00 GMT", datetime(2021, 3, 31, 16, 31)),
        ("Wed, 31 Mar 2021 16:31:00 +0700", datetime(2021, 3, 31, 16, 31)),
        ("  31/03/2021\u00a016:31\u200b ", datetime(2021, 3, 31, 16, 31)),
    ],
)
def test_vietnamese_and_iso_forms(text: str, expected: datetime) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["", "   ", None, "Cập nhật 2 giờ trước", "hôm qua", "31/02/2021 10:00", "32/13/2021"])
def test_unparseable_dates_are_none(text: str | None) -> None:
    assert parse_date(text) is None
