"""A crash at any commit (``ADVERTISEX_CRASH_AT``, advertisex.faults): every job is killed
at each of its crash points as a user runs it (``advertisex run JOB --once``, a process of
its own), stage by stage of ``pipeline --once``, and run again; then bronze and silver hold
every record exactly once, quarantine every bad one once, the reconciliation passes and gold
equals the generator's truth. ``make test-crash`` (minutes: not in the default run)."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
from functools import partial

import pyspark.sql.functions as F
import pytest

from advertisex import contract as C
from advertisex import tables
from advertisex.config import folder_overrides
from advertisex.faults import ENV, POINTS
from advertisex.generate import GenerateParams
from advertisex.generate.producer import produce
from advertisex.pipelines.parallel import run_concurrently
from advertisex.pipelines.runner import JOBS, PIPELINE_STAGES, run_pipeline
from support import assert_gold_equals_truth, cli, cli_env, isolated_cfg, read_table
from support_pipeline import generate_traffic

pytestmark = [pytest.mark.stack, pytest.mark.slow]

# Each job is killed at each of its points in turn (the run after a kill is the rerun that
# must repair it), then run to its end; the lanes of a stage side by side, as the pipeline runs them.
KILLS = {
    "ingest_impressions": ("bronze_commit", "quarantine_write"),
    "backfill_impressions": ("bronze_commit", "quarantine_write"),
    "ingest_bids": ("bronze_commit", "quarantine_write"),
    "ingest_clicks": ("bronze_commit", "quarantine_write"),
    "reference": ("reference_merge",),
    "silver": ("silver_insert", "reattribution"),
    "gold": ("gold_replace_before", "gold_replace_after"),
}
# Small batches, so a kill lands mid-run; expressions interpreted, as in the test session
# (tests/conftest.py): on small data, compiling generated code is most of the work.
SETTINGS = ("monitoring.enabled=false", "streaming.max_files_per_trigger=2", "kafka.max_offsets_per_trigger=150",
            "quality.freshness_hours=1000000",
            "spark.conf={spark.ui.enabled: 'false', spark.sql.codegen.wholeStage: 'false', "
            "spark.sql.codegen.factoryMode: 'NO_CODEGEN'}")


def test_every_point_is_killed_somewhere():
    assert {p for points in KILLS.values() for p in points} == set(POINTS)


@pytest.mark.crash_matrix
def test_a_kill_at_every_commit_then_a_rerun_loses_and_doubles_nothing(spark, stack_cfg, tmp_path):
    cfg = isolated_cfg(stack_cfg, tmp_path, *SETTINGS)
    out = tmp_path / "generated"
    manifest = generate_traffic(cfg, GenerateParams(seed=7, start_date=dt.date(2026, 11, 16), days=2,
                                                    impressions_per_day=300, users=50, campaigns=4), out)
    assert produce(cfg, manifest, progress=None).failed == 0
    settings = [a for kv in (*folder_overrides(tmp_path), f"streaming.txn_app_id={cfg.streaming.txn_app_id}",
                             f"kafka.topics.impressions={cfg.kafka.topics.impressions}",
                             f"kafka.topics.bids={cfg.kafka.topics.bids}",
                             f"schema_registry.subject={cfg.schema_registry.subject}", *SETTINGS)
                for a in ("--set", kv)]
    runs = {j.name: j.run for j in JOBS}

    def kill_then_rerun(lane: list[str]) -> None:
        for job in lane:
            for point in KILLS[job]:
                done = subprocess.run([*cli("run", job, "--once"), *settings], capture_output=True, text=True,
                                      env={**cli_env(), ENV: f"{point}@{job}"}, timeout=300)
                assert done.returncode == -signal.SIGKILL, f"{job} did not reach {point}: {done.stderr[-2000:]}"
            runs[job](spark, cfg, once=True)  # in the test's driver, on the killed runs' checkpoints

    for stage in PIPELINE_STAGES:
        lanes = [[job for job in lane if job in KILLS] for lane in stage]
        run_concurrently(spark, *(partial(kill_then_rerun, lane) for lane in lanes if lane))
    assert {job for stage in PIPELINE_STAGES for lane in stage for job in lane} >= set(KILLS)
    run_pipeline(spark, cfg)  # the rest (anomaly, quality: a critical reconciliation failure raises)

    counts = json.loads((out / "truth" / "counts.json").read_text())
    for source, bronze, key, silver in ((C.SOURCE_IMPRESSIONS, tables.BRONZE_IMPRESSIONS, "impression_id",
                                         (tables.SILVER_IMPRESSIONS,)),
                                        (C.SOURCE_CLICK_EVENTS, tables.BRONZE_CLICK_EVENTS, "event_id",
                                         (tables.SILVER_CLICKS, tables.SILVER_CONVERSIONS)),
                                        (C.SOURCE_BID_REQUESTS, tables.BRONZE_BID_REQUESTS, "bid_request_id",
                                         (tables.SILVER_BID_REQUESTS,))):
        c = counts[source]
        held = read_table(spark, cfg, bronze)
        assert held.count() == held.select("origin").distinct().count() == c["received"], source
        quarantined = read_table(spark, cfg, tables.QUARANTINE).where(F.col("source") == source)
        assert quarantined.count() == quarantined.select("origin").distinct().count() == c["quarantined"], source
        rows = [read_table(spark, cfg, t).select(key) for t in silver]
        kept = rows[0] if len(rows) == 1 else rows[0].unionByName(rows[1])
        assert kept.count() == kept.distinct().count() == c["valid_distinct"], source
    assert_gold_equals_truth(spark, cfg, out / "truth")
