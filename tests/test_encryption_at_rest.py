"""GitHub and Copilot tokens at rest, on every dialect: never in clear in the database, its files or its dumps.

Also the migration that encrypts a database written by an earlier release (and
its rollback, which puts the tokens back in clear and says so), a wrong or
missing key at start, accounts only some of whose tokens decrypt, and lookups
that stay free of queries and decryption once cached.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import orjson
import pytest

from bench.fake_upstream import FakeUpstream
from proxyd import cli
from proxyd.appkeys import RESOLVER, TOKENS
from proxyd.config import Config
from proxyd.crypto.keyring import Keyring, generate_key, parse_key, sealed_key_id
from proxyd.crypto.source import StaticKeys
from proxyd.db import Database, open_database
from proxyd.db.queries import compile_query
from proxyd.errors import ConfigError
from proxyd.keys.masking import mask_secret
from proxyd.keys.records import CopilotMeta
from proxyd.keys.store import KeyStore
from proxyd.legacy.reader import read_store
from tests import dbservers
from tests.conftest import TEST_ENCRYPTION_KEY, RunningProxy, keys_for, migrator, run_proxy
from tests.daemon import PROXYD
from tests.legacy_samples import samples_dir

ALICE = "gho_atRestAlice00000000000000000000000001"
BOB = "gho_atRestBob0000000000000000000000000002"
CAROL = "gho_atRestCarol00000000000000000000000003"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
ENCRYPT = "0007.encrypt-tokens"

# Every table of the database, per dialect: the raw check reads them all, whatever a later release adds.
_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT table_name AS name FROM information_schema.tables "
    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    "mysql": "SELECT table_name AS name FROM information_schema.tables "
    "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'",
}


async def call(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as response:
        body = await response.read()
        return response.status, orjson.loads(body) if body else None


async def add_account(proxy: RunningProxy, http: aiohttp.ClientSession, name: str, token: str) -> dict[str, Any]:
    proxy.upstream.state.add_github_token(token, login=name)
    status, created = await call(http, "POST", f"{proxy.base_url}/api-keys", json={"name": name, "key": token})
    assert status == 201, created
    return dict(created)


async def chat(http: aiohttp.ClientSession, proxy: RunningProxy, key: str) -> int:
    status, _ = await call(http, "POST", f"{proxy.url}/v1/chat/completions", json=CHAT, headers=_bearer(key))
    return status


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --------------------------------------------------------------------------- what the database holds


async def raw_rows(database: Database) -> str:
    """Every row of every table, as text: what whoever reads the database sees."""
    dialect = database.url.dialect
    tables = await database.fetch_all(compile_query("tables", _TABLES[dialect], database.paramstyle))
    texts = []
    for table in sorted(str(row["name"]) for row in tables):
        rows = await database.fetch_all(compile_query("rows", f"SELECT * FROM {table}", database.paramstyle))
        texts.append(f"{table}: {rows!r}")
    return "\n".join(texts)


def database_files(config: Config) -> bytes:
    """SQLite: the database file and its write-ahead log, byte for byte."""
    path = Path(config.database.path)
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def backup(config: Config) -> str:
    """What a backup of the database holds: ``pg_dump`` / ``mariadb-dump``, or SQLite's own ``.dump``."""
    if config.database.dialect == "sqlite":
        import sqlite3

        connection = sqlite3.connect(config.database.path)
        try:
            return "\n".join(connection.iterdump())
        finally:
            connection.close()
    return dbservers.dump(config.database.raw)


async def assert_nowhere_in_clear(database: Database, config: Config, secrets: set[str]) -> None:
    assert secrets, "nothing to look for"
    places = {"rows": await raw_rows(database), "dump": await asyncio.to_thread(backup, config)}
    if config.database.dialect == "sqlite":
        places["files"] = database_files(config).decode("latin-1")
    found = {where: sorted(mask_secret(s) for s in secrets if s in text) for where, text in places.items()}
    assert found == {where: [] for where in places}


def copilot_tokens(upstream: FakeUpstream) -> set[str]:
    return set(upstream.state.copilot_tokens)


# --------------------------------------------------------------------------- tokens are never stored in clear


async def test_no_token_in_clear_in_the_rows_the_files_or_a_dump(
    proxy: RunningProxy,
    http: aiohttp.ClientSession,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    alice = await add_account(proxy, http, "alice", ALICE)  # the admin API, with its Copilot meta
    await add_account(proxy, http, "bob", BOB)
    assert alice["maskedKey"] == mask_secret(ALICE) and alice["meta"]["token"] != ""
    proxy.upstream.state.expire_all_copilot_tokens()  # the next request exchanges and stores a new one
    proxy.app[TOKENS].forget(alice["id"])
    assert await chat(http, proxy, ALICE) == 200
    assert await chat(http, proxy, "_") == 200  # the default key (alice, the first)
    await proxy.app[TOKENS].drain()
    # The legacy import writes sealed rows too (here by `proxyd import-legacy`, the fallback and the
    # migration share its code).
    legacy = samples_dir() / "basic"
    assert await asyncio.to_thread(cli.main, ["import-legacy", str(legacy)]) == 0
    capsys.readouterr()
    records = read_store(legacy).records
    legacy_tokens = {r.api_key.key for r in records} | {r.api_key.meta.token for r in records if r.api_key.meta}

    database = proxy.store.db
    secrets = {ALICE, BOB} | copilot_tokens(proxy.upstream) | legacy_tokens
    await assert_nowhere_in_clear(database, proxy.config, secrets)

    # Yet everything works from the sealed rows: the masked keys were stored when written, lookups find them.
    listed = {k["name"]: k for k in (await call(http, "GET", f"{proxy.base_url}/api-keys"))[1]}
    assert listed["bob"]["maskedKey"] == mask_secret(BOB)
    assert all(k["maskedKey"] == mask_secret(r.api_key.key) for r in records for k in [listed[r.api_key.name]])
    for record in records:
        proxy.upstream.state.add_github_token(record.api_key.key)
        assert await chat(http, proxy, record.api_key.key) == 200
    sealed = await database.fetch_all(database.queries["sealed_tokens"])
    assert {sealed_key_id(r["key_ciphertext"]) for r in sealed} == {keys_for(proxy.config).keyring().primary.id}


async def test_no_token_in_the_server_files_or_its_write_ahead_log(
    proxy: RunningProxy, http: aiohttp.ClientSession, db_servers: Any, dialect: str, server_dialects_only: None
) -> None:
    """PostgreSQL's data files and WAL, MariaDB's tablespaces and redo and undo logs: the token is in none."""
    server = db_servers.get(dialect)
    if server.datadir is None:
        pytest.skip("an external server (PROXYD_TEST_*_URL): its files are not on this machine")
    unique = uuid.uuid4().hex
    marker, token = f"files-{unique}".encode(), f"gho_files{unique}00000"
    await add_account(proxy, http, marker.decode(), token)  # the name is stored in clear: it shows the flush
    assert await chat(http, proxy, token) == 200
    await proxy.app[TOKENS].drain()
    secrets = [token.encode(), *(t.encode() for t in copilot_tokens(proxy.upstream))]
    found: set[bytes] = set()
    for _ in range(100):  # until the account's row has reached the files (InnoDB writes its log every second)
        await asyncio.to_thread(dbservers.checkpoint, server)
        found = await asyncio.to_thread(dbservers.files_contain, server.datadir, [marker, *secrets])
        if marker in found:
            break
        await asyncio.sleep(0.2)
    assert marker in found, "the row never reached the server's files"
    assert found == {marker}


async def test_the_legacy_fallback_writes_encrypted_rows(
    proxy_config: Config, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    legacy = samples_dir() / "basic"
    config = dataclasses.replace(proxy_config, legacy_dir=legacy, legacy_mode="fallback")
    records = read_store(legacy).records
    for record in records:
        upstream.state.add_github_token(record.api_key.key)
    async with run_proxy(config, upstream) as proxy:
        for record in records:  # each imported on first use, then served
            assert await chat(http, proxy, record.api_key.key) == 200
        await proxy.app[TOKENS].drain()
        assert len(await proxy.store.find_all()) == len(records)
        legacy_tokens = {r.api_key.key for r in records} | {r.api_key.meta.token for r in records if r.api_key.meta}
        await assert_nowhere_in_clear(proxy.store.db, config, legacy_tokens | copilot_tokens(upstream))


async def test_lookups_stay_free_once_cached(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    await add_account(proxy, http, "alice", ALICE)
    assert await chat(http, proxy, ALICE) == 200  # the first lookup: one query, one decryption
    resolver = proxy.app[RESOLVER]
    misses = resolver.misses
    opened = mock.Mock(wraps=Keyring.open)
    with mock.patch.object(Keyring, "open", lambda keyring, *args: opened(keyring, *args)):
        for _ in range(20):
            assert await chat(http, proxy, ALICE) == 200
    assert resolver.misses == misses and opened.call_count == 0  # no query, nothing decrypted


# --------------------------------------------------------------------------- the migration of a clear-text database


async def _write_in_clear(database: Database, accounts: dict[str, str], meta: dict[str, str]) -> None:
    """Rows as the schema before 0006 holds them (what an earlier release wrote): tokens in clear."""
    key = "`key`" if database.url.dialect == "mysql" else "key"
    default = "0" if database.url.dialect == "sqlite" else "FALSE"
    insert_key = compile_query(
        "k",
        f"INSERT INTO api_keys (id, name, {key}, created_at, usage_count, is_default) "
        f"VALUES (:id, :name, :key, 1, 0, {default})",
        database.paramstyle,
    )
    insert_meta = compile_query(
        "m",
        "INSERT INTO copilot_meta (api_key_id, token, expires_at) VALUES (:id, :token, 4102444800000)",
        database.paramstyle,
    )
    for name, token in accounts.items():
        await database.execute(insert_key, {"id": f"id-{name}", "name": name, "key": token})
        if name in meta:
            await database.execute(insert_meta, {"id": f"id-{name}", "token": meta[name]})


async def test_migration_encrypts_a_clear_database_and_its_rollback_restores_it(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    migrations = migrator(config)
    await asyncio.to_thread(migrations.apply)
    assert await asyncio.to_thread(migrations.rollback, 1) == [ENCRYPT]
    accounts = {"alice": ALICE, "bob": BOB, "carol": CAROL}
    meta = {"alice": "tid=aliceCopilotToken0000;exp=4102444800;sku=free", "bob": "tid=bobCopilotToken;exp=1;sku=x"}
    database = await open_database(config)
    try:
        await _write_in_clear(database, accounts, meta)
        assert ALICE in await raw_rows(database)  # the starting point: what earlier releases stored
        assert ALICE in await asyncio.to_thread(backup, config)  # the checks below can see a token
        if config.database.dialect == "sqlite":
            assert ALICE.encode() in database_files(config)

        assert await asyncio.to_thread(migrations.apply) == [ENCRYPT]
        assert f"{ENCRYPT}: 3 GitHub token(s) and 2 Copilot token(s) encrypted under key" in caplog.text
        await assert_nowhere_in_clear(database, config, {*accounts.values(), *meta.values()})
        store = KeyStore(database, keys_for(config))
        found = {a.name: a for a in await store.find_all()}
        assert {name: a.key for name, a in found.items()} == accounts
        assert found["alice"].meta == CopilotMeta(token=meta["alice"], expires_at=4102444800000)
        assert found["carol"].masked_key == mask_secret(CAROL) and found["carol"].meta is None
        assert (await store.find_by_key(BOB)) == found["bob"]

        caplog.clear()
        assert await asyncio.to_thread(migrations.rollback, 1) == [ENCRYPT]
        assert "3 GitHub token(s) and 2 Copilot token(s) are stored IN CLEAR again" in caplog.text
        rows = await raw_rows(database)
        assert all(token in rows for token in (*accounts.values(), *meta.values()))
        assert "key_ciphertext" not in rows and "masked_key" not in rows

        await asyncio.to_thread(migrations.apply)  # and encrypted once more
        await assert_nowhere_in_clear(database, config, set(accounts.values()))
        assert {a.key for a in await store.find_all()} == set(accounts.values())
    finally:
        await database.close()


async def test_the_migration_needs_the_key_only_for_tokens(config: Config, sqlite_only: None) -> None:
    from proxyd.db.schema import Migrator

    # An empty database: no key asked for (the tests' migrations run this way).
    await asyncio.to_thread(Migrator(config.database).apply)
    await asyncio.to_thread(Migrator(config.database).rollback, 1)
    database = await open_database(config)
    try:
        await _write_in_clear(database, {"alice": ALICE}, {})
    finally:
        await database.close()
    with pytest.raises(Exception, match="no encryption key was given"):
        await asyncio.to_thread(Migrator(config.database).apply)


# --------------------------------------------------------------------------- a wrong or missing key


async def _stored_under(config: Config, key: str, *accounts: tuple[str, str]) -> list[str]:
    database = await open_database(config)
    try:
        store = KeyStore(database, StaticKeys((key,)))
        return [(await store.create(name, token)).id for name, token in accounts]
    finally:
        await database.close()


async def test_a_key_that_opens_nothing_stops_the_start(
    config: Config, upstream: FakeUpstream, database: Database, tmp_path: Path
) -> None:
    await _stored_under(config, TEST_ENCRYPTION_KEY, ("alice", ALICE), ("bob", BOB))
    other = dataclasses.replace(config, encryption_key=(generate_key(),))
    with pytest.raises(ConfigError) as refused:
        async with run_proxy(other, upstream):
            pass
    test_key = Keyring([parse_key(TEST_ENCRYPTION_KEY)]).primary.id
    other_key = Keyring([parse_key(other.encryption_key[0])]).primary.id
    assert refused.value.message.startswith(f"PROXYD_ENCRYPTION_KEY: the key {other_key} decrypts none of the 2 ")
    assert f"stored GitHub token(s) (they are encrypted under key {test_key})" in refused.value.message
    assert "\n" not in refused.value.message

    # The key file it was encrypted with is gone: said so, and no new key is made in its place.
    missing = tmp_path / "lost-encryption-key"
    lost = dataclasses.replace(config, encryption_key=(), encryption_key_file=missing)
    with pytest.raises(ConfigError, match=r"^PROXYD_ENCRYPTION_KEY_FILE: .*lost-encryption-key does not exist, but"):
        async with run_proxy(lost, upstream):
            pass
    assert not missing.exists()


def test_serve_with_a_wrong_key_is_one_line_and_exit_1(config: Config, tmp_path: Path, sqlite_only: None) -> None:
    asyncio.run(_prepared(config))
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": config.database.raw,
        "PROXYD_ENCRYPTION_KEY": generate_key(),
        "PROXYD_ADMIN_LOOPBACK": "1",
        "PROXYD_PORT": "0",
    }
    result = subprocess.run([PROXYD, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("proxyd: PROXYD_ENCRYPTION_KEY: the key ")
    assert "decrypts none of the 1 stored GitHub token(s)" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr + result.stdout


async def _prepared(config: Config) -> None:
    await asyncio.to_thread(migrator(config).apply)
    await _stored_under(config, TEST_ENCRYPTION_KEY, ("alice", ALICE))


async def test_accounts_that_do_not_decrypt_are_marked_unusable_and_named(
    proxy_config: Config,
    upstream: FakeUpstream,
    database: Database,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A copied row under another key: that account is unusable (named once), the others serve."""
    for token in (ALICE, BOB, CAROL):
        upstream.state.add_github_token(token)
    (alice,) = await _stored_under(proxy_config, TEST_ENCRYPTION_KEY, ("alice", ALICE))
    (bob,) = await _stored_under(proxy_config, generate_key(), ("bob", BOB))
    async with run_proxy(proxy_config, upstream) as proxy:
        named = [r.getMessage() for r in caplog.records if "is unusable" in r.getMessage()]
        assert len(named) == 1 and f"account {bob} ('bob', {mask_secret(BOB)})" in named[0]
        assert "1 of 2 accounts cannot be decrypted with PROXYD_ENCRYPTION_KEY" in caplog.text
        assert await chat(http, proxy, ALICE) == 200
        assert await chat(http, proxy, BOB) == 401  # never served, never sent anywhere with a wrong plaintext
        assert not upstream.state.exchange_count(BOB)
        status, listed = await call(http, "GET", f"{proxy.base_url}/api-keys")
        assert status == 200
        unusable = {k["id"]: k.get("unusable", False) for k in listed}
        assert unusable == {alice: False, bob: True}
        # Its masked key was stored when it was written: shown, though its token cannot be decrypted.
        assert {k["id"]: k["maskedKey"] for k in listed}[bob] == mask_secret(BOB)
        status, refused = await call(http, "POST", f"{proxy.base_url}/api-keys/{bob}/refresh-meta")
        assert status == 409 and "cannot be decrypted" in refused["message"]
        # A client key's pool leaves it out: every request goes to alice.
        status, created = await call(http, "POST", f"{proxy.base_url}/client-keys", json={"name": "team"})
        assert status == 201
        from tests.conftest import KNOWN_SECRETS

        KNOWN_SECRETS.add(created["key"])
        for _ in range(4):
            assert await chat(http, proxy, created["key"]) == 200
        # An admin can still delete it, and add the token again under the key in use.
        assert (await call(http, "DELETE", f"{proxy.base_url}/api-keys/{bob}"))[0] == 200
        await add_account(proxy, http, "bob again", BOB)
        assert await chat(http, proxy, BOB) == 200
    assert caplog.text.count("is unusable") == 1  # named once, not once per lookup


async def test_a_dry_run_makes_no_key_file(
    config: Config, database: Database, cli_key_file: Path, capsys: pytest.CaptureFixture[str], sqlite_only: None
) -> None:
    path = cli_key_file
    legacy = str(samples_dir() / "basic")
    assert await asyncio.to_thread(cli.main, ["import-legacy", legacy, "--dry-run"]) == 0
    assert "would insert: 3" in capsys.readouterr().out and not path.exists()
    assert await asyncio.to_thread(cli.main, ["import-legacy", legacy]) == 0  # the real import makes the key
    assert path.exists() and len(await KeyStore(database, key_source_of(config, path)).find_all()) == 3


def key_source_of(config: Config, path: Path) -> StaticKeys:
    from proxyd.crypto import key_file

    return StaticKeys(key_file.read_keys(path))
