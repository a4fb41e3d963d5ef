"""A day's malformed records (docs/CONTRACT.md §1.6), one group per quarantine reason.

The slow path: few records, each built explicitly from a valid one and then broken.
How many of each kind: :func:`~advertisex.generate.sampling.malformed_count` (at least
one a day when the rate is > 0, so small data sets still exercise every reason).
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from advertisex import contract
from advertisex.generate.bids import encode_body
from advertisex.generate.formats import DAY_MS, T_EPOCH, T_OFFSET, T_Z, csv_line, iso_ms, obj_array
from advertisex.generate.sampling import malformed_count
from advertisex.generate.vocab import AD_SLOTS, BAD_VALUES, GARBAGE_TIMES, UNKNOWN_EVENT_TYPES

if TYPE_CHECKING:
    from advertisex.generate.day import Day


def _dumps(o: Any) -> str:
    return json.dumps(o, separators=(",", ":"))


def _future_ms(day: Day) -> int:
    """An instant ``future_offset_days`` after the last generated day (the future rule's prey)."""
    return day.end_ms + day.p.future_offset_days * DAY_MS + int(day.rng.integers(0, DAY_MS))


# --------------------------------------------------------------------------- impressions


def _base_impression(day: Day, j: int, kind: str) -> tuple[int, dict[str, Any]]:
    """A valid impression (canonical formats) at a random time of the day, to be broken."""
    rng, w = day.rng, day.world
    t = int(day.day0 + rng.integers(0, DAY_MS))
    c = int(rng.integers(0, len(w.camp_ids)))
    rec = {
        "impression_id": f"imp-{day.tag}-m-{kind}-{j}",
        "event_time": iso_ms(t),
        "user_id": w.user_canon[int(rng.integers(0, len(w.user_canon)))],
        "campaign_id": w.camp_ids[c],
        "ad_creative_id": w.creatives[c, 0],
        "website": w.hosts[int(rng.integers(0, len(w.hosts)))],
        "device_type": "mobile",
        "country": "US",
        "cost_micros": int(rng.integers(100, 5000)),
    }
    return t, rec


def impressions(day: Day) -> None:
    """Malformed impressions, into the landing files or the Kafka payload (``kafka_share``)."""
    rng, r = day.rng, day.r
    out = _broken_json(day) + _broken_impression_fields(day)   # (t, line, key)
    if not out:
        return
    t = np.array([o[0] for o in out], dtype=np.int64)
    lines = obj_array([o[1] for o in out])
    keys = obj_array([o[2] for o in out])
    kafka = rng.random(len(out)) < r.kafka_share
    day.imp_files.add(day.arrival(t[~kafka], False),
                      rng.integers(0, day.imp_files.parts, int((~kafka).sum())),
                      t[~kafka], lines[~kafka])
    day.imp_kafka.add(t[kafka], lines[kafka], keys[kafka])


def _broken_json(day: Day) -> list[tuple[int, str, str]]:
    """``bad_json``: cut JSON, an HTML error page, key=value text."""
    out: list[tuple[int, str, str]] = []
    for j in range(malformed_count(day.rng, day.p.impressions_per_day, day.r.bad_json)):
        t, rec = _base_impression(day, j, "json")
        text = _dumps(rec)
        variant = j % 3
        line = (text[: len(text) // 2] if variant == 0 else
                "<html><body>502 Bad Gateway</body></html>" if variant == 1 else
                f"impression_id={rec['impression_id']};user={rec['user_id']}")
        out.append((t, line, rec["user_id"]))
    return out


def _broken_impression_fields(day: Day) -> list[tuple[int, str, str]]:
    """Valid JSON with one bad field: missing, wrong type, bad or future time, negative cost."""
    rng, r, n = day.rng, day.r, day.p.impressions_per_day
    out: list[tuple[int, str, str]] = []
    for j in range(malformed_count(rng, n, r.missing_field)):
        t, rec = _base_impression(day, j, "missing")
        fld = contract.IMPRESSION_REQUIRED[j % len(contract.IMPRESSION_REQUIRED)]
        how = (j // len(contract.IMPRESSION_REQUIRED)) % 3
        if how == 0:
            del rec[fld]
        else:
            rec[fld] = None if how == 1 else ""
        out.append((t, _dumps(rec), rec.get("user_id") or ""))
    for j in range(malformed_count(rng, n, r.bad_type)):
        t, rec = _base_impression(day, j, "type")
        rec["cost_micros"] = ("n/a", "12.5usd", "free")[j % 3]
        out.append((t, _dumps(rec), rec["user_id"]))
    for j in range(malformed_count(rng, n, r.bad_event_time)):
        t, rec = _base_impression(day, j, "time")
        rec["event_time"] = GARBAGE_TIMES[j % len(GARBAGE_TIMES)]
        out.append((t, _dumps(rec), rec["user_id"]))
    for j in range(malformed_count(rng, n, r.future_event_time)):
        t, rec = _base_impression(day, j, "future")
        rec["event_time"] = iso_ms(_future_ms(day), (T_Z, T_EPOCH, T_OFFSET)[j % 3])
        if j % 3 == 1:
            rec["event_time"] = int(rec["event_time"])
        out.append((t, _dumps(rec), rec["user_id"]))
    for j in range(malformed_count(rng, n, r.negative_cost)):
        t, rec = _base_impression(day, j, "cost")
        rec["cost_micros"] = -int(rng.integers(1, 5000))
        out.append((t, _dumps(rec), rec["user_id"]))
    return out


# --------------------------------------------------------------------------- clicks and conversions


def _base_click_row(day: Day, j: int, kind: str, conversion: bool) -> tuple[int, list[str]]:
    """A valid click or conversion row (canonical formats) at a random time of the day, to be broken."""
    rng, w = day.rng, day.world
    t = int(day.day0 + rng.integers(0, DAY_MS))
    c = int(rng.integers(0, len(w.camp_ids)))
    u = w.user_canon[int(rng.integers(0, len(w.user_canon)))]
    if conversion:
        row = [f"cnv-{day.tag}-m-{kind}-{j}", "conversion", iso_ms(t), u, w.camp_ids[c], "", "",
               "purchase", f"{float(rng.integers(100, 10000)) / 100:.2f}"]
    else:
        row = [f"clk-{day.tag}-m-{kind}-{j}", "click", iso_ms(t), u, w.camp_ids[c],
               w.creatives[c, 0], "", "", ""]
    return t, row


def click_events(day: Day) -> None:
    """Malformed click/conversion CSV rows, into the landing files."""
    rng, r = day.rng, day.r
    n = max(1, int(day.p.impressions_per_day * max(day.r.ctr_median, 0.001) * 1.5))
    nconv = max(1, int(n * r.cvr_median))
    out: list[tuple[int, str]] = []
    for j in range(malformed_count(rng, n, r.bad_csv)):
        t, row = _base_click_row(day, j, "csv", j % 2 == 1)
        line = csv_line(row)
        out.append((t, ",".join(line.split(",")[:7]) if j % 3 != 2 else line + ",extra"))
    for j in range(malformed_count(rng, n, r.missing_field)):
        t, row = _base_click_row(day, j, "missing", False)
        idx = (0, 2, 3, 4, 5)[j % 5]     # event_id, event_time, user_id, campaign_id, ad_creative_id
        row[idx] = ""
        out.append((t, csv_line(row)))
    for j in range(malformed_count(rng, n, r.bad_event_time)):
        t, row = _base_click_row(day, j, "time", j % 2 == 1)
        row[2] = GARBAGE_TIMES[j % len(GARBAGE_TIMES)]
        out.append((t, csv_line(row)))
    for j in range(malformed_count(rng, n, r.future_event_time)):
        t, row = _base_click_row(day, j, "future", j % 2 == 1)
        row[2] = iso_ms(_future_ms(day), (T_Z, T_EPOCH)[j % 2])
        out.append((t, csv_line(row)))
    for j in range(malformed_count(rng, n, r.unknown_event_type)):
        t, row = _base_click_row(day, j, "etype", False)
        row[1] = UNKNOWN_EVENT_TYPES[j % len(UNKNOWN_EVENT_TYPES)]
        out.append((t, csv_line(row)))
    out += _broken_conversion_values(day, nconv)
    if not out:
        return
    t = np.array([o[0] for o in out], dtype=np.int64)
    sink = day.click_files
    sink.add(day.arrival(t, False), rng.integers(0, sink.parts, len(out)), t,
             obj_array([o[1] for o in out]))


def _broken_conversion_values(day: Day, nconv: int) -> list[tuple[int, str]]:
    """``negative_value`` and ``bad_value`` conversions, ``nconv`` the day's organic conversions."""
    rng, r = day.rng, day.r
    out: list[tuple[int, str]] = []
    for j in range(malformed_count(rng, nconv, r.negative_value)):
        t, row = _base_click_row(day, j, "neg", True)
        row[8] = f"-{row[8]}"
        out.append((t, csv_line(row)))
    for j in range(malformed_count(rng, nconv, r.bad_value)):
        t, row = _base_click_row(day, j, "value", True)
        row[8] = BAD_VALUES[j % len(BAD_VALUES)]
        out.append((t, csv_line(row)))
    return out


# --------------------------------------------------------------------------- bid requests


def _bid_record(day: Day, j: int, kind: str, t: int) -> dict[str, Any]:
    """A valid schema-v1 bid request record at ``t``, to be broken."""
    w = day.world
    c = int(day.rng.integers(0, len(w.camp_ids)))
    return {
        "bid_request_id": f"br-{day.tag}-m-{kind}-{j}",
        "event_time": t,
        "user": {"user_id": w.user_canon[int(day.rng.integers(0, len(w.user_canon)))],
                 "segments": ["gamer"], "country": "US", "device_type": "mobile"},
        "auction": {"auction_id": f"a-m-{kind}-{j}", "exchange": "adx",
                    "floor_price_micros": 500, "bid_price_micros": 1500, "won": False,
                    "clearing_price_micros": None},
        "targeting": {"campaign_id": w.camp_ids[c], "website": w.hosts[0],
                      "ad_slot": AD_SLOTS[0], "keywords": []},
    }


def bid_requests(day: Day) -> None:
    """Malformed bid items (bad magic byte, unknown schema id, bad Avro, future time), by send time."""
    rng, r = day.rng, day.r
    n = int(day.p.impressions_per_day * (r.bid_link + r.extra_bids))
    out: list[tuple[int, dict[str, Any]]] = []
    for j in range(malformed_count(rng, n, r.bad_magic_byte)):
        t = int(day.day0 + rng.integers(0, DAY_MS))
        rec = _bid_record(day, j, "magic", t)
        raw = _dumps(rec).encode() if j % 2 == 0 else b"\x01\x00\x00\x00\x01" + encode_body(rec, 1)
        out.append((t, {"raw_b64": base64.b64encode(raw).decode()}))
    for j in range(malformed_count(rng, n, r.unknown_schema_id)):
        t = int(day.day0 + rng.integers(0, DAY_MS))
        out.append((t, {"v": 1 + j % 2, "unregistered_id": True,
                        "record": _bid_record(day, j, "schema", t)}))
    for j in range(malformed_count(rng, n, r.bad_avro)):
        t = int(day.day0 + rng.integers(0, DAY_MS))
        body = encode_body(_bid_record(day, j, "avro", t), 1)
        cut = body[:3] if j % 2 == 0 else b""     # bid_request_id string cut short / empty
        out.append((t, {"v": 1 + j % 2, "body_b64": base64.b64encode(cut).decode()}))
    for j in range(malformed_count(rng, n, r.future_event_time)):
        t = int(day.day0 + rng.integers(0, DAY_MS))
        out.append((t, {"v": 1, "record": _bid_record(day, j, "future", _future_ms(day))}))
    day.bid_malformed = sorted(out, key=lambda o: o[0])
