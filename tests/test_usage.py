"""The usage buffer: batched writes, kept while the database is away, bounded."""

from __future__ import annotations

import asyncio

from proxyd.admin.routes_stats import unfiltered
from proxyd.config import Config
from proxyd.db import Database, open_database
from proxyd.db.schema import Migrator
from proxyd.gateway.recorder import RequestLogEntry, UsageRecorder
from proxyd.keys.store import KeyStore
from tests.conftest import keys_for


def _entry(key_id: str | None, t: int, status: int = 200) -> RequestLogEntry:
    return RequestLogEntry(
        time=t,
        api_key_id=key_id,
        endpoint="/chat/completions",
        model="m",
        status=status,
        duration_ms=5,
        prompt_tokens=1,
        completion_tokens=2,
        total_tokens=3,
    )


async def test_flush_writes_usage_and_log_in_one_go(database: Database, store: KeyStore) -> None:
    key = await store.create("k", "gho_usage_flush_000000000000000000001")
    recorder = UsageRecorder(database, store)
    for t in range(5):
        recorder.record(_entry(key.id, 1_000 + t), count_usage=True)
    recorder.record(_entry(key.id, 2_000, status=429), count_usage=False)
    assert recorder.buffered == 7  # six log rows, one folded usage entry
    assert await recorder.flush()
    assert recorder.buffered == 0
    stored = await store.get(key.id)
    assert (stored.usage_count, stored.last_used) == (5, 1_004)
    count = await database.fetch_one(database.queries["count_request_log"], unfiltered())
    assert count is not None and int(count["total"]) == 6


async def test_buffer_survives_an_outage_and_stays_bounded(config: Config, sqlite_only: None) -> None:
    await asyncio.to_thread(Migrator(config.database).apply)
    database = await open_database(config)
    store = KeyStore(database, keys_for(config))
    recorder = UsageRecorder(database, store, max_entries=3)
    await database.close()  # the database is away
    for t in range(5):
        recorder.record(_entry("k", t), count_usage=True)
    assert not await recorder.flush()
    assert recorder.dropped == 2  # the oldest log rows went; usage is folded per key, never dropped
    assert recorder.buffered == 3 + 1
    assert not await recorder.flush()
    assert recorder.buffered == 4 and recorder.dropped == 2


async def test_retention_prunes_old_request_log_rows(database: Database, store: KeyStore) -> None:
    recorder = UsageRecorder(database, store, retention_days=30)
    for t in (1_000, 2_000, 3_000):
        recorder.record(_entry(None, t), count_usage=False)
    assert await recorder.flush()
    assert await recorder.prune(2_500, batch=1) == 2  # in batches of one
    count = await database.fetch_one(database.queries["count_request_log"], unfiltered())
    assert count is not None and int(count["total"]) == 1
