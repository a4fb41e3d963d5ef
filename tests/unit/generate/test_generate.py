"""Generator: determinism, format conformance with independent readers, truth consistency."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import fastavro
import pytest

from advertisex import contract, tables
from advertisex.generate import compute_truth, write_truth
from advertisex.generate.bids import (
    decode_body,
    encode_body,
    item_bytes,
    item_kind,
    iter_bid_items,
    load_bid_pools,
)
from advertisex.generate.truth import parse_event_time

from .conftest import run_small


def _text(path: str) -> str:
    data = Path(path).read_bytes()
    return (gzip.decompress(data) if path.endswith(".gz") else data).decode("utf-8")


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def test_same_seed_same_bytes_and_truth_whatever_the_workers(tmp_path: Path, small_set: Any) -> None:
    root, manifest = small_set
    other = tmp_path / "again"
    m2 = run_small(other, workers=2)
    assert _digest(root / "landing") == _digest(other / "landing")
    assert _digest(root / "reference") == _digest(other / "reference")
    assert _digest(root / "generated" / "kafka") == _digest(other / "generated" / "kafka")
    write_truth(compute_truth(manifest), root / "t1")
    write_truth(compute_truth(m2), other / "t1")
    assert _digest(root / "t1") == _digest(other / "t1")
    assert any(f.endswith(".gz") for f in manifest["impression_files"])
    assert any(f.endswith(".gz") for f in manifest["click_files"])


def test_impression_lines_are_json_objects_of_the_contract_types(small_set: Any) -> None:
    _, manifest = small_set
    seen_formats: Counter[str] = Counter()
    good = bad = 0
    for path in manifest["impression_files"] + manifest["kafka_impression_values"]:
        for line in _text(path).splitlines():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if not isinstance(obj, dict):
                bad += 1
                continue
            good += 1
            et = obj.get("event_time")
            if isinstance(et, int):
                seen_formats["epoch"] += 1
            elif isinstance(et, str) and et.endswith("Z"):
                seen_formats["z"] += 1
            elif isinstance(et, str) and len(et) > 6 and et[-6] in "+-" and et[-3] == ":":
                seen_formats["offset"] += 1
            elif isinstance(et, str) and parse_event_time(et) is not None:
                seen_formats["naive"] += 1
            if "sdk" in obj:
                seen_formats["extra_field"] += 1
            if isinstance(obj.get("user_id"), str) and obj["user_id"] != obj["user_id"].strip().lower():
                seen_formats["messy_user"] += 1
            if isinstance(obj.get("website"), str) and "://" in obj["website"]:
                seen_formats["url"] += 1
            for name in ("impression_id", "user_id", "campaign_id", "ad_creative_id", "website"):
                assert name not in obj or obj[name] is None or isinstance(obj[name], str)
            assert obj.get("cost_micros") is None or isinstance(obj["cost_micros"], (int, str))
    assert bad > 0 and good > 1000
    assert set(seen_formats) == {"epoch", "z", "offset", "naive", "extra_field", "messy_user", "url"}


def test_click_csv_has_the_exact_header_and_rfc4180_rows(small_set: Any) -> None:
    _, manifest = small_set
    types: Counter[str] = Counter()
    widths: Counter[int] = Counter()
    for path in manifest["click_files"]:
        text = _text(path)
        assert text.split("\n", 1)[0] == contract.CLICK_CSV_HEADER
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert rows[0] == list(contract.CLICK_CSV_COLUMNS)
        for row in rows[1:]:
            widths[len(row)] += 1
            if len(row) == 9:
                types[row[1]] += 1
                if row[7].startswith("purchase,") or '"' in row[7]:
                    types["quoted_conversion_type"] += 1
    assert widths[9] > 100 and set(widths) - {9}       # some rows are malformed on purpose
    assert {"click", " click ", "conversion", "CONVERSION", "view"} <= set(types)
    assert types["quoted_conversion_type"] > 0


def test_reference_files_have_contract_headers(small_set: Any) -> None:
    _, manifest = small_set
    camps = list(csv.DictReader(io.StringIO(_text(manifest["campaigns_csv"]), newline="")))
    users = list(csv.DictReader(io.StringIO(_text(manifest["users_csv"]), newline="")))
    assert tuple(camps[0]) == contract.CAMPAIGN_CSV_COLUMNS
    assert tuple(users[0]) == contract.USER_CSV_COLUMNS
    assert any("," in c["campaign_name"] for c in camps) or any('"' in c["campaign_name"] for c in camps)
    assert len(camps) < 12        # some campaigns missing from the reference
    assert any(u["user_id"] != u["user_id"].strip().lower() for u in users)


@pytest.mark.parametrize("reader_version", [1, 2])
def test_bid_records_encode_and_decode_with_both_schemas(small_set: Any, reader_version: int) -> None:
    _, manifest = small_set
    pools = load_bid_pools(Path(manifest["bids_files"][0]).parent)
    kinds: Counter[str] = Counter()
    versions: Counter[int] = Counter()
    ids = {1: 11, 2: 12}
    for n, item in enumerate(iter_bid_items(manifest["bids_files"][:2], pools)):
        kind = item_kind(item)
        kinds[kind] += 1
        wire = item_bytes(item, ids, 999_999)
        if kind == "raw":
            assert wire[0] != 0
            continue
        assert wire[0] == 0
        body = wire[5:]
        if kind == "body":
            with pytest.raises((EOFError, ValueError, IndexError, UnicodeDecodeError, StopIteration)):
                decode_body(body, item["v"])
            continue
        rec, v = item["record"], item["v"]
        versions[v] += 1
        if n % 7 == 0:
            schema = json.loads(contract.bid_schema_text(v))
            assert fastavro.validation.validate(rec, schema, raise_errors=True)
        if v <= reader_version:
            back = decode_body(body, v, reader_version)
            assert back["bid_request_id"] == rec["bid_request_id"]
            assert int(back["event_time"].timestamp() * 1000) == rec["event_time"]
            assert back["auction"] == {**rec["auction"], **({"deal_id": rec["auction"].get("deal_id")}
                                                            if reader_version == 2 else {})}
        assert encode_body(rec, v) == body
    assert set(kinds) == {"record", "raw", "body", "unregistered_id"}
    assert versions[1] > 100 and versions[2] > 100


def test_truth_is_consistent_and_covers_every_reason(small_set: Any) -> None:
    _, manifest = small_set
    tr = compute_truth(manifest)
    for src, c in tr.counts.items():
        assert c["received"] == c["valid"] + c["quarantined"]
        assert c["duplicates"] > 0
    expected = {
        "impressions": {"bad_json", "missing_field", "bad_type", "bad_event_time", "future_event_time",
                        "negative_cost"},
        "click_events": {"bad_csv", "missing_field", "bad_event_time", "future_event_time",
                         "unknown_event_type", "negative_value", "bad_value"},
        "bid_requests": {"bad_magic_byte", "unknown_schema_id", "bad_avro", "future_event_time"},
    }
    assert {s: set(c) for s, c in tr.quarantine.items()} == expected
    ce = tr.counts["click_events"]
    for key in ("clicks_impression_id", "clicks_last_impression", "clicks_unattributed",
                "conversions_post_click", "conversions_post_view", "conversions_unattributed"):
        assert ce[key] > 0, key
    assert sum(r["impressions"] for r in tr.campaign_daily) == tr.counts["impressions"]["valid_distinct"]
    assert any(r["advertiser_id"] is None for r in tr.campaign_daily)   # unknown campaigns
    assert all(set(r) == set(tables.GOLD_CAMPAIGN_DAILY.columns) for r in tr.campaign_daily)
    assert all(set(r) == set(tables.GOLD_BID_DAILY.columns) for r in tr.bid_daily)
    assert sum(r["impressions_matched"] for r in tr.bid_daily) > 0
    # the hand-made edge cases of day 0 (see advertisex.generate.edge_cases)
    a = tr.click_attribution
    assert a["edge-7-0-c1"][0] == contract.ATTRIBUTION_LAST_IMPRESSION
    assert a["edge-7-0-c2"][0] == contract.ATTRIBUTION_NONE
    assert a["edge-7-0-c3"] == (contract.ATTRIBUTION_LAST_IMPRESSION, "edge-7-0-i3b")
    assert a["edge-7-0-c4"] == (contract.ATTRIBUTION_LAST_IMPRESSION, "edge-7-0-i4")
    assert tr.conversion_attribution["edge-7-0-v6"] == (contract.ATTRIBUTION_POST_CLICK, "edge-7-0-c6")
    assert tr.conversion_attribution["edge-7-0-v9"][0] == contract.ATTRIBUTION_NONE
    assert tr.conversion_attribution["edge-7-0-v7"][0] == contract.ATTRIBUTION_POST_VIEW
    # files only (kafka.enabled=false): no bids, fewer impressions
    fo = compute_truth(manifest, include_kafka=False)
    assert fo.bid_daily == [] and fo.counts["impressions"]["valid_distinct"] < tr.counts["impressions"]["valid_distinct"]


def test_late_records_land_in_files_of_later_days(small_set: Any) -> None:
    _, manifest = small_set
    late = 0
    for path in manifest["impression_files"]:
        file_day = Path(path).name.split("_")[1]
        for line in _text(path).splitlines():
            try:
                obj = json.loads(line)
                t = parse_event_time(obj["event_time"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
            if t is not None and t < 4_000_000_000_000:
                from advertisex.generate.truth import event_date
                late += event_date(t) < file_day
    assert late > 10


def test_written_truth_files(tmp_path: Path, small_set: Any) -> None:
    _, manifest = small_set
    write_truth(compute_truth(manifest), tmp_path)
    with open(tmp_path / "campaign_daily.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == tables.GOLD_CAMPAIGN_DAILY.columns
    as_json = json.loads((tmp_path / "campaign_daily.json").read_text())
    assert len(as_json) == len(rows) - 1
    assert all(r["ctr"] is None or isinstance(r["ctr"], float) for r in as_json)
    assert any(r["cvr"] is None for r in as_json)
    bid = json.loads((tmp_path / "bid_daily.json").read_text())
    assert bid and tuple(bid[0]) == tables.GOLD_BID_DAILY.columns
    q = json.loads((tmp_path / "quarantine_counts.json").read_text())
    assert set(q) == set(contract.SOURCES)
    assert set(json.loads((tmp_path / "counts.json").read_text())) == set(contract.SOURCES)
