"""Bid request records (§1.3): Avro schemas, encoding and the generated bid file.

The generator stores bid requests per day (see "columnar store" below);
:func:`iter_bid_items` yields them as *items*, each the message the producer will send:

- ``{"v": 1|2, "record": {...}}`` — a record following schema v1 or v2, sent in the
  Confluent wire format with the registered id of that version;
- ``{"v": 1|2, "unregistered_id": true, "record": {...}}`` — encoded with version ``v``
  but sent with a schema id the registry does not know (→ ``unknown_schema_id``);
- ``{"v": 1|2, "body_b64": "..."}`` — magic byte + the registered id of ``v`` + this
  body, which does not decode (→ ``bad_avro``);
- ``{"raw_b64": "..."}`` — these bytes as they are; byte 0 is not ``0x00``
  (→ ``bad_magic_byte``).
"""

from __future__ import annotations

import base64
import io
import json
import struct
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
import numpy as np

from advertisex import contract

BID_VERSIONS = (1, 2)


@cache
def parsed_schema(version: int) -> Any:
    """The fastavro-parsed bid request schema of ``version`` (1 or 2)."""
    return fastavro.parse_schema(json.loads(contract.bid_schema_text(version)))


def encode_body(record: dict[str, Any], version: int) -> bytes:
    """Avro binary body (no header) of ``record`` written with schema ``version``.

    Args:
        record: a bid request dict (``event_time`` as epoch millis).
        version: 1 or 2.

    Returns:
        The schemaless Avro bytes.
    """
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed_schema(version), record)
    return buf.getvalue()


def wire(schema_id: int, body: bytes) -> bytes:
    """Confluent wire format: ``0x00`` + big-endian int32 schema id + body."""
    return struct.pack(">bI", contract.CONFLUENT_MAGIC_BYTE, schema_id) + body


def decode_body(body: bytes, version: int, reader_version: int = 2) -> dict[str, Any]:
    """Decode an Avro body written with ``version`` into ``reader_version``.

    Raises:
        Exception: whatever fastavro raises for bytes that do not decode (EOFError,
            ValueError, UnicodeDecodeError, ...).
    """
    return fastavro.schemaless_reader(
        io.BytesIO(body), parsed_schema(version), parsed_schema(reader_version)
    )


def item_kind(item: dict[str, Any]) -> str:
    """``"record"``, ``"unregistered_id"``, ``"body"`` or ``"raw"`` for a bid file item."""
    if "raw_b64" in item:
        return "raw"
    if "body_b64" in item:
        return "body"
    if item.get("unregistered_id"):
        return "unregistered_id"
    return "record"


def item_bytes(item: dict[str, Any], schema_ids: dict[int, int], unknown_id: int) -> bytes:
    """The Kafka message value for one bid file item.

    Args:
        item: one parsed line of ``bid_requests.jsonl``.
        schema_ids: version → registered schema id.
        unknown_id: a schema id the registry does not know.

    Returns:
        The bytes to send.
    """
    kind = item_kind(item)
    if kind == "raw":
        return base64.b64decode(item["raw_b64"])
    if kind == "body":
        return wire(schema_ids[item["v"]], base64.b64decode(item["body_b64"]))
    body = encode_body(item["record"], item["v"])
    return wire(unknown_id if kind == "unregistered_id" else schema_ids[item["v"]], body)


def item_key(item: dict[str, Any]) -> bytes | None:
    """Message key: the ``bid_request_id`` when the item has a record, else ``None``."""
    rec = item.get("record")
    return rec["bid_request_id"].encode() if rec else None




# --------------------------------------------------------------------------- columnar store
#
# Valid bid requests are many (about 1.4 per impression), so the generator stores them
# columnar — one structured numpy array per day (``bid_requests_dNNNN.npy``) holding
# indexes into the small value pools of ``bid_pools.json`` — instead of formatting
# millions of JSON lines. :func:`iter_bid_items` turns rows back into schema records.
# The few malformed items sit beside it in ``bid_requests_dNNNN.malformed.jsonl``
# (``{"t": send-order time, "item": {...}}``).

BID_DTYPE = np.dtype([
    ("t", "<i8"), ("day", "<i4"), ("num", "<i8"), ("extra", "?"), ("v2", "?"),
    ("user", "<i4"), ("user_variant", "i1"), ("seg", "<i2"), ("kw", "<i2"), ("cty", "i1"),
    ("dev", "i1"), ("consent", "i1"), ("exch", "i1"), ("floor", "<i8"), ("bid", "<i8"),
    ("status", "i1"), ("clearing", "<i8"), ("deal", "i1"), ("camp", "<i4"), ("host", "<i4"),
    ("site_variant", "i1"), ("slot", "i1"),
])
STATUS_WON, STATUS_LOST, STATUS_NO_BID = 0, 1, 2
BID_POOLS_FILE = "bid_pools.json"


def _user_text(u: int, variant: int) -> str:
    return (f"u-{u:06d}", f"U-{u:06d}", f" u-{u:06d} ", f"  U-{u:06d}")[variant]


def rows_to_items(rows: np.ndarray, pools: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Stored bid rows → ``{"v": 1|2, "record": {...}}`` items following that schema version."""
    cols = {name: rows[name].tolist() for name in BID_DTYPE.names}
    seed = pools["seed"]
    segs, kws, ctys, devs = pools["segments"], pools["keywords"], pools["countries"], pools["devices"]
    cons, deals, exchs, slots = pools["consents"], pools["deals"], pools["exchanges"], pools["slots"]
    hosts = pools["host_variants"]
    for (t, day, num, extra, v2, user, uv, seg, kw, cty, dev, consent, exch, floor, bid, status,
         clearing, deal, camp, host, sv, slot) in zip(*(cols[n] for n in BID_DTYPE.names), strict=True):
        rid = f"br-{seed}-{day}-{'e' if extra else ''}{num:07d}"
        u: dict[str, Any] = {"user_id": _user_text(user, uv), "segments": list(segs[seg]),
                             "country": ctys[cty], "device_type": devs[dev]}
        a: dict[str, Any] = {
            "auction_id": f"a-{rid}", "exchange": exchs[exch], "floor_price_micros": floor,
            "bid_price_micros": None if status == STATUS_NO_BID else bid,
            "won": status == STATUS_WON,
            "clearing_price_micros": clearing if status == STATUS_WON else None,
        }
        if v2:
            u["consent"] = cons[consent]
            a["deal_id"] = deals[deal]
        yield {"v": 2 if v2 else 1, "record": {
            "bid_request_id": rid, "event_time": t, "user": u, "auction": a,
            "targeting": {"campaign_id": None if status == STATUS_NO_BID else f"cmp-{camp:04d}",
                          "website": hosts[host][sv], "ad_slot": slots[slot],
                          "keywords": list(kws[kw])},
        }}


def load_bid_pools(kafka_dir: str | Path) -> dict[str, Any]:
    """The value pools the stored bid rows index into."""
    return json.loads((Path(kafka_dir) / BID_POOLS_FILE).read_text(encoding="utf-8"))


def iter_bid_file_items(npy_path: str | Path, pools: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Items of one day, in send order (stored rows and malformed items merged by time)."""
    npy_path = Path(npy_path)
    rows = np.load(npy_path, allow_pickle=False)
    mal_path = npy_path.with_suffix(".malformed.jsonl")
    extras: list[tuple[int, dict[str, Any]]] = []
    if mal_path.is_file():
        with open(mal_path, encoding="utf-8") as fh:
            extras = [(o["t"], o["item"]) for o in map(json.loads, fh)]
    ts = rows["t"]
    pos = np.searchsorted(ts, np.array([e[0] for e in extras], dtype=np.int64), side="right").tolist()
    j = 0
    for i, item in enumerate(rows_to_items(rows, pools)):
        while j < len(extras) and pos[j] <= i:
            yield extras[j][1]
            j += 1
        yield item
    while j < len(extras):
        yield extras[j][1]
        j += 1


def iter_bid_items(paths: list[str] | list[Path], pools: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """All items of the given day files, in order (see :func:`iter_bid_file_items`)."""
    for p in paths:
        yield from iter_bid_file_items(p, pools)
