"""The transition fallback: keys still only in the legacy files, imported on first use, beside a live legacy service."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

import proxyd.legacy.fallback as fallback_module
from bench.fake_upstream import running_fake_upstream
from bench.node_persist import write_datum
from proxyd.config import Config
from proxyd.errors import Unauthorized
from proxyd.keys.account_resolver import KeyResolver
from proxyd.keys.masking import mask_secret
from proxyd.keys.records import ApiKey, CopilotMeta
from proxyd.keys.store import KeyStore
from proxyd.legacy.fallback import LegacyFallback, legacy_fallback
from proxyd.legacy.reader import MAX_DATUM_BYTES, store_signature
from proxyd.legacy.rules import DatabaseFacts, decide, key_sha256
from tests.conftest import run_proxy
from tests.manual_clock import ManualClock

T0 = 1_753_546_461_000
META: dict[str, Any] = {
    "token": "tid=abc;exp=1756134861",
    "expiresAt": 1_756_134_861_000,
    "resetTime": None,
    "chatQuota": 50,
}


def _key(n: int) -> str:
    return f"gho_fallback{n:028d}"


def _record(rid: str, n: int, **extra: Any) -> dict[str, Any]:
    return {"id": rid, "name": f"name {rid}", "key": _key(n), "createdAt": T0 + n, "usageCount": n, **extra}


def _api_key(rid: str, n: int, **fields: Any) -> ApiKey:
    return ApiKey(id=rid, name=f"name {rid}", key=_key(n), created_at=T0 + n, usage_count=n, **fields)


@pytest.fixture
def legacy_dir(tmp_path: Path) -> Path:
    """A legacy STORAGE_DIR as the running legacy service leaves it: two keys, 'b' selected."""
    directory = tmp_path / "storage"
    write_datum(directory, "tokens", "a", _record("a", 1, lastUsed=T0 + 100, meta=META))
    write_datum(directory, "tokens", "b", _record("b", 2))
    write_datum(directory, "selected-token", "selected-token-id", "b")
    return directory


@pytest.fixture
def fallback(store: KeyStore, legacy_dir: Path) -> LegacyFallback:
    """Looks at the legacy files on every miss (no interval between checks)."""
    return LegacyFallback(legacy_dir, store, check_interval=0)


def _resolver(store: KeyStore, fallback: LegacyFallback) -> KeyResolver:
    # No key cache: every resolve asks the database (and then the fallback), as after a ttl.
    return KeyResolver(store, 0.0, fallback=fallback)


async def _records(store: KeyStore) -> list[dict[str, Any]]:
    return await store.db.fetch_all(store.q["legacy_import_records"])


async def test_unknown_key_is_imported_on_first_use(
    store: KeyStore, legacy_dir: Path, fallback: LegacyFallback, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="proxyd.legacy")
    resolver = _resolver(store, fallback)

    expected = _api_key(
        "a",
        1,
        last_used=T0 + 100,
        meta=CopilotMeta(token=META["token"], expires_at=META["expiresAt"], chat_quota=50),
    )
    assert await resolver.resolve(_key(1)) == expected
    assert await store.find_all() == [expected]
    assert fallback.imports == 1
    [record] = await _records(store)
    assert record["api_key_id"] == "a" and record["via"] == "fallback"
    assert record["key_sha256"] == key_sha256(_key(1))
    assert record["source_dir"] == str(legacy_dir)
    assert record["source_file"] == f"tokens/{hashlib.sha256(b'a').hexdigest()}"

    logged = [r.getMessage() for r in caplog.records if r.name == "proxyd.legacy"]
    assert any(f"imported a ({mask_secret(_key(1))})" in line for line in logged)
    assert not any(_key(1) in line for line in logged)

    # Served from the database from now on; the default is not touched by a presented key.
    assert await resolver.resolve(_key(1)) == expected
    assert fallback.imports == 1
    assert await store.get_default() is None
    with pytest.raises(Unauthorized):
        await resolver.resolve("gho_neverSeenAnywhere0000000000000000000")


async def test_key_written_by_the_running_legacy_service_resolves_without_restart(
    store: KeyStore, legacy_dir: Path
) -> None:
    clock = ManualClock()
    fallback = LegacyFallback(legacy_dir, store, check_interval=0.05, clock=clock)
    resolver = _resolver(store, fallback)
    assert (await resolver.resolve(_key(2))).id == "b"  # the index is built

    new_path = write_datum(legacy_dir, "tokens", "c", _record("c", 3))
    full = new_path.read_bytes()
    new_path.write_bytes(full[: len(full) // 2])  # caught mid-write: the reader skips it
    clock.advance(0.06)
    with pytest.raises(Unauthorized):
        await resolver.resolve(_key(3))

    new_path.write_bytes(full)
    clock.advance(0.06)
    assert await resolver.resolve(_key(3)) == _api_key("c", 3)
    assert fallback.imports == 2


async def test_signature_checked_at_most_once_per_interval(
    store: KeyStore, legacy_dir: Path, monkeypatch: pytest.MonkeyPatch, sqlite_only: None
) -> None:
    now = [100.0]
    calls = {"signature": 0, "index": 0}
    real_index = fallback_module._build_index

    def signature(directory: Path) -> tuple[int, ...]:
        calls["signature"] += 1
        return store_signature(directory)

    def index(directory: Path) -> Any:
        calls["index"] += 1
        return real_index(directory)

    monkeypatch.setattr(fallback_module, "store_signature", signature)
    monkeypatch.setattr(fallback_module, "_build_index", index)
    fallback = LegacyFallback(legacy_dir, store, clock=lambda: now[0])

    for _ in range(5):
        assert await fallback("gho_unknown") is None
    assert calls == {"signature": 1, "index": 1}
    now[0] += 0.5
    assert await fallback("gho_unknown") is None
    assert calls == {"signature": 1, "index": 1}
    now[0] += 0.6
    assert await fallback("gho_unknown") is None
    assert calls == {"signature": 2, "index": 1}  # unchanged files are not read again

    write_datum(legacy_dir, "tokens", "c", _record("c", 3))
    assert await fallback(_key(3)) is None  # within the interval: the new file is not seen yet
    now[0] += 1.5
    assert (await fallback(_key(3))) == _api_key("c", 3)
    assert calls == {"signature": 3, "index": 2}


async def test_legacy_default_is_adopted_when_the_database_has_none(store: KeyStore, fallback: LegacyFallback) -> None:
    resolver = _resolver(store, fallback)
    assert await resolver.resolve(None) == _api_key("b", 2, is_default=True)
    assert await resolver.resolve("_") == _api_key("b", 2, is_default=True)
    assert await store.get_default() == _api_key("b", 2, is_default=True)
    assert fallback.imports == 1


async def test_default_already_imported_is_adopted_without_a_second_import(
    store: KeyStore, fallback: LegacyFallback
) -> None:
    resolver = _resolver(store, fallback)
    assert (await resolver.resolve(_key(2))).is_default is False
    assert await resolver.resolve(None) == _api_key("b", 2, is_default=True)
    assert fallback.imports == 1
    assert [r["api_key_id"] for r in await _records(store)] == ["b"]


async def test_an_admins_default_is_never_replaced(store: KeyStore, fallback: LegacyFallback) -> None:
    chosen = await store.create("chosen by an admin", "gho_adminChoice000000000000000000000000")
    chosen = await store.set_default(chosen.id)
    assert await _resolver(store, fallback).resolve(None) == chosen
    # Even when asked directly (another instance set it meanwhile), the database's default wins.
    assert await fallback(None) == chosen
    assert await store.get_default() == chosen
    assert fallback.imports == 0
    assert await store.find_by_id("b") is None


async def test_key_deleted_after_its_import_stays_deleted(
    store: KeyStore, fallback: LegacyFallback, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="proxyd.legacy")
    resolver = _resolver(store, fallback)
    await resolver.resolve(_key(1))
    await store.delete("a")  # an admin revokes it; the legacy files still have it
    resolver.invalidate()  # as the admin route does
    with pytest.raises(Unauthorized):
        await resolver.resolve(_key(1))
    assert fallback.imports == 1
    assert await store.find_all() == []
    assert any("deleted in proxyd after an earlier import" in r.getMessage() for r in caplog.records)


async def test_concurrent_first_uses_import_once(store: KeyStore, fallback: LegacyFallback) -> None:
    resolver = _resolver(store, fallback)
    found = await asyncio.gather(*(resolver.resolve(_key(1)) for _ in range(10)))
    assert {key.id for key in found} == {"a"}
    assert fallback.imports == 1
    assert len(await store.find_all()) == 1


async def test_merged_duplicates_import_as_one_row(store: KeyStore, tmp_path: Path, sqlite_only: None) -> None:
    write_datum(tmp_path, "tokens", "old", {**_record("old", 5), "usageCount": 3})
    write_datum(tmp_path, "tokens", "new", {**_record("new", 5), "createdAt": T0 + 50, "usageCount": 4})
    fallback = LegacyFallback(tmp_path, store, check_interval=0)
    imported = await _resolver(store, fallback).resolve(_key(5))
    assert (imported.id, imported.usage_count) == ("new", 7)


async def test_unreadable_directory_is_reported_once_and_recovers(
    store: KeyStore, tmp_path: Path, caplog: pytest.LogCaptureFixture, sqlite_only: None
) -> None:
    caplog.set_level(logging.INFO, logger="proxyd.legacy")
    directory = tmp_path / "not-yet"
    fallback = LegacyFallback(directory, store, check_interval=0)
    for _ in range(3):
        assert await fallback(_key(1)) is None
        assert await fallback(None) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"legacy fallback: {directory}: no such directory"]
    write_datum(directory, "tokens", "a", _record("a", 1))
    assert (await fallback(_key(1))) == _api_key("a", 1)


async def test_odd_files_cost_one_file_each_and_are_logged_once(
    store: KeyStore, legacy_dir: Path, fallback: LegacyFallback, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="proxyd.legacy")
    tokens = legacy_dir / "tokens"
    os.symlink("loop", tokens / "loop")
    os.mkfifo(tokens / "fifo")
    big = _record("big", 9)
    big["name"] = "x" * MAX_DATUM_BYTES  # the whole file is over the cap: never read, never served
    big_file = write_datum(legacy_dir, "tokens", "big", big)
    (tokens / "odd\nname").write_bytes(orjson.dumps({"key": "d", "value": _record("d", 4, createdAt=T0 + 0.5)}))

    assert await fallback(_key(9)) is None
    assert await fallback(_key(1)) == _api_key(
        "a", 1, last_used=T0 + 100, meta=CopilotMeta(token=META["token"], expires_at=META["expiresAt"], chat_quota=50)
    )
    assert await fallback(_key(4)) == dataclasses.replace(_api_key("d", 4), created_at=T0 + 1)
    records = {r["api_key_id"]: r["source_file"] for r in await _records(store)}
    assert records["d"] == "tokens/odd\\nname"

    os.utime(legacy_dir / "tokens" / hashlib.sha256(b"a").hexdigest(), ns=(1, 1))  # a rebuild: nothing new to say
    assert await fallback(_key(9)) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"legacy fallback: skipped tokens/{big_file.name}: too large (the cap is {MAX_DATUM_BYTES} bytes): "
        f"{big_file.stat().st_size} bytes",
        "legacy fallback: skipped tokens/fifo: not a regular file (FIFO)",
        "legacy fallback: skipped tokens/loop: symlink loop",
        f"legacy fallback: tokens/odd\\nname: record createdAt {T0 + 0.5} rounded to whole milliseconds: {T0 + 1}",
    ]


async def test_hand_edited_records_are_served_and_logged_escaped(
    store: KeyStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="proxyd.legacy")
    evil = "e\x1b[2J"
    record = {**_record(evil, 1), "key": _key(1) + "\n", "usageCount": 2.5, "lastUsed": "yesterday"}
    evil_file = f"tokens/{write_datum(tmp_path, 'tokens', evil, record).name}"
    alias_file = f"tokens/{write_datum(tmp_path, 'tokens', 'u', {**_record('u', 2), 'key': '_'}).name}"
    write_datum(tmp_path, "selected-token", "selected-token-id", evil)
    fallback = LegacyFallback(tmp_path, store, check_interval=0)
    resolver = _resolver(store, fallback)

    # The token as a request presents it, without the newline a hand edit left.
    expected = ApiKey(id=evil, name=f"name {evil}", key=_key(1), created_at=T0 + 1, usage_count=3)
    assert await resolver.resolve(_key(1)) == expected
    assert await resolver.resolve("_") == dataclasses.replace(expected, is_default=True)
    assert fallback.imports == 1

    logged = [r.getMessage() for r in caplog.records if r.name == "proxyd.legacy"]
    assert all(line.isprintable() for line in logged)
    assert logged == [
        f"legacy fallback: skipped {alias_file}: "
        'record key can never be presented (must not be "_": it selects the default key)',
        f"legacy fallback: {evil_file}: whitespace around the key stripped ('\\n' at the end)",
        f"legacy fallback: {evil_file}: record usageCount 2.5 rounded to a whole number: 3",
        f"legacy fallback: {evil_file}: record lastUsed is not a date: 'yesterday'; imported without lastUsed",
        f"legacy fallback: imported e\\x1b[2J ({mask_secret(_key(1))}) from {evil_file} on first use",
        "legacy fallback: adopted e\\x1b[2J as the default key (the legacy default)",
    ]


async def test_off_never_touches_the_legacy_files(
    config: Config, store: KeyStore, legacy_dir: Path, monkeypatch: pytest.MonkeyPatch, sqlite_only: None
) -> None:
    assert legacy_fallback(config, store) is None
    assert legacy_fallback(dataclasses.replace(config, legacy_dir=legacy_dir), store) is None

    def forbidden(*args: object) -> Any:
        raise AssertionError("legacy files read in mode off")

    monkeypatch.setattr(fallback_module, "store_signature", forbidden)
    monkeypatch.setattr(fallback_module, "_build_index", forbidden)
    with pytest.raises(Unauthorized):
        await KeyResolver(store, 0.0, fallback=legacy_fallback(config, store)).resolve(_key(1))

    on = legacy_fallback(dataclasses.replace(config, legacy_mode="fallback", legacy_dir=legacy_dir), store)
    assert isinstance(on, LegacyFallback) and on.directory == legacy_dir and on.imports == 0


async def test_another_instance_importing_first_is_served(
    store: KeyStore, fallback: LegacyFallback, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other instance's row lands between this one's read of the facts and its insert.
    other = await store.create("imported by another instance", _key(1), key_id="a")
    monkeypatch.setattr(
        fallback_module, "decide", lambda rows, default_id, facts: decide(rows, default_id, DatabaseFacts())
    )
    assert await fallback(_key(1)) == other
    assert fallback.imports == 0
    assert await _records(store) == []


async def test_running_proxy_serves_a_key_the_legacy_service_just_wrote(
    config: Config, legacy_dir: Path, sqlite_only: None
) -> None:
    """End to end: proxyd in fallback mode beside a legacy service that keeps writing its files."""
    fallback_config = dataclasses.replace(config, legacy_mode="fallback", legacy_dir=legacy_dir)
    async with running_fake_upstream() as upstream, run_proxy(fallback_config, upstream) as proxy:
        new_key = _key(7)
        upstream.state.add_github_token(new_key)
        write_datum(legacy_dir, "tokens", "c", _record("c", 7))  # the legacy service adds a key
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{proxy.url}/v1/models", headers={"Authorization": f"Bearer {new_key}"}) as r:
                assert r.status == 200
            async with http.get(f"{proxy.url}/metrics") as r:
                assert "proxyd_legacy_fallback_imports_total 1" in await r.text()
        stored = await proxy.store.find_by_key(new_key)
        assert stored is not None and stored.id == "c" and stored.name == "name c"
