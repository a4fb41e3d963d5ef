"""``advertisex pipeline`` without ``--once``: every feed streams until a signal stops it.

In one driver (docs/CONTRACT.md §5, always on):

* the ingest jobs' queries run on a processing-time trigger
  (``streaming.trigger_interval_seconds``): the Kafka ones (unless ``kafka.enabled`` is
  false) and the landing-folder ones, which pick new files up as they land;
* silver's three queries run the same way, each started as soon as its bronze table exists;
* every ``pipeline.refresh_seconds`` a refresh runs in a thread of its own: the reference
  dimensions (nothing is read while their files are untouched), re-attribution and gold
  (with its audit), for the dates silver changed since the last refresh;
* after a refresh, the anomaly and quality checks run in a thread of their own, unless the
  previous ones still run (then they start again when those end, covering both refreshes):
  under load they take longer than a refresh, and gold does not wait for them;
* the queries' batches and the refresh run their Spark jobs in the scheduler pool
  :data:`PIPELINE_POOL`, the checks in :data:`CHECKS_POOL`, which gets the cores the
  others leave (``scheduler_pools.xml``): when the cores are full the checks wait, not
  silver's and gold's freshness;
* a query that fails is started again after ``pipeline.restart_backoff_seconds`` (doubled
  at each failure in a row) up to ``pipeline.max_restarts`` times; past that every query is
  stopped and the run ends with one line naming the query and the cause;
* SIGINT or SIGTERM stops every query once its current batch is done (one still busy
  after ``pipeline.stop_timeout_seconds`` is stopped anyway, and its batch is replayed on
  the next start, writing nothing twice: :func:`~advertisex.io.streaming.interruptible`),
  lets the refresh and the checks finish their step, and returns.

A restart continues where the checkpoints stopped.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from advertisex import tables
from advertisex.config import Config
from advertisex.errors import DataQualityError
from advertisex.io.checkpoints import release_checkpoint
from advertisex.io.lake import newest_event_time
from advertisex.io.streaming import (
    Stream,
    StreamFailedError,
    first_line,
    is_kafka_metrics_npe,
    start_stream,
)
from advertisex.monitoring import metrics as M
from advertisex.pipelines import (
    anomaly,
    backfill_impressions,
    gold,
    ingest_bids,
    ingest_clicks,
    ingest_impressions,
    quality,
    reattribute,
    reference,
    silver,
)
from advertisex.quality import project

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)

# How often the supervisor looks at its queries and the clock.
POLL_SECONDS = 0.5
# Spark's scheduler pools (src/advertisex/scheduler_pools.xml): a thread's jobs go to the pool
# named in its local property, and a query's batches to the pool of the thread that started it.
PIPELINE_POOL = "pipeline"
CHECKS_POOL = "checks"
POOL_PROPERTY = "spark.scheduler.pool"


@dataclass
class Supervised:
    """One query under supervision: its definition, its running handle, its failures in a row."""

    stream: Stream
    handle: StreamingQuery | None = None
    failures: int = 0
    restarts: int = 0
    retry_at: float = 0.0


@dataclass
class RefreshStep:
    """One step of the refresh: a job's name (for ``last_success``) and what it runs."""

    job: str
    run: Callable[[SparkSession, Config], Any]


REFRESH: tuple[RefreshStep, ...] = (
    RefreshStep("reference", reference.run),
    RefreshStep("reattribute", lambda spark, cfg: reattribute.reattribute(spark, cfg)),
    RefreshStep("gold", gold.run),
)
CHECKS: tuple[RefreshStep, ...] = (
    RefreshStep("anomaly", anomaly.run),
    RefreshStep("quality", quality.run),
)


@dataclass
class AlwaysOn:
    """The supervisor of one always-on run (see the module's docstring)."""

    spark: SparkSession
    cfg: Config
    ingest: list[Stream] | None = None  # default: the ingest jobs' queries
    stop: threading.Event = field(default_factory=threading.Event)
    queries: dict[str, Supervised] = field(default_factory=dict)
    refreshes: int = 0
    _refresher: threading.Thread | None = None
    _checker: threading.Thread | None = None
    _checks_due: threading.Event = field(default_factory=threading.Event)
    _next_refresh: float = 0.0
    _next_discovery: float = 0.0

    def run(self) -> dict[str, Any]:
        """Run until :attr:`stop` is set (by a signal, or a caller); returns a summary.

        Raises:
            StreamFailedError: a query failed more than ``pipeline.max_restarts`` times in a row.
        """
        project.warm_up(self.cfg)  # the first refresh's audit finds Great Expectations loaded
        context = self.spark.sparkContext
        context.setLocalProperty(POOL_PROPERTY, PIPELINE_POOL)  # for every query this thread starts
        reference.run(self.spark, self.cfg)  # silver needs the dimensions before its first batch
        for stream in self._ingest_streams() if self.ingest is None else self.ingest:
            self.queries[stream.name] = Supervised(stream)
        try:
            while not self.stop.is_set():
                self._discover_silver()
                self._supervise()
                self._maybe_refresh()
                self._maybe_check()
                self.stop.wait(POLL_SECONDS)
        finally:
            self._stop_all()
            context.setLocalProperty(POOL_PROPERTY, None)  # type: ignore[arg-type]  # None clears it
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """Per query: restarts; and how many refreshes ran."""
        return {"queries": {name: {"restarts": q.restarts} for name, q in self.queries.items()},
                "refreshes": self.refreshes}

    # ----------------------------------------------------------------------- queries

    def _ingest_streams(self) -> list[Stream]:
        jobs = [ingest_clicks, backfill_impressions]
        if self.cfg.kafka.enabled:
            jobs = [ingest_impressions, ingest_bids, *jobs]
        return [stream for job in jobs for stream in job.streams(self.spark, self.cfg)]

    def _discover_silver(self) -> None:
        """Supervise each silver query once its bronze table exists (looked for once a trigger)."""
        now = time.monotonic()
        if now < self._next_discovery or all(
                f"{silver.JOB}.{query}" in self.queries for query, _, _ in silver.STREAMS):
            return
        self._next_discovery = now + self.cfg.streaming.trigger_interval_seconds
        for stream in silver.streams(self.spark, self.cfg):
            self.queries.setdefault(stream.name, Supervised(stream))

    def _supervise(self) -> None:
        now = time.monotonic()
        for name, q in self.queries.items():
            if q.handle is not None and q.handle.isActive:
                if q.failures and q.handle.lastProgress is not None:
                    q.failures = 0  # a batch done since the restart: the next failure is a first one again
                continue
            if q.handle is not None:
                self._failed(name, q, now)
            if q.handle is None and now >= q.retry_at and not self.stop.is_set():
                M.QUERY_RESTARTS.labels(query=name).inc(0)  # a series from the start: its increase is the alert
                q.handle = start_stream(q.stream, self.cfg, once=False)
                log.info("started %s", name)

    def _failed(self, name: str, q: Supervised, now: float) -> None:
        """A query that ended by itself: it failed (a running query only ends when stopped)."""
        exc = q.handle.exception() if q.handle is not None else None
        q.handle = None
        cause = first_line(exc) if exc is not None else "ended without an error"
        if exc is not None and is_kafka_metrics_npe(exc):
            # SPARK-57438: a replayed Kafka batch is committed before its metrics fail; start again.
            q.retry_at = now
            return
        q.failures += 1
        if q.failures > self.cfg.pipeline.max_restarts:
            raise StreamFailedError(f"{name} failed {q.failures} times in a row, giving up: {cause}")
        delay = self.cfg.pipeline.restart_backoff_seconds * 2 ** (q.failures - 1)
        q.retry_at = now + delay
        q.restarts += 1
        M.QUERY_RESTARTS.labels(query=name).inc()
        log.warning("%s failed (%s); restarting in %.0f s (%d of %d)", name, cause, delay, q.failures,
                    self.cfg.pipeline.max_restarts)

    def _stop_all(self) -> None:
        """Stop every query after its current batch (bounded), then wait for the refresh and
        the checks."""
        deadline = time.monotonic() + self.cfg.pipeline.stop_timeout_seconds
        # Each is stopped as soon as it is between batches: waiting for one query after
        # another let the others start new batches meanwhile, and under load the last ones
        # were still busy at the deadline (their batches interrupted, to be replayed).
        running = {name: q for name, q in self.queries.items() if q.handle is not None}
        while running:
            for name, q in list(running.items()):
                if q.handle.isActive and q.handle.status.get("isTriggerActive") and time.monotonic() < deadline:
                    continue
                q.handle.stop()
                release_checkpoint(q.stream, self.cfg)
                log.info("stopped %s", name)
                del running[name]
            if running:
                time.sleep(0.1)
        for thread in (self._refresher, self._checker):
            if thread is not None:
                thread.join()

    # ----------------------------------------------------------------------- refresh

    def _maybe_refresh(self) -> None:
        if self._refresher is not None and self._refresher.is_alive():
            return
        now = time.monotonic()
        if now < self._next_refresh:
            return
        self._next_refresh = now + self.cfg.pipeline.refresh_seconds
        self._refresher = threading.Thread(target=self._refresh, name="advertisex-refresh", daemon=True)
        self._refresher.start()

    def _refresh(self) -> None:
        """One refresh of gold; the checks are due after it."""
        started = time.monotonic()
        self.spark.sparkContext.setLocalProperty(POOL_PROPERTY, PIPELINE_POOL)  # this thread's jobs
        if self.refreshes == 0:
            self._known_freshness()
        if self._run_steps(REFRESH):
            M.GOLD_REFRESH_DURATION.observe(time.monotonic() - started)
            self.refreshes += 1
            self._checks_due.set()

    def _maybe_check(self) -> None:
        if not self._checks_due.is_set() or (self._checker is not None and self._checker.is_alive()):
            return
        self._checks_due.clear()
        self._checker = threading.Thread(target=self._check, name="advertisex-checks", daemon=True)
        self._checker.start()

    def _check(self) -> None:
        """One round of the checks, on the cores the queries and the refresh leave."""
        self.spark.sparkContext.setLocalProperty(POOL_PROPERTY, CHECKS_POOL)  # this thread's jobs
        self._run_steps(CHECKS)

    def _run_steps(self, steps: tuple[RefreshStep, ...]) -> bool:
        """Run ``steps`` in turn; whether all ran. A failing step is logged and the next round
        tries again (every step repeats safely), so the pipeline keeps ingesting meanwhile."""
        context = self.spark.sparkContext
        for step in steps:
            if self.stop.is_set():
                return False
            # Names the step's Spark jobs in the UI, as a query's name does its batches' (per thread).
            context.setJobDescription(f"{step.job} (refresh)")
            started, summary = time.monotonic(), None
            try:
                summary = step.run(self.spark, self.cfg)
            except DataQualityError as exc:
                log.warning("refresh: %s", exc)  # gold stays published; the quality metrics tell
            except Exception as exc:  # noqa: BLE001 - kept running; the stale-refresh alert tells
                log.error("refresh: %s failed, retrying at the next refresh: %s", step.job, first_line(exc))
                return False
            finally:
                context.setJobDescription(None)  # type: ignore[arg-type]  # None clears it
            M.LAST_SUCCESS.labels(job=step.job).set(time.time())
            # What a step did and how long it took: where an operator sees a refresh slow down.
            log.info("refresh: %s done in %.1f s: %s", step.job, time.monotonic() - started, summary)
        return True

    def _known_freshness(self) -> None:
        """Freshness from the tables themselves for those no batch has written yet (after a
        restart, a quiet feed's table would otherwise have no freshness to alert on)."""
        for table in tables.TABLES:
            if "event_time" in table.columns and M.newest_of(table.name) is None:
                M.note_newest(table.name, newest_event_time(self.spark, self.cfg, table))


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` while inside (from the main thread only; elsewhere
    the caller sets ``stop`` itself)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        log.info("%s: stopping every query after its current batch", signal.Signals(signum).name)
        stop.set()

    before = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in before.items():
            signal.signal(sig, old)


def run(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """The always-on pipeline until SIGINT/SIGTERM; returns its summary."""
    pipeline = AlwaysOn(spark, cfg)
    with stop_on_signals(pipeline.stop):
        return pipeline.run()
