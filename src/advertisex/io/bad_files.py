"""Landing files that cannot be read — a corrupt or truncated gzip — set aside and quarantined
as one ``bad_file`` record each, so the other files of the batch land and the feed goes on.

Spark's file source fixes a micro-batch's file list before it runs, and one file that fails
to decompress fails the whole batch, at every restart: the feed would be stuck for good.
Instead, a batch write that fails reading a file under the landing folder records the file
(a marker naming it, the cause and the batch), moves it into ``<landing>/_bad_files/`` (Spark
lists no name starting with ``_``; the file source reads with ``ignoreMissingFiles``, so the
batch's plan skips it) and writes the batch again, with a ``bad_file`` record for it.
The marker comes first: a batch replayed after a crash finds its bad files by their markers
and writes the same records again (Delta's ``txnVersion`` keeps the write once).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from advertisex.io.fs import hadoop_path, list_files, read_text, write_text

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

FOLDER = "_bad_files"
_MARKER = ".bad.json"
# Spark's FAILED_READ_FILE error names the file it could not read.
_FAILED_READ = re.compile(r"Encountered error while reading file (\S+?)\.?(?:\s|$)")
_CAUSE = re.compile(r"^Caused by: (.+)$", re.M)


class BadFile(NamedTuple):
    """A landing file set aside: its path as Spark named it, and why it could not be read."""

    path: str
    cause: str


def unreadable_file(exc: BaseException) -> BadFile | None:
    """The file a failed Spark action could not read, with the cause; None for other failures."""
    text = str(getattr(exc, "desc", None) or exc)
    found = _FAILED_READ.search(text)
    if found is None:
        return None
    cause = _CAUSE.search(text)
    return BadFile(found.group(1), cause.group(1).strip() if cause else "the file cannot be read")


def _local(path: str) -> str:
    return re.sub(r"^file:(//)?(?=/)", "", path)


def _marker_name(landing: str, path: str) -> str:
    """A flat, visible name for ``path`` relative to the landing folder (``a/b.csv.gz`` → ``a%2Fb.csv.gz``)."""
    relative = _local(path).removeprefix(_local(landing).rstrip("/") + "/")
    return relative.replace("%", "%25").replace("/", "%2F")


def recorded(spark: SparkSession, landing: str, app_id: str, batch_id: int) -> list[BadFile]:
    """The files set aside by an earlier attempt of this batch (their markers)."""
    out = []
    for marker in list_files(spark, f"{landing.rstrip('/')}/{FOLDER}", _MARKER):
        entry = json.loads(read_text(spark, marker))
        if entry["app_id"] == app_id and entry["batch_id"] == batch_id:
            out.append(BadFile(entry["path"], entry["cause"]))
    return sorted(out, key=lambda b: b.path)


def set_aside(spark: SparkSession, landing: str, bad: BadFile, app_id: str, batch_id: int) -> None:
    """Record ``bad`` for this batch, then move it out of what the file source reads."""
    folder = f"{landing.rstrip('/')}/{FOLDER}"
    name = _marker_name(landing, bad.path)
    write_text(spark, f"{folder}/{name}{_MARKER}",
               json.dumps({"path": bad.path, "cause": bad.cause, "app_id": app_id, "batch_id": batch_id}))
    fs, src = hadoop_path(spark, bad.path)
    _, dest = hadoop_path(spark, f"{folder}/{name}")
    if fs.exists(src) and not fs.rename(src, dest):
        raise OSError(f"could not move the unreadable file {bad.path} to {folder}")
    log.warning("set aside unreadable file %s (%s) as %s; quarantined as bad_file", bad.path, bad.cause, dest)


def write_setting_aside_bad_files(spark: SparkSession, landing: str, app_id: str, batch_id: int,
                                  write: Callable[[list[BadFile]], None]) -> None:
    """Run ``write(bad_files)`` for a file-source batch until it succeeds, setting aside each
    file under ``landing`` that a failed attempt could not read (see the module docstring).

    Raises:
        Exception: a failure that is not an unreadable file under ``landing``, as it came.
    """
    bad = recorded(spark, landing, app_id, batch_id)
    while True:
        try:
            write(bad)
            return
        except Exception as exc:
            found = unreadable_file(exc)
            if (found is None or not _local(found.path).startswith(_local(landing).rstrip("/") + "/")
                    or any(b.path == found.path for b in bad)):
                raise
            set_aside(spark, landing, found, app_id, batch_id)
            bad.append(found)
