"""Ground truth computed from the contract alone, in plain Python.

Nothing here uses generator internals: the truth re-reads what was written (JSON Lines,
CSV, the bid items the producer sends), validates and normalises each record by
CONTRACT §1.5/§1.6, de-duplicates by ``impression_id`` / ``event_id`` /
``bid_request_id`` (first valid occurrence wins), attributes clicks and conversions by
§3 and aggregates the gold tables.

Processing time (``now_ms``) only matters for the future rule (event_time > now + 24 h).
The generator puts every valid event before the end of its last day and every
"future" record ``future_offset_days`` (default 3650) after it, so the truth holds for a
pipeline run at any moment between those two.

Tie-break (not pinned by the contract, does not change gold): among impressions or
clicks with the same time, the one with the greatest id is "latest".

Output (:func:`write_truth`), in one folder:

- ``campaign_daily.csv`` / ``.json`` — columns of ``contract.GOLD_CAMPAIGN_DAILY_COLUMNS``;
  CSV: empty field = null, ``conversion_value`` a decimal string, ``ctr``/``cvr`` floats;
  JSON: a list of objects (null, numbers as floats/ints), sorted by (event_date, campaign_id).
- ``bid_daily.csv`` / ``.json`` — columns of ``contract.GOLD_BID_DAILY_COLUMNS``.
- ``quarantine_counts.json`` — ``{source: {reason: n}}`` (non-zero only).
- ``counts.json`` — per source: received, valid (with duplicates), valid_distinct,
  duplicates, quarantined; for click_events also clicks/conversions by attribution kind.
- ``click_attribution.csv`` (event_id, event_date, campaign_id, kind, impression_id) and
  ``conversion_attribution.csv`` (event_id, event_date, campaign_id, kind, click_event_id).
- ``params.json`` — now_ms, windows, which sources were included.
"""

from __future__ import annotations

import base64
import bisect
import csv
import gzip
import io
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from advertisex import contract
from advertisex.generate.bids import decode_body, item_kind

DAY_MS = 86_400_000
_EPOCH_ORD = date(1970, 1, 1).toordinal()
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")
_TWO_LETTERS = re.compile(r"^[A-Za-z]{2}$")


# --------------------------------------------------------------------------- §1.5 normalisation


def parse_event_time(value: Any, *, digits_allowed: bool = False) -> int | None:
    """§1.5 event_time → epoch millis (UTC), or None when it does not parse.

    Args:
        value: a JSON number (int, epoch ms), an ISO-8601 string with Z / offset / no zone,
            or (``digits_allowed``, CSV) a string of digits (epoch ms).
        digits_allowed: accept a string of digits as epoch millis.

    Returns:
        Epoch millis, or None.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    if digits_allowed and value.isdigit() and value.isascii():
        return int(value)
    m = _ISO.match(value)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    try:
        days = date(int(y), int(mo), int(d)).toordinal() - _EPOCH_ORD
    except ValueError:
        return None
    if int(h) > 23 or int(mi) > 59 or int(s) > 59:
        return None
    ms = int((frac or "").ljust(3, "0")[:3])
    total = ((days * 24 + int(h)) * 60 + int(mi)) * 60_000 + int(s) * 1000 + ms
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        total -= sign * (int(zone[1:3]) * 60 + int(zone[4:6])) * 60_000
    return total


def normalise_user_id(value: str) -> str:
    """Trimmed and lower-cased."""
    return value.strip().lower()


def normalise_website(value: str) -> str:
    """Lower-cased host only: scheme, ``www.``, port, path, query, fragment removed."""
    v = _SCHEME.sub("", value.strip().lower())
    for sep in "/?#":
        v = v.split(sep, 1)[0]
    v = v.rsplit("@", 1)[-1]
    v = re.sub(r":\d*$", "", v)
    return v[4:] if v.startswith("www.") else v


def normalise_country(value: Any) -> str | None:
    """Upper-cased; anything but two letters → None."""
    if isinstance(value, str) and _TWO_LETTERS.match(value.strip()):
        return value.strip().upper()
    return None


def normalise_device(value: Any) -> str | None:
    """Lower-cased and mapped by §1.5; other non-empty → ``other``; empty/None → None."""
    if not isinstance(value, str) or not value.strip():
        return None
    return contract.DEVICE_TYPE_MAP.get(value.strip().lower(), contract.DEVICE_TYPE_OTHER)


def event_date(ms: int) -> str:
    """UTC calendar date of epoch millis, ``YYYY-MM-DD``."""
    return date.fromordinal(_EPOCH_ORD + ms // DAY_MS).isoformat()


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Windows:
    """Attribution windows (``cfg.attribution``)."""

    click_minutes: int = 30
    conversion_days: int = 7
    view_hours: int = 24

    @classmethod
    def from_config(cls, attribution: Any) -> Windows:
        """From a ``cfg.attribution`` object."""
        return cls(attribution.click_window_minutes, attribution.conversion_window_days,
                   attribution.view_through_window_hours)


@dataclass
class Impression:
    impression_id: str
    t: int
    user_id: str
    campaign_id: str
    cost_micros: int
    bid_request_id: str | None


@dataclass
class ClickEvent:
    event_id: str
    event_type: str
    t: int
    user_id: str
    campaign_id: str
    impression_id: str
    value: Decimal


@dataclass
class Bid:
    bid_request_id: str
    t: int
    exchange: str
    has_bid: bool
    won: bool
    clearing: int | None


@dataclass
class Truth:
    """Everything the pipeline should end up with."""

    campaign_daily: list[dict[str, Any]] = field(default_factory=list)
    bid_daily: list[dict[str, Any]] = field(default_factory=list)
    quarantine: dict[str, Counter[str]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    click_attribution: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    conversion_attribution: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    clicks: dict[str, ClickEvent] = field(default_factory=dict)
    conversions: dict[str, ClickEvent] = field(default_factory=dict)
    impressions: dict[str, Impression] = field(default_factory=dict)
    now_ms: int = 0
    windows: Windows = field(default_factory=Windows)
    sources: list[str] = field(default_factory=list)


class TruthBuilder:
    """Feed raw records in any order, then call :meth:`result`.

    Args:
        now_ms: processing time (epoch ms) for the future rule.
        windows: attribution windows.
    """

    def __init__(self, now_ms: int, windows: Windows | None = None) -> None:
        self.now_ms = now_ms
        self.windows = windows or Windows()
        self.future_limit = now_ms + contract.FUTURE_TOLERANCE_HOURS * 3_600_000
        self.quarantine: dict[str, Counter[str]] = {s: Counter() for s in contract.SOURCES}
        self.received: Counter[str] = Counter()
        self.valid: Counter[str] = Counter()
        self.impressions: dict[str, Impression] = {}
        self.click_events: dict[str, ClickEvent] = {}
        self.bids: dict[str, Bid] = {}
        self.campaigns: dict[str, tuple[str | None, str | None]] = {}
        self.sources: set[str] = set()

    # -- impressions (§1.1)
    def add_impression(self, raw: str | bytes) -> str | None:
        """One impression message / JSON line as received. Returns the quarantine reason or None."""
        src = contract.SOURCE_IMPRESSIONS
        self.received[src] += 1
        reason = self._impression(raw)
        if reason:
            self.quarantine[src][reason] += 1
        else:
            self.valid[src] += 1
        return reason

    def _impression(self, raw: str | bytes) -> str | None:
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            obj = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return contract.REASON_BAD_JSON
        if not isinstance(obj, dict):
            return contract.REASON_BAD_JSON
        for name in contract.IMPRESSION_REQUIRED:
            v = obj.get(name)
            if v is None or (isinstance(v, str) and not v.strip()):
                return contract.REASON_MISSING_FIELD
        for name, (typ, _) in contract.IMPRESSION_FIELDS.items():
            v = obj.get(name)
            if v is None:
                continue
            ok = (isinstance(v, str) if typ == "string" else
                  isinstance(v, (str, int)) and not isinstance(v, bool) if typ == "string|number" else
                  isinstance(v, int) and not isinstance(v, bool))
            if not ok:
                return contract.REASON_BAD_TYPE
        t = parse_event_time(obj["event_time"])
        if t is None:
            return contract.REASON_BAD_EVENT_TIME
        if t > self.future_limit:
            return contract.REASON_FUTURE_EVENT_TIME
        cost = obj.get("cost_micros")
        if cost is not None and cost < 0:
            return contract.REASON_NEGATIVE_COST
        imp = Impression(obj["impression_id"], t, normalise_user_id(obj["user_id"]),
                         obj["campaign_id"], cost or 0, obj.get("bid_request_id") or None)
        self.impressions.setdefault(imp.impression_id, imp)
        return None

    # -- clicks and conversions (§1.2)
    def add_click_csv(self, text: str) -> None:
        """A whole click/conversion CSV file's text (header included)."""
        rows = csv.reader(io.StringIO(text, newline=""))
        header = next(rows, None)
        if header is None:
            return
        good_header = header == list(contract.CLICK_CSV_COLUMNS)
        src = contract.SOURCE_CLICK_EVENTS
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error:
                self.received[src] += 1
                self.quarantine[src][contract.REASON_BAD_CSV] += 1
                continue
            if not good_header:
                self.received[src] += 1
                self.quarantine[src][contract.REASON_BAD_HEADER] += 1
                continue
            self.add_click_row(row)

    def add_click_row(self, row: list[str]) -> str | None:
        """One parsed CSV record (list of fields). Returns the quarantine reason or None."""
        src = contract.SOURCE_CLICK_EVENTS
        self.received[src] += 1
        reason = self._click_row(row)
        if reason:
            self.quarantine[src][reason] += 1
        else:
            self.valid[src] += 1
        return reason

    def _click_row(self, row: list[str]) -> str | None:
        if len(row) != len(contract.CLICK_CSV_COLUMNS):
            return contract.REASON_BAD_CSV
        f = dict(zip(contract.CLICK_CSV_COLUMNS, row, strict=True))
        etype = f["event_type"].strip().lower()
        for name in ("event_id", "event_type", "event_time", "user_id", "campaign_id"):
            if not f[name].strip():
                return contract.REASON_MISSING_FIELD
        if etype not in contract.EVENT_TYPES:
            return contract.REASON_UNKNOWN_EVENT_TYPE
        if etype == contract.EVENT_TYPE_CLICK and not f["ad_creative_id"].strip():
            return contract.REASON_MISSING_FIELD
        t = parse_event_time(f["event_time"].strip(), digits_allowed=True)
        if t is None:
            return contract.REASON_BAD_EVENT_TIME
        if t > self.future_limit:
            return contract.REASON_FUTURE_EVENT_TIME
        value = Decimal(0)
        if f["conversion_value"].strip():
            try:
                value = Decimal(f["conversion_value"].strip())
            except InvalidOperation:
                return contract.REASON_BAD_VALUE
            if not value.is_finite():
                return contract.REASON_BAD_VALUE
            if value < 0:
                return contract.REASON_NEGATIVE_VALUE
        ev = ClickEvent(f["event_id"], etype, t, normalise_user_id(f["user_id"]), f["campaign_id"],
                        f["impression_id"], value)
        self.click_events.setdefault(ev.event_id, ev)
        return None

    # -- bid requests (§1.3)
    def add_bid_item(self, item: Mapping[str, Any]) -> str | None:
        """One bid item (see :mod:`advertisex.generate.bids`). Returns the quarantine reason or None."""
        src = contract.SOURCE_BID_REQUESTS
        self.received[src] += 1
        reason = self._bid(item)
        if reason:
            self.quarantine[src][reason] += 1
        else:
            self.valid[src] += 1
        return reason

    def _bid(self, item: Mapping[str, Any]) -> str | None:
        kind = item_kind(dict(item))
        if kind == "raw":
            raw = base64.b64decode(item["raw_b64"])
            if not raw or raw[0] != contract.CONFLUENT_MAGIC_BYTE:
                return contract.REASON_BAD_MAGIC_BYTE
            raise ValueError("raw bid item starting with the magic byte: not generated, no truth")
        if kind == "unregistered_id":
            return contract.REASON_UNKNOWN_SCHEMA_ID
        if kind == "body":
            try:
                decode_body(base64.b64decode(item["body_b64"]), item["v"])
            except (EOFError, ValueError, IndexError, UnicodeDecodeError, StopIteration):
                return contract.REASON_BAD_AVRO
            raise ValueError("bid body item that decodes: not generated, no truth")
        rec = item["record"]
        t = rec["event_time"]
        if t > self.future_limit:
            return contract.REASON_FUTURE_EVENT_TIME
        a = rec["auction"]
        bid = Bid(rec["bid_request_id"], t, a["exchange"], a["bid_price_micros"] is not None,
                  bool(a["won"]), a["clearing_price_micros"])
        self.bids.setdefault(bid.bid_request_id, bid)
        return None

    # -- reference
    def add_campaigns_csv(self, text: str) -> None:
        """The campaigns reference file's text."""
        for row in csv.DictReader(io.StringIO(text, newline="")):
            self.campaigns[row["campaign_id"]] = (row["advertiser_id"] or None,
                                                  row["campaign_name"] or None)

    # -- §3
    def result(self) -> Truth:
        """Attribute, aggregate and return the :class:`Truth`."""
        w = self.windows
        click_ms, conv_ms, view_ms = w.click_minutes * 60_000, w.conversion_days * DAY_MS, \
            w.view_hours * 3_600_000
        by_uc: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
        for imp in self.impressions.values():
            by_uc[(imp.user_id, imp.campaign_id)].append((imp.t, imp.impression_id))
        for lst in by_uc.values():
            lst.sort()
        clicks = {k: v for k, v in self.click_events.items() if v.event_type == contract.EVENT_TYPE_CLICK}
        convs = {k: v for k, v in self.click_events.items()
                 if v.event_type == contract.EVENT_TYPE_CONVERSION}
        click_attr: dict[str, tuple[str, str | None]] = {}
        attributed_by_uc: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
        for c in clicks.values():
            if c.impression_id and c.impression_id in self.impressions:
                click_attr[c.event_id] = (contract.ATTRIBUTION_IMPRESSION_ID, c.impression_id)
            else:
                hit = _latest(by_uc.get((c.user_id, c.campaign_id)), c.t - click_ms, c.t)
                click_attr[c.event_id] = ((contract.ATTRIBUTION_LAST_IMPRESSION, hit) if hit else
                                          (contract.ATTRIBUTION_NONE, None))
            if click_attr[c.event_id][0] != contract.ATTRIBUTION_NONE:
                attributed_by_uc[(c.user_id, c.campaign_id)].append((c.t, c.event_id))
        for lst in attributed_by_uc.values():
            lst.sort()
        conv_attr: dict[str, tuple[str, str | None]] = {}
        for v in convs.values():
            key = (v.user_id, v.campaign_id)
            hit = _latest(attributed_by_uc.get(key), v.t - conv_ms, v.t)
            if hit:
                conv_attr[v.event_id] = (contract.ATTRIBUTION_POST_CLICK, hit)
                continue
            hit = _latest(by_uc.get(key), v.t - view_ms, v.t)
            conv_attr[v.event_id] = ((contract.ATTRIBUTION_POST_VIEW, hit) if hit else
                                     (contract.ATTRIBUTION_NONE, None))
        truth = Truth(click_attribution=click_attr, conversion_attribution=conv_attr,
                      clicks=clicks, conversions=convs, impressions=self.impressions,
                      now_ms=self.now_ms, windows=w, sources=sorted(self.sources))
        truth.campaign_daily = self._campaign_daily(clicks, convs, click_attr, conv_attr)
        truth.bid_daily = self._bid_daily()
        truth.quarantine = {s: Counter({k: n for k, n in c.items() if n}) for s, c in self.quarantine.items()}
        distinct = {contract.SOURCE_IMPRESSIONS: len(self.impressions),
                    contract.SOURCE_CLICK_EVENTS: len(self.click_events),
                    contract.SOURCE_BID_REQUESTS: len(self.bids)}
        for s in contract.SOURCES:
            truth.counts[s] = {"received": self.received[s], "valid": self.valid[s],
                               "valid_distinct": distinct[s],
                               "duplicates": self.valid[s] - distinct[s],
                               "quarantined": sum(self.quarantine[s].values())}
        ce = truth.counts[contract.SOURCE_CLICK_EVENTS]
        ce["clicks_distinct"] = len(clicks)
        ce["conversions_distinct"] = len(convs)
        for kind, n in Counter(k for k, _ in click_attr.values()).items():
            ce[f"clicks_{kind}"] = n
        for kind, n in Counter(k for k, _ in conv_attr.values()).items():
            ce[f"conversions_{kind}"] = n
        return truth

    def _campaign_daily(self, clicks: dict[str, ClickEvent], convs: dict[str, ClickEvent],
                        click_attr: dict[str, tuple[str, str | None]],
                        conv_attr: dict[str, tuple[str, str | None]]) -> list[dict[str, Any]]:
        agg: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {
            "impressions": 0, "clicks": 0, "unattributed_clicks": 0, "conversions": 0,
            "view_through_conversions": 0, "spend_micros": 0, "conversion_value": Decimal(0)})
        for imp in self.impressions.values():
            a = agg[(event_date(imp.t), imp.campaign_id)]
            a["impressions"] += 1
            a["spend_micros"] += imp.cost_micros
        for c in clicks.values():
            a = agg[(event_date(c.t), c.campaign_id)]
            a["unattributed_clicks" if click_attr[c.event_id][0] == contract.ATTRIBUTION_NONE
              else "clicks"] += 1
        for v in convs.values():
            kind = conv_attr[v.event_id][0]
            if kind == contract.ATTRIBUTION_POST_CLICK:
                a = agg[(event_date(v.t), v.campaign_id)]
                a["conversions"] += 1
                a["conversion_value"] += v.value
            elif kind == contract.ATTRIBUTION_POST_VIEW:
                agg[(event_date(v.t), v.campaign_id)]["view_through_conversions"] += 1
        rows = []
        for (d, cid), a in sorted(agg.items()):
            adv, name = self.campaigns.get(cid, (None, None))
            rows.append({
                "event_date": d, "campaign_id": cid, "advertiser_id": adv, "campaign_name": name,
                **a,
                "ctr": a["clicks"] / a["impressions"] if a["impressions"] else None,
                "cvr": a["conversions"] / a["clicks"] if a["clicks"] else None,
            })
        return rows

    def _bid_daily(self) -> list[dict[str, Any]]:
        agg: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {
            "bid_requests": 0, "bids": 0, "wins": 0, "clearing_sum": 0, "clearing_n": 0,
            "impressions_matched": 0})
        for b in self.bids.values():
            a = agg[(event_date(b.t), b.exchange)]
            a["bid_requests"] += 1
            a["bids"] += b.has_bid
            if b.won:
                a["wins"] += 1
                if b.clearing is not None:
                    a["clearing_sum"] += b.clearing
                    a["clearing_n"] += 1
        for imp in self.impressions.values():
            b = self.bids.get(imp.bid_request_id) if imp.bid_request_id else None
            if b is not None:
                agg[(event_date(b.t), b.exchange)]["impressions_matched"] += 1
        return [{
            "event_date": d, "exchange": ex, "bid_requests": a["bid_requests"], "bids": a["bids"],
            "wins": a["wins"], "win_rate": a["wins"] / a["bids"] if a["bids"] else None,
            "avg_clearing_price_micros": a["clearing_sum"] / a["clearing_n"] if a["clearing_n"] else None,
            "impressions_matched": a["impressions_matched"],
        } for (d, ex), a in sorted(agg.items())]


def _latest(lst: list[tuple[int, str]] | None, lo: int, hi: int) -> str | None:
    """Id of the last entry with lo <= t <= hi (ties: greatest id), or None."""
    if not lst:
        return None
    i = bisect.bisect_right(lst, (hi, "\U0010ffff")) - 1
    if i >= 0 and lst[i][0] >= lo:
        return lst[i][1]
    return None


# --------------------------------------------------------------------------- explicit events


def truth_from_events(
    impressions: Iterable[Mapping[str, Any] | str] = (),
    click_events: Iterable[Mapping[str, str] | list[str]] = (),
    bid_items: Iterable[Mapping[str, Any]] = (),
    *,
    now: str | int = "2100-01-01T00:00:00Z",
    windows: Windows | None = None,
    campaigns_csv: str | None = None,
) -> Truth:
    """Truth of a small hand-written data set (for tests and examples).

    Args:
        impressions: impression objects (serialised with ``json.dumps``) or raw JSON text.
        click_events: mappings by CSV column name (missing columns → empty) or field lists.
        bid_items: bid items (``{"v": 1, "record": {...}}`` ...).
        now: processing time, ISO string or epoch ms.
        windows: attribution windows (default §3).
        campaigns_csv: campaigns reference text.

    Returns:
        The :class:`Truth`.
    """
    now_ms = parse_event_time(now)
    if now_ms is None:
        raise ValueError(f"bad now: {now!r}")
    b = TruthBuilder(now_ms, windows)
    for imp in impressions:
        b.add_impression(imp if isinstance(imp, str) else json.dumps(imp))
    for ev in click_events:
        b.add_click_row(list(ev) if isinstance(ev, list) else
                        [str(ev.get(c, "")) for c in contract.CLICK_CSV_COLUMNS])
    for item in bid_items:
        b.add_bid_item(item)
    if campaigns_csv:
        b.add_campaigns_csv(campaigns_csv)
    return b.result()


# --------------------------------------------------------------------------- from a generated set


def _read_text(path: str | Path) -> str:
    data = Path(path).read_bytes()
    if str(path).endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")


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
    from advertisex.generate.bids import iter_bid_items, load_bid_pools

    b = TruthBuilder(manifest["now_ms"] if now_ms is None else now_ms, windows)
    b.sources.update(["files"])
    for path in manifest["impression_files"]:
        for line in _file_lines(_read_text(path)):
            b.add_impression(line)
    for path in manifest["click_files"]:
        b.add_click_csv(_read_text(path))
    b.add_campaigns_csv(_read_text(manifest["campaigns_csv"]))
    if include_kafka:
        b.sources.update(["kafka"])
        for path in manifest["kafka_impression_values"]:
            # one message per line (the producer splits on b"\n" the same way)
            for line in _read_text(path).split("\n")[:-1]:
                b.add_impression(line)
        bids = manifest["bids_files"]
        if bids:
            pools = load_bid_pools(Path(bids[0]).parent)
            for item in iter_bid_items(bids, pools):
                b.add_bid_item(item)
    return b.result()


def _file_lines(text: str) -> list[str]:
    """The records of a JSON Lines file: split on ``\n`` only (a U+2028 inside a JSON
    string is not a line break), a trailing ``\r`` removed, blank lines (no record) skipped."""
    return [ln.removesuffix("\r") for ln in text.split("\n") if ln.strip()]


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
    for name, rows, cols in (("campaign_daily", truth.campaign_daily, contract.GOLD_CAMPAIGN_DAILY_COLUMNS),
                             ("bid_daily", truth.bid_daily, contract.GOLD_BID_DAILY_COLUMNS)):
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
    (out / "params.json").write_text(json.dumps({
        "now_ms": truth.now_ms,
        "now": datetime.fromtimestamp(truth.now_ms / 1000, tz=UTC).isoformat(),
        "windows": {"click_window_minutes": truth.windows.click_minutes,
                    "conversion_window_days": truth.windows.conversion_days,
                    "view_through_window_hours": truth.windows.view_hours},
        "sources": truth.sources,
    }, indent=2) + "\n", encoding="utf-8")


__all__ = [
    "Truth", "TruthBuilder", "Windows", "compute_truth", "write_truth", "truth_from_events",
    "parse_event_time", "normalise_user_id", "normalise_website", "normalise_country",
    "normalise_device", "event_date",
]
