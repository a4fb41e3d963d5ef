"""The anomaly job's table I/O: findings upserted by key (nulls included), and what a table's
commits say about its feed."""

from __future__ import annotations

import datetime as dt

from advertisex import tables
from advertisex.io import anomalies as io
from advertisex.transforms import anomalies as A

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def finding(**kw) -> dict:
    row = {c: None for c in tables.ANOMALIES.columns}
    row.update(rule=A.STALE_TABLE, severity=A.WARNING, table="bronze/impressions", expected=120.0, observed=135.0,
               summary="s", first_seen=T0, last_seen=T0, status="open", run_id="r1")
    return {**row, **kw}


def test_findings_are_upserted_by_key_and_read_back_with_utc_times(spark, lake_cfg) -> None:
    io.write_findings(spark, lake_cfg, [], create=True)  # the first run creates the table, empty or not
    path = lake_cfg.table_path(tables.ANOMALIES)
    assert spark.read.format("delta").load(path).count() == 0
    drop = finding(rule=A.IMPRESSIONS_DROP, table=A.HOURLY_TABLE, event_date=dt.date(2026, 11, 20), event_hour=3,
                   severity=A.CRITICAL)
    io.write_findings(spark, lake_cfg, [finding(), drop], create=False)
    later = T0 + dt.timedelta(hours=2)
    io.write_findings(spark, lake_cfg, [finding(status="resolved", resolved_at=later, run_id="r2")], create=False)
    stored = spark.read.format("delta").load(path)
    got = {r["rule"]: r for r in io.read_findings(stored, [])}
    assert len(got) == 2 and stored.count() == 2  # the stale finding (null date, hour, campaign) was updated
    assert (got[A.STALE_TABLE]["status"], got[A.STALE_TABLE]["resolved_at"], got[A.STALE_TABLE]["first_seen"]) == (
        "resolved", later, T0)
    assert got[A.IMPRESSIONS_DROP] == drop
    # Resolved findings of dates not judged now are not read.
    io.write_findings(spark, lake_cfg, [{**drop, "status": "resolved"}], create=False)
    assert [r["rule"] for r in io.read_findings(stored, [])] == [A.STALE_TABLE]
    assert len(io.read_findings(stored, [dt.date(2026, 11, 20)])) == 2


def test_delivery_is_the_last_commit_that_added_rows(spark, lake_cfg) -> None:
    path = lake_cfg.table_path(tables.BRONZE_IMPRESSIONS)
    schema = "event_time timestamp, event_date date, quarantine_reason string"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows = [(now - dt.timedelta(minutes=5), (now - dt.timedelta(minutes=5)).date(), None),
            (now + dt.timedelta(days=3650), None, "future_event_time")]
    spark.createDataFrame(rows, schema).write.format("delta").partitionBy("event_date").save(path)
    spark.sql(f"DELETE FROM delta.`{path}` WHERE quarantine_reason IS NOT NULL")  # removes rows, adds none
    got = io.delivery(spark, lake_cfg, tables.BRONZE_IMPRESSIONS.name)
    first = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").where("version = 0").first().timestamp
    assert got.exists and got.last_rows_at == first.replace(tzinfo=dt.UTC)
    assert got.newest_event == now - dt.timedelta(minutes=5)  # valid events only
    assert io.delivery(spark, lake_cfg, "bronze/nothing") == A.Delivery("bronze/nothing", exists=False)
