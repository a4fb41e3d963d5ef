"""How the metrics leave the process: served on a port, or grouped for the Pushgateway."""

from __future__ import annotations

import socket

import pytest

from advertisex.errors import AdvertisexError
from advertisex.monitoring import export
from advertisex.monitoring import metrics as M


def test_a_taken_metrics_port_is_one_line_naming_it(lake_cfg) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = lake_cfg.model_copy(update={"monitoring": lake_cfg.monitoring.model_copy(update={"metrics_port": port})})
        with pytest.raises(AdvertisexError, match=rf"^cannot serve metrics on 127\.0\.0\.1:{port} "
                                                  r"\(monitoring\.metrics_port\): "):
            export.serve(cfg)


def test_last_success_is_pushed_apart_from_the_rest() -> None:
    """The Pushgateway refuses a metric whose own `job` label differs from the push's: the
    collectors pushed under job=advertisex hold everything but last-success, and each job's
    last-success goes on its own."""
    M.LAST_SUCCESS.labels(job="test_job_a").set(1)
    M.RECORDS_INGESTED.labels(source="test_source").inc(0)
    rest = {f.name for f in export._Only(export.pushed_with_the_run).collect()}
    assert "advertisex_records_ingested" in rest and "advertisex_last_success_timestamp_seconds" not in rest
    only_a = list(export._Only(lambda f: f.name == "advertisex_last_success_timestamp_seconds",
                               lambda s: s.labels["job"] == "test_job_a").collect())
    assert [s.labels["job"] for f in only_a for s in f.samples] == ["test_job_a"]


def test_a_runs_stopped_queries_are_not_pushed() -> None:
    """A one-shot run's queries end with advertisex_query_active 0; pushed, that 0 would fire
    AdvertisexQueryStopped for every query after every `pipeline --once`."""
    M.QUERY_ACTIVE.labels(query="test_once.kafka").set(0)
    M.ROWS_WRITTEN.labels(table="test/table").inc(0)
    pushed = {f.name for f in export._Only(export.pushed_with_the_run).collect()}
    assert "advertisex_rows_written" in pushed and "advertisex_query_active" not in pushed


def test_no_pushgateway_configured_pushes_nothing(lake_cfg) -> None:
    cfg = lake_cfg.model_copy(update={"monitoring": lake_cfg.monitoring.model_copy(update={"pushgateway_url": None})})
    assert export.push(cfg, "test") is False
