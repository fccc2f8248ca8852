"""The key store on every dialect: each operation, exact round-trips, concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3

import pytest

from proxyd.config import Config
from proxyd.db import Database
from proxyd.errors import ApiKeyNotFound, DuplicateKeyError, TransientConflict
from proxyd.keys.records import CopilotMeta
from proxyd.keys.store import KeyStore, retry_transient
from proxyd.keys.usage import UsageIncrement

META = CopilotMeta(
    token="tid=abc;exp=1756134861;sku=free",
    expires_at=1756134861123,
    reset_time=1755270861456,
    chat_quota=50,
    completions_quota=2000,
)


async def test_create_and_find(store: KeyStore) -> None:
    created = await store.create("laptop", "gho_abcdefghijklmnopqrstuvwxyz", meta=META)
    assert await store.find_by_id(created.id) == created
    assert await store.find_by_key("gho_abcdefghijklmnopqrstuvwxyz") == created
    assert created.meta == META
    assert created.usage_count == 0 and created.last_used is None
    assert await store.find_by_id("missing") is None
    assert await store.find_by_key("gho_missing") is None


async def test_find_all_newest_first(store: KeyStore) -> None:
    for i in range(3):
        await store.create(f"k{i}", f"gho_key{i}", created_at=1_753_546_461_000 + i)
    assert [k.name for k in await store.find_all()] == ["k2", "k1", "k0"]


async def test_keys_are_unique_and_case_sensitive(store: KeyStore) -> None:
    await store.create("a", "gho_CaseSensitive")
    await store.create("b", "gho_casesensitive")
    with pytest.raises(DuplicateKeyError):
        await store.create("c", "gho_CaseSensitive")
    assert len(await store.find_all()) == 2


async def test_exact_round_trip_of_wide_values(store: KeyStore) -> None:
    name = ("Ünïcödé 名前 🔑 " * 80)[:1000]
    key = "gho_" + "x" * 508
    created = await store.create(name, key, created_at=1_753_546_461_999, key_id="not-a-uuid ✓")
    big = 2**31 + 12345
    updated = await store.update(created.id, usage_count=big, last_used=9_999_999_999_999)
    assert updated.name == name and len(updated.name) == 1000
    assert updated.key == key
    assert updated.created_at == 1_753_546_461_999
    assert updated.usage_count == big and updated.last_used == 9_999_999_999_999
    assert updated.id == "not-a-uuid ✓"
    assert await store.find_by_id("not-a-uuid ✓") == updated


async def test_sql_metacharacters_stored_verbatim(store: KeyStore) -> None:
    name = "Robert'); DROP TABLE api_keys;-- %s %(x)s :name $1 \\ \" `"
    created = await store.create(name, "gho_meta'chars")
    assert (await store.get(created.id)).name == name


async def test_update_is_partial(store: KeyStore) -> None:
    created = await store.create("old", "gho_partial", meta=META)
    renamed = await store.update(created.id, name="new")
    assert renamed == dataclasses.replace(created, name="new")
    used = await store.update(created.id, usage_count=5, last_used=1_753_546_461_001)
    assert used.name == "new" and used.usage_count == 5 and used.last_used == 1_753_546_461_001
    new_meta = CopilotMeta(token="tid=new", expires_at=1, reset_time=None, chat_quota=None, completions_quota=None)
    with_meta = await store.update(created.id, meta=new_meta)
    assert with_meta.meta == new_meta and with_meta.usage_count == 5
    with pytest.raises(ApiKeyNotFound):
        await store.update("missing", name="x")


async def test_delete_takes_meta_along(store: KeyStore) -> None:
    created = await store.create("doomed", "gho_doomed", meta=META)
    await store.delete(created.id)
    assert await store.find_by_id(created.id) is None
    with pytest.raises(ApiKeyNotFound):
        await store.delete(created.id)
    # The meta row went with the key: re-creating the id starts without meta.
    again = await store.create("again", "gho_doomed", key_id=created.id)
    assert again.meta is None and (await store.get(created.id)).meta is None


async def test_first_key_becomes_the_default(store: KeyStore) -> None:
    assert await store.get_default() is None
    first = await store.create("first", "gho_first")
    second = await store.create("second", "gho_second")
    assert first.is_default and not second.is_default
    assert await store.get_default() == first == await store.get(first.id)
    # With the default deleted, the next key created takes its place.
    await store.delete(first.id)
    assert await store.get_default() is None
    third = await store.create("third", "gho_third")
    assert third.is_default and not (await store.get(second.id)).is_default


async def test_concurrent_first_keys_make_exactly_one_default(store: KeyStore) -> None:
    created = await asyncio.gather(*(store.create(f"k{i}", f"gho_first_{i}") for i in range(8)))
    assert [k.id for k in created if k.is_default] == [k.id for k in await store.find_all() if k.is_default]
    assert len([k for k in created if k.is_default]) == 1


async def test_default_key(store: KeyStore) -> None:
    assert await store.get_default() is None
    a = await store.create("a", "gho_a")
    b = await store.create("b", "gho_b")
    await store.set_default(b.id)
    assert (await store.set_default(a.id)).is_default
    assert (await store.get_default()) == await store.get(a.id)
    await store.set_default(b.id)
    assert [k.name for k in await store.find_all() if k.is_default] == ["b"]
    with pytest.raises(ApiKeyNotFound):
        await store.set_default("missing")
    # A failed set_default leaves the previous default in place.
    assert (await store.get_default()) == await store.get(b.id)
    await store.delete(b.id)
    assert await store.get_default() is None


async def test_concurrent_set_default_leaves_exactly_one(store: KeyStore) -> None:
    keys = [await store.create(f"k{i}", f"gho_concurrent_{i}") for i in range(8)]
    for _ in range(3):
        await asyncio.gather(*(store.set_default(k.id) for k in keys))
        defaults = [k for k in await store.find_all() if k.is_default]
        assert len(defaults) == 1


async def test_upsert_meta(store: KeyStore) -> None:
    created = await store.create("m", "gho_meta")
    assert (await store.upsert_meta(created.id, META)).meta == META
    replaced = CopilotMeta(token="tid=2", expires_at=2, reset_time=3, chat_quota=4, completions_quota=5)
    assert (await store.upsert_meta(created.id, replaced)).meta == replaced
    with pytest.raises(ApiKeyNotFound):
        await store.upsert_meta("missing", META)


async def test_record_usage_in_one_batch(store: KeyStore) -> None:
    a = await store.create("a", "gho_usage_a")
    b = await store.create("b", "gho_usage_b")
    await store.update(b.id, usage_count=2**31, last_used=5_000)
    await store.record_usage(
        [
            UsageIncrement(a.id, 1, 1_000),
            UsageIncrement(a.id, 2, 3_000),
            UsageIncrement(b.id, 1, 4_000),  # older than the stored lastUsed: keep the later one
            UsageIncrement("deleted-key", 7, 9_000),
        ]
    )
    assert (await store.get(a.id)).usage_count == 3
    assert (await store.get(a.id)).last_used == 3_000
    assert (await store.get(b.id)).usage_count == 2**31 + 1
    assert (await store.get(b.id)).last_used == 5_000
    await store.record_usage([])


async def test_concurrent_record_usage_adds_up(store: KeyStore) -> None:
    a = await store.create("a", "gho_many")
    await asyncio.gather(*(store.record_usage([UsageIncrement(a.id, 1, i)]) for i in range(50)))
    assert (await store.get(a.id)).usage_count == 50


async def test_ids_that_cannot_exist_are_not_found(store: KeyStore) -> None:
    assert await store.find_by_id("a\x00b") is None
    assert await store.find_by_key("gho_\x00") is None
    for call in (
        store.delete("a\x00"),
        store.set_default("a\x00"),
        store.update("a\x00", name="x"),
        store.upsert_meta("a\x00", META),
    ):
        with pytest.raises(ApiKeyNotFound):
            await call


async def test_cancelled_write_waiting_for_the_lock_leaves_no_transaction_open(
    config: Config, database: Database, store: KeyStore, sqlite_only: None
) -> None:
    """Another process holds SQLite's write lock; a writer that gives up must not wedge the connection."""
    other = sqlite3.connect(config.database.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    waiting = asyncio.ensure_future(store.create("k", "gho_cancelled_while_waiting"))
    await asyncio.sleep(0.2)
    waiting.cancel()
    other.execute("ROLLBACK")  # the lock frees up: the abandoned BEGIN now goes through
    other.close()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    created = await store.create("after", "gho_after_the_cancel")  # the connection still works
    assert [k.id for k in await store.find_all()] == [created.id]


async def test_writes_aborted_to_break_a_deadlock_are_retried() -> None:
    attempts: list[int] = []

    @retry_transient
    async def flaky(failures: int) -> str:
        attempts.append(1)
        if len(attempts) <= failures:
            raise TransientConflict("deadlock")
        return "done"

    assert await flaky(2) == "done" and len(attempts) == 3
    attempts.clear()
    with pytest.raises(TransientConflict):
        await flaky(3)
