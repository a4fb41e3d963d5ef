"""One generated day: its random generator, its sinks, and how records are routed into them.

A :class:`Day` generates every event that happens on its date (and the clicks and
conversions that follow from them, which may fall on later dates) in a fixed order —
valid traffic (:mod:`~advertisex.generate.traffic`), malformed records
(:mod:`~advertisex.generate.malformed`), hand-made attribution edge cases
(:mod:`~advertisex.generate.edge_cases`) — all drawing from one generator seeded by
``(seed, day)``. Days are therefore independent and can run in any process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from advertisex import contract
from advertisex.generate import edge_cases, malformed, traffic
from advertisex.generate.bids import BID_DTYPE
from advertisex.generate.formats import DAY_MS, HOUR_MS, MINUTE_MS, day_ms
from advertisex.generate.inject import DayInjections, in_blackout
from advertisex.generate.layout import (
    CLICK_PREFIX,
    IMPRESSION_PREFIX,
    bids_name,
    kafka_impression_keys_name,
    kafka_impression_values_name,
)
from advertisex.generate.params import GenerateParams
from advertisex.generate.sinks import FileSink, StreamSink
from advertisex.generate.world import World


class Day:
    """Generates everything whose event happens on one day (plus its consequences).

    Args:
        p: what to generate.
        world: the shared :class:`~advertisex.generate.world.World`.
        d: day number (0 = ``p.start_date``).
        end_ms: end (exclusive) of the last generated day; nothing valid is generated after it.
        dirs: landing impressions folder, landing clicks folder, ``out/kafka``.
    """

    def __init__(self, p: GenerateParams, world: World, d: int, end_ms: int,
                 dirs: tuple[Path, Path, Path]) -> None:
        self.p, self.world, self.d, self.end_ms = p, world, d, end_ms
        li, lc, kafka = dirs
        self.imp_files = FileSink(li, IMPRESSION_PREFIX, ".jsonl", p.impression_files_per_day,
                                  p, None, 1, d)
        self.click_files = FileSink(lc, CLICK_PREFIX, ".csv", p.click_files_per_day, p,
                                    contract.CLICK_CSV_HEADER, 2, d)
        self.imp_kafka = StreamSink(kafka / kafka_impression_values_name(d),
                                    kafka / kafka_impression_keys_name(d), self.imp_files.blackout)
        self.kafka_dir = kafka
        self.bid_rows = np.zeros(0, dtype=BID_DTYPE)
        self.bid_malformed: list[tuple[int, dict[str, Any]]] = []
        self.r = p.rates
        self.rng = np.random.default_rng([p.seed, d])
        self.day0 = day_ms(p.start_date) + d * DAY_MS
        self.tag = f"{p.seed}-{d}"
        self.p_click_window_ms = p.click_window_minutes * MINUTE_MS
        self.p_conversion_window_ms = p.conversion_window_days * DAY_MS
        self.p_view_window_ms = p.view_through_window_hours * HOUR_MS
        # anomalies on purpose (None without any: the clean traffic, drawn as it always was)
        self.injected = DayInjections(self) if p.injections else None

    # -- routing
    def arrival(self, t: np.ndarray, late_ok: bool = True) -> np.ndarray:
        """Arrival day numbers of records at ``t``: their event day, some later when ``late_ok``."""
        # never before the day being generated: its earlier files are already written
        base = np.maximum((t - day_ms(self.p.start_date)) // DAY_MS, self.d)
        if not late_ok:
            return base
        late = self.rng.random(len(t)) < self.r.late
        return base + np.where(late, self.rng.integers(1, 4, len(t)), 0)

    def to_files(self, sink: FileSink, t: np.ndarray, lines: np.ndarray, dup: bool = True,
                 late: bool = True, removed: np.ndarray | None = None) -> None:
        """Send ``lines`` (events at ``t``) to a landing sink: random part files, some late, some twice.

        ``removed`` (injected anomalies): lines drawn for as usual but not written.
        """
        n = len(lines)
        arrival = self.arrival(t, late)
        part = self.rng.integers(0, sink.parts, n)
        if removed is None:
            sink.add(arrival, part, t, lines)
        else:
            sink.add(arrival[~removed], part[~removed], t[~removed], lines[~removed])
        if dup and n:
            di = np.nonzero(self.rng.random(n) < self.r.duplicate)[0]
            # the same line again: in another part file, the same day or the next
            # (the draws in this order: arrival, part, time)
            again = (arrival[di] + self.rng.integers(0, 2, len(di)), self.rng.integers(0, sink.parts, len(di)),
                     t[di] + self.rng.integers(1, MINUTE_MS, len(di)), lines[di])
            if removed is not None:
                again = tuple(a[~removed[di]] for a in again)
            sink.add(*again)

    def to_stream(self, sink: StreamSink, t: np.ndarray, lines: np.ndarray,
                  keys: np.ndarray | None, dup: bool = True, removed: np.ndarray | None = None) -> None:
        """Send messages ``lines`` (events at ``t``, Kafka keys ``keys``) to a stream sink, some twice
        (``removed``: as in :meth:`to_files`)."""
        keep = slice(None) if removed is None else ~removed
        sink.add(t[keep], lines[keep], keys[keep] if keys is not None else None)
        if dup and len(lines):
            di = np.nonzero(self.rng.random(len(lines)) < self.r.duplicate)[0]
            shift = self.rng.integers(1, 2000, len(di))
            if removed is not None:
                di, shift = di[~removed[di]], shift[~removed[di]]
            sink.add(t[di] + shift, lines[di], keys[di] if keys is not None else None)

    # -- the day
    def run(self) -> dict[str, Any]:
        """Generate and write the day; return its file lists and line counts."""
        self._generate()
        for sink in (self.imp_files, self.click_files, self.imp_kafka):
            sink.write()
        if self.injected is not None and self.injected.blackout:
            self.bid_rows = self.bid_rows[~in_blackout(self.bid_rows["t"], self.injected.blackout)]
            self.bid_malformed = [(t, item) for t, item in self.bid_malformed
                                  if not in_blackout(np.array([t]), self.injected.blackout)[0]]
        bids_path = self.kafka_dir / bids_name(self.d)
        with open(bids_path, "wb") as fh:
            np.save(fh, self.bid_rows, allow_pickle=False)
        bids_path.with_suffix(".malformed.jsonl").write_text(
            "".join(json.dumps({"t": t, "item": item}, separators=(",", ":")) + "\n"
                    for t, item in self.bid_malformed), encoding="utf-8")
        return {
            "impression_files": self.imp_files.files,
            "click_files": self.click_files.files,
            "kafka_impression_values": str(self.imp_kafka.path),
            "kafka_impression_keys": str(self.imp_kafka.keys_path),
            "bids_file": str(bids_path),
            "lines": {"impression_files": self.imp_files.lines,
                      "click_files": self.click_files.lines,
                      "kafka_impressions": self.imp_kafka.lines,
                      "bid_requests": len(self.bid_rows) + len(self.bid_malformed)},
        }

    def _generate(self) -> None:
        # the order of these steps is the order of the draws from self.rng: keep it
        imp = traffic.impressions(self)
        clicks = traffic.clicks(self, imp)
        traffic.conversions(self, imp, clicks)
        traffic.bid_requests(self, imp)
        malformed.impressions(self)
        malformed.click_events(self)
        malformed.bid_requests(self)
        if self.p.edge_cases:
            edge_cases.add(self)
        if self.injected is not None:
            self.injected.add_bursts(self, imp["t"])
