"""Column rules of docs/CONTRACT.md §1.5 (advertisex.transforms.normalize)."""

from __future__ import annotations

import datetime as dt

import pyspark.sql.functions as F
import pytest
from chispa import assert_column_equality

from advertisex.transforms import normalize as N

UTC = dt.UTC


def _check_text_rule(spark, rule, cases: list[tuple[str | None, str | None]]) -> None:
    df = spark.createDataFrame(cases, "raw string, expected string")
    assert_column_equality(df.withColumn("actual", rule(F.col("raw"))), "actual", "expected")


def test_user_id_trims_and_lowercases(spark) -> None:
    _check_text_rule(
        spark,
        N.user_id,
        [
            (" U-00123 ", "u-00123"),  # the contract's example
            ("u-00123", "u-00123"),
            ("\tAbC\n", "abc"),
            ("", None),
            ("   ", None),
            (None, None),
        ],
    )


def test_website_keeps_lowercased_host_only(spark) -> None:
    _check_text_rule(
        spark,
        N.website,
        [
            ("https://www.News.example.com:443/a?b=1", "news.example.com"),  # the contract's example
            ("news.example.com", "news.example.com"),
            ("www.x.com", "x.com"),
            ("x.com/path/page.html", "x.com"),
            ("//x.com/a", "x.com"),
            ("HTTP://X.COM", "x.com"),
            ("x.com:8080", "x.com"),
            ("x.com?q=1", "x.com"),
            ("x.com#frag", "x.com"),
            ("https://user:pw@www.host.com:80/p", "host.com"),
            ("  example.org.  ", "example.org"),
            ("wwwx.com", "wwwx.com"),  # only a "www." label is removed
            ("www.www.x.com", "www.x.com"),
            ("/just/a/path", None),
            ("WWW.Example.COM..", "example.com"),
            ("https:// x.com /p", "x.com"),  # whitespace around the host is not part of it
            ("www.", None),
            ("", None),
            (None, None),
        ],
    )


def test_country_is_two_letters_upper_or_null(spark) -> None:
    _check_text_rule(
        spark,
        N.country,
        [
            ("us", "US"),
            ("De", "DE"),
            (" fr ", "FR"),
            ("USA", None),
            ("U", None),
            ("U1", None),
            ("É", None),
            ("", None),
            (None, None),
        ],
    )


def test_device_type_maps_to_canonical_values(spark) -> None:
    _check_text_rule(
        spark,
        N.device_type,
        [
            ("phone", "mobile"),
            ("SmartPhone", "mobile"),
            (" Mobile ", "mobile"),
            ("PC", "desktop"),
            ("desktop", "desktop"),
            ("Tablet", "tablet"),
            ("tv", "ctv"),
            ("CTV", "ctv"),
            ("connected_tv", "ctv"),
            ("watch", "other"),
            ("smart phone", "other"),
            ("", None),
            ("  ", None),
            (None, None),
        ],
    )


EVENT_TIME_CASES = [
    # the contract's example: offset +01:00
    ("2026-11-20T13:04:05.120+01:00", dt.datetime(2026, 11, 20, 12, 4, 5, 120_000, tzinfo=UTC)),
    ("2026-11-20T13:04:05Z", dt.datetime(2026, 11, 20, 13, 4, 5, tzinfo=UTC)),
    ("2026-11-20t13:04:05z", None),  # strict shape: upper-case T and Z only
    ("2026-11-20T13:04:05.5-05:30", dt.datetime(2026, 11, 20, 18, 34, 5, 500_000, tzinfo=UTC)),
    ("2026-11-20T13:04:05+0100", None),
    ("2026-11-20T13:04:05+01", None),
    ("2026-11-20T00:30:00+02:00", dt.datetime(2026, 11, 19, 22, 30, tzinfo=UTC)),  # previous UTC day
    # without zone: UTC
    ("2026-11-20T13:04:05", dt.datetime(2026, 11, 20, 13, 4, 5, tzinfo=UTC)),
    ("2026-11-20T13:04:05.123456789", dt.datetime(2026, 11, 20, 13, 4, 5, 123_456, tzinfo=UTC)),
    ("2026-11-20 13:04:05.123", None),
    ("2026-11-20T13:04", None),
    ("2026-11-20", None),
    ("  2026-11-20T13:04:05Z  ", None),
    # epoch milliseconds
    ("1763643845120", dt.datetime(2025, 11, 20, 13, 4, 5, 120_000, tzinfo=UTC)),
    (" 1763643845120 ", None),
    ("0", dt.datetime(1970, 1, 1, tzinfo=UTC)),
    # anything else: null, never an error
    ("99999999999999999999", None),
    ("-1763643845120", None),
    ("1763643845120.5", None),
    ("2026-02-30T00:00:00Z", None),
    ("2026-11-20T25:00:00Z", None),
    ("2026-11", None),
    ("T13:04:05", None),
    ("2026-11-20T13:04:05 UTC", None),
    ("20/11/2026 13:04", None),
    ("not a time", None),
    ("", None),
    (None, None),
]


def test_event_time_parses_iso_and_epoch_millis(spark) -> None:
    df = spark.createDataFrame(EVENT_TIME_CASES, "raw string, expected timestamp")
    assert_column_equality(df.withColumn("actual", N.event_time(F.col("raw"))), "actual", "expected")


def test_event_time_ignores_session_time_zone(spark) -> None:
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        df = spark.createDataFrame(EVENT_TIME_CASES, "raw string, expected timestamp")
        out = df.withColumn("actual", N.event_time(F.col("raw")))
        assert_column_equality(out, "actual", "expected")
    finally:
        spark.conf.set("spark.sql.session.timeZone", before)


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo"])
def test_event_date_and_hour_are_utc(spark, tz: str) -> None:
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", tz)
    try:
        rows = [
            (dt.datetime(2026, 11, 20, 23, 59, 59, 999_000, tzinfo=UTC), dt.date(2026, 11, 20), 23),
            (dt.datetime(2026, 11, 21, 0, 0, tzinfo=UTC), dt.date(2026, 11, 21), 0),
            (dt.datetime(2026, 11, 21, 14, 30, tzinfo=UTC), dt.date(2026, 11, 21), 14),
            (dt.datetime(1969, 12, 31, 23, 0, tzinfo=UTC), dt.date(1969, 12, 31), 23),
            (None, None, None),
        ]
        df = spark.createDataFrame(rows, "ts timestamp, expected_date date, expected_hour int")
        out = df.withColumn("date", N.event_date(F.col("ts"))).withColumn(
            "hour", N.event_hour(F.col("ts"))
        )
        assert_column_equality(out, "date", "expected_date")
        assert_column_equality(out, "hour", "expected_hour")
    finally:
        spark.conf.set("spark.sql.session.timeZone", before)


def test_empty_to_null_and_clean_id(spark) -> None:
    _check_text_rule(spark, N.clean_id, [(" C-1 ", " C-1 "), ("C-1", "C-1"), ("", None), ("  ", None), (None, None)])
    _check_text_rule(spark, N.empty_to_null, [(" a ", " a "), ("", None), (" ", None), (None, None)])


def test_strip_removes_exactly_the_whitespace_class_at_either_end(spark) -> None:
    ws = N.WHITESPACE
    cases = [(f"{c}a b{c}", "a b") for c in ws] + [(f"{c}a", "a") for c in ws] + [(f"a{c}", "a") for c in ws]
    cases += [
        (ws + "x" + ws, "x"), (ws, ""), ("", ""), (None, None), ("a\tb", "a\tb"),  # inner whitespace is data
        ("\u00a0a\u00a0", "\u00a0a\u00a0"), ("é ", "é"), (" 日本", "日本"),  # no-break space is data (§1.5)
    ]
    _check_text_rule(spark, N.strip, cases)
