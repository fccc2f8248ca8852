"""Admin routes in loopback mode (PROXYD_ADMIN_LOOPBACK=1): the Host check against DNS rebinding."""

from __future__ import annotations

import dataclasses

import aiohttp
import orjson
import pytest

from bench.fake_upstream import FakeUpstream
from proxyd.config import Config
from proxyd.http.hosts import is_loopback_host
from tests.conftest import RunningProxy, run_proxy

ADMIN_TOKEN = "review-admin-token-0123456789"
WRONG_HOST = {
    "statusCode": 403,
    "message": "Admin routes without a token accept Host: localhost or a loopback address only "
    "(PROXYD_ADMIN_TOKEN is unset)",
    "error": "Forbidden",
}


async def _get(url: str, headers: dict[str, str]) -> tuple[int, object]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        body = await response.read()
        return response.status, orjson.loads(body) if body else None


async def test_loopback_mode_checks_the_host_header(proxy: RunningProxy, sqlite_only: None) -> None:
    assert proxy.config.admin_token is None
    port = proxy.url.rsplit(":", 1)[1]
    url = f"{proxy.base_url}/api-keys"
    # A page on a rebound domain: the browser connects to 127.0.0.1 but names the attacker's host.
    for host in (f"evil.example:{port}", "evil.example", f"localhost.evil.example:{port}", f"192.0.2.1:{port}"):
        assert await _get(url, {"Host": host}) == (403, WRONG_HOST), host
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost", f"LOCALHOST:{port}"):
        status, _ = await _get(url, {"Host": host})
        assert status == 200, host
    assert await proxy.store.find_all() == []


async def test_bearer_requests_ignore_the_host_header(
    proxy_config: Config, upstream: FakeUpstream, sqlite_only: None
) -> None:
    async with run_proxy(dataclasses.replace(proxy_config, admin_token=ADMIN_TOKEN), upstream) as proxy:
        url = f"{proxy.base_url}/api-keys"
        headers = {"Host": "proxyd.example.com", "Authorization": f"Bearer {ADMIN_TOKEN}"}
        assert (await _get(url, headers))[0] == 200
        # With an admin token configured, a missing token is a 401 whatever the Host.
        assert (await _get(url, {"Host": "localhost"}))[0] == 401


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("localhost:3000", True),
        ("LocalHost:3000", True),
        ("localhost.", True),
        ("127.0.0.1", True),
        ("127.0.0.1:3000", True),
        ("127.8.9.10:80", True),
        ("[::1]", True),
        ("[::1]:3000", True),
        ("[::ffff:127.0.0.1]:3000", True),
        (None, False),
        ("", False),
        ("evil.example", False),
        ("evil.example:3000", False),
        ("localhost.evil.example", False),
        ("evil.localhost.example", False),
        ("127.0.0.1.nip.io", False),
        ("127.1", False),
        ("10.0.0.1:3000", False),
        ("[2001:db8::1]:3000", False),
        ("::1", False),
        ("[::1", False),
        ("[::1]x", False),
        ("localhost:x", False),
        ("[127.0.0.1]", False),
    ],
)
def test_is_loopback_host(host: str | None, expected: bool) -> None:
    assert is_loopback_host(host) is expected
