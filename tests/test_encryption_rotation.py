"""``proxyd keys rotate-encryption``: every token re-encrypted under a new key while proxyd serves, on every dialect.

Two instances share the database and the key file while clients keep sending
requests with GitHub tokens, the default key and a client key, Copilot tokens
are exchanged and stored again on every request, and an admin adds accounts:
the rotation must not fail a single request.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from bench.delegating_database import DelegatingDatabase
from bench.fake_upstream import FakeUpstream
from proxyd import cli
from proxyd.config import Config
from proxyd.crypto import key_file
from proxyd.crypto.keyring import Keyring, generate_key, parse_key, sealed_key_id
from proxyd.crypto.rotation import rotate_encryption
from proxyd.crypto.source import StaticKeys, key_source
from proxyd.db import Database, open_database
from proxyd.db.base import Params, Row
from proxyd.db.queries import Query
from proxyd.errors import UndecryptableToken
from proxyd.keys.masking import mask_secret
from proxyd.keys.store import KeyStore
from tests.conftest import KNOWN_SECRETS, RunningProxy, run_proxy

TOKENS = [f"gho_rotationUnderLoad{n:019d}" for n in range(4)]
LATE = [f"gho_rotationAddedLate{n:019d}" for n in range(3)]
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
# Longer than the key file's check interval (1 s), as the command's own default (3 s) is: shorter runs.
GRACE = 1.5


async def call(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as response:
        body = await response.read()
        return response.status, orjson.loads(body) if body else None


async def chat(http: aiohttp.ClientSession, proxy: RunningProxy, key: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    return await call(http, "POST", f"{proxy.url}/v1/chat/completions", json=CHAT, headers=headers)


async def add_account(proxy: RunningProxy, http: aiohttp.ClientSession, name: str, token: str) -> str:
    proxy.upstream.state.add_github_token(token, login=name)
    status, created = await call(http, "POST", f"{proxy.base_url}/api-keys", json={"name": name, "key": token})
    assert status == 201, created
    return str(created["id"])


def file_config(config: Config, path: Path) -> Config:
    """proxyd with its key file (the default): what the automatic rotation works on."""
    return dataclasses.replace(config, encryption_key=(), encryption_key_file=path)


async def sealed_key_ids(database: Database) -> Counter[str | None]:
    q = database.queries
    keys = [sealed_key_id(r["key_ciphertext"]) for r in await database.fetch_all(q["sealed_tokens"])]
    metas = [sealed_key_id(r["token_ciphertext"]) for r in await database.fetch_all(q["sealed_meta_tokens"])]
    return Counter(keys + metas)


async def test_rotation_under_load_fails_no_request(
    proxy_config: Config, upstream: FakeUpstream, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "encryption-key"
    # Short key-cache entries: lookups, pools and the default key go back to the database all the time.
    config = dataclasses.replace(file_config(proxy_config, path), key_cache_ttl=0.05)
    # Copilot tokens that never last: every request exchanges one and stores it, sealed, as it rotates.
    upstream.state.copilot_token_ttl = 30
    async with run_proxy(config, upstream) as first, run_proxy(config, upstream) as second:
        for n, token in enumerate(TOKENS):
            await add_account(first, http, f"account {n}", token)
        status, client_key = await call(http, "POST", f"{first.base_url}/client-keys", json={"name": "team"})
        assert status == 201
        KNOWN_SECRETS.add(client_key["key"])
        (old_key,) = key_file.read_keys(path)
        old = Keyring([parse_key(old_key)])

        stop = asyncio.Event()
        answered: Counter[int] = Counter()
        failures: list[str] = []

        async def client(proxy: RunningProxy, key: str) -> None:
            while not stop.is_set():
                status, body = await chat(http, proxy, key)
                answered[status] += 1
                if status != 200:
                    failures.append(f"{proxy.url} {mask_secret(key)}: {status} {body}")

        async def admin() -> None:
            # Accounts added while the keys change, on both instances: each is served at once.
            for n, token in enumerate(LATE):
                await asyncio.sleep(0.8)
                proxy = (first, second)[n % 2]
                await add_account(proxy, http, f"late {n}", token)
                status, body = await chat(http, proxy, token)
                answered[status] += 1
                if status != 200:
                    failures.append(f"late account {n}: {status} {body}")

        keys = [*TOKENS[:3], "_", client_key["key"]]
        tasks = [asyncio.create_task(client(p, k)) for p in (first, second) for k in keys]
        tasks.append(asyncio.create_task(admin()))
        await asyncio.sleep(0.3)
        said: list[str] = []
        database = await open_database(config)
        try:
            source = key_source(config, create=False)
            assert await rotate_encryption(database, source, said.append, grace=GRACE) == 0
            await asyncio.sleep(1.5)  # the instances read the file once more: the old key is gone from it
            stop.set()
            await asyncio.gather(*tasks)

            assert failures == []
            assert answered[200] > 50, answered
            (new_key,) = key_file.read_keys(path)
            new = Keyring([parse_key(new_key)])
            assert new.primary.id != old.primary.id
            assert await sealed_key_ids(database) == Counter(
                {new.primary.id: sum((await sealed_key_ids(database)).values())}
            )
            for proxy in (first, second):  # both instances followed the file, without a restart
                assert proxy.store.keys.keyring().ids == new.ids
            # The old key opens nothing any more; every account still serves.
            for row in await database.fetch_all(database.queries["sealed_tokens"]):
                with pytest.raises(UndecryptableToken):
                    old.open(row["key_ciphertext"], "github-token", row["id"])
            for token in (*TOKENS, *LATE):
                assert (await chat(http, first, token))[0] == 200
                assert (await chat(http, second, token))[0] == 200
        finally:
            await database.close()
    assert said[0].startswith(f"new key {new.primary.id} written first in {path}; {old.primary.id} still decrypts")
    assert any(line.startswith(f"retired {old.primary.id} from {path}") for line in said)
    assert new_key not in "\n".join(said) and old_key not in "\n".join(said)


class RotatedWhileAsking(DelegatingDatabase):
    """A real database on which a rotation runs, and the key file is read again, while a token's lookup waits."""

    def __init__(self, inner: Database, rotate: Callable[[], Awaitable[None]]) -> None:
        super().__init__(inner)
        self._rotate: Callable[[], Awaitable[None]] | None = rotate

    async def fetch_one(self, query: Query, params: Params | None = None) -> Row | None:
        if query is self.queries["find_key_by_hmac"] and self._rotate is not None:
            rotate, self._rotate = self._rotate, None
            await rotate()
        return await super().fetch_one(query, params)


async def test_a_lookup_that_waited_through_a_rotation_finds_its_account(
    config: Config, database: Database, tmp_path: Path, sqlite_only: None
) -> None:
    """The query was asked with the old key's hash; meanwhile the row moved and another request reloaded the file."""
    path = tmp_path / "encryption-key"
    source = key_source(file_config(config, path), create=True)
    await KeyStore(database, source).create("alice", TOKENS[0])
    (old_key,) = key_file.read_keys(path)
    new_key = generate_key()

    async def rotate() -> None:
        key_file.write_keys(path, [new_key, old_key])
        assert source.refresh()  # what another request's lookup did while this one waited
        assert await rotate_encryption(database, StaticKeys((new_key, old_key)), lambda _: None, grace=0) == 0

    found = await KeyStore(RotatedWhileAsking(database, rotate), source).find_by_key(TOKENS[0])
    assert found is not None and found.key == TOKENS[0]


async def test_staged_rotation_with_the_environment_variable(
    config: Config, database: Database, sqlite_only: None
) -> None:
    """PROXYD_ENCRYPTION_KEY=new,old: the command re-encrypts under the first key and says what to remove."""
    old_key, new_key = generate_key(), generate_key()
    store = KeyStore(database, StaticKeys((old_key,)))
    for n, token in enumerate(TOKENS):
        await store.create(f"account {n}", token)
    staged = StaticKeys((new_key, old_key))
    said: list[str] = []
    assert await rotate_encryption(database, staged, said.append, grace=0) == 0
    new = Keyring([parse_key(new_key)])
    assert await sealed_key_ids(database) == Counter({new.primary.id: len(TOKENS)})
    assert any("remove the other key(s)" in line and "PROXYD_ENCRYPTION_KEY" in line for line in said)
    # Done: the new key alone reads everything, and finds every account by its token.
    after = KeyStore(database, StaticKeys((new_key,)))
    assert {a.key for a in await after.find_all()} == set(TOKENS)
    assert (await after.find_by_key(TOKENS[2])) is not None
    # Run again with one key: nothing to do, and how to start a rotation.
    said.clear()
    assert await rotate_encryption(database, StaticKeys((new_key,)), said.append, grace=0) == 0
    assert any("PROXYD_ENCRYPTION_KEY=<new key>,<current key>" in line for line in said)


async def test_accounts_no_key_opens_are_named_and_fail_the_command(
    config: Config, database: Database, sqlite_only: None
) -> None:
    ours, foreign = generate_key(), generate_key()
    await KeyStore(database, StaticKeys((ours,))).create("ours", TOKENS[0])
    stray = await KeyStore(database, StaticKeys((foreign,))).create("stray", TOKENS[1])
    said: list[str] = []
    assert await rotate_encryption(database, StaticKeys((generate_key(), ours)), said.append, grace=0) == 1
    assert any(line.startswith(f"account {stray.id} was left as it is") for line in said)
    assert said[-1].startswith("1 account(s) could not be re-encrypted")


async def test_the_command(
    config: Config, database: Database, cli_key_file: Path, capsys: pytest.CaptureFixture[str], sqlite_only: None
) -> None:
    path = cli_key_file
    store = KeyStore(database, key_source(file_config(config, path), create=True))
    await store.create("alice", TOKENS[0])
    (old_key,) = key_file.read_keys(path)
    assert await asyncio.to_thread(cli.main, ["keys", "rotate-encryption"]) == 0
    out = capsys.readouterr().out
    (new_key,) = key_file.read_keys(path)
    assert new_key != old_key and new_key not in out and old_key not in out
    assert "1 GitHub token(s) and 0 Copilot token(s) re-encrypted" in out
    assert (await store.find_by_key(TOKENS[0])) is not None  # this process followed the file too

    path.unlink()  # without its key file, the command touches nothing (and makes no new key)
    assert await asyncio.to_thread(cli.main, ["keys", "rotate-encryption"]) == 1
    assert "does not exist, but the database holds 1 GitHub token(s)" in capsys.readouterr().err
    assert not path.exists()
