"""The truth builder: validate raw records (docs/CONTRACT.md §1.1-§1.3, §1.5, §1.6), keep the first
valid occurrence of each id, then attribute (§3) and aggregate the gold tables.

Nothing here uses generator internals: the builder sees records as the pipeline
receives them (JSON lines, CSV rows, bid items), in any order.

Processing time (``now_ms``) only matters for the future rule (event_time > now + 24 h).
The generator puts every valid event before the end of its last day and every
"future" record ``future_offset_days`` (default 3650) after it, so the truth holds for a
pipeline run at any moment between those two.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Any

from advertisex import contract
from advertisex.generate.bids import decode_body, item_kind
from advertisex.generate.truth.attribution import Attribution, attribute
from advertisex.generate.truth.gold import bid_daily, campaign_daily
from advertisex.generate.truth.normalise import normalise_user_id, parse_event_time
from advertisex.generate.truth.records import Bid, ClickEvent, Impression, Truth, Windows


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
        if too_large(raw):
            return contract.REASON_RECORD_TOO_LARGE
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            if not _is_utf8(text):
                return contract.REASON_BAD_JSON
            obj = json.loads(text, parse_constant=_not_json)
        except (UnicodeDecodeError, ValueError):  # JSONDecodeError is a ValueError
            return contract.REASON_BAD_JSON
        if not isinstance(obj, dict):
            return contract.REASON_BAD_JSON
        for name in contract.IMPRESSION_REQUIRED:
            v = obj.get(name)
            if v is None or (isinstance(v, str) and not v.strip(contract.WHITESPACE)):
                return contract.REASON_MISSING_FIELD
        for name, (typ, _) in contract.IMPRESSION_FIELDS.items():
            v = obj.get(name)
            if v is None:
                continue
            ok = (isinstance(v, str) if typ == "string" else
                  isinstance(v, (str, int)) and not isinstance(v, bool) if typ == "string|number" else
                  isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63)
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
        if cost is not None and cost > contract.MAX_COST_MICROS:
            return contract.REASON_COST_OUT_OF_RANGE
        imp = Impression(obj["impression_id"], t, normalise_user_id(obj["user_id"]),
                         obj["campaign_id"], cost or 0, obj.get("bid_request_id") or None)
        self.impressions.setdefault(imp.impression_id, imp)
        return None

    # -- clicks and conversions (§1.2)
    def add_bad_file(self, source: str) -> None:
        """A landing file that cannot be read: one record, quarantined as ``bad_file``."""
        self.received[source] += 1
        self.quarantine[source][contract.REASON_BAD_FILE] += 1

    def add_click_csv(self, text: str) -> None:
        """A whole click/conversion CSV file's text (header included)."""
        read: list[str] = []  # the physical lines of the record being read

        def lines() -> Iterator[str]:
            for line in io.StringIO(text, newline=""):
                read.append(line)
                yield line

        def record_too_large() -> bool:
            # The record's lines as read, joined by the \n between them.
            found = too_large("".join(read).removesuffix("\n"))
            read.clear()
            return found

        # A field of up to a whole record (the csv module's default limit is 128 KiB).
        csv.field_size_limit(max(csv.field_size_limit(), contract.MAX_RECORD_BYTES))
        rows = csv.reader(lines())
        try:
            header = next(rows, None)
        except csv.Error:  # a header line beyond the csv module's field limit
            header = []
        read.clear()
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
                reason = contract.REASON_RECORD_TOO_LARGE if record_too_large() else contract.REASON_BAD_CSV
                self.quarantine[src][reason] += 1
                continue
            if record_too_large():
                self.received[src] += 1
                self.quarantine[src][contract.REASON_RECORD_TOO_LARGE] += 1
                continue
            if len(row) <= 1 and not "".join(row).strip(contract.WHITESPACE):
                continue  # a blank line carries no record
            if not good_header:
                self.received[src] += 1
                self.quarantine[src][contract.REASON_BAD_HEADER] += 1
                continue
            if not all(map(_is_utf8, row)):
                self.received[src] += 1
                self.quarantine[src][contract.REASON_BAD_CSV] += 1
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
        etype = f["event_type"].strip(contract.WHITESPACE).lower()
        for name in ("event_id", "event_type", "event_time", "user_id", "campaign_id"):
            if not f[name].strip(contract.WHITESPACE):
                return contract.REASON_MISSING_FIELD
        if etype not in contract.EVENT_TYPES:
            return contract.REASON_UNKNOWN_EVENT_TYPE
        if etype == contract.EVENT_TYPE_CLICK and not f["ad_creative_id"].strip(contract.WHITESPACE):
            return contract.REASON_MISSING_FIELD
        t = parse_event_time(f["event_time"].strip(contract.WHITESPACE), digits_allowed=True)
        if t is None:
            return contract.REASON_BAD_EVENT_TIME
        if t > self.future_limit:
            return contract.REASON_FUTURE_EVENT_TIME
        value = Decimal(0)
        text = f["conversion_value"].strip(contract.WHITESPACE)
        if text:
            # Plain decimal notation only (Decimal() would also take "1e3", "1_000", "NaN").
            if not _PLAIN_DECIMAL.fullmatch(text):
                return contract.REASON_BAD_VALUE
            value = Decimal(text)
            if not _fits_conversion_value(value):
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
        att = attribute(self.impressions, self.click_events, self.windows)
        truth = Truth(click_attribution=att.click_attr, conversion_attribution=att.conv_attr,
                      clicks=att.clicks, conversions=att.conversions, impressions=self.impressions,
                      now_ms=self.now_ms, windows=self.windows, sources=sorted(self.sources))
        truth.campaign_daily = campaign_daily(self.impressions, att, self.campaigns)
        truth.bid_daily = bid_daily(self.bids, self.impressions)
        truth.quarantine = {s: Counter({k: n for k, n in c.items() if n}) for s, c in self.quarantine.items()}
        truth.counts = self._counts(att)
        return truth

    def _counts(self, att: Attribution) -> dict[str, dict[str, int]]:
        """``counts.json``: per source received/valid/distinct/duplicates/quarantined, and the
        click_events' clicks and conversions by attribution kind."""
        counts: dict[str, dict[str, int]] = {}
        distinct = {contract.SOURCE_IMPRESSIONS: len(self.impressions),
                    contract.SOURCE_CLICK_EVENTS: len(self.click_events),
                    contract.SOURCE_BID_REQUESTS: len(self.bids)}
        for s in contract.SOURCES:
            counts[s] = {"received": self.received[s], "valid": self.valid[s],
                         "valid_distinct": distinct[s],
                         "duplicates": self.valid[s] - distinct[s],
                         "quarantined": sum(self.quarantine[s].values())}
        ce = counts[contract.SOURCE_CLICK_EVENTS]
        ce["clicks_distinct"] = len(att.clicks)
        ce["conversions_distinct"] = len(att.conversions)
        for kind, n in Counter(k for k, _ in att.click_attr.values()).items():
            ce[f"clicks_{kind}"] = n
        for kind, n in Counter(k for k, _ in att.conv_attr.values()).items():
            ce[f"conversions_{kind}"] = n
        return counts


def _not_json(token: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity``, which Python's json module accepts, are not JSON (RFC 8259)."""
    raise ValueError(f"{token} is not a JSON value")


def too_large(record: str | bytes) -> bool:
    """§1.6: a record (a JSON line or message, a CSV line as read) of more than
    ``MAX_RECORD_BYTES`` bytes (text not UTF-8 counted as the bytes received)."""
    size = len(record) if isinstance(record, bytes) else len(record.encode("utf-8", "surrogateescape"))
    return size > contract.MAX_RECORD_BYTES


def _is_utf8(text: str) -> bool:
    """False when ``text`` holds bytes that were not UTF-8 (lone surrogates, see ``read_text``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_PLAIN_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def _fits_conversion_value(value: Decimal) -> bool:
    """§1.2: at most 12 digits before the point and 6 after (decimal(18,6) holds it exactly)."""
    int_digits = contract.CONVERSION_VALUE_PRECISION - contract.CONVERSION_VALUE_SCALE
    return abs(value) < Decimal(10) ** int_digits and value == value.quantize(
        Decimal(1).scaleb(-contract.CONVERSION_VALUE_SCALE), rounding=ROUND_DOWN)


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
