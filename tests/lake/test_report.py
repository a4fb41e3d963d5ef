"""The report on real Delta tables: a fresh lake says what is missing, written tables are drawn."""

from __future__ import annotations

import datetime as dt

import pytest

from advertisex import report, tables
from advertisex.report import ReportError

D1 = dt.date(2026, 11, 20)


def test_a_fresh_lake_gives_a_page_saying_what_is_missing(spark, lake_cfg, tmp_path):
    sections = report.sections(spark, lake_cfg)
    assert [s.title for s in sections] == ["Traffic", "Campaigns and spend", "Attribution", "Bidding", "Quarantine",
                                           "Quality checks", "Anomalies", "Freshness"]
    assert [s for s in sections if s.figures or s.tables] == []
    assert "`gold/campaign_hourly`, `gold/campaign_daily`" in sections[0].note
    assert "advertisex pipeline --once" in sections[0].note
    assert sections[-1].note.startswith("The lake holds no tables yet")

    out = report.write(spark, lake_cfg, tmp_path / "a" / "health.html")
    assert out == tmp_path / "a" / "health.html"
    assert "Not in the lake yet: `quality/anomalies`" in out.read_text(encoding="utf-8")


def test_the_tables_that_exist_are_drawn(spark, lake_cfg):
    daily = tables.GOLD_CAMPAIGN_DAILY.conform(spark.createDataFrame(
        [(D1, "c1", "One", 100, 4, 1, 1, 1, 2_000_000)],
        "event_date date, campaign_id string, campaign_name string, impressions long, clicks long, "
        "unattributed_clicks long, conversions long, view_through_conversions long, spend_micros long"))
    daily.write.format("delta").partitionBy("event_date").save(lake_cfg.table_path(tables.GOLD_CAMPAIGN_DAILY))

    got = {s.title: s for s in report.sections(spark, lake_cfg)}
    campaigns = got["Campaigns and spend"]
    assert campaigns.note is None and len(campaigns.figures) == 2
    caption, top = campaigns.tables[0]
    assert top[["campaign_id", "spend", "cpc"]].to_dict("records") == [{"campaign_id": "c1", "spend": 2.0, "cpc": 0.5}]
    assert got["Traffic"].note.startswith("Not in the lake yet: `gold/campaign_hourly` ")
    assert [tuple(r) for r in got["Freshness"].tables[0][1][["table", "version", "operation"]].to_numpy()] == [
        ("gold/campaign_daily", 0, "WRITE")]
    # What `make demo` ends with: the campaign's figures, and no quarantine table yet.
    assert report.console_summary(spark, lake_cfg).splitlines() == [
        "Top campaigns by spend (gold/campaign_daily, all dates)",
        "campaign_id campaign_name  impressions  clicks  ctr  conversions  cvr  spend",
        "         c1           One          100       4 0.04            1 0.25   2.00",
        "",
        "Quarantined records by source and reason (quarantine)",
        "  none: nothing was quarantined, or the pipeline has not run"]


def test_a_report_that_cannot_be_written_is_one_clear_error(spark, lake_cfg, tmp_path):
    (tmp_path / "taken").write_text("a file where the report's folder should be")
    with pytest.raises(ReportError, match=r"cannot write the report to .*taken/health.html"):
        report.write(spark, lake_cfg, tmp_path / "taken" / "health.html")
