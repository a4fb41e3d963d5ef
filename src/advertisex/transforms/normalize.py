"""Column rules of docs/CONTRACT.md §1.5: ``Column -> Column`` functions on Spark built-ins.

Every rule is null-safe (null in, null out) and never raises on bad input, ANSI mode
included: parsing goes through ``try_*`` functions and regular expressions.

The time rules do not depend on ``spark.sql.session.timeZone``: a zone-less ISO string
is rewritten with an explicit ``Z`` before parsing, and dates/hours are computed from
epoch microseconds, so the results are UTC whatever the session time zone.
"""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import Column

from advertisex import contract as C

MICROS_PER_SECOND = 1_000_000
MICROS_PER_HOUR = 3_600 * MICROS_PER_SECOND
MICROS_PER_DAY = 24 * MICROS_PER_HOUR

# The ISO-8601 timestamp shape of docs/CONTRACT.md §1.5 (``2026-11-20T13:04:05.120+01:00``):
#   1 date  2 hour:minute  3 :seconds  4 .fraction (optional)  5 zone (Z or ±hh:mm; none = UTC)
# Deliberately strict, like the contract's examples and the generator's truth: a space
# instead of ``T``, a date alone, lower-case ``t``/``z``, ``+01``/``+0100`` offsets and
# surrounding whitespace are not accepted (bad_event_time), so every consumer of the
# contract reads the same instant from the same text.
ISO_TIMESTAMP_RE = (
    r"^(\d{4}-\d{2}-\d{2})"
    r"T(\d{2}:\d{2})(:\d{2})(\.\d{1,9})?"
    r"(Z|[+-]\d{2}:\d{2})?$"
)
# Epoch milliseconds: digits only (leading zeros aside), at most contract.MAX_EPOCH_MILLIS (15 digits: the
# value always fits a timestamp and never overflows under ANSI mode).
EPOCH_MILLIS_RE = r"^0*\d{1,15}$"

# Host part of a URL or bare domain (applied to the lower-cased, trimmed text):
#   optional scheme "xxx://" or protocol-relative "//", optional userinfo "user[:pw]@",
#   optional "www.", then the host up to a port, path, query or fragment.
WEBSITE_HOST_RE = r"^(?:[a-z][a-z0-9+.\-]*://|//)?(?:[^@/?#]*@)?(?:www\.)?([^:/?#@]*)"
WHITESPACE = C.WHITESPACE  # what `strip` removes


def strip(col: Column) -> Column:
    """Leading and trailing whitespace (spaces, tabs, line breaks) removed.

    Spark's ``trim`` removes only the space character; CSV and JSON producers also leave
    tabs and line breaks around values. The characters removed are exactly the regex
    class ``\\s`` (:data:`WHITESPACE`), with a native trim rather than a regex.

    Args:
        col: a string column.

    Returns:
        A string column.
    """
    return F.btrim(col, F.lit(WHITESPACE))


def empty_to_null(col: Column) -> Column:
    """Null when the text is null, empty or only whitespace; the text unchanged otherwise.

    Args:
        col: a string column.

    Returns:
        A string column.
    """
    return F.when(strip(col) != "", col)


def clean_id(col: Column) -> Column:
    """An identifier exactly as received; empty or whitespace-only → null.

    docs/CONTRACT.md §1.5 normalises ``user_id`` only: other ids (``campaign_id``,
    ``impression_id``, ...) are compared as received, so ``" c1"`` and ``"c1"`` differ.

    Args:
        col: a string column (ids such as ``campaign_id``, ``impression_id``).

    Returns:
        A string column.
    """
    return empty_to_null(col)


def user_id(col: Column) -> Column:
    """§1.5 user_id: trimmed and lower-cased (``" U-00123 "`` → ``"u-00123"``); empty → null.

    Args:
        col: the raw ``user_id`` text.

    Returns:
        A string column.
    """
    # The stripped text has no surrounding whitespace, so "blank" is just "": nullif
    # evaluates it once (CASE WHEN would evaluate it twice).
    return F.nullif(F.lower(strip(col)), F.lit(""))


def website(col: Column) -> Column:
    """§1.5 website: the lower-cased host only.

    Scheme, ``//``, userinfo, ``www.``, port, path, query and fragment are removed, and a
    trailing dot of a fully qualified name too:
    ``https://www.News.example.com:443/a?b=1`` → ``news.example.com``; ``x.com/path`` →
    ``x.com``. Text with no host left (e.g. ``"/path"``) becomes null.

    Args:
        col: the raw ``website`` text (domain or URL).

    Returns:
        A string column.
    """
    # One regex on the lower-cased text, then whitespace and trailing dots trimmed (an anchored
    # regex: the two-argument rtrim is deprecated in Spark 4); nullif (unlike CASE WHEN)
    # evaluates the expression once.
    host = F.regexp_extract(F.lower(strip(col)), WEBSITE_HOST_RE, 1)
    return F.nullif(F.regexp_replace(strip(host), r"\.+$", ""), F.lit(""))


def country(col: Column) -> Column:
    """§1.5 country: upper-cased ISO alpha-2; anything but exactly two letters → null.

    Surrounding whitespace is ignored (``" us "`` → ``"US"``).

    Args:
        col: the raw ``country`` text.

    Returns:
        A string column.
    """
    up = F.upper(strip(col))
    return F.when(up.rlike(r"^[A-Z]{2}$"), up)


def device_type(col: Column) -> Column:
    """§1.5 device_type: lower-cased and mapped by :data:`contract.DEVICE_TYPE_MAP`.

    Any other non-empty value → ``"other"``; null or empty → null.

    Args:
        col: the raw ``device_type`` text.

    Returns:
        A string column.
    """
    low = F.lower(strip(col))
    mapping = F.create_map(*[F.lit(x) for kv in sorted(C.DEVICE_TYPE_MAP.items()) for x in kv])
    # element_at/[] on a map returns null for a missing key, also under ANSI mode
    # (try_element_at makes that explicit).
    mapped = F.try_element_at(mapping, low)
    return F.when(low == "", F.lit(None).cast("string")).otherwise(
        F.coalesce(mapped, F.when(low.isNotNull(), F.lit(C.DEVICE_TYPE_OTHER)))
    )


def event_time(col: Column) -> Column:
    """§1.5 event_time: raw text → UTC timestamp; null (never an error) when unparseable.

    Accepted: ISO-8601 ``yyyy-MM-ddTHH:mm:ss[.fraction]`` with ``Z`` or a ``±hh:mm``
    offset (``2026-11-20T13:04:05.120+01:00``) or without zone (taken as UTC), and epoch
    milliseconds as a string of digits up to 9999-12-31. Invalid dates (``2026-02-30``) and anything else
    (see :data:`ISO_TIMESTAMP_RE`) give null.

    Args:
        col: the raw ``event_time`` (string; a numeric column is read as its text).

    Returns:
        A timestamp column (UTC instant).
    """
    text = col.cast("string")
    # The strict shape (ISO_TIMESTAMP_RE) is already what Spark's parser reads in full; only
    # a missing zone needs the explicit "Z" (UTC), so no session time zone is involved.
    # Where the shape matched, a zone is a final "Z" or a "±hh:mm" whose sign is 6th from the end
    # (plain string functions: a second, unanchored regex over every value is measurably slower).
    has_zone = text.endswith("Z") | F.substring(text, -6, 1).isin("+", "-")
    iso = F.when(
        text.rlike(ISO_TIMESTAMP_RE),
        F.try_to_timestamp(F.when(has_zone, text).otherwise(F.concat(text, F.lit("Z")))),
    )
    ms = F.when(text.rlike(EPOCH_MILLIS_RE), text.try_cast("long"))
    millis = F.when(ms <= C.MAX_EPOCH_MILLIS, F.timestamp_millis(ms))
    return F.coalesce(millis, iso)


def event_date(ts_col: Column) -> Column:
    """The UTC calendar date of a timestamp (independent of the session time zone).

    Args:
        ts_col: a timestamp column.

    Returns:
        A date column.
    """
    micros = F.unix_micros(ts_col)
    days = (micros - F.pmod(micros, F.lit(MICROS_PER_DAY))) / F.lit(MICROS_PER_DAY)
    return F.date_from_unix_date(days.cast("int"))


def event_hour(ts_col: Column) -> Column:
    """The UTC hour of day (0-23) of a timestamp (independent of the session time zone).

    Args:
        ts_col: a timestamp column.

    Returns:
        An int column.
    """
    micros = F.unix_micros(ts_col)
    of_day = F.pmod(micros, F.lit(MICROS_PER_DAY))
    return ((of_day - F.pmod(of_day, F.lit(MICROS_PER_HOUR))) / F.lit(MICROS_PER_HOUR)).cast("int")
