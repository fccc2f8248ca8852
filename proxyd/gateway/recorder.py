"""Usage counting and the request log, batched off the request path.

Requests append to an in-memory buffer; a background task writes it every
``PROXYD_USAGE_FLUSH_INTERVAL`` seconds in one transaction (one statement for
all usage increments, one batch insert for the log rows) and once more at
shutdown. If the database is away the buffer waits, bounded: past
``max_entries`` the oldest log rows are dropped and counted, usage increments
are folded per key so they never grow beyond the number of keys.

Each write carries a random batch id, inserted in the same transaction. When
the connection fails while COMMIT is under way, nobody knows whether it
committed: that batch is kept apart, with its id, and the next flush claims
the id first; finding it already there means the batch counted, and it is
dropped instead of counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from dataclasses import dataclass

from proxyd.clock import now_ms
from proxyd.db import Database, Executor
from proxyd.errors import DatabaseError
from proxyd.keys.client_keys import ClientKeyIncrement, month_start, next_month_start, record_client_key_usage
from proxyd.keys.store import KeyStore
from proxyd.keys.usage import UsageIncrement, add_uses
from proxyd.limits import (
    HOUSEKEEPING_BATCH_ROWS,
    HOUSEKEEPING_PAUSE,
    HOUSEKEEPING_RETRY_PAUSE,
    USAGE_BATCH_IDS_KEPT_MS,
    USAGE_BUFFER_MAX_ENTRIES,
)

log = logging.getLogger("proxyd.usage")


@dataclass(frozen=True, slots=True)
class RequestLogEntry:
    time: int
    api_key_id: str | None
    endpoint: str
    model: str | None
    status: int
    duration_ms: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    client_key_id: str | None = None

    def params(self) -> dict[str, object]:
        # Spelled out: dataclasses.asdict deep-copies and cost ~20 ms per 3,000 rows on the event loop.
        return {
            "time": self.time,
            "api_key_id": self.api_key_id,
            "client_key_id": self.client_key_id,
            "endpoint": self.endpoint,
            "model": self.model,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


# The uses of each key not yet written (its usage_count and last_used): API key id, or
# (CLIENT_KEY, client key id, start of the UTC month, epoch ms) -> (requests, newest time).
# Not token usage (upstream/wire.Usage).
CLIENT_KEY = "client_key"
UseCounts = dict[str | tuple[str, str, int], tuple[int, int]]


def _fold(into: UseCounts, uses: UseCounts) -> None:
    for key, (n, last) in uses.items():
        add_uses(into, key, n, last)


@dataclass(slots=True)
class _Batch:
    """Entries taken from the buffer for one write, under an id the database keeps once they counted."""

    id: str
    uses: UseCounts
    rows: list[RequestLogEntry]

    @property
    def size(self) -> int:
        return len(self.uses) + len(self.rows)


class UsageRecorder:
    def __init__(
        self,
        database: Database,
        store: KeyStore,
        *,
        max_entries: int = USAGE_BUFFER_MAX_ENTRIES,
        retention_days: int = 0,
    ) -> None:
        self._database = database
        self._store = store
        self._uses: UseCounts = {}
        self._log: deque[RequestLogEntry] = deque()
        # A batch whose COMMIT was sent but never acknowledged: it may or may not have counted.
        self._in_doubt: _Batch | None = None
        # The batches the flush in progress took (the batch in doubt among them).
        self._writing: list[_Batch] = []
        self._max_entries = max_entries
        self._retention_ms = retention_days * 86_400_000
        self._flush_lock = asyncio.Lock()
        self._month = (0, 0)  # [start, end) of the month last met, epoch ms: computed once a month
        self.dropped = 0
        self.flush_failures = 0

    @property
    def buffered(self) -> int:
        """Entries not known to be written: waiting, being written, or in doubt."""
        held = self._writing or ([self._in_doubt] if self._in_doubt is not None else [])
        return len(self._log) + len(self._uses) + sum(batch.size for batch in held)

    def record(self, entry: RequestLogEntry, *, count_usage: bool) -> None:
        if count_usage and entry.api_key_id is not None:
            add_uses(self._uses, entry.api_key_id, 1, entry.time)
        if count_usage and entry.client_key_id is not None:
            add_uses(self._uses, (CLIENT_KEY, entry.client_key_id, self._month_of(entry.time)), 1, entry.time)
        if len(self._log) >= self._max_entries:
            self._log.popleft()
            self.dropped += 1
        self._log.append(entry)

    def _month_of(self, moment: int) -> int:
        start, end = self._month
        if not start <= moment < end:
            start = month_start(moment)
            self._month = start, next_month_start(start)
        return start

    async def flush(self) -> bool:
        """Write everything buffered; on failure keep it for the next attempt. True if all was written."""
        async with self._flush_lock:
            fresh = self._take()
            batches = [batch for batch in (self._in_doubt, fresh) if batch is not None]
            if not batches:
                return True
            self._writing = batches
            applied: dict[str, bool] = {}  # batch id -> applied now (True) or found applied before (False)
            committing = False
            try:
                async with self._database.transaction() as tx:
                    for batch in batches:
                        applied[batch.id] = await self._write(tx, batch)
                    committing = True  # from here on, a failure may come after the server committed
            except DatabaseError as exc:
                self._failed(fresh, applied, committing=committing)
                log.warning("usage flush failed, %d entries kept for retry: %s", self.buffered, exc.message)
                return False
            except BaseException:
                # Cancelled mid-write, or a bug: the entries are kept either way, never lost.
                self._failed(fresh, applied, committing=committing)
                raise
            self._writing = []
            self._in_doubt = None
            return True

    def _take(self) -> _Batch | None:
        if not self._uses and not self._log:
            return None
        batch = _Batch(uuid.uuid4().hex, self._uses, list(self._log))
        self._uses = {}
        self._log.clear()
        return batch

    async def _write(self, tx: Executor, batch: _Batch) -> bool:
        increments = [UsageIncrement(key, n, last) for key, (n, last) in batch.uses.items() if isinstance(key, str)]
        clients = [
            ClientKeyIncrement(key[1], n, last, month=key[2])
            for key, (n, last) in batch.uses.items()
            if isinstance(key, tuple)
        ]
        if not await self._store.record_usage_batch(tx, batch.id, increments):
            return False  # an earlier flush of this batch committed; its acknowledgement was what got lost
        await record_client_key_usage(self._database, tx, clients)
        if batch.rows:
            await tx.execute_many(self._database.queries["insert_request_log"], [r.params() for r in batch.rows])
        return True

    def _failed(self, fresh: _Batch | None, applied: dict[str, bool], *, committing: bool) -> None:
        self.flush_failures += 1
        batches, self._writing = self._writing, []
        if not committing:
            # No COMMIT was sent, so nothing of this transaction counted: the new entries wait with the
            # next ones. The batch in doubt stays so, unless the database said it had counted already.
            if self._in_doubt is not None and applied.get(self._in_doubt.id) is False:
                self._in_doubt = None
            if fresh is not None:
                self._requeue(fresh)
            return
        # Every batch this transaction claimed shares its unknown fate: one batch, under the last id
        # claimed (the earlier batch's own transaction can no longer commit: its id was free for ours).
        doubtful = [batch for batch in batches if applied.get(batch.id)]
        if not doubtful:
            self._in_doubt = None
            return
        merged = _Batch(doubtful[-1].id, {}, [])
        for batch in doubtful:
            _fold(merged.uses, batch.uses)
            merged.rows.extend(batch.rows)
        if len(merged.rows) > self._max_entries:
            excess = len(merged.rows) - self._max_entries
            del merged.rows[:excess]
            self.dropped += excess
        self._in_doubt = merged

    def _requeue(self, batch: _Batch) -> None:
        _fold(self._uses, batch.uses)
        self._log.extendleft(reversed(batch.rows))
        while len(self._log) > self._max_entries:
            self._log.popleft()
            self.dropped += 1

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Start a flush every ``interval`` seconds until ``stop`` is set; no failure ends the loop.

        The interval runs from one flush's start to the next's, so a slow write does not stretch it:
        a flush that overruns is followed by the next at once.
        """
        loop = asyncio.get_running_loop()
        due = loop.time() + interval
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, due - loop.time()))
            if stop.is_set():
                return  # the owner flushes one last time, after requests have drained
            due = max(due + interval, loop.time())
            try:
                await self.flush()
            except Exception:
                log.exception("usage flush failed unexpectedly; entries kept for retry")

    async def run_retention(self, stop: asyncio.Event) -> None:
        """Hourly (ten minutes after a failure) until ``stop`` is set: forget the ids of batches
        applied over a day ago, and prune the request log past its retention period."""
        while not stop.is_set():
            try:
                await self.forget_batches(now_ms() - USAGE_BATCH_IDS_KEPT_MS, stop)
                removed = await self.prune(now_ms() - self._retention_ms, stop) if self._retention_ms else 0
            except DatabaseError as exc:
                log.warning("usage housekeeping failed, retrying in 10 minutes: %s", exc.message)
                pause = HOUSEKEEPING_RETRY_PAUSE
            else:
                if removed:
                    log.info("request log: removed %d rows older than the retention period", removed)
                pause = HOUSEKEEPING_PAUSE
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)

    async def prune(
        self, cutoff_ms: int, stop: asyncio.Event | None = None, batch: int = HOUSEKEEPING_BATCH_ROWS
    ) -> int:
        """Delete request log rows older than ``cutoff_ms``, a batch per statement; the number removed."""
        return await self._delete_before("delete_request_log_before", cutoff_ms, stop, batch)

    async def forget_batches(
        self, cutoff_ms: int, stop: asyncio.Event | None = None, batch: int = HOUSEKEEPING_BATCH_ROWS
    ) -> int:
        """Delete the ids of batches applied before ``cutoff_ms``; the number removed."""
        return await self._delete_before("delete_usage_batches_before", cutoff_ms, stop, batch)

    async def _delete_before(self, query_name: str, cutoff_ms: int, stop: asyncio.Event | None, batch: int) -> int:
        query = self._database.queries[query_name]
        removed = 0
        while stop is None or not stop.is_set():
            count = await self._database.execute(query, {"cutoff": cutoff_ms, "batch": batch})
            removed += count
            if count < batch:
                break
            await asyncio.sleep(0.05)  # let flushes and key lookups in between batches
        return removed
