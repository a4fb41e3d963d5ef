"""Filters on a few known keys as literals: the same rows an equi-join on the keys picks."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from advertisex.transforms.keys import LITERAL_KEYS, dates_in, few_enough, in_keys


def test_literal_key_match_equals_the_join(spark) -> None:
    """The re-attribution's literal key filter picks exactly the rows an equi-join on the
    keys picks: nulls (in a row or in a key) match nothing."""
    rows = spark.createDataFrame(
        [("r1", "u1", "c1"), ("r2", "u1", "c2"), ("r3", None, "c1"), ("r4", "u2", None), ("r5", None, None),
         ("r6", "u3", "c3")],
        "id string, user_id string, campaign_id string",
    )
    pairs = [("u1", "c1"), (None, "c1"), ("u2", None), ("u3", "c3"), ("u9", "c9")]
    # Past 10 literals Spark turns IN into a hash-set lookup (InSet): both forms are checked.
    for extra in (0, 20):
        keys = pairs + [(f"u{n}x", f"c{n}x") for n in range(extra)]
        joined = rows.join(spark.createDataFrame(keys, "user_id string, campaign_id string"),
                           ["user_id", "campaign_id"], "left_semi")
        assert_df_equality(rows.where(in_keys(("user_id", "campaign_id"), keys)), joined,
                           ignore_row_order=True, ignore_column_order=True)
        ids = [("r1",), ("r5",), (None,)] + [(f"r{n}x",) for n in range(extra)]
        assert sorted(r.id for r in rows.where(in_keys(("id",), ids)).collect()) == ["r1", "r5"]
    # A null id is "no match" (False, not null): the condition can be negated safely.
    assert rows.where(~in_keys(("user_id",), [("u1",)])).count() == 4
    assert rows.where(in_keys(("user_id", "campaign_id"), [])).count() == 0
    assert rows.where(~in_keys(("user_id", "campaign_id"), pairs)).count() == 4


def test_few_enough_and_dates_in() -> None:
    assert few_enough(range(LITERAL_KEYS)) and not few_enough(range(LITERAL_KEYS + 1)) and not few_enough(None)
    assert dates_in("d", []) == "false"
    assert dates_in("d", [dt.date(2026, 11, 2), dt.date(2026, 11, 1), dt.date(2026, 11, 2)]) == (
        "d IN (DATE'2026-11-01', DATE'2026-11-02')"
    )
