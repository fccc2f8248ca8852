"""Failed-credential throttling per client address, in bounded memory."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from proxyd.errors import TooManyRequests
from proxyd.limits import FAILED_CREDENTIALS_LIMIT, FAILED_CREDENTIALS_WINDOW, THROTTLE_ADDRESSES_KEPT

Failures = tuple[float, ...]  # the times of an address's failures within the window, oldest first


class FailureThrottle:
    """At most ``limit`` failed credentials per client address per ``window`` seconds.

    Guessing the admin token or password then takes forever; a client that
    keeps failing only locks itself out (behind a reverse proxy every client
    shares one address, so keep the limit generous). A locked-out address is
    told when to retry (``Retry-After``).

    Memory stays bounded without ever forgetting everyone at once: addresses
    below the limit and locked-out addresses are kept apart, at most
    ``max_addresses`` of each. A full table drops its stalest entry, one at a
    time, so a flood of failures from other addresses only pushes out other
    addresses that have not reached the limit, never unlocks a locked one.
    """

    def __init__(
        self,
        limit: int = FAILED_CREDENTIALS_LIMIT,
        window: float = FAILED_CREDENTIALS_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = THROTTLE_ADDRESSES_KEPT,
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._max = max_addresses
        # Least recently failed first, so the stalest entry is the one dropped.
        self._counting: OrderedDict[str, Failures] = OrderedDict()
        # Earliest locked out first.
        self._locked: OrderedDict[str, Failures] = OrderedDict()

    def __len__(self) -> int:
        """Addresses tracked, locked out or not."""
        return len(self._counting) + len(self._locked)

    def check(self, remote: str | None) -> None:
        """Raise 429, with the seconds until the address may try again, if it is locked out."""
        wait = self.retry_after(remote)
        if wait is not None:
            raise TooManyRequests(
                f"Too many failed admin credentials from this address; try again in {wait} s", retry_after=wait
            )

    def retry_after(self, remote: str | None) -> int | None:
        """Whole seconds until ``remote`` is no longer locked out; None when it is not."""
        key = remote or ""
        failures = self._locked.get(key)
        if failures is None:
            return None
        now = self._clock()
        failures = self._recent(failures, now)
        if len(failures) < self._limit:
            # The oldest failure left the window: back to counting, with those that remain.
            del self._locked[key]
            if failures:
                self._store(self._counting, key, failures)
            return None
        return max(1, math.ceil(failures[0] + self._window - now))

    def failed(self, remote: str | None) -> None:
        key = remote or ""
        now = self._clock()
        previous = self._counting.pop(key, None) or self._locked.pop(key, None) or ()
        # Only the last `limit` failures matter: older ones could not lock the address out for longer.
        failures = (*self._recent(previous, now), now)[-self._limit :]
        self._store(self._locked if len(failures) >= self._limit else self._counting, key, failures)

    def _recent(self, failures: Failures, now: float) -> Failures:
        cutoff = now - self._window
        return tuple(t for t in failures if t > cutoff)

    def _store(self, table: OrderedDict[str, Failures], key: str, failures: Failures) -> None:
        table[key] = failures
        table.move_to_end(key)
        while len(table) > self._max:
            table.popitem(last=False)
