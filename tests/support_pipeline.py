"""Generated traffic through the whole pipeline on the test stack, once per test session: the
lake that the end-to-end test judges and that the report and the notebooks are run against.

``pipeline --once`` runs three times: with the last-arriving files held back, after they land
(every batch treated as big, as silver does past ``SMALL_BATCH_ROWS`` rows, so both of its
paths are compared with the truth), and again with no new input. What the assertions need
from the runs in between is recorded in :class:`GeneratedLake`. And :class:`Running`: the
always-on pipeline in a thread of the test's driver.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from advertisex import tables
from advertisex.config import Config
from advertisex.generate import GenerateParams, compute_truth, generate, load_manifest, write_truth
from advertisex.generate.producer import produce
from advertisex.generate.truth import Windows
from advertisex.io import lake
from advertisex.pipelines.always_on import AlwaysOn
from advertisex.pipelines.runner import run_pipeline

GOLD = (tables.GOLD_CAMPAIGN_DAILY, tables.GOLD_BID_DAILY)
LAKE_TABLES = (tables.BRONZE_IMPRESSIONS, tables.BRONZE_CLICK_EVENTS, tables.BRONZE_BID_REQUESTS,
               tables.SILVER_IMPRESSIONS, tables.SILVER_CLICKS, tables.SILVER_CONVERSIONS,
               tables.SILVER_BID_REQUESTS, tables.GOLD_CAMPAIGN_DAILY, tables.GOLD_CAMPAIGN_HOURLY,
               tables.GOLD_BID_DAILY, tables.QUARANTINE)


@dataclass(frozen=True)
class GeneratedLake:
    cfg: Config
    truth: Path
    late: list[Path]                 # the held-back files, where they landed
    before_late: dict[Any, dict]     # gold rows by event date after the first run
    versions: dict[Any, int]         # gold's Delta versions after the first run
    before_rerun: dict[Any, list]    # every table's rows before the run with no new input
    after_rerun: dict[Any, list]     # and after it


def table(spark, cfg: Config, name) -> Any:
    return spark.read.format("delta").load(cfg.table_path(name))


def rows_by_date(spark, cfg: Config, name) -> dict:
    out: dict = {}
    for r in table(spark, cfg, name).collect():
        out.setdefault(r.event_date, set()).add(tuple(r))
    return out


def version(cfg: Config, name) -> int:
    return max(int(p.stem) for p in (Path(cfg.table_path(name)) / "_delta_log").glob("*.json"))


def snapshot(spark, cfg: Config) -> dict:
    return {t: sorted(map(str, table(spark, cfg, t).collect())) for t in LAKE_TABLES}


def generate_traffic(cfg: Config, params: GenerateParams, out: Path) -> dict[str, Any]:
    """``params``' traffic into ``cfg``'s landing folders and reference files, its truth (both
    Kafka feeds included, ``cfg``'s attribution windows) in ``out/truth``; returns the manifest
    (for :func:`~advertisex.generate.producer.produce`)."""
    generate(params, landing_impressions=cfg.landing.impressions, landing_clicks=cfg.landing.clicks,
             campaigns_csv=cfg.reference.campaigns, users_csv=cfg.reference.users, out_dir=out, workers=1)
    manifest = load_manifest(out)
    write_truth(compute_truth(manifest, include_kafka=True, windows=Windows.from_config(cfg.attribution)),
                out / "truth")
    return manifest


def build(spark, cfg: Config, tmp: Path) -> GeneratedLake:
    out = tmp / "generated"
    manifest = generate_traffic(cfg, GenerateParams(seed=11, start_date=dt.date(2026, 11, 16), days=3,
                                                    impressions_per_day=1500, users=250, campaigns=8), out)
    assert produce(cfg, manifest, progress=None).failed == 0

    # Hold back the files that arrive last (late events for earlier days) for the second run.
    held = tmp / "held"
    held.mkdir()
    landing_files = sorted(Path(cfg.landing.impressions).iterdir()) + sorted(Path(cfg.landing.clicks).iterdir())
    last_arrival = max(p.name.split("_")[-3] for p in landing_files)
    late = [p for p in landing_files if p.name.split("_")[-3] == last_arrival]
    assert late and all(p.name.split("_")[-2] < f"from-{last_arrival}" for p in late)
    for p in late:
        shutil.move(str(p), held / p.name)

    run_pipeline(spark, cfg)
    before_late = {name: rows_by_date(spark, cfg, name) for name in GOLD}
    versions = {name: version(cfg, name) for name in GOLD}

    landed = []
    for p in late:
        dest = Path(cfg.landing.impressions if p.name.startswith("impressions") else cfg.landing.clicks)
        shutil.move(str(held / p.name), dest / p.name)
        landed.append(dest / p.name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lake, "SMALL_BATCH_ROWS", 0)
        run_pipeline(spark, cfg)
        before_rerun = snapshot(spark, cfg)
        run_pipeline(spark, cfg)
    return GeneratedLake(cfg=cfg, truth=out / "truth", late=landed, before_late=before_late, versions=versions,
                         before_rerun=before_rerun, after_rerun=snapshot(spark, cfg))


class Running:
    """An :class:`AlwaysOn` in a thread of its own; ``stop()`` ends it and returns its outcome."""

    def __init__(self, pipeline: AlwaysOn) -> None:
        self.pipeline, self.outcome, self.error = pipeline, None, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.outcome = self.pipeline.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def stop(self, timeout: float = 120) -> dict:
        self.pipeline.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the pipeline did not stop"
        if self.error is not None:
            raise self.error
        return self.outcome
