"""The account pool of a client key: which GitHub account serves the next request, and which are cooling down.

An account cools down when Copilot rate-limits it (429), says its quota is
used up (402, or 403 naming the quota), or GitHub refuses its token. Cool-downs
live in the shared state (``proxyd/sharedstate``) and are shared by every
client key: an account another key just exhausted is skipped by all of them.
Accounts are taken round robin among the ones not cooling down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from proxyd.clock import now_ms
from proxyd.keys.records import ApiKey
from proxyd.sharedstate.base import SharedState

log = logging.getLogger("proxyd.pool")

DEFAULT_COOL_DOWN = 60.0
# A retry-after or reset date further away than this is read as a mistake, not honoured.
MAX_COOL_DOWN = 31 * 86400.0
NAMESPACE = "cooldown"

RATE_LIMITED = "rate_limited"
QUOTA_EXHAUSTED = "quota_exhausted"
REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class CoolDown:
    seconds_left: float
    until_ms: int  # the same moment, wall clock, for admins
    reason: str


def retry_after_seconds(value: str | None, *, wall_ms: int) -> float | None:
    """Copilot's ``retry-after``: seconds, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - wall_ms / 1000)


class AccountCooldowns:
    def __init__(self, state: SharedState, *, wall_ms: Callable[[], int] = now_ms) -> None:
        self._state = state
        self._wall_ms = wall_ms
        self._turns: dict[tuple[str, ...], int] = {}
        # Per account id: requests that went on to another account because this one cooled down.
        self.failovers: dict[str, int] = {}

    async def cooling(self, account_id: str) -> CoolDown | None:
        found = await self._state.deadline(NAMESPACE, account_id)
        if found is None:
            return None
        left, reason = found
        return CoolDown(left, self._wall_ms() + int(left * 1000), reason)

    async def order(self, pool: Sequence[ApiKey], first: str | None = None) -> list[ApiKey]:
        """The accounts not cooling down: ``first`` (a conversation's own) if it is ready, else the next in turn."""
        ready: list[ApiKey] = []
        pinned: int | None = None
        for account in pool:
            if await self._state.deadline(NAMESPACE, account.id) is None:
                if account.id == first:
                    pinned = len(ready)
                ready.append(account)
        if len(ready) < 2:
            return ready  # no choice to make: a one-account pool pays for no rotation
        if pinned is not None:
            return [ready[pinned], *ready[:pinned], *ready[pinned + 1 :]]
        ids = tuple(account.id for account in pool)
        turn = self._turns.get(ids, 0)
        self._turns[ids] = turn + 1
        start = turn % len(ready)
        return ready[start:] + ready[:start]

    async def shortest_wait(self, pool: Sequence[ApiKey]) -> float:
        """Seconds until the first account of ``pool`` is ready again."""
        waits = [c.seconds_left for account in pool if (c := await self.cooling(account.id)) is not None]
        return max(0.0, min(waits)) if waits else 0.0

    async def cool_down(self, account: ApiKey, seconds: float, reason: str, detail: str) -> None:
        seconds = min(max(seconds, 1.0), MAX_COOL_DOWN)
        await self._state.set_deadline(NAMESPACE, account.id, seconds, reason)
        self.failovers[account.id] = self.failovers.get(account.id, 0) + 1
        # The account's id and name only: its token never reaches a log line.
        log.info("account %s (%s) cools down for %ds: %s", account.id, account.name, round(seconds), detail)

    async def forget(self, account_id: str) -> None:
        await self._state.delete(NAMESPACE, account_id)
        self.failovers.pop(account_id, None)
