"""Named errors. Each predictable failure has a class whose message is one readable line;
the CLI prints that line (no stack trace) and exits non-zero."""

from __future__ import annotations


class AdvertisexError(RuntimeError):
    """Base of every predictable, user-facing failure."""

    exit_code = 2


class BatchInterruptedError(AdvertisexError):
    """A streaming batch interrupted by its query's stop; the next start replays it."""


class InputPathError(AdvertisexError):
    """A configured input path does not exist."""


class ServiceUnavailableError(AdvertisexError):
    """Kafka or the schema registry does not answer at the configured address."""


class DataQualityError(AdvertisexError):
    """A critical data-quality check failed (docs/CONTRACT.md §4: exit code 3)."""

    exit_code = 3
