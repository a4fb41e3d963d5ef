"""Idempotent appends from jobs running at once: all land, once; a table another process
creates is seen."""

from __future__ import annotations

import shutil
from functools import partial

from chispa import assert_df_equality

from advertisex.io.delta import idempotent_append, is_delta, lost_commit_race
from advertisex.pipelines.parallel import run_concurrently


def test_appends_racing_to_create_a_table_all_land_once(spark, tmp_path) -> None:
    # Creating a table is a commit conflict for all but one of the writers that try it at
    # once (ProtocolChangedException); they retry as plain appends.
    path = str(tmp_path / "quarantine")

    def append(n: int) -> None:
        rows = spark.createDataFrame([(n, "2026-11-01"), (n, "2026-11-02")], "n int, d string")
        idempotent_append(rows, path, app_id=f"job-{n}", version=0, partition_by=["d"])

    for _ in range(2):  # the second round replays every (app_id, version): nothing more lands
        run_concurrently(spark, *[partial(append, n) for n in range(3)])
        assert_df_equality(
            spark.read.format("delta").load(path),
            spark.createDataFrame([(n, d) for n in range(3) for d in ("2026-11-01", "2026-11-02")], "n int, d string"),
            ignore_row_order=True, ignore_nullable=True,
        )


def test_other_failures_are_not_commit_races(spark, tmp_path) -> None:
    try:
        spark.read.format("delta").load(str(tmp_path / "missing")).collect()
    except Exception as exc:  # noqa: BLE001 - the failure under test
        assert not lost_commit_race(exc)
    else:
        raise AssertionError("reading a missing table should fail")
    assert not lost_commit_race(ValueError("x"))


def test_a_table_created_elsewhere_after_a_look_at_its_empty_log_is_seen(spark, tmp_path) -> None:
    # Another process creating the table: its `_delta_log` folder exists before its first
    # commit. A look at that moment must not hide the table from this session afterwards.
    path = tmp_path / "gold"
    (path / "_delta_log").mkdir(parents=True)
    assert not is_delta(spark, str(path))
    elsewhere = tmp_path / "elsewhere"
    spark.createDataFrame([(1,)], "n int").write.format("delta").save(str(elsewhere))
    shutil.copytree(elsewhere, path, dirs_exist_ok=True)  # what the other process commits
    assert is_delta(spark, str(path))
    assert not is_delta(spark, str(tmp_path / "nothing"))


def test_commits_since_reads_partitions_and_batch_tags_from_the_log(spark, tmp_path):
    import datetime as dt

    from advertisex.io.delta import commits_since

    path = str(tmp_path / "t")
    df = spark.createDataFrame([(1, dt.date(2026, 11, 1)), (2, dt.date(2026, 11, 2))], "id int, event_date date")
    idempotent_append(df, path, app_id="app", version=0, partition_by=["event_date"])
    idempotent_append(df.where("id = 2"), path, app_id="app", version=1, partition_by=["event_date"])
    spark.sql(f"OPTIMIZE delta.`{path}`")  # compaction: no data change
    commits = commits_since(spark, path, None)
    assert [c["version"] for c in commits] == [0, 1, 2]
    assert sorted(a["event_date"] for a in commits[0]["adds"]) == ["2026-11-01", "2026-11-02"]
    assert commits[1]["txn"] == ("app", 1) and commits[1]["adds"] == [{"event_date": "2026-11-02"}]
    assert commits[2]["adds"] == commits[2]["removes"] == [] and commits[2]["txn"] is None
    assert [c["version"] for c in commits_since(spark, path, 1)] == [2]
    assert commits_since(spark, path, 2) == []


def test_an_append_reads_ahead_the_state_its_next_append_checks(spark, tmp_path) -> None:
    # The next append of a query checks its txnVersion against the state of the version the
    # previous one committed; read ahead, that state costs the next append no Spark job.
    from advertisex.io.delta import prepare_next_append

    path = str(tmp_path / "bronze")
    context = spark.sparkContext

    def jobs_of_plain_append(version: int, group: str) -> int:
        context.setJobGroup(group, group)
        try:
            (spark.createDataFrame([(version,)], "n int").write.format("delta").mode("append")
             .option("txnAppId", "q").option("txnVersion", str(version)).save(path))
        finally:
            context.setLocalProperty("spark.jobGroup.id", None)
        return len(context.statusTracker().getJobIdsForGroup(group))

    for version in range(3):  # past the table's first versions, whose state is trivial
        jobs_of_plain_append(version, f"setup-{version}")
    without = jobs_of_plain_append(3, "without")
    prepare_next_append(spark, path, "q").join()
    with_ = jobs_of_plain_append(4, "with")
    assert with_ < without, (with_, without)
    assert spark.read.format("delta").load(path).count() == 5
