"""The job registry and the dependency-ordered runner behind ``advertisex pipeline --once``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from advertisex.catalog import register_tables
from advertisex.config import Config
from advertisex.errors import AdvertisexError
from advertisex.monitoring import metrics as M
from advertisex.pipelines import (
    anomaly,
    backfill_impressions,
    check,
    gold,
    ingest_bids,
    ingest_clicks,
    ingest_impressions,
    optimize,
    quality,
    reference,
    silver,
)
from advertisex.pipelines.parallel import run_concurrently
from advertisex.quality import project

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from advertisex.io.streaming import Stream

JobFn = Callable[..., "dict[str, Any]"]
StreamsFn = Callable[["SparkSession", Config], "list[Stream]"]


@dataclass(frozen=True)
class Job:
    """A runnable job: ``run(spark, cfg, once=...)`` returns its summary (a dict of figures);
    a streaming job's ``streams`` gives its queries (what ``advertisex reset`` resets)."""

    name: str
    run: JobFn
    description: str
    needs_kafka: bool = False
    in_pipeline: bool = True
    streams: StreamsFn | None = None


# Dependency order: ingestion before silver before gold before checks.
JOBS: tuple[Job, ...] = (
    Job("check", check.run, "session, Delta, broker, registry and connector checks", in_pipeline=False),
    Job("ingest_impressions", ingest_impressions.run, "Kafka impressions (JSON) -> bronze/impressions",
        needs_kafka=True, streams=ingest_impressions.streams),
    Job("ingest_bids", ingest_bids.run, "Kafka bid requests (Confluent Avro) -> bronze/bid_requests",
        needs_kafka=True, streams=ingest_bids.streams),
    Job("ingest_clicks", ingest_clicks.run, "click/conversion CSV files -> bronze/click_events",
        streams=ingest_clicks.streams),
    Job("backfill_impressions", backfill_impressions.run,
        "historical impression JSON Lines files -> bronze/impressions", streams=backfill_impressions.streams),
    Job("reference", reference.run, "campaigns/users reference CSVs -> SCD-2 dimensions silver/dim_*"),
    Job("silver", silver.run, "bronze -> silver (normalise, de-duplicate, enrich, attribute)",
        streams=silver.streams),
    Job("gold", gold.run, "silver -> gold/campaign_daily, gold/campaign_hourly, gold/bid_daily (changed dates only; "
        "each validated before it is published)"),
    Job("anomaly", anomaly.run, "anomaly rules on gold, bronze and table commits -> quality/anomalies, alerts"),
    Job("quality", quality.run, "Great Expectations suites on changed silver partitions, reconciliation; an open "
        "critical finding (gold's included): exit 3"),
    Job("optimize", optimize.run, "compaction + Z-order by campaign_id (schedule it, e.g. hourly)",
        in_pipeline=False),
)
JOB_NAMES = tuple(j.name for j in JOBS)

# ``pipeline --once`` in stages: a stage starts when the one before it has ended. The lanes
# of a stage (tuples of jobs, each run in order) are independent: with
# ``pipeline.concurrent`` they run at once. The ingest jobs write different bronze tables,
# except the two writers of bronze/impressions, which share a lane; the reference job
# writes only the dimensions, which silver reads. Gold audits its own partitions before it
# publishes them (write-audit-publish). The anomaly checks (gold, bronze, table commits) and
# the quality job (silver's changed partitions, reconciliation of bronze with silver and
# quarantine, the open findings in quality/results) only read what the stages before wrote,
# but they run in turn, as the always-on refresh runs them: on two cores, side by side, they
# took as long in all and each one's time was the other's too (docs/BENCHMARKS-HISTORY.md,
# session 36). The anomaly checks come first, so a critical quality failure (which stops the
# run) does not keep them from running.
PIPELINE_STAGES: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("ingest_impressions", "backfill_impressions"), ("ingest_bids",), ("ingest_clicks",), ("reference",)),
    (("silver",),),
    (("gold",),),
    (("anomaly", "quality"),),
)


class UnknownJobError(AdvertisexError):
    """``advertisex run JOB`` with a job that does not exist."""


def get_job(name: str) -> Job:
    """The job called ``name``.

    Raises:
        UnknownJobError: no such job; the message lists the jobs.
    """
    for job in JOBS:
        if job.name == name:
            return job
    raise UnknownJobError(f"unknown job {name!r}; jobs: {', '.join(JOB_NAMES)}")


def run_job(name: str, spark: SparkSession, cfg: Config, *, once: bool = True) -> dict[str, Any]:
    """Run one job and return its summary (a dict of figures)."""
    job = get_job(name)
    t0 = time.monotonic()
    summary = job.run(spark, cfg, once=once) or {}
    summary["seconds"] = round(time.monotonic() - t0, 2)
    M.LAST_SUCCESS.labels(job=name).set(time.time())
    return summary


def run_pipeline(spark: SparkSession, cfg: Config, *,
                 on_job: Callable[[str, dict[str, Any] | None], None] | None = None) -> dict[str, dict[str, Any]]:
    """Run every pipeline job once, stage by stage (:data:`PIPELINE_STAGES`); Kafka-fed jobs
    are skipped when ``kafka.enabled`` is false.

    With ``pipeline.concurrent`` the lanes of a stage run at once, and a failing lane lets
    the others finish before its error is raised; otherwise every job runs in turn, in the
    order of :data:`JOBS`. Either way no job starts before the stages it depends on ended.
    ``on_job(name, None)`` is called as a job starts, ``on_job(name, summary)`` as it ends.
    """
    tell = on_job or (lambda _name, _summary: None)
    results: dict[str, dict[str, Any]] = {}
    project.warm_up(cfg)  # gold's audit is the first validation; ingestion and silver come before it
    stop = threading.Event()  # set by Ctrl-C: a lane starts no further job

    def run_lane(names: tuple[str, ...]) -> None:
        for name in names:
            if stop.is_set():
                return
            job = get_job(name)
            if job.needs_kafka and not cfg.kafka.enabled:
                results[name] = {"skipped": "kafka.enabled=false"}
                tell(name, results[name])
                continue
            tell(name, None)
            results[name] = run_job(name, spark, cfg, once=True)
            tell(name, results[name])

    try:
        for stage in PIPELINE_STAGES:
            if cfg.pipeline.concurrent:
                run_concurrently(spark, *[partial(run_lane, lane) for lane in stage], stop=stop)
            else:
                run_lane(tuple(j.name for j in JOBS if any(j.name in lane for lane in stage)))
    finally:
        # Names work even when a job failed (e.g. a critical quality check): analysts can look.
        results["catalog"] = {"tables": register_tables(spark, cfg)}
    # Summaries in dependency order, whatever order concurrent jobs ended in.
    return {name: results[name] for name in (*JOB_NAMES, "catalog") if name in results}
