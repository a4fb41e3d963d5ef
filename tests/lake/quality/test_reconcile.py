"""Reconciliation on hostile input: 10,000 records of every kind of damage (wrong types,
missing fields, bytes that are not UTF-8, NUL bytes, cut JSON, broken CSV, whitespace ids,
files that cannot be read (a truncated gzip, a gzip of garbage), lines of 100 MB, quoted
fields over several lines,
values too wide for silver, times far in the past or in the future, duplicates) through
``pipeline --once``, killed in the middle of silver's re-attribution (advertisex.faults) and
run again: bronze holds every record, received = silver + quarantine (+ the duplicates
silver keeps once), the reasons are the truth's, and gold equals the truth. A batch counts the
quarantine rows of its own ingestion only."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pyspark.sql.functions as F
import pytest

from advertisex import contract as C
from advertisex import tables
from advertisex.config import folder_overrides
from advertisex.faults import ENV
from advertisex.generate import compute_truth, write_truth
from advertisex.pipelines import backfill_impressions, reference
from advertisex.pipelines import silver as silver_job
from advertisex.pipelines.runner import run_pipeline
from advertisex.quality import checks as K
from advertisex.quality import reconcile as R
from conftest import make_cfg
from support import assert_gold_equals_truth, broadcast_scans, cli, cli_env, executed_plan, read_table, write_references

pytestmark = pytest.mark.slow

RECORDS = 5_000  # per feed
DAY = dt.datetime(2026, 11, 18, tzinfo=dt.UTC)
HOSTILE = [None, "", " ", "\t", "\u00a0", [], {}, {"a": 1}, 1.5, True, 12, -5, "x" * 300, "2026-11-18T10:00:00Z"]
# Few distinct valid dates: the quality job validates each partition (the suite's time goes there).
TIMES = ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "not a time", -62135596800000, 0]


def _time(rng: random.Random) -> str | int:
    at = DAY + dt.timedelta(seconds=rng.randrange(86400))
    return int(at.timestamp() * 1000) if rng.random() < 0.3 else at.isoformat().replace("+00:00", "Z")


def _damage(rng: random.Random, data: bytes) -> bytes:
    """A byte-level damage: not UTF-8, a NUL, cut short, or random bytes (never a line break)."""
    kind = rng.randrange(4)
    if kind == 0:
        at = rng.randrange(len(data))
        return data[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80"]) + data[at:]
    if kind == 1:
        at = rng.randrange(len(data))
        return data[:at] + b"\x00" + data[at:]
    if kind == 2:
        return data[: rng.randrange(len(data))]
    return bytes(rng.choice([b for b in range(256) if b not in (10, 13)]) for _ in range(rng.randrange(1, 40)))


def _impression(rng: random.Random) -> bytes:
    rec = {"impression_id": f"imp-{rng.randrange(4000)}", "event_time": _time(rng), "user_id": f"U-{rng.randrange(50)}",
           "campaign_id": f"c{rng.randrange(5)}", "ad_creative_id": "a1", "website": "https://www.example.com/x",
           "cost_micros": rng.randrange(10_000)}
    roll = rng.random()
    if roll < 0.15:
        rec.pop(rng.choice(sorted(rec)))
    elif roll < 0.35:
        rec[rng.choice(sorted(rec))] = rng.choice(HOSTILE)
    elif roll < 0.4:
        rec["event_time"] = rng.choice(TIMES)
    elif roll < 0.45:
        rec["cost_micros"] = rng.choice([2**63, -(2**63) - 1, 2**62, "7"])
    data = json.dumps(rec).encode()
    return _damage(rng, data) if 0.45 <= roll < 0.6 else data


def _click(rng: random.Random) -> bytes:
    conversion = rng.random() < 0.4
    fields = [f"e{rng.randrange(4000)}", "conversion" if conversion else "click", str(_time(rng)),
              f"U-{rng.randrange(50)}", f"c{rng.randrange(5)}", "" if conversion else "a1",
              rng.choice(["", f"imp-{rng.randrange(4000)}"]), "signup" if conversion else "",
              f"{rng.randrange(10_000)}.{rng.randrange(100):02d}" if conversion else ""]
    roll = rng.random()
    if roll < 0.15:
        fields[rng.randrange(9)] = rng.choice(["", " ", "\t", "\u00a0", "view", "-1", "1e3", "12345678901234",
                                               "1.1234567", "not a time", '"quoted, comma"'])
    elif roll < 0.2:
        fields[2] = str(rng.choice(TIMES))
    elif roll < 0.25:
        fields = fields[: rng.randrange(9)]
    if 0.35 <= roll < 0.37 and not conversion:  # RFC 4180: a quoted field over several lines
        fields[5] = '"creative\nover ""three""\nlines"'
    data = ",".join(fields).encode()
    data = _damage(rng, data) if 0.25 <= roll < 0.35 else data
    # A quote left open would make the rest of the file one record (as RFC 4180 reads it),
    # hiding the damage after it: every damaged line closes its quotes.
    return data + b'"' if data.count(b'"') % 2 else data


def test_ten_thousand_hostile_records_reconcile_and_gold_equals_the_truth(spark, tmp_path):
    cfg = make_cfg(tmp_path, "kafka.enabled=false", "quality.freshness_hours=1000000")
    rng = random.Random(23)
    impressions = tmp_path / "landing" / "impressions" / "hostile.jsonl"
    clicks = tmp_path / "landing" / "clicks" / "hostile.csv"
    write_references(cfg, campaigns=5)
    impressions.parent.mkdir(parents=True, exist_ok=True)
    clicks.parent.mkdir(parents=True, exist_ok=True)
    impressions.write_bytes(b"\n".join(_impression(rng) for _ in range(RECORDS)) + b"\n")
    clicks.write_bytes(b"\n".join([C.CLICK_CSV_HEADER.encode(), *(_click(rng) for _ in range(RECORDS))]) + b"\n")
    # Whole files that cannot be read: a truncated gzip of impressions, a click "gzip" of garbage.
    cut = gzip.compress(b"\n".join(_impression(rng) for _ in range(200)))
    (impressions.parent / "cut.jsonl.gz").write_bytes(cut[: len(cut) // 2])
    (clicks.parent / "garbage.csv.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(rng.randrange(256) for _ in range(300)))
    # Runaway lines of 100 MB (a file with no line break for hours): one record each, cut.
    huge = "x" * 100_000_000
    (impressions.parent / "huge.jsonl").write_text(
        f'{{"impression_id": "imp-huge", "website": "{huge}"}}\n{_impression(rng).decode()}\n')
    (clicks.parent / "huge.csv").write_text(f"{C.CLICK_CSV_HEADER}\ne-huge,click,0,u,c0,{huge},,,\n")
    assert str(impressions.parent) == cfg.landing.impressions and str(clicks.parent) == cfg.landing.clicks
    assert cfg.reference.campaigns == str(tmp_path / "reference" / "campaigns.csv")

    now_ms = int(time.time() * 1000)
    # As a user runs it, in a process (and JVM) of its own; expressions interpreted, as in the
    # test session (tests/conftest.py): on small data, compiling generated code is most of the work.
    # The deployment's driver memory (conf/base.yaml), not the test session's smaller one: two
    # 100 MB lines are read at once (one per file feed).
    settings = (*folder_overrides(tmp_path), f"streaming.txn_app_id={cfg.streaming.txn_app_id}", "kafka.enabled=false",
                "quality.freshness_hours=1000000", "spark.driver_memory=4g",
                "spark.shuffle_partitions=1", "spark.conf={spark.ui.enabled: 'false', spark.sql.codegen.wholeStage: "
                "'false', spark.sql.codegen.factoryMode: 'NO_CODEGEN'}")
    done = subprocess.run([*cli("pipeline", "--once"), *[a for kv in settings for a in ("--set", kv)]],
                          capture_output=True, text=True, env={**cli_env(), ENV: "reattribution@silver"}, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    # The rerun, in the test's driver: bronze is complete, so no 100 MB line is read again.
    run_pipeline(spark, cfg)
    truth = compute_truth({"now_ms": now_ms, "impression_files": [str(impressions), str(impressions.parent / "cut.jsonl.gz"),
                                                                  str(impressions.parent / "huge.jsonl")],
                           "click_files": [str(clicks), str(clicks.parent / "garbage.csv.gz"),
                                           str(clicks.parent / "huge.csv")],
                           "campaigns_csv": cfg.reference.campaigns, "params": {}}, include_kafka=False)
    write_truth(truth, tmp_path / "truth")
    counts = json.loads((tmp_path / "truth" / "counts.json").read_text())

    for source, bronze, silver in ((C.SOURCE_IMPRESSIONS, tables.BRONZE_IMPRESSIONS, (tables.SILVER_IMPRESSIONS,)),
                                   (C.SOURCE_CLICK_EVENTS, tables.BRONZE_CLICK_EVENTS,
                                    (tables.SILVER_CLICKS, tables.SILVER_CONVERSIONS))):
        c = counts[source]
        assert read_table(spark, cfg, bronze).count() == c["received"]
        quarantined = read_table(spark, cfg, tables.QUARANTINE).where(F.col("source") == source)
        assert {r.reason: r["count"] for r in quarantined.groupBy("reason").count().collect()} == dict(
            truth.quarantine[source])
        assert sum(read_table(spark, cfg, t).count() for t in silver) == c["valid_distinct"]
        assert c["received"] == c["valid_distinct"] + c["duplicates"] + c["quarantined"]
        assert c["quarantined"] > 1000 and c["duplicates"] > 100  # the run was hostile
    multi_line = read_table(spark, cfg, tables.SILVER_CLICKS).where(F.col("ad_creative_id").contains("\n"))
    assert multi_line.count() > 10
    too_large = read_table(spark, cfg, tables.QUARANTINE).where(F.col("reason") == C.REASON_RECORD_TOO_LARGE)
    assert sorted((r.origin, len(r.raw)) for r in too_large.collect()) == [
        (f"file:{clicks.parent / 'huge.csv'}:2", C.RAW_KEPT_CHARS),
        (f"file:{impressions.parent / 'huge.jsonl'}:1", C.RAW_KEPT_CHARS)]
    recon = read_table(spark, cfg, tables.QUALITY_RESULTS).where(F.col("suite") == K.RECONCILIATION.name)
    assert recon.count() > 0 and recon.where(f"NOT success AND severity = '{K.CRITICAL}'").count() == 0
    # Ids reused with other contents: the conflicts are warnings (silver kept the first).
    assert recon.where("NOT success AND expectation = 'duplicates_agree_with_the_record_kept'").count() > 0
    assert_gold_equals_truth(spark, cfg, tmp_path / "truth", bids=False)


def test_a_batch_counts_only_the_quarantine_rows_of_its_own_ingestion(spark, tmp_path):
    """Quarantine rows ingested at another time — here a copy of the batch's, a day earlier —
    are neither read nor counted: only the batch's span of ingestion is (the quarantine of a
    running pipeline grows with every batch)."""
    cfg = make_cfg(tmp_path, "kafka.enabled=false")
    write_references(cfg)
    good = json.dumps({"impression_id": "imp-1", "event_time": "2026-11-18T10:00:00Z", "user_id": "U-1",
                       "campaign_id": "c1", "ad_creative_id": "a1", "website": "https://www.example.com/x"})
    landing = Path(cfg.landing.impressions)
    landing.mkdir(parents=True)
    (landing / "q.jsonl").write_text(f"{good}\nnot json\n")
    backfill_impressions.run(spark, cfg)
    reference.run(spark, cfg)
    silver_job.run(spark, cfg)
    path = cfg.table_path(tables.QUARANTINE)
    spark.read.format("delta").load(path).withColumn("ingested_at", F.col("ingested_at") - F.expr("INTERVAL 1 DAY")).withColumn(
        "ingest_date", F.to_date("ingested_at")).write.format("delta").mode("append").save(path)
    source = R.SOURCES[0]
    batches, _ = R.new_batches(spark, cfg, source, None, None)
    (tag,) = batches
    prof = R.reconcile(spark, cfg, source, batches)
    assert prof.values[tag][R.RECEIVED] == 0 and prof.values[tag][R.QUARANTINE_EXACT] == 0
    assert prof.notes[(R.QUARANTINE_EXACT, tag)] == "invalid 1, quarantine rows 1"
    bronze = read_table(spark, cfg, tables.BRONZE_IMPRESSIONS)
    (day,) = [r[0] for r in bronze.select(F.to_date("ingested_at")).distinct().collect()]
    read = R._quarantined(spark, cfg, source, bronze).inputFiles()
    assert read and all(f"ingest_date={day}" in f for f in read)


@pytest.mark.parametrize("probe", [False, True], ids=["shuffle", "probe"])
def test_a_batch_is_joined_with_silver_without_broadcasting_silver(spark, tmp_path, probe):
    """Silver's ids, on disk as small as Spark broadcasts by file size, are never broadcast
    (a running pipeline's day outgrew the driver's memory that way); a probe broadcasts the
    batch's ids instead."""
    path = str(tmp_path / "silver")
    spark.createDataFrame([(f"e{i}", f"kafka:t/0/{i}") for i in range(50)], "event_id string, origin string") \
        .write.format("delta").save(path)
    ids = spark.read.format("delta").load(path).select(
        F.col("event_id").alias("_id"), F.col("origin").alias("_kept_origin"), F.lit(True).alias("_in_silver"))
    rows = spark.createDataFrame([("b/1", "kafka:t/0/1", "e1", False), ("b/1", "kafka:t/0/99", "e1", False),
                                  ("b/1", "kafka:t/0/100", "new", False), ("b/1", "kafka:t/0/101", None, True)],
                                 "ingest_batch string, origin string, _id string, _bad boolean")
    joined = R.with_silver_ids(rows, ids, probe=probe)
    plan = executed_plan(joined)
    assert sorted((r.origin, r._kept_origin, r._in_silver) for r in joined.collect()) == [
        ("kafka:t/0/1", "kafka:t/0/1", True), ("kafka:t/0/100", None, None), ("kafka:t/0/101", None, None),
        ("kafka:t/0/99", "kafka:t/0/1", True)]
    assert not broadcast_scans(plan), plan
    assert ("BroadcastExchange" in plan) == probe, plan
    # The check itself: Spark's own choice for such a table is to broadcast its scan.
    assert broadcast_scans(executed_plan(rows.join(ids, "_id", "left"))), "not a broadcast-sized table"
