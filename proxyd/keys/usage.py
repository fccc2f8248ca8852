"""Usage counts: a key's requests and the time of the latest, added up before they are written.

The usage flush (:mod:`proxyd.gateway.recorder`) adds up each key's uses in memory and hands
the account store and the client-key store increments, which both write as the same JSON batch.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import orjson


@dataclass(frozen=True, slots=True)
class UsageIncrement:
    key_id: str
    count: int
    last_used: int


K = TypeVar("K", bound=Hashable)


def add_uses(uses: dict[K, tuple[int, int]], key: K, count: int, last_used: int) -> None:
    """Add ``count`` uses of ``key``, the latest at ``last_used``, to ``uses``: key -> (uses, latest use)."""
    total, latest = uses.get(key, (0, 0))
    uses[key] = (total + count, max(latest, last_used))


def usage_batch(increments: Iterable[UsageIncrement]) -> str | None:
    """The increments added up per key, as the JSON batch the usage statements take; None if there are none."""
    uses: dict[str, tuple[int, int]] = {}
    for i in increments:
        add_uses(uses, i.key_id, i.count, i.last_used)
    if not uses:
        return None
    return orjson.dumps([{"id": key_id, "n": n, "last_used": last} for key_id, (n, last) in uses.items()]).decode()
