"""Job ``reference``: the campaigns and users reference CSVs → SCD-2 dimensions.

``reference.campaigns`` → ``silver/dim_campaigns`` and ``reference.users`` →
``silver/dim_users`` (docs/CONTRACT.md §1.4). A changed row closes its old version at load time,
so events keep the attributes valid at their event time (:mod:`advertisex.transforms.silver`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from advertisex import tables
from advertisex.config import Config
from advertisex.faults import crash_point
from advertisex.io.delta import commit_metadata, is_delta
from advertisex.io.fs import hadoop_path, require_path
from advertisex.tables import Table
from advertisex.transforms import dimensions as D

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FINGERPRINT_PREFIX = "advertisex.reference.fingerprint="


def read_reference_csv(spark: SparkSession, path: str) -> DataFrame:
    """A reference CSV as text columns (RFC 4180: a quote inside a quoted field is doubled,
    where Spark defaults to backslash escapes)."""
    return (
        spark.read.option("header", "true").option("inferSchema", "false").option("escape", "\"")
        .option("multiLine", "true").csv(path)
    )


def files_fingerprint(spark: SparkSession, path: str) -> str:
    """driver-side: a SHA-256 over (path, size, modification time) of every file under ``path``
    (any Hadoop file system), so an untouched reference folder is recognised without reading it."""
    fs, hpath = hadoop_path(spark, path)
    entries = []
    files = fs.listFiles(hpath, True)
    while files.hasNext():
        st = files.next()
        entries.append(f"{st.getPath().toString()}\t{st.getLen()}\t{st.getModificationTime()}")
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


def refresh_dimension(spark: SparkSession, cfg: Config, table: Table, source: str, what: str,
                      to_snapshot: Callable[[DataFrame], DataFrame], key: str) -> str:
    """Apply the reference snapshot at ``source`` to an SCD-2 dimension; returns what happened.

    Every commit to the dimension carries the fingerprint of the files it was loaded from
    (Delta ``userMetadata``). When the files are untouched since, the job stops there:
    nothing is read and nothing is written. When they were touched but hold the same rows,
    the same rows are committed again with the new fingerprint (content unchanged).
    Replace a reference file by writing it: an edit that keeps both its size and its
    modification time is not seen.
    """
    require_path(spark, source, what)
    fingerprint = files_fingerprint(spark, source)
    path = cfg.table_path(table)
    meta = {"userMetadata": FINGERPRINT_PREFIX + fingerprint}
    exists = is_delta(spark, path)
    if exists and commit_metadata(spark, path, FINGERPRINT_PREFIX) == fingerprint:
        return "unchanged"
    snapshot = to_snapshot(read_reference_csv(spark, source))
    if not exists:
        D.scd2_initial(snapshot).write.format("delta").mode("overwrite").options(**meta).save(path)
        return "created"
    current = spark.read.format("delta").load(path)
    load_time = dt.datetime.now(dt.UTC)
    changes = D.scd2_changes(current, snapshot, key=key, load_time=load_time)
    if changes.to_close.isEmpty() and changes.to_insert.isEmpty():
        # Delta commits nothing for an empty append: the same rows are written again instead.
        current.localCheckpoint().write.format("delta").mode("overwrite").options(**meta).save(path)
        return "unchanged"
    D.scd2_apply(current, snapshot, key=key, load_time=load_time).localCheckpoint().write.format("delta").mode(
        "overwrite"
    ).options(**meta).save(path)
    return "updated"


def run(spark: SparkSession, cfg: Config, **_: Any) -> dict[str, Any]:
    """Refresh both SCD-2 dimensions from the reference CSVs."""
    require_path(spark, cfg.reference.campaigns, "reference.campaigns")
    require_path(spark, cfg.reference.users, "reference.users")
    campaigns = refresh_dimension(spark, cfg, tables.DIM_CAMPAIGNS, cfg.reference.campaigns, "reference.campaigns",
                                  D.reference_campaigns, "campaign_id")
    if campaigns != "unchanged":
        crash_point("reference_merge", "reference")
    users = refresh_dimension(spark, cfg, tables.DIM_USERS, cfg.reference.users, "reference.users",
                              D.reference_users, "user_id")
    return {"dim_campaigns": campaigns, "dim_users": users}
