"""The Great Expectations quality job on real Delta gold tables: critical failures exit 3."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from advertisex import contract as C
from advertisex.errors import DataQualityError
from advertisex.pipelines.quality import RESULTS, run_quality

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = (
    "event_date date, campaign_id string, advertiser_id string, campaign_name string, impressions long, "
    "clicks long, unattributed_clicks long, conversions long, view_through_conversions long, "
    "spend_micros long, conversion_value decimal(28,6), ctr double, cvr double"
)
D = dt.date(2026, 11, 20)


def _row(campaign: str, impressions: int = 10, clicks: int = 1) -> tuple:
    return (D, campaign, "adv", "name", impressions, clicks, 0, 0, 0, 100, Decimal(0), clicks / impressions, 0.0)


def test_good_gold_passes_and_rerun_reuses_results(spark, lake_cfg):
    spark.createDataFrame([_row("c1"), _row("c2")], SCHEMA).write.format("delta").partitionBy("event_date").save(
        lake_cfg.table_path(C.GOLD_CAMPAIGN_DAILY))
    first = run_quality(spark, lake_cfg)
    assert first["failed_critical"] == 0 and first["validated_now"] == first["expectations"] > 10
    stored = spark.read.format("delta").load(lake_cfg.table_path(RESULTS)).count()
    again = run_quality(spark, lake_cfg)
    assert again["validated_now"] == 0
    assert spark.read.format("delta").load(lake_cfg.table_path(RESULTS)).count() == stored


def test_duplicate_key_and_negative_count_are_critical(spark, lake_cfg):
    spark.createDataFrame([_row("c1"), _row("c1"), _row("c3", impressions=-5)], SCHEMA).write.format(
        "delta").partitionBy("event_date").save(lake_cfg.table_path(C.GOLD_CAMPAIGN_DAILY))
    with pytest.raises(DataQualityError, match="critical data-quality check"):
        run_quality(spark, lake_cfg)
    failed = {
        r.expectation
        for r in spark.read.format("delta").load(lake_cfg.table_path(RESULTS)).where("NOT success").collect()
    }
    assert {"expect_compound_columns_to_be_unique", "expect_column_values_to_be_between"} <= failed


def test_cli_exit_code_3_on_critical_failure(spark, lake_cfg):
    spark.createDataFrame([_row("c1"), _row("c1")], SCHEMA).write.format("delta").partitionBy("event_date").save(
        lake_cfg.table_path(C.GOLD_CAMPAIGN_DAILY))
    proc = subprocess.run(
        [sys.executable, "-m", "advertisex.cli", "run", "quality", "--config", str(ROOT / "conf" / "test.yaml"),
         "--set", f"lake.root={lake_cfg.lake.root}"],
        capture_output=True, text=True, env={**os.environ, "ADVERTISEX_HOME": str(ROOT)}, timeout=300,
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("advertisex: error: 1 critical data-quality check(s)")
