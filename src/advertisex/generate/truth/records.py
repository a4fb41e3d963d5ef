"""The truth's data: attribution windows, the records it keeps, and the :class:`Truth` itself."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


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
    """A valid impression, normalised (``t`` epoch ms, ``user_id`` trimmed and lower-cased)."""

    impression_id: str
    t: int
    user_id: str
    campaign_id: str
    cost_micros: int
    bid_request_id: str | None


@dataclass
class ClickEvent:
    """A valid click or conversion, normalised (``event_type`` ``click`` or ``conversion``)."""

    event_id: str
    event_type: str
    t: int
    user_id: str
    campaign_id: str
    impression_id: str
    value: Decimal


@dataclass
class Bid:
    """A valid bid request: what gold/bid_daily needs of it."""

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
    anomalies: list[dict[str, Any]] = field(default_factory=list)  # injected: what the checks should find
