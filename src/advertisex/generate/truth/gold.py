"""The expected gold tables: ``campaign_daily`` and ``bid_daily`` rows, sorted by key."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from advertisex import contract
from advertisex.generate.truth.attribution import Attribution
from advertisex.generate.truth.normalise import event_date
from advertisex.generate.truth.records import Bid, Impression


def campaign_daily(impressions: dict[str, Impression], attribution: Attribution,
                   campaigns: dict[str, tuple[str | None, str | None]]) -> list[dict[str, Any]]:
    """Rows of gold/campaign_daily, sorted by (event_date, campaign_id).

    Args:
        impressions: distinct valid impressions.
        attribution: what :func:`~advertisex.generate.truth.attribution.attribute` returned.
        campaigns: campaign_id → (advertiser_id, campaign_name) from the reference file.

    Returns:
        One dict per row, keyed by ``tables.GOLD_CAMPAIGN_DAILY.columns``.
    """
    agg: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {
        "impressions": 0, "clicks": 0, "unattributed_clicks": 0, "conversions": 0,
        "view_through_conversions": 0, "spend_micros": 0, "conversion_value": Decimal(0)})
    for imp in impressions.values():
        a = agg[(event_date(imp.t), imp.campaign_id)]
        a["impressions"] += 1
        a["spend_micros"] += imp.cost_micros
    for c in attribution.clicks.values():
        a = agg[(event_date(c.t), c.campaign_id)]
        a["unattributed_clicks" if attribution.click_attr[c.event_id][0] == contract.ATTRIBUTION_NONE
          else "clicks"] += 1
    for v in attribution.conversions.values():
        kind = attribution.conv_attr[v.event_id][0]
        if kind == contract.ATTRIBUTION_POST_CLICK:
            a = agg[(event_date(v.t), v.campaign_id)]
            a["conversions"] += 1
            a["conversion_value"] += v.value
        elif kind == contract.ATTRIBUTION_POST_VIEW:
            agg[(event_date(v.t), v.campaign_id)]["view_through_conversions"] += 1
    rows = []
    for (d, cid), a in sorted(agg.items()):
        adv, name = campaigns.get(cid, (None, None))
        rows.append({
            "event_date": d, "campaign_id": cid, "advertiser_id": adv, "campaign_name": name,
            **a,
            "ctr": a["clicks"] / a["impressions"] if a["impressions"] else None,
            "cvr": a["conversions"] / a["clicks"] if a["clicks"] else None,
        })
    return rows


def bid_daily(bids: dict[str, Bid], impressions: dict[str, Impression]) -> list[dict[str, Any]]:
    """Rows of gold/bid_daily, sorted by (event_date, exchange).

    Args:
        bids: distinct valid bid requests.
        impressions: distinct valid impressions (``impressions_matched`` by bid_request_id).

    Returns:
        One dict per row, keyed by ``tables.GOLD_BID_DAILY.columns``.
    """
    agg: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {
        "bid_requests": 0, "bids": 0, "wins": 0, "clearing_sum": 0, "clearing_n": 0,
        "impressions_matched": 0})
    for b in bids.values():
        a = agg[(event_date(b.t), b.exchange)]
        a["bid_requests"] += 1
        a["bids"] += b.has_bid
        if b.won:
            a["wins"] += 1
            if b.clearing is not None:
                a["clearing_sum"] += b.clearing
                a["clearing_n"] += 1
    for imp in impressions.values():
        b = bids.get(imp.bid_request_id) if imp.bid_request_id else None
        if b is not None:
            agg[(event_date(b.t), b.exchange)]["impressions_matched"] += 1
    return [{
        "event_date": d, "exchange": ex, "bid_requests": a["bid_requests"], "bids": a["bids"],
        "wins": a["wins"], "win_rate": a["wins"] / a["bids"] if a["bids"] else None,
        "avg_clearing_price_micros": a["clearing_sum"] / a["clearing_n"] if a["clearing_n"] else None,
        "impressions_matched": a["impressions_matched"],
    } for (d, ex), a in sorted(agg.items())]
