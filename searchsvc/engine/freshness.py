"""Freshness and popularity, blended into the relevance order; both off by default.

For each article of the results, once stage two (proximity) has scored the candidates and before the top is
chosen::

    final = relevance × (1 + RECENCY_WEIGHT · 0.5^(age_days / RECENCY_HALF_LIFE_DAYS))
                      × (1 + VIEWS_WEIGHT · log1p(views) / log1p(most views in the index))

Why this form:

- *Multiplicative*: the bonus is the same share of the score whatever the query's score range (a long question
  scores ten times a two-word query; an added bonus would swamp one and vanish in the other).
- *Bounded*: today's article counts at most 1.5 times, the most viewed one at most ``1 + VIEWS_WEIGHT`` times,
  so the settings reorder articles of comparable relevance; they cannot lift a barely matching article over
  the one that answers.
- *A floor of 1, never 0*: an undated or viewless article (most of an archive's old imports) keeps its whole
  relevance. It loses at most the bonus the others gain; it is not pushed out of sight.
- Views on a log scale, against the index's most viewed article: popularity is heavy-tailed (20,000 views
  against 300 is a factor 1.7 of logarithms, not 67), and ``VIEWS_WEIGHT`` then reads as "the most viewed
  article counts 1 + w times".

"Now" is the wall clock in Asia/Ho_Chi_Minh, the time zone dates are stored in; an article dated in the future
counts as new. An archive whose newest article is years old gets almost nothing from recency: ages are many
half-lives for every article, and all factors are close to 1. The result set and its count never change, only
the order; ``sort=newest`` stays a pure date sort (the search layer does not apply these there).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from searchsvc.engine.arrays import IndexArrays, time_key

RECENCY_WEIGHT = 0.5  # today's article counts 1.5 times, one half-life old 1.25 times, an old one 1 time
TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = 86_400 * 1_000_000  # time_key units (microseconds) in a day
REFRESH_S = 600.0  # ages move on; ten minutes is nothing against a half-life of days


@dataclass(frozen=True)
class Freshness:
    """The two settings (0 = off): RECENCY_HALF_LIFE_DAYS and VIEWS_WEIGHT."""

    recency_half_life_days: float = 0.0
    views_weight: float = 0.0

    def __post_init__(self) -> None:
        for name in ("recency_half_life_days", "views_weight"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name.upper()} must be a number, 0 or more (0: off), not {value!r}")

    @property
    def on(self) -> bool:
        return self.recency_half_life_days > 0 or self.views_weight > 0


def now_key() -> int:
    """The wall clock as the published column holds dates (local time in Asia/Ho_Chi_Minh)."""
    return time_key(datetime.now(TIMEZONE).replace(tzinfo=None))


def recency(published: np.ndarray, half_life_days: float, now: int) -> np.ndarray:
    """1 + RECENCY_WEIGHT · 0.5^(age / half-life) per article; 1 for the undated (published == 0)."""
    age_days = np.maximum(now - published, 0).astype(np.float64) / DAY
    factor = 1.0 + RECENCY_WEIGHT * np.exp2(-age_days / half_life_days)
    return np.where(published > 0, factor, 1.0).astype(np.float32)


def popularity(views: np.ndarray, weight: float) -> np.ndarray | None:
    """1 + weight · log1p(views) / log1p(most views) per article; None when no article has views."""
    most = int(views.max()) if views.size else 0
    if most <= 0:
        return None
    return (1.0 + weight * np.log1p(views.astype(np.float64)) / math.log1p(most)).astype(np.float32)


class Boosts:
    """The factors of one generation's articles under one setting; views are read once, ages every REFRESH_S."""

    def __init__(self, arrays: IndexArrays, settings: Freshness) -> None:
        self.arrays = arrays
        self.settings = settings
        self._views: np.ndarray | None = None
        self._views_read = False
        self._vector: np.ndarray | None = None
        self._made = -math.inf
        self._lock = threading.Lock()

    def vector(self) -> np.ndarray | None:
        """The factor of every document (None when the settings are off or change nothing here)."""
        if not self.settings.on:
            return None
        if time.monotonic() - self._made < REFRESH_S:
            return self._vector
        with self._lock:
            if time.monotonic() - self._made >= REFRESH_S:
                self._vector = self._build(now_key())
                self._made = time.monotonic()
            return self._vector

    def warm(self) -> None:
        self.vector()

    def _build(self, now: int) -> np.ndarray | None:
        vector = None
        if self.settings.recency_half_life_days > 0:
            published = self.arrays.published()
            if (published > 0).any():
                vector = recency(published, self.settings.recency_half_life_days, now)
        if self.settings.views_weight > 0:
            if not self._views_read:
                views = np.where(self.arrays.live, self.arrays.views(), 0)  # not an updated article's old copy
                self._views = popularity(views, self.settings.views_weight)
                self._views_read = True
            if self._views is not None:
                vector = self._views if vector is None else vector * self._views
        return vector
