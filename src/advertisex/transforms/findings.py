"""From the rules' evaluations to the rows of ``quality/anomalies``: what each finding says, and
what a run changes.

Pure Python on a handful of rows: the evaluations that fired and the stored findings a run
can change. A finding is identified by :data:`KEY`; a run writes only what differs, so a
rerun over the same data writes nothing (docs/CONTRACT.md §2: running a job again changes no
table's content), and a finding that no longer holds is resolved, never deleted.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from advertisex.transforms import anomalies as A

KEY = ("rule", "table", "event_date", "event_hour", "campaign_id", "source")
OPEN, RESOLVED = "open", "resolved"
_FIGURES = (*KEY, "severity", "expected", "observed", "score")


def finding_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """The identity of a finding: rule, table, date, hour, campaign, source (None where not about one)."""
    return tuple(row.get(k) for k in KEY)


def _count(x: float | None) -> str:
    return "?" if x is None else f"{round(x):,}"


def _share(x: float | None) -> str:
    return "?" if x is None else f"{x:.2%}"


def _hour(e: Mapping[str, Any]) -> str:
    h = e["event_hour"]
    return f"{e['event_date']} {h:02d}:00-{(h + 1) % 24:02d}:00 UTC"


def describe(e: Mapping[str, Any]) -> str:
    """The sentence an alert carries: what was expected and what was seen ("expected about X, saw Y").

    Args:
        e: a fired evaluation (:data:`~advertisex.transforms.anomalies.EVALUATION` fields;
            a ``stale_table`` one also has ``last_rows_at``).

    Returns:
        One line.
    """
    rule, z = e["rule"], e.get("score")
    if rule == A.IMPRESSIONS_DROP:
        who = f"campaign {e['campaign_id']}" if e.get("campaign_id") else "all campaigns"
        change = f"{e['observed'] / e['expected'] - 1:+.0%}, " if e.get("expected") else ""
        return (f"impressions of {who} {_hour(e)}: expected about {_count(e['expected'])} (median of the same hour "
                f"on {e['history']} earlier days), saw {_count(e['observed'])} ({change}robust z {z:.1f})")
    if rule == A.CTR_SPIKE:
        return (f"CTR of campaign {e['campaign_id']} {_hour(e)}: expected about {_share(e['expected'])} (its CTR "
                f"over the {e['history']} days before), saw {_share(e['observed'])} ({e['hits']:,} clicks / "
                f"{e['volume']:,} impressions, z {z:.1f})")
    if rule == A.QUARANTINE_RATE:
        return (f"quarantined share of {e['source']} records {_hour(e)}: expected about {_share(e['expected'])} "
                f"(the same hour on {e['history']} days before), saw {_share(e['observed'])} ({e['hits']:,} of "
                f"{e['volume']:,} records, z {z:.1f})")
    if rule == A.MISSING_PARTITION:
        return (f"impressions on {e['event_date']}: expected about {_count(e['expected'])} (the median day within "
                f"{A.NEARBY_DAYS} days), saw none, with impressions on dates before and after")
    if rule == A.STALE_TABLE:
        last = e.get("last_rows_at")
        since = f" (last at {last:%Y-%m-%d %H:%M} UTC)" if last else ""
        return (f"{e['table']}: expected a commit adding rows at least every {e['expected']:.0f} min while its feed "
                f"delivers, saw none for {e['observed']:.0f} min{since}")
    raise ValueError(f"unknown anomaly rule {rule!r}")


def _same(stored: Mapping[str, Any], e: Mapping[str, Any]) -> bool:
    """Whether an open stored finding already says what evaluation ``e`` says."""
    if stored["severity"] != e["severity"]:
        return False
    if e["rule"] == A.STALE_TABLE:
        # Its age grows with every run; what identifies it is the last commit adding rows,
        # which is the stored row's last_seen minus the age it recorded then.
        then = stored["last_seen"] - dt.timedelta(minutes=stored["observed"])
        return e.get("last_rows_at") is not None and abs((then - e["last_rows_at"]).total_seconds()) < 60
    return all(_close(stored[c], e[c]) for c in ("expected", "observed"))


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def reconcile(stored: Iterable[Mapping[str, Any]], fired: Iterable[Mapping[str, Any]],
              in_scope: Callable[[Mapping[str, Any]], bool], *, now: dt.datetime, run_id: str) -> list[dict[str, Any]]:
    """The rows a run writes to ``quality/anomalies`` (upserts by :data:`KEY`).

    A fired evaluation that is new opens a finding; one that reopens a resolved finding keeps
    its ``first_seen``; one whose figures or severity changed (late data moved the hour)
    updates it; one that says what the open finding says changes nothing. An open finding
    the run judged again (``in_scope``) that did not fire is resolved: ``status`` resolved,
    ``resolved_at`` now, its figures as last seen.

    Args:
        stored: findings already in the table (at least the open ones and those in scope).
        fired: the evaluations that fired in this run.
        in_scope: whether this run judged the unit of a stored finding again.
        now: the run's instant (aware); ``first_seen``, ``last_seen`` and ``resolved_at`` take it.
        run_id: the run's id, set on every row it writes.

    Returns:
        Rows in the table's columns; empty when nothing changed.
    """
    by_key = {finding_key(r): r for r in stored}
    out: list[dict[str, Any]] = []
    seen = set()
    for e in fired:
        k = finding_key(e)
        seen.add(k)
        old = by_key.get(k)
        if old is not None and old["status"] == OPEN and _same(old, e):
            continue
        out.append({**{c: e.get(c) for c in _FIGURES}, "summary": describe(e),
                    "first_seen": old["first_seen"] if old is not None else now, "last_seen": now,
                    "status": OPEN, "run_id": run_id, "resolved_at": None})
    for k, old in by_key.items():
        if old["status"] == OPEN and k not in seen and in_scope(old):
            out.append({**old, "status": RESOLVED, "resolved_at": now, "run_id": run_id})
    return out
