"""Random draws shared by the traffic modules (impressions, clicks, bids, malformed records).

Every function takes the caller's generator and draws from it in a fixed order, so a
day's bytes depend only on its seed: keep the order of the draws when editing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from advertisex.generate.formats import HOUR_MS
from advertisex.generate.params import Rates


def pick(rng: np.random.Generator, pairs: Sequence[tuple[str, float]], n: int) -> np.ndarray:
    """``n`` indexes into ``pairs`` drawn with the pairs' weights."""
    w = np.array([p for _, p in pairs], dtype=float)
    return rng.choice(len(pairs), size=n, p=w / w.sum())


def malformed_count(rng: np.random.Generator, n: int, rate: float) -> int:
    """How many records of a malformed kind: binomial, at least 1 when rate > 0."""
    if rate <= 0:
        return 0
    return max(1, int(rng.binomial(max(n, 1), min(rate, 1.0))))


def time_codes(rng: np.random.Generator, n: int, r: Rates) -> np.ndarray:
    """``n`` event-time format codes (``formats.T_*``) drawn with the §1.5 format rates."""
    p = np.array([0.0, r.time_offset, r.time_naive, r.time_epoch, r.time_no_fraction])
    p[0] = max(0.0, 1.0 - p[1:].sum())
    return rng.choice(5, size=n, p=p / p.sum())


def traffic_times(rng: np.random.Generator, day0: int, n: int) -> np.ndarray:
    """``n`` sorted instants in one UTC day following a daily curve (peak ~20:00, low ~08:00)."""
    hours = np.arange(24)
    w = 1.0 + 0.7 * np.cos(2 * np.pi * (hours - 20) / 24)
    h = rng.choice(24, size=n, p=w / w.sum())
    return np.sort(day0 + h.astype(np.int64) * HOUR_MS + rng.integers(0, HOUR_MS, n))
