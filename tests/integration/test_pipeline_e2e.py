"""End to end: generated traffic → stack → `pipeline --once` → gold equals the generator's truth.

The truth is computed by the generator in plain Python from the contract's definitions,
independently of the Spark code. Whole tables are compared (every row, every column). The
runs themselves happen once per session (``generated_lake``, tests/support_pipeline.py).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from advertisex import contract as C
from advertisex import tables
from advertisex.config import Config
from advertisex.transforms import dates as DT
from support import ROOT, TEST_CONF, assert_gold_equals_truth, cli_env
from support_pipeline import GeneratedLake, rows_by_date, table

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def _assert_quarantine_and_silver_match_truth(spark, cfg: Config, truth_dir: Path) -> None:
    want = json.loads((truth_dir / "quarantine_counts.json").read_text())
    got: dict = {}
    for r in table(spark, cfg, tables.QUARANTINE).groupBy("source", "reason").count().collect():
        got.setdefault(r.source, {})[r.reason] = r["count"]
    assert got == want
    counts = json.loads((truth_dir / "counts.json").read_text())
    assert table(spark, cfg, tables.SILVER_IMPRESSIONS).count() == counts["impressions"]["valid_distinct"]
    assert table(spark, cfg, tables.SILVER_BID_REQUESTS).count() == counts["bid_requests"]["valid_distinct"]
    clicks = table(spark, cfg, tables.SILVER_CLICKS)
    conversions = table(spark, cfg, tables.SILVER_CONVERSIONS)
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


def test_generated_traffic_to_gold_exact_rerun_and_late_files(spark, generated_lake: GeneratedLake):
    """The feeds' ingest jobs, the reference job and silver's three streams run at once (three
    of them create the quarantine table in the first run); the late files' run treats every
    batch as big (keys not recorded, dates observed on the insert, every row of the affected
    dates re-attributed): the result must equal the truth all the same."""
    run = generated_lake
    cfg, truth = run.cfg, run.truth
    assert_gold_equals_truth(spark, cfg, truth)
    _assert_quarantine_and_silver_match_truth(spark, cfg, truth)
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_with_truth.py"), "--truth", str(truth),
                           "--config", str(TEST_CONF), "--set", f"lake.root={cfg.lake.root}"],
                          capture_output=True, text=True, env=cli_env(), timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert done.stdout.count("equal to the generator's truth") == 2, done.stdout
    # Analysts query by name (tables registered by the run).
    want = sum(r["impressions"] for r in json.loads((truth / "campaign_daily.json").read_text()))
    assert spark.sql("SELECT sum(impressions) AS n FROM gold.campaign_daily").first().n == want

    # Late files arrived: only the dates they can affect were rewritten.
    a = cfg.attribution
    clicks = [p for p in run.late if p.name.startswith("click_events")]
    allowed = DT.affected_dates(
        impression_dates=_dates_of_files([p for p in run.late if p.name.startswith("impressions")]),
        click_dates=_dates_of_files(clicks),
        conversion_dates=_dates_of_files(clicks),
        click_window_minutes=a.click_window_minutes,
        conversion_window_days=a.conversion_window_days,
        view_through_window_hours=a.view_through_window_hours,
    ).campaign_daily
    allowed_text = {d.isoformat() for d in allowed}
    touched = _changed_partitions(cfg, tables.GOLD_CAMPAIGN_DAILY, run.versions[tables.GOLD_CAMPAIGN_DAILY])
    assert touched and touched <= allowed_text, (touched, allowed_text)
    after = rows_by_date(spark, cfg, tables.GOLD_CAMPAIGN_DAILY)
    for d, rows in run.before_late[tables.GOLD_CAMPAIGN_DAILY].items():
        if d.isoformat() not in touched:
            assert after[d] == rows

    # The rerun with no new input changed no table's content.
    for t in run.before_rerun:
        assert run.after_rerun[t] == run.before_rerun[t], t


def _dates_of_files(files: list[Path]) -> set[dt.date]:
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
