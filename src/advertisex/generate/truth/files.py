"""The truth of a generated data set: read its files, write the truth files.

Output (:func:`write_truth`), in one folder:

- ``campaign_daily.csv`` / ``.json`` — columns of ``tables.GOLD_CAMPAIGN_DAILY.columns``;
  CSV: empty field = null, ``conversion_value`` a decimal string, ``ctr``/``cvr`` floats;
  JSON: a list of objects (null, numbers as floats/ints), sorted by (event_date, campaign_id).
- ``bid_daily.csv`` / ``.json`` — columns of ``tables.GOLD_BID_DAILY.columns``.
- ``quarantine_counts.json`` — ``{source: {reason: n}}`` (non-zero only).
- ``counts.json`` — per source: received, valid (with duplicates), valid_distinct,
  duplicates, quarantined; for click_events also clicks/conversions by attribution kind.
- ``click_attribution.csv`` (event_id, event_date, campaign_id, kind, impression_id) and
  ``conversion_attribution.csv`` (event_id, event_date, campaign_id, kind, click_event_id).
- ``params.json`` — now_ms, windows, which sources were included.
- ``anomalies.json`` — only for a data set with injected anomalies
  (:mod:`advertisex.generate.inject`): the findings the anomaly checks should make, with the
  observed figures recomputed from the files.
"""

from __future__ import annotations

import csv
import gzip
import json
import zlib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from advertisex import contract, tables
from advertisex.generate.bids import iter_bid_items, load_bid_pools
from advertisex.generate.truth.anomalies import expected_findings
from advertisex.generate.truth.builder import TruthBuilder, too_large
from advertisex.generate.truth.normalise import event_date
from advertisex.generate.truth.records import Truth, Windows


def read_text(path: str | Path) -> str:
    """A file's text (UTF-8), gunzipped when its name ends with ``.gz``. Bytes that are not
    UTF-8 are kept as lone surrogates (``surrogateescape``): the records holding them are
    malformed (:meth:`TruthBuilder.add_impression`, :meth:`TruthBuilder.add_click_csv`)."""
    data = Path(path).read_bytes()
    if str(path).endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="surrogateescape")


def _readable(path: str | Path) -> str | None:
    """The file's text, or None when it cannot be read (a corrupt or truncated gzip: §1.6 bad_file)."""
    try:
        return read_text(path)
    except (OSError, EOFError, zlib.error):
        return None


def file_lines(text: str) -> list[str]:
    """The records of a JSON Lines file: split on ``\\n`` only (a U+2028 inside a JSON
    string is not a line break), a trailing ``\\r`` removed, blank lines (no record: empty or
    only docs/CONTRACT.md's whitespace) skipped. A line too large (§1.6) is kept whole,
    whatever it holds: it is a record, measured as read."""
    return [ln if too_large(ln) else ln.removesuffix("\r") for ln in text.split("\n")
            if too_large(ln) or ln.strip(contract.WHITESPACE)]


def compute_truth(
    manifest: Mapping[str, Any],
    *,
    include_kafka: bool = True,
    now_ms: int | None = None,
    windows: Windows | None = None,
) -> Truth:
    """Truth of a generated data set, re-read from its files.

    Args:
        manifest: the generator's ``manifest.json`` content (file lists).
        include_kafka: also count what ``produce`` sends (impression messages, bid
            requests); false = a batch-only run (``kafka.enabled=false``).
        now_ms: processing time; default ``manifest["now_ms"]`` (end of the last day + 1 h).
        windows: attribution windows (default §3; pass ``Windows.from_config(cfg.attribution)``).

    Returns:
        The :class:`Truth`.
    """
    b = TruthBuilder(manifest["now_ms"] if now_ms is None else now_ms, windows)
    b.sources.update(["files"])
    for path in manifest["impression_files"]:
        text = _readable(path)
        if text is None:
            b.add_bad_file(contract.SOURCE_IMPRESSIONS)
            continue
        for line in file_lines(text):
            b.add_impression(line)
    for path in manifest["click_files"]:
        text = _readable(path)
        if text is None:
            b.add_bad_file(contract.SOURCE_CLICK_EVENTS)
        else:
            b.add_click_csv(text)
    b.add_campaigns_csv(read_text(manifest["campaigns_csv"]))
    if include_kafka:
        b.sources.update(["kafka"])
        for path in manifest["kafka_impression_values"]:
            # one message per line (the producer splits on b"\n" the same way)
            for line in read_text(path).split("\n")[:-1]:
                b.add_impression(line)
        bids = manifest["bids_files"]
        if bids:
            pools = load_bid_pools(Path(bids[0]).parent)
            for item in iter_bid_items(bids, pools):
                b.add_bid_item(item)
    truth = b.result()
    injections = manifest["params"].get("injections")
    if injections:
        params = manifest["params"]
        truth.anomalies = expected_findings(injections, date.fromisoformat(params["start_date"]), params["days"],
                                            truth)
    return truth


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _json_value(v: Any) -> Any:
    return float(v) if isinstance(v, Decimal) else v


def write_truth(truth: Truth, folder: str | Path) -> None:
    """Write the truth files (see the module docstring) into ``folder``.

    Args:
        truth: what :func:`compute_truth` returned.
        folder: created if missing; files in it are overwritten.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows, cols in (("campaign_daily", truth.campaign_daily, tables.GOLD_CAMPAIGN_DAILY.columns),
                             ("bid_daily", truth.bid_daily, tables.GOLD_BID_DAILY.columns)):
        with open(out / f"{name}.csv", "w", encoding="utf-8", newline="") as fh:
            wr = csv.writer(fh, lineterminator="\n")
            wr.writerow(cols)
            for r in rows:
                wr.writerow([_csv_value(r[c]) for c in cols])
        (out / f"{name}.json").write_text(
            json.dumps([{c: _json_value(r[c]) for c in cols} for r in rows], indent=1) + "\n",
            encoding="utf-8")
    (out / "quarantine_counts.json").write_text(
        json.dumps({s: dict(sorted(c.items())) for s, c in truth.quarantine.items()}, indent=2) + "\n",
        encoding="utf-8")
    (out / "counts.json").write_text(json.dumps(truth.counts, indent=2) + "\n", encoding="utf-8")
    _write_attribution_csvs(truth, out)
    if truth.anomalies:
        (out / "anomalies.json").write_text(json.dumps(truth.anomalies, indent=1) + "\n", encoding="utf-8")
    (out / "params.json").write_text(json.dumps({
        "now_ms": truth.now_ms,
        "now": datetime.fromtimestamp(truth.now_ms / 1000, tz=UTC).isoformat(),
        "windows": {"click_window_minutes": truth.windows.click_minutes,
                    "conversion_window_days": truth.windows.conversion_days,
                    "view_through_window_hours": truth.windows.view_hours},
        "sources": truth.sources,
    }, indent=2) + "\n", encoding="utf-8")


def _write_attribution_csvs(truth: Truth, out: Path) -> None:
    """``click_attribution.csv`` and ``conversion_attribution.csv``, sorted by event_id."""
    with open(out / "click_attribution.csv", "w", encoding="utf-8", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(["event_id", "event_date", "campaign_id", "kind", "impression_id"])
        for eid, (kind, ref) in sorted(truth.click_attribution.items()):
            c = truth.clicks[eid]
            wr.writerow([eid, event_date(c.t), c.campaign_id, kind, ref or ""])
    with open(out / "conversion_attribution.csv", "w", encoding="utf-8", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(["event_id", "event_date", "campaign_id", "kind", "click_event_id"])
        for eid, (kind, ref) in sorted(truth.conversion_attribution.items()):
            v = truth.conversions[eid]
            wr.writerow([eid, event_date(v.t), v.campaign_id, kind,
                         ref if kind == contract.ATTRIBUTION_POST_CLICK else ""])
