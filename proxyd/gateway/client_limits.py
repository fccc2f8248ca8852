"""A client key's limits: the models it may ask for, requests per minute, requests per UTC calendar month.

The counts live in the shared state (``proxyd/sharedstate``; in Redis, shared
by every instance): a sliding minute per key, and a counter per key and
month. A month's counter starts from the month's count the usage flush keeps
in the database (``client_key_months``), read with the key (so at most
``PROXYD_KEY_CACHE_TTL`` plus a flush interval old), and never goes back
within the month: a Redis that lost its data starts again from the database.
"""

from __future__ import annotations

from collections.abc import Callable

from proxyd.clock import now_ms
from proxyd.errors import Forbidden, TooManyRequests
from proxyd.keys.client_keys import ClientKey, month_start, next_month_start
from proxyd.sharedstate.base import SharedState

MINUTE = 60.0
RPM = "rpm"
MONTH = "month"


class ClientKeyLimits:
    def __init__(self, state: SharedState, *, wall_ms: Callable[[], int] = now_ms) -> None:
        self._state = state
        self._wall_ms = wall_ms
        self._month = (0, 0)  # [start, end) of the current UTC month, epoch ms: computed once a month
        # Per key: the record last met, and the month it was first met in. A record read last month
        # counted last month's requests: it must not raise this month's counter.
        self._records: dict[str, tuple[ClientKey, int]] = {}

    async def admit(self, key: ClientKey, model: str | None) -> None:
        """Count one request of ``key`` for ``model``, or raise 403 / 429 (then nothing is counted)."""
        settings = key.settings
        if settings.models is not None and model is not None and model not in settings.models:
            raise Forbidden(f"This client key may not use the model '{model}'")
        limit = settings.monthly_requests
        if limit is None and settings.rpm is None:
            return  # nothing to count
        wall = self._wall_ms()
        start, end = self._month_bounds(wall)
        month_key = f"{key.id}:{start}"
        # The counter outlives its month by a minute: instances whose clocks differ a little still agree.
        month_left = (end - wall) / 1000 + MINUTE
        if limit is not None:
            counted = await self._state.add(
                MONTH, month_key, 1, floor=self._floor(key, start), limit=limit, seconds=month_left
            )
            if counted is None:
                raise TooManyRequests(
                    f"This client key has used its {limit} requests of this month", retry_after=(end - wall) / 1000
                )
        if settings.rpm is not None:
            wait = await self._state.hit(RPM, key.id, limit=settings.rpm, seconds=MINUTE)
            if wait is not None:
                if limit is not None:  # refused after all: the month's count gives the request back
                    await self._state.add(MONTH, month_key, -1, seconds=month_left)
                raise TooManyRequests(
                    f"This client key is limited to {settings.rpm} requests per minute", retry_after=wait
                )

    async def forget(self, key_id: str) -> None:
        """The key was deleted: nothing of it is kept."""
        self._records.pop(key_id, None)
        await self._state.delete(RPM, key_id)
        await self._state.delete(MONTH, f"{key_id}:{self._month[0]}")

    def _floor(self, key: ClientKey, month: int) -> int:
        met = self._records.get(key.id)
        if met is None or met[0] is not key:
            met = self._records[key.id] = (key, month)
        return key.requests_this_month if met[1] == month else 0

    def _month_bounds(self, wall: int) -> tuple[int, int]:
        start, end = self._month
        if not start <= wall < end:
            start = month_start(wall)
            self._month = start, end = start, next_month_start(start)
        return start, end
