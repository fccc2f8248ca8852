"""Client keys end to end, on every database: admin routes, the official openai client, limits, expiry,
the account pool failing over, the secret never stored, PROXYD_CLIENT_KEYS_ONLY."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from bench.fake_upstream import FakeUpstream
from proxyd import cli
from proxyd.appkeys import CLIENT_KEY_RESOLVER, CLIENT_KEYS, DATABASE, USAGE
from proxyd.clock import now_ms
from proxyd.config import Config
from proxyd.errors import DatabaseError
from proxyd.keys.client_keys import ClientKeySettings, ClientKeyStore, secret_hash
from proxyd.keys.store import KeyStore
from tests.conftest import KNOWN_SECRETS, RunningProxy, migrator, run_proxy

ALICE = "gho_clientkeysalice000000000000000000001"
BOB = "gho_clientkeysbob00000000000000000000002"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
CHAT_PATH = "/chat/completions"


async def call(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any, Any]:
    async with http.request(method, url, **kwargs) as response:
        body = await response.read()
        return response.status, orjson.loads(body) if body else None, response.headers


async def add_account(proxy: RunningProxy, http: aiohttp.ClientSession, name: str, token: str) -> str:
    proxy.upstream.state.add_github_token(token, login=name)
    status, created, _ = await call(http, "POST", f"{proxy.base_url}/api-keys", json={"name": name, "key": token})
    assert status == 201, created
    return str(created["id"])


async def new_client_key(proxy: RunningProxy, http: aiohttp.ClientSession, **fields: Any) -> dict[str, Any]:
    status, created, _ = await call(http, "POST", f"{proxy.base_url}/client-keys", json={"name": "team", **fields})
    assert status == 201, created
    KNOWN_SECRETS.add(created["key"])  # the suite fails if any log line shows it
    return dict(created)


def openai_client(proxy: RunningProxy, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=key, max_retries=0, timeout=10)


async def chat(http: aiohttp.ClientSession, proxy: RunningProxy, key: str, **extra: Any) -> tuple[int, Any, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    return await call(http, "POST", f"{proxy.url}/v1/chat/completions", json={**CHAT, **extra}, headers=headers)


# --------------------------------------------------------------------------- admin routes


async def test_create_list_get_patch_delete(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    alice = await add_account(proxy, http, "alice", ALICE)
    created = await new_client_key(
        proxy, http, models=["gpt-4o"], rpm=10, monthlyRequests=100, expiresAt="2999-01-01T00:00:00Z", accounts=[alice]
    )
    secret = created.pop("key")
    assert secret.startswith("pxd_") and len(secret) >= 4 + 32
    assert created["prefix"] == secret[:10]
    assert created["models"] == ["gpt-4o"] and created["rpm"] == 10 and created["monthlyRequests"] == 100
    assert created["expiresAt"] == "2999-01-01T00:00:00.000Z" and created["accounts"] == [alice]
    assert (created["usageCount"], created["requestsThisMonth"], created["lastUsed"]) == (0, 0, None)
    # "Newest first" orders by creation time, to the millisecond: the second key must come a millisecond later.
    await asyncio.sleep(max(0, created["createdAt"] + 2 - now_ms()) / 1000)
    second = await new_client_key(proxy, http, name="second")
    base = f"{proxy.base_url}/client-keys"
    status, listed, _ = await call(http, "GET", base)
    assert status == 200 and [k["id"] for k in listed] == [second["id"], created["id"]]  # newest first
    assert all("key" not in k for k in listed)
    status, shown, _ = await call(http, "GET", f"{base}/{created['id']}")
    assert (status, shown) == (200, created)
    status, patched, _ = await call(http, "PATCH", f"{base}/{created['id']}", json={"rpm": None, "name": "renamed"})
    assert status == 200 and patched["rpm"] is None and patched["name"] == "renamed" and patched["models"] == ["gpt-4o"]
    status, _, _ = await call(http, "DELETE", f"{base}/{created['id']}")
    assert status == 200
    status, missing, _ = await call(http, "GET", f"{base}/{created['id']}")
    assert status == 404 and missing["message"] == "Client key not found"


async def test_validation_lists_every_problem_and_changes_nothing(
    proxy: RunningProxy, http: aiohttp.ClientSession
) -> None:
    base = f"{proxy.base_url}/client-keys"
    bad = {
        "name": "",
        "rpm": 0,
        "monthlyRequests": "5",
        "models": "gpt-4o",
        "expiresAt": "2001-01-01",
        "accounts": ["nope"],
        "extra": 1,
    }
    status, body, _ = await call(http, "POST", base, json=bad)
    assert status == 400
    messages = body["message"]
    assert "property extra should not exist" in messages
    assert "name should not be empty" in messages
    assert any(m.startswith("rpm must be") for m in messages)
    assert any(m.startswith("monthlyRequests must be") for m in messages)
    assert any(m.startswith("models must be") for m in messages)
    assert any(m.startswith("expiresAt must be") for m in messages)
    assert "accounts: no API key has the id 'nope'" in messages
    assert (await call(http, "GET", base))[1] == []
    created = await new_client_key(proxy, http, rpm=5)
    status, body, _ = await call(http, "PATCH", f"{base}/{created['id']}", json={"rpm": -1, "name": "x"})
    assert status == 400
    status, body, _ = await call(http, "PATCH", f"{base}/{created['id']}", json={"models": [], "accounts": []})
    assert status == 400 and len(body["message"]) == 2  # null means "all"; an empty list is a mistake
    status, shown, _ = await call(http, "GET", f"{base}/{created['id']}")
    assert shown["rpm"] == 5 and shown["name"] == "team"


async def test_a_bare_expiry_date_is_the_end_of_that_day(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    created = await new_client_key(proxy, http, expiresAt="2999-12-31")
    assert created["expiresAt"] == "2999-12-31T23:59:59.999Z"
    created = await new_client_key(proxy, http, name="timed", expiresAt="2999-12-31T08:00:00+02:00")
    assert created["expiresAt"] == "2999-12-31T06:00:00.000Z"  # a date-time is taken as written


# --------------------------------------------------------------------------- the proxy routes


async def test_openai_client_with_a_client_key_is_logged_by_key(
    proxy: RunningProxy, http: aiohttp.ClientSession
) -> None:
    alice = await add_account(proxy, http, "alice", ALICE)
    created = await new_client_key(proxy, http)
    ai = openai_client(proxy, created["key"])
    try:
        answer = await ai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content
        assert [m.id async for m in ai.models.list()]
    finally:
        await ai.close()
    # x-api-key works too
    status, _, _ = await call(
        http, "POST", f"{proxy.url}/v1/chat/completions", json=CHAT, headers={"x-api-key": created["key"]}
    )
    assert status == 200
    assert await proxy.app[USAGE].flush()
    status, logs, _ = await call(http, "GET", f"{proxy.base_url}/admin/logs")
    assert {(e["clientKeyId"], e["clientKeyName"], e["apiKeyId"]) for e in logs["logs"]} == {
        (created["id"], "team", alice)
    }
    status, stats, _ = await call(http, "GET", f"{proxy.base_url}/admin/stats", params={"clientKeyId": created["id"]})
    assert stats["totalRequests"] == 3
    status, stats, _ = await call(http, "GET", f"{proxy.base_url}/admin/stats", params={"clientKeyId": "other"})
    assert stats["totalRequests"] == 0
    status, shown, _ = await call(http, "GET", f"{proxy.base_url}/client-keys/{created['id']}")
    assert shown["usageCount"] == 3 and shown["requestsThisMonth"] == 3 and shown["lastUsed"] is not None


async def test_unknown_deleted_and_expired_keys_get_401(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    await add_account(proxy, http, "alice", ALICE)
    created = await new_client_key(proxy, http)
    status, body, _ = await chat(http, proxy, "pxd_" + "x" * 43)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    assert (await chat(http, proxy, created["key"]))[0] == 200
    # Expired: set in the past behind the admin routes' back (they refuse a past expiry).
    store = proxy.app[CLIENT_KEYS]
    current = await store.get(created["id"])
    await store.update(created["id"], dataclasses.replace(current.settings, expires_at=1000))
    proxy.app[CLIENT_KEY_RESOLVER].invalidate()
    status, body, _ = await chat(http, proxy, created["key"])
    assert status == 401 and "expired" in body["error"]["message"]
    await call(http, "DELETE", f"{proxy.base_url}/client-keys/{created['id']}")
    status, body, _ = await call(
        http, "GET", f"{proxy.base_url}/models", headers={"Authorization": f"Bearer {created['key']}"}
    )
    assert status == 401 and body["statusCode"] == 401  # the NestJS shape under /api


async def test_limits_models_rpm_and_month(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    await add_account(proxy, http, "alice", ALICE)
    limited = await new_client_key(proxy, http, models=["gpt-4o"], rpm=2)
    status, body, _ = await chat(http, proxy, limited["key"], model="o3")
    assert status == 403 and "o3" in body["error"]["message"]
    assert (await chat(http, proxy, limited["key"]))[0] == 200
    assert (await chat(http, proxy, limited["key"]))[0] == 200
    status, body, headers = await chat(http, proxy, limited["key"])
    assert status == 429 and body["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(headers["Retry-After"]) <= 60
    monthly = await new_client_key(proxy, http, name="monthly", monthlyRequests=1)
    assert (await chat(http, proxy, monthly["key"]))[0] == 200
    status, body, headers = await chat(http, proxy, monthly["key"])
    assert status == 429 and "month" in body["error"]["message"] and int(headers["Retry-After"]) >= 1
    assert len(proxy.upstream.state.requests_to(CHAT_PATH)) == 3  # refused requests never reached Copilot


async def test_the_secret_is_in_no_table(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    await add_account(proxy, http, "alice", ALICE)
    created = await new_client_key(proxy, http)
    assert (await chat(http, proxy, created["key"]))[0] == 200
    assert await proxy.app[USAGE].flush()
    database = proxy.app[DATABASE]
    dump = ""
    for table in ("api_keys", "copilot_meta", "request_log", "client_keys", "usage_batches", "legacy_import"):
        rows = await database.fetch_all(_select_all(table))
        dump += repr(rows)
    assert created["key"] not in dump and created["key"][10:] not in dump
    assert secret_hash(created["key"]) in dump  # the check would see it: the table was read


def _select_all(table: str) -> Any:
    from proxyd.db.queries import compile_query

    return compile_query(table, f"SELECT * FROM {table}", "named")  # no parameters: any style


# --------------------------------------------------------------------------- account pool


async def test_failover_when_one_account_is_rate_limited(
    proxy: RunningProxy, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await add_account(proxy, http, "alice", ALICE)
    bob = await add_account(proxy, http, "bob", BOB)
    created = await new_client_key(proxy, http, accounts=[alice, bob])
    proxy.upstream.state.fail_next(429, headers={"retry-after": "120"}, path=CHAT_PATH)
    ai = openai_client(proxy, created["key"])
    try:
        answer = await ai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    finally:
        await ai.close()
    assert answer.choices[0].message.content
    seen = proxy.upstream.state.requests_to(CHAT_PATH)
    assert len(seen) == 2
    assert seen[0].headers["Authorization"] != seen[1].headers["Authorization"]  # two accounts
    _, accounts, _ = await call(http, "GET", f"{proxy.base_url}/api-keys")
    cooling = {a["id"]: a["coolingDownUntil"] for a in accounts}
    assert sum(1 for until in cooling.values() if until is not None) == 1
    # The rested account is skipped: the next requests all go to the other one.
    for _ in range(3):
        assert (await chat(http, proxy, created["key"]))[0] == 200
    assert len(proxy.upstream.state.requests_to(CHAT_PATH)) == 5
    async with http.get(f"{proxy.url}/metrics") as response:
        metrics = await response.text()
    assert "proxyd_account_failovers_total{account=" in metrics
    cool_downs = [r for r in caplog.records if r.name == "proxyd.pool"]
    assert len(cool_downs) == 1 and cool_downs[0].levelname == "INFO"
    assert "cools down for 120s: Copilot answered 429" in cool_downs[0].getMessage()


async def test_every_account_cooling_down_is_a_429_with_the_shortest_wait(
    proxy: RunningProxy, http: aiohttp.ClientSession
) -> None:
    await add_account(proxy, http, "alice", ALICE)
    await add_account(proxy, http, "bob", BOB)
    created = await new_client_key(proxy, http)  # no accounts named: every account
    proxy.upstream.state.fail_next(429, headers={"retry-after": "300"}, path=CHAT_PATH)
    proxy.upstream.state.fail_next(
        402, {"error": {"message": "quota exceeded"}}, {"retry-after": "100"}, path=CHAT_PATH
    )
    status, body, headers = await chat(http, proxy, created["key"])
    assert status == 429 and body["error"]["code"] == "rate_limit_exceeded"
    assert 95 <= int(headers["Retry-After"]) <= 100
    assert len(proxy.upstream.state.requests_to(CHAT_PATH)) == 2
    # A GitHub token still gets today's single-account behaviour, cool-down or not.
    assert (await chat(http, proxy, ALICE))[0] == 200


async def test_quota_403_fails_over_and_other_403s_do_not(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    await add_account(proxy, http, "alice", ALICE)
    await add_account(proxy, http, "bob", BOB)
    created = await new_client_key(proxy, http)
    proxy.upstream.state.fail_next(403, {"error": {"message": "You have exceeded your monthly quota"}}, path=CHAT_PATH)
    assert (await chat(http, proxy, created["key"]))[0] == 200
    proxy.upstream.state.fail_next(403, {"error": {"message": "model not enabled by policy"}}, path=CHAT_PATH)
    status, body, _ = await chat(http, proxy, created["key"])
    assert status == 403 and body["error"]["message"] == "model not enabled by policy"
    assert len(proxy.upstream.state.requests_to(CHAT_PATH)) == 3


async def test_an_account_github_refuses_is_skipped(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    refused = "gho_clientkeysrefused0000000000000000003"
    # GitHub knows the token but grants it no Copilot: the exchange answers 404.
    proxy.upstream.state.add_github_token(refused, has_copilot=False)
    _, stored, _ = await call(http, "POST", f"{proxy.base_url}/api-keys", json={"name": "no", "key": refused})
    bad = stored["id"]
    await add_account(proxy, http, "alice", ALICE)
    created = await new_client_key(proxy, http)
    for _ in range(2):
        assert (await chat(http, proxy, created["key"]))[0] == 200
    _, accounts, _ = await call(http, "GET", f"{proxy.base_url}/api-keys")
    shown = {a["id"]: a for a in accounts}[bad]
    assert shown["coolingDownReason"] == "refused" and shown["coolingDownUntil"] is not None


# --------------------------------------------------------------------------- PROXYD_CLIENT_KEYS_ONLY


async def test_client_keys_only_refuses_github_tokens_and_keyless_requests(
    config: Config, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    only = dataclasses.replace(config, client_keys_only=True, usage_flush_interval=0.05, shutdown_timeout=2.0)
    async with run_proxy(only, upstream) as proxy:
        await add_account(proxy, http, "alice", ALICE)
        created = await new_client_key(proxy, http)
        assert (await chat(http, proxy, ALICE))[0] == 401
        status, body, _ = await call(http, "POST", f"{proxy.url}/v1/chat/completions", json=CHAT)
        assert status == 401 and body["error"]["code"] == "invalid_api_key"
        assert (await chat(http, proxy, "_"))[0] == 401
        assert (await chat(http, proxy, created["key"]))[0] == 200


async def test_a_deletion_reaches_the_cache_of_another_instance_within_the_ttl(
    config: Config, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    fast = dataclasses.replace(config, key_cache_ttl=0.2, usage_flush_interval=0.05, shutdown_timeout=2.0)
    async with run_proxy(fast, upstream) as first, run_proxy(fast, upstream) as second:
        await add_account(first, http, "alice", ALICE)
        created = await new_client_key(first, http)
        assert (await chat(http, second, created["key"]))[0] == 200
        await call(http, "DELETE", f"{first.base_url}/client-keys/{created['id']}")
        await asyncio.sleep(0.3)
        await chat(http, second, created["key"])  # served stale while the refresh runs
        await second.app[CLIENT_KEY_RESOLVER].settled()
        assert (await chat(http, second, created["key"]))[0] == 401


# --------------------------------------------------------------------------- the migration


async def test_rolling_back_0004_keeps_the_legacy_tables_and_keys(store: KeyStore, config: Config) -> None:
    account = await store.create("alice", ALICE)
    client_keys = ClientKeyStore(store.db)
    await client_keys.create(ClientKeySettings(name="team"))
    migrations = migrator(config)
    # 0005 (console sessions), 0006 (monthly counts) and 0007 (tokens encrypted) depend on 0004:
    # they go first and come back with it.
    later = ["0005.admin-sessions", "0006.client-key-months", "0007.encrypt-tokens"]
    assert await asyncio.to_thread(migrations.rollback, 4) == [*reversed(later), "0004.client-keys"]
    with pytest.raises(DatabaseError):
        await client_keys.find_all()
    await store.db.execute(_insert_legacy_log(), {})
    assert await asyncio.to_thread(migrations.apply) == ["0004.client-keys", *later]
    assert await client_keys.find_all() == []
    assert await store.find_all() == [account]


async def test_monthly_counts_are_kept_by_the_flush_and_0006_rolls_back(
    proxy: RunningProxy, http: aiohttp.ClientSession
) -> None:
    """client_key_months: written by the usage flush, read with the key; rolled back and applied again, the
    current month is counted from the request log."""
    await add_account(proxy, http, "alice", ALICE)
    created = await new_client_key(proxy, http, monthlyRequests=100)
    other = await new_client_key(proxy, http, name="other")
    for key, n in ((created["key"], 3), (other["key"], 2)):
        for _ in range(n):
            assert (await chat(http, proxy, key))[0] == 200
    assert await proxy.app[USAGE].flush()
    client_keys = proxy.app[CLIENT_KEYS]
    counts = {k.id: k.requests_this_month for k in await client_keys.find_all()}
    assert counts == {created["id"]: 3, other["id"]: 2}
    database = proxy.app[DATABASE]
    rows = await database.fetch_all(_select_all("client_key_months"))
    assert sorted(int(r["requests"]) for r in rows) == [2, 3]
    migrations = migrator(proxy.config)
    # 0007 (tokens encrypted) depends on 0006: it goes first and comes back with it.
    both = ["0007.encrypt-tokens", "0006.client-key-months"]
    assert await asyncio.to_thread(migrations.rollback, 2) == both
    with pytest.raises(DatabaseError):
        await database.fetch_all(_select_all("client_key_months"))
    assert await asyncio.to_thread(migrations.apply) == both[::-1]
    counts = {k.id: k.requests_this_month for k in await client_keys.find_all()}
    assert counts == {created["id"]: 3, other["id"]: 2}
    await client_keys.delete(other["id"])  # its months go with it
    rows = await database.fetch_all(_select_all("client_key_months"))
    assert [r["client_key_id"] for r in rows] == [created["id"]]


def _insert_legacy_log() -> Any:
    from proxyd.db.queries import compile_query

    # The request log as 0001 made it: no client_key_id column any more.
    return compile_query(
        "legacy_log",
        "INSERT INTO request_log (time, api_key_id, endpoint, model, status, duration_ms) "
        "VALUES (1, NULL, '/models', NULL, 200, 1)",
        "named",
    )


# --------------------------------------------------------------------------- the host CLI


async def test_cli_create_list_revoke(
    proxy: RunningProxy,
    http: aiohttp.ClientSession,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await add_account(proxy, http, "alice", ALICE)

    async def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(cli.main, ["keys", *args])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = await run(
        "create", "ci", "--models", "gpt-4o", "o3", "--rpm", "5", "--monthly-requests", "10", "--expires", "2999-01-01"
    )
    assert code == 0
    secret = out.splitlines()[0]
    KNOWN_SECRETS.add(secret)
    assert secret.startswith("pxd_") and len(secret) >= 36
    assert (await chat(http, proxy, secret))[0] == 200
    code, out, _ = await run("list")
    assert code == 0 and secret not in out and secret[:10] + "..." in out
    key_id, _, name, limits = out.splitlines()[0].split("\t")
    assert name == "ci" and "models=gpt-4o,o3" in limits and "rpm=5" in limits and "expires=2999-01-01T" in limits
    code, _, err = await run("create", "bad", "--expires", "yesterday")
    assert code == 1 and "--expires must be" in err
    # A bare date is the whole of that day, in UTC.
    code, out, _ = await run("create", "until-new-year", "--expires", "2999-12-31")
    assert code == 0
    KNOWN_SECRETS.add(out.splitlines()[0])
    code, out, _ = await run("list")
    assert "expires=2999-12-31T23:59:59.999Z" in out.splitlines()[0]
    with pytest.raises(SystemExit) as usage_error:  # argparse's own refusal
        await run("create", "bad", "--rpm", "0")
    assert usage_error.value.code == 2 and "must be from 1" in capsys.readouterr().err
    assert (await run("revoke", key_id))[0] == 0
    code, _, err = await run("revoke", key_id)
    assert code == 1 and err == "proxyd: Client key not found\n"
    proxy.app[CLIENT_KEY_RESOLVER].invalidate()  # another process changed the database: as after the TTL
    assert (await chat(http, proxy, secret))[0] == 401
