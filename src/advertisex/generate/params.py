"""Parameters of the traffic generator: sizes, dates and every realism rate.

All rates are probabilities per record of the stream they apply to, unless the field
doc says otherwise. A malformed-record rate > 0 guarantees at least one record of that
kind per generated day, so small data sets still exercise every quarantine reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from advertisex.generate.inject import Injection

DEFAULT_START_DATE = date(2026, 11, 16)  # fixed, in the past: same arguments → same bytes


@dataclass(frozen=True)
class Rates:
    """Realism knobs. Every one can be set from the CLI with ``--rate name=value``."""

    # ---- delivery
    duplicate: float = 0.01            # record sent/written twice (producer retry, same row in two files)
    cross_duplicate: float = 0.001     # file impression also sent on Kafka (same impression_id)
    late: float = 0.02                 # record lands in a file of a later day (1-3 days late)
    kafka_share: float = 0.5           # share of impressions that go live to Kafka instead of files
    gz_share: float = 0.3              # share of landing files written gzip-compressed
    extra_field: float = 0.05          # impression carries an unknown extra field (kept in bronze)
    # ---- formats (§1.5)
    time_epoch: float = 0.15           # event_time as epoch millis (JSON number / CSV digits)
    time_offset: float = 0.2           # ISO with a non-Z offset
    time_naive: float = 0.1            # ISO without zone (UTC)
    time_no_fraction: float = 0.1      # ISO with Z, whole seconds
    messy_user_id: float = 0.3         # user_id upper-cased and/or space padded
    full_url: float = 0.4              # website as URL (scheme, www, port, path, query)
    messy_device: float = 0.3          # device_type synonyms / odd case / unknown
    # ---- behaviour
    ctr_median: float = 0.02           # median campaign CTR (lognormal across campaigns)
    ctr_sigma: float = 0.9
    cvr_median: float = 0.08           # median campaign click→conversion rate (lognormal)
    click_with_impression_id: float = 0.7
    click_unknown_impression_id: float = 0.03   # of clicks carrying an impression_id
    click_out_of_window: float = 0.05  # click more than the click window after its impression
    stray_click: float = 0.05          # clicks with no impression behind them (per organic click)
    conversion_out_of_window: float = 0.05      # conversion later than the conversion window
    post_view_conversion: float = 0.001         # per unclicked impression
    stray_conversion: float = 0.1      # conversions with no click/impression (per organic conversion)
    bid_link: float = 0.85             # impression carries the bid_request_id of a won auction
    extra_bids: float = 0.5            # lost / no-bid auctions per impression
    bid_v2_share: float = 0.5          # bid requests written with schema v2
    unknown_campaign: float = 0.05     # share of campaigns missing from campaigns.csv
    unknown_user: float = 0.03         # share of users missing from users.csv
    # ---- malformed (§1.6), per record of the source they apply to
    bad_json: float = 0.0005
    bad_csv: float = 0.001
    missing_field: float = 0.001
    bad_type: float = 0.0003
    bad_event_time: float = 0.001
    future_event_time: float = 0.0005
    unknown_event_type: float = 0.001
    negative_cost: float = 0.0005
    negative_value: float = 0.002      # per conversion
    bad_value: float = 0.001           # per conversion
    bad_magic_byte: float = 0.0005
    unknown_schema_id: float = 0.0005
    bad_avro: float = 0.0005

    def with_overrides(self, pairs: dict[str, float]) -> Rates:
        """A copy with some rates replaced.

        Args:
            pairs: rate name → value in [0, 1] (``extra_bids``, ``ctr_sigma`` may exceed 1).

        Returns:
            The new :class:`Rates`.

        Raises:
            ValueError: unknown rate name or negative value.
        """
        names = {f.name for f in dataclasses.fields(self)}
        for key, value in pairs.items():
            if key not in names:
                raise ValueError(f"unknown rate {key!r}; known: {', '.join(sorted(names))}")
            if value < 0:
                raise ValueError(f"rate {key!r} must be >= 0, got {value}")
        return dataclasses.replace(self, **pairs)


@dataclass(frozen=True)
class GenerateParams:
    """What to generate. Same params → same bytes."""

    seed: int = 42
    start_date: date = DEFAULT_START_DATE
    days: int = 7
    impressions_per_day: int = 100_000
    users: int = 20_000
    campaigns: int = 50
    impression_files_per_day: int = 2
    click_files_per_day: int = 2
    future_offset_days: int = 3650     # future-malformed records lie this far after the last day
    edge_cases: bool = True            # add the hand-made attribution edge cases each day
    # windows the generator aims its edge cases at (pass cfg.attribution.*)
    click_window_minutes: int = 30
    conversion_window_days: int = 7
    view_through_window_hours: int = 24
    rates: Rates = field(default_factory=Rates)
    # anomalies on purpose (advertisex.generate.inject); none: the clean traffic
    injections: tuple[Injection, ...] = ()

    def __post_init__(self) -> None:
        if self.days < 1 or self.impressions_per_day < 1 or self.users < 1 or self.campaigns < 1:
            raise ValueError("days, impressions_per_day, users and campaigns must all be >= 1")
        if self.impression_files_per_day < 1 or self.click_files_per_day < 1:
            raise ValueError("files per day must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for ``manifest.json``)."""
        out = dataclasses.asdict(self)
        out["start_date"] = self.start_date.isoformat()
        # Listed only when there are some: a clean data set's manifest stays as it always was.
        out["injections"] = [i.to_dict() for i in self.injections]
        if not self.injections:
            del out["injections"]
        return out
