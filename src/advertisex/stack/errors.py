"""The one error the local stack raises."""

from __future__ import annotations

from advertisex.errors import AdvertisexError


class StackError(AdvertisexError):
    """The local broker or registry cannot be started, reached or stopped.

    The message is one readable line naming the problem (a port, a missing ``java``,
    a log file to read); :class:`AdvertisexError` is a :class:`RuntimeError`.
    """
