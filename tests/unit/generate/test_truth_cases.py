"""Hand-checked attribution cases (docs/CONTRACT.md §3) through the explicit-events API."""

from __future__ import annotations

from advertisex import contract
from advertisex.generate.truth import (
    normalise_country,
    normalise_device,
    normalise_user_id,
    normalise_website,
    parse_event_time,
    truth_from_events,
)


def imp(iid: str, t: str | int, user: str = "U-1", camp: str = "c1", **kw: object) -> dict[str, object]:
    return {"impression_id": iid, "event_time": t, "user_id": user, "campaign_id": camp,
            "ad_creative_id": "cr", "website": "example.com", **kw}


def click(eid: str, t: str, user: str = "u-1", camp: str = "c1", impression_id: str = "") -> dict[str, str]:
    return {"event_id": eid, "event_type": "click", "event_time": t, "user_id": user,
            "campaign_id": camp, "ad_creative_id": "cr", "impression_id": impression_id}


def conv(eid: str, t: str, user: str = "u-1", camp: str = "c1", value: str = "10.50") -> dict[str, str]:
    return {"event_id": eid, "event_type": " Conversion ", "event_time": t, "user_id": user,
            "campaign_id": camp, "conversion_type": "purchase", "conversion_value": value}


def test_click_exactly_at_window_edge_is_attributed_one_ms_later_is_not() -> None:
    tr = truth_from_events(
        [imp("i1", "2026-11-20T10:00:00.000Z"), imp("i2", "2026-11-20T10:00:00.000Z", user="u-2")],
        [click("k1", "2026-11-20T10:30:00.000Z"), click("k2", "2026-11-20T10:30:00.001Z", user=" U-2 ")])
    assert tr.click_attribution["k1"] == (contract.ATTRIBUTION_LAST_IMPRESSION, "i1")
    assert tr.click_attribution["k2"] == (contract.ATTRIBUTION_NONE, None)
    row = tr.campaign_daily[0]
    assert (row["impressions"], row["clicks"], row["unattributed_clicks"]) == (2, 1, 1)
    assert row["ctr"] == 0.5 and row["cvr"] == 0.0


def test_conversion_seven_days_after_click_is_post_click() -> None:
    tr = truth_from_events(
        [imp("i1", "2026-11-01T09:59:00Z")],
        [click("k1", "2026-11-01T10:00:00Z", impression_id="i1"),
         conv("v1", "2026-11-08T10:00:00Z"),                       # exactly 7 days: in
         conv("v2", "2026-11-08T10:00:00.001Z", user="u-9")])      # other user: unattributed
    assert tr.conversion_attribution["v1"] == (contract.ATTRIBUTION_POST_CLICK, "k1")
    assert tr.conversion_attribution["v2"][0] == contract.ATTRIBUTION_NONE
    day8 = [r for r in tr.campaign_daily if r["event_date"] == "2026-11-08"]
    assert day8 == [{"event_date": "2026-11-08", "campaign_id": "c1", "advertiser_id": None,
                     "campaign_name": None, "impressions": 0, "clicks": 0, "unattributed_clicks": 0,
                     "conversions": 1, "view_through_conversions": 0, "spend_micros": 0,
                     "conversion_value": __import__("decimal").Decimal("10.50"), "ctr": None, "cvr": None}]


def test_conversion_seven_days_plus_one_ms_after_click_is_not_post_click() -> None:
    tr = truth_from_events(
        [imp("i1", "2026-11-01T10:00:00Z")],
        [click("k1", "2026-11-01T10:00:00Z", impression_id="i1"), conv("v1", "2026-11-08T10:00:00.001Z")])
    assert tr.conversion_attribution["v1"] == (contract.ATTRIBUTION_NONE, None)


def test_conversion_with_only_an_impression_23h_before_is_post_view() -> None:
    tr = truth_from_events(
        [imp("i1", "2026-11-20T01:00:00+01:00", cost_micros=2500)],       # = 00:00Z
        [conv("v1", "2026-11-20T23:00:00Z"), conv("v2", "2026-11-21T00:00:00.001Z")])
    assert tr.conversion_attribution["v1"] == (contract.ATTRIBUTION_POST_VIEW, "i1")
    assert tr.conversion_attribution["v2"] == (contract.ATTRIBUTION_NONE, None)
    row = tr.campaign_daily[0]
    assert (row["event_date"], row["view_through_conversions"], row["spend_micros"]) == ("2026-11-20", 1, 2500)
    assert len(tr.campaign_daily) == 1      # the unattributed conversion makes no row


def test_click_crossing_midnight_counts_on_the_click_date() -> None:
    tr = truth_from_events(
        [imp("i1", "2026-11-20T23:50:00Z")], [click("k1", "2026-11-21T00:10:00Z")])
    assert tr.click_attribution["k1"] == (contract.ATTRIBUTION_LAST_IMPRESSION, "i1")
    by_date = {r["event_date"]: r for r in tr.campaign_daily}
    assert by_date["2026-11-20"]["impressions"] == 1 and by_date["2026-11-20"]["clicks"] == 0
    assert by_date["2026-11-21"]["clicks"] == 1 and by_date["2026-11-21"]["ctr"] is None


def test_unknown_impression_id_falls_back_to_user_campaign_window() -> None:
    tr = truth_from_events(
        [imp("i1", "2026-11-20T10:00:00Z")],
        [click("k1", "2026-11-20T10:10:00Z", impression_id="nope"),
         click("k2", "2026-11-20T12:00:00Z", impression_id="nope")])
    assert tr.click_attribution["k1"] == (contract.ATTRIBUTION_LAST_IMPRESSION, "i1")
    assert tr.click_attribution["k2"] == (contract.ATTRIBUTION_NONE, None)


def test_named_impression_wins_regardless_of_window() -> None:
    tr = truth_from_events([imp("i1", "2026-11-20T08:00:00Z")],
                           [click("k1", "2026-11-20T12:00:00Z", impression_id="i1")])
    assert tr.click_attribution["k1"] == (contract.ATTRIBUTION_IMPRESSION_ID, "i1")


def test_latest_impression_in_window_wins() -> None:
    tr = truth_from_events(
        [imp("a", "2026-11-20T09:40:00Z"), imp("b", "2026-11-20T09:55:00Z"),
         imp("c", "2026-11-20T10:05:00Z"), imp("d", "2026-11-20T09:56:00Z", camp="c2")],
        [click("k1", "2026-11-20T10:00:00Z")])
    assert tr.click_attribution["k1"] == (contract.ATTRIBUTION_LAST_IMPRESSION, "b")


def test_duplicates_count_once_and_malformed_go_to_quarantine() -> None:
    tr = truth_from_events(
        [imp("i1", 1794787200000), imp("i1", 1794787200000), '{"impression_id": "x"',
         imp("i2", "2026-11-20T10:00:00Z", cost_micros=-1), imp("i3", "soon"),
         imp("i4", "2036-11-20T10:00:00Z"), {"impression_id": "i5", "event_time": 1794787200000}],
        [click("k1", "1794787200000"), click("k1", "1794787200000"),
         {**click("k2", "2026-11-20T10:00:00Z"), "event_type": "view"},
         conv("v1", "2026-11-20T10:00:00Z", value="-1"), conv("v2", "2026-11-20T10:00:00Z", value="x"),
         ["too", "few"]],
        now="2026-11-25T00:00:00Z")
    assert tr.counts["impressions"] == {"received": 7, "valid": 2, "valid_distinct": 1, "duplicates": 1,
                                        "quarantined": 5}
    assert dict(tr.quarantine["impressions"]) == {"bad_json": 1, "negative_cost": 1, "bad_event_time": 1,
                                                  "future_event_time": 1, "missing_field": 1}
    assert tr.impressions["i1"].t == 1794787200000 and tr.impressions["i1"].user_id == "u-1"
    assert dict(tr.quarantine["click_events"]) == {"unknown_event_type": 1, "negative_value": 1,
                                                   "bad_value": 1, "bad_csv": 1}
    assert tr.counts["click_events"]["valid_distinct"] == 1


def test_normalisation_rules() -> None:
    assert normalise_user_id(" U-00123 ") == "u-00123"
    assert normalise_website("https://www.News.example.com:443/a?b=1") == "news.example.com"
    assert normalise_website("WWW.shop.example.io") == "shop.example.io"
    assert normalise_website("http://Games.pixel.io:8080/index.html#x") == "games.pixel.io"
    assert normalise_country("gb") == "GB" and normalise_country("USA") is None
    assert normalise_device("Smartphone") == "mobile" and normalise_device("console") == "other"
    assert normalise_device("connected_tv") == "ctv" and normalise_device(None) is None
    assert parse_event_time("2026-11-20T13:04:05.120+01:00") == parse_event_time("2026-11-20T12:04:05.120Z")
    assert parse_event_time("2026-11-20T12:04:05.120") == parse_event_time("2026-11-20T12:04:05.120Z")
    assert parse_event_time("1794787200000") is None
    assert parse_event_time("1794787200000", digits_allowed=True) == 1794787200000
    assert parse_event_time(1794787200000) == 1794787200000
    assert parse_event_time("2026-13-45T25:61:00Z") is None and parse_event_time(True) is None
