"""docs/CONTRACT.md §1.5 normalisation, re-implemented in plain Python for the truth.

Deliberately independent of the pipeline's transforms and of the generator: the truth
mirrors the contract's words, so a disagreement with the pipeline points at one of them.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from advertisex import contract

DAY_MS = 86_400_000
_EPOCH_ORD = date(1970, 1, 1).toordinal()
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")
_TWO_LETTERS = re.compile(r"^[A-Za-z]{2}$")


def parse_event_time(value: Any, *, digits_allowed: bool = False) -> int | None:
    """§1.5 event_time → epoch millis (UTC), or None when it does not parse.

    Args:
        value: a JSON number (int, epoch ms), an ISO-8601 string with Z / offset / no zone,
            or (``digits_allowed``, CSV) a string of digits (epoch ms).
        digits_allowed: accept a string of digits as epoch millis.

    Returns:
        Epoch millis, or None.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= contract.MAX_EPOCH_MILLIS else None
    if not isinstance(value, str):
        return None
    if digits_allowed and value.isdigit() and value.isascii():
        return int(value) if int(value) <= contract.MAX_EPOCH_MILLIS else None
    m = _ISO.match(value)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    try:
        days = date(int(y), int(mo), int(d)).toordinal() - _EPOCH_ORD
    except ValueError:
        return None
    if int(h) > 23 or int(mi) > 59 or int(s) > 59:
        return None
    ms = int((frac or "").ljust(3, "0")[:3])
    total = ((days * 24 + int(h)) * 60 + int(mi)) * 60_000 + int(s) * 1000 + ms
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        total -= sign * (int(zone[1:3]) * 60 + int(zone[4:6])) * 60_000
    return total


def normalise_user_id(value: str) -> str:
    """Trimmed and lower-cased."""
    return value.strip(contract.WHITESPACE).lower()


def normalise_website(value: str) -> str:
    """Lower-cased host only: scheme, ``www.``, port, path, query, fragment removed."""
    v = _SCHEME.sub("", value.strip(contract.WHITESPACE).lower())
    for sep in "/?#":
        v = v.split(sep, 1)[0]
    v = v.rsplit("@", 1)[-1]
    v = re.sub(r":\d*$", "", v)
    return v[4:] if v.startswith("www.") else v


def normalise_country(value: Any) -> str | None:
    """Upper-cased; anything but two letters → None."""
    if isinstance(value, str) and _TWO_LETTERS.match(value.strip(contract.WHITESPACE)):
        return value.strip(contract.WHITESPACE).upper()
    return None


def normalise_device(value: Any) -> str | None:
    """Lower-cased and mapped by §1.5; other non-empty → ``other``; empty/None → None."""
    if not isinstance(value, str) or not value.strip(contract.WHITESPACE):
        return None
    return contract.DEVICE_TYPE_MAP.get(value.strip(contract.WHITESPACE).lower(), contract.DEVICE_TYPE_OTHER)


def event_date(ms: int) -> str:
    """UTC calendar date of epoch millis, ``YYYY-MM-DD``."""
    return date.fromordinal(_EPOCH_ORD + ms // DAY_MS).isoformat()
