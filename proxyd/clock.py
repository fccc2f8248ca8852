"""Wall-clock time in epoch milliseconds: the unit of every timestamp proxyd stores and sends."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_ms(epoch_ms: int) -> str:
    """``epoch_ms`` as JavaScript's ``Date.prototype.toISOString`` writes it: ``2025-07-26T15:14:20.999Z``.

    Out of ``datetime``'s range (corrupt legacy data), the number itself.
    """
    try:
        moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    except OverflowError:
        return str(epoch_ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


def epoch_ms(moment: datetime) -> int:
    """An aware datetime in epoch milliseconds; timedelta division is exact, float seconds could lose one."""
    return (moment - _EPOCH) // _ONE_MS
