"""The declared checks: names unique per suite (they are profile columns and alert names),
every column they name exists in the table, severities as the contract implies."""

from __future__ import annotations

import re

import pytest

from advertisex import tables
from advertisex.quality import checks as K

TABLES = {t.name: t for t in tables.TABLES}


@pytest.mark.parametrize("suite", K.SUITES, ids=lambda s: s.name)
def test_check_names_are_unique_and_name_real_columns(suite):
    names = [c.name for c in suite.checks]
    assert len(names) == len(set(names))
    columns = set(TABLES[suite.table].columns)
    for check in suite.checks:
        for column in check.measure.columns:
            assert set(re.findall(r"[a-z_]+", column)) & columns, (suite.name, check.name)
        if check.measure.predicate:
            words = set(re.findall(r"\b[a-z][a-z_]*\b", check.measure.predicate))
            assert words & columns, (suite.name, check.name)


def test_severities_follow_the_contract_definitions():
    daily = {c.name: c for c in K.suite_of(tables.GOLD_CAMPAIGN_DAILY).checks}
    # Clicks count on their own date: a ctr above 1 is possible in a correct row.
    assert daily["ctr_at_most_1"].severity == daily["clicks_at_most_impressions"].severity == K.WARNING
    assert daily["ctr_consistent"].severity == daily["event_date_campaign_id_unique"].severity == K.CRITICAL
    bids = {c.name: c for c in K.suite_of(tables.GOLD_BID_DAILY).checks}
    assert bids["win_rate_at_most_1"].severity == K.CRITICAL
    for suite in K.SUITES:
        kinds = {c.measure.kind: c.severity for c in suite.checks if c.measure.kind in (
            K.UNKNOWN_CAMPAIGNS, K.FENCE, K.VOLUME, K.FRESHNESS)}
        assert set(kinds.values()) == {K.WARNING}, suite.name


def test_expected_in_words():
    assert K.not_null("x").expected() == "= 0"
    assert K.mostly_present("x", 0.8).expected() == "<= 0.2"
    assert K.volume().expected() == "between 0.2 and 5"
    assert K.freshness("t").expected() == "<= quality.freshness_hours"
