"""Failed-credential throttling per client address, its state in the shared state (``proxyd/sharedstate``)."""

from __future__ import annotations

import math

from proxyd.errors import TooManyRequests
from proxyd.limits import FAILED_CREDENTIALS_LIMIT, FAILED_CREDENTIALS_WINDOW
from proxyd.sharedstate.base import SharedState

NAMESPACE = "failed-credentials"


class FailureThrottle:
    """At most ``limit`` failed credentials per client address per ``window`` seconds.

    Guessing the admin token or password then takes forever; a client that
    keeps failing only locks itself out (behind a reverse proxy every client
    shares one address, so keep the limit generous). A locked-out address is
    told when to retry (``Retry-After``). The state keeps memory bounded
    without ever unlocking a locked-out address to make room (see
    ``sharedstate/memory.py``).
    """

    def __init__(
        self, state: SharedState, limit: int = FAILED_CREDENTIALS_LIMIT, window: float = FAILED_CREDENTIALS_WINDOW
    ) -> None:
        self._state = state
        self._limit = limit
        self._window = window

    def __len__(self) -> int:
        """Addresses tracked, locked out or not."""
        return self._state.size(NAMESPACE)

    async def check(self, remote: str | None) -> None:
        """Raise 429, with the seconds until the address may try again, if it is locked out."""
        wait = await self.retry_after(remote)
        if wait is not None:
            raise TooManyRequests(
                f"Too many failed admin credentials from this address; try again in {wait} s", retry_after=wait
            )

    async def retry_after(self, remote: str | None) -> int | None:
        """Whole seconds until ``remote`` is no longer locked out; None when it is not."""
        left = await self._state.full_for(NAMESPACE, remote or "", limit=self._limit, seconds=self._window)
        return None if left is None else max(1, math.ceil(left))

    async def failed(self, remote: str | None) -> None:
        await self._state.note(NAMESPACE, remote or "", limit=self._limit, seconds=self._window)
