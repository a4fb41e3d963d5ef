"""The dirty-date hand-off: which event dates a step changed, for the step after it.

Silver records, per micro-batch, the event dates it touched (re-attribution marks the new
impressions', with their keys when few, from silver's change data feed); re-attribution
consumes those marks, re-attributes what they
can change and records the dates whose silver rows changed; gold consumes those and
recomputes exactly those dates and hands them on to the anomaly checks. A mark is ``(stage, source, event_date)``: the stage
that must look at it (:data:`STAGE_ATTRIBUTION`, ...), and which kind of event put it
there.

Marks are small JSON files under ``{lake.root}/_pipeline/dirty_dates/{stage}/``, written
and deleted driver-side through Hadoop's ``FileSystem`` (any file system the lake is
on). A Delta table cost a commit to record, a Spark job to read and a ``DELETE`` commit
to clear, which was most of a small incremental run. Crash safety: a file appears whole
or not at all (:func:`~advertisex.io.fs.write_text`); a consumer deletes the files it
took only after its own commit, and records what it hands on before that commit, so a
crash in between repeats the step, which then finds nothing left to change.

Beside the marks, ``{lake.root}/_pipeline/consumed/{consumer}.json`` records the table version
up to which a step has read a table's change data feed (re-attribution: the impressions
silver inserted), written after the marks those changes call for.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from advertisex.config import Config, join_path
from advertisex.io.delta import is_delta
from advertisex.io.fs import delete_file, hadoop_path, list_files, read_text, write_text

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

DIRTY = "_pipeline/dirty_dates"
CONSUMED = "_pipeline/consumed"  # how far a step has read a table's changes
LEGACY_DIRTY = "_pipeline/dirty"  # the Delta table older versions kept marks in

STAGE_ATTRIBUTION = "attribution"
STAGE_CONVERSION_ATTRIBUTION = "conversion_attribution"
STAGE_GOLD_CAMPAIGN = "gold_campaign"
STAGE_GOLD_BID = "gold_bid"
STAGE_ANOMALY = "anomaly"  # the dates gold recomputed, for the anomaly checks


def _dirty_folder(cfg: Config, stage: str) -> str:
    return join_path(cfg.lake.root, DIRTY, stage)


def record_dirty(spark: SparkSession, cfg: Config, rows: Iterable[tuple[str, str, dt.date]], *,
                 app_id: str | None = None, version: int | None = None,
                 keys: Mapping[tuple[str, str], Iterable[Sequence[str | None]]] | None = None) -> None:
    """Record ``(stage, source, event_date)`` rows under one token: one small JSON file per
    stage, ``{lake}/_pipeline/dirty_dates/{stage}/{token}.json``.

    ``keys`` (optional) lists, for a ``(stage, source)``, the keys of the events behind its
    dates (e.g. the id, user and campaign of each new impression), so the consumer can
    narrow its work to what those events can change. A mark without keys for its source
    means "any event of these dates".

    A stream batch (``app_id``, ``version``) names its files by them, so a replayed batch
    rewrites the same files with the same content.
    """
    token = f"{app_id}.{version}" if app_id is not None and version is not None else uuid.uuid4().hex
    _write_dirty(spark, cfg, token, rows, keys or {})


def _write_dirty(spark: SparkSession, cfg: Config, token: str, rows: Iterable[tuple[str, str, dt.date]],
                 keys: Mapping[tuple[str, str], Iterable[Sequence[str | None]]]) -> None:
    by_stage: dict[str, set[tuple[str, str]]] = {}
    for stage, source, d in rows:
        by_stage.setdefault(stage, set()).add((source, d.isoformat()))
    for stage, items in by_stage.items():
        doc = {
            "dates": sorted(items),
            "keys": {source: sorted((list(k) for k in ks), key=json.dumps)
                     for (st, source), ks in keys.items() if st == stage},
        }
        write_text(spark, f"{_dirty_folder(cfg, stage)}/{token}.json", json.dumps(doc))


@dataclass
class Marks:
    """Dirty-date marks taken for some stages.

    ``dates``: ``{(stage, source): dates}``. ``keys``: ``{(stage, source): keys}`` for every
    ``(stage, source)`` in ``dates``; None when some mark of it carries no keys (any event of
    its dates). ``files``: where they came from, to :func:`clear_dirty` once consumed.
    """

    dates: dict[tuple[str, str], set[dt.date]] = field(default_factory=dict)
    keys: dict[tuple[str, str], set[tuple[str | None, ...]] | None] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def dates_of(self, stage: str, source: str) -> set[dt.date]:
        return self.dates.get((stage, source), set())

    def keys_of(self, stage: str, source: str) -> set[tuple[str | None, ...]] | None:
        """The keys behind ``(stage, source)``'s dates: empty without dates, None when unknown."""
        return self.keys.get((stage, source), set())


def take_dirty(spark: SparkSession, cfg: Config, stages: Iterable[str]) -> Marks:
    """driver-side: the dirty-date marks recorded for ``stages``."""
    _migrate_legacy_dirty(spark, cfg)
    marks = Marks()
    for stage in stages:
        for path in list_files(spark, _dirty_folder(cfg, stage), ".json"):
            doc = json.loads(read_text(spark, path))
            file_keys = doc.get("keys", {})
            for source, day in doc["dates"]:
                marks.dates.setdefault((stage, source), set()).add(dt.date.fromisoformat(day))
            for source in {source for source, _ in doc["dates"]}:
                have = marks.keys.setdefault((stage, source), set())
                if have is not None and source in file_keys:
                    have.update(tuple(k) for k in file_keys[source])
                else:
                    marks.keys[(stage, source)] = None
            marks.files.append(path)
    return marks


def clear_dirty(spark: SparkSession, files: Iterable[str]) -> None:
    """Delete the consumed dirty-date files once the consuming step has committed."""
    for path in files:
        delete_file(spark, path)


def consumed_version(spark: SparkSession, cfg: Config, consumer: str) -> int | None:
    """The table version up to which ``consumer`` has taken a table's changes (None: never)."""
    path = join_path(cfg.lake.root, CONSUMED, f"{consumer}.json")
    fs, hpath = hadoop_path(spark, path)
    return int(json.loads(read_text(spark, path))["version"]) if fs.exists(hpath) else None


def record_consumed(spark: SparkSession, cfg: Config, consumer: str, version: int) -> None:
    """Record that ``consumer`` has taken a table's changes up to ``version``: after the marks
    they call for, so a crash in between takes them again (marking twice changes nothing)."""
    write_text(spark, join_path(cfg.lake.root, CONSUMED, f"{consumer}.json"), json.dumps({"version": version}))


def _migrate_legacy_dirty(spark: SparkSession, cfg: Config) -> None:
    """Move pending dirty dates out of the Delta table older versions kept them in
    (``_pipeline/dirty``) into files, then remove that table. Repeatable: a crash before the
    removal rewrites the same files (named by the old tokens) next time."""
    path = join_path(cfg.lake.root, LEGACY_DIRTY)
    if not is_delta(spark, path):
        return
    rows = spark.read.format("delta").load(path).collect()  # driver-side: pending (token, stage, source, date) rows
    by_token: dict[str, list[tuple[str, str, dt.date]]] = {}
    for r in rows:
        by_token.setdefault(r.token, []).append((r.stage, r.source, r.event_date))
    for token, items in by_token.items():
        _write_dirty(spark, cfg, f"legacy.{token}", items, {})
    fs, hpath = hadoop_path(spark, path)
    fs.delete(hpath, True)
    log.info("moved %d pending dirty-date rows from the Delta table %s to files", len(rows), path)
