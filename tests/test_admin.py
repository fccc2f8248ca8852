"""The legacy ``api-keys`` routes and the admin dashboard (stats, logs), over HTTP, on every database.

proxyd runs without an admin token here, so admin routes answer loopback
clients; authentication itself is tested in test_admin_auth.py.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import orjson
import pytest

from proxyd.admin.routes_stats import period_starts
from proxyd.appkeys import RESOLVER, USAGE
from proxyd.clock import iso_ms as iso_timestamp
from proxyd.errors import Unauthorized
from proxyd.gateway.recorder import RequestLogEntry
from proxyd.keys.masking import mask_secret
from tests.conftest import RunningProxy

GITHUB_KEY = "gho_" + "A" * 36  # the fake GitHub knows it: its meta can be fetched
UNKNOWN_KEY = "gho_" + "B" * 36  # the fake GitHub answers 401 for it
NOT_FOUND = {"statusCode": 404, "message": "API key not found", "error": "Not Found"}
EXCHANGE = "/copilot_internal/v2/token"


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


async def send(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Reply:
    async with session.request(method, url, **kwargs) as response:
        return Reply(response.status, await response.read(), response.content_type)


async def create(http: aiohttp.ClientSession, proxy: RunningProxy, name: str, key: str) -> dict[str, Any]:
    reply = await send(http, "POST", f"{proxy.base_url}/api-keys", json={"name": name, "key": key})
    assert reply.status == 201, reply.body
    created: dict[str, Any] = reply.json
    return created


# --------------------------------------------------------------------------- api-keys


async def test_key_lifecycle(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    proxy.upstream.state.add_github_token(GITHUB_KEY)
    base = f"{proxy.base_url}/api-keys"

    laptop = await create(http, proxy, "laptop", GITHUB_KEY)
    stored = await proxy.store.get(laptop["id"])
    assert stored.meta is not None
    assert laptop == {
        "id": stored.id,
        "name": "laptop",
        "createdAt": stored.created_at,
        "usageCount": 0,
        "meta": {
            "token": mask_secret(stored.meta.token),
            "expiresAt": stored.meta.expires_at,
            "resetTime": stored.meta.reset_time,
            "chatQuota": 50,
            "completionsQuota": 2000,
        },
        "isDefault": True,  # the first key: there was no default
        "maskedKey": mask_secret(GITHUB_KEY),
    }
    await asyncio.sleep(0.002)  # distinct createdAt, so "newest first" is well defined
    ci = await create(http, proxy, "ci", UNKNOWN_KEY)
    assert "meta" not in ci and "lastUsed" not in ci and "key" not in ci
    assert ci["isDefault"] is False

    listed = await send(http, "GET", base)
    assert listed.status == 200
    assert [k["id"] for k in listed.json] == [ci["id"], laptop["id"]]
    assert GITHUB_KEY.encode() not in listed.body and stored.meta.token.encode() not in listed.body

    renamed = await send(http, "PATCH", f"{base}/{laptop['id']}", json={"name": "laptop 2"})
    assert renamed.status == 200
    assert renamed.json == {**laptop, "name": "laptop 2"}

    default = await send(http, "POST", f"{base}/default", json={"id": laptop["id"]})
    assert default.status == 201
    assert default.json["isDefault"] is True and default.json["id"] == laptop["id"]
    assert (await send(http, "POST", f"{base}/default", json={"id": ci["id"]})).status == 201
    flags = {k["id"]: k["isDefault"] for k in (await send(http, "GET", base)).json}
    assert flags == {laptop["id"]: False, ci["id"]: True}

    deleted = await send(http, "DELETE", f"{base}/{ci['id']}")
    assert (deleted.status, deleted.body) == (200, b"")
    assert [k["id"] for k in (await send(http, "GET", base)).json] == [laptop["id"]]


async def test_unknown_id_is_404(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    base = f"{proxy.base_url}/api-keys"
    for method, url, body in [
        ("PATCH", f"{base}/nope", {"name": "x"}),
        ("DELETE", f"{base}/nope", None),
        ("POST", f"{base}/default", {"id": "nope"}),
        ("POST", f"{base}/nope/refresh-meta", None),
    ]:
        reply = await send(http, method, url, json=body)
        assert (reply.status, reply.json) == (404, NOT_FOUND), (method, url)


async def test_duplicate_key_is_409(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    await create(http, proxy, "one", UNKNOWN_KEY)
    reply = await send(http, "POST", f"{proxy.base_url}/api-keys", json={"name": "two", "key": UNKNOWN_KEY})
    assert reply.status == 409
    assert reply.json == {"statusCode": 409, "message": "An API key with this key already exists", "error": "Conflict"}
    assert [k.name for k in await proxy.store.find_all()] == ["one"]


async def test_longest_valid_values_are_stored_exactly(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    name, key = "🔑" * 100, "gho_" + "x" * 508
    created = await create(http, proxy, name, key)
    stored = await proxy.store.get(created["id"])
    assert (stored.name, stored.key) == (name, key)


async def test_refresh_meta(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    proxy.upstream.state.add_github_token(GITHUB_KEY)
    created = await create(http, proxy, "laptop", GITHUB_KEY)
    before = await proxy.store.get(created["id"])
    assert before.meta is not None
    url = f"{proxy.base_url}/api-keys/{created['id']}/refresh-meta"

    refreshed = await send(http, "POST", url)
    assert refreshed.status == 201
    after = await proxy.store.get(created["id"])
    assert after.meta is not None and after.meta.token != before.meta.token
    assert refreshed.json["meta"]["token"] == mask_secret(after.meta.token)

    proxy.upstream.state.fail_next(500, path=EXCHANGE)
    failed = await send(http, "POST", url)
    assert failed.status == 502 and failed.json["error"] == "Bad Gateway"
    assert (await proxy.store.get(created["id"])).meta == after.meta


async def test_refresh_meta_of_a_key_github_refuses(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    created = await create(http, proxy, "ci", UNKNOWN_KEY)
    reply = await send(http, "POST", f"{proxy.base_url}/api-keys/{created['id']}/refresh-meta")
    assert reply.status == 502
    assert "401" in reply.json["message"]
    assert (await proxy.store.get(created["id"])).meta is None


async def test_create_without_github(proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None) -> None:
    proxy.upstream.state.add_github_token(GITHUB_KEY)
    proxy.upstream.state.fail_next(503, path=EXCHANGE)
    created = await create(http, proxy, "offline", GITHUB_KEY)
    assert "meta" not in created
    assert (await proxy.store.get(created["id"])).meta is None


async def test_changes_apply_to_this_process_at_once(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    resolver = proxy.app[RESOLVER]
    with pytest.raises(Unauthorized):
        await resolver.resolve(None)  # no key yet, and that answer is cached
    first = await create(http, proxy, "first", GITHUB_KEY)
    assert (await resolver.resolve(None)).id == first["id"]  # the first key became the default
    created = await create(http, proxy, "k", UNKNOWN_KEY)
    assert (await resolver.resolve(UNKNOWN_KEY)).name == "k"
    await send(http, "PATCH", f"{proxy.base_url}/api-keys/{created['id']}", json={"name": "k2"})
    assert (await resolver.resolve(UNKNOWN_KEY)).name == "k2"
    await send(http, "POST", f"{proxy.base_url}/api-keys/default", json={"id": created["id"]})
    assert (await resolver.resolve(None)).id == created["id"]
    await send(http, "DELETE", f"{proxy.base_url}/api-keys/{created['id']}")
    with pytest.raises(Unauthorized):
        await resolver.resolve(UNKNOWN_KEY)


async def test_fixed_routes_are_not_taken_for_ids(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    base = f"{proxy.base_url}/api-keys"
    invalid = await send(http, "POST", f"{base}/default", json={})
    assert invalid.status == 400 and "id must be a string" in invalid.json["message"]
    async with http.get(f"{base}/device-flow") as stream:
        assert stream.status == 200 and stream.content_type == "text/event-stream"
    assert (await send(http, "DELETE", f"{base}/default")).json == NOT_FOUND
    assert (await send(http, "PATCH", f"{base}/device-flow", json={"name": "x"})).json == NOT_FOUND
    assert (await send(http, "POST", f"{base}/device-flow")).status == 405


# --------------------------------------------------------------------------- validation

_ALL_NAME = [
    "name must be a string",
    "name should not be empty",
    "name must be shorter than or equal to 100 characters",
]
_ALL_KEY = [
    "key must be a string",
    "key should not be empty",
    "key must be shorter than or equal to 512 characters",
]
_KEY_CONTROL = "key must not contain control characters"
_KEY_WHITESPACE = "key must not start or end with whitespace"
_ALL_ID = ["id must be a string", "id should not be empty", "id must be shorter than or equal to 255 characters"]


@pytest.mark.parametrize(
    ("method", "path", "body", "messages"),
    [
        ("POST", "/api-keys", {}, _ALL_NAME + _ALL_KEY),
        ("POST", "/api-keys", {"name": 123, "key": "k"}, [_ALL_NAME[0], _ALL_NAME[2]]),
        ("POST", "/api-keys", {"name": None, "key": "k"}, _ALL_NAME),
        ("POST", "/api-keys", {"name": "", "key": "k"}, ["name should not be empty"]),
        ("POST", "/api-keys", {"name": "x" * 101, "key": "k"}, [_ALL_NAME[2]]),
        ("POST", "/api-keys", {"name": "x", "key": "k" * 513}, [_ALL_KEY[2]]),
        ("POST", "/api-keys", {"name": "x", "key": ["k"]}, [_ALL_KEY[0], _ALL_KEY[2]]),
        ("POST", "/api-keys", {"name": "x", "key": "gho_a\r\nX-Evil: 1"}, ["key must not contain control characters"]),
        ("POST", "/api-keys", {"name": "a\x00b", "key": "k"}, ["name must not contain control characters"]),
        # Keys no request could present: the proxy strips whitespace, and "_" selects the default key.
        ("POST", "/api-keys", {"name": "x", "key": " gho_a"}, [_KEY_WHITESPACE]),
        ("POST", "/api-keys", {"name": "x", "key": "gho_a "}, [_KEY_WHITESPACE]),
        ("POST", "/api-keys", {"name": "x", "key": "gho_a\u00a0"}, [_KEY_WHITESPACE]),
        ("POST", "/api-keys", {"name": "x", "key": "gho_a\n"}, [_KEY_CONTROL, _KEY_WHITESPACE]),
        ("POST", "/api-keys", {"name": "x", "key": "   "}, [_KEY_WHITESPACE]),
        ("POST", "/api-keys", {"name": "x", "key": "_"}, ['key must not be "_": it selects the default key']),
        ("POST", "/api-keys", {"name": "", "key": " _"}, ["name should not be empty", _KEY_WHITESPACE]),
        ("PATCH", "/api-keys/some-id", {}, _ALL_NAME),
        ("PATCH", "/api-keys/some-id", {"name": ""}, ["name should not be empty"]),
        ("PATCH", "/api-keys/some-id", {"name": False}, [_ALL_NAME[0], _ALL_NAME[2]]),
        ("POST", "/api-keys/default", {}, _ALL_ID),
        ("POST", "/api-keys/default", {"id": ""}, ["id should not be empty"]),
        ("POST", "/api-keys/default", {"id": 7}, [_ALL_ID[0], _ALL_ID[2]]),
    ],
)
async def test_validation_messages(
    proxy: RunningProxy,
    http: aiohttp.ClientSession,
    sqlite_only: None,
    method: str,
    path: str,
    body: dict[str, Any],
    messages: list[str],
) -> None:
    reply = await send(http, method, proxy.base_url + path, json=body)
    assert reply.status == 400
    assert reply.json == {"statusCode": 400, "message": messages, "error": "Bad Request"}
    assert await proxy.store.find_all() == []
    assert proxy.upstream.state.requests_to(EXCHANGE) == []


@pytest.mark.parametrize(
    ("data", "content_type", "message"),
    [
        (b'{"name": "x", "key": ', "application/json", "Malformed JSON"),
        (b'[{"name": "x", "key": "k"}]', "application/json", "Request body must be a JSON object"),
        (b'"name"', "application/json", "Request body must be a JSON object"),
        (b"", "application/json", "Request body must be JSON"),
        (b'{"name": "\xff\xfe", "key": "k"}', "application/json", "Malformed JSON"),
        (b'{"name": "x", "key": "k"}', "text/plain", "Content-Type must be application/json"),
        (b"name=x&key=k", "application/x-www-form-urlencoded", "Content-Type must be application/json"),
    ],
)
@pytest.mark.parametrize("route", [("POST", "/api-keys"), ("PATCH", "/api-keys/x"), ("POST", "/api-keys/default")])
async def test_unusable_bodies_are_400(
    proxy: RunningProxy,
    http: aiohttp.ClientSession,
    sqlite_only: None,
    route: tuple[str, str],
    data: bytes,
    content_type: str,
    message: str,
) -> None:
    method, path = route
    reply = await send(http, method, proxy.base_url + path, data=data, headers={"Content-Type": content_type})
    assert reply.status == 400
    assert reply.json["statusCode"] == 400 and reply.json["message"].startswith(message)
    assert await proxy.store.find_all() == []


# --------------------------------------------------------------------------- stats and logs


def _entry(at: int, key_id: str | None, model: str | None, status: int, duration: int) -> RequestLogEntry:
    return RequestLogEntry(
        time=at,
        api_key_id=key_id,
        endpoint="/api/chat/completions",
        model=model,
        status=status,
        duration_ms=duration,
        prompt_tokens=12,
        completion_tokens=8,
        total_tokens=20,
    )


async def _seed_log(proxy: RunningProxy, http: aiohttp.ClientSession) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Keys alpha (used now) and beta (never counted as used), and five log rows, the oldest 400 days ago."""
    alpha = await create(http, proxy, "alpha", GITHUB_KEY)
    beta = await create(http, proxy, "beta", UNKNOWN_KEY)
    now = time.time_ns() // 1_000_000
    usage = proxy.app[USAGE]
    usage.record(_entry(now - 400 * 86_400_000, alpha["id"], "gpt-4o", 200, 400), count_usage=False)
    usage.record(_entry(now - 4, alpha["id"], "gpt-4o", 200, 100), count_usage=True)
    usage.record(_entry(now - 3, alpha["id"], "gpt-4o", 500, 300), count_usage=True)
    usage.record(_entry(now - 2, beta["id"], "claude-sonnet-4", 200, 200), count_usage=False)
    usage.record(_entry(now - 1, None, None, 401, 0), count_usage=False)
    assert await usage.flush()
    return alpha, beta, now


async def test_stats(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    url = f"{proxy.base_url}/admin/stats"
    empty = await send(http, "GET", url)
    assert empty.status == 200
    assert empty.json == {
        "totalKeys": 0,
        "activeKeys": 0,
        "totalRequests": 0,
        "requestsToday": 0,
        "requestsThisWeek": 0,
        "requestsThisMonth": 0,
        "averageResponseTime": 0,
        "errorRate": 0,
        "topModels": [],
        "accountQuotas": [],  # none fetched yet
    }
    await _seed_log(proxy, http)
    assert (await send(http, "GET", url)).json == {
        "totalKeys": 2,
        "activeKeys": 1,
        "totalRequests": 5,
        "requestsToday": 4,
        "requestsThisWeek": 4,
        "requestsThisMonth": 4,
        "averageResponseTime": 200,
        "errorRate": 40.0,
        "topModels": [{"model": "gpt-4o", "count": 3}, {"model": "claude-sonnet-4", "count": 1}],
        "accountQuotas": [],
    }


async def test_logs(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    alpha, beta, now = await _seed_log(proxy, http)
    await send(http, "DELETE", f"{proxy.base_url}/api-keys/{beta['id']}")
    url = f"{proxy.base_url}/admin/logs"

    first = await send(http, "GET", url, params={"page": "1", "limit": "2"})
    assert first.status == 200
    assert (first.json["total"], first.json["page"], first.json["limit"]) == (5, 1, 2)
    assert GITHUB_KEY.encode() not in first.body
    unknown, deleted = first.json["logs"]
    assert unknown["apiKeyId"] is None and unknown["status"] == 401 and unknown["model"] is None
    assert deleted["apiKeyId"] == beta["id"]
    assert deleted["apiKeyName"] is None and deleted["maskedKey"] is None

    second = (await send(http, "GET", url, params={"page": "2", "limit": "2"})).json
    assert [e["status"] for e in second["logs"]] == [500, 200]
    assert second["logs"][1] == {
        "id": second["logs"][1]["id"],
        "timestamp": iso_timestamp(now - 4),
        "apiKeyId": alpha["id"],
        "apiKeyName": "alpha",
        "maskedKey": mask_secret(GITHUB_KEY),
        "clientKeyId": None,  # a GitHub token, not a client key
        "clientKeyName": None,
        "endpoint": "/api/chat/completions",
        "model": "gpt-4o",
        "status": 200,
        "duration": 100,
        "promptTokens": 12,
        "completionTokens": 8,
        "totalTokens": 20,
    }
    last = (await send(http, "GET", url, params={"page": "3", "limit": "2"})).json
    assert [e["duration"] for e in last["logs"]] == [400]
    everything = (await send(http, "GET", url)).json
    assert (everything["page"], everything["limit"], len(everything["logs"])) == (1, 20, 5)
    ids = [e["id"] for e in everything["logs"]]
    assert len(set(ids)) == 5
    assert (await send(http, "GET", url, params={"page": "9"})).json["logs"] == []


@pytest.mark.parametrize(
    ("query", "messages"),
    [
        ({"page": "0"}, ["page must not be less than 1"]),
        ({"page": "-1"}, ["page must be an integer number"]),
        ({"page": "1.5"}, ["page must be an integer number"]),
        ({"page": "x", "limit": "101"}, ["page must be an integer number", "limit must not be greater than 100"]),
        ({"limit": "0"}, ["limit must not be less than 1"]),
        ({"limit": ""}, ["limit must be an integer number"]),
        ({"page": "9" * 5000}, ["page must not be greater than 1000000"]),
    ],
)
async def test_logs_query_validation(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None, query: dict[str, str], messages: list[str]
) -> None:
    reply = await send(http, "GET", f"{proxy.base_url}/admin/logs", params=query)
    assert reply.status == 400
    assert reply.json == {"statusCode": 400, "message": messages, "error": "Bad Request"}


def test_period_starts_are_utc_calendar_boundaries() -> None:
    wednesday = datetime(2025, 7, 30, 13, 45, 12, 345678, tzinfo=UTC)
    assert period_starts(wednesday) == {
        "day_start": int(datetime(2025, 7, 30, tzinfo=UTC).timestamp() * 1000),
        "week_start": int(datetime(2025, 7, 28, tzinfo=UTC).timestamp() * 1000),
        "month_start": int(datetime(2025, 7, 1, tzinfo=UTC).timestamp() * 1000),
    }
    # 01:00 on 1 August in UTC+2 is still 31 July in UTC.
    local = datetime(2025, 8, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    starts = period_starts(local)
    assert starts["day_start"] == int(datetime(2025, 7, 31, tzinfo=UTC).timestamp() * 1000)
    assert starts["month_start"] == int(datetime(2025, 7, 1, tzinfo=UTC).timestamp() * 1000)
    monday = datetime(2025, 7, 28, 0, 0, tzinfo=UTC)
    assert period_starts(monday)["week_start"] == period_starts(monday)["day_start"]


def test_iso_timestamps_look_like_javascript() -> None:
    assert iso_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert iso_timestamp(1_753_538_461_123) == "2025-07-26T14:01:01.123Z"
