"""The readiness check behind ``/readyz``: one database query at a time, waited for briefly."""

from __future__ import annotations

import asyncio

from proxyd.db import Database
from proxyd.db.schema import pending_migrations
from proxyd.limits import READINESS_TIMEOUT


def _retrieve(task: asyncio.Task[list[str]]) -> None:
    # A check no request waited for to the end still has its outcome read, so asyncio never logs it.
    if not task.cancelled():
        task.exception()


class ReadinessProbe:
    """Asks the database whether it answers and lacks no migration, answering within ``timeout``.

    The query runs in a task of its own. A request that stops waiting for it leaves it to end by
    itself (PROXYD_DB_TIMEOUT bounds it): cancelling it would make the request wait for the
    driver's cleanup instead, which a frozen server never lets finish. Requests arriving meanwhile
    wait for that same query rather than queue more behind the frozen server or an exhausted pool.
    """

    def __init__(self, database: Database, timeout: float = READINESS_TIMEOUT) -> None:
        self._database = database
        self.timeout = min(timeout, database.timeout)
        self._check: asyncio.Task[list[str]] | None = None

    async def missing_migrations(self) -> list[str]:
        """The migrations the database lacks; DatabaseError, or TimeoutError after ``timeout`` seconds."""
        if self._check is None or self._check.done():
            self._check = asyncio.create_task(pending_migrations(self._database))
            self._check.add_done_callback(_retrieve)
        check = self._check
        done, _ = await asyncio.wait({check}, timeout=self.timeout)
        if not done:
            raise TimeoutError
        return check.result()

    async def close(self) -> None:
        """Stop a check still running; the database's own close finishes what the driver left."""
        if self._check is not None and not self._check.done():
            self._check.cancel()
            await asyncio.wait({self._check}, timeout=0.1)
