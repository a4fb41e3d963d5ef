"""advertisex.generate.sampling: the shared random draws."""

from __future__ import annotations

import numpy as np

from advertisex.generate.formats import DAY_MS, T_EPOCH, T_Z
from advertisex.generate.params import Rates
from advertisex.generate.sampling import malformed_count, pick, time_codes, traffic_times


def test_malformed_count_is_at_least_one_when_the_rate_is_positive() -> None:
    rng = np.random.default_rng(0)
    assert malformed_count(rng, 1000, 0.0) == 0
    assert malformed_count(rng, 10, 1e-9) == 1
    assert malformed_count(rng, 0, 0.5) == 1
    assert malformed_count(rng, 50, 3.0) == 50       # rate capped at 1


def test_pick_never_draws_a_zero_weight() -> None:
    idx = pick(np.random.default_rng(0), (("a", 1.0), ("b", 0.0), ("c", 3.0)), 2000)
    assert set(idx.tolist()) == {0, 2}
    assert (idx == 2).sum() > (idx == 0).sum()


def test_time_codes_follow_the_format_rates() -> None:
    rng = np.random.default_rng(0)
    none = Rates(time_epoch=0.0, time_offset=0.0, time_naive=0.0, time_no_fraction=0.0)
    assert set(time_codes(rng, 100, none).tolist()) == {T_Z}
    only_epoch = Rates(time_epoch=1.0, time_offset=0.0, time_naive=0.0, time_no_fraction=0.0)
    assert set(time_codes(rng, 100, only_epoch).tolist()) == {T_EPOCH}


def test_traffic_times_are_sorted_inside_the_day_and_repeatable() -> None:
    day0 = 20_000 * DAY_MS
    t = traffic_times(np.random.default_rng(5), day0, 5000)
    assert (np.diff(t) >= 0).all()
    assert t.min() >= day0 and t.max() < day0 + DAY_MS
    assert (traffic_times(np.random.default_rng(5), day0, 5000) == t).all()
