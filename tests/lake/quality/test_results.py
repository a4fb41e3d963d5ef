"""``quality/results`` on a real Delta table: appends from several threads of one driver."""

from __future__ import annotations

import datetime as dt
import threading

from advertisex import tables
from advertisex.quality.results import store_results
from support import read_table


def _row(run_id: str) -> dict:
    return {"run_id": run_id, "checked_at": dt.datetime(2026, 12, 5, 12, 0), "suite": "s", "table": "gold/x",
            "partition": "2026-12-05", "expectation": "e", "expectation_type": "t", "severity": "warning",
            "success": True, "observed_value": 1.0, "expected": "", "note": "", "sample_rows": [], "table_version": 1}


def test_results_stored_from_threads_at_once_all_land_in_a_table_not_created_yet(spark, lake_cfg):
    # Always on, gold's audit and the quality job store results from two threads; the first
    # commits to a table that does not exist yet conflict in Delta unless they take turns.
    errors: list[BaseException] = []

    def store(n: int) -> None:
        try:
            store_results(spark, lake_cfg, [_row(f"run-{n}")])
        except BaseException as exc:  # noqa: BLE001 - handed to the assertion
            errors.append(exc)

    threads = [threading.Thread(target=store, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    got = sorted(r.run_id for r in read_table(spark, lake_cfg, tables.QUALITY_RESULTS).select("run_id").collect())
    assert got == [f"run-{n}" for n in range(4)]
