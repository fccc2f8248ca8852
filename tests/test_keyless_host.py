"""Requests without a key spend the default key: only under a loopback ``Host`` or one in PROXYD_ALLOWED_HOSTS.

A page on ``rebind.attacker.example`` can re-point its name at 127.0.0.1 (DNS
rebinding) and then send same-origin requests, JSON bodies included, through
the visitor's browser and read the answers; the browser still sends the
attacker's name as ``Host``. Nothing here depends on the database: SQLite only.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import aiohttp
import orjson
import pytest

from bench.fake_upstream import FakeUpstream
from proxyd.appkeys import RESOLVER
from proxyd.config import Config
from proxyd.errors import ConfigError
from proxyd.http.hosts import host_name
from tests.conftest import RunningProxy

GITHUB_TOKEN = "gho_keylesshost00000000000000000000000001"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
FORBIDDEN_MESSAGE = (
    "Requests without an API key must be sent to localhost, a loopback address or a host in PROXYD_ALLOWED_HOSTS"
)
FORBIDDEN = {"statusCode": 403, "message": FORBIDDEN_MESSAGE, "error": "Forbidden"}


@pytest.fixture
def proxy_config(config: Config) -> Config:
    return dataclasses.replace(
        config, allowed_hosts=frozenset({"proxyd.example.com", "2001:db8::7"}), usage_flush_interval=0.05
    )


@pytest.fixture
async def default_key(proxy: RunningProxy) -> None:
    proxy.upstream.state.add_github_token(GITHUB_TOKEN)
    await proxy.store.set_default((await proxy.store.create("default", GITHUB_TOKEN)).id)
    proxy.app[RESOLVER].invalidate()


async def chat(
    http: aiohttp.ClientSession, proxy: RunningProxy, host: str, authorization: str | None = None, path: str = "/v1"
) -> tuple[int, Any]:
    headers = {"Host": host}
    if authorization is not None:
        headers["Authorization"] = authorization
    async with http.post(f"{proxy.url}{path}/chat/completions", json=CHAT, headers=headers) as response:
        return response.status, orjson.loads(await response.read())


def port_of(proxy: RunningProxy) -> str:
    return proxy.url.rsplit(":", 1)[1]


@pytest.mark.parametrize("authorization", [None, "Bearer ", "Bearer _", "token _"])
async def test_rebound_page_cannot_spend_the_default_key(
    proxy: RunningProxy,
    http: aiohttp.ClientSession,
    default_key: None,
    authorization: str | None,
    sqlite_only: None,
) -> None:
    port = port_of(proxy)
    for host in (f"rebind.attacker.example:{port}", "rebind.attacker.example", f"192.0.2.1:{port}", "localhost.evil"):
        assert await chat(http, proxy, host, authorization, "/api") == (403, FORBIDDEN), host
        # /v1 answers in its route's error shape, with the same message.
        status, body = await chat(http, proxy, host, authorization, "/v1")
        assert status == 403 and FORBIDDEN_MESSAGE in orjson.dumps(body).decode(), host
    async with http.get(f"{proxy.url}/v1/models", headers={"Host": f"rebind.attacker.example:{port}"}) as r:
        assert r.status == 403
    assert proxy.upstream.state.requests_to("/chat/completions") == []
    assert proxy.upstream.state.requests_to("/models") == []


async def test_loopback_and_allowed_hosts_are_served(
    proxy: RunningProxy, http: aiohttp.ClientSession, default_key: None, sqlite_only: None
) -> None:
    port = port_of(proxy)
    for host in (
        f"127.0.0.1:{port}", f"127.9.8.7:{port}", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}",
        "proxyd.example.com", f"Proxyd.Example.COM.:{port}", "[2001:db8:0::7]:443",
    ):  # fmt: skip
        status, body = await chat(http, proxy, host, "Bearer _")
        assert status == 200 and body["choices"], host


async def test_requests_with_a_key_ignore_the_host(
    proxy: RunningProxy, http: aiohttp.ClientSession, default_key: None, sqlite_only: None
) -> None:
    status, _ = await chat(http, proxy, "rebind.attacker.example", f"Bearer {GITHUB_TOKEN}")
    assert status == 200


async def test_a_request_without_host_is_refused(proxy: RunningProxy, default_key: None, sqlite_only: None) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", int(port_of(proxy)))
    writer.write(b"GET /v1/models HTTP/1.0\r\n\r\n")
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == b"403"


def test_allowed_hosts_variable() -> None:
    assert Config.from_env({}).allowed_hosts == frozenset()
    raw = " Proxyd.Example.com:3000, 192.0.2.7 ,,[2001:DB8::7]:80, 2001:db8:0::8, intra_net.local. "
    assert Config.from_env({"PROXYD_ALLOWED_HOSTS": raw}).allowed_hosts == {
        "proxyd.example.com",
        "192.0.2.7",
        "2001:db8::7",
        "2001:db8::8",
        "intra_net.local",
    }
    for bad in ("*", "*.example.com", "http://proxyd.example.com", "proxyd example", "[::1", "host:port", "a..b"):
        with pytest.raises(ConfigError, match=r"^PROXYD_ALLOWED_HOSTS: ") as raised:
            Config.from_env({"PROXYD_ALLOWED_HOSTS": f"ok.example, {bad}"})
        assert repr(bad) in raised.value.message


def test_host_name() -> None:
    for header, name in (
        ("Example.COM:8080", "example.com"),
        ("example.com.", "example.com"),
        ("[::1]:3000", "::1"),
        ("[2001:DB8:0::1]", "2001:db8::1"),
        ("127.0.0.1:3000", "127.0.0.1"),
    ):
        assert host_name(header) == name, header
    for malformed in (None, "", "[::1", "[nope]:1", "a:b", "ex ample", "[::1]x", "a/b"):
        assert host_name(malformed) is None, malformed


async def test_keyless_error_keeps_the_upstream_untouched(
    proxy: RunningProxy, http: aiohttp.ClientSession, upstream: FakeUpstream, sqlite_only: None
) -> None:
    """No default key set: the Host check answers first, so a foreign page learns nothing about the keys."""
    assert await chat(http, proxy, "rebind.attacker.example", path="/api") == (403, FORBIDDEN)
    status, body = await chat(http, proxy, f"localhost:{port_of(proxy)}", path="/api")
    assert (status, body["message"]) == (401, "No default API key is set")
    assert upstream.state.requests == []
