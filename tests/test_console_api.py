"""The admin console's server side: sessions, where requests come from, security headers, the usage numbers.

What touches the database (sessions, ``/admin/usage``, the request-log filters) runs on every dialect;
the rest on SQLite. tests/test_console_browser.py drives the same console in a real Chromium.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from importlib.resources import files
from typing import Any

import aiohttp
import pytest

from bench.fake_upstream import FakeUpstream
from proxyd.admin.routes_console import ASSETS, CONTENT_SECURITY_POLICY
from proxyd.admin.sessions import SessionStore
from proxyd.appkeys import CLIENT_KEYS, DATABASE
from proxyd.clock import epoch_ms
from proxyd.config import Config
from proxyd.db import Database
from proxyd.limits import CONSOLE_SESSION_TTL_SECONDS, FAILED_CREDENTIALS_LIMIT
from tests.conftest import KNOWN_SECRETS, RunningProxy, run_proxy
from tests.manual_clock import ManualClock

ADMIN_TOKEN = "console-api-admin-token-0123456789"
PASSWORD = "console password ☃"
KNOWN_SECRETS.update((ADMIN_TOKEN, PASSWORD))
ALICE = "gho_" + "c" * 36
BOB = "gho_" + "d" * 36
DAY = 86_400_000


@pytest.fixture
def proxy_config(config: Config) -> Config:
    return dataclasses.replace(
        config,
        admin_token=ADMIN_TOKEN,
        admin_loopback=False,
        admin_user="root",
        admin_password=PASSWORD,
        usage_flush_interval=0.05,
        shutdown_timeout=2.0,
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # No cookie jar: every test says which cookie it sends.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json: Any = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
    token: str | None = None,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with http.request(method, url, json=json, data=data, headers=headers, allow_redirects=False) as response:
        body = await response.read()
        parsed = body.decode() if response.content_type != "application/json" else (await response.json())
        return response.status, parsed, response


async def sign_in(http: aiohttp.ClientSession, proxy: RunningProxy, **fields: str) -> tuple[str, list[str]]:
    """Sign in with a form, as the console does: the session secret and the Set-Cookie headers."""
    status, body, response = await call(
        http, "POST", f"{proxy.url}/admin/login", data=fields or {"token": ADMIN_TOKEN}, headers=SAME_ORIGIN
    )
    assert status == 200, body
    cookies = response.headers.getall("Set-Cookie")
    secret = SimpleCookie(cookies[0])["proxyd_console"].value
    KNOWN_SECRETS.add(secret)
    return secret, cookies


SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def with_cookie(secret: str, **headers: str) -> dict[str, str]:
    return {"Cookie": f"proxyd_console={secret}", **headers}


# --------------------------------------------------------------------------- sessions


async def test_session_cookie_and_where_requests_come_from(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    secret, cookies = await sign_in(http, proxy)
    paths = []
    for header in cookies:
        attributes = [part.strip() for part in header.split(";")]
        assert attributes[0] == f"proxyd_console={secret}"
        assert {"HttpOnly", "SameSite=Strict", f"Max-Age={CONSOLE_SESSION_TTL_SECONDS}"} <= set(attributes)
        assert "Secure" not in attributes  # plain HTTP here
        paths += [a.removeprefix("Path=") for a in attributes if a.startswith("Path=")]
    assert sorted(paths) == ["/admin", "/api/admin", "/api/api-keys", "/api/client-keys"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)

    keys = f"{proxy.base_url}/client-keys"
    # Reads need no proof of origin (SameSite=Strict keeps other sites' navigations out) ...
    assert (await call(http, "GET", keys, headers=with_cookie(secret)))[0] == 200
    # ... changes do: Sec-Fetch-Site same-origin, or this server's Origin.
    body = {"name": "from the console"}
    for refused in (
        {},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": proxy.url.replace("127.0.0.1", "localhost")},
        {"Origin": "https://" + proxy.url.removeprefix("http://")},
        {"Sec-Fetch-Site": "cross-site", "Origin": proxy.url},
    ):
        status, answer, _ = await call(http, "POST", keys, json=body, headers=with_cookie(secret, **refused))
        assert (status, answer["message"]) == (
            403,
            "A request with the console's session must come from the console's own origin",
        ), refused
    assert (await call(http, "GET", keys, headers=with_cookie(secret, **{"Sec-Fetch-Site": "cross-site"})))[0] == 403
    for allowed in (SAME_ORIGIN, {"Origin": proxy.url}, {"Origin": proxy.url.upper().replace("HTTP", "http")}):
        status, created, _ = await call(http, "POST", keys, json=body, headers=with_cookie(secret, **allowed))
        assert status == 201, created
        KNOWN_SECRETS.add(created["key"])
    # The bearer token needs no such proof (curl sends none): the cookie is what a browser sends by itself.
    assert (await call(http, "POST", keys, json=body, token=ADMIN_TOKEN))[0] == 201

    # A session works on every admin path the cookie goes to; its subject shows who signed in.
    for path in ("/api-keys", "/admin/stats", "/admin/logs", "/admin/usage"):
        assert (await call(http, "GET", proxy.base_url + path, headers=with_cookie(secret)))[0] == 200, path
    status, info, _ = await call(http, "GET", f"{proxy.url}/admin/session", headers=with_cookie(secret))
    assert info["signedIn"] and info["subject"] == "token" and info["apiPrefix"] == "/api"
    assert info["tokenLogin"] and info["passwordLogin"] and not info["loopback"]

    # Sign-out from another site is refused; from the console it ends the session.
    assert (await call(http, "POST", f"{proxy.url}/admin/logout", headers=with_cookie(secret, Origin="http://x")))[
        0
    ] == 403
    status, answer, response = await call(
        http, "POST", f"{proxy.url}/admin/logout", headers=with_cookie(secret, **SAME_ORIGIN)
    )
    assert (status, answer) == (200, {"signedIn": False})
    cleared = response.headers.getall("Set-Cookie")
    assert len(cleared) == 4 and all("proxyd_console=;" in c and "Max-Age=0" in c for c in cleared)
    status, answer, _ = await call(http, "GET", keys, headers=with_cookie(secret))
    assert (status, answer["message"]) == (401, "The console session has expired or was ended: sign in again")
    status, info, _ = await call(http, "GET", f"{proxy.url}/admin/session", headers=with_cookie(secret))
    assert not info["signedIn"]


async def test_sign_in_ways_and_failures(proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None) -> None:
    login = f"{proxy.url}/admin/login"
    # JSON works as well as the form; so do the admin user and password.
    status, answer, response = await call(http, "POST", login, json={"token": ADMIN_TOKEN})
    assert status == 200 and answer["signedIn"] and answer["subject"] == "token"
    assert answer["expiresAt"] > epoch_ms(datetime.now(UTC))
    secret, _ = await sign_in(http, proxy, username="root", password=PASSWORD)
    status, info, _ = await call(http, "GET", f"{proxy.url}/admin/session", headers=with_cookie(secret))
    assert info["subject"] == "user:root"
    # The same route under the API prefix keeps its old answer: a bearer token for curl.
    status, answer, _ = await call(
        http, "POST", f"{proxy.base_url}/admin/login", json={"username": "root", "password": PASSWORD}
    )
    assert status == 200 and answer["token_type"] == "Bearer"

    cases: list[tuple[dict[str, str], int, str]] = [
        ({"token": "wrong"}, 401, "Invalid admin token"),
        ({"username": "root", "password": "wrong"}, 401, "Invalid username or password"),
        ({}, 400, "Send the admin token (token), or the admin user and password (username, password)"),
    ]
    for fields, expected, message in cases:
        status, answer, response = await call(http, "POST", login, data=fields)
        assert (status, answer["message"]) == (expected, message)
        assert "Set-Cookie" not in response.headers
    status, answer, _ = await call(
        http, "POST", login, data="token=a&token", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 400
    status, answer, _ = await call(http, "POST", login, data=b"<token/>", headers={"Content-Type": "text/xml"})
    assert status == 400
    # Another site cannot sign the browser in (login CSRF).
    status, answer, _ = await call(http, "POST", login, data={"token": ADMIN_TOKEN}, headers={"Origin": "http://x"})
    assert status == 403

    # A plain form post (no script) lands back on the console.
    navigate = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}
    status, _, response = await call(http, "POST", login, data={"token": ADMIN_TOKEN}, headers=navigate)
    assert (status, response.headers["Location"]) == (303, "../admin")
    assert len(response.headers.getall("Set-Cookie")) == 4
    status, _, response = await call(http, "POST", login, data={"token": "nope"}, headers=navigate)
    assert (status, response.headers["Location"]) == (303, "../admin#signin-failed")


async def test_the_failed_credential_throttle_applies_to_sign_in(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    login = f"{proxy.url}/admin/login"
    for _ in range(FAILED_CREDENTIALS_LIMIT):
        assert (await call(http, "POST", login, data={"token": "guess"}))[0] == 401
    status, _, response = await call(http, "POST", login, data={"token": ADMIN_TOKEN})
    assert status == 429 and int(response.headers["Retry-After"]) > 0
    assert "Set-Cookie" not in response.headers
    # The same address is locked out of the bearer route too: one throttle for every credential.
    assert (await call(http, "GET", f"{proxy.base_url}/api-keys", token=ADMIN_TOKEN))[0] == 429


async def test_a_session_is_honoured_and_ended_on_every_instance(
    proxy_config: Config, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    """Sessions live in the database: what one instance starts, another honours; sign-out ends it on both."""
    async with run_proxy(proxy_config, upstream) as first, run_proxy(proxy_config, upstream) as second:
        secret, _ = await sign_in(http, first)
        for instance in (first, second):
            assert (await call(http, "GET", f"{instance.base_url}/api-keys", headers=with_cookie(secret)))[0] == 200
        await call(http, "POST", f"{second.url}/admin/logout", headers=with_cookie(secret, **SAME_ORIGIN))
        for instance in (first, second):
            assert (await call(http, "GET", f"{instance.base_url}/api-keys", headers=with_cookie(secret)))[0] == 401


async def test_session_store_expiry_revocation_and_keys(database: Database) -> None:
    clock = ManualClock(1_800_000_000.0)
    store = SessionStore(database, b"k" * 32, ttl=60, clock=clock)
    secret, session = await store.create("token")
    assert session.expires_at == 1_800_000_060_000
    assert await store.find(secret) == session
    assert await store.find(secret + "x") is None
    # Another key (the admin token or password changed) finds nothing: its sessions are over.
    assert await SessionStore(database, b"j" * 32, ttl=60, clock=clock).find(secret) is None
    clock.advance(60)
    assert await store.find(secret) is None  # expired
    later, _ = await store.create("user:root")  # signing in prunes expired rows
    row = await database.fetch_one(database.queries["find_admin_session"], {"id_hash": store._hash(secret), "now": 0})
    assert row is None
    await store.revoke(later)
    assert await store.find(later) is None
    # Only a keyed hash is stored, never the secret.
    assert store._hash(later) != later and len(store._hash(later)) == 64


# --------------------------------------------------------------------------- behind a reverse proxy


@pytest.mark.parametrize("trusted", [True, False])
async def test_secure_cookie_and_origin_behind_a_trusted_proxy(
    proxy_config: Config, upstream: FakeUpstream, http: aiohttp.ClientSession, trusted: bool, sqlite_only: None
) -> None:
    networks = (ipaddress.ip_network("127.0.0.0/8"),) if trusted else ()
    config = dataclasses.replace(proxy_config, trusted_proxies=networks)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "proxyd.example.com"}
    async with run_proxy(config, upstream) as proxy:
        status, _, response = await call(
            http, "POST", f"{proxy.url}/admin/login", data={"token": ADMIN_TOKEN}, headers=forwarded
        )
        assert status == 200
        cookies = response.headers.getall("Set-Cookie")
        assert all(("; Secure" in c) is trusted for c in cookies)
        secret = SimpleCookie(cookies[0])["proxyd_console"].value
        # Without Sec-Fetch-Site, the Origin must be the one the browser saw: the proxy's, when it is trusted.
        headers = with_cookie(secret, Origin="https://proxyd.example.com", **forwarded)
        status, answer, _ = await call(
            http, "POST", f"{proxy.base_url}/client-keys", json={"name": "n"}, headers=headers
        )
        assert status == (201 if trusted else 403), answer
        if trusted:
            KNOWN_SECRETS.add(answer["key"])


# --------------------------------------------------------------------------- other set-ups


async def test_an_empty_api_prefix_shares_the_login_path(
    proxy_config: Config, upstream: FakeUpstream, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    """With PROXYD_API_PREFIX=/ the admin API's login is /admin/login too: JSON credentials keep its answer."""
    async with run_proxy(dataclasses.replace(proxy_config, api_prefix=""), upstream) as proxy:
        status, answer, response = await call(
            http, "POST", f"{proxy.url}/admin/login", json={"username": "root", "password": PASSWORD}
        )
        assert status == 200 and answer["token_type"] == "Bearer" and "Set-Cookie" not in response.headers
        secret, cookies = await sign_in(http, proxy, username="root", password=PASSWORD)
        assert sorted(SimpleCookie(c)["proxyd_console"]["path"] for c in cookies) == [
            "/admin",
            "/api-keys",
            "/client-keys",
        ]
        assert (await call(http, "GET", f"{proxy.url}/admin/stats", headers=with_cookie(secret)))[0] == 200
        assert (await call(http, "GET", f"{proxy.url}/api-keys", headers=with_cookie(secret)))[0] == 200
        status, page, _ = await call(http, "GET", f"{proxy.url}/admin")
        assert status == 200 and "admin/assets/console.js" in page
        status, info, _ = await call(http, "GET", f"{proxy.url}/admin/session")
        assert info["apiPrefix"] == "" and not info["signedIn"]


async def test_loopback_mode_console_and_other_sites(
    config: Config, upstream: FakeUpstream, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    """PROXYD_ADMIN_LOOPBACK=1 without a token: the console needs no sign-in from loopback, other sites get 403."""
    async with run_proxy(dataclasses.replace(config, admin_loopback=True), upstream) as proxy:
        status, info, _ = await call(http, "GET", f"{proxy.url}/admin/session", headers=SAME_ORIGIN)
        assert info["signedIn"] and info["loopback"] and not info["tokenLogin"] and not info["passwordLogin"]
        keys = f"{proxy.base_url}/client-keys"
        assert (await call(http, "GET", keys))[0] == 200  # curl, as before
        for other_site in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "http://x"}):
            status, answer, _ = await call(http, "POST", keys, json={"name": "n"}, headers=other_site)
            assert (status, answer["message"]) == (403, "Admin routes refuse requests from other sites")
        status, answer, _ = await call(http, "POST", f"{proxy.url}/admin/login", data={"token": "anything"})
        assert (status, answer["message"]) == (
            403,
            "There is no admin token to sign in with (PROXYD_ADMIN_LOOPBACK=1)",
        )
        assert await proxy.app[CLIENT_KEYS].find_all() == []


# --------------------------------------------------------------------------- headers and assets


async def test_security_headers_on_every_console_answer(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "'unsafe-eval'" not in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "script-src 'self';" in CONTENT_SECURITY_POLICY
    answers = {
        "/admin": 200,
        "/admin/assets/console.js": 200,
        "/admin/assets/console.css": 200,
        "/admin/assets/index.html": 404,
        "/admin/assets/nothing.js": 404,
        "/admin/nothing-here": 404,
        "/admin/": 308,
        "/admin/session": 200,
        "/api/admin/stats": 401,
        "/api/client-keys": 401,
    }
    for path, expected in answers.items():
        status, _, response = await call(http, "GET", proxy.url + path)
        assert status == expected, path
        headers = response.headers
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "no-referrer", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert "Cache-Control" in headers, path
    status, _, response = await call(http, "GET", f"{proxy.url}/admin/assets/console.js")
    assert response.content_type == "text/javascript" and response.headers["Cache-Control"] == "no-cache"
    status, _, response = await call(http, "GET", f"{proxy.url}/admin")
    assert response.content_type == "text/html" and response.headers["Cache-Control"] == "no-store"
    status, _, response = await call(http, "POST", f"{proxy.url}/admin/login", data={"token": "x"})
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_the_console_is_small_self_contained_and_has_no_inline_script() -> None:
    folder = files("proxyd.console").joinpath("static")
    names = sorted(entry.name for entry in folder.iterdir() if entry.is_file())
    assert names == ["console.css", "console.js", "favicon.svg", "index.html"]
    assert sorted(ASSETS) == names
    assert sum(len(body) for body, _ in ASSETS.values()) < 300 * 1024
    html = ASSETS["index.html"][0].decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert re.search(r'\bsrc="admin/assets/[a-z]+\.js"', tag), tag  # no inline script
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html)
    assert not re.search(r"\son[a-z]+=", html) and "style=" not in html and "<style" not in html
    script = ASSETS["console.js"][0].decode()
    for forbidden in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "localStorage",
        "sessionStorage",
    ):
        assert forbidden not in script, forbidden
    # Nothing is fetched from elsewhere: every reference is relative to the page.
    for text in (html, ASSETS["console.css"][0].decode()):
        assert not re.search(r"(src|href)=\"(https?:)?//", text)
        assert "@import" not in text and "url(" not in text


# --------------------------------------------------------------------------- the numbers


async def insert_log(database: Database, time: int, **fields: Any) -> None:
    row = {
        "time": time,
        "api_key_id": None,
        "client_key_id": None,
        "endpoint": "/chat/completions",
        "model": "gpt-4o",
        "status": 200,
        "duration_ms": 10,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        **fields,
    }
    await database.execute_many(database.queries["insert_request_log"], [row])


@pytest.fixture
async def logged(proxy: RunningProxy, http: aiohttp.ClientSession) -> dict[str, Any]:
    """Request-log rows over the last 40 days: today, yesterday, ten days ago, forty days ago."""
    upstream = proxy.upstream.state
    upstream.add_github_token(ALICE, login="alice")
    upstream.add_github_token(BOB, login="bob")
    alice = (
        await call(http, "POST", f"{proxy.base_url}/api-keys", json={"name": "alice", "key": ALICE}, token=ADMIN_TOKEN)
    )[1]
    bob = (
        await call(http, "POST", f"{proxy.base_url}/api-keys", json={"name": "bob ☃", "key": BOB}, token=ADMIN_TOKEN)
    )[1]
    team = (await call(http, "POST", f"{proxy.base_url}/client-keys", json={"name": "team"}, token=ADMIN_TOKEN))[1]
    KNOWN_SECRETS.add(team["key"])
    now = datetime.now(UTC)
    today = epoch_ms(now.replace(hour=0, minute=0, second=0, microsecond=0))
    this_hour = epoch_ms(now.replace(minute=0, second=0, microsecond=0))
    database = proxy.app[DATABASE]
    rows = [
        (this_hour + 1, {"api_key_id": alice["id"], "client_key_id": team["id"]}),
        (
            this_hour + 2,
            {
                "api_key_id": alice["id"],
                "client_key_id": team["id"],
                "model": "gpt-4.1",
                "status": 429,
                "prompt_tokens": None,
                "completion_tokens": None,
                "total_tokens": None,
            },
        ),
        (this_hour - 3_600_000 + 5, {"api_key_id": bob["id"], "model": "gpt-4.1", "total_tokens": None}),
        (today - DAY + 7, {"api_key_id": bob["id"], "client_key_id": team["id"], "status": 500}),
        (today - 10 * DAY, {"api_key_id": "deleted-account", "client_key_id": "revoked-key", "model": None}),
        (today - 40 * DAY, {"api_key_id": alice["id"]}),
    ]
    for time, fields in rows:
        await insert_log(database, time, **fields)
    return {"alice": alice["id"], "bob": bob["id"], "team": team["id"], "today": today, "hour": this_hour}


async def usage(http: aiohttp.ClientSession, proxy: RunningProxy, query: str) -> dict[str, Any]:
    status, body, _ = await call(http, "GET", f"{proxy.base_url}/admin/usage?{query}", token=ADMIN_TOKEN)
    assert status == 200, body
    assert isinstance(body, dict)
    return body


async def test_usage_per_day_and_hour_by_key_model_and_account(
    proxy: RunningProxy, http: aiohttp.ClientSession, logged: dict[str, Any]
) -> None:
    by_key = await usage(http, proxy, "by=clientKey")
    assert (by_key["bucket"], by_key["by"], len(by_key["buckets"])) == ("day", "clientKey", 30)
    today = datetime.fromtimestamp(logged["today"] / 1000, UTC)
    assert by_key["buckets"][-1] == today.strftime("%Y-%m-%dT00:00:00.000Z")
    assert by_key["buckets"][0] == (today - timedelta(days=29)).strftime("%Y-%m-%dT00:00:00.000Z")
    assert by_key["to"] == (today + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00.000Z")
    series = {entry["id"]: entry for entry in by_key["series"]}
    assert [entry["id"] for entry in by_key["series"]] == [logged["team"], None, "revoked-key"]  # most requests first
    team = series[logged["team"]]
    assert team["name"] == "team"
    assert (team["requests"][-1], team["requests"][-2], team["totalRequests"]) == (2, 1, 3)
    assert (team["errors"][-1], team["errors"][-2]) == (1, 1)
    assert (team["tokens"][-1], team["promptTokens"][-1], team["completionTokens"][-1]) == (15, 10, 5)
    assert series[None]["name"] is None and series[None]["totalTokens"] == 15  # no total: prompt + completion
    assert series["revoked-key"] == {**series["revoked-key"], "name": None, "totalRequests": 1}
    assert series["revoked-key"]["requests"][-11] == 1
    totals = by_key["totals"]
    assert (totals["totalRequests"], totals["totalErrors"], totals["totalTokens"]) == (5, 2, 60)
    assert totals["requests"][-1] == 3

    # The totals match /api/admin/stats over the same rows (the row forty days old is outside the 30 days).
    status, stats, _ = await call(http, "GET", f"{proxy.base_url}/admin/stats", token=ADMIN_TOKEN)
    assert stats["totalRequests"] == totals["totalRequests"] + 1
    assert stats["requestsToday"] == totals["requests"][-1]

    by_model = await usage(http, proxy, "by=model&days=60")
    assert len(by_model["buckets"]) == 60
    models = {entry["id"]: entry for entry in by_model["series"]}
    assert models["gpt-4o"]["name"] == "gpt-4o" and models["gpt-4o"]["totalRequests"] == 3
    assert models["gpt-4.1"]["totalRequests"] == 2 and models[None]["totalRequests"] == 1
    assert by_model["totals"]["totalRequests"] == stats["totalRequests"]

    by_account = await usage(http, proxy, "by=account&bucket=hour")
    assert (by_account["bucket"], len(by_account["buckets"])) == ("hour", 48)
    accounts = {entry["id"]: entry for entry in by_account["series"]}
    assert accounts[logged["alice"]]["requests"][-1] == 2
    assert accounts[logged["bob"]]["requests"][-2] == 1 and accounts[logged["bob"]]["name"] == "bob ☃"
    assert accounts[logged["bob"]]["totalRequests"] == 2  # yesterday's request is within the 48 hours
    assert by_account["totals"]["totalRequests"] == 4

    for query, message in (
        ("by=nobody", "by must be one of clientKey, model, account"),
        ("bucket=week", "bucket must be one of day, hour"),
        ("days=0", "days must not be less than 1"),
        ("days=367", "days must not be greater than 366"),
        ("bucket=hour&hours=745", "hours must not be greater than 744"),
    ):
        status, body, _ = await call(http, "GET", f"{proxy.base_url}/admin/usage?{query}", token=ADMIN_TOKEN)
        assert (status, body["message"]) == (400, [message]), query


async def test_request_log_filters(proxy: RunningProxy, http: aiohttp.ClientSession, logged: dict[str, Any]) -> None:
    async def logs(query: str) -> dict[str, Any]:
        status, body, _ = await call(http, "GET", f"{proxy.base_url}/admin/logs?{query}", token=ADMIN_TOKEN)
        assert status == 200, body
        assert isinstance(body, dict)
        return body

    assert (await logs(""))["total"] == 6
    team = await logs(f"clientKeyId={logged['team']}")
    assert team["total"] == 3 and {row["clientKeyName"] for row in team["logs"]} == {"team"}
    assert (await logs(f"apiKeyId={logged['bob']}"))["total"] == 2
    assert (await logs("model=gpt-4.1"))["total"] == 2
    assert (await logs("status=429"))["total"] == 1
    assert (await logs("status=5xx"))["logs"][0]["status"] == 500
    assert (await logs("status=4XX"))["total"] == 1
    assert (await logs("status=2xx"))["total"] == 4
    both = await logs(f"clientKeyId={logged['team']}&model=gpt-4o&status=2xx&limit=1")
    assert (both["total"], len(both["logs"]), both["limit"]) == (1, 1, 1)
    paged = await logs("limit=4&page=2")
    assert (paged["total"], len(paged["logs"])) == (6, 2)
    assert (await logs("model=nothing"))["logs"] == []
    for query in ("status=600", "status=abc", "status=4x", "model=" + "m" * 256, "clientKeyId=%00"):
        assert (await call(http, "GET", f"{proxy.base_url}/admin/logs?{query}", token=ADMIN_TOKEN))[0] == 400, query
