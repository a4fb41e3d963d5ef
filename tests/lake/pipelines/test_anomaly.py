"""Job ``anomaly`` on generated traffic: ``pipeline --once`` (files only) over 14 days with their
daily curve. Clean traffic fires nothing; each injected anomaly fires its rule for its hour
(and campaign) and nothing else fires; a rerun changes nothing in ``quality/anomalies``.

The expected findings are the injections the generator lists (``truth/anomalies.json``), with
the observed figures it recomputed from the files: a second computation, independent of the
pipeline. The data set is small (8,000 impressions a day, all in files, 4 campaigns), so the
test configuration lowers the volume floors to its size (they are deployment keys):
``impressions_drop.min_baseline`` 100 and ``min_baseline_campaign`` 40 impressions an hour,
``ctr_spike.min_impressions`` 100 and ``min_clicks`` 10, ``quarantine_rate.min_records`` 100 and
``min_quarantined`` 10. Nothing is posted (no Alertmanager in this tier).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from advertisex import tables
from advertisex.config import Config, folder_overrides, load_config
from advertisex.generate import GenerateParams, Rates, compute_truth, generate, load_manifest, write_truth
from advertisex.generate.inject import parse_injections
from advertisex.generate.world import World
from advertisex.io.delta import last_commit
from advertisex.io.dirty_dates import STAGE_ANOMALY, record_dirty
from advertisex.io.lake import distinct_dates
from advertisex.pipelines import anomaly
from advertisex.pipelines.runner import run_pipeline
from advertisex.transforms import anomalies as A
from support import TEST_CONF

pytestmark = pytest.mark.slow

START = dt.date(2026, 11, 16)
FLOORS = (
    "anomaly.impressions_drop.min_baseline=100", "anomaly.impressions_drop.min_baseline_campaign=40",
    "anomaly.ctr_spike.min_impressions=100", "anomaly.ctr_spike.min_clicks=10",
    "anomaly.quarantine_rate.min_records=100", "anomaly.quarantine_rate.min_quarantined=10",
)


def params(injections: str = "") -> GenerateParams:
    p = GenerateParams(seed=5, start_date=START, days=14, impressions_per_day=8000, users=600, campaigns=4,
                       rates=Rates(kafka_share=0.0))
    return dataclasses.replace(p, injections=parse_injections(injections, start_date=START, days=p.days,
                                                              campaigns=p.campaigns))


def lake_config(root: Path, *extra: str) -> Config:
    """Files only, nothing posted, the test floors; every path under ``root``."""
    return load_config(TEST_CONF, [*folder_overrides(root), f"streaming.txn_app_id=test-{root.name}",
                                   "kafka.enabled=false", "alerting.alertmanager_url=null", *FLOORS, *extra],
                       environ={})


def target_campaign() -> str:
    """The biggest campaign with under half the traffic: its own drop is not an overall one."""
    world = World(params())
    share, campaign = max((s, c) for s, c in zip(world.camp_p.tolist(), world.camp_ids.tolist(), strict=True)
                          if s < 0.5)
    assert share > 0.2, "the campaign must be big enough for the test floors"
    return campaign


def lake(spark, root: Path, p: GenerateParams):
    """A lake of ``p``'s traffic after ``pipeline --once``; the config and the truth folder."""
    cfg = lake_config(root)
    out = root / "generated"
    generate(p, landing_impressions=cfg.landing.impressions, landing_clicks=cfg.landing.clicks,
             campaigns_csv=cfg.reference.campaigns, users_csv=cfg.reference.users, out_dir=out, workers=1)
    write_truth(compute_truth(load_manifest(out), include_kafka=False), out / "truth_files_only")
    results = run_pipeline(spark, cfg)
    return cfg, out / "truth_files_only", results


def findings(spark, cfg, status: str = "open") -> list:
    return spark.read.format("delta").load(cfg.table_path(tables.ANOMALIES)).where(f"status = '{status}'").collect()


def version(spark, cfg) -> int:
    return last_commit(spark, cfg.table_path(tables.ANOMALIES)).version


@pytest.fixture(scope="module")
def clean(spark, tmp_path_factory):
    return lake(spark, tmp_path_factory.mktemp("clean"), params())


@pytest.fixture(scope="module")
def injected(spark, tmp_path_factory):
    c = target_campaign()
    spec = (f"impressions_drop@8:20,impressions_drop@9:19:{c},ctr_spike@10:20:{c},quarantine_burst@11:19,"
            "gap@12:17-18,gap@5:0-23")
    return lake(spark, tmp_path_factory.mktemp("injected"), params(spec))


def test_clean_traffic_fires_nothing_and_says_what_it_judged(spark, clean) -> None:
    cfg, truth, results = clean
    assert not (truth / "anomalies.json").exists()
    summary = results["anomaly"]
    assert findings(spark, cfg) == [] and summary["open"] == 0
    assert summary["dates"].startswith("14 (2026-11-16 to 2026-11-29)")
    # Judged where there is history; silent, saying why, where there is not.
    assert summary[A.IMPRESSIONS_DROP].startswith("0 fired, ") and "without enough earlier days" in summary[
        A.IMPRESSIONS_DROP]
    assert summary[A.MISSING_PARTITION] == "0 fired, 14 dates judged"
    # The tables were fed now, but with events of November: no live feed, so not expected to
    # deliver; bronze/bid_requests (Kafka) does not exist.
    assert summary[A.STALE_TABLE].startswith("silent: 2 with no live feed")
    assert summary[A.STALE_TABLE].endswith(", 1 missing")


def test_a_feed_listed_as_expected_goes_stale_and_recovers(spark, clean) -> None:
    cfg, _, _ = clean
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    watched = lake_config(Path(cfg.lake.root).parent, "anomaly.stale_table.expected=[bronze/impressions]")
    out = anomaly.run(spark, watched, now=later)
    assert out[A.STALE_TABLE].startswith("1 fired")
    (stale,) = findings(spark, cfg)
    assert (stale.rule, stale.table, stale.severity, stale.expected) == (A.STALE_TABLE, "bronze/impressions",
                                                                        A.WARNING, 120.0)
    assert stale.observed >= 180 and "saw none for" in stale.summary
    before = version(spark, cfg)
    assert anomaly.run(spark, watched, now=later + dt.timedelta(minutes=30))["opened"] == 0
    assert version(spark, cfg) == before  # still the same outage: nothing written
    # No longer listed (and not live): the finding is resolved, not deleted.
    assert anomaly.run(spark, cfg, now=later)["resolved"] == 1
    assert findings(spark, cfg) == [] and len(findings(spark, cfg, "resolved")) == 1


def test_each_injected_anomaly_fires_exactly_its_rule_hour_and_campaign(spark, injected) -> None:
    cfg, truth, results = injected
    expected = json.loads((truth / "anomalies.json").read_text())
    assert {e["rule"] for e in expected} == {A.IMPRESSIONS_DROP, A.CTR_SPIKE, A.QUARANTINE_RATE,
                                             A.MISSING_PARTITION}
    got = {(f.rule, f.event_date.isoformat(), f.event_hour, f.campaign_id, f.source): f for f in findings(spark, cfg)}
    want = {(e["rule"], e["event_date"], e["event_hour"], e["campaign_id"], e["source"]): e for e in expected}
    assert set(want) <= set(got), f"missing: {set(want) - set(got)}; summary {results['anomaly']}"
    # Anything more is a per-campaign finding of an hour where every campaign was hit.
    overall = {k[:3] for k, e in want.items() if e["any_campaign"]}
    extra = {k for k in set(got) - set(want) if not (k[:3] in overall and k[3] is not None)}
    assert extra == set(), [got[k].summary for k in extra]
    for k, e in want.items():
        if e["observed"] is not None:
            assert got[k].observed == pytest.approx(e["observed"]), (k, got[k].summary)
        assert "expected about" in got[k].summary and "saw" in got[k].summary
    assert results["anomaly"]["open"] == len(got)


def test_a_rerun_changes_nothing_in_the_findings(spark, injected) -> None:
    cfg, _, _ = injected
    before = version(spark, cfg)
    rows = sorted(map(str, findings(spark, cfg)))
    again = run_pipeline(spark, cfg)["anomaly"]
    assert (again["opened"], again["resolved"]) == (0, 0) and again["dates"].startswith("none")
    # Every date judged again, over the same data: the same findings, nothing written.
    dates = distinct_dates(spark.read.format("delta").load(cfg.table_path(tables.GOLD_CAMPAIGN_HOURLY)))
    record_dirty(spark, cfg, [(STAGE_ANOMALY, "gold", d) for d in dates])
    rejudged = anomaly.run(spark, cfg)
    assert rejudged["dates"].startswith(f"{len(dates)} (") and (rejudged["opened"], rejudged["resolved"]) == (0, 0)
    assert version(spark, cfg) == before
    assert sorted(map(str, findings(spark, cfg))) == rows
