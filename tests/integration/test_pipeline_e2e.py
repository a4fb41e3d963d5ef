"""End to end: generated traffic → stack → `pipeline --once` → gold equals the generator's truth.

The truth is computed by the generator in plain Python from the contract's definitions,
independently of the Spark code. Whole tables are compared (every row, every column).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from advertisex import contract as C
from advertisex import tables
from advertisex.config import Config
from advertisex.generate import GenerateParams, compute_truth, generate, load_manifest, write_truth
from advertisex.generate.producer import produce
from advertisex.generate.truth import Windows
from advertisex.io import lake
from advertisex.pipelines.runner import run_pipeline
from advertisex.transforms import dates as DT
from support import ROOT, TEST_CONF, assert_gold_equals_truth, cli_env, isolated_cfg

pytestmark = [pytest.mark.stack, pytest.mark.slow]

def _table(spark, cfg: Config, name: str):
    return spark.read.format("delta").load(cfg.table_path(name))


def _rows_by_date(spark, cfg: Config, name: str) -> dict:
    out: dict = {}
    for r in _table(spark, cfg, name).collect():
        out.setdefault(r.event_date, set()).add(tuple(r))
    return out


def _assert_quarantine_and_silver_match_truth(spark, cfg: Config, truth_dir: Path) -> None:
    want = json.loads((truth_dir / "quarantine_counts.json").read_text())
    got: dict = {}
    for r in _table(spark, cfg, tables.QUARANTINE).groupBy("source", "reason").count().collect():
        got.setdefault(r.source, {})[r.reason] = r["count"]
    assert got == want
    counts = json.loads((truth_dir / "counts.json").read_text())
    assert _table(spark, cfg, tables.SILVER_IMPRESSIONS).count() == counts["impressions"]["valid_distinct"]
    assert _table(spark, cfg, tables.SILVER_BID_REQUESTS).count() == counts["bid_requests"]["valid_distinct"]
    clicks = _table(spark, cfg, tables.SILVER_CLICKS)
    conversions = _table(spark, cfg, tables.SILVER_CONVERSIONS)
    ce = counts["click_events"]
    assert clicks.count() == ce["clicks_distinct"]
    assert conversions.count() == ce["conversions_distinct"]
    kinds = {r.attribution_kind: r["count"] for r in clicks.groupBy("attribution_kind").count().collect()}
    assert kinds == {k: v for k, v in {
        C.ATTRIBUTION_IMPRESSION_ID: ce["clicks_impression_id"],
        C.ATTRIBUTION_LAST_IMPRESSION: ce["clicks_last_impression"],
        C.ATTRIBUTION_NONE: ce["clicks_unattributed"],
    }.items() if v}
    # Every received record is in silver (merged with its duplicates) or in quarantine, once.
    for source in ("impressions", "bid_requests", "click_events"):
        c = counts[source]
        assert c["received"] == c["valid"] + c["quarantined"]
        assert sum(want.get(source, {}).values()) == c["quarantined"]


def _changed_partitions(cfg: Config, table: str, since_version: int) -> set[str]:
    """Partition values of every file a commit after ``since_version`` added or removed."""
    log = Path(cfg.table_path(table)) / "_delta_log"
    touched: set[str] = set()
    for commit in sorted(log.glob("*.json")):
        if int(commit.stem) <= since_version:
            continue
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            for kind in ("add", "remove"):
                if kind in action:
                    touched.add(action[kind]["partitionValues"]["event_date"])
    return touched


def _version(cfg: Config, table: tables.Table) -> int:
    return max(int(p.stem) for p in (Path(cfg.table_path(table)) / "_delta_log").glob("*.json"))


@pytest.mark.parametrize(("small_batch_rows", "concurrent"), [(None, True), (0, False)],
                         ids=["default", "every-batch-big-sequential"])
def test_generated_traffic_to_gold_exact_rerun_and_late_files(spark, stack_cfg, tmp_path, monkeypatch,
                                                              small_batch_rows, concurrent):
    """``default``: the feeds' ingest jobs, the reference job and silver's three streams run
    at once (three of them create the quarantine table in the first run).
    ``every-batch-big-sequential``: every job and stream runs in turn, and silver treats every
    batch as big (keys not recorded, dates observed on the insert, every row of the affected
    dates re-attributed), as it does past ``SMALL_BATCH_ROWS`` rows; the result must be the same."""
    if small_batch_rows is not None:
        monkeypatch.setattr(lake, "SMALL_BATCH_ROWS", small_batch_rows)
    cfg = isolated_cfg(stack_cfg, tmp_path, f"pipeline.concurrent={str(concurrent).lower()}")
    assert cfg.pipeline.concurrent is concurrent
    out = tmp_path / "generated"
    params = GenerateParams(seed=11, start_date=dt.date(2026, 11, 16), days=3, impressions_per_day=1500,
                            users=250, campaigns=8)
    generate(params, landing_impressions=cfg.landing.impressions, landing_clicks=cfg.landing.clicks,
             campaigns_csv=cfg.reference.campaigns, users_csv=cfg.reference.users, out_dir=out, workers=1)
    manifest = load_manifest(out)
    write_truth(compute_truth(manifest, include_kafka=True, windows=Windows.from_config(cfg.attribution)),
                out / "truth")
    assert produce(cfg, manifest, progress=None).failed == 0

    # Hold back the files that arrive last (late events for earlier days) for the second run.
    held = tmp_path / "held"
    held.mkdir()
    landing_files = sorted(Path(cfg.landing.impressions).iterdir()) + sorted(Path(cfg.landing.clicks).iterdir())
    last_arrival = max(p.name.split("_")[-3] for p in landing_files)
    late = [p for p in landing_files if p.name.split("_")[-3] == last_arrival]
    assert late and all(p.name.split("_")[-2] < f"from-{last_arrival}" for p in late)
    for p in late:
        shutil.move(str(p), held / p.name)

    run_pipeline(spark, cfg)
    before = {name: _rows_by_date(spark, cfg, name) for name in (tables.GOLD_CAMPAIGN_DAILY, tables.GOLD_BID_DAILY)}
    versions = {name: _version(cfg, name) for name in before}

    # Late files arrive: only the dates they can affect are rewritten.
    late_event_dates = set()
    for p in late:
        dest = Path(cfg.landing.impressions if p.name.startswith("impressions") else cfg.landing.clicks)
        shutil.move(str(held / p.name), dest / p.name)
        late_event_dates.add(dt.date.fromisoformat(p.name.split("_")[-2][len("from-"):]))
    run_pipeline(spark, cfg)
    truth = out / "truth"
    assert_gold_equals_truth(spark, cfg, truth)
    _assert_quarantine_and_silver_match_truth(spark, cfg, truth)
    if concurrent:  # `make demo`'s last step says the same, once is enough
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_with_truth.py"), "--truth", str(truth),
                               "--config", str(TEST_CONF), "--set", f"lake.root={cfg.lake.root}"],
                              capture_output=True, text=True, env=cli_env(), timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        assert done.stdout.count("equal to the generator's truth") == 2, done.stdout
    # Analysts query by name (tables registered by the run).
    want = sum(r["impressions"] for r in json.loads((truth / "campaign_daily.json").read_text()))
    assert spark.sql("SELECT sum(impressions) AS n FROM gold.campaign_daily").first().n == want

    a = cfg.attribution
    allowed = DT.affected_dates(
        impression_dates=_dates_of_files(spark, dest_files(cfg, late, "impressions")),
        click_dates=_dates_of_files(spark, dest_files(cfg, late, "click_events")),
        conversion_dates=_dates_of_files(spark, dest_files(cfg, late, "click_events")),
        click_window_minutes=a.click_window_minutes,
        conversion_window_days=a.conversion_window_days,
        view_through_window_hours=a.view_through_window_hours,
    ).campaign_daily
    allowed_text = {d.isoformat() for d in allowed}
    touched = _changed_partitions(cfg, tables.GOLD_CAMPAIGN_DAILY, versions[tables.GOLD_CAMPAIGN_DAILY])
    assert touched and touched <= allowed_text, (touched, allowed_text)
    after = _rows_by_date(spark, cfg, tables.GOLD_CAMPAIGN_DAILY)
    for d, rows in before[tables.GOLD_CAMPAIGN_DAILY].items():
        if d.isoformat() not in touched:
            assert after[d] == rows

    # Rerun with no new input: no table's content changes.
    lake_tables = [tables.BRONZE_IMPRESSIONS, tables.BRONZE_CLICK_EVENTS, tables.BRONZE_BID_REQUESTS,
                   tables.SILVER_IMPRESSIONS, tables.SILVER_CLICKS, tables.SILVER_CONVERSIONS,
                   tables.SILVER_BID_REQUESTS, tables.GOLD_CAMPAIGN_DAILY, tables.GOLD_CAMPAIGN_HOURLY,
                   tables.GOLD_BID_DAILY, tables.QUARANTINE]
    snapshot = {t: sorted(map(str, _table(spark, cfg, t).collect())) for t in lake_tables}
    run_pipeline(spark, cfg)
    for t in lake_tables:
        assert sorted(map(str, _table(spark, cfg, t).collect())) == snapshot[t], t


def dest_files(cfg: Config, late: list[Path], prefix: str) -> list[Path]:
    folder = Path(cfg.landing.impressions if prefix == "impressions" else cfg.landing.clicks)
    return [folder / p.name for p in late if p.name.startswith(prefix)]


def _dates_of_files(spark, files: list[Path]) -> set[dt.date]:
    """UTC event dates found in the late files (read independently with Python, not the pipeline)."""
    from advertisex.generate.truth import event_date, parse_event_time

    dates: set[dt.date] = set()
    for f in files:
        import gzip

        text = (gzip.open(f, "rt") if f.suffix == ".gz" else open(f)).read()
        for line in text.splitlines()[1 if "click_events" in f.name else 0:]:
            if f.name.startswith("impressions"):
                try:
                    rec = json.loads(line)
                    raw = rec.get("event_time") if isinstance(rec, dict) else None
                except ValueError:
                    continue
                ms = parse_event_time(raw, digits_allowed=False) if raw is not None else None
            else:
                import csv

                fields = next(csv.reader([line]), [])
                ms = parse_event_time(fields[2], digits_allowed=True) if len(fields) > 2 else None
            if ms is not None:
                dates.add(dt.date.fromisoformat(str(event_date(ms))))
    return dates
