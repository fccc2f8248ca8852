"""Requests as an attacker (or a confused client) sends them, against a real proxyd: which key counts,
bodies that claim an encoding or a nesting depth, keys no database could store.

Nothing here depends on the database unless a test says so: SQLite only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from proxyd.appkeys import RESOLVER, USAGE
from tests.conftest import KNOWN_SECRETS, RunningProxy

ALICE = "gho_badinputalice00000000000000000000001"
BOB = "gho_badinputbob0000000000000000000000002"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as response:
        body = await response.read()
        return response.status, orjson.loads(body) if body else None


async def add_account(proxy: RunningProxy, http: aiohttp.ClientSession, name: str, token: str) -> str:
    proxy.upstream.state.add_github_token(token, login=name)
    status, created = await call(http, "POST", f"{proxy.base_url}/api-keys", json={"name": name, "key": token})
    assert status == 201, created
    return str(created["id"])


async def new_client_key(proxy: RunningProxy, http: aiohttp.ClientSession, **fields: Any) -> str:
    status, created = await call(http, "POST", f"{proxy.base_url}/client-keys", json={"name": "team", **fields})
    assert status == 201, created
    KNOWN_SECRETS.add(created["key"])  # the suite fails if any log line shows it
    return str(created["key"])


# --------------------------------------------------------------------------- which key a request presents


@pytest.mark.parametrize("authorization", ["Bearer ", "Bearer", "token  ", ""])
async def test_an_empty_authorization_does_not_hide_x_api_key(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None, authorization: str
) -> None:
    """A limited client key in x-api-key stays limited when an empty Authorization comes with it."""
    await add_account(proxy, http, "alice", ALICE)  # the first account: the default key
    proxy.app[RESOLVER].invalidate()
    limited = await new_client_key(proxy, http, models=["gpt-4o"])
    headers = {"Authorization": authorization, "x-api-key": limited}
    url = f"{proxy.url}/v1/chat/completions"
    status, body = await call(http, "POST", url, json=CHAT | {"model": "o3"}, headers=headers)
    assert status == 403 and "o3" in body["error"]["message"]  # the client key's model list applied
    status, _ = await call(http, "POST", url, json=CHAT, headers=headers)
    assert status == 200
    assert await proxy.app[USAGE].flush()
    status, logs = await call(http, "GET", f"{proxy.base_url}/admin/logs")
    assert [entry["clientKeyName"] for entry in logs["logs"]] == ["team"]  # counted against the client key
