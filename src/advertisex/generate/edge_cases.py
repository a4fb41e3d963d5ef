"""Hand-made attribution edge cases (docs/CONTRACT.md §3), added to every day's landing files.

Canonical formats, files only, never late or duplicated, ids ``edge-<seed>-<day>-<case>``
and users ``u-edge-<seed>-<day>-<k>`` (in no reference file), so tests can look each case
up in the truth. The windows are the ones in :class:`~advertisex.generate.params.GenerateParams`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from advertisex.generate.formats import HOUR_MS, MINUTE_MS, csv_line, iso_ms, obj_array

if TYPE_CHECKING:
    from advertisex.generate.day import Day


def add(day: Day) -> None:
    """Add the day's edge cases: impressions to the impression files, clicks/conversions to the CSV files."""
    w = day.world
    imps, clicks, convs = _cases(day)
    camp = w.camp_ids[0]
    cr = w.creatives[0, 0]
    imp_lines = [(t, json.dumps({"impression_id": i, "event_time": iso_ms(t), "user_id": us,
                                 "campaign_id": camp, "ad_creative_id": cr,
                                 "website": "edge.example.com", "cost_micros": 1000},
                                separators=(",", ":"))) for t, i, us in imps if t < day.end_ms]
    rows = [(t, csv_line([i, "click", iso_ms(t), us, camp, cr, imp, "", ""]))
            for t, i, us, imp in clicks if t < day.end_ms]
    rows += [(t, csv_line([i, "conversion", iso_ms(t), us, camp, "", "", "purchase", "10.00"]))
             for t, i, us in convs if t < day.end_ms]
    for sink, items in ((day.imp_files, imp_lines), (day.click_files, rows)):
        t = np.array([x[0] for x in items], dtype=np.int64)
        sink.add(day.arrival(t, False), np.zeros(len(items), dtype=np.int64), t,
                 obj_array([x[1] for x in items]))


def _cases(day: Day) -> tuple[list[tuple[int, str, str]], list[tuple[int, str, str, str]],
                              list[tuple[int, str, str]]]:
    """The cases as (impressions, clicks, conversions), times around noon of the day."""
    d = day.d
    cwin, vwin = day.p_click_window_ms, day.p_view_window_ms
    convwin = day.p_conversion_window_ms
    T = day.day0 + 12 * HOUR_MS
    imps: list[tuple[int, str, str]] = []     # (t, impression_id, user)
    clicks: list[tuple[int, str, str, str]] = []  # (t, event_id, user, impression_id)
    convs: list[tuple[int, str, str]] = []    # (t, event_id, user)
    u = lambda k: f"u-edge-{day.p.seed}-{d}-{k}"  # noqa: E731
    e = lambda k: f"edge-{day.tag}-{k}"  # noqa: E731
    imps.append((T, e("i1"), u(1)))
    clicks.append((T + cwin, e("c1"), u(1), ""))               # exactly at the edge: in
    imps.append((T, e("i2"), u(2)))
    clicks.append((T + cwin + 1, e("c2"), u(2), ""))           # 1 ms past: out
    imps.append((T - 20 * MINUTE_MS, e("i3a"), u(3)))
    imps.append((T - 5 * MINUTE_MS, e("i3b"), u(3)))
    clicks.append((T, e("c3"), u(3), ""))                      # latest (i3b) wins
    imps.append((T - 10 * MINUTE_MS, e("i4"), u(4)))
    clicks.append((T, e("c4"), u(4), f"imp-unknown-{day.tag}"))  # unknown id → window
    imps.append((T, e("i7"), u(7)))
    convs.append((T + vwin - HOUR_MS, e("v7"), u(7)))          # 23 h: post-view
    imps.append((T, e("i8"), u(8)))
    convs.append((T + vwin + 1, e("v8"), u(8)))                # 24 h + 1 ms: unattributed
    imps.append((T + 11 * HOUR_MS + 50 * MINUTE_MS, e("i5"), u(5)))
    clicks.append((T + 12 * HOUR_MS + 10 * MINUTE_MS, e("c5"), u(5), e("i5")))  # next day
    imps.append((T, e("i6"), u(6)))
    clicks.append((T + MINUTE_MS, e("c6"), u(6), e("i6")))
    convs.append((T + MINUTE_MS + convwin, e("v6"), u(6)))     # exactly 7 d: post-click
    imps.append((T, e("i9"), u(9)))
    clicks.append((T + MINUTE_MS, e("c9"), u(9), e("i9")))
    convs.append((T + MINUTE_MS + convwin + 1, e("v9"), u(9)))  # 7 d + 1 ms: not post-click
    return imps, clicks, convs
