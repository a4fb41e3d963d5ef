"""Anomalies on purpose: ``--inject`` parsing, traffic that carries them, the truth that lists them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from advertisex import contract
from advertisex.config import load_config
from advertisex.generate import TruthBuilder, compute_truth
from advertisex.generate.cli import history_warnings
from advertisex.generate.formats import HOUR_MS
from advertisex.generate.inject import BURST_SHARE, DROP_KEEP, Injection, parse_injections
from advertisex.generate.truth import parse_event_time
from advertisex.generate.truth.files import file_lines, read_text
from advertisex.generate.truth.normalise import event_date
from support import TEST_CONF

from .conftest import SMALL, run_small

START = SMALL.start_date  # 2026-11-02, 9 days, 12 campaigns


def parse(text: str) -> tuple[Injection, ...]:
    return parse_injections(text, start_date=START, days=SMALL.days, campaigns=SMALL.campaigns)


def test_parse_days_as_indexes_or_dates_hours_and_campaigns() -> None:
    assert parse("impressions_drop@8:20, impressions_drop@2026-11-05:3:cmp-0011,ctr_spike@1:0:cmp-0000,"
                 "quarantine_burst@2:23,gap@4:0-23,gap@5:7") == (
        Injection("impressions_drop", 8, 20, 20), Injection("impressions_drop", 3, 3, 3, "cmp-0011"),
        Injection("ctr_spike", 1, 0, 0, "cmp-0000"), Injection("quarantine_burst", 2, 23, 23),
        Injection("gap", 4, 0, 23), Injection("gap", 5, 7, 7))
    assert parse("") == ()


@pytest.mark.parametrize(("text", "message"), [
    ("spike@1:2", "KIND@DAY:HOUR"),
    ("gap@9:1", "day 9 is not one of the 9 generated days"),
    ("gap@2026-11-01:1", "not one of the 9 generated days"),
    ("impressions_drop@1:24", "hours are 0-23"),
    ("impressions_drop@1:3-4", "a range H1-H2 only for gap"),
    ("gap@1:5-4", "hours are 0-23"),
    ("ctr_spike@1:3", "ctr_spike needs a campaign"),
    ("gap@1:3:cmp-0001", "gap takes no campaign"),
    ("impressions_drop@1:3:cmp-0012", "no campaign cmp-0012"),
])
def test_parse_names_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(text)


def test_an_injection_on_a_day_without_history_is_warned_about() -> None:
    cfg = load_config(TEST_CONF, environ={})
    assert history_warnings(parse("impressions_drop@8:20,gap@0:0-23,quarantine_burst@3:1"), cfg) == []
    assert history_warnings(parse("impressions_drop@6:20,ctr_spike@2:1:cmp-0001"), cfg) == [
        "impressions_drop on day 6: the checks need anomaly.impressions_drop.min_days=7 earlier days, so they "
        "will stay silent for it",
        "ctr_spike on day 2: the checks need anomaly.ctr_spike.min_history_days=3 earlier days, so they will "
        "stay silent for it"]


def _digests(root: Path, before: str) -> dict[str, str]:
    """The landing files that arrived before ``before`` (``<prefix><arrival>_from-<origin>_part-N``)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / "landing").rglob("*_from-*"))
            if p.name.split("_from-")[0][-10:] < before}


def _hour(ms: int) -> tuple[str, int]:
    return event_date(ms), ms // HOUR_MS % 24


def test_injected_traffic_carries_each_anomaly_and_the_truth_lists_it(tmp_path: Path, small_set) -> None:
    """Drop, spike, burst and gaps on days 4-7; what arrived before the first of them (day 4's gap,
    which also takes the later clicks and conversions of earlier days) is byte for byte the clean
    traffic: the injections draw from a generator of their own."""
    root, clean = small_set
    spec = ("impressions_drop@5:20,ctr_spike@6:20:cmp-0003,quarantine_burst@7:19,gap@7:3-4,gap@4:0-23")
    injected = dataclasses.replace(SMALL, injections=parse(spec))
    manifest = run_small(tmp_path, params=injected)
    assert manifest["params"]["injections"][0] == {"kind": "impressions_drop", "day": 5, "first_hour": 20,
                                                   "last_hour": 20, "campaign": None}
    assert "injections" not in clean["params"]
    same = _digests(tmp_path, "2026-11-06")
    assert len(same) > 10 and same == _digests(root, "2026-11-06")

    before, after = compute_truth(clean, include_kafka=True), compute_truth(manifest, include_kafka=True)
    count = lambda truth, key: sum(1 for i in truth.impressions.values() if _hour(i.t) == key)  # noqa: E731
    # The drop keeps about a tenth of the hour; the gaps keep nothing, of any kind.
    dropped = ("2026-11-07", 20)
    assert 0 < count(after, dropped) < 2 * DROP_KEEP * count(before, dropped)
    gap_hours = {("2026-11-06", h) for h in range(24)} | {("2026-11-09", 3), ("2026-11-09", 4)}
    for records in (after.impressions.values(), after.clicks.values(), after.conversions.values()):
        assert not [r for r in records if _hour(r.t) in gap_hours]
    # The burst's impressions are malformed (the truth quarantines each), with times in their hour.
    burst = [json.loads(line) for path in manifest["impression_files"] for line in file_lines(read_text(path))
             if "-burst-" in line]
    assert len(burst) == pytest.approx(BURST_SHARE * count(before, ("2026-11-09", 19)), rel=0.1)
    judge = TruthBuilder(now_ms=manifest["now_ms"])
    assert {judge.add_impression(json.dumps(r)) for r in burst} == {
        contract.REASON_MISSING_FIELD, contract.REASON_NEGATIVE_COST, contract.REASON_BAD_TYPE}
    assert {_hour(parse_event_time(r["event_time"])) for r in burst} == {("2026-11-09", 19)}

    expected = {(e["rule"], e["event_date"], e["event_hour"], e["campaign_id"]): e for e in after.anomalies}
    assert set(expected) == {
        ("impressions_drop", "2026-11-07", 20, None), ("ctr_spike", "2026-11-08", 20, "cmp-0003"),
        ("quarantine_rate", "2026-11-09", 19, None), ("impressions_drop", "2026-11-09", 3, None),
        ("impressions_drop", "2026-11-09", 4, None), ("missing_partition", "2026-11-06", None, None)}
    assert expected[("impressions_drop", "2026-11-07", 20, None)]["observed"] == count(after, dropped)
    assert expected[("impressions_drop", "2026-11-09", 3, None)]["observed"] == 0
    spike = expected[("ctr_spike", "2026-11-08", 20, "cmp-0003")]
    assert spike["observed"] > 0.1 and spike["injected"] == "ctr_spike@6:20:cmp-0003"
    assert before.anomalies == []
