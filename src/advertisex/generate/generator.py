"""Deterministic AdvertiseX traffic: impressions, clicks/conversions, bid requests, references.

Same :class:`GenerateParams` → same bytes in every file. Speed comes from generating
columns with numpy and formatting whole columns of pre-rendered tokens with one ``%``
template per record (no per-record ``json.dumps`` on the hot path; the few malformed and
edge-case records go through a slow, explicit path).

Where files land (see :func:`generate`):

- ``landing_impressions/impressions_<arrival date>_part-NNN.jsonl[.gz]``
- ``landing_clicks/click_events_<arrival date>_part-NNN.csv[.gz]``
- ``campaigns_csv``, ``users_csv`` (contract headers)
- ``out/kafka/impressions_dNNNN.values.jsonl`` + ``.keys.txt`` per day (one message per
  line, key = raw ``user_id``; empty key line = null key) — what ``produce`` sends
- ``out/kafka/bid_requests_dNNNN.jsonl`` — bid items, see :mod:`advertisex.generate.bids`
- ``out/manifest.json`` — params, file lists, ``end_ms`` and the default ``now_ms``

A record's *arrival day* picks its file: normally its UTC event date; late records
(``rates.late``) land 1-3 days later, possibly in files dated after the last day.
"""

from __future__ import annotations

import base64
import gzip
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from advertisex import contract
from advertisex.generate.bids import BID_DTYPE, BID_POOLS_FILE, encode_body
from advertisex.generate.params import GenerateParams, Rates

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
NOW_MARGIN_MS = HOUR_MS  # default processing time = end of last day + this

IMPRESSION_PREFIX = "impressions_"
CLICK_PREFIX = "click_events_"
KAFKA_DIR = "kafka"


def kafka_impression_values_name(day: int) -> str:
    """File (under ``out/kafka``) of day ``day``'s impression messages, one JSON value a line."""
    return f"impressions_d{day:04d}.values.jsonl"


def kafka_impression_keys_name(day: int) -> str:
    """File of the matching message keys (raw ``user_id``; empty line = null key)."""
    return f"impressions_d{day:04d}.keys.txt"


def bids_name(day: int) -> str:
    """File of day ``day``'s stored bid rows (see :mod:`advertisex.generate.bids`)."""
    return f"bid_requests_d{day:04d}.npy"


def bid_pools(p: GenerateParams, w: _World) -> dict[str, Any]:
    """The value pools stored bid rows index into (written to ``kafka/bid_pools.json``)."""
    return {
        "seed": p.seed,
        "segments": [[SEGMENTS[i] for i in s] for s in w.segment_pool],
        "keywords": [[KEYWORDS[i] for i in s] for s in w.keyword_pool],
        "countries": [None] + [c for c, _ in COUNTRY_CLEAN] + ["us", "USA"],
        "devices": [None, "mobile", "desktop", "tablet", "ctv", "Phone", "smart_tv"],
        "consents": [None, True, False],
        "deals": [None] * 40 + [f"deal-{i:03d}" for i in range(10)],
        "exchanges": [e for e, _ in EXCHANGES],
        "slots": list(AD_SLOTS),
        "host_variants": w.host_variants.tolist(),
    }

MANIFEST = "manifest.json"

# time format codes
T_Z, T_OFFSET, T_NAIVE, T_EPOCH, T_Z_SECONDS = range(5)
OFFSETS = ("+01:00", "-05:00", "+05:30", "+09:00", "-03:30", "+00:00", "-08:00", "+10:45")

DEVICE_CLEAN = (("mobile", 0.55), ("desktop", 0.3), ("tablet", 0.1), ("ctv", 0.05))
DEVICE_MESSY = ("Mobile", "smartphone", "PHONE", "pc", "Desktop", "TABLET", "tv",
                "connected_tv", "CTV", "console", "smartwatch", "Phone ")
COUNTRY_CLEAN = (("US", 0.4), ("GB", 0.12), ("DE", 0.1), ("FR", 0.08), ("IN", 0.1),
                 ("BR", 0.06), ("JP", 0.05), ("CA", 0.05), ("AU", 0.04))
COUNTRY_MESSY = ("us", "gb", "De", "fr", "USA", "U1", "", "GBR", "in")
EXCHANGES = (("adx", 0.4), ("openx", 0.2), ("pubmatic", 0.15), ("rubicon", 0.15), ("xandr", 0.1))
AD_SLOTS = ("banner_300x250", "leaderboard_728x90", "interstitial", "native_feed", "preroll_video")
SEGMENTS = ("sports_fan", "tech_enthusiast", "traveler", "parent", "gamer", "foodie",
            "auto_intender", "student", "luxury", "fitness")
KEYWORDS = ("news", "football", "laptop", "recipe", "flight", "hotel", "sneakers", "mortgage",
            "phone", "movie")
CLICK_TYPES = (("click", 0.8), ("Click", 0.07), ("CLICK", 0.05), (" click ", 0.05), ("click ", 0.03))
CONV_TYPES_RAW = (("conversion", 0.8), ("Conversion", 0.07), ("CONVERSION", 0.05),
                  (" conversion", 0.05), ("conversion  ", 0.03))
# conversion_type as CSV tokens (RFC 4180 quoting where needed)
CONVERSION_KINDS = (("purchase", 0.45), ("signup", 0.3), ("install", 0.2),
                    ('"purchase, gift"', 0.03), ('"purchase ""bf promo"""', 0.02))
HOST_WORDS = ("news", "sports", "weather", "recipes", "games", "tech", "travel", "finance",
              "video", "shop", "music", "cars")
HOST_SLDS = ("example", "daily", "metro", "global", "pixel", "fastnews", "cityguide",
             "streamly", "openweb", "homecook")
HOST_TLDS = (".com", ".net", ".co.uk", ".io", ".de")
GARBAGE_TIMES = ("not-a-timestamp", "yesterday", "2026-13-45T25:61:00Z", "32/13/2026 10:00",
                 "NaN")
UNKNOWN_EVENT_TYPES = ("view", "impression", "clck", "purchase")
BAD_VALUES = ("n/a", "1.2.3", "ten")


class GenerateError(RuntimeError):
    """The generator cannot write where it was asked to."""


@dataclass
class GenerateResult:
    """What :func:`generate` wrote."""

    impression_files: list[str] = field(default_factory=list)
    click_files: list[str] = field(default_factory=list)
    campaigns_csv: str = ""
    users_csv: str = ""
    kafka_impression_values: list[str] = field(default_factory=list)  # one file per day, in order
    kafka_impression_keys: list[str] = field(default_factory=list)
    bids_files: list[str] = field(default_factory=list)
    manifest: str = ""
    lines: dict[str, int] = field(default_factory=dict)   # records written per stream
    end_ms: int = 0          # end (exclusive) of the last generated day, epoch ms
    now_ms: int = 0          # default processing time for the truth
    seconds: float = 0.0


# --------------------------------------------------------------------------- helpers


def _pick(rng: np.random.Generator, pairs: Sequence[tuple[str, float]], n: int) -> np.ndarray:
    """``n`` indexes into ``pairs`` drawn with the pairs' weights."""
    w = np.array([p for _, p in pairs], dtype=float)
    return rng.choice(len(pairs), size=n, p=w / w.sum())


def _count(rng: np.random.Generator, n: int, rate: float) -> int:
    """How many records of a malformed kind: binomial, at least 1 when rate > 0."""
    if rate <= 0:
        return 0
    return max(1, int(rng.binomial(max(n, 1), min(rate, 1.0))))


def _obj(values: Sequence[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def csv_field(value: str) -> str:
    """RFC 4180: quote a field holding a comma, quote, CR or LF; double inner quotes."""
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_line(fields: Sequence[str]) -> str:
    """One CSV record (no line break) from raw field values."""
    return ",".join(csv_field(f) for f in fields)


def iso_ms(ms: int, fmt: int = T_Z, offset: str = "+01:00") -> str:
    """Render one epoch-ms instant in a §1.5 format (slow path; fast path: :func:`_times`)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC).replace(
        microsecond=(ms % 1000) * 1000)
    if fmt == T_EPOCH:
        return str(ms)
    if fmt == T_OFFSET:
        sign = 1 if offset[0] == "+" else -1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
        return (dt + delta).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}" + offset
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if fmt == T_Z_SECONDS:
        return text + "Z"
    text += f".{ms % 1000:03d}"
    return text if fmt == T_NAIVE else text + "Z"


def _times(ms: np.ndarray, codes: np.ndarray, offs: np.ndarray, quote: bool) -> np.ndarray:
    """Render instants in the formats ``codes`` (vectorised). ``quote``: JSON string quotes."""
    out = np.empty(len(ms), dtype=object)
    q = '"' if quote else ""
    for code in range(5):
        idx = np.nonzero(codes == code)[0]
        if len(idx) == 0:
            continue
        sub = ms[idx]
        if code == T_EPOCH:
            out[idx] = [str(v) for v in sub.tolist()]
            continue
        if code == T_OFFSET:
            off_ms = np.array([(1 if o[0] == "+" else -1) * (int(o[1:3]) * 60 + int(o[4:6])) * MINUTE_MS
                               for o in OFFSETS], dtype=np.int64)
            oi = offs[idx]
            text = np.datetime_as_string((sub + off_ms[oi]).astype("datetime64[ms]"), unit="ms")
            suffix = np.array(OFFSETS, dtype=object)[oi]
            out[idx] = [f"{q}{t}{s}{q}" for t, s in zip(text.tolist(), suffix.tolist(), strict=True)]
            continue
        if code == T_Z_SECONDS:
            text = np.datetime_as_string(sub.astype("datetime64[ms]"), unit="s")
            out[idx] = [f"{q}{t}Z{q}" for t in text.tolist()]
            continue
        text = np.datetime_as_string(sub.astype("datetime64[ms]"), unit="ms")
        end = "Z" if code == T_Z else ""
        out[idx] = [f"{q}{t}{end}{q}" for t in text.tolist()]
    return out


def _time_codes(rng: np.random.Generator, n: int, r: Rates) -> np.ndarray:
    p = np.array([0.0, r.time_offset, r.time_naive, r.time_epoch, r.time_no_fraction])
    p[0] = max(0.0, 1.0 - p[1:].sum())
    return rng.choice(5, size=n, p=p / p.sum())


def _traffic_times(rng: np.random.Generator, day0: int, n: int) -> np.ndarray:
    """``n`` sorted instants in one UTC day following a daily curve (peak ~20:00, low ~08:00)."""
    hours = np.arange(24)
    w = 1.0 + 0.7 * np.cos(2 * np.pi * (hours - 20) / 24)
    h = rng.choice(24, size=n, p=w / w.sum())
    return np.sort(day0 + h.astype(np.int64) * HOUR_MS + rng.integers(0, HOUR_MS, n))


# --------------------------------------------------------------------------- the world


class _IdColumn:
    """Lazily formatted ids ``prefix + %07d``: only the rows someone takes get a string."""

    def __init__(self, prefix: str, n: int) -> None:
        self.prefix, self.n = prefix, n

    def take(self, idx: np.ndarray) -> list[str]:
        p = self.prefix
        return [f"{p}{i:07d}" for i in idx.tolist()]


class _World:
    """Users, campaigns, sites: fixed for a seed, shared by all days."""

    def __init__(self, p: GenerateParams) -> None:
        rng = np.random.default_rng([p.seed, 1_000_003])
        r = p.rates
        C, U = p.campaigns, p.users
        self.camp_ids = _obj([f"cmp-{c:04d}" for c in range(C)])
        w = rng.lognormal(0.0, 1.0, C)
        self.camp_p = w / w.sum()
        self.ctr = np.clip(rng.lognormal(np.log(max(r.ctr_median, 1e-9)), r.ctr_sigma, C), 0, 0.4)
        self.cvr = np.clip(rng.lognormal(np.log(max(r.cvr_median, 1e-9)), 0.5, C), 0, 0.6)
        self.n_creatives = rng.integers(1, 5, C)
        self.creatives = np.empty((C, 4), dtype=object)
        for c in range(C):
            for k in range(4):
                self.creatives[c, k] = f"cr-{c:04d}-{k % self.n_creatives[c]}"
        n_unknown_c = int(round(C * r.unknown_campaign))
        self.camp_in_ref = np.ones(C, dtype=bool)
        if n_unknown_c:
            self.camp_in_ref[rng.choice(C, n_unknown_c, replace=False)] = False
        uw = rng.lognormal(0.0, 1.3, U)
        self.user_p = uw / uw.sum()
        n_unknown_u = int(round(U * r.unknown_user))
        self.user_in_ref = np.ones(U, dtype=bool)
        if n_unknown_u:
            self.user_in_ref[rng.choice(U, n_unknown_u, replace=False)] = False
        canon = [f"u-{u:06d}" for u in range(U)]
        self.user_canon = _obj(canon)
        # raw variants: JSON (no escaping needed) and CSV tokens (quoted where padded)
        self.user_json = np.empty((U, 4), dtype=object)
        self.user_csv = np.empty((U, 4), dtype=object)
        for u, cu in enumerate(canon):
            up = cu.upper()
            self.user_json[u] = (cu, up, f" {cu} ", f"  {up}")
            self.user_csv[u] = (cu, up, f'" {cu} "', f" {up}")
        hosts = sorted({f"{a}.{b}{t}" for a in HOST_WORDS for b in HOST_SLDS for t in HOST_TLDS})
        pick = rng.choice(len(hosts), min(120, len(hosts)), replace=False)
        self.hosts = [hosts[i] for i in sorted(pick.tolist())]
        hw = rng.zipf(1.6, len(self.hosts)).astype(float)
        self.host_p = hw / hw.sum()
        self.host_variants = np.empty((len(self.hosts), 6), dtype=object)
        for i, h in enumerate(self.hosts):
            cap = h[0].upper() + h[1:]
            self.host_variants[i] = (
                h,
                f"www.{h}",
                f"https://www.{h}/article/{i * 37 % 1000}?utm_source=feed&utm_medium=cpc",
                f"http://{cap}:8080/index.html",
                f"https://{h}/p/{i}#top",
                f"https://www.{cap}:443/a?b=1",
            )
        self.segment_pool = []
        for _ in range(64):
            k = int(rng.integers(0, 4))
            self.segment_pool.append(sorted(rng.choice(len(SEGMENTS), k, replace=False).tolist()))
        self.keyword_pool = []
        for _ in range(64):
            k = int(rng.integers(0, 3))
            self.keyword_pool.append(sorted(rng.choice(len(KEYWORDS), k, replace=False).tolist()))
        self.segment_json = _obj([json.dumps([SEGMENTS[i] for i in s]) for s in self.segment_pool])
        self.keyword_json = _obj([json.dumps([KEYWORDS[i] for i in s]) for s in self.keyword_pool])
        self.camp_json = _obj([f'"{c}"' for c in self.camp_ids.tolist()])

    def user_variant(self, rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
        messy = rng.random(n) < rate
        return np.where(messy, rng.integers(1, 4, n), 0)


# --------------------------------------------------------------------------- sinks


class _FileSink:
    """Collects one origin day's records by arrival day and writes them as part files."""

    def __init__(self, folder: Path, prefix: str, ext: str, parts: int, p: GenerateParams,
                 header: str | None, salt: int, origin: int) -> None:
        self.folder, self.prefix, self.ext, self.parts = folder, prefix, ext, parts
        self.p, self.header, self.salt, self.origin = p, header, salt, origin
        self.pending: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self.files: list[str] = []
        self.lines = 0

    def add(self, arrival: np.ndarray, part: np.ndarray, key: np.ndarray, lines: np.ndarray) -> None:
        for day in np.unique(arrival).tolist():
            m = arrival == day
            self.pending.setdefault(int(day), []).append((part[m], key[m], lines[m]))

    def write(self) -> None:
        """Write ``<prefix><arrival date>_from-<origin date>_part-NNN<ext>[.gz]``, rows by time."""
        origin_s = (self.p.start_date + timedelta(days=self.origin)).isoformat()
        for day in sorted(self.pending):
            chunks = self.pending[day]
            part = np.concatenate([c[0] for c in chunks])
            key = np.concatenate([c[1] for c in chunks])
            lines = np.concatenate([c[2] for c in chunks])
            order = np.lexsort((key, part))
            part, lines = part[order], lines[order]
            bounds = np.searchsorted(part, np.arange(self.parts + 1))
            day_s = (self.p.start_date + timedelta(days=day)).isoformat()
            for k in range(self.parts):
                rows = lines[bounds[k]:bounds[k + 1]].tolist()
                if not rows:
                    continue
                h = (self.p.seed * 1_000_003 + day * 7919 + self.origin * 613 + k * 104_729
                     + self.salt) % 1000
                gz = h < self.p.rates.gz_share * 1000
                name = f"{self.prefix}{day_s}_from-{origin_s}_part-{k:03d}{self.ext}{'.gz' if gz else ''}"
                body = ((self.header + "\n") if self.header else "") + "\n".join(rows) + "\n"
                data = body.encode("utf-8")
                if gz:
                    data = gzip.compress(data, compresslevel=1, mtime=0)
                path = self.folder / name
                path.write_bytes(data)
                self.files.append(str(path))
                self.lines += len(rows)
        self.pending.clear()


class _StreamSink:
    """Collects one day's messages and writes them, ordered by time, to one file (+ keys file)."""

    def __init__(self, path: Path, keys_path: Path | None) -> None:
        self.path, self.keys_path = path, keys_path
        self.chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.lines = 0

    def add(self, key: np.ndarray, lines: np.ndarray, msg_keys: np.ndarray | None = None) -> None:
        mk = msg_keys if msg_keys is not None else np.full(len(lines), "", dtype=object)
        self.chunks.append((key, lines, mk))

    def write(self) -> None:
        key = np.concatenate([c[0] for c in self.chunks])
        lines = np.concatenate([c[1] for c in self.chunks])
        mk = np.concatenate([c[2] for c in self.chunks])
        order = np.argsort(key, kind="stable")
        rows = lines[order].tolist()
        self.path.write_bytes(("\n".join(rows) + "\n" if rows else "").encode("utf-8"))
        if self.keys_path:
            keys = mk[order].tolist()
            self.keys_path.write_bytes(("\n".join(keys) + "\n" if keys else "").encode("utf-8"))
        self.lines = len(rows)
        self.chunks.clear()


# --------------------------------------------------------------------------- day generation


class _Day:
    """Generates everything whose event happens on one day (plus its consequences)."""

    def __init__(self, p: GenerateParams, world: _World, d: int, end_ms: int,
                 dirs: tuple[Path, Path, Path]) -> None:
        self.p, self.w, self.d, self.end_ms = p, world, d, end_ms
        li, lc, kafka = dirs
        self.s: dict[str, Any] = {
            "imp_files": _FileSink(li, IMPRESSION_PREFIX, ".jsonl", p.impression_files_per_day,
                                   p, None, 1, d),
            "click_files": _FileSink(lc, CLICK_PREFIX, ".csv", p.click_files_per_day, p,
                                     contract.CLICK_CSV_HEADER, 2, d),
            "imp_kafka": _StreamSink(kafka / kafka_impression_values_name(d),
                                     kafka / kafka_impression_keys_name(d)),
        }
        self.kafka_dir = kafka
        self.bid_rows = np.zeros(0, dtype=BID_DTYPE)
        self.bid_malformed: list[tuple[int, dict[str, Any]]] = []
        self.r = p.rates
        self.rng = np.random.default_rng([p.seed, d])
        self.day0 = _day_ms(p.start_date) + d * DAY_MS
        self.tag = f"{p.seed}-{d}"
        self.p_click_window_ms = p.click_window_minutes * MINUTE_MS
        self.p_conversion_window_ms = p.conversion_window_days * DAY_MS
        self.p_view_window_ms = p.view_through_window_hours * HOUR_MS

    # -- routing helpers
    def _arrival(self, t: np.ndarray, late_ok: bool = True) -> np.ndarray:
        # never before the day being generated: its earlier files are already written
        base = np.maximum((t - _day_ms(self.p.start_date)) // DAY_MS, self.d)
        if not late_ok:
            return base
        late = self.rng.random(len(t)) < self.r.late
        return base + np.where(late, self.rng.integers(1, 4, len(t)), 0)

    def _to_files(self, sink: _FileSink, t: np.ndarray, lines: np.ndarray, dup: bool = True,
                  late: bool = True) -> None:
        n = len(lines)
        arrival = self._arrival(t, late)
        part = self.rng.integers(0, sink.parts, n)
        sink.add(arrival, part, t, lines)
        if dup and n:
            di = np.nonzero(self.rng.random(n) < self.r.duplicate)[0]
            # the same line again: in another part file, the same day or the next
            sink.add(arrival[di] + self.rng.integers(0, 2, len(di)),
                     self.rng.integers(0, sink.parts, len(di)),
                     t[di] + self.rng.integers(1, MINUTE_MS, len(di)), lines[di])

    def _to_stream(self, sink: _StreamSink, t: np.ndarray, lines: np.ndarray,
                   keys: np.ndarray | None, dup: bool = True) -> None:
        sink.add(t, lines, keys)
        if dup and len(lines):
            di = np.nonzero(self.rng.random(len(lines)) < self.r.duplicate)[0]
            sink.add(t[di] + self.rng.integers(1, 2000, len(di)), lines[di],
                     keys[di] if keys is not None else None)

    # -- the day
    def run(self) -> dict[str, Any]:
        """Generate and write the day; return its file lists and line counts."""
        self._generate()
        for sink in self.s.values():
            sink.write()
        bids_path = self.kafka_dir / bids_name(self.d)
        with open(bids_path, "wb") as fh:
            np.save(fh, self.bid_rows, allow_pickle=False)
        bids_path.with_suffix(".malformed.jsonl").write_text(
            "".join(json.dumps({"t": t, "item": item}, separators=(",", ":")) + "\n"
                    for t, item in self.bid_malformed), encoding="utf-8")
        return {
            "impression_files": self.s["imp_files"].files,
            "click_files": self.s["click_files"].files,
            "kafka_impression_values": str(self.s["imp_kafka"].path),
            "kafka_impression_keys": str(self.s["imp_kafka"].keys_path),
            "bids_file": str(bids_path),
            "lines": {"impression_files": self.s["imp_files"].lines,
                      "click_files": self.s["click_files"].lines,
                      "kafka_impressions": self.s["imp_kafka"].lines,
                      "bid_requests": len(self.bid_rows) + len(self.bid_malformed)},
        }

    def _generate(self) -> None:
        imp = self._impressions()
        clicks = self._clicks(imp)
        self._conversions(imp, clicks)
        self._bids(imp)
        self._malformed_impressions()
        self._malformed_click_events()
        self._malformed_bids()
        if self.p.edge_cases:
            self._edge_cases()

    def _impressions(self) -> dict[str, np.ndarray]:
        rng, w, r, n = self.rng, self.w, self.r, self.p.impressions_per_day
        t = _traffic_times(rng, self.day0, n)
        user = rng.choice(len(w.user_p), size=n, p=w.user_p)
        camp = rng.choice(len(w.camp_p), size=n, p=w.camp_p)
        creative = w.creatives[camp, rng.integers(0, 4, n)]
        codes = _time_codes(rng, n, r)
        t = np.where(codes == T_Z_SECONDS, t // 1000 * 1000, t)
        times = _times(t, codes, rng.integers(0, len(OFFSETS), n), quote=True)
        users_raw = w.user_json[user, w.user_variant(rng, n, r.messy_user_id)]
        host = rng.choice(len(w.hosts), size=n, p=w.host_p)
        url = rng.random(n) < r.full_url
        site = w.host_variants[host, np.where(url, rng.integers(2, 6, n), rng.integers(0, 2, n))]
        # optional fields: tokens (leading comma) from small pools
        dev_pool = [f',"device_type":"{v}"' for v, _ in DEVICE_CLEAN] + \
                   [f',"device_type":"{v}"' for v in DEVICE_MESSY] + ["", ',"device_type":null']
        dw = [pw * (1 - self.r.messy_device) * 0.95 for _, pw in DEVICE_CLEAN] + \
             [self.r.messy_device * 0.95 / len(DEVICE_MESSY)] * len(DEVICE_MESSY) + [0.03, 0.02]
        dev = _obj(dev_pool)[rng.choice(len(dev_pool), n, p=np.array(dw) / sum(dw))]
        cty_pool = [f',"country":"{v}"' for v, _ in COUNTRY_CLEAN] + \
                   [f',"country":"{v}"' for v in COUNTRY_MESSY] + ["", ',"country":null']
        cw = [pw * 0.85 for _, pw in COUNTRY_CLEAN] + [0.1 / len(COUNTRY_MESSY)] * len(COUNTRY_MESSY) \
            + [0.03, 0.02]
        cty = _obj(cty_pool)[rng.choice(len(cty_pool), n, p=np.array(cw) / sum(cw))]
        cost = np.maximum(1, rng.lognormal(np.log(1800), 0.6, n)).astype(np.int64)
        cost_kind = rng.choice(3, n, p=[0.92, 0.04, 0.04])  # value, null, absent
        linked = rng.random(n) < r.bid_link
        extra = np.full(n, "", dtype=object)
        extra[rng.random(n) < r.extra_field] = ',"sdk":{"name":"adx-sdk","version":"4.2.1"}'
        head = ('{"impression_id":"imp-' + self.tag + '-%07d","event_time":%s,"user_id":"%s",'
                '"campaign_id":"%s","ad_creative_id":"%s","website":"%s"%s%s')
        br = ',"bid_request_id":"br-' + self.tag + '-%07d"'
        tail = {0: ',"cost_micros":%d%s}', 1: ',"cost_micros":null%s}', 2: "%s}"}
        cols = (times, users_raw, w.camp_ids[camp], creative, site, dev, cty)
        lines = np.empty(n, dtype=object)
        # one template per (linked, cost kind): ints are formatted inside the one % per record
        for is_linked in (True, False):
            for ck in (0, 1, 2):
                idx = np.nonzero((linked == is_linked) & (cost_kind == ck))[0]
                if len(idx) == 0:
                    continue
                tmpl = head + (br if is_linked else "") + tail[ck]
                parts = [idx.tolist()] + [c[idx].tolist() for c in cols]
                if is_linked:
                    parts.append(idx.tolist())
                if ck == 0:
                    parts.append(cost[idx].tolist())
                parts.append(extra[idx].tolist())
                lines[idx] = [tmpl % row for row in zip(*parts, strict=True)]  # noqa: UP031 (speed)
        ids = _IdColumn(f"imp-{self.tag}-", n)
        brid = _IdColumn(f"br-{self.tag}-", n)
        kafka = rng.random(n) < r.kafka_share
        fi, ki = np.nonzero(~kafka)[0], np.nonzero(kafka)[0]
        self._to_files(self.s["imp_files"], t[fi], lines[fi])
        self._to_stream(self.s["imp_kafka"], t[ki], lines[ki], users_raw[ki])
        cross = fi[rng.random(len(fi)) < r.cross_duplicate]
        if len(cross):
            self._to_stream(self.s["imp_kafka"], t[cross] + 5000, lines[cross], users_raw[cross],
                            dup=False)
        paid = np.where(cost_kind == 0, cost, 0)
        return {"t": t, "user": user, "camp": camp, "creative": creative, "ids": ids,
                "linked": linked, "brid": brid, "cost": paid, "host": host, "site": site}

    def _clicks(self, imp: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rng, w, r = self.rng, self.w, self.r
        win = self.p_click_window_ms
        n = len(imp["t"])
        clicked = rng.random(n) < w.ctr[imp["camp"]]
        ci = np.nonzero(clicked)[0]
        k = len(ci)
        delay = np.minimum(rng.exponential(40_000, k).astype(np.int64) + 300, win)
        oow = rng.random(k) < r.click_out_of_window
        delay[oow] = rng.integers(win + 1, 4 * HOUR_MS, int(oow.sum()))
        t = imp["t"][ci] + delay
        user, camp, creative = imp["user"][ci], imp["camp"][ci], imp["creative"][ci]
        has = rng.random(k) < r.click_with_impression_id
        unknown = has & (rng.random(k) < r.click_unknown_impression_id)
        impid = np.full(k, "", dtype=object)
        hi = np.nonzero(has)[0]
        impid[hi] = imp["ids"].take(ci[hi])
        uidx = np.nonzero(unknown)[0]
        impid[uidx] = [f"imp-{self.tag}-x{j:06d}" for j in range(len(uidx))]
        # stray clicks: no impression behind them
        ks = int(rng.binomial(max(k, 1), min(r.stray_click, 1.0))) if r.stray_click > 0 else 0
        st = _traffic_times(rng, self.day0, ks)
        su = rng.choice(len(w.user_p), size=ks, p=w.user_p)
        sc = rng.choice(len(w.camp_p), size=ks, p=w.camp_p)
        scr = w.creatives[sc, rng.integers(0, 4, ks)]
        simp = np.full(ks, "", dtype=object)
        sx = np.nonzero(rng.random(ks) < 0.2)[0]
        simp[sx] = [f"imp-{self.tag}-y{j:06d}" for j in range(len(sx))]
        t = np.concatenate([t, st])
        user = np.concatenate([user, su])
        camp = np.concatenate([camp, sc])
        creative = np.concatenate([creative, scr])
        impid = np.concatenate([impid, simp])
        keep = t < self.end_ms
        t, user, camp, creative, impid = t[keep], user[keep], camp[keep], creative[keep], impid[keep]
        m = len(t)
        ids = _obj([f"clk-{self.tag}-{i:06d}" for i in range(m)])
        etype = _obj([v for v, _ in CLICK_TYPES])[_pick(rng, CLICK_TYPES, m)]
        self._write_click_rows(ids, etype, t, user, camp, creative, impid,
                               np.full(m, "", dtype=object), np.full(m, "", dtype=object))
        return {"t": t, "user": user, "camp": camp, "creative": creative, "clicked": clicked}

    def _conversions(self, imp: dict[str, np.ndarray], clk: dict[str, np.ndarray]) -> None:
        rng, w, r = self.rng, self.w, self.r
        cwin = self.p_conversion_window_ms
        vwin = self.p_view_window_ms
        # post-click candidates
        conv = rng.random(len(clk["t"])) < w.cvr[clk["camp"]]
        ci = np.nonzero(conv)[0]
        k = len(ci)
        delay = np.minimum(rng.exponential(DAY_MS, k).astype(np.int64) + MINUTE_MS, cwin)
        oow = rng.random(k) < r.conversion_out_of_window
        delay[oow] = rng.integers(cwin + 1, cwin + 2 * DAY_MS, int(oow.sum()))
        t1, u1, c1, cr1 = clk["t"][ci] + delay, clk["user"][ci], clk["camp"][ci], clk["creative"][ci]
        # post-view candidates: unclicked impressions
        pv = np.nonzero((rng.random(len(imp["t"])) < r.post_view_conversion) & ~clk["clicked"])[0]
        t2 = imp["t"][pv] + rng.integers(MINUTE_MS, vwin + 6 * HOUR_MS, len(pv))
        u2, c2, cr2 = imp["user"][pv], imp["camp"][pv], imp["creative"][pv]
        # stray
        ks = int(rng.binomial(max(k, 1), min(r.stray_conversion, 1.0))) if r.stray_conversion > 0 else 0
        t3 = _traffic_times(rng, self.day0, ks)
        u3 = rng.choice(len(w.user_p), size=ks, p=w.user_p)
        c3 = rng.choice(len(w.camp_p), size=ks, p=w.camp_p)
        cr3 = w.creatives[c3, 0]
        t = np.concatenate([t1, t2, t3])
        user = np.concatenate([u1, u2, u3])
        camp = np.concatenate([c1, c2, c3])
        creative = np.concatenate([cr1, cr2, cr3])
        keep = t < self.end_ms
        t, user, camp, creative = t[keep], user[keep], camp[keep], creative[keep]
        m = len(t)
        creative = np.where(rng.random(m) < 0.5, creative, "").astype(object)
        ids = _obj([f"cnv-{self.tag}-{i:06d}" for i in range(m)])
        etype = _obj([v for v, _ in CONV_TYPES_RAW])[_pick(rng, CONV_TYPES_RAW, m)]
        kind = _pick(rng, CONVERSION_KINDS, m)
        ctype = _obj([v for v, _ in CONVERSION_KINDS])[kind]
        amount = np.round(rng.lognormal(3.5, 1.0, m), 2)
        value = _obj([f"{a:.2f}" for a in amount.tolist()])
        value[kind == 1] = np.where(rng.random(int((kind == 1).sum())) < 0.5, "", "0")
        value[kind == 2] = "1.5"
        self._write_click_rows(ids, etype, t, user, camp, creative, np.full(m, "", dtype=object),
                               ctype, value)

    def _write_click_rows(self, ids: np.ndarray, etype: np.ndarray, t: np.ndarray,
                          user: np.ndarray, camp: np.ndarray, creative: np.ndarray,
                          impid: np.ndarray, ctype: np.ndarray, value: np.ndarray) -> None:
        rng, w, r = self.rng, self.w, self.r
        m = len(t)
        codes = _time_codes(rng, m, r)
        t = np.where(codes == T_Z_SECONDS, t // 1000 * 1000, t)
        times = _times(t, codes, rng.integers(0, len(OFFSETS), m), quote=False)
        users_raw = w.user_csv[user, w.user_variant(rng, m, r.messy_user_id)]
        lines = _obj(["%s,%s,%s,%s,%s,%s,%s,%s,%s" % row for row in zip(  # noqa: UP031 (speed)
            ids.tolist(), etype.tolist(), times.tolist(), users_raw.tolist(),
            w.camp_ids[camp].tolist(), creative.tolist(), impid.tolist(), ctype.tolist(),
            value.tolist(), strict=True)])
        self._to_files(self.s["click_files"], t, lines)

    def _bids(self, imp: dict[str, np.ndarray]) -> None:
        rng, w, r = self.rng, self.w, self.r
        li = np.nonzero(imp["linked"])[0]
        k1 = len(li)
        n_imp = len(imp["t"])
        if r.extra_bids > 1:
            k2 = int(n_imp * r.extra_bids)
        else:
            k2 = int(rng.binomial(n_imp, r.extra_bids)) if r.extra_bids > 0 else 0
        n = k1 + k2
        t = np.concatenate([imp["t"][li] - rng.integers(20, 400, k1),
                            _traffic_times(rng, self.day0, k2)])
        # id numbers: linked bids share the impression's number, the others get "e" + number
        num = np.concatenate([li, np.arange(k2)])
        is_extra = np.concatenate([np.zeros(k1, dtype=bool), np.ones(k2, dtype=bool)])
        user = np.concatenate([imp["user"][li], rng.choice(len(w.user_p), size=k2, p=w.user_p)])
        camp = np.concatenate([imp["camp"][li], rng.choice(len(w.camp_p), size=k2, p=w.camp_p)])
        host = np.concatenate([imp["host"][li], rng.choice(len(w.hosts), size=k2, p=w.host_p)])
        cost = np.concatenate([imp["cost"][li], np.zeros(k2, dtype=np.int64)])
        cost = np.where(cost > 0, cost,
                        np.maximum(1, rng.lognormal(np.log(1800), 0.6, n)).astype(np.int64))
        won = np.concatenate([np.ones(k1, dtype=bool), rng.random(k2) < 0.03])
        nobid = np.concatenate([np.zeros(k1, dtype=bool), rng.random(k2) < 0.4]) & ~won
        status = np.where(won, 0, np.where(nobid, 2, 1))     # won, lost, no bid
        floor = (cost * rng.uniform(0.3, 0.8, n)).astype(np.int64)
        bid = (cost * rng.uniform(1.0, 1.6, n)).astype(np.int64)
        v2 = rng.random(n) < r.bid_v2_share
        rows = np.zeros(n, dtype=BID_DTYPE)
        rows["t"], rows["day"], rows["num"], rows["extra"], rows["v2"] = t, self.d, num, is_extra, v2
        rows["user"], rows["user_variant"] = user, w.user_variant(rng, n, r.messy_user_id)
        pools = bid_pools(self.p, w)
        rows["seg"] = rng.integers(0, len(pools["segments"]), n)
        rows["kw"] = rng.integers(0, len(pools["keywords"]), n)
        rows["cty"] = rng.integers(0, len(pools["countries"]), n)
        rows["dev"] = rng.integers(0, len(pools["devices"]), n)
        rows["consent"] = rng.integers(0, len(pools["consents"]), n)
        rows["exch"] = _pick(rng, EXCHANGES, n)
        rows["floor"], rows["bid"], rows["status"], rows["clearing"] = floor, bid, status, cost
        rows["deal"] = rng.integers(0, len(pools["deals"]), n)
        rows["camp"], rows["host"] = camp, host
        rows["site_variant"] = rng.integers(0, 6, n)
        rows["slot"] = rng.integers(0, len(AD_SLOTS), n)
        dup = np.nonzero(rng.random(n) < r.duplicate)[0]     # producer retries: same record again
        rows = np.concatenate([rows, rows[dup]])
        self.bid_rows = rows[np.argsort(rows["t"], kind="stable")]

    # -- malformed records (slow path: few records, explicit construction)
    def _base_impression(self, j: int, kind: str) -> tuple[int, dict[str, Any]]:
        rng, w = self.rng, self.w
        t = int(self.day0 + rng.integers(0, DAY_MS))
        c = int(rng.integers(0, len(w.camp_ids)))
        rec = {
            "impression_id": f"imp-{self.tag}-m-{kind}-{j}",
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

    def _future_ms(self) -> int:
        return self.end_ms + self.p.future_offset_days * DAY_MS + int(self.rng.integers(0, DAY_MS))

    def _malformed_impressions(self) -> None:
        rng, r, n = self.rng, self.r, self.p.impressions_per_day
        out: list[tuple[int, str, str]] = []   # (t, line, key)
        dumps = lambda o: json.dumps(o, separators=(",", ":"))  # noqa: E731
        for j in range(_count(rng, n, r.bad_json)):
            t, rec = self._base_impression(j, "json")
            text = dumps(rec)
            variant = j % 3
            line = (text[: len(text) // 2] if variant == 0 else
                    "<html><body>502 Bad Gateway</body></html>" if variant == 1 else
                    f"impression_id={rec['impression_id']};user={rec['user_id']}")
            out.append((t, line, rec["user_id"]))
        for j in range(_count(rng, n, r.missing_field)):
            t, rec = self._base_impression(j, "missing")
            fld = contract.IMPRESSION_REQUIRED[j % len(contract.IMPRESSION_REQUIRED)]
            how = (j // len(contract.IMPRESSION_REQUIRED)) % 3
            if how == 0:
                del rec[fld]
            else:
                rec[fld] = None if how == 1 else ""
            out.append((t, dumps(rec), rec.get("user_id") or ""))
        for j in range(_count(rng, n, r.bad_type)):
            t, rec = self._base_impression(j, "type")
            rec["cost_micros"] = ("n/a", "12.5usd", "free")[j % 3]
            out.append((t, dumps(rec), rec["user_id"]))
        for j in range(_count(rng, n, r.bad_event_time)):
            t, rec = self._base_impression(j, "time")
            rec["event_time"] = GARBAGE_TIMES[j % len(GARBAGE_TIMES)]
            out.append((t, dumps(rec), rec["user_id"]))
        for j in range(_count(rng, n, r.future_event_time)):
            t, rec = self._base_impression(j, "future")
            rec["event_time"] = iso_ms(self._future_ms(), (T_Z, T_EPOCH, T_OFFSET)[j % 3])
            if j % 3 == 1:
                rec["event_time"] = int(rec["event_time"])
            out.append((t, dumps(rec), rec["user_id"]))
        for j in range(_count(rng, n, r.negative_cost)):
            t, rec = self._base_impression(j, "cost")
            rec["cost_micros"] = -int(rng.integers(1, 5000))
            out.append((t, dumps(rec), rec["user_id"]))
        if not out:
            return
        t = np.array([o[0] for o in out], dtype=np.int64)
        lines = _obj([o[1] for o in out])
        keys = _obj([o[2] for o in out])
        kafka = rng.random(len(out)) < r.kafka_share
        self.s["imp_files"].add(self._arrival(t[~kafka], False),
                                rng.integers(0, self.s["imp_files"].parts, int((~kafka).sum())),
                                t[~kafka], lines[~kafka])
        self.s["imp_kafka"].add(t[kafka], lines[kafka], keys[kafka])

    def _base_click_row(self, j: int, kind: str, conversion: bool) -> tuple[int, list[str]]:
        rng, w = self.rng, self.w
        t = int(self.day0 + rng.integers(0, DAY_MS))
        c = int(rng.integers(0, len(w.camp_ids)))
        u = w.user_canon[int(rng.integers(0, len(w.user_canon)))]
        if conversion:
            row = [f"cnv-{self.tag}-m-{kind}-{j}", "conversion", iso_ms(t), u, w.camp_ids[c], "", "",
                   "purchase", f"{float(rng.integers(100, 10000)) / 100:.2f}"]
        else:
            row = [f"clk-{self.tag}-m-{kind}-{j}", "click", iso_ms(t), u, w.camp_ids[c],
                   w.creatives[c, 0], "", "", ""]
        return t, row

    def _malformed_click_events(self) -> None:
        rng, r = self.rng, self.r
        n = max(1, int(self.p.impressions_per_day * max(self.r.ctr_median, 0.001) * 1.5))
        nconv = max(1, int(n * r.cvr_median))
        out: list[tuple[int, str]] = []
        for j in range(_count(rng, n, r.bad_csv)):
            t, row = self._base_click_row(j, "csv", j % 2 == 1)
            line = csv_line(row)
            out.append((t, ",".join(line.split(",")[:7]) if j % 3 != 2 else line + ",extra"))
        for j in range(_count(rng, n, r.missing_field)):
            t, row = self._base_click_row(j, "missing", False)
            idx = (0, 2, 3, 4, 5)[j % 5]     # event_id, event_time, user_id, campaign_id, ad_creative_id
            row[idx] = ""
            out.append((t, csv_line(row)))
        for j in range(_count(rng, n, r.bad_event_time)):
            t, row = self._base_click_row(j, "time", j % 2 == 1)
            row[2] = GARBAGE_TIMES[j % len(GARBAGE_TIMES)]
            out.append((t, csv_line(row)))
        for j in range(_count(rng, n, r.future_event_time)):
            t, row = self._base_click_row(j, "future", j % 2 == 1)
            row[2] = iso_ms(self._future_ms(), (T_Z, T_EPOCH)[j % 2])
            out.append((t, csv_line(row)))
        for j in range(_count(rng, n, r.unknown_event_type)):
            t, row = self._base_click_row(j, "etype", False)
            row[1] = UNKNOWN_EVENT_TYPES[j % len(UNKNOWN_EVENT_TYPES)]
            out.append((t, csv_line(row)))
        for j in range(_count(rng, nconv, r.negative_value)):
            t, row = self._base_click_row(j, "neg", True)
            row[8] = f"-{row[8]}"
            out.append((t, csv_line(row)))
        for j in range(_count(rng, nconv, r.bad_value)):
            t, row = self._base_click_row(j, "value", True)
            row[8] = BAD_VALUES[j % len(BAD_VALUES)]
            out.append((t, csv_line(row)))
        if not out:
            return
        t = np.array([o[0] for o in out], dtype=np.int64)
        sink = self.s["click_files"]
        sink.add(self._arrival(t, False), rng.integers(0, sink.parts, len(out)), t,
                 _obj([o[1] for o in out]))

    def _bid_record(self, j: int, kind: str, t: int) -> dict[str, Any]:
        w = self.w
        c = int(self.rng.integers(0, len(w.camp_ids)))
        return {
            "bid_request_id": f"br-{self.tag}-m-{kind}-{j}",
            "event_time": t,
            "user": {"user_id": w.user_canon[int(self.rng.integers(0, len(w.user_canon)))],
                     "segments": ["gamer"], "country": "US", "device_type": "mobile"},
            "auction": {"auction_id": f"a-m-{kind}-{j}", "exchange": "adx",
                        "floor_price_micros": 500, "bid_price_micros": 1500, "won": False,
                        "clearing_price_micros": None},
            "targeting": {"campaign_id": w.camp_ids[c], "website": w.hosts[0],
                          "ad_slot": AD_SLOTS[0], "keywords": []},
        }

    def _malformed_bids(self) -> None:
        rng, r = self.rng, self.r
        n = int(self.p.impressions_per_day * (r.bid_link + r.extra_bids))
        out: list[tuple[int, dict[str, Any]]] = []
        dumps = lambda o: json.dumps(o, separators=(",", ":"))  # noqa: E731
        for j in range(_count(rng, n, r.bad_magic_byte)):
            t = int(self.day0 + rng.integers(0, DAY_MS))
            rec = self._bid_record(j, "magic", t)
            raw = dumps(rec).encode() if j % 2 == 0 else b"\x01\x00\x00\x00\x01" + encode_body(rec, 1)
            out.append((t, {"raw_b64": base64.b64encode(raw).decode()}))
        for j in range(_count(rng, n, r.unknown_schema_id)):
            t = int(self.day0 + rng.integers(0, DAY_MS))
            out.append((t, {"v": 1 + j % 2, "unregistered_id": True,
                            "record": self._bid_record(j, "schema", t)}))
        for j in range(_count(rng, n, r.bad_avro)):
            t = int(self.day0 + rng.integers(0, DAY_MS))
            body = encode_body(self._bid_record(j, "avro", t), 1)
            cut = body[:3] if j % 2 == 0 else b""     # bid_request_id string cut short / empty
            out.append((t, {"v": 1 + j % 2, "body_b64": base64.b64encode(cut).decode()}))
        for j in range(_count(rng, n, r.future_event_time)):
            t = int(self.day0 + rng.integers(0, DAY_MS))
            out.append((t, {"v": 1, "record": self._bid_record(j, "future", self._future_ms())}))
        self.bid_malformed = sorted(out, key=lambda o: o[0])

    # -- hand-made attribution edge cases (canonical formats, files only)
    def _edge_cases(self) -> None:
        w, d = self.w, self.d
        cwin, vwin = self.p_click_window_ms, self.p_view_window_ms
        convwin = self.p_conversion_window_ms
        T = self.day0 + 12 * HOUR_MS
        camp = w.camp_ids[0]
        cr = w.creatives[0, 0]
        imps: list[tuple[int, str, str]] = []     # (t, impression_id, user)
        clicks: list[tuple[int, str, str, str]] = []  # (t, event_id, user, impression_id)
        convs: list[tuple[int, str, str]] = []    # (t, event_id, user)
        u = lambda k: f"u-edge-{self.p.seed}-{d}-{k}"  # noqa: E731
        e = lambda k: f"edge-{self.tag}-{k}"  # noqa: E731
        imps.append((T, e("i1"), u(1)))
        clicks.append((T + cwin, e("c1"), u(1), ""))               # exactly at the edge: in
        imps.append((T, e("i2"), u(2)))
        clicks.append((T + cwin + 1, e("c2"), u(2), ""))           # 1 ms past: out
        imps.append((T - 20 * MINUTE_MS, e("i3a"), u(3)))
        imps.append((T - 5 * MINUTE_MS, e("i3b"), u(3)))
        clicks.append((T, e("c3"), u(3), ""))                      # latest (i3b) wins
        imps.append((T - 10 * MINUTE_MS, e("i4"), u(4)))
        clicks.append((T, e("c4"), u(4), f"imp-unknown-{self.tag}"))  # unknown id → window
        imps.append((T, e("i7"), u(7)))
        convs.append((T + vwin - HOUR_MS, e("v7"), u(7)))          # 23 h: post-view
        imps.append((T, e("i8"), u(8)))
        convs.append((T + vwin + 1, e("v8"), u(8)))                # 24 h + 1 ms: unattributed
        imps.append((T + 11 * HOUR_MS + 50 * MINUTE_MS, e("i5"), u(5)))
        clicks.append((T + 12 * HOUR_MS + 10 * MINUTE_MS, e("c5"), u(5), e("i5")))  # next day
        imps.append((T, e("i6"), u(6)))
        clicks.append((T + MINUTE_MS, e("c6"), u(6), e("i6")))
        convs.append((T + MINUTE_MS + convwin, e("v6"), u(6)))     # exactly 7 d: post-click
        imps.append((T, e("i9"), u(9)))
        clicks.append((T + MINUTE_MS, e("c9"), u(9), e("i9")))
        convs.append((T + MINUTE_MS + convwin + 1, e("v9"), u(9)))  # 7 d + 1 ms: not post-click
        imp_lines = [(t, json.dumps({"impression_id": i, "event_time": iso_ms(t), "user_id": us,
                                     "campaign_id": camp, "ad_creative_id": cr,
                                     "website": "edge.example.com", "cost_micros": 1000},
                                    separators=(",", ":"))) for t, i, us in imps if t < self.end_ms]
        rows = [(t, csv_line([i, "click", iso_ms(t), us, camp, cr, imp, "", ""]))
                for t, i, us, imp in clicks if t < self.end_ms]
        rows += [(t, csv_line([i, "conversion", iso_ms(t), us, camp, "", "", "purchase", "10.00"]))
                 for t, i, us in convs if t < self.end_ms]
        for sink, items in ((self.s["imp_files"], imp_lines), (self.s["click_files"], rows)):
            t = np.array([x[0] for x in items], dtype=np.int64)
            sink.add(self._arrival(t, False), np.zeros(len(items), dtype=np.int64), t,
                     _obj([x[1] for x in items]))



def _day_ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


# --------------------------------------------------------------------------- references


def _write_references(p: GenerateParams, world: _World, campaigns_csv: Path, users_csv: Path) -> None:
    rng = np.random.default_rng([p.seed, 2_000_003])
    channels = ("display", "video", "native", "social", "search")
    names = ("Summer Sale", "Black Friday", "Brand Lift", "App Install", "Retargeting",
             'Holiday "Gift" Guide', "Back to School, EU", "Always On")
    lines = [",".join(contract.CAMPAIGN_CSV_COLUMNS)]
    for c in range(p.campaigns):
        if not world.camp_in_ref[c]:
            continue
        start = p.start_date - timedelta(days=int(rng.integers(0, 60)))
        end = "" if rng.random() < 0.3 else (p.start_date + timedelta(days=int(rng.integers(10, 90)))).isoformat()
        lines.append(csv_line([
            world.camp_ids[c], f"adv-{c % max(1, p.campaigns // 3):03d}",
            f"{names[c % len(names)]} {c}", channels[int(rng.integers(0, len(channels)))],
            str(int(rng.integers(50, 5000)) * 1_000_000), start.isoformat(), end]))
    campaigns_csv.parent.mkdir(parents=True, exist_ok=True)
    campaigns_csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bands = ("18-24", "25-34", "35-44", "45-54", "55+")
    genders = ("f", "m", "x", "")
    segs = ("value", "premium", "new", "churn_risk")
    ctys = [c for c, _ in COUNTRY_CLEAN]
    ulines = [",".join(contract.USER_CSV_COLUMNS)]
    variant = world.user_variant(rng, p.users, p.rates.messy_user_id)
    for u in range(p.users):
        if not world.user_in_ref[u]:
            continue
        signup = p.start_date - timedelta(days=int(rng.integers(1, 900)))
        ulines.append(",".join([
            world.user_csv[u, variant[u]], bands[int(rng.integers(0, 5))],
            genders[int(rng.integers(0, 4))], ctys[int(rng.integers(0, len(ctys)))],
            signup.isoformat(), segs[int(rng.integers(0, 4))]]))
    users_csv.parent.mkdir(parents=True, exist_ok=True)
    users_csv.write_text("\n".join(ulines) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- entry point


def clean_outputs(landing_impressions: Path, landing_clicks: Path, out_dir: Path) -> None:
    """Remove files an earlier :func:`generate` wrote (by name pattern) and ``out_dir``'s own folders."""
    for folder, prefix in ((landing_impressions, IMPRESSION_PREFIX), (landing_clicks, CLICK_PREFIX)):
        if folder.is_dir():
            for f in folder.glob(f"{prefix}*"):
                f.unlink()
    for sub in (KAFKA_DIR, "truth", "truth_files_only"):
        if (out_dir / sub).is_dir():
            shutil.rmtree(out_dir / sub)
    if (out_dir / MANIFEST).is_file():
        (out_dir / MANIFEST).unlink()


_WORKER_STATE: dict[str, Any] = {}


def _run_day(d: int) -> dict[str, Any]:
    st = _WORKER_STATE
    return _Day(st["params"], st["world"], d, st["end_ms"], st["dirs"]).run()


def generate(
    params: GenerateParams,
    *,
    landing_impressions: str | Path,
    landing_clicks: str | Path,
    campaigns_csv: str | Path,
    users_csv: str | Path,
    out_dir: str | Path,
    clean: bool = True,
    workers: int | None = None,
) -> GenerateResult:
    """Write one deterministic data set (see the module docstring for where files land).

    Each generated day is independent (its own seeded RNG and its own files), so days run
    in parallel processes and the bytes do not depend on ``workers``.

    Args:
        params: sizes, dates, rates.
        landing_impressions: folder for impression JSON Lines (``cfg.landing.impressions``).
        landing_clicks: folder for click/conversion CSV (``cfg.landing.clicks``).
        campaigns_csv: campaigns reference file (``cfg.reference.campaigns``).
        users_csv: users reference file (``cfg.reference.users``).
        out_dir: folder for the Kafka payloads, the manifest (and, later, the truth).
        clean: first remove files an earlier run wrote there (by name pattern).
        workers: processes to use (default: CPU count, at most ``params.days``).

    Returns:
        A :class:`GenerateResult` listing every file written.

    Raises:
        GenerateError: a landing folder already holds generated files and ``clean`` is false.
    """
    started = time.perf_counter()
    li, lc, out = Path(landing_impressions), Path(landing_clicks), Path(out_dir)
    if clean:
        clean_outputs(li, lc, out)
    elif any(li.glob(f"{IMPRESSION_PREFIX}*")) or any(lc.glob(f"{CLICK_PREFIX}*")):
        raise GenerateError(f"{li} or {lc} already holds generated files; pass clean=True (--clean)")
    kafka = out / KAFKA_DIR
    for folder in (li, lc, kafka):
        folder.mkdir(parents=True, exist_ok=True)
    world = _World(params)
    end_ms = _day_ms(params.start_date) + params.days * DAY_MS
    _WORKER_STATE.update(params=params, world=world, end_ms=end_ms, dirs=(li, lc, kafka))
    n_workers = min(workers or os.cpu_count() or 1, params.days)
    try:
        if n_workers > 1:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(n_workers) as pool:
                per_day = pool.map(_run_day, range(params.days), chunksize=1)
        else:
            per_day = [_run_day(d) for d in range(params.days)]
    finally:
        _WORKER_STATE.clear()
    _write_references(params, world, Path(campaigns_csv), Path(users_csv))
    (kafka / BID_POOLS_FILE).write_text(json.dumps(bid_pools(params, world)) + "\n", encoding="utf-8")
    lines: dict[str, int] = {}
    for day in per_day:
        for key, value in day["lines"].items():
            lines[key] = lines.get(key, 0) + value
    res = GenerateResult(
        impression_files=sorted(f for day in per_day for f in day["impression_files"]),
        click_files=sorted(f for day in per_day for f in day["click_files"]),
        campaigns_csv=str(campaigns_csv),
        users_csv=str(users_csv),
        kafka_impression_values=[day["kafka_impression_values"] for day in per_day],
        kafka_impression_keys=[day["kafka_impression_keys"] for day in per_day],
        bids_files=[day["bids_file"] for day in per_day],
        manifest=str(out / MANIFEST),
        lines=lines,
        end_ms=end_ms,
        now_ms=end_ms + NOW_MARGIN_MS,
    )
    manifest = {
        "params": params.to_dict(),
        "end_ms": res.end_ms,
        "now_ms": res.now_ms,
        "future_records_after_ms": end_ms + params.future_offset_days * DAY_MS,
        "impression_files": res.impression_files,
        "click_files": res.click_files,
        "campaigns_csv": res.campaigns_csv,
        "users_csv": res.users_csv,
        "kafka_impression_values": res.kafka_impression_values,
        "kafka_impression_keys": res.kafka_impression_keys,
        "bids_files": res.bids_files,
        "lines": res.lines,
    }
    out.joinpath(MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    res.seconds = time.perf_counter() - started
    return res


def load_manifest(out_dir: str | Path) -> dict[str, Any]:
    """The ``manifest.json`` a :func:`generate` run wrote into ``out_dir``.

    Raises:
        GenerateError: no manifest there.
    """
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise GenerateError(f"no generated data set at {out_dir} (missing {MANIFEST}); run `advertisex generate`")
    return json.loads(path.read_text(encoding="utf-8"))
