"""Job ``quality``: Great Expectations suites on the gold tables.

Each expectation carries a severity. A failed ``critical`` expectation means gold is
wrong (a duplicate key, a negative count, a null key) and makes ``pipeline --once`` exit
with code 3 (docs/CONTRACT.md §4); a failed ``warning`` is reported but does not fail the run
(e.g. a CTR above 1, possible when clicks count on their own date). Results are
appended to ``_pipeline/quality_results`` (:data:`advertisex.tables.QUALITY_RESULTS`)
for dashboards and history.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

from advertisex import tables
from advertisex.config import Config
from advertisex.errors import DataQualityError
from advertisex.io.delta import commit_metadata, last_commit
from advertisex.io.lake import read_table
from advertisex.monitoring import metrics as M
from advertisex.tables import Table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
RESULTS = tables.QUALITY_RESULTS
COUNT_COLUMNS = ("impressions", "clicks", "unattributed_clicks", "conversions", "view_through_conversions")


def _suites() -> dict[Table, list[Any]]:
    import great_expectations as gx
    from great_expectations.expectations.metadata_types import FailureSeverity

    E = gx.expectations
    crit, warn = FailureSeverity.CRITICAL, FailureSeverity.WARNING
    campaign = [
        E.ExpectColumnValuesToNotBeNull(column="event_date", severity=crit),
        E.ExpectColumnValuesToNotBeNull(column="campaign_id", severity=crit),
        E.ExpectCompoundColumnsToBeUnique(column_list=["event_date", "campaign_id"], severity=crit),
        *[E.ExpectColumnValuesToBeBetween(column=c, min_value=0, severity=crit) for c in COUNT_COLUMNS],
        E.ExpectColumnValuesToBeBetween(column="spend_micros", min_value=0, severity=crit),
        E.ExpectColumnValuesToBeBetween(column="conversion_value", min_value=0, severity=crit),
        E.ExpectColumnValuesToBeBetween(column="ctr", min_value=0, max_value=1, mostly=0.999, severity=warn),
        E.ExpectColumnValuesToBeBetween(column="cvr", min_value=0, max_value=1, mostly=0.999, severity=warn),
        E.ExpectColumnValuesToNotBeNull(column="campaign_name", mostly=0.95, severity=warn),
    ]
    bids = [
        E.ExpectColumnValuesToNotBeNull(column="event_date", severity=crit),
        E.ExpectColumnValuesToNotBeNull(column="exchange", severity=crit),
        E.ExpectCompoundColumnsToBeUnique(column_list=["event_date", "exchange"], severity=crit),
        *[E.ExpectColumnValuesToBeBetween(column=c, min_value=0, severity=crit)
          for c in ("bid_requests", "bids", "wins", "impressions_matched")],
        E.ExpectColumnValuesToBeBetween(column="win_rate", min_value=0, max_value=1, severity=warn),
    ]
    return {tables.GOLD_CAMPAIGN_DAILY: campaign, tables.GOLD_BID_DAILY: bids}


# A gold table of at most this many rows is validated by GX's pandas engine in the driver,
# a bigger one by GX's Spark engine.
PANDAS_MAX_ROWS = 200_000


def validate(table: Table, df: DataFrame, expectations: list[Any], *,
             pandas_max_rows: int | None = None) -> list[dict[str, Any]]:
    """Run ``expectations`` on ``df`` with an ephemeral GX context; one result dict per expectation.

    GX's Spark engine runs at least one Spark job per metric (about a hundred for the
    campaign suite), which for a small table is seconds of job overhead and no work. So a
    table of at most ``pandas_max_rows`` rows (default :data:`PANDAS_MAX_ROWS`) is fetched
    in one Spark job (``limit(n + 1)``, which also tells whether it is that small) and
    validated by GX's pandas engine; a bigger one by the Spark engine, where it lies. Both
    engines evaluate the same expectations with the same results (tested).
    """
    import great_expectations as gx

    limit = PANDAS_MAX_ROWS if pandas_max_rows is None else pandas_max_rows
    head = df.limit(limit + 1).toPandas() if limit > 0 else None  # driver-side: ≤ limit + 1 gold rows, validated there
    context = gx.get_context(mode="ephemeral")
    if head is not None and len(head) <= limit:
        data: Any = head
        source = context.data_sources.add_pandas(name="lake")
        log.info("quality %s: GX pandas engine (%d rows)", table.name, len(head))
    else:
        data = df
        source = context.data_sources.add_spark(name="lake")
        log.info("quality %s: GX Spark engine", table.name)
    asset = source.add_dataframe_asset(name=table.name.replace("/", "_"))
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": data})
    suite = context.suites.add(gx.ExpectationSuite(name=table.name.replace("/", "_"), expectations=expectations))
    result = batch.validate(suite)
    out = []
    for r in result.results:
        cfg = r.expectation_config
        out.append(
            {
                "table": table.name,
                "expectation": cfg.type,
                "kwargs": json.dumps({k: v for k, v in cfg.kwargs.items() if k != "batch_id"}, default=str),
                "severity": str(getattr(cfg, "severity", "critical")).split(".")[-1].lower(),
                "success": bool(r.success),
                "unexpected_count": int((r.result or {}).get("unexpected_count") or 0),
            }
        )
    return out


def _version(spark: SparkSession, cfg: Config, table: Table) -> int:
    return int(last_commit(spark, cfg.table_path(table)).version)




VALIDATED_PREFIX = "advertisex.quality.validated="


def _validated_versions(spark: SparkSession, cfg: Config) -> dict[str, int] | None:
    """The gold table versions the stored results cover, from the results table's last
    commit (``userMetadata``); None when unknown (written by an older version)."""
    meta = commit_metadata(spark, cfg.table_path(RESULTS), VALIDATED_PREFIX)
    return None if meta is None else {str(k): int(v) for k, v in json.loads(meta).items()}


def run(spark: SparkSession, cfg: Config, **_: Any) -> dict[str, Any]:
    """Validate every gold table version not validated yet; store the results.

    A gold table version is validated once: its results are stored keyed by
    ``(table, table_version)``, so a rerun over unchanged gold reuses them and writes nothing.
    Each results commit also records, in its ``userMetadata``, the gold version every suite
    table's stored results cover; a table whose version moved on is validated without first
    scanning the stored results for it.

    Raises:
        DataQualityError: a critical expectation failed (after every suite ran and the
            results were stored).
    """
    stored = read_table(spark, cfg, RESULTS)
    covered = None if stored is None else _validated_versions(spark, cfg)
    rows: list[dict[str, Any]] = []
    new: list[dict[str, Any]] = []
    versions: dict[str, int] = {}
    for table, expectations in _suites().items():
        df = read_table(spark, cfg, table)
        if df is None:
            continue
        version = versions[table.name] = _version(spark, cfg, table)
        maybe_known = stored is not None and (covered is None or covered.get(table.name) == version)
        known = [
            r.asDict()  # driver-side: the stored results of one table version (a dozen rows)
            for r in stored.where(f"table = '{table.name}' AND table_version = {version}").collect()  # driver-side: same
        ] if maybe_known else []
        if known:
            rows += known
            continue
        checked_at = dt.datetime.now(dt.UTC)
        results = [{**r, "table_version": version, "checked_at": checked_at}
                   for r in validate(table, df, expectations)]
        rows += results
        new += results
    if new:
        meta = VALIDATED_PREFIX + json.dumps({**(covered or {}), **versions}, sort_keys=True)
        spark.createDataFrame([tuple(r[c] for c in RESULTS.columns) for r in new], RESULTS.schema).write.format(
            "delta").mode("append").option("userMetadata", meta).save(cfg.table_path(RESULTS))
    failed = [r for r in rows if not r["success"]]
    critical = [r for r in failed if r["severity"] == "critical"]
    for table in versions:
        for severity in ("warning", "critical"):
            M.QUALITY_FAILURES.labels(table=table, severity=severity).set(
                sum(r["table"] == table and r["severity"] == severity for r in failed))
    for r in failed:
        log.warning("quality %s: %s %s on %s (%d unexpected)", r["severity"], r["expectation"], r["kwargs"],
                    r["table"], r["unexpected_count"])
    summary = {"expectations": len(rows), "validated_now": len(new), "failed_warning": len(failed) - len(critical),
               "failed_critical": len(critical)}
    if critical:
        names = "; ".join(f"{r['table']} {r['expectation']} {r['kwargs']}" for r in critical[:3])
        raise DataQualityError(f"{len(critical)} critical data-quality check(s) failed: {names}")
    return summary
