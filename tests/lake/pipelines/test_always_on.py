"""The always-on pipeline in one driver, on real Delta tables (files only: no broker needed):
files picked up as they land, gold kept equal to the truth by the refresh, failing queries
restarted with back-off and given up on, a stop request honoured."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
import time
from pathlib import Path

import pytest
from chispa import assert_df_equality

from advertisex import tables
from advertisex.config import Config
from advertisex.generate import GenerateParams, compute_truth, generate, load_manifest
from advertisex.generate.truth import Windows
from advertisex.io.delta import is_delta
from advertisex.io.streaming import Stream, StreamFailedError
from advertisex.monitoring import metrics as M
from advertisex.pipelines import always_on
from advertisex.pipelines.always_on import AlwaysOn
from conftest import make_cfg
from support import read_table
from support_pipeline import Running

FAST = ("kafka.enabled=false", "streaming.trigger_interval_seconds=1", "pipeline.refresh_seconds=2",
        "pipeline.restart_backoff_seconds=0.2")


def _cfg(tmp_path: Path, *extra: str) -> Config:
    cfg = make_cfg(tmp_path, *FAST, *extra)
    Path(cfg.landing.clicks).mkdir(parents=True, exist_ok=True)
    Path(cfg.landing.impressions).mkdir(parents=True, exist_ok=True)
    return cfg


def _wait(condition, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def _gold_equals(spark, cfg: Config, truth_rows: list[dict]) -> bool:
    if not is_delta(spark, cfg.table_path(tables.GOLD_CAMPAIGN_DAILY)):
        return False
    got = read_table(spark, cfg, tables.GOLD_CAMPAIGN_DAILY).select("event_date", "campaign_id", "impressions",
                                                                     "clicks", "conversions")
    want = {(dt.date.fromisoformat(r["event_date"]), r["campaign_id"], r["impressions"], r["clicks"],
             r["conversions"]) for r in truth_rows}
    return {tuple(r) for r in got.collect()} == want


def _pools_by_work(spark) -> dict[str, set[str]]:
    """The scheduler pool of every stage Spark still records, by what ran it: a query's name
    or a refresh step's (the first line of the stage's job description)."""
    store = spark.sparkContext._jsc.sc().statusStore()
    stages = store.stageList(None, False, False, getattr(store, "stageList$default$4")(), None).iterator()
    pools: dict[str, set[str]] = {}
    while stages.hasNext():
        stage = stages.next()
        if stage.description().isDefined():
            pools.setdefault(stage.description().get().split("\n")[0], set()).add(stage.schedulingPool())
    return pools


def test_files_land_while_running_and_gold_follows(spark, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="advertisex.pipelines.always_on")
    cfg = _cfg(tmp_path)
    out = tmp_path / "generated"
    params = GenerateParams(seed=5, start_date=dt.date(2026, 11, 16), days=2, impressions_per_day=400, users=60,
                            campaigns=4)
    generate(params, landing_impressions=cfg.landing.impressions, landing_clicks=cfg.landing.clicks,
             campaigns_csv=cfg.reference.campaigns, users_csv=cfg.reference.users, out_dir=out, workers=1)
    truth = compute_truth(load_manifest(out), include_kafka=False, windows=Windows.from_config(cfg.attribution))
    # The second day's files arrive while the pipeline runs.
    held = tmp_path / "held"
    held.mkdir()
    late = [p for folder in (cfg.landing.impressions, cfg.landing.clicks) for p in Path(folder).iterdir()
            if params.start_date.isoformat() not in p.name]
    assert late
    for p in late:
        shutil.move(str(p), held / p.name)

    counted = _counts()
    running = Running(AlwaysOn(spark, cfg))
    _wait(lambda: is_delta(spark, cfg.table_path(tables.GOLD_CAMPAIGN_DAILY)), "the first gold refresh")
    for p in late:
        dest = cfg.landing.impressions if p.name.startswith("impressions") else cfg.landing.clicks
        shutil.move(str(held / p.name), Path(dest) / p.name)
    _wait(lambda: _gold_equals(spark, cfg, truth.campaign_daily), "gold to equal the truth")
    summary = running.stop()

    assert summary["refreshes"] >= 2
    # Each step of a refresh says what it did and how long it took (shown with --verbose).
    done = [m for m in caplog.messages if m.startswith("refresh: gold done in ")]
    assert len(done) >= 2 and "'campaign_dates'" in done[-1], done
    assert set(summary["queries"]) == {"ingest_clicks.files", "backfill_impressions.files", "silver.impressions",
                                       "silver.click_events"}  # no bid requests without Kafka
    assert all(q["restarts"] == 0 for q in summary["queries"].values())
    assert not spark.streams.active
    # The queries' batches and the refresh first in line for the cores, the checks after them.
    pools = _pools_by_work(spark)
    for work in (*summary["queries"], "gold (refresh)", "reattribute (refresh)"):
        assert pools.get(work) == {always_on.PIPELINE_POOL}, (work, pools)
    for work in ("quality (refresh)", "anomaly (refresh)"):
        assert pools.get(work) == {always_on.CHECKS_POOL}, (work, pools)
    assert spark.sparkContext.getLocalProperty(always_on.POOL_PROPERTY) is None  # the caller's thread as it was
    want = spark.createDataFrame(
        [{**r, "event_date": dt.date.fromisoformat(r["event_date"])} for r in truth.campaign_daily],
        tables.GOLD_CAMPAIGN_DAILY.struct())
    got = read_table(spark, cfg, tables.GOLD_CAMPAIGN_DAILY).select(*tables.GOLD_CAMPAIGN_DAILY.columns)
    assert_df_equality(got, want.select(*tables.GOLD_CAMPAIGN_DAILY.columns), ignore_row_order=True,
                       ignore_nullable=True)
    # Each record counted once: ingested as bronze holds it, quarantined as quarantine holds it.
    after = _counts()
    ingested = {t: read_table(spark, cfg, t).count() for t in (tables.BRONZE_IMPRESSIONS, tables.BRONZE_CLICK_EVENTS)}
    assert after["ingested"]["impressions"] - counted["ingested"].get("impressions", 0) == ingested[
        tables.BRONZE_IMPRESSIONS]
    assert after["ingested"]["click_events"] - counted["ingested"].get("click_events", 0) == ingested[
        tables.BRONZE_CLICK_EVENTS]
    quarantined = {(r.source, r.reason): r["count"]
                   for r in read_table(spark, cfg, tables.QUARANTINE).groupBy("source", "reason").count().collect()}
    assert quarantined and {k: v - counted["quarantined"].get(k, 0) for k, v in after["quarantined"].items()
                            if v != counted["quarantined"].get(k, 0)} == quarantined
    assert {f"{s}/{r}": n for (s, r), n in quarantined.items()} == {
        f"{s}/{r}": n for s, reasons in truth.quarantine.items() for r, n in reasons.items() if n}


def _counts() -> dict[str, dict]:
    """The ingested and quarantined counters, as Prometheus would read them."""
    out: dict[str, dict] = {"ingested": {}, "quarantined": {}}
    for family in M.REGISTRY.collect():
        for sample in family.samples:
            if sample.name == "advertisex_records_ingested_total":
                out["ingested"][sample.labels["source"]] = sample.value
            elif sample.name == "advertisex_records_quarantined_total":
                out["quarantined"][(sample.labels["source"], sample.labels["reason"])] = sample.value
    return out


def _failing(query: str, fail_times: int, spark) -> tuple[Stream, list[int]]:
    """A rate-source stream whose batches fail the first ``fail_times`` times."""
    calls: list[int] = []

    def batch(_app_id):
        def fn(df, batch_id):
            calls.append(batch_id)
            if len(calls) <= fail_times:
                raise RuntimeError(f"planned failure {len(calls)}")

        return fn

    return Stream("test", query, lambda _resume: spark.readStream.format("rate").option("rowsPerSecond", 5).load(),
                  batch), calls


def _references(cfg: Config) -> None:
    Path(cfg.reference.campaigns).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.reference.campaigns).write_text(
        "campaign_id,advertiser_id,campaign_name,channel,daily_budget_micros,start_date,end_date\n")
    Path(cfg.reference.users).write_text("user_id,age_band,gender,country,signup_date,segment\n")


def test_a_failing_query_is_restarted_with_back_off(spark, tmp_path):
    cfg = _cfg(tmp_path, "pipeline.max_restarts=3")
    _references(cfg)
    stream, calls = _failing("flaky", 2, spark)
    before = M.REGISTRY.get_sample_value("advertisex_query_restarts_total", {"query": "test.flaky"}) or 0
    running = Running(AlwaysOn(spark, cfg, ingest=[stream]))
    _wait(lambda: len(calls) >= 4, "batches after two failures", timeout=120)
    summary = running.stop()
    assert summary["queries"]["test.flaky"]["restarts"] == 2
    assert M.REGISTRY.get_sample_value("advertisex_query_restarts_total", {"query": "test.flaky"}) - before == 2


def test_a_query_failing_past_max_restarts_ends_the_run_naming_it(spark, tmp_path):
    cfg = _cfg(tmp_path, "pipeline.max_restarts=2")
    _references(cfg)
    stream, calls = _failing("broken", 1000, spark)
    pipeline = AlwaysOn(spark, cfg, ingest=[stream])
    with pytest.raises(StreamFailedError, match=r"^test\.broken failed 3 times in a row, giving up: .*planned failure"):
        pipeline.run()
    assert len(calls) == 3
    assert not spark.streams.active


def test_gold_refreshes_while_the_checks_are_still_running(spark, tmp_path, monkeypatch):
    # The checks grow with the day's data (under load they take minutes); gold must not wait
    # for them, and they are not started twice at once.
    cfg = _cfg(tmp_path)
    _references(cfg)
    release, runs, described = threading.Event(), [], []

    def slow_check(spark_, _cfg):
        runs.append(time.monotonic())
        described.append(spark_.sparkContext.getLocalProperty("spark.job.description"))
        release.wait(120)

    monkeypatch.setattr(always_on, "CHECKS", (always_on.RefreshStep("slow", slow_check),))
    running = Running(AlwaysOn(spark, cfg, ingest=[]))
    _wait(lambda: running.pipeline.refreshes >= 3, "gold refreshes while the first check runs", timeout=120)
    assert len(runs) == 1
    assert described == ["slow (refresh)"]  # its Spark jobs are named in the UI
    release.set()
    _wait(lambda: len(runs) >= 2, "the checks again, after the first ended", timeout=60)
    summary = running.stop()
    assert summary["refreshes"] >= 3
