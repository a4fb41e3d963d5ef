"""Re-attribution: the step of the ``silver`` job that keeps clicks and conversions attributed.

Change-driven: new impressions can change the clicks of their dates (and the click
window after) that share their user and campaign or name them, and the conversions of
their dates (and the view-through window after) that share their user and campaign.
New clicks and conversions (not attributed yet) are attributed. A click whose
attribution changed can change the conversions of its user and campaign in the
conversion window after it. Only rows whose attribution changed make their date
partition be rewritten and their date marked for gold (plus the new impressions' own
dates). When the new impressions' keys are not known (more than
:data:`~advertisex.io.lake.SMALL_BATCH_ROWS` of them), every row of the dates is
re-attributed, and the same comparison still finds what changed.

The new impressions are the rows silver/impressions' commits inserted since the last
re-attribution, read from its change data feed (:func:`mark_new_impressions`); the silver
batches of the other tables mark their own rows.

Crash safety: the marks a step hands on (changed clicks → conversions; changed dates →
gold) are recorded before that step commits, and the marks it consumed are cleared only
at the end; a repeated step finds nothing changed and commits nothing. The version up to
which the new impressions were taken is recorded after their marks.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

from advertisex import contract as C
from advertisex import tables
from advertisex.config import Config
from advertisex.faults import crash_point
from advertisex.io import lake
from advertisex.io.delta import align_table_properties, inserted, latest_version, missed_changes
from advertisex.io.dirty_dates import (
    STAGE_ATTRIBUTION,
    STAGE_CONVERSION_ATTRIBUTION,
    STAGE_GOLD_BID,
    STAGE_GOLD_CAMPAIGN,
    Marks,
    clear_dirty,
    consumed_version,
    record_consumed,
    record_dirty,
    take_dirty,
)
from advertisex.io.lake import count_up_to, distinct_dates, is_small, read_or_empty, read_table, replace_partitions
from advertisex.tables import Table
from advertisex.transforms import attribution as A
from advertisex.transforms import dates as DT
from advertisex.transforms.keys import IdKeys, PairKeys, dates_in, few_enough, in_ids, in_keys

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

# ``attribute(rows, small)``: the rows re-attributed (see :func:`_reattribute_table`).
Attribute = Callable[["DataFrame", bool], "DataFrame"]

IMPRESSION_KEYS = ("impression_id", "event_time", "event_date", "user_id", "campaign_id")
# What marking needs of a new impression (:func:`mark_new_impressions`).
NEW_IMPRESSION_KEYS = ("impression_id", "event_date", "bid_request_id", "user_id", "campaign_id")
# Who consumes silver/impressions' change feed (:func:`~advertisex.io.dirty_dates.consumed_version`).
NEW_IMPRESSIONS_CONSUMER = "reattribute.impressions"
CLICK_KEYS = ("event_id", "event_time", "event_date", "user_id", "campaign_id", "impression_id")


def _flag(df: DataFrame, pairs: PairKeys | None, ids: IdKeys | None) -> tuple[DataFrame, Column]:
    """``df`` and the condition "this row may be changed by the new events": not attributed
    yet (new), or sharing its user and campaign with a new event (``pairs``), or naming a new
    impression (``ids``). Key sets up to :data:`LITERAL_KEYS` are matched as literals; bigger
    ones are joined to ``df`` as ``_pair``/``_id`` flags (broadcast left joins on the
    distinct keys)."""
    spark = df.sparkSession
    cond = F.col("attribution_kind").isNull()
    if pairs:
        if few_enough(pairs):
            cond = cond | in_keys(A.MATCH_KEYS, pairs)
        else:
            table = spark.createDataFrame(list(set(pairs)), "user_id string, campaign_id string")
            df = df.join(F.broadcast(table.withColumn("_pair", F.lit(True))), list(A.MATCH_KEYS), "left")
            cond = cond | F.coalesce(F.col("_pair"), F.lit(False))
    if ids:
        if few_enough(ids):
            cond = cond | in_ids("impression_id", ids)
        else:
            table = spark.createDataFrame([(i,) for i in set(ids)], "impression_id string")
            df = df.join(F.broadcast(table.withColumn("_id", F.lit(True))), "impression_id", "left")
            cond = cond | F.coalesce(F.col("_id"), F.lit(False))
    return df, cond


def named_click_dates(clicks: DataFrame, ids: DataFrame, *, small: bool,
                      id_values: IdKeys | None = None) -> set[dt.date]:
    """driver-side: the dates of the silver ``clicks`` that name one of ``ids`` (new impressions)
    and are waiting for it: attributed, but not by their ``impression_id``.

    A click attributed by its ``impression_id`` keeps that attribution: silver holds one row
    per impression id, so no later commit brings that impression again. A click not
    attributed yet (inserted since the last re-attribution, e.g. by the click stream running
    beside this one) is re-attributed anyway: its own batch marked its date. Only the others
    can change, and they are usually few, often none. ``small`` ids are broadcast into a
    scan of those clicks; big ones are scanned once against those clicks broadcast (when at
    most :data:`~advertisex.io.lake.SMALL_BATCH_ROWS`), or not at all when no click waits,
    instead of shuffling and de-duplicating all the ids. ``id_values``: the same ids, when
    the caller holds them; few enough of them filter the scan as literals.
    """
    kind = F.col("attribution_kind")
    waiting = clicks.where(
        F.col("impression_id").isNotNull() & kind.isNotNull() & (kind != C.ATTRIBUTION_IMPRESSION_ID)
    ).select("impression_id", "event_date")
    if few_enough(id_values):
        named = waiting.where(in_ids("impression_id", id_values))
    elif small:
        named = waiting.join(F.broadcast(ids.distinct()), "impression_id", "left_semi")
    else:
        count = count_up_to(waiting)
        if count == 0:
            return set()
        if count <= lake.SMALL_BATCH_ROWS:
            named = ids.join(F.broadcast(waiting), "impression_id", "inner").select("event_date")
        else:
            named = waiting.join(ids, "impression_id", "left_semi")
    return distinct_dates(named)


def _new_impressions(spark: SparkSession, cfg: Config, after: int | None, upto: int) -> tuple[DataFrame, int]:
    """:data:`NEW_IMPRESSION_KEYS` of the impressions silver's commits after ``after`` up to
    ``upto`` inserted (materialised: read three times), and the version they reach. Every
    impression counts as new, once, on a first call (``after`` None) and where the change
    feed does not hold the range (a table from before the project recorded it, or a feed
    cleaned up); the feed is switched on then if it was not."""
    table = tables.SILVER_IMPRESSIONS
    path = cfg.table_path(table)

    def keys(since: int | None, version: int) -> tuple[DataFrame, int]:
        return inserted(spark, path, since, version).select(*NEW_IMPRESSION_KEYS).localCheckpoint(), version

    if after is not None:
        try:
            return keys(after, upto)
        except Exception as exc:
            if not missed_changes(exc):
                raise
    if align_table_properties(spark, path, table):
        upto = latest_version(spark, path)
    return keys(None, upto)


def mark_new_impressions(spark: SparkSession, cfg: Config) -> dict[str, int]:
    """Mark what the impressions silver inserted since the last call change: their dates (and,
    for up to :data:`~advertisex.io.lake.SMALL_BATCH_ROWS` of them, their keys) for
    re-attribution, the dates of the clicks waiting for one of them (:func:`named_click_dates`),
    and their bid requests' dates for ``bid_daily``.

    Read from silver/impressions' change data feed after the version the last call reached,
    here rather than in each silver batch: two scans of whole silver tables (the clicks
    waiting, every bid request) once per refresh instead of once per batch, and none on the
    way from bronze to silver.
    """
    upto = latest_version(spark, cfg.table_path(tables.SILVER_IMPRESSIONS))
    after = consumed_version(spark, cfg, NEW_IMPRESSIONS_CONSUMER)
    if upto is None or after == upto:
        return {"new_impressions": 0}
    if after is not None and after > upto:  # the table was created anew: all of it is new
        after = None
    new, upto = _new_impressions(spark, cfg, after, upto)
    size = new.count()
    small = size <= lake.SMALL_BATCH_ROWS
    rows = new.collect() if small else []  # driver-side: ≤ SMALL_BATCH_ROWS short rows
    ids = {r.impression_id for r in rows} if small else None
    dates = {r.event_date for r in rows if r.event_date is not None} if small else distinct_dates(new)
    dirty = [(STAGE_ATTRIBUTION, "impressions", d) for d in dates]
    clicks = read_table(spark, cfg, tables.SILVER_CLICKS)
    if clicks is not None and size:
        named = named_click_dates(clicks, new.select("impression_id"), small=small, id_values=ids)
        dirty += [(STAGE_ATTRIBUTION, "clicks", d) for d in named]
    # bid_daily counts impressions on their bid request's date.
    bids = read_table(spark, cfg, tables.SILVER_BID_REQUESTS)
    if bids is not None and size:
        touched = DT.bid_dates_of_impressions(new, bids, broadcast=size <= lake.PROBE_BATCH_ROWS)
        dirty += [(STAGE_GOLD_BID, "impressions", d) for d in distinct_dates(touched)]
    keys = {(STAGE_ATTRIBUTION, "impressions"): {(r.impression_id, r.user_id, r.campaign_id) for r in rows}}
    record_dirty(spark, cfg, dirty, app_id=NEW_IMPRESSIONS_CONSUMER, version=upto, keys=keys if small else None)
    record_consumed(spark, cfg, NEW_IMPRESSIONS_CONSUMER, upto)
    return {"new_impressions": size}


@dataclass
class Reattributed:
    """What :func:`_reattribute_table` found.

    ``done``: the re-attributed rows with a ``_changed`` flag (local checkpoint). ``rest``:
    the rows left as they are (not read yet; None when every row was re-attributed).
    ``changed_dates``: the dates with a changed row. ``changed_keys``: the changed rows'
    ``(event_date, user_id, campaign_id)``, None when more than :data:`~advertisex.io.lake.SMALL_BATCH_ROWS`.
    """

    done: DataFrame
    rest: DataFrame | None
    changed_dates: set[dt.date]
    changed_keys: list[tuple[Any, ...]] | None


def _reattribute_table(stored: DataFrame, columns: tuple[str, ...], attribute: Attribute, *,
                       pairs: PairKeys | None,
                       ids: IdKeys | None, narrow: bool) -> Reattributed:
    """Re-attribute ``stored`` (some dates of a silver table) with ``attribute(rows, small)``
    and find the rows whose ``columns`` (the attribution) changed.

    With ``narrow``, only the rows :func:`_flag` picks are re-attributed (the others
    cannot change); otherwise every row.
    """
    cols = stored.columns
    rest = None
    if narrow:
        flagged, marked = _flag(stored, pairs, ids)
        candidates = flagged.where(marked).select(*cols)
        rest = flagged.where(~marked).select(*cols)
    else:
        candidates = stored
    # The attribution plan reads its input several times (ids, keys, rows); materialised once,
    # the Delta scan and its file listing run once instead of once per use.
    candidates = candidates.localCheckpoint()
    if candidates.isEmpty():
        # Nothing the new events can change (e.g. a late impression nobody clicked): the
        # attribution plan, which scans the window's impressions, need not run at all.
        return Reattributed(candidates.withColumn("_changed", F.lit(False)), rest, set(), [])
    small = is_small(candidates)
    old = candidates.select("*", *[F.col(c).alias(f"_old_{c}") for c in columns])
    changed = F.lit(False)
    for c in columns:
        changed = changed | ~F.col(c).eqNullSafe(F.col(f"_old_{c}"))
    done = attribute(old, small).select(*cols, changed.alias("_changed")).localCheckpoint()
    changed_rows = done.where("_changed")
    keys = [tuple(r) for r in changed_rows.select("event_date", *A.MATCH_KEYS).distinct()
            .limit(lake.SMALL_BATCH_ROWS + 1).collect()]  # driver-side: at most SMALL_BATCH_ROWS + 1 keys
    if len(keys) > lake.SMALL_BATCH_ROWS:
        return Reattributed(done, rest, distinct_dates(changed_rows), None)
    return Reattributed(done, rest, {k[0] for k in keys}, keys)


def _write_changed(cfg: Config, table: Table, found: Reattributed) -> None:
    """Rewrite the partitions of ``table`` with a changed row: the re-attributed rows plus
    the rows left as they are."""
    out = found.done.drop("_changed")
    if found.rest is not None:
        out = out.unionByName(found.rest)
    dates = found.changed_dates
    replace_partitions(out.where(dates_in("event_date", dates)), cfg, table, dates)


def _windows(cfg: Config) -> dict[str, int]:
    a = cfg.attribution
    return {
        "click_window_minutes": a.click_window_minutes,
        "conversion_window_days": a.conversion_window_days,
        "view_through_window_hours": a.view_through_window_hours,
    }


@dataclass(frozen=True)
class NewImpressions:
    """The new impressions the marks name: their dates, and their keys when known.

    ``narrow``: the keys are known (small batches), so only rows sharing them need
    re-attribution. ``pairs`` / ``ids``: their ``(user_id, campaign_id)`` and ids.
    """

    dates: set[dt.date]
    narrow: bool
    pairs: set[tuple[str | None, str | None]] | None
    ids: set[str | None] | None

    @classmethod
    def of(cls, marks: Marks) -> NewImpressions:
        keys = marks.keys_of(STAGE_ATTRIBUTION, "impressions")  # None: unknown (a big batch)
        return cls(
            dates=marks.dates_of(STAGE_ATTRIBUTION, "impressions"),
            narrow=keys is not None,
            pairs={(u, c) for _, u, c in keys} if keys else None,
            ids={i for i, _, _ in keys} if keys else None,
        )


# Re-attribution rewrites date partitions of silver/clicks and silver/conversions, which the
# silver click stream appends to: an append landing in a partition being rewritten would
# fail the rewrite's commit (or, read before it, be lost from it). In one driver the two
# take turns on this lock; the pipeline runs one driver per lake.
ATTRIBUTED_TABLES = threading.Lock()
# The tables re-attribution keeps attributed.
ATTRIBUTED: tuple[Table, ...] = (tables.SILVER_CLICKS, tables.SILVER_CONVERSIONS)
# Their versions as the last re-attribution in this process left them (table path →
# version): every row attributed. Between re-attributions, the click stream appends rows
# not attributed yet (always on); the quality job validates these versions, not theirs.
_settled: dict[str, int] = {}


def reattribute(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Re-attribute the clicks and conversions that new events can change, and mark for gold
    the dates whose silver rows changed (see the module's docstring)."""
    # Not under the lock: the click stream appends meanwhile, and a click it adds is not
    # attributed yet, so its own marks bring it to the re-attribution below or the next.
    new = mark_new_impressions(spark, cfg)
    with ATTRIBUTED_TABLES:
        summary = {**new, **_reattribute(spark, cfg)}
        for table in ATTRIBUTED:
            version = latest_version(spark, cfg.table_path(table))
            if version is not None:
                _settled[cfg.table_path(table)] = version
        return summary


def settled_version(spark: SparkSession, cfg: Config, table: Table | str) -> int | None:
    """The newest version of ``silver/clicks`` or ``silver/conversions`` (``table``) whose
    every row is attributed: the one the last re-attribution in this process left. Before
    one ran here (always on, the tables may appear after the first refresh; or a lone job),
    the latest version, unless clicks or conversions wait for re-attribution (their marks
    are pending: they landed after the last one, here or in a process that stopped before
    it); then None."""
    path = cfg.table_path(table)
    if path in _settled:
        return _settled[path]
    with ATTRIBUTED_TABLES:  # a click batch inserts its rows and marks them under it: both seen, or neither
        marks = take_dirty(spark, cfg, [STAGE_ATTRIBUTION])
        if marks.dates_of(STAGE_ATTRIBUTION, "clicks") or marks.dates_of(STAGE_ATTRIBUTION, "conversions"):
            return None
        return latest_version(spark, path)


def _reattribute(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    marks = take_dirty(spark, cfg, [STAGE_ATTRIBUTION])
    if not marks.files and not take_dirty(spark, cfg, [STAGE_CONVERSION_ATTRIBUTION]).files:
        return {"click_dates": 0, "conversion_dates": 0}
    new = NewImpressions.of(marks)
    # New impressions count in gold on their own dates.
    record_dirty(spark, cfg, [(STAGE_GOLD_CAMPAIGN, "impressions", d) for d in new.dates])
    impressions = read_or_empty(spark, cfg, tables.SILVER_IMPRESSIONS).select(*IMPRESSION_KEYS)
    summary: dict[str, Any] = {}
    changed_click_dates = _reattribute_clicks(spark, cfg, marks, new, impressions, summary)
    crash_point("reattribution", "silver")
    # Conversions: new ones, those sharing keys with new impressions (post-view) or with
    # changed clicks (post-click), marked by the click step just now.
    conv_marks = take_dirty(spark, cfg, [STAGE_CONVERSION_ATTRIBUTION])
    changed_conv_dates = _reattribute_conversions(spark, cfg, marks, conv_marks, new, impressions, summary)
    clear_dirty(spark, marks.files + conv_marks.files)
    summary["gold_dates_marked"] = len(set(new.dates) | changed_click_dates | changed_conv_dates)
    return summary


def _reattribute_clicks(spark: SparkSession, cfg: Config, marks: Marks, new: NewImpressions,
                        impressions: DataFrame, summary: dict[str, Any]) -> set[dt.date]:
    """Clicks: new ones, and those of the new impressions' dates that share their keys;
    returns the dates with a changed click (marked for gold and for conversions)."""
    windows = _windows(cfg)
    clicks_table = read_table(spark, cfg, tables.SILVER_CLICKS)
    click_dates = set(DT.affected_dates(impression_dates=new.dates,
                                       click_dates=marks.dates_of(STAGE_ATTRIBUTION, "clicks"), **windows).clicks)
    summary["click_dates"] = len(click_dates)
    summary["click_dates_changed"] = 0
    if clicks_table is None or not click_dates:
        return set()
    needs = DT.input_dates(click_dates=click_dates, **windows)
    window_imps = impressions.where(dates_in("event_date", needs.impressions))

    def attribute_clicks(clicks: DataFrame, small: bool) -> DataFrame:
        # Impressions named by a click but outside the window dates (silver holds one row
        # per impression_id, so the union has no duplicates).
        named_ids = clicks.select("impression_id").where(F.col("impression_id").isNotNull()).distinct()
        named_imps = impressions.where(f"NOT ({dates_in('event_date', needs.impressions)})").join(
            F.broadcast(named_ids) if small else named_ids, "impression_id", "left_semi")
        return A.attribute_clicks(clicks, window_imps.unionByName(named_imps),
                                  click_window_minutes=cfg.attribution.click_window_minutes, small=small)

    found = _reattribute_table(clicks_table.where(dates_in("event_date", click_dates)), A.CLICK_ATTRIBUTION_COLUMNS,
                               attribute_clicks, pairs=new.pairs, ids=new.ids, narrow=new.narrow)
    changed = found.changed_dates
    if changed:
        # Conversions after a changed click, of its user and campaign, may change.
        conv_dates = DT.affected_dates(click_dates=changed, **windows).conversions
        keys = found.changed_keys
        record_dirty(
            spark, cfg,
            [(STAGE_CONVERSION_ATTRIBUTION, "clicks", d) for d in conv_dates]
            + [(STAGE_GOLD_CAMPAIGN, "clicks", d) for d in changed],
            keys=None if keys is None else {(STAGE_CONVERSION_ATTRIBUTION, "clicks"): {(u, c) for _, u, c in keys}},
        )
        _write_changed(cfg, tables.SILVER_CLICKS, found)
    summary["click_dates_changed"] = len(changed)
    return changed


def _reattribute_conversions(spark: SparkSession, cfg: Config, marks: Marks, conv_marks: Marks,
                             new: NewImpressions, impressions: DataFrame, summary: dict[str, Any]) -> set[dt.date]:
    """Conversions: new ones, and those sharing keys with new impressions (post-view) or
    with changed clicks (post-click); returns the dates with a changed conversion."""
    a = cfg.attribution
    summary["conversion_dates"] = 0
    summary["conversion_dates_changed"] = 0
    conversions_table = read_table(spark, cfg, tables.SILVER_CONVERSIONS)
    if conversions_table is None:
        return set()
    conversion_dates = (
        DT.post_view_dates(new.dates, view_through_window_hours=a.view_through_window_hours)
        | marks.dates_of(STAGE_ATTRIBUTION, "conversions")
        | conv_marks.dates_of(STAGE_CONVERSION_ATTRIBUTION, "clicks")
    )
    summary["conversion_dates"] = len(conversion_dates)
    if not conversion_dates:
        return set()
    click_pairs = conv_marks.keys_of(STAGE_CONVERSION_ATTRIBUTION, "clicks")
    narrow = new.narrow and click_pairs is not None
    pairs = ((new.pairs or set()) | set(click_pairs)) or None if narrow else None
    needs = DT.input_dates(conversion_dates=conversion_dates, **_windows(cfg))
    clicks = read_or_empty(spark, cfg, tables.SILVER_CLICKS)

    def attribute_conversions(conversions: DataFrame, small: bool) -> DataFrame:
        return A.attribute_conversions(
            conversions,
            clicks.where(dates_in("event_date", needs.clicks)),
            impressions.where(dates_in("event_date", needs.impressions)),
            conversion_window_days=a.conversion_window_days,
            view_through_window_hours=a.view_through_window_hours,
            small=small,
        )

    found = _reattribute_table(conversions_table.where(dates_in("event_date", conversion_dates)),
                               A.CONVERSION_ATTRIBUTION_COLUMNS, attribute_conversions, pairs=pairs, ids=None,
                               narrow=narrow)
    changed = found.changed_dates
    if changed:
        record_dirty(spark, cfg, [(STAGE_GOLD_CAMPAIGN, "conversions", d) for d in changed])
        _write_changed(cfg, tables.SILVER_CONVERSIONS, found)
    summary["conversion_dates_changed"] = len(changed)
    return changed
