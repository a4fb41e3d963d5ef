"""Anomalies on purpose (``advertisex generate --inject``): traffic that carries known anomalies.

``--inject`` takes a comma-separated list of ``KIND@DAY:HOURS[:ARG]``; ``DAY`` is a day index
(0 = ``--start-date``) or a date (``2026-11-24``) within the generated days, ``HOURS`` a UTC
hour (0-23), or ``H1-H2`` (both included) for a gap:

- ``impressions_drop@DAY:HOUR[:CAMPAIGN]`` — the hour keeps :data:`DROP_KEEP` of its
  impressions (of every campaign, or of ``CAMPAIGN`` only, e.g. ``cmp-0003``); the clicks and
  conversions of the impressions removed go with them.
- ``ctr_spike@DAY:HOUR:CAMPAIGN`` — the campaign's impressions of that hour are clicked with
  probability ``max(SPIKE_FACTOR × its CTR, SPIKE_MIN_CTR)`` (at most :data:`SPIKE_MAX_CTR`).
- ``quarantine_burst@DAY:HOUR`` — malformed impressions (a missing field, a negative cost, a
  mistyped cost: each with a readable event time in that hour), :data:`BURST_SHARE` of the
  hour's impressions, in the landing files.
- ``gap@DAY:H1-H2`` — nothing at all happens in those hours (no record of any kind whose event
  time falls in them, from any day); ``gap@DAY:0-23`` is a missing date.

Without injections nothing here runs and the generator draws exactly what it drew before:
same arguments, same bytes. With them, every draw of the clean traffic still happens (the
injections draw from a generator of their own, and remove records only when they are
written), so an injected day differs from the clean one where it must, plus what follows
from it (a spike's extra clicks are drawn from the day's generator, which moves the draws
after them). The truth is computed from the files as always, and lists what the anomaly
checks should find (``truth/anomalies.json``, :mod:`advertisex.generate.truth.anomalies`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from advertisex.generate.formats import DAY_MS, HOUR_MS, day_ms, iso_ms, obj_array

if TYPE_CHECKING:
    from advertisex.generate.day import Day
    from advertisex.generate.params import GenerateParams

KINDS = ("impressions_drop", "ctr_spike", "quarantine_burst", "gap")
DROP_KEEP = 0.1        # an injected drop keeps this share of the hour's impressions
SPIKE_FACTOR = 5.0     # an injected CTR spike: this many times the campaign's CTR ...
SPIKE_MIN_CTR = 0.15   # ... and at least this CTR ...
SPIKE_MAX_CTR = 0.5    # ... and at most this one
BURST_SHARE = 0.25     # malformed impressions added, as a share of the hour's impressions
INJECT_SALT = 7_777    # the injections' own generator: seeded by (seed, day, this)

_ITEM = re.compile(r"^(?P<kind>[a-z_]+)@(?P<day>\d{4}-\d{2}-\d{2}|\d+):(?P<hours>\d{1,2}(?:-\d{1,2})?)"
                   r"(?::(?P<arg>[A-Za-z0-9_.-]+))?$")


@dataclass(frozen=True)
class Injection:
    """One anomaly: its kind, day index, first and last hour, and campaign (where it has one)."""

    kind: str
    day: int
    first_hour: int
    last_hour: int
    campaign: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hours_ms(self, start: date) -> tuple[int, int]:
        """``[from, to)`` in epoch ms."""
        day0 = day_ms(start) + self.day * DAY_MS
        return day0 + self.first_hour * HOUR_MS, day0 + (self.last_hour + 1) * HOUR_MS


def parse_injections(text: str, *, start_date: date, days: int, campaigns: int) -> tuple[Injection, ...]:
    """``--inject`` text → injections (module docstring for the syntax).

    Args:
        text: e.g. ``impressions_drop@8:20,ctr_spike@2026-11-26:19:cmp-0001,gap@5:0-23``.
        start_date: the first generated day (a ``DAY`` given as a date counts from it).
        days: how many days are generated (a ``DAY`` must fall within them).
        campaigns: how many campaigns there are (``cmp-0000`` up to this one less).

    Returns:
        The injections, in the order given.

    Raises:
        ValueError: one line naming the item that is wrong and why.
    """
    out = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        m = _ITEM.match(item)
        if m is None or m["kind"] not in KINDS:
            raise ValueError(f"--inject {item!r}: expected KIND@DAY:HOUR[:ARG] with KIND one of {', '.join(KINDS)}")
        kind, arg = m["kind"], m["arg"]
        d = (date.fromisoformat(m["day"]) - start_date).days if "-" in m["day"] else int(m["day"])
        if not 0 <= d < days:
            raise ValueError(f"--inject {item!r}: day {m['day']} is not one of the {days} generated days "
                             f"({start_date} to {start_date + timedelta(days=days - 1)})")
        first, _, last = m["hours"].partition("-")
        h1, h2 = int(first), int(last or first)
        if not 0 <= h1 <= h2 <= 23 or (kind != "gap" and h1 != h2):
            raise ValueError(f"--inject {item!r}: hours are 0-23 (a range H1-H2 only for gap)")
        if kind == "ctr_spike" and arg is None:
            raise ValueError(f"--inject {item!r}: ctr_spike needs a campaign (ctr_spike@DAY:HOUR:cmp-NNNN)")
        if arg is not None and kind not in ("impressions_drop", "ctr_spike"):
            raise ValueError(f"--inject {item!r}: {kind} takes no campaign")
        if arg is not None and arg not in {f"cmp-{c:04d}" for c in range(campaigns)}:
            raise ValueError(f"--inject {item!r}: no campaign {arg} (cmp-0000 to cmp-{campaigns - 1:04d})")
        out.append(Injection(kind, d, h1, h2, arg))
    return tuple(out)


def blackout(p: GenerateParams) -> list[tuple[int, int]]:
    """The ``[from, to)`` epoch-ms intervals of every gap (empty without gaps)."""
    return [i.hours_ms(p.start_date) for i in p.injections if i.kind == "gap"]


def in_blackout(t: np.ndarray, intervals: list[tuple[int, int]]) -> np.ndarray:
    """Which instants ``t`` fall in one of ``intervals``."""
    out = np.zeros(len(t), dtype=bool)
    for lo, hi in intervals:
        out |= (t >= lo) & (t < hi)
    return out


class DayInjections:
    """The injections of one generated day, applied by :mod:`~advertisex.generate.traffic` and
    :class:`~advertisex.generate.day.Day` (None there when the data set has none)."""

    def __init__(self, day: Day) -> None:
        p = day.p
        self.items = [i for i in p.injections if i.day == day.d]
        self.start = p.start_date
        self.rng = np.random.default_rng([p.seed, day.d, INJECT_SALT])
        self.blackout = blackout(p)

    def _hit(self, i: Injection, t: np.ndarray, camp: np.ndarray, camp_ids: np.ndarray) -> np.ndarray:
        lo, hi = i.hours_ms(self.start)
        hit = (t >= lo) & (t < hi)
        return hit & (camp_ids[camp] == i.campaign) if i.campaign is not None else hit

    def dropped(self, t: np.ndarray, camp: np.ndarray, camp_ids: np.ndarray) -> np.ndarray:
        """Which of the day's impressions are removed: the drops' share and everything in a gap."""
        out = in_blackout(t, self.blackout)
        for i in self.items:
            if i.kind == "impressions_drop":
                out |= self._hit(i, t, camp, camp_ids) & (self.rng.random(len(t)) >= DROP_KEEP)
        return out

    def click_probability(self, t: np.ndarray, camp: np.ndarray, camp_ids: np.ndarray,
                          ctr: np.ndarray) -> np.ndarray:
        """Each impression's click probability, spiked where a ``ctr_spike`` says so."""
        out = ctr
        for i in self.items:
            if i.kind == "ctr_spike":
                spiked = np.clip(np.maximum(ctr * SPIKE_FACTOR, SPIKE_MIN_CTR), 0, SPIKE_MAX_CTR)
                out = np.where(self._hit(i, t, camp, camp_ids), spiked, out)
        return out

    def add_bursts(self, day: Day, imp_t: np.ndarray) -> None:
        """Malformed impressions (readable times in the burst's hour) into the landing files."""
        w = day.world
        for i in self.items:
            if i.kind != "quarantine_burst":
                continue
            lo, hi = i.hours_ms(self.start)
            n = int(round(BURST_SHARE * int(((imp_t >= lo) & (imp_t < hi)).sum())))
            t = np.sort(self.rng.integers(lo, hi, n))
            lines = []
            for j, ms in enumerate(t.tolist()):
                c = int(self.rng.integers(0, len(w.camp_ids)))
                fields = (f'"impression_id":"imp-{day.tag}-burst-{j}","event_time":"{iso_ms(ms)}",'
                          f'"user_id":"{w.user_canon[int(self.rng.integers(0, len(w.user_canon)))]}"')
                broken = (f',"ad_creative_id":"{w.creatives[c, 0]}","website":"{w.hosts[0]}"',  # campaign_id missing
                          f',"campaign_id":"{w.camp_ids[c]}","ad_creative_id":"{w.creatives[c, 0]}",'
                          f'"website":"{w.hosts[0]}","cost_micros":-{1 + j % 900}',
                          f',"campaign_id":"{w.camp_ids[c]}","ad_creative_id":"{w.creatives[c, 0]}",'
                          f'"website":"{w.hosts[0]}","cost_micros":"n/a"')[j % 3]
                lines.append("{" + fields + broken + "}")
            sink = day.imp_files
            sink.add(np.full(n, day.d), self.rng.integers(0, sink.parts, n), t, obj_array(lines))
