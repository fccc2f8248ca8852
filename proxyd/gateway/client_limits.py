"""A client key's limits: the models it may ask for, requests per minute, requests per UTC calendar month.

Requests per minute are counted in memory, per instance (a sliding minute):
with N instances behind a balancer a key may make up to N times its ``rpm``.
Requests per month start from the request log's count, read with the key
(so at most ``PROXYD_KEY_CACHE_TTL`` old), plus what this instance admitted
since; the count never goes back within a month.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from proxyd.clock import now_ms
from proxyd.errors import Forbidden, TooManyRequests
from proxyd.keys.client_keys import ClientKey, month_start, next_month_start

MINUTE = 60.0


@dataclass(slots=True)
class _KeyState:
    recent: deque[float] = field(default_factory=deque)  # admission times, monotonic, within the last minute
    month: int = 0  # the month start the count belongs to
    month_count: int = 0
    seen: ClientKey | None = None  # the record whose month count is already folded in


class ClientKeyLimits:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic, wall_ms: Callable[[], int] = now_ms) -> None:
        self._clock = clock
        self._wall_ms = wall_ms
        self._keys: dict[str, _KeyState] = {}
        self._month = (0, 0)  # [start, end) of the current UTC month, epoch ms: computed once a month

    def admit(self, key: ClientKey, model: str | None) -> None:
        """Count one request of ``key`` for ``model``, or raise 403 / 429 (then nothing is counted)."""
        settings = key.settings
        if settings.models is not None and model is not None and model not in settings.models:
            raise Forbidden(f"This client key may not use the model '{model}'")
        state = self._keys.setdefault(key.id, _KeyState())
        now, wall = self._clock(), self._wall_ms()
        self._fold_month(state, key, wall)
        if settings.monthly_requests is not None and state.month_count >= settings.monthly_requests:
            raise TooManyRequests(
                f"This client key has used its {settings.monthly_requests} requests of this month",
                retry_after=(self._month_bounds(wall)[1] - wall) / 1000,
            )
        while state.recent and state.recent[0] <= now - MINUTE:
            state.recent.popleft()
        if settings.rpm is not None:
            # Only a key with a limit keeps its last minute: at thousands of requests a second
            # the deque of one without would hold a six-figure count of timestamps for nothing.
            if len(state.recent) >= settings.rpm:
                raise TooManyRequests(
                    f"This client key is limited to {settings.rpm} requests per minute",
                    retry_after=state.recent[0] + MINUTE - now,
                )
            state.recent.append(now)
        state.month_count += 1

    def _month_bounds(self, wall: int) -> tuple[int, int]:
        start, end = self._month
        if not start <= wall < end:
            start = month_start(wall)
            self._month = start, end = start, next_month_start(start)
        return start, end

    def _fold_month(self, state: _KeyState, key: ClientKey, wall: int) -> None:
        month = self._month_bounds(wall)[0]
        if state.month != month:
            state.month, state.month_count = month, 0
            # A record read last month counted last month's requests.
            state.seen = key if state.seen is not None else None
        if state.seen is not key:
            state.seen = key
            state.month_count = max(state.month_count, key.requests_this_month)

    def forget(self, key_id: str) -> None:
        self._keys.pop(key_id, None)
