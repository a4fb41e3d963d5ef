"""Time units and the text formats the generator writes (docs/CONTRACT.md §1.5 event times, RFC 4180 CSV).

Two paths render event times: :func:`iso_ms` formats one instant (used for the few
malformed and edge-case records), :func:`render_times` formats whole numpy columns at
once (used for the bulk of the traffic). Both must give the same text for the same
instant and format code.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000

# time format codes
T_Z, T_OFFSET, T_NAIVE, T_EPOCH, T_Z_SECONDS = range(5)
OFFSETS = ("+01:00", "-05:00", "+05:30", "+09:00", "-03:30", "+00:00", "-08:00", "+10:45")


def day_ms(d: date) -> int:
    """Epoch millis of ``d`` at 00:00 UTC."""
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


def obj_array(values: Sequence[Any]) -> np.ndarray:
    """A numpy object array holding ``values`` as they are (strings stay Python strings)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def csv_field(value: str) -> str:
    """RFC 4180: quote a field holding a comma, quote, CR or LF; double inner quotes."""
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_line(fields: Sequence[str]) -> str:
    """One CSV record (no line break) from raw field values."""
    return ",".join(csv_field(f) for f in fields)


def iso_ms(ms: int, fmt: int = T_Z, offset: str = "+01:00") -> str:
    """Render one epoch-ms instant in a §1.5 format (slow path; fast path: :func:`render_times`)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC).replace(
        microsecond=(ms % 1000) * 1000)
    if fmt == T_EPOCH:
        return str(ms)
    if fmt == T_OFFSET:
        sign = 1 if offset[0] == "+" else -1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
        return (dt + delta).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}" + offset
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if fmt == T_Z_SECONDS:
        return text + "Z"
    text += f".{ms % 1000:03d}"
    return text if fmt == T_NAIVE else text + "Z"


def render_times(ms: np.ndarray, codes: np.ndarray, offs: np.ndarray, quote: bool) -> np.ndarray:
    """Render instants in the formats ``codes`` (vectorised). ``quote``: JSON string quotes.

    Args:
        ms: epoch millis.
        codes: one ``T_*`` format code per instant.
        offs: one index into :data:`OFFSETS` per instant (used where the code is ``T_OFFSET``).
        quote: wrap the strings in JSON quotes (epoch millis stay bare numbers).

    Returns:
        An object array of strings.
    """
    out = np.empty(len(ms), dtype=object)
    q = '"' if quote else ""
    for code in range(5):
        idx = np.nonzero(codes == code)[0]
        if len(idx) == 0:
            continue
        sub = ms[idx]
        if code == T_EPOCH:
            out[idx] = [str(v) for v in sub.tolist()]
            continue
        if code == T_OFFSET:
            off_ms = np.array([(1 if o[0] == "+" else -1) * (int(o[1:3]) * 60 + int(o[4:6])) * MINUTE_MS
                               for o in OFFSETS], dtype=np.int64)
            oi = offs[idx]
            text = np.datetime_as_string((sub + off_ms[oi]).astype("datetime64[ms]"), unit="ms")
            suffix = np.array(OFFSETS, dtype=object)[oi]
            out[idx] = [f"{q}{t}{s}{q}" for t, s in zip(text.tolist(), suffix.tolist(), strict=True)]
            continue
        if code == T_Z_SECONDS:
            text = np.datetime_as_string(sub.astype("datetime64[ms]"), unit="s")
            out[idx] = [f"{q}{t}Z{q}" for t in text.tolist()]
            continue
        text = np.datetime_as_string(sub.astype("datetime64[ms]"), unit="ms")
        end = "Z" if code == T_Z else ""
        out[idx] = [f"{q}{t}{end}{q}" for t in text.tolist()]
    return out
