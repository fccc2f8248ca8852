"""Admin authentication: the admin token, login tokens, loopback-only mode, and secrets kept out of logs.

Authentication does not depend on the database: everything here runs on SQLite.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bench.fake_upstream import FakeUpstream
from proxyd.admin.auth import AdminAuth
from proxyd.admin.throttle import FailureThrottle
from proxyd.appkeys import STORE
from proxyd.config import Config
from proxyd.errors import Forbidden, TooManyRequests, Unauthorized
from proxyd.http.hosts import is_loopback
from proxyd.limits import LOGIN_TTL_SECONDS
from proxyd.sharedstate.memory import MemoryState
from tests.conftest import KNOWN_SECRETS, RunningProxy, run_proxy
from tests.manual_clock import ManualClock

ADMIN_TOKEN = "admin-token-0123456789abcdef"
PASSWORD = "correct horse battery staple"
KNOWN_SECRETS.update((ADMIN_TOKEN, PASSWORD))
GITHUB_KEY = "gho_" + "S" * 36
LOOPBACK_WARNING = "PROXYD_ADMIN_TOKEN is unset"

# Every admin route, with a body it would accept.
ADMIN_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/api-keys", {"name": "n", "key": "gho_unauthorized"}),
    ("GET", "/api-keys", None),
    ("PATCH", "/api-keys/some-id", {"name": "n"}),
    ("DELETE", "/api-keys/some-id", None),
    ("POST", "/api-keys/default", {"id": "some-id"}),
    ("POST", "/api-keys/some-id/refresh-meta", None),
    ("GET", "/api-keys/device-flow", None),
    ("GET", "/admin/stats", None),
    ("GET", "/admin/logs", None),
]


@pytest.fixture
def proxy_config(config: Config, sqlite_only: None) -> Config:
    return dataclasses.replace(
        config,
        admin_token=ADMIN_TOKEN,
        admin_user="root",
        admin_password=PASSWORD,
        usage_flush_interval=0.05,
        shutdown_timeout=2.0,
    )


async def send(
    http: aiohttp.ClientSession,
    proxy: RunningProxy,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with http.request(method, proxy.base_url + path, json=json, headers=headers) as response:
        if response.content_type == "text/event-stream":
            return response.status, None  # don't wait for a device flow to end
        body = await response.read()
        return response.status, orjson.loads(body) if body else None


def unauthorized(message: str) -> dict[str, Any]:
    return {"statusCode": 401, "message": message, "error": "Unauthorized"}


async def test_every_admin_route_needs_the_admin_token(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    missing = unauthorized("Admin token required: send 'Authorization: Bearer <token>'")
    for method, path, body in ADMIN_ROUTES:
        assert await send(http, proxy, method, path, json=body) == (401, missing), path
        assert await send(http, proxy, method, path, json=body, token="wrong") == (
            401,
            unauthorized("Invalid admin token"),
        ), path
        assert await send(http, proxy, method, path, json=body, headers={"Authorization": ADMIN_TOKEN}) == (
            401,
            unauthorized("Authorization must be 'Bearer <admin token>'"),
        ), path
    assert await proxy.store.find_all() == []  # nothing was written for a refused request
    assert proxy.upstream.state.requests == []  # nor was GitHub asked anything
    for method, path, body in ADMIN_ROUTES:
        status, _ = await send(http, proxy, method, path, json=body, token=ADMIN_TOKEN)
        assert status not in (401, 403), path


async def test_login(proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None) -> None:
    bad = unauthorized("Invalid username or password")
    assert await send(http, proxy, "POST", "/admin/login", json={"username": "root", "password": "nope"}) == (401, bad)
    assert await send(http, proxy, "POST", "/admin/login", json={"username": "admin", "password": PASSWORD}) == (
        401,
        bad,
    )
    status, body = await send(http, proxy, "POST", "/admin/login", json={"username": "", "password": 5})
    assert (status, body["message"]) == (
        400,
        [
            "username should not be empty",
            "password must be a string",
            "password must be shorter than or equal to 1024 characters",
        ],
    )

    status, body = await send(http, proxy, "POST", "/admin/login", json={"username": "root", "password": PASSWORD})
    assert status == 200
    assert body == {"access_token": body["access_token"], "token_type": "Bearer", "expires_in": 86400}
    token = body["access_token"]
    assert token.count(".") == 2
    assert (await send(http, proxy, "GET", "/api-keys", token=token))[0] == 200
    assert (await send(http, proxy, "GET", "/admin/stats", token=token))[0] == 200

    header, claims, signature = token.split(".")
    forged = f"{header}.{claims}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    assert await send(http, proxy, "GET", "/api-keys", token=forged) == (401, unauthorized("Invalid admin token"))


async def test_login_disabled_without_password(
    proxy_config: Config, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    async with run_proxy(dataclasses.replace(proxy_config, admin_password=None), upstream) as proxy:
        assert await send(http, proxy, "POST", "/admin/login", json={"username": "root", "password": "x"}) == (
            403,
            {"statusCode": 403, "message": "Login is disabled: PROXYD_ADMIN_PASSWORD is not set", "error": "Forbidden"},
        )


async def test_loopback_only_without_admin_token(
    proxy_config: Config, upstream: FakeUpstream, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    config = dataclasses.replace(proxy_config, admin_token=None, admin_password=None)
    async with run_proxy(config, upstream) as proxy:
        assert (await send(http, proxy, "GET", "/api-keys"))[0] == 200
        assert (await send(http, proxy, "GET", "/admin/stats"))[0] == 200
        # A relayed request is not trusted as local, whatever the relay's own address.
        assert await send(http, proxy, "GET", "/api-keys", headers={"X-Forwarded-For": "203.0.113.9"}) == (
            403,
            {
                "statusCode": 403,
                "message": "Admin routes answer loopback clients only while PROXYD_ADMIN_TOKEN is unset",
                "error": "Forbidden",
            },
        )
        assert (await send(http, proxy, "GET", "/api-keys", token="guess"))[0] == 401
    warnings = [r for r in caplog.records if LOOPBACK_WARNING in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


async def test_no_loopback_warning_with_admin_token(
    proxy_config: Config, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    async with run_proxy(proxy_config, upstream):
        pass
    assert not [r for r in caplog.records if LOOPBACK_WARNING in r.getMessage()]


async def test_no_secret_reaches_the_logs(
    proxy_config: Config, upstream: FakeUpstream, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    upstream.state.add_github_token(GITHUB_KEY)
    upstream.state.device_interval = 0
    upstream.state.device_flow_script = ["approve"]
    async with run_proxy(proxy_config, upstream) as proxy:
        await send(http, proxy, "POST", "/admin/login", json={"username": "root", "password": PASSWORD + "x"})
        _, login = await send(http, proxy, "POST", "/admin/login", json={"username": "root", "password": PASSWORD})
        await send(http, proxy, "GET", "/api-keys", token=ADMIN_TOKEN + "x")
        status, created = await send(
            http, proxy, "POST", "/api-keys", token=login["access_token"], json={"name": "k", "key": GITHUB_KEY}
        )
        assert status == 201
        upstream.state.fail_next(500, path="/copilot_internal/v2/token")
        assert (await send(http, proxy, "POST", f"/api-keys/{created['id']}/refresh-meta", token=ADMIN_TOKEN))[0] == 502
        async with http.get(
            f"{proxy.base_url}/api-keys/device-flow", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as stream:
            await stream.read()
        keys = await proxy.app[STORE].find_all()
    (device_key,) = [k for k in keys if k.id != created["id"]]
    secrets = [ADMIN_TOKEN, PASSWORD, login["access_token"], GITHUB_KEY, device_key.key]
    secrets += [k.meta.token for k in keys if k.meta is not None]
    # Ours and aiohttp's: at DEBUG, aiosqlite logs every SQL statement with its parameters.
    records = [r for r in caplog.records if r.name.split(".")[0] in ("proxyd", "aiohttp")]
    assert len(secrets) == 7 and records
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in records)
    for secret in secrets:
        assert secret not in text


# --------------------------------------------------------------------------- AdminAuth, without a server


def request_from(remote: str, headers: dict[str, str] | None = None) -> web.Request:
    request = make_mocked_request("GET", "/api/api-keys", headers={"Host": "localhost:3000", **(headers or {})})
    return request.clone(remote=remote)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_remote_clients_need_a_token_when_none_is_configured(config: Config, sqlite_only: None) -> None:
    auth = AdminAuth(config)
    for remote in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        await auth.authorize(request_from(remote))
    for remote in ("192.0.2.1", "10.0.0.1", "::ffff:192.0.2.1", "2001:db8::1", "not-an-address"):
        with pytest.raises(Forbidden):
            await auth.authorize(request_from(remote))
    assert is_loopback("127.0.0.1") and not is_loopback(None)


async def test_login_tokens(config: Config, sqlite_only: None) -> None:
    clock = ManualClock(1_753_546_461.0)
    password_only = dataclasses.replace(config, admin_password=PASSWORD)
    auth = AdminAuth(password_only, clock=clock)
    assert auth.loopback_only and auth.login_enabled
    assert auth.check_credentials("admin", PASSWORD) and not auth.check_credentials("admin", PASSWORD[:-1])
    token = auth.issue()["access_token"]

    await auth.authorize(request_from("192.0.2.1", bearer(token)))
    await auth.authorize(request_from("127.0.0.1"))  # loopback still needs nothing without an admin token
    with pytest.raises(Unauthorized):  # a password is set: remote clients are told to log in
        await auth.authorize(request_from("192.0.2.1"))

    # Another worker or a restart with the same configuration accepts the token...
    await AdminAuth(password_only, clock=clock).authorize(request_from("192.0.2.1", bearer(token)))
    # ...a changed password or admin token does not.
    for changed in (
        dataclasses.replace(password_only, admin_password=PASSWORD + "!"),
        dataclasses.replace(password_only, admin_token=ADMIN_TOKEN),
    ):
        with pytest.raises(Unauthorized):
            await AdminAuth(changed, clock=clock).authorize(request_from("127.0.0.1", bearer(token)))

    clock.now += LOGIN_TTL_SECONDS - 1
    await auth.authorize(request_from("192.0.2.1", bearer(token)))
    clock.now += 1
    with pytest.raises(Unauthorized):
        await auth.authorize(request_from("192.0.2.1", bearer(token)))


async def test_admin_token_alone_disables_login_and_loopback(config: Config, sqlite_only: None) -> None:
    auth = AdminAuth(dataclasses.replace(config, admin_token=ADMIN_TOKEN))
    assert not auth.loopback_only and not auth.login_enabled
    await auth.authorize(request_from("192.0.2.1", bearer(ADMIN_TOKEN)))
    for headers in ({}, bearer(ADMIN_TOKEN[:-1]), bearer(ADMIN_TOKEN + "é"), bearer("a.b.c")):
        with pytest.raises(Unauthorized):
            await auth.authorize(request_from("127.0.0.1", headers))


async def test_undecodable_authorization_header(proxy: RunningProxy, sqlite_only: None) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"GET /api/api-keys HTTP/1.1\r\nHost: proxyd\r\nAuthorization: Bearer \xff\xfe\x80\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == b"401"


async def test_failed_credentials_are_throttled_per_address(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    for _ in range(10):
        assert (await send(http, proxy, "GET", "/api-keys", token="guess"))[0] == 401
    status, body = await send(http, proxy, "GET", "/api-keys", token=ADMIN_TOKEN)
    assert status == 429 and body["statusCode"] == 429  # even the right token, for a while
    status, _ = await send(http, proxy, "POST", "/admin/login", json={"username": "root", "password": PASSWORD})
    assert status == 429


async def test_throttle_forgets_after_its_window() -> None:
    now = [0.0]
    throttle = FailureThrottle(MemoryState(clock=lambda: now[0]), limit=2, window=60)
    await throttle.failed("10.0.0.1")
    await throttle.failed("10.0.0.1")
    with pytest.raises(TooManyRequests):
        await throttle.check("10.0.0.1")
    await throttle.check("10.0.0.2")  # other addresses are unaffected
    now[0] = 61.0
    await throttle.check("10.0.0.1")
