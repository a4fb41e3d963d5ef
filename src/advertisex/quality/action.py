"""The checkpoint action that does what Great Expectations does not (docs/CONTRACT.md §5, §6).

Every checkpoint of the GX project runs :class:`QualityAction` (``type:
advertisex_quality``) before GX's own ``UpdateDataDocsAction``. For each expectation
result it writes one row per profiled partition to the Delta table ``quality/results``
(run id, table, partition, expectation, severity, success, observed value, a few sample
rows of a failure), sets ``advertisex_quality_failures{table,severity}`` and posts each
failure to Alertmanager (:func:`advertisex.io.alerts.post_alerts`) with the contract's labels.

What it needs beyond GX's result (the Spark session, the configuration, the profile
behind the validated frame) is bound to the loaded checkpoint's action for one run
(:meth:`QualityAction.bind`); a checkpoint run from a notebook without a binding skips it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from great_expectations.checkpoint import ValidationAction
from great_expectations.compatibility.pydantic import PrivateAttr

from advertisex.io.alerts import Alert, post_alerts
from advertisex.monitoring.metrics import QUALITY_FAILURES
from advertisex.quality import checks as K
from advertisex.quality.profile import NULL_PARTITION, PARTITION
from advertisex.quality.results import store_results

if TYPE_CHECKING:
    from great_expectations.checkpoint.checkpoint import CheckpointResult

    from advertisex.quality.validation import Audit

log = logging.getLogger(__name__)


class QualityAction(ValidationAction):
    """Store, count and alert every expectation result of the checkpoint's validations."""

    type: Literal["advertisex_quality"] = "advertisex_quality"
    name: str = "advertisex_quality"
    _audit: Any = PrivateAttr(default=None)

    def bind(self, audit: Audit | None) -> None:
        """Give this (loaded) action what one run needs; None unbinds it."""
        self._audit = audit

    def run(self, checkpoint_result: CheckpointResult, action_context: Any = None) -> dict:
        """Store the results, set the failure gauges and post the failures.

        Args:
            checkpoint_result: GX's result of the checkpoint run.
            action_context: the results of the actions before this one (unused).

        Returns:
            ``{"stored": rows, "failed": failed rows}``.
        """
        audit: Audit | None = self._audit
        if audit is None:
            log.info("checkpoint %s run without a pipeline binding: nothing stored", checkpoint_result.name)
            return {"stored": 0, "failed": 0}
        rows = [row for vr in checkpoint_result.run_results.values() for row in result_rows(audit, vr)]
        if audit.sink is None:
            store_results(audit.spark, audit.cfg, rows)
        else:
            audit.sink.extend(rows)
        set_failure_gauges(rows)
        failed = [r for r in rows if not r["success"]]
        post_alerts(audit.cfg, [alert_of(r) for r in failed])
        audit.rows.extend(rows)
        return {"stored": len(rows), "failed": len(failed)}


def _raised(info: Any) -> str | None:
    """GX's exception info (flat, or one entry per metric) → its message, if it raised."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "raised")
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "raised")
    return None


def _expected(kwargs: dict[str, Any], check: K.Check | None) -> str:
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if isinstance(lo, int | float) or isinstance(hi, int | float):
        if lo is not None and hi is not None:
            return "= 0" if lo == hi == 0 else f"between {lo:g} and {hi:g}"
        return f"<= {hi:g}" if hi is not None else f">= {lo:g}"
    return check.expected() if check is not None else ""


def result_rows(audit: Audit, vr: Any) -> list[dict[str, Any]]:
    """driver-side: one ``quality/results`` row per profiled partition and expectation of
    a GX validation result; failed ones with their sample rows."""
    prof = audit.profile
    by_name = {c.name: c for c in prof.suite.checks}
    rows = []
    for r in vr.results:
        conf = r.expectation_config
        name = conf.kwargs.get("column")
        check = by_name.get(name)
        severity = getattr(getattr(conf, "severity", None), "value", None) or (check.severity if check else K.CRITICAL)
        severity = severity if severity in K.SEVERITIES else K.WARNING
        error = _raised(r.exception_info)
        bad = {str(u[PARTITION]) for u in (r.result or {}).get("unexpected_index_list") or []}
        for p in prof.partitions:
            ok = bool(r.success) or (error is None and p not in bad)
            value = prof.values[p].get(name)
            note = f"GX could not evaluate it: {error}" if error else prof.notes.get((name, p))
            rows.append({
                "run_id": audit.run_id, "checked_at": audit.checked_at, "suite": prof.suite.name,
                "table": audit.table_of(p), "partition": p, "expectation": name, "expectation_type": conf.type,
                "severity": severity, "success": ok, "observed_value": value, "expected": _expected(conf.kwargs, check),
                "note": note, "sample_rows": [] if ok or check is None else prof.samples(check, p),
                "table_version": audit.table_version,
                "_description": conf.description or (check.description if check else name),
                "_event_date": p if prof.suite.partition == "event_date" and p != NULL_PARTITION else "",
            })
    return rows


def set_failure_gauges(rows: list[dict[str, Any]]) -> None:
    """``advertisex_quality_failures{table,severity}``: the failed expectations (per partition)
    of each table this validation covered; 0 for a severity without failures."""
    for table in {r["table"] for r in rows}:
        for severity in K.SEVERITIES:
            failed = sum(1 for r in rows if r["table"] == table and r["severity"] == severity and not r["success"])
            QUALITY_FAILURES.labels(table=table, severity=severity).set(failed)


def alert_of(row: dict[str, Any]) -> Alert:
    """A failed result row as the contract's alert: ``alertname`` the expectation, ``table``,
    ``event_date`` the partition (``""`` for an ingestion batch), and a summary saying what
    was expected and what was seen."""
    seen = row["note"] or f"{row['observed_value']}"
    where = row["partition"] if row["suite"] != K.RECONCILIATION.name else f"batch {row['partition']}"
    summary = (f"{row['table']} {where}: expected {row['_description']} ({row['expected']}); "
               f"seen {seen}")
    labels = {"ingest_batch": row["partition"]} if row["suite"] == K.RECONCILIATION.name else {}
    return Alert(row["expectation"], row["severity"], row["table"], summary, event_date=row["_event_date"],
                 labels=labels)
