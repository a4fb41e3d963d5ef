"""docs/CONTRACT.md §3 attribution of the distinct valid clicks and conversions.

Clicks: the named impression when it exists, else the latest impression of the same
(user, campaign) within the click window. Conversions: the latest attributed click of
the same (user, campaign) within the conversion window (post-click), else the latest
impression within the view-through window (post-view). Ties between events at the same
time (not pinned by the contract, does not change gold): the greatest id is "latest".
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass

from advertisex import contract
from advertisex.generate.truth.normalise import DAY_MS
from advertisex.generate.truth.records import ClickEvent, Impression, Windows


@dataclass
class Attribution:
    """The distinct clicks and conversions and, by event_id, ``(kind, attributed id or None)``."""

    clicks: dict[str, ClickEvent]
    conversions: dict[str, ClickEvent]
    click_attr: dict[str, tuple[str, str | None]]
    conv_attr: dict[str, tuple[str, str | None]]


def attribute(impressions: dict[str, Impression], click_events: dict[str, ClickEvent],
              windows: Windows) -> Attribution:
    """Attribute every click, then every conversion (see the module docstring).

    Args:
        impressions: distinct valid impressions by impression_id.
        click_events: distinct valid clicks and conversions by event_id.
        windows: attribution windows.

    Returns:
        The :class:`Attribution`.
    """
    w = windows
    click_ms, conv_ms, view_ms = w.click_minutes * 60_000, w.conversion_days * DAY_MS, \
        w.view_hours * 3_600_000
    by_uc: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for imp in impressions.values():
        by_uc[(imp.user_id, imp.campaign_id)].append((imp.t, imp.impression_id))
    for lst in by_uc.values():
        lst.sort()
    clicks = {k: v for k, v in click_events.items() if v.event_type == contract.EVENT_TYPE_CLICK}
    convs = {k: v for k, v in click_events.items()
             if v.event_type == contract.EVENT_TYPE_CONVERSION}
    click_attr: dict[str, tuple[str, str | None]] = {}
    attributed_by_uc: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for c in clicks.values():
        if c.impression_id and c.impression_id in impressions:
            click_attr[c.event_id] = (contract.ATTRIBUTION_IMPRESSION_ID, c.impression_id)
        else:
            hit = _latest(by_uc.get((c.user_id, c.campaign_id)), c.t - click_ms, c.t)
            click_attr[c.event_id] = ((contract.ATTRIBUTION_LAST_IMPRESSION, hit) if hit else
                                      (contract.ATTRIBUTION_NONE, None))
        if click_attr[c.event_id][0] != contract.ATTRIBUTION_NONE:
            attributed_by_uc[(c.user_id, c.campaign_id)].append((c.t, c.event_id))
    for lst in attributed_by_uc.values():
        lst.sort()
    conv_attr: dict[str, tuple[str, str | None]] = {}
    for v in convs.values():
        key = (v.user_id, v.campaign_id)
        hit = _latest(attributed_by_uc.get(key), v.t - conv_ms, v.t)
        if hit:
            conv_attr[v.event_id] = (contract.ATTRIBUTION_POST_CLICK, hit)
            continue
        hit = _latest(by_uc.get(key), v.t - view_ms, v.t)
        conv_attr[v.event_id] = ((contract.ATTRIBUTION_POST_VIEW, hit) if hit else
                                 (contract.ATTRIBUTION_NONE, None))
    return Attribution(clicks, convs, click_attr, conv_attr)


def _latest(lst: list[tuple[int, str]] | None, lo: int, hi: int) -> str | None:
    """Id of the last entry with lo <= t <= hi (ties: greatest id), or None."""
    if not lst:
        return None
    i = bisect.bisect_right(lst, (hi, "\U0010ffff")) - 1
    if i >= 0 and lst[i][0] >= lo:
        return lst[i][1]
    return None
