"""How the metrics reach Prometheus: served by the always-on pipeline, pushed by a one-shot run.

With ``monitoring.enabled`` (else no metric is recorded, served or pushed), the always-on
pipeline serves :data:`~advertisex.monitoring.metrics.REGISTRY` at
``http://127.0.0.1:{monitoring.metrics_port}/metrics`` (Prometheus' job ``advertisex``).
A ``--once`` run or a single job ends before Prometheus would scrape it, so it pushes
the same metrics to the Pushgateway at ``monitoring.pushgateway_url``, which Prometheus
scrapes with ``honor_labels`` (each push replaces the figures of the run before it).

``advertisex_last_success_timestamp_seconds`` carries a ``job`` label of its own (the
contract's), which the Pushgateway refuses under another grouping ``job``: it is pushed
per job, grouped by that job, and everything else under ``job="advertisex"``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, push_to_gateway, start_http_server
from prometheus_client.registry import Collector

from advertisex.config import Config
from advertisex.errors import AdvertisexError
from advertisex.monitoring import metrics as M

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

PUSH_JOB = "advertisex"
PUSH_TIMEOUT_SECONDS = 5.0
_watched: dict[int, Any] = {}  # session (by id) → the listener feeding the metrics from its queries


def watch(spark: SparkSession, cfg: Config) -> None:
    """Feed the per-query metrics from every streaming query of ``spark`` (once per session;
    nothing without ``monitoring.enabled``)."""
    from advertisex.monitoring.listener import MetricsListener

    if not cfg.monitoring.enabled or id(spark) in _watched:
        return
    listener = MetricsListener()
    spark.streams.addListener(listener)
    _watched[id(spark)] = listener


def unwatch(spark: SparkSession) -> None:
    """Stop feeding metrics from ``spark``'s queries: before the process ends, so Spark's
    listener bus does not call into a Python side that is gone."""
    listener = _watched.pop(id(spark), None)
    if listener is not None:
        spark.streams.removeListener(listener)


def serve(cfg: Config) -> None:
    """Serve the metrics at ``127.0.0.1:{monitoring.metrics_port}`` from a daemon thread
    (nothing without ``monitoring.enabled``).

    Raises:
        AdvertisexError: the port is taken (one line naming it).
    """
    if not cfg.monitoring.enabled:
        return
    port = cfg.monitoring.metrics_port
    try:
        start_http_server(port, addr="127.0.0.1", registry=M.REGISTRY)
    except OSError as exc:
        raise AdvertisexError(
            f"cannot serve metrics on 127.0.0.1:{port} (monitoring.metrics_port): {exc.strerror}") from None
    log.info("metrics at http://127.0.0.1:%d/metrics", port)


class _Only(Collector):
    """The metric families of a registry that ``keep`` accepts, samples filtered by ``sample``."""

    def __init__(self, keep: Callable[[Metric], bool], sample: Callable[[Any], bool] = lambda s: True) -> None:
        self.keep, self.sample = keep, sample

    def collect(self) -> Iterable[Metric]:
        for family in M.REGISTRY.collect():  # driver-side: prometheus-client's registry, no Spark
            if self.keep(family):
                family.samples = [s for s in family.samples if self.sample(s)]
                yield family


def _registry(collector: Collector) -> CollectorRegistry:
    out = CollectorRegistry(auto_describe=False)
    out.register(collector)
    return out


# Family names without suffixes: last-success is pushed per job, query-active not at all.
_LAST_SUCCESS = M.LAST_SUCCESS._name  # noqa: SLF001
_QUERY_ACTIVE = M.QUERY_ACTIVE._name  # noqa: SLF001


def pushed_with_the_run(family: Metric) -> bool:
    """Whether a family goes in a run's push under job ``advertisex``: all but last-success
    (pushed per job, see :func:`push`) and ``advertisex_query_active``. A one-shot run's queries
    stop once its input is read; their 0, kept by the Pushgateway until the next push, would
    read as stopped queries (``AdvertisexQueryStopped``, critical) after every run."""
    return family.name not in (_LAST_SUCCESS, _QUERY_ACTIVE)


def push(cfg: Config, run: str) -> bool:
    """Push the metrics to ``monitoring.pushgateway_url`` (nothing when it is not set), grouped
    by ``run`` (``pipeline`` or the job's name); returns whether it was pushed.

    A Pushgateway that does not answer is logged as a warning: the run itself succeeded.
    """
    url = cfg.monitoring.pushgateway_url
    if not url or not cfg.monitoring.enabled:
        return False
    try:
        push_to_gateway(url, job=PUSH_JOB, grouping_key={"instance": run}, timeout=PUSH_TIMEOUT_SECONDS,
                        registry=_registry(_Only(pushed_with_the_run)))
        families = M.REGISTRY.collect()  # driver-side: prometheus-client's registry, no Spark
        for job in sorted({s.labels["job"] for f in families if f.name == _LAST_SUCCESS for s in f.samples}):
            push_to_gateway(url, job=job, grouping_key={"instance": run}, timeout=PUSH_TIMEOUT_SECONDS,
                            registry=_registry(_Only(lambda f: f.name == _LAST_SUCCESS,
                                                     lambda s, job=job: s.labels["job"] == job)))
    except OSError as exc:
        log.warning("metrics not pushed: the Pushgateway at %s (monitoring.pushgateway_url) did not take them: %s",
                    url, exc)
        return False
    return True
