"""Names of the files and folders a generated data set consists of.

:mod:`advertisex.generate.generator` describes where each one lands; the producer and
the truth find them again through ``manifest.json``.
"""

from __future__ import annotations

IMPRESSION_PREFIX = "impressions_"     # landing impression files
CLICK_PREFIX = "click_events_"         # landing click/conversion files
KAFKA_DIR = "kafka"                    # under the output folder: what ``produce`` sends
MANIFEST = "manifest.json"             # under the output folder: params and file lists


def kafka_impression_values_name(day: int) -> str:
    """File (under ``out/kafka``) of day ``day``'s impression messages, one JSON value a line."""
    return f"impressions_d{day:04d}.values.jsonl"


def kafka_impression_keys_name(day: int) -> str:
    """File of the matching message keys (raw ``user_id``; empty line = null key)."""
    return f"impressions_d{day:04d}.keys.txt"


def bids_name(day: int) -> str:
    """File of day ``day``'s stored bid rows (see :mod:`advertisex.generate.bids`)."""
    return f"bid_requests_d{day:04d}.npy"
