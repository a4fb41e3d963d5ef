"""Job ``gold``: the freshness it notes for what it published (write-audit-publish beside the
metrics)."""

from __future__ import annotations

import datetime as dt

from advertisex import tables
from advertisex.io.dirty_dates import STAGE_GOLD_BID, STAGE_GOLD_CAMPAIGN
from advertisex.pipelines import gold

NEWEST = dt.datetime(2026, 11, 3, 22, 15, tzinfo=dt.UTC)
DAY, EARLIER = NEWEST.date(), NEWEST.date() - dt.timedelta(days=1)


def _noted(monkeypatch, published, withheld, newest=NEWEST.timestamp()) -> dict[str, dt.datetime]:
    seen: dict[str, dt.datetime] = {}
    monkeypatch.setattr(gold.M, "note_newest", lambda table, at: seen.__setitem__(table, at))
    gold._note_freshness({tables.SILVER_IMPRESSIONS.name: newest, tables.SILVER_BID_REQUESTS.name: newest},
                         published, {STAGE_GOLD_CAMPAIGN: set(), STAGE_GOLD_BID: set(), **withheld})
    return seen


def test_a_published_table_is_as_fresh_as_the_silver_it_was_computed_from(monkeypatch) -> None:
    published = {tables.GOLD_CAMPAIGN_HOURLY: {DAY}, tables.GOLD_CAMPAIGN_DAILY: {DAY}, tables.GOLD_BID_DAILY: set()}
    assert _noted(monkeypatch, published, {}) == {tables.GOLD_CAMPAIGN_HOURLY.name: NEWEST,
                                                  tables.GOLD_CAMPAIGN_DAILY.name: NEWEST}


def test_a_withheld_newest_date_leaves_the_freshness_alone(monkeypatch) -> None:
    # The newest event's date failed a critical check: gold does not hold it.
    published = {tables.GOLD_CAMPAIGN_HOURLY: {EARLIER}, tables.GOLD_CAMPAIGN_DAILY: {EARLIER},
                 tables.GOLD_BID_DAILY: {DAY}}
    assert _noted(monkeypatch, published, {STAGE_GOLD_CAMPAIGN: {DAY}}) == {tables.GOLD_BID_DAILY.name: NEWEST}
    # An older date withheld does not make the published newest one stale.
    published = {tables.GOLD_CAMPAIGN_DAILY: {DAY}}
    assert _noted(monkeypatch, published, {STAGE_GOLD_CAMPAIGN: {EARLIER}}) == {
        tables.GOLD_CAMPAIGN_DAILY.name: NEWEST}


def test_nothing_is_noted_when_silver_freshness_is_unknown(monkeypatch) -> None:
    assert _noted(monkeypatch, {tables.GOLD_CAMPAIGN_DAILY: {DAY}}, {}, newest=None) == {}
