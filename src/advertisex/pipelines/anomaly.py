"""Job ``anomaly``: the anomaly rules of docs/CONTRACT.md §6, their findings in ``quality/anomalies``,
each open one posted to Alertmanager and counted in ``advertisex_anomalies_open``.

Which dates are judged, and what is read (it stays cheap): the dates gold recomputed and
published since the last run (gold hands them on as dirty-date marks of the stage
``anomaly``; a date its audit withholds follows once published) or, on a first run
(no ``quality/anomalies`` yet), every date gold holds; at most the newest
``anomaly.evaluate_days`` of them. Each date is judged against the days before it, so a run
reads ``gold/campaign_hourly`` for those dates and up to ``max_days`` before them (a row per
campaign and hour) and, for ``quarantine_rate``, the same ``event_date`` partitions of the
bronze tables (by ingestion hour: the bronze rows ingested in the last
``baseline_days`` + 2 days, the day before and today judged, which scans bronze whole).
A rerun with nothing recomputed judges no hour again. A finding on a later date is not
judged again when an earlier date changes: its baseline moved by one of 7-14 values of a
median at most. ``missing_partition`` reads every date's total of ``gold/campaign_daily``;
``stale_table`` the last commits of the watched tables.

Findings are upserted by their key (:mod:`advertisex.transforms.findings`): a rerun writes
nothing, a finding that stops holding is resolved. Every open finding is posted on every run
(Alertmanager notifies it once while it holds); one resolved in this run is posted as ended.
A rule switched off resolves its open findings.

Bad input never fails the run: a rule without its table, or without data or history, stays
silent and says why in the job's summary and log; an unexpected error in one rule is logged
and reported there, and the other rules still run (the checks are advisory; the data
pipeline must not stop for them).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

from advertisex import contract, tables
from advertisex.config import Config
from advertisex.io import anomalies as io
from advertisex.io.alerts import SEVERITIES, Alert, post_alerts
from advertisex.io.dirty_dates import STAGE_ANOMALY, clear_dirty, take_dirty
from advertisex.io.lake import distinct_dates, read_table
from advertisex.monitoring.metrics import ANOMALIES_OPEN
from advertisex.pipelines.parallel import run_concurrently
from advertisex.transforms import anomalies as A
from advertisex.transforms import dates as DT
from advertisex.transforms.findings import OPEN, RESOLVED, finding_key, reconcile

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
BRONZE = {contract.SOURCE_IMPRESSIONS: tables.BRONZE_IMPRESSIONS, contract.SOURCE_CLICK_EVENTS:
          tables.BRONZE_CLICK_EVENTS, contract.SOURCE_BID_REQUESTS: tables.BRONZE_BID_REQUESTS}


@dataclass
class Check:
    """One rule's run: its evaluations (a DataFrame, or rows), which stored findings it judged
    again (``in_scope``), and why it could not run (``note``)."""

    frame: DataFrame | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    in_scope: Callable[[Mapping[str, Any]], bool] = lambda _: False
    note: str | None = None


def run(spark: SparkSession, cfg: Config, *, now: dt.datetime | None = None, **_: Any) -> dict[str, Any]:
    """Judge the dates gold recomputed (module docstring), store the findings, alert, export.

    Args:
        spark: the session.
        cfg: the configuration (``anomaly.*``, ``alerting.alertmanager_url``).
        now: the evaluation instant (default: now, UTC).

    Returns:
        The summary: dates judged, one line per rule, findings open, opened, resolved, posted.
    """
    marks = take_dirty(spark, cfg, [STAGE_ANOMALY])
    if not cfg.anomaly.enabled:
        clear_dirty(spark, marks.files)
        return {"skipped": "anomaly.enabled=false"}
    now = now or dt.datetime.now(dt.UTC)
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    stored_table = read_table(spark, cfg, tables.ANOMALIES)
    dates, dates_note = _dates_to_judge(spark, cfg, marks.dates_of(STAGE_ANOMALY, "gold"),
                                        first_run=stored_table is None)
    stored = io.read_findings(stored_table, dates)
    # The rules are independent: they run at once (most of a small rule's time is driver-side latency).
    builders = _builders(spark, cfg, dates, stored, now)
    judged = run_concurrently(spark, *[partial(_judge, rule, enabled, build, cfg)
                                       for rule, (enabled, build) in builders.items()])
    checks = {rule: check for rule, (check, _, _) in zip(builders, judged, strict=True)}
    notes = {rule: note for rule, (_, _, note) in zip(builders, judged, strict=True)}
    fired = [f for _, rule_fired, _ in judged for f in rule_fired]
    changes = reconcile(stored, fired, lambda r: r["rule"] in checks and checks[r["rule"]].in_scope(r), now=now,
                        run_id=run_id)
    io.write_findings(spark, cfg, changes, create=stored_table is None)
    clear_dirty(spark, marks.files)

    after = {finding_key(r): r for r in stored} | {finding_key(r): r for r in changes}
    open_now = [r for r in after.values() if r["status"] == OPEN]
    ended = [r for r in changes if r["status"] == RESOLVED]
    hold = dt.timedelta(minutes=cfg.anomaly.alert_hold_minutes)
    posted = post_alerts(cfg, [*(_alert(r, hold) for r in open_now), *(_alert(r, dt.timedelta(0)) for r in ended)],
                         now=now)
    for rule in A.RULES:
        for severity in SEVERITIES:
            ANOMALIES_OPEN.labels(rule=rule, severity=severity).set(
                sum(1 for r in open_now if r["rule"] == rule and r["severity"] == severity))
    for rule, note in notes.items():
        log.info("anomaly %s: %s", rule, note)
    return {"dates": dates_note, **notes, "open": len(open_now),
            "opened": sum(1 for r in changes if r["status"] == OPEN), "resolved": len(ended), "posted": posted}


def _dates_to_judge(spark: SparkSession, cfg: Config, marked: set[dt.date], *,
                    first_run: bool) -> tuple[list[dt.date], str]:
    """The dates to judge (module docstring) and how to say so."""
    dates = set(marked)
    hourly = read_table(spark, cfg, tables.GOLD_CAMPAIGN_HOURLY)
    if first_run and hourly is not None:
        dates |= distinct_dates(hourly)  # driver-side: gold's dates (partition values)
    ordered = sorted(dates)
    keep = ordered[-cfg.anomaly.evaluate_days:] if cfg.anomaly.evaluate_days > 0 else []
    if not keep:
        return [], "none (gold recomputed no date)"
    note = f"{len(keep)} ({keep[0]} to {keep[-1]})"
    if len(keep) < len(ordered):
        log.warning("anomaly: %d older recomputed dates not judged (anomaly.evaluate_days=%d)",
                    len(ordered) - len(keep), cfg.anomaly.evaluate_days)
        note += f"; {len(ordered) - len(keep)} older not judged (anomaly.evaluate_days)"
    return keep, note


Builder = Callable[[], Check]


def _builders(spark: SparkSession, cfg: Config, dates: list[dt.date], stored: list[dict[str, Any]],
              now: dt.datetime) -> dict[str, tuple[bool, Builder]]:
    """Each rule: whether it is on, and how to build its :class:`Check`."""
    a = cfg.anomaly
    return {
        A.IMPRESSIONS_DROP: (a.impressions_drop.enabled, lambda: _drop(spark, cfg, dates, stored, now)),
        A.CTR_SPIKE: (a.ctr_spike.enabled, lambda: _ctr(spark, cfg, dates, stored)),
        A.QUARANTINE_RATE: (a.quarantine_rate.enabled, lambda: _quarantine(spark, cfg, dates, stored, now)),
        A.STALE_TABLE: (a.stale_table.enabled, lambda: _stale(spark, cfg, now)),
        A.MISSING_PARTITION: (a.missing_partition.enabled, lambda: _missing(spark, cfg)),
    }


def _judge(rule: str, enabled: bool, build: Builder, cfg: Config) -> tuple[Check, list[dict[str, Any]], str]:
    """One rule's run: its check, the evaluations that fired, and the line saying what it judged.

    A rule switched off judges every stored finding of its own (they resolve). A rule that fails
    judges none (they stay as they are); the checks are advisory, so the error is logged and
    reported, and the other rules and the pipeline go on.
    """
    if not enabled:
        return Check(in_scope=lambda _: True), [], f"off (anomaly.{rule}.enabled=false)"
    try:
        check = build()
        fired, note = _collect(rule, check, cfg)
    except Exception as exc:  # noqa: BLE001 - advisory checks: see the docstring
        log.exception("anomaly %s could not run", rule)
        return Check(), [], f"error: {type(exc).__name__}: {exc}".splitlines()[0]
    return check, fired, note


def _collect(rule: str, check: Check, cfg: Config) -> tuple[list[dict[str, Any]], str]:
    """driver-side: a rule's fired evaluations (few) and the line saying what it judged."""
    if check.note is not None:
        return [], check.note
    if check.frame is not None:
        # One job: per status, how many, and the fired evaluations themselves.
        grouped = check.frame.groupBy("status").agg(
            F.count(F.lit(1)).alias("n"),
            F.collect_list(F.when(F.col("status") == A.FIRED, F.struct(*A.EVALUATION_COLUMNS))).alias("fired"),
        ).collect()  # driver-side: at most six rows, the fired evaluations in them
        return [f.asDict() for r in grouped for f in r.fired], _note(rule, {r.status: r.n for r in grouped}, cfg)
    counts: dict[str, int] = {}
    for r in check.rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return [r for r in check.rows if r["status"] == A.FIRED], _note(rule, counts, cfg)


_UNITS = {A.IMPRESSIONS_DROP: "hours", A.CTR_SPIKE: "campaign-hours", A.QUARANTINE_RATE: "source-hours",
          A.STALE_TABLE: "tables", A.MISSING_PARTITION: "dates"}


def _note(rule: str, counts: Mapping[str, int], cfg: Config) -> str:
    """What a rule judged, in words; a silent rule says why."""
    judged = counts.get(A.FIRED, 0) + counts.get(A.OK, 0)
    parts = [f"{counts.get(A.FIRED, 0)} fired", f"{judged} {_UNITS[rule]} judged"]
    why = {A.BELOW_FLOOR: "under the volume floor", A.NO_HISTORY: "without enough earlier days",
           A.NOT_EXPECTED: "with no live feed (anomaly.stale_table.expected lists feeds to watch anyway)",
           A.UNAVAILABLE: "missing"}
    parts += [f"{counts[s]} {text}" for s, text in why.items() if counts.get(s)]
    if judged:
        return ", ".join(parts)
    if set(counts) == {A.NO_HISTORY}:
        days = {A.IMPRESSIONS_DROP: cfg.anomaly.impressions_drop.min_days,
                A.CTR_SPIKE: cfg.anomaly.ctr_spike.min_history_days,
                A.QUARANTINE_RATE: cfg.anomaly.quarantine_rate.min_history_days}.get(rule)
        return f"silent: too little history (none has {days} earlier days with data); " + ", ".join(parts)
    return "silent: " + (", ".join(parts[2:]) or "nothing to judge")


def _flagged(spark: SparkSession, stored: list[dict[str, Any]], rule: str, key: str) -> DataFrame:
    """The hours ``rule``'s open findings flag (``key``, ``event_date``, ``event_hour``)."""
    rows = [(r[key], r["event_date"], r["event_hour"]) for r in stored if r["rule"] == rule and r["status"] == OPEN]
    return spark.createDataFrame(rows, f"{key} string, event_date date, event_hour int")


def _window(df: DataFrame, dates: list[dt.date], days: int) -> DataFrame:
    return df.where(F.col("event_date").between(DT.shift(dates[0], -days), dates[-1]))


def _on_dates(rule: str, dates: list[dt.date]) -> Callable[[Mapping[str, Any]], bool]:
    judged = set(dates)
    return lambda r: r["rule"] == rule and r["event_date"] in judged


def _hourly(spark: SparkSession, cfg: Config, dates: list[dt.date]) -> tuple[DataFrame | None, str | None]:
    hourly = read_table(spark, cfg, tables.GOLD_CAMPAIGN_HOURLY)
    if hourly is None:
        return None, f"silent: {tables.GOLD_CAMPAIGN_HOURLY.name} does not exist yet"
    if not dates:
        return None, "silent: no date to judge (gold recomputed none)"
    return hourly, None


def _drop(spark: SparkSession, cfg: Config, dates: list[dt.date], stored: list[dict[str, Any]],
          now: dt.datetime) -> Check:
    p = cfg.anomaly.impressions_drop
    hourly, note = _hourly(spark, cfg, dates)
    if hourly is None:
        return Check(note=note)
    series = A.impressions_series(_window(hourly, dates, p.max_days), now=now, settle_minutes=p.settle_minutes)
    frame = A.impressions_drop(series, dates=dates, flagged=_flagged(spark, stored, A.IMPRESSIONS_DROP, "campaign_id"),
                               params=p)
    return Check(frame=frame, in_scope=_on_dates(A.IMPRESSIONS_DROP, dates))


def _ctr(spark: SparkSession, cfg: Config, dates: list[dt.date], stored: list[dict[str, Any]]) -> Check:
    p = cfg.anomaly.ctr_spike
    hourly, note = _hourly(spark, cfg, dates)
    if hourly is None:
        return Check(note=note)
    frame = A.ctr_spike(_window(hourly, dates, p.trailing_days), dates=dates,
                        flagged=_flagged(spark, stored, A.CTR_SPIKE, "campaign_id"), params=p)
    return Check(frame=frame, in_scope=_on_dates(A.CTR_SPIKE, dates))


def _quarantine(spark: SparkSession, cfg: Config, dates: list[dt.date], stored: list[dict[str, Any]],
                now: dt.datetime) -> Check:
    p = cfg.anomaly.quarantine_rate
    if p.hour == "ingestion":  # the hours just ingested, whatever dates gold recomputed
        dates = [now.date() - dt.timedelta(days=1), now.date()]
    if not dates:
        return Check(note="silent: no date to judge (gold recomputed none)")
    counts, read = None, []
    for source, table in BRONZE.items():
        bronze = read_table(spark, cfg, table)
        if bronze is None:
            continue
        if p.hour == "event":
            bronze = _window(bronze, dates, p.baseline_days)
        else:
            bronze = bronze.where(F.col("ingested_at") >= F.lit(dates[0] - dt.timedelta(days=p.baseline_days)))
        one = A.quarantine_counts(bronze, source=source, hour=p.hour)
        counts = one if counts is None else counts.unionByName(one)
        read.append(source)
    if counts is None:
        return Check(note="silent: no bronze table exists yet")
    frame = A.quarantine_rate(counts, dates=dates, flagged=_flagged(spark, stored, A.QUARANTINE_RATE, "source"),
                              params=p)
    judged = set(dates)
    return Check(frame=frame, in_scope=lambda r: (r["rule"] == A.QUARANTINE_RATE and r["source"] in read
                                                  and r["event_date"] in judged))


def _missing(spark: SparkSession, cfg: Config) -> Check:
    daily = read_table(spark, cfg, tables.GOLD_CAMPAIGN_DAILY)
    if daily is None:
        return Check(note=f"silent: {tables.GOLD_CAMPAIGN_DAILY.name} does not exist yet")
    newest = daily.agg(F.max("event_date")).first()[0]  # driver-side: one value (partition column)
    if newest is None:
        return Check(note=f"silent: {tables.GOLD_CAMPAIGN_DAILY.name} holds no date")
    since = newest - dt.timedelta(days=cfg.anomaly.missing_partition.lookback_days)
    return Check(frame=A.missing_partition(daily.select("event_date", "impressions"), since=since),
                 in_scope=lambda r: r["rule"] == A.MISSING_PARTITION and r["event_date"] >= since)


def _stale(spark: SparkSession, cfg: Config, now: dt.datetime) -> Check:
    p = cfg.anomaly.stale_table
    rows = A.stale_tables([io.delivery(spark, cfg, name) for name in p.tables], now=now, params=p)
    checked = {r["table"] for r in rows if r["status"] != A.UNAVAILABLE}
    return Check(rows=rows, in_scope=lambda r: r["rule"] == A.STALE_TABLE and r["table"] in checked)


def _alert(r: Mapping[str, Any], lasts: dt.timedelta) -> Alert:
    """A finding as Alertmanager receives it (docs/CONTRACT.md §5 labels; hour and source beside them)."""
    labels = {"event_hour": str(r["event_hour"])} if r.get("event_hour") is not None else {}
    if r.get("source"):
        labels["source"] = r["source"]
    return Alert(r["rule"], r["severity"], r["table"], r["summary"],
                 event_date=r["event_date"].isoformat() if r.get("event_date") else "",
                 campaign_id=r.get("campaign_id"), labels=labels, lasts=lasts)
