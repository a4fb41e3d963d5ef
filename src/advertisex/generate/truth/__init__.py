"""Ground truth computed from the contract alone, in plain Python.

Nothing here uses generator internals: the truth re-reads what was written (JSON Lines,
CSV, the bid items the producer sends), validates and normalises each record by
docs/CONTRACT.md §1.5/§1.6, de-duplicates by ``impression_id`` / ``event_id`` /
``bid_request_id`` (first valid occurrence wins), attributes clicks and conversions by
§3 and aggregates the gold tables.

- :mod:`~advertisex.generate.truth.normalise` — §1.5 event times, user ids, websites, ...;
- :mod:`~advertisex.generate.truth.records` — :class:`Windows`, the kept records, :class:`Truth`;
- :mod:`~advertisex.generate.truth.builder` — :class:`TruthBuilder` (validation,
  de-duplication, counts) and :func:`truth_from_events`;
- :mod:`~advertisex.generate.truth.attribution` — §3 attribution;
- :mod:`~advertisex.generate.truth.gold` — the campaign_daily and bid_daily rows;
- :mod:`~advertisex.generate.truth.files` — :func:`compute_truth` (from a generated data
  set) and :func:`write_truth` (the truth files, listed there).
"""

from __future__ import annotations

from advertisex.generate.truth.builder import TruthBuilder, truth_from_events
from advertisex.generate.truth.files import compute_truth, write_truth
from advertisex.generate.truth.normalise import (
    event_date,
    normalise_country,
    normalise_device,
    normalise_user_id,
    normalise_website,
    parse_event_time,
)
from advertisex.generate.truth.records import Bid, ClickEvent, Impression, Truth, Windows

__all__ = [
    "Truth", "TruthBuilder", "Windows", "compute_truth", "write_truth", "truth_from_events",
    "parse_event_time", "normalise_user_id", "normalise_website", "normalise_country",
    "normalise_device", "event_date", "Impression", "ClickEvent", "Bid",
]
