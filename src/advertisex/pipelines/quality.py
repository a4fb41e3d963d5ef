"""Job ``quality``: the silver suites on the partitions that changed, reconciliation, and the
verdict of the run (docs/CONTRACT.md §4, §6).

Runs after ``gold``. For each silver table it reads which ``event_date`` partitions changed
since the version last validated (the Delta log's commits: a compaction changes none),
profiles them in one Spark pass and validates the profile with the table's Great
Expectations checkpoint (:mod:`advertisex.quality`). Then it reconciles each source's new
bronze batches with silver and quarantine (:mod:`advertisex.quality.reconcile`). Every
result goes to ``quality/results`` (the run's in one commit), failures to Alertmanager and
``advertisex_quality_failures``.

Finally it looks at the open findings (a finding's latest result failed): they are posted
to Alertmanager again so they keep firing while they hold; ``advertisex_quality_failures``
is set to their count per table and severity (0 for none, for every table the checks
cover: a run that validated nothing new still reports what is open, and a repaired
finding drops to 0); and if any is critical — including a gold partition the ``gold`` job
withheld — the job raises :class:`~advertisex.errors.DataQualityError` (``pipeline
--once`` exits 3), after everything else ran. A check that cannot run (a table that does
not exist yet, no history) says so and never fails the run.

Results older versions kept in ``_pipeline/quality_results`` are neither read nor
written; such a lake's silver partitions are all validated on the first run.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from advertisex.config import Config
from advertisex.errors import DataQualityError
from advertisex.io.alerts import Alert, post_alerts
from advertisex.io.delta import commits_since, last_commit
from advertisex.io.lake import distinct_dates, read_table
from advertisex.monitoring import metrics as M
from advertisex.pipelines.parallel import run_concurrently
from advertisex.pipelines.reattribute import ATTRIBUTED, settled_version
from advertisex.quality import checks as K
from advertisex.quality import reconcile as R
from advertisex.quality.profile import NULL_PARTITION, Profile, profile
from advertisex.quality.results import open_findings, store_results, validated_versions
from advertisex.quality.validation import new_run_id, validate
from advertisex.quality.wap import known_campaigns

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
JOB = "quality"
SILVER_SUITES = tuple(s for s in K.SUITES if s.table.startswith("silver/"))


def changed_dates(spark: SparkSession, cfg: Config, path: str, since: int | None,
                  version: int) -> set[dt.date | None] | None:
    """driver-side: the ``event_date`` partitions whose data changed after version ``since``
    up to ``version`` (None for the null partition); None when the log cannot tell (then
    every partition is checked)."""
    commits = commits_since(spark, path, since)
    if commits is None:
        return None
    return {dt.date.fromisoformat(a["event_date"]) if a.get("event_date") else None
            for c in commits if c["version"] <= version for a in c["adds"] + c["removes"]}


def validate_silver(spark: SparkSession, cfg: Config, *, since: Mapping[str, int], run_id: str,
                    known: list[str] | None, now: dt.datetime | None,
                    seconds: dict[str, float]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Validate the partitions of each silver table changed since its version in ``since``
    (none: all), up to its latest version (for the attributed tables, the newest whose rows
    are all attributed; none while rows wait for re-attribution). The tables are profiled at
    once (a small table's profile is mostly driver-side latency), then validated in turn; the
    time spent profiling and in GX is added to ``seconds``.

    Returns:
        ``({table: what was done}, result rows)``; the rows are not stored yet (the caller
        stores the run's rows in one commit).
    """
    t0 = time.monotonic()
    profiled = run_concurrently(spark, *[
        partial(_profile_silver, spark, cfg, suite, since=since.get(suite.table), known=known, now=now)
        for suite in SILVER_SUITES])
    t1 = time.monotonic()
    done: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    for suite, (what, prof, version) in zip(SILVER_SUITES, profiled, strict=True):
        done[suite.table] = what
        if prof is not None:
            validate(spark, cfg, prof, run_id=run_id, table_version=version, sink=rows)
    seconds["profile"] += t1 - t0
    seconds["gx"] += time.monotonic() - t1
    return done, rows


def _profile_silver(spark: SparkSession, cfg: Config, suite: K.Suite, *, since: int | None,
                    known: list[str] | None, now: dt.datetime | None) -> tuple[str, Profile | None, int | None]:
    """driver-side: the profile of ``suite``'s partitions to validate (:func:`validate_silver`)
    and the table version it was taken of, or none; and what was done, in words."""
    path = cfg.table_path(suite.table)
    if read_table(spark, cfg, suite.table) is None:
        return "cannot run: the table does not exist yet", None, None
    if suite.table in {t.name for t in ATTRIBUTED}:
        # Its own version, never one read before it: a re-attribution ending meanwhile would
        # leave an older one, whose rows are not all attributed yet.
        version = settled_version(spark, cfg, suite.table)
        if version is None:
            return "rows wait for re-attribution: validated after it", None, None
    else:
        version = int(last_commit(spark, path).version)
    if since == version:
        return f"version {version} validated before", None, None
    df = spark.read.format("delta").option("versionAsOf", version).load(path)
    dates = changed_dates(spark, cfg, path, since, version)
    if dates is None:
        dates = {*distinct_dates(df), None}
    if not dates:
        return f"no data changed up to version {version}", None, None
    prof = profile(df, suite, dates, known_campaigns=known, now=now, freshness_hours=cfg.quality.freshness_hours)
    return f"{len(prof.values)} partition(s) of version {version}", prof, version


def reconcile_sources(spark: SparkSession, cfg: Config, *, since: Mapping[str, int], run_id: str,
                      open_batches: set[tuple[str, str]]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Reconcile each source's bronze batches silver has read since the last reconciled
    version in ``since`` (by bronze table), and those that failed before. The sources' Spark work runs at once (a small
    batch's is mostly driver-side latency); their validations then run in turn (one GX
    checkpoint, bound to one run at a time).

    Returns:
        ``({source: what was done}, result rows)``; the rows are not stored yet (as for
        :func:`validate_silver`).
    """
    measured = run_concurrently(spark, *[
        partial(_reconcile_source, spark, cfg, source, since.get(source.bronze.name), open_batches)
        for source in R.SOURCES])
    done: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    for source, (why_not, prof, version) in zip(R.SOURCES, measured, strict=True):
        if prof is None:
            done[source.name] = why_not
            continue
        validate(spark, cfg, prof, run_id=run_id, table_version=version,
                 tables={tag: source.bronze.name for tag in prof.values}, sink=rows)
        done[source.name] = f"{len(prof.values)} batch(es)"
    return done, rows


def _reconcile_source(spark: SparkSession, cfg: Config, source: R.Source, since: int | None,
                      open_batches: set[tuple[str, str]]) -> tuple[str, Profile | None, int | None]:
    """driver-side: ``source``'s reconciliation profile of its batches after bronze version
    ``since`` and its open ones, with the bronze version it goes up to; or why there is none."""
    if read_table(spark, cfg, source.bronze) is None:
        return "cannot run: no bronze table yet", None, None
    upto = R.silver_read_upto(spark, cfg, source.name)
    if upto is None:
        return "cannot run: silver has not read this source yet", None, None
    batches, last = R.new_batches(spark, cfg, source, since, upto)
    for table, tag in open_batches:
        if table == source.bronze.name:
            batches.setdefault(tag, set())
    prof = R.reconcile(spark, cfg, source, batches)
    if prof is None or not prof.values:
        return "no new batch silver has read", None, None
    return "", prof, last if last is not None else since


def run(spark: SparkSession, cfg: Config, *, now: dt.datetime | None = None, **_: Any) -> dict[str, Any]:
    """Validate silver's changed partitions, reconcile new bronze batches, re-post open findings.

    Args:
        spark: the session.
        cfg: the configuration.
        now: the time the freshness checks measure at (default: now).

    Returns:
        What was checked per table and source, the time the silver suites took (profiling,
        GX), reconciliation and storing the results, and the counts of open findings.

    Raises:
        DataQualityError: a critical finding is open (after every check ran and was stored).
    """
    run_id = new_run_id(JOB)
    known = known_campaigns(spark, cfg)
    # Silver's and the bronze tables' last validated versions in one read (no result is stored before the end).
    versions = validated_versions(spark, cfg, [*(s.name for s in SILVER_SUITES), K.RECONCILIATION.name])
    summary: dict[str, Any] = {}
    seconds = {"profile": 0.0, "gx": 0.0}
    silver, rows = validate_silver(spark, cfg, since=versions, run_id=run_id, known=known, now=now, seconds=seconds)
    summary.update(silver)
    t0 = time.monotonic()
    before = open_findings(spark, cfg)
    open_batches = {(f["table"], f["partition"]) for f in before if f["suite"] == K.RECONCILIATION.name}
    summary["reconciliation"], got = reconcile_sources(spark, cfg, since=versions, run_id=run_id,
                                                       open_batches=open_batches)
    rows += got
    t1 = time.monotonic()
    store_results(spark, cfg, rows)  # the run's results in one commit (each a small Delta write otherwise)
    summary["silver_seconds"] = {k: round(v, 2) for k, v in seconds.items()}
    summary["reconciliation_seconds"] = round(t1 - t0, 2)
    summary["store_seconds"] = round(time.monotonic() - t1, 2)
    findings = open_findings(spark, cfg)
    fresh = {(r["table"], r["partition"], r["expectation"]) for r in rows}
    post_alerts(cfg, [_alert(f) for f in findings if (f["table"], f["partition"], f["expectation"]) not in fresh])
    critical = [f for f in findings if f["severity"] == K.CRITICAL]
    set_failure_gauges(findings)
    summary.update({"results_stored": len(rows), "open_warnings": len(findings) - len(critical),
                    "open_critical": len(critical)})
    for f in findings:
        log.warning("quality %s: %s %s %s failed (%s)", f["severity"], f["table"], f["partition"], f["expectation"],
                    f["note"])
    if critical:
        names = "; ".join(f"{f['table']} {f['partition']} {f['expectation']}" for f in critical[:3])
        raise DataQualityError(f"{len(critical)} critical data-quality check(s) failed: {names}")
    return summary


def set_failure_gauges(findings: list[dict[str, Any]]) -> None:
    """``advertisex_quality_failures{table,severity}``: the open findings of every table the
    checks cover (silver and gold suites, the bronze tables reconciled), 0 where none is open."""
    covered = {s.table for s in K.SUITES} | {source.bronze.name for source in R.SOURCES}
    for table in sorted(covered | {f["table"] for f in findings}):
        for severity in K.SEVERITIES:
            M.QUALITY_FAILURES.labels(table=table, severity=severity).set(
                sum(1 for f in findings if f["table"] == table and f["severity"] == severity))


def _alert(finding: dict[str, Any]) -> Alert:
    """An open finding posted again, so it keeps firing while it holds."""
    by_date = finding["suite"] != K.RECONCILIATION.name
    checks = {c.name: c for s in K.ALL_SUITES if s.name == finding["suite"] for c in s.checks}
    described = checks[finding["expectation"]].description if finding["expectation"] in checks else (
        finding["expectation"])
    where = finding["partition"] if by_date else f"batch {finding['partition']}"
    return Alert(finding["expectation"], finding["severity"], finding["table"],
                 f"{finding['table']} {where}: expected {described} ({finding['expected']}); "
                 f"seen {finding['note'] or finding['observed_value']}",
                 event_date=finding["partition"] if by_date and finding["partition"] != NULL_PARTITION else "",
                 labels={} if by_date else {"ingest_batch": finding["partition"]})
