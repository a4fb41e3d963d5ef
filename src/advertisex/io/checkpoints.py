"""A streaming query's checkpoint: who runs it, whether it was lost, and how to start anew.

Each query writes with ``txnAppId`` = ``{streaming.txn_app_id}.{job}.{query}`` and
``txnVersion`` = its batch id (io/streaming.py). A checkpoint is therefore tied to the
versions it wrote: a new one, numbering its batches from 0 again, would have them skipped as
written. :func:`refuse_lost_checkpoint` refuses to start that way; ``advertisex reset JOB``
(pipelines/reset.py) starts a query anew the safe way, through :func:`start_anew`: the old
checkpoint is kept, renamed ``{checkpoint}.before-reset-{n}``, and the query writes as a new
generation, ``{streaming.txn_app_id}-reset{n}.{job}.{query}``, whose batch numbers nothing
has used, starting where :class:`Resume` says (after what bronze holds). The resume point is
kept beside the checkpoint in ``{checkpoint}.reset.json``; Spark uses it only while the
checkpoint is new.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from advertisex import tables
from advertisex.config import Config
from advertisex.errors import AdvertisexError
from advertisex.io.delta import last_txn_version
from advertisex.io.fs import hadoop_path, list_files, read_text, write_text

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from advertisex.io.streaming import Stream


class CheckpointInUseError(AdvertisexError):
    """Another process runs the same query on the same checkpoint."""


class CheckpointLostError(AdvertisexError):
    """A query's checkpoint is gone while the lake holds the batches it wrote."""


@dataclass(frozen=True)
class Resume:
    """Where a query starts on a new checkpoint, as ``advertisex reset`` (pipelines/reset.py) found the lake.

    ``generation`` 0 is a query never reset (it starts at its source's configured start).
    """

    generation: int = 0
    kafka_offsets: dict[str, dict[str, int]] = field(default_factory=dict)  # Spark's startingOffsets JSON
    files_done: tuple[str, ...] = ()  # landing files bronze holds (``source_file``), skipped


def txn_app_id(cfg: Config, job: str, query: str, generation: int = 0) -> str:
    """The Delta ``txnAppId`` of one query's writes in its ``generation`` (see :func:`start_anew`)."""
    prefix = cfg.streaming.txn_app_id if generation == 0 else f"{cfg.streaming.txn_app_id}-reset{generation}"
    return f"{prefix}.{job}.{query}"


def query_of(app_id: str) -> tuple[str, str]:
    """``(job, query)`` of a :func:`txn_app_id` (job and query names hold no dot)."""
    _, job, query = ("", "", *app_id.split("."))[-3:]
    return job, query


def _resume_file(cfg: Config, stream: Stream) -> str:
    return cfg.checkpoint_path(stream.job, stream.query) + ".reset.json"


def read_resume(spark: SparkSession, cfg: Config, stream: Stream) -> Resume:
    """The query's :class:`Resume`: the last reset's, or generation 0."""
    path = _resume_file(cfg, stream)
    fs, hpath = hadoop_path(spark, path)
    if not fs.exists(hpath):
        return Resume()
    data = json.loads(read_text(spark, path))
    return Resume(data["generation"], data["kafka_offsets"], tuple(data["files_done"]))


# --------------------------------------------------------------------------- one process per checkpoint

# Checkpoint locks this process holds: lock file path → its open descriptor.
_LOCKS: dict[str, int] = {}


def _lock_file(cfg: Config, stream: Stream) -> str | None:
    """``{checkpoint}.lock`` beside a local checkpoint; None on a cluster file system, where a
    driver's file lock means nothing to another machine's driver."""
    path = cfg.checkpoint_path(stream.job, stream.query)
    if "://" in path and not path.startswith("file://"):
        return None
    return path.removeprefix("file://") + ".lock"


def lock_checkpoint(stream: Stream, cfg: Config) -> None:
    """Hold an exclusive lock on the query's checkpoint for the life of this process (or until
    :func:`release_checkpoint`); a second copy of the job refuses at once instead of running
    the same batches into the same tables. The operating system releases it when the process
    ends, however it ends.

    Raises:
        CheckpointInUseError: another process holds it; the message names the process.
    """
    path = _lock_file(cfg, stream)
    if path is None or path in _LOCKS:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise CheckpointInUseError(
            f"{stream.name} is already running on checkpoint {cfg.checkpoint_path(stream.job, stream.query)} "
            f"(process {holder}); stop that one first"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _LOCKS[path] = fd


def release_checkpoint(stream: Stream, cfg: Config) -> None:
    """Release the lock :func:`lock_checkpoint` took (no-op when this process holds none)."""
    path = _lock_file(cfg, stream)
    fd = _LOCKS.pop(path, None) if path is not None else None
    if fd is not None:
        os.close(fd)


# --------------------------------------------------------------------------- lost checkpoints and reset


def refuse_lost_checkpoint(spark: SparkSession, cfg: Config, stream: Stream, resume: Resume) -> None:
    """Refuse to start a query on a new checkpoint while a lake table holds batches of its
    ``txnAppId``: a new checkpoint numbers its batches from 0 again, and Delta would skip
    every batch up to the last one written as already committed, dropping new data silently.

    Raises:
        CheckpointLostError: naming the table, the last batch it holds and the ways on.
    """
    path = cfg.checkpoint_path(stream.job, stream.query)
    if list_files(spark, f"{path}/offsets", ""):
        return  # Spark knows where the query stands
    app_id = txn_app_id(cfg, stream.job, stream.query, resume.generation)
    for table in tables.TABLES:
        version = last_txn_version(spark, cfg.table_path(table), app_id)
        if version is not None:
            raise CheckpointLostError(
                f"{stream.name}: checkpoint {path} is missing or empty, but {table.name} holds its batches "
                f"0 to {version} (txnAppId {app_id}), which a new checkpoint would number again and skip as "
                f"written; move the checkpoint back, or run `advertisex reset {stream.job}` to go on after "
                f"what the lake holds (docs/RUNBOOK.md)"
            )


def start_anew(spark: SparkSession, cfg: Config, stream: Stream, resume: Resume) -> str | None:
    """Keep the query's checkpoint aside as ``{checkpoint}.before-reset-{generation}`` and
    record ``resume`` for the query's next start (on a new checkpoint).

    Returns:
        Where the old checkpoint went (None when there was none).
    """
    path = cfg.checkpoint_path(stream.job, stream.query)
    fs, hpath = hadoop_path(spark, path)
    kept = None
    if fs.exists(hpath):
        kept = f"{path}.before-reset-{resume.generation}"
        if not fs.rename(hpath, hadoop_path(spark, kept)[1]):
            raise OSError(f"could not rename {path} to {kept}")
    record = {**asdict(resume), "reset_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "old_checkpoint": kept}
    write_text(spark, _resume_file(cfg, stream), json.dumps(record, indent=1))
    return kept
