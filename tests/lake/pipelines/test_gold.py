"""Job ``gold`` when the feeds arrive out of step (files only, through ``pipeline --once``):
impressions that land before any click file exist make their gold rows, with no clicks,
and click files arriving days later rewrite those dates until gold equals the whole truth."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from advertisex.generate import GenerateParams, Rates, compute_truth, generate, load_manifest, write_truth
from advertisex.generate.truth import Windows
from advertisex.pipelines.runner import run_pipeline
from conftest import make_cfg
from support import assert_gold_equals_truth

pytestmark = pytest.mark.slow


def test_impressions_before_any_click_file_then_clicks_days_later(spark, tmp_path):
    cfg = make_cfg(tmp_path, "kafka.enabled=false", "quality.freshness_hours=1000000")
    out = tmp_path / "generated"
    params = GenerateParams(seed=5, start_date=dt.date(2026, 11, 2), days=2, impressions_per_day=300, users=80,
                            campaigns=5, rates=Rates().with_overrides({"kafka_share": 0.0}))
    generate(params, landing_impressions=cfg.landing.impressions, landing_clicks=cfg.landing.clicks,
             campaigns_csv=cfg.reference.campaigns, users_csv=cfg.reference.users, out_dir=out, workers=1)
    manifest = load_manifest(out)
    windows = Windows.from_config(cfg.attribution)
    assert manifest["click_files"]
    held = tmp_path / "held"
    shutil.move(cfg.landing.clicks, held)
    (tmp_path / "landing-clicks-empty").mkdir()
    shutil.move(str(tmp_path / "landing-clicks-empty"), cfg.landing.clicks)

    # Impressions only: every date has its gold rows, no clicks, no conversions.
    write_truth(compute_truth({**manifest, "click_files": []}, include_kafka=False, windows=windows),
                out / "truth-impressions")
    run_pipeline(spark, cfg)
    assert_gold_equals_truth(spark, cfg, out / "truth-impressions", bids=False)

    # The click files arrive (days after their impressions): gold is the whole truth.
    shutil.rmtree(cfg.landing.clicks)
    shutil.move(str(held), cfg.landing.clicks)
    write_truth(compute_truth(manifest, include_kafka=False, windows=windows), out / "truth")
    run_pipeline(spark, cfg)
    assert_gold_equals_truth(spark, cfg, out / "truth", bids=False)
