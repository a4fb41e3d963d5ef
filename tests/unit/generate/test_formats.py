"""advertisex.generate.formats: CSV quoting and the two event-time renderers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from advertisex.generate.formats import (
    DAY_MS,
    OFFSETS,
    T_EPOCH,
    T_NAIVE,
    T_OFFSET,
    T_Z,
    T_Z_SECONDS,
    csv_field,
    csv_line,
    day_ms,
    iso_ms,
    obj_array,
    render_times,
)
from advertisex.generate.truth import parse_event_time

MS = day_ms(date(2026, 11, 20)) + 10 * 3_600_000 + 123   # 2026-11-20T10:00:00.123Z


def test_csv_field_quotes_only_what_rfc4180_needs() -> None:
    assert csv_field("plain") == "plain"
    assert csv_field("") == ""
    assert csv_field(" padded ") == " padded "
    assert csv_field("a,b") == '"a,b"'
    assert csv_field('say "hi"') == '"say ""hi"""'
    assert csv_field("two\nlines") == '"two\nlines"'
    assert csv_field("cr\r") == '"cr\r"'
    assert csv_line(["x", "a,b", "", 'q"']) == 'x,"a,b",,"q"""'


def test_day_ms_is_utc_midnight() -> None:
    assert day_ms(date(1970, 1, 1)) == 0
    assert day_ms(date(1970, 1, 2)) == DAY_MS


def test_iso_ms_renders_each_format() -> None:
    assert iso_ms(MS) == "2026-11-20T10:00:00.123Z"
    assert iso_ms(MS, T_NAIVE) == "2026-11-20T10:00:00.123"
    assert iso_ms(MS, T_Z_SECONDS) == "2026-11-20T10:00:00Z"
    assert iso_ms(MS, T_EPOCH) == str(MS)
    assert iso_ms(MS, T_OFFSET, "+05:30") == "2026-11-20T15:30:00.123+05:30"
    assert iso_ms(MS, T_OFFSET, "-03:30") == "2026-11-20T06:30:00.123-03:30"


@pytest.mark.parametrize("quote", [False, True])
def test_render_times_agrees_with_iso_ms(quote: bool) -> None:
    rng = np.random.default_rng(1)
    ms = MS + rng.integers(-400 * DAY_MS, 400 * DAY_MS, 200)
    codes = np.arange(200) % 5
    offs = np.arange(200) % len(OFFSETS)
    out = render_times(ms, codes, offs, quote)
    for m, code, off, text in zip(ms.tolist(), codes.tolist(), offs.tolist(), out.tolist(), strict=True):
        want = iso_ms(m, code, OFFSETS[off])
        assert text == (want if code == T_EPOCH or not quote else f'"{want}"')


def test_every_rendered_format_parses_back_to_the_instant() -> None:
    for code in (T_Z, T_OFFSET, T_NAIVE, T_EPOCH):
        for off in OFFSETS:
            assert parse_event_time(iso_ms(MS, code, off), digits_allowed=True) == MS
    assert parse_event_time(iso_ms(MS, T_Z_SECONDS)) == MS - 123


def test_obj_array_keeps_python_strings() -> None:
    arr = obj_array(["a", "", "long string"])
    assert arr.dtype == object and arr.tolist() == ["a", "", "long string"]
