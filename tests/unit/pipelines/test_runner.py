"""``pipeline --once``: every job once, stage by stage; independent lanes at once or in turn."""

from __future__ import annotations

import threading

import pytest

from advertisex.config import load_config
from advertisex.pipelines import runner
from support import ROOT


def test_every_pipeline_job_is_in_exactly_one_lane_in_dependency_order() -> None:
    flat = [name for stage in runner.PIPELINE_STAGES for lane in stage for name in lane]
    pipeline_jobs = [j.name for j in runner.JOBS if j.in_pipeline]
    assert sorted(flat) == sorted(pipeline_jobs)
    # Stages follow the registry's order, and so does each lane.
    position = {name: i for i, name in enumerate(runner.JOB_NAMES)}
    for before, after in zip(runner.PIPELINE_STAGES, runner.PIPELINE_STAGES[1:], strict=False):
        assert max(position[n] for lane in before for n in lane) < min(position[n] for lane in after for n in lane)
    for stage in runner.PIPELINE_STAGES:
        for lane in stage:
            assert list(lane) == sorted(lane, key=position.get)


@pytest.mark.parametrize("concurrent", [True, False])
def test_lanes_run_at_once_or_in_turn_and_stages_in_order(spark, monkeypatch, tmp_path, concurrent) -> None:
    cfg = load_config(ROOT / "conf" / "test.yaml",
                      [f"lake.root={tmp_path}", "kafka.enabled=false", f"pipeline.concurrent={str(concurrent).lower()}"],
                      environ={})
    running: set[str] = set()
    overlapped: set[str] = set()
    order: list[str] = []
    lock = threading.Lock()
    ingest = {"ingest_clicks", "backfill_impressions", "reference"}
    # Run at once, the first stage's three lanes all reach the barrier before any leaves; run in
    # turn, a barrier would never fill, so none is used.
    all_in = threading.Barrier(len(ingest), timeout=120) if concurrent else None

    def fake_run_job(name, spark, cfg, *, once):
        with lock:
            order.append(name)
            if running:
                overlapped.update(running | {name})
            running.add(name)
        if all_in is not None and name in ingest:
            all_in.wait()
        with lock:
            running.discard(name)
        return {"ran": name}

    monkeypatch.setattr(runner, "run_job", fake_run_job)
    monkeypatch.setattr(runner, "register_tables", lambda spark, cfg: [])
    results = runner.run_pipeline(spark, cfg)

    assert list(results) == [j.name for j in runner.JOBS if j.in_pipeline] + ["catalog"]
    assert results["ingest_impressions"] == {"skipped": "kafka.enabled=false"}
    assert "ingest_impressions" not in order and "ingest_bids" not in order
    assert set(order[:3]) == ingest
    assert order[3:5] == ["silver", "gold"]
    # The anomaly checks and the quality suites share the last stage: at once, or anomaly first.
    assert (set(order[5:]) if concurrent else order[5:]) == ({"anomaly", "quality"} if concurrent
                                                               else ["anomaly", "quality"])
    assert overlapped - {"anomaly", "quality"} == (ingest if concurrent else set())


def test_a_failing_lane_lets_the_others_finish(spark, monkeypatch, tmp_path) -> None:
    cfg = load_config(ROOT / "conf" / "test.yaml", [f"lake.root={tmp_path}", "kafka.enabled=false"], environ={})
    finished: list[str] = []
    failed = threading.Event()

    def fake_run_job(name, spark, cfg, *, once):
        if name == "ingest_clicks":
            failed.set()
            raise RuntimeError("clicks failed")
        assert failed.wait(120)  # the other lanes end only after the failure
        finished.append(name)
        return {}

    monkeypatch.setattr(runner, "run_job", fake_run_job)
    monkeypatch.setattr(runner, "register_tables", lambda spark, cfg: ["registered"])
    with pytest.raises(RuntimeError, match="clicks failed"):
        runner.run_pipeline(spark, cfg)
    assert sorted(finished) == ["backfill_impressions", "reference"]  # and nothing after the failed stage
