"""A crash at any commit (``ADVERTISEX_CRASH_AT``, advertisex.faults): every file job is
killed at each of its crash points as a user runs it, in a process of its own, and rerun;
then bronze and silver hold every record exactly once, quarantine every bad one once, the
reconciliation passes and gold equals the generator's truth."""

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
from advertisex.generate import GenerateParams, compute_truth, generate, load_manifest, write_truth
from advertisex.generate.truth import Windows
from advertisex.pipelines.parallel import run_concurrently
from advertisex.pipelines.runner import JOBS, run_pipeline
from conftest import make_cfg
from support import assert_gold_equals_truth, cli, cli_env, read_table

pytestmark = pytest.mark.slow

# By the pipeline's stages (the jobs of a stage run side by side, as in ``pipeline --once``):
# each job is killed at each of its points in turn (the run after a kill is the rerun that
# must repair it), then run to its end.
KILLS = (
    (("backfill_impressions", ("bronze_commit", "quarantine_write")),
     ("ingest_clicks", ("bronze_commit", "quarantine_write")),
     ("reference", ("reference_merge",))),
    (("silver", ("silver_insert", "reattribution")),),
    (("gold", ("gold_replace_before", "gold_replace_after")),),
)
# Small batches, so a kill lands mid-run; expressions interpreted, as in the test session
# (tests/conftest.py): on small data, compiling generated code is most of the work.
SETTINGS = ("kafka.enabled=false", "monitoring.enabled=false", "streaming.max_files_per_trigger=2",
            "quality.freshness_hours=1000000",
            "spark.conf={spark.ui.enabled: 'false', spark.sql.codegen.wholeStage: 'false', "
            "spark.sql.codegen.factoryMode: 'NO_CODEGEN'}")


def test_every_point_is_killed_somewhere():
    assert {p for stage in KILLS for _, points in stage for p in points} == set(POINTS)


@pytest.mark.crash_matrix
def test_a_kill_at_every_commit_then_a_rerun_loses_and_doubles_nothing(spark, tmp_path):
    cfg = make_cfg(tmp_path, *SETTINGS)
    out = tmp_path / "generated"
    params = GenerateParams(seed=7, start_date=dt.date(2026, 11, 16), days=2, impressions_per_day=300, users=50,
                            campaigns=4)
    generate(params, landing_impressions=cfg.landing.impressions, landing_clicks=cfg.landing.clicks,
             campaigns_csv=cfg.reference.campaigns, users_csv=cfg.reference.users, out_dir=out, workers=1)
    write_truth(compute_truth(load_manifest(out), include_kafka=False, windows=Windows.from_config(cfg.attribution)),
                out / "truth")
    settings = [a for kv in (*folder_overrides(tmp_path), f"streaming.txn_app_id={cfg.streaming.txn_app_id}",
                             *SETTINGS) for a in ("--set", kv)]
    runs = {j.name: j.run for j in JOBS}

    def kill_then_rerun(job: str, points: tuple[str, ...]) -> None:
        for point in points:
            done = subprocess.run([*cli("run", job, "--once"), *settings], capture_output=True, text=True,
                                  env={**cli_env(), ENV: f"{point}@{job}"}, timeout=300)
            assert done.returncode == -signal.SIGKILL, f"{job} did not reach {point}: {done.stderr[-2000:]}"
        runs[job](spark, cfg, once=True)  # in the test's driver, on the killed runs' checkpoints

    for stage in KILLS:
        run_concurrently(spark, *(partial(kill_then_rerun, job, points) for job, points in stage))
    run_pipeline(spark, cfg)  # the rest (anomaly, quality: a critical reconciliation failure raises)

    counts = json.loads((out / "truth" / "counts.json").read_text())
    for source, bronze, key, silver in ((C.SOURCE_IMPRESSIONS, tables.BRONZE_IMPRESSIONS, "impression_id",
                                         (tables.SILVER_IMPRESSIONS,)),
                                        (C.SOURCE_CLICK_EVENTS, tables.BRONZE_CLICK_EVENTS, "event_id",
                                         (tables.SILVER_CLICKS, tables.SILVER_CONVERSIONS))):
        c = counts[source]
        held = read_table(spark, cfg, bronze)
        assert held.count() == held.select("origin").distinct().count() == c["received"]
        quarantined = read_table(spark, cfg, tables.QUARANTINE).where(F.col("source") == source)
        assert quarantined.count() == quarantined.select("origin").distinct().count() == c["quarantined"] > 0
        rows = [read_table(spark, cfg, t).select(key) for t in silver]
        kept = rows[0] if len(rows) == 1 else rows[0].unionByName(rows[1])
        assert kept.count() == kept.distinct().count() == c["valid_distinct"]
    assert_gold_equals_truth(spark, cfg, out / "truth", bids=False)
