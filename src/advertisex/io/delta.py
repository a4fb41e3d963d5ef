"""Delta sinks. Every streaming write is idempotent: ``txnAppId`` + ``txnVersion``.

Delta records the highest ``txnVersion`` committed for each ``txnAppId`` in the table's
log and skips a write whose version is not higher, so a micro-batch replayed after a
crash (same ``batch_id``) adds nothing (Delta docs, "Idempotent table writes in
foreachBatch").
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row, SparkSession

    from advertisex.tables import Table

log = logging.getLogger(__name__)

def align_table_properties(spark: SparkSession, path: str, table: Table) -> bool:
    """Set the Delta properties ``table`` declares (its ``delta.*`` writer options: statistics
    columns, change data feed) on the table at ``path`` where it holds other values (a table
    created by an older version); returns whether any changed.

    Files written before keep their statistics until rewritten (``OPTIMIZE`` rewrites them),
    and the change data feed is recorded from the next commit on.
    """
    want = {k: v for k, v in table.write_options.items() if k.startswith("delta.")}
    props = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first().properties or {}
    changed = {k: v for k, v in want.items() if props.get(k) != v}
    if not changed:
        return False
    settings = ", ".join(f"'{k}' = '{v}'" for k, v in changed.items())
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({settings})")
    return True


def inserted(spark: SparkSession, path: str, after: int | None, upto: int) -> DataFrame:
    """The rows the commits after version ``after`` up to ``upto`` inserted into the append-only
    Delta table at ``path`` (its change data feed); for ``after`` None, every row of
    version ``upto``.

    Lazy: a range the feed did not record (a commit before it was enabled, or one whose files
    are gone) fails when the rows are read, with :func:`missed_changes` true of the error.
    """
    import pyspark.sql.functions as F

    reader = spark.read.format("delta")
    if after is None:
        return reader.option("versionAsOf", upto).load(path)
    changes = (reader.option("readChangeFeed", "true").option("startingVersion", after + 1)
               .option("endingVersion", upto).load(path))
    return changes.where(F.col("_change_type") == "insert").drop("_change_type", "_commit_version",
                                                                 "_commit_timestamp")


def missed_changes(exc: BaseException) -> bool:
    """Whether ``exc`` says the change data feed does not hold a range (see :func:`inserted`):
    not recorded, or its files removed since (``VACUUM``)."""
    return any(code in str(exc) for code in ("DELTA_MISSING_CHANGE_DATA", "DELTA_FILE_NOT_FOUND", "FileNotFound"))


# An append that loses a commit race is tried again, up to this many times in all.
APPEND_ATTEMPTS = 3

# Delta's commit conflicts (io.delta.exceptions.*), as the JVM names them.
_CONFLICTS = (
    "ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException", "ConcurrentWriteException", "MetadataChangedException",
    "ProtocolChangedException",
)


def lost_commit_race(exc: BaseException) -> bool:
    """Whether ``exc`` is a Delta commit conflict: another writer committed first.

    Two jobs of one run can append to the same table (e.g. quarantine) at once: appends do
    not conflict with each other, but the two first writes to a table that does not exist
    yet both try to create it, and all but one fail with ``ProtocolChangedException``. Such
    a commit wrote nothing to the log, so an append that lost the race can simply be tried
    again (Delta's ``txnVersion`` still skips a batch that did commit).
    """
    from delta.exceptions import base

    # Converted by delta-spark's Python layer (its classes do not share a base class) ...
    if isinstance(exc, tuple(getattr(base, name) for name in ("DeltaConcurrentModificationException", *_CONFLICTS))):
        return True
    # ... or raised as the JVM's exception.
    java = getattr(exc, "java_exception", None)
    if java is None:
        return False
    name = str(java.getClass().getName())
    return name.startswith("io.delta.exceptions.") and name.rsplit(".", 1)[-1] in _CONFLICTS


# A commit (00000000000000000042.json) or a checkpoint (…42.checkpoint.parquet, or a part of one).
_LOG_ENTRY = re.compile(r"\d{20}\.(json|checkpoint(\..+)?\.parquet)")


def idempotent_append(
    df: DataFrame,
    path: str,
    *,
    app_id: str,
    version: int,
    partition_by: Sequence[str] = (),
    options: Mapping[str, str] | None = None,
    observe: Sequence[Column] = (),
) -> dict[str, Any] | None:
    """Append ``df`` to the Delta table at ``path`` once per ``(app_id, version)``.

    ``options``: more writer options, e.g. a table's ``write_options``.

    ``observe``: aggregate columns (e.g. ``F.count_if(...)``) over the rows appended,
    computed while they are written (an ``observe`` metric, no extra pass). Returns them by
    name; None when nothing was observed: no ``observe``, or a replay of ``(app_id,
    version)``, which Delta skips without running the plan (so an ``observe`` caller also
    learns whether this call was a replay).

    An append that loses a commit race to another writer (:func:`lost_commit_race`) is
    planned and tried again, up to :data:`APPEND_ATTEMPTS` times in all.
    """
    for attempt in range(1, APPEND_ATTEMPTS + 1):
        seen = None
        out = df
        if observe and not is_replay(df.sparkSession, path, app_id, version):
            from pyspark.sql import Observation

            seen = Observation(f"append_{uuid.uuid4().hex}")
            out = df.observe(seen, *observe)
        writer = (
            out.write.format("delta")
            .mode("append")
            .options(**dict(options or {}))
            .option("txnAppId", app_id)
            .option("txnVersion", str(version))
        )
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        try:
            writer.save(path)
        except Exception as exc:
            if attempt == APPEND_ATTEMPTS or not lost_commit_race(exc):
                raise
            log.info("append to %s lost a commit race (%s); retrying", path, type(exc).__name__)
            continue
        prepare_next_append(df.sparkSession, path, app_id)
        # `get` waits for the metrics of an executed plan: asked only when the write ran.
        return seen.get if seen is not None else None
    raise AssertionError("unreachable: the last attempt returns or raises")


def prepare_next_append(spark: SparkSession, path: str, app_id: str) -> threading.Thread:
    """Start reading, in a thread of its own, the state of the version an append just committed.

    The next append of the same query needs that state before it writes anything (Delta checks
    its ``txnVersion`` against the table's transactions, and a silver batch also lists the
    table's files to probe its ids); computing it is two or three Spark jobs. Started now, they
    run while the query plans and reads its next batch, instead of in front of its write. The
    thread inherits the caller's local properties (scheduler pool, job description); a failure
    only costs the next append the wait.
    """
    from pyspark import InheritableThread

    def read_state() -> None:
        try:
            last_txn_version(spark, path, app_id)
        except Exception as exc:  # noqa: BLE001 - the next append computes the state itself
            log.debug("state of %s not read ahead: %s", path, exc)

    thread = InheritableThread(target=read_state, name="advertisex-next-append", daemon=True)
    thread.start()
    return thread


def last_txn_version(spark: SparkSession, path: str, app_id: str) -> int | None:
    """The highest ``txnVersion`` committed to ``path`` by ``app_id`` (None if never)."""
    if not is_delta(spark, path):  # not Delta's cached check alone: see is_delta
        return None
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - Delta exposes txn versions only on the JVM side
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)  # noqa: SLF001
    snapshot = log.update(False, jvm.scala.Option.empty(), jvm.scala.Option.empty())
    txn = snapshot.transactions().get(app_id)
    return int(txn.get()) if txn.isDefined() else None


def is_replay(spark: SparkSession, path: str, app_id: str, version: int) -> bool:
    """Whether ``(app_id, version)`` has already committed to ``path`` (Delta would skip it)."""
    committed = last_txn_version(spark, path, app_id)
    return committed is not None and committed >= version


def last_commit(spark: SparkSession, path: str) -> Row:
    """The latest commit of the Delta table at ``path`` (a ``DESCRIBE HISTORY`` row:
    ``version``, ``userMetadata``, ...)."""
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first()


def latest_version(spark: SparkSession, path: str) -> int | None:
    """The table's newest version, from the names in its log (no snapshot is read); None
    without a commit."""
    from advertisex.io.fs import list_files

    names = (p.rsplit("/", 1)[-1].removesuffix(".json") for p in list_files(spark, _log_dir(path), ".json"))
    return max((int(n) for n in names if n.isdigit()), default=None)


def latest_commit_text(spark: SparkSession, path: str) -> tuple[int, str] | None:
    """driver-side: the table's newest version and the text of its commit file (its actions and
    their ids, which tell a table made anew at the same path from the one before); None
    without a commit."""
    from advertisex.io.fs import read_text

    version = latest_version(spark, path)
    return None if version is None else (version, read_text(spark, f"{_log_dir(path)}/{version:020d}.json"))


def commit_metadata(spark: SparkSession, path: str, prefix: str) -> str | None:
    """The ``userMetadata`` of the table's latest commit after ``prefix``; None when that commit
    carries no such metadata."""
    meta = last_commit(spark, path).userMetadata or ""
    return meta.removeprefix(prefix) if meta.startswith(prefix) else None


def is_delta(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` holds a Delta table (at least one commit), as of now.

    Delta keeps one log object per path in the JVM, and its table check reads that object's
    last snapshot without refreshing it: a path first looked at while its ``_delta_log``
    folder was there but its first commit was not (another process in the middle of
    creating the table) would read as "no table" in this session for good. So a "no" is
    checked against the log folder, and a commit found there is read, which refreshes it.
    """
    from delta.tables import DeltaTable

    if DeltaTable.isDeltaTable(spark, path):
        return True
    if not _has_commit(spark, path):
        return False
    spark.read.format("delta").load(path)
    return DeltaTable.isDeltaTable(spark, path)


def _has_commit(spark: SparkSession, path: str) -> bool:
    """Whether ``path/_delta_log`` holds a commit or a checkpoint (through Hadoop's file
    system, so on any store Spark reads)."""
    from advertisex.io.fs import list_files

    names = (p.rsplit("/", 1)[-1] for p in list_files(spark, _log_dir(path), ""))
    return any(_LOG_ENTRY.fullmatch(name) for name in names)


def _log_dir(path: str) -> str:
    return f"{path.rstrip('/')}/_delta_log"


def commits_since(spark: SparkSession, path: str, version: int | None) -> list[dict[str, Any]] | None:
    """driver-side: the actions of the table's commits after ``version`` (all of them for None),
    read from its ``_delta_log`` JSON files: ``[{"version", "adds", "removes", "txn"}]`` with
    ``adds``/``removes`` the ``partitionValues`` of the files each added or removed with
    ``dataChange`` (a compaction changes no data) and ``txn`` the ``(appId, version)`` of an
    idempotent write. None when a commit file is gone (log cleanup): the caller then looks
    at the whole table.
    """
    import json

    from advertisex.io.fs import list_files, read_text

    names = {p.rsplit("/", 1)[-1][: -len(".json")]: p for p in list_files(spark, _log_dir(path), ".json")}
    files = {int(n): p for n, p in names.items() if n.isdigit()}  # not the compacted ranges
    first = 0 if version is None else version + 1
    latest = max(files, default=-1)
    if any(v not in files for v in range(first, latest + 1)):
        return None
    out = []
    for v in range(first, latest + 1):
        commit: dict[str, Any] = {"version": v, "adds": [], "removes": [], "txn": None}
        for line in read_text(spark, files[v]).splitlines():
            action = json.loads(line) if line.strip() else {}
            for kind, key in (("add", "adds"), ("remove", "removes")):
                if kind in action and action[kind].get("dataChange", True):
                    commit[key].append(action[kind].get("partitionValues") or {})
            if "txn" in action:
                commit["txn"] = (action["txn"]["appId"], int(action["txn"]["version"]))
        out.append(commit)
    return out
