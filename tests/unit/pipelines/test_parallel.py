"""Independent steps run together: really at once, failures raised after all ended, results in order."""

from __future__ import annotations

import threading

import pytest

from advertisex.pipelines.parallel import run_concurrently


def test_steps_run_at_the_same_time(spark) -> None:
    # Each step waits for the other: run one after the other, the barrier would time out.
    barrier = threading.Barrier(2, timeout=10)
    done: list[int] = []
    run_concurrently(spark, lambda: done.append(barrier.wait()), lambda: done.append(barrier.wait()))
    assert sorted(done) == [0, 1]


def test_a_failure_is_raised_after_the_other_steps_ended(spark) -> None:
    finished = threading.Event()

    def fails() -> None:
        raise ValueError("write failed")

    def slow() -> None:
        finished.wait(0.5)
        finished.set()

    with pytest.raises(ValueError, match="write failed"):
        run_concurrently(spark, fails, slow)
    assert finished.is_set()


def test_steps_inherit_the_callers_spark_properties(spark) -> None:
    sc = spark.sparkContext
    sc.setLocalProperty("advertisex.test", "gold")
    seen: list[str | None] = []
    try:
        run_concurrently(spark, *[lambda: seen.append(sc.getLocalProperty("advertisex.test"))] * 2)
    finally:
        sc.setLocalProperty("advertisex.test", None)
    assert seen == ["gold", "gold"]


def test_results_come_back_in_the_order_of_the_steps(spark) -> None:
    barrier = threading.Barrier(3, timeout=10)

    def step(n: int, delay: float):
        def run() -> int:
            barrier.wait()
            threading.Event().wait(delay)
            return n
        return run

    assert run_concurrently(spark, step(1, 0.3), step(2, 0.0), step(3, 0.1)) == [1, 2, 3]
    assert run_concurrently(spark, lambda: "alone") == ["alone"]


def test_ctrl_c_sets_stop_and_is_raised_after_the_steps_ended(spark) -> None:
    import _thread

    stop = threading.Event()
    started = threading.Barrier(2, timeout=10)  # both running: the main thread is done submitting
    seen: list[bool] = []

    def interrupted() -> None:
        started.wait()
        _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread
        seen.append(stop.wait(10))

    with pytest.raises(KeyboardInterrupt):
        run_concurrently(spark, interrupted, started.wait, stop=stop)
    assert seen == [True]
