"""Job ``quality`` and gold's write-audit-publish on a lake the real jobs built from generated
traffic (files only): clean data passes every suite and reconciles; a record dropped
between bronze and silver is caught; a critical gold failure keeps the published
partition and its dirty marks, and the pipeline fails with exit code 3; a withheld date
is handed on to the anomaly checks only once it is published; a warning publishes; the
Data Docs name every suite."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyspark.sql.functions as F
import pytest

from advertisex import contract as C
from advertisex import tables
from advertisex.errors import DataQualityError
from advertisex.generate import GenerateParams, Rates, generate
from advertisex.io.delta import latest_version
from advertisex.io.dirty_dates import STAGE_ANOMALY, STAGE_GOLD_CAMPAIGN, clear_dirty, record_dirty, take_dirty
from advertisex.io.streaming import run_stream
from advertisex.pipelines import backfill_impressions, gold, ingest_clicks, quality, reference, silver
from advertisex.pipelines.reattribute import reattribute, settled_version
from advertisex.pipelines.runner import run_pipeline
from advertisex.quality import checks as K
from advertisex.quality import reconcile as R
from conftest import make_cfg
from support import read_table, write_file, write_references
from support_quality import clean, frame

pytestmark = pytest.mark.slow

START = dt.date(2026, 11, 2)
NOW = dt.datetime(2026, 11, 6, 12, tzinfo=dt.UTC)  # after the generated traffic


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """Three generated days through ``pipeline --once`` (the quality job included)."""
    root = tmp_path_factory.mktemp("quality-lake")
    # Freshness is measured against the clock (tests/lake/quality/test_profile.py sets one).
    cfg = make_cfg(root, "kafka.enabled=false", "quality.freshness_hours=1000000")
    params = GenerateParams(seed=11, start_date=START, days=3, impressions_per_day=400, users=120, campaigns=8,
                            rates=Rates().with_overrides({"kafka_share": 0.0}))
    generate(params, landing_impressions=cfg.landing.impressions, landing_clicks=cfg.landing.clicks,
             campaigns_csv=cfg.reference.campaigns, users_csv=cfg.reference.users, out_dir=root / "generated")
    summary = run_pipeline(spark, cfg)
    return cfg, summary


def _results(spark, cfg):
    return read_table(spark, cfg, tables.QUALITY_RESULTS)


def test_generated_traffic_passes_every_suite_and_reconciles(spark, lake):
    cfg, summary = lake
    assert summary["gold"]["withheld"] == {}
    assert summary["quality"]["open_critical"] == 0
    results = _results(spark, cfg)
    failed = [(r.table, r.partition, r.expectation, r.note) for r in results.where("NOT success").collect()]
    assert failed == []
    validated = {r.suite for r in results.select("suite").distinct().collect()}
    # Bid requests come only through Kafka, disabled here.
    assert validated == {s.name for s in K.ALL_SUITES} - {"silver_bid_requests", "gold_bid_daily"}
    recon = results.where(F.col("suite") == K.RECONCILIATION.name)
    assert {r.table for r in recon.select("table").distinct().collect()} == {
        tables.BRONZE_IMPRESSIONS.name, tables.BRONZE_CLICK_EVENTS.name}  # no bid requests without Kafka
    # One commit each: gold's audit (version 0) and the quality job's suites and reconciliation (1).
    assert latest_version(spark, cfg.table_path(tables.QUALITY_RESULTS)) == 1
    assert results.where(F.col("suite") != K.RECONCILIATION.name).where(F.col("table").startswith("silver/")).select(
        "run_id").distinct().collect() == recon.select("run_id").distinct().collect()


def test_a_rerun_on_unchanged_tables_validates_nothing_again(spark, lake):
    cfg, _ = lake
    before = _results(spark, cfg).count()
    summary = quality.run(spark, cfg)
    assert summary["results_stored"] == 0
    assert all("validated before" in summary[s.table] for s in quality.SILVER_SUITES if s.table != "silver/bid_requests")
    assert _results(spark, cfg).count() == before


def test_data_docs_index_names_every_suite(lake):
    cfg, _ = lake
    index = Path(cfg.quality.data_docs_dir) / "index.html"
    html = index.read_text()
    for suite in K.ALL_SUITES:
        assert suite.name in html, suite.name


def _late_impressions(cfg, day: dt.date, n: int, name: str, **fields) -> list[str]:
    ids = [f"late-{name}-{i}" for i in range(n)]
    lines = [json.dumps({"impression_id": i, "event_time": f"{day.isoformat()}T10:00:00Z", "user_id": "u-late",
                         "campaign_id": fields.get("campaign_id", "cmp-0001"), "ad_creative_id": "cr",
                         "website": "late.example.com", "cost_micros": 1000}) for i in ids]
    write_file(Path(cfg.landing.impressions) / f"{name}.jsonl", "\n".join(lines) + "\n")
    return ids


def test_reconciliation_catches_a_record_dropped_between_bronze_and_silver(spark, lake):
    cfg, _ = lake
    ids = _late_impressions(cfg, START, 5, "dropped")
    backfill_impressions.run(spark, cfg)
    silver.run(spark, cfg)
    path = cfg.table_path(tables.SILVER_IMPRESSIONS)
    before = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first().version
    spark.sql(f"DELETE FROM delta.`{path}` WHERE impression_id = '{ids[0]}'")
    with pytest.raises(DataQualityError, match="received_equals_silver_plus_quarantined"):
        quality.run(spark, cfg, now=NOW)
    checked = _results(spark, cfg).where(f"table = '{tables.SILVER_IMPRESSIONS.name}' AND partition = '{START}'")
    assert checked.select("run_id").distinct().count() == 2  # the new rows' partition was validated again
    failed = _results(spark, cfg).where("NOT success AND suite = 'reconciliation'").collect()
    assert len(failed) == 1 and failed[0].table == tables.BRONZE_IMPRESSIONS.name
    assert failed[0].observed_value == 1 and failed[0].severity == K.CRITICAL
    assert json.loads(failed[0].sample_rows[0]) == {"missing_from_silver": ids[0]}
    # Repaired: the open batch is checked again and closes.
    spark.sql(f"RESTORE TABLE delta.`{path}` TO VERSION AS OF {before}")
    assert quality.run(spark, cfg, now=NOW)["open_critical"] == 0
    gold.run(spark, cfg, now=NOW)


def test_a_duplicate_with_other_contents_is_a_warning_naming_both_records(spark, lake, monkeypatch):
    """The same file delivered again under another name (copies: no conflict), then, in a
    later batch, the same ids with another campaign: silver keeps the first, and the conflict
    is a warning (that batch's only) whose sample names the id and both origins. Many
    duplicates (shuffled with the records kept, not broadcast) find the same."""
    cfg, _ = lake
    ids = _late_impressions(cfg, START, 2, "dup-first")
    _late_impressions(cfg, START, 2, "dup-first-again")  # the same ids and contents
    backfill_impressions.run(spark, cfg)
    silver.run(spark, cfg)
    conflicts = "NOT success AND expectation = 'duplicates_agree_with_the_record_kept'"
    other = Path(cfg.landing.impressions) / "dup-conflict.jsonl"
    write_file(other, (Path(cfg.landing.impressions) / "dup-first.jsonl").read_text().replace("cmp-0001", "cmp-0002"))
    backfill_impressions.run(spark, cfg)
    silver.run(spark, cfg)
    assert quality.run(spark, cfg, now=NOW)["open_critical"] == 0
    warned = _results(spark, cfg).where(conflicts)
    assert [(r.severity, r.observed_value) for r in warned.collect()] == [(K.WARNING, 2.0)]
    samples = sorted((s["id"], s["origin"], s["kept"]) for s in map(json.loads, warned.first().sample_rows))
    first, again = (Path(cfg.landing.impressions) / f"{n}.jsonl" for n in ("dup-first", "dup-first-again"))
    assert [(i, o) for i, o, _ in samples] == [(ids[0], f"file:{other}:1"), (ids[1], f"file:{other}:2")]
    assert all(k in (f"file:{first}:{n}", f"file:{again}:{n}") for n, (_, _, k) in enumerate(samples, 1))
    kept = read_table(spark, cfg, tables.SILVER_IMPRESSIONS).where(F.col("impression_id").isin(ids))
    assert {r.campaign_id for r in kept.collect()} == {"cmp-0001"}
    source = R.SOURCES[0]
    batches, _ = R.new_batches(spark, cfg, source, None, None)
    few = R.reconcile(spark, cfg, source, batches)
    monkeypatch.setattr(R, "FEW_DUPLICATES", 0)
    many = R.reconcile(spark, cfg, source, batches)
    assert many.values == few.values and sum(v[R.DUPLICATES_AGREE] for v in few.values.values()) == 2
    assert {k: sorted(v) for k, v in many.given_samples.items()} == {k: sorted(v) for k, v in few.given_samples.items()}


def _gold_rows(spark, cfg, day: dt.date) -> list:
    return sorted(read_table(spark, cfg, tables.GOLD_CAMPAIGN_DAILY).where(F.col("event_date") == day).collect())


def test_a_critical_gold_failure_keeps_the_published_partition_and_its_marks(spark, lake):
    cfg, _ = lake
    day = START + dt.timedelta(days=1)
    published = _gold_rows(spark, cfg, day)
    assert published
    # A silver impression without campaign_id: gold would get a row with a null key (critical).
    imps = read_table(spark, cfg, tables.SILVER_IMPRESSIONS)
    bad = imps.where(F.col("event_date") == day).limit(1).withColumn("impression_id", F.lit("bad-1")).withColumn(
        "campaign_id", F.lit(None).cast("string"))
    bad.write.format("delta").mode("append").save(cfg.table_path(tables.SILVER_IMPRESSIONS))
    record_dirty(spark, cfg, [(STAGE_GOLD_CAMPAIGN, "impressions", day)])
    with pytest.raises(DataQualityError) as err:
        run_pipeline(spark, cfg)
    assert err.value.exit_code == 3
    assert _gold_rows(spark, cfg, day) == published
    assert take_dirty(spark, cfg, [STAGE_GOLD_CAMPAIGN]).dates_of(STAGE_GOLD_CAMPAIGN, "impressions") == {day}
    failed = _results(spark, cfg).where("NOT success AND table = 'gold/campaign_daily'").collect()
    assert {r.expectation for r in failed} >= {"campaign_id_not_null"}
    assert all(r.partition == day.isoformat() and r.sample_rows for r in failed if r.severity == K.CRITICAL)
    # Fixed at the source: the next run publishes the day and nothing is open any more.
    spark.sql(f"DELETE FROM delta.`{cfg.table_path(tables.SILVER_IMPRESSIONS)}` WHERE impression_id = 'bad-1'")
    record_dirty(spark, cfg, [(STAGE_GOLD_CAMPAIGN, "impressions", day)])
    summary = run_pipeline(spark, cfg)
    assert summary["gold"]["withheld"] == {} and summary["quality"]["open_critical"] == 0
    assert _gold_rows(spark, cfg, day) == published


def test_gold_hands_on_to_the_anomaly_checks_only_the_dates_it_published(spark, lake):
    cfg, _ = lake
    bad_day, good_day = START, START + dt.timedelta(days=2)
    clear_dirty(spark, take_dirty(spark, cfg, [STAGE_ANOMALY]).files)

    def handed() -> set[dt.date]:
        return take_dirty(spark, cfg, [STAGE_ANOMALY]).dates_of(STAGE_ANOMALY, "gold")

    imps = read_table(spark, cfg, tables.SILVER_IMPRESSIONS)
    bad = imps.where(F.col("event_date") == bad_day).limit(1).withColumn("impression_id", F.lit("bad-2")).withColumn(
        "campaign_id", F.lit(None).cast("string"))
    bad.write.format("delta").mode("append").save(cfg.table_path(tables.SILVER_IMPRESSIONS))
    record_dirty(spark, cfg, [(STAGE_GOLD_CAMPAIGN, "impressions", d) for d in (bad_day, good_day)])
    summary = gold.run(spark, cfg, now=NOW)
    assert summary["withheld"][tables.GOLD_CAMPAIGN_DAILY.name] == [bad_day.isoformat()]
    assert handed() == {good_day}  # the withheld date waits until it is published
    spark.sql(f"DELETE FROM delta.`{cfg.table_path(tables.SILVER_IMPRESSIONS)}` WHERE impression_id = 'bad-2'")
    assert gold.run(spark, cfg, now=NOW)["withheld"] == {}
    assert handed() == {bad_day, good_day}


def test_a_warning_publishes_and_is_stored(spark, lake):
    cfg, _ = lake
    day = START + dt.timedelta(days=2)
    # Impressions of campaigns the dimension does not know: a warning on gold, published anyway.
    _late_impressions(cfg, day, 400, "unknown-campaigns", campaign_id="cmp-unknown")
    summary = run_pipeline(spark, cfg)
    assert summary["gold"]["withheld"] == {}
    assert tables.GOLD_CAMPAIGN_DAILY.name in summary["gold"]["warned"]
    gold_day = read_table(spark, cfg, tables.GOLD_CAMPAIGN_DAILY).where(F.col("event_date") == day)
    assert gold_day.where("campaign_id = 'cmp-unknown'").first().impressions == 400
    warned = _results(spark, cfg).where(
        f"NOT success AND table = 'gold/campaign_daily' AND partition = '{day}' AND expectation = 'campaign_id_known'")
    assert warned.first().severity == K.WARNING
    assert summary["quality"]["open_critical"] == 0


def test_clicks_appended_after_the_last_reattribution_are_validated_once_attributed(spark, lake):
    """Always on, the click stream appends rows that the next refresh's re-attribution
    attributes: until then the quality job validates silver/clicks as re-attribution left
    it, so rows not attributed yet are no critical finding."""
    cfg, _ = lake
    day = START + dt.timedelta(days=1)
    rows = [f"late-click-{i},click,{day.isoformat()}T11:00:0{i}Z,u-late,cmp-0001,cr,,," for i in range(3)]
    write_file(Path(cfg.landing.clicks) / "late-clicks.csv", C.CLICK_CSV_HEADER + "\n" + "\n".join(rows) + "\n")
    ingest_clicks.run(spark, cfg, once=True)
    (clicks,) = [s for s in silver.streams(spark, cfg) if s.query == "click_events"]
    run_stream(clicks, cfg, once=True)  # silver's click query alone: no re-attribution after it
    appended = read_table(spark, cfg, tables.SILVER_CLICKS)
    assert appended.where("event_id LIKE 'late-click-%' AND attribution_kind IS NULL").count() == 3

    summary = quality.run(spark, cfg)  # no DataQualityError
    assert summary["open_critical"] == 0
    settled = settled_version(spark, cfg, tables.SILVER_CLICKS)
    assert settled is not None and settled < latest_version(spark, cfg.table_path(tables.SILVER_CLICKS))

    reattribute(spark, cfg)
    summary = quality.run(spark, cfg)
    latest = latest_version(spark, cfg.table_path(tables.SILVER_CLICKS))
    assert settled_version(spark, cfg, tables.SILVER_CLICKS) == latest
    assert summary[tables.SILVER_CLICKS.name] == f"1 partition(s) of version {latest}"
    assert summary["open_critical"] == 0


def test_clicks_that_no_reattribution_in_this_process_settled_wait_for_one(spark, tmp_path, monkeypatch):
    """Always on, silver/clicks can appear after the first refresh's re-attribution found
    nothing to do, and a lone job re-attributes nothing: until one runs, the quality job
    leaves rows waiting for it alone, instead of finding each of them unattributed (a
    critical finding, as an always-on run under load reported). Nor does it validate the
    version it saw before a re-attribution that ended while it waited for one (the same
    finding, in a 600 s run)."""
    cfg = make_cfg(tmp_path, "kafka.enabled=false", "quality.freshness_hours=1000000")
    write_references(cfg)
    reference.run(spark, cfg)
    rows = [f"early-click-{i},click,{START.isoformat()}T11:00:0{i}Z,u1,c0,cr,,," for i in range(3)]
    write_file(Path(cfg.landing.clicks) / "clicks.csv", C.CLICK_CSV_HEADER + "\n" + "\n".join(rows) + "\n")
    ingest_clicks.run(spark, cfg, once=True)
    (clicks,) = silver.streams(spark, cfg)
    run_stream(clicks, cfg, once=True)  # silver's click query alone: no re-attribution after it
    assert read_table(spark, cfg, tables.SILVER_CLICKS).where("attribution_kind IS NULL").count() == 3
    assert settled_version(spark, cfg, tables.SILVER_CLICKS) is None

    summary = quality.run(spark, cfg, now=NOW)  # no DataQualityError
    assert summary[tables.SILVER_CLICKS.name] == "rows wait for re-attribution: validated after it"
    assert summary["open_critical"] == 0

    def reattributed_meanwhile(*args, **kwargs):  # as the refresh thread does while quality waits for its lock
        reattribute(spark, cfg)
        return settled_version(*args, **kwargs)

    monkeypatch.setattr(quality, "settled_version", reattributed_meanwhile)
    summary = quality.run(spark, cfg, now=NOW)
    latest = latest_version(spark, cfg.table_path(tables.SILVER_CLICKS))
    assert summary[tables.SILVER_CLICKS.name] == f"1 partition(s) of version {latest}"
    assert summary["open_critical"] == 0


def test_only_the_partitions_that_changed_are_validated_again(spark, lake_cfg):
    suite = K.suite_of(tables.SILVER_CLICKS)
    days = [START + dt.timedelta(days=i) for i in range(3)]
    path = lake_cfg.table_path(tables.SILVER_CLICKS)
    frame(spark, suite, clean(suite, days[0]) + clean(suite, days[1])).write.format("delta").partitionBy(
        "event_date").save(path)
    first = quality.run(spark, lake_cfg)
    assert first[tables.SILVER_CLICKS.name] == "2 partition(s) of version 0"
    frame(spark, suite, clean(suite, days[2])).write.format("delta").mode("append").save(path)
    spark.sql(f"OPTIMIZE delta.`{path}`")  # a compaction changes no partition's data
    second = quality.run(spark, lake_cfg)
    assert second[tables.SILVER_CLICKS.name] == "1 partition(s) of version 2"
    stored = _results(spark, lake_cfg).where(f"table = '{tables.SILVER_CLICKS.name}'")
    assert {(r.partition, r.table_version) for r in stored.select("partition", "table_version").distinct().collect()} == {
        (days[0].isoformat(), 0), (days[1].isoformat(), 0), (days[2].isoformat(), 2)}
    assert quality.run(spark, lake_cfg)[tables.SILVER_CLICKS.name] == "version 2 validated before"
