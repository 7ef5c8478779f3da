"""Fetching what an operator names by URL (feeds, sitemap pages): a timeout, a size cap, one error type."""

from __future__ import annotations

import urllib.error
import urllib.request

TIMEOUT_S = 20
USER_AGENT = "searchsvc reindex"


class FetchError(Exception):
    """The URL could not be read; the message says why, for the reindex report."""


def is_url(source: object) -> bool:
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def fetch(url: str, max_bytes: int) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            data = response.read(max_bytes + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchError(f"cannot fetch {url}: {getattr(exc, 'reason', None) or exc}") from exc
    if len(data) > max_bytes:
        raise FetchError(f"{url} is larger than {max_bytes // (1024 * 1024)} MB, not read")
    return data
