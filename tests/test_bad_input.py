"""Requests as an attacker (or a confused client) sends them, against a real proxyd: which key counts,
bodies that claim an encoding or a nesting depth, keys no database could store.

Nothing here depends on the database unless a test says so: SQLite only.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from proxyd.appkeys import RESOLVER, USAGE
from proxyd.config import Config
from proxyd.db.schema import Migrator
from proxyd.http.json_io import too_deep
from proxyd.http.json_values import count_values
from proxyd.limits import MAX_JSON_DEPTH, MAX_JSON_VALUES, OFF_LOOP_BODY_BYTES, ORJSON_MAX_DEPTH
from tests.conftest import KNOWN_SECRETS, RunningProxy
from tests.daemon import Daemon

ALICE = "gho_badinputalice00000000000000000000001"
BOB = "gho_badinputbob0000000000000000000000002"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


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


async def admin_refusal(http: aiohttp.ClientSession, proxy: RunningProxy, data: bytes, headers: dict[str, str]) -> str:
    """Posts ``data`` to the admin API (without the Authorization: loopback mode in tests); it must be a 400 in
    NestJS' shape, whose message this returns."""
    admin_headers = {name: value for name, value in headers.items() if name != "Authorization"}
    status, body = await call(http, "POST", f"{proxy.base_url}/api-keys", data=data, headers=admin_headers)
    assert status == 400, body
    message: str = body["message"]
    return message


def assert_refused_quietly(proxy: RunningProxy, caplog: pytest.LogCaptureFixture) -> None:
    """Nothing reached Copilot, and nothing was logged as an error (no traceback)."""
    assert proxy.upstream.state.requests_to("/chat/completions") == []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


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


# --------------------------------------------------------------------------- compressed bodies


def compress(data: bytes, coding: str) -> bytes:
    wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}[coding]
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


def bomb(inflated_mib: int) -> bytes:
    """A gzip JSON body of about ``inflated_mib`` MiB that takes about a thousandth of that on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(b'{"name": "bomb", "key": "')]
    parts += [packer.compress(b"a" * (1 << 20)) for _ in range(inflated_mib)]
    return b"".join([*parts, packer.compress(b'"}'), packer.flush()])


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_bodies_are_inflated(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None, coding: str
) -> None:
    await add_account(proxy, http, "alice", ALICE)
    headers = {
        "Authorization": f"Bearer {ALICE}",
        "Content-Type": "application/json",
        "Content-Encoding": "deflate" if coding == "raw-deflate" else coding,
    }
    body = orjson.dumps(CHAT)
    status, answer = await call(
        http, "POST", f"{proxy.url}/v1/chat/completions", data=compress(body, coding), headers=headers
    )
    assert status == 200, answer
    (sent,) = proxy.upstream.state.requests_to("/chat/completions")
    assert sent.body == body  # Copilot gets the JSON, not the compressed bytes


async def test_an_unknown_content_encoding_is_a_415(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    await add_account(proxy, http, "alice", ALICE)
    headers = {"Authorization": f"Bearer {ALICE}", "Content-Type": "application/json", "Content-Encoding": "br"}
    status, body = await call(http, "POST", f"{proxy.url}/v1/chat/completions", data=b"{}", headers=headers)
    assert status == 415 and "Content-Encoding 'br' is not supported" in body["error"]["message"]
    assert proxy.upstream.state.requests_to("/chat/completions") == []


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory so far, in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


async def test_a_gzip_bomb_stops_inflating_at_the_body_limit(config: Config, sqlite_only: None) -> None:
    """1 GiB inflated from 1 MiB: a 413 in the route's error shape, after inflating no more than the limit."""
    limit = 16 << 20
    await asyncio.to_thread(Migrator(config.database).apply)
    nowhere = "http://127.0.0.1:9"  # the key's meta cannot be fetched: it is stored all the same
    env = {"PROXYD_MAX_BODY_BYTES": str(limit), "PROXYD_GITHUB_API_URL": nowhere, "PROXYD_COPILOT_API_URL": nowhere}
    daemon = Daemon({"DATABASE_URL": config.database.raw, **env})
    await daemon.start()
    try:
        assert daemon.process is not None
        async with aiohttp.ClientSession() as http:
            account = {"name": "alice", "key": ALICE}
            assert (await call(http, "POST", f"{daemon.url}/api/api-keys", json=account))[0] == 201
            before = _peak_rss(daemon.process.pid)
            headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", "x-api-key": ALICE}
            too_large = f"Request body larger than {limit} bytes"
            status, body = await call(http, "POST", f"{daemon.url}/api/api-keys", data=bomb(1024), headers=headers)
            assert (status, body["message"]) == (413, too_large)
            status, body = await call(
                http, "POST", f"{daemon.url}/v1/chat/completions", data=bomb(1024), headers=headers
            )
            assert (status, body["error"]["message"]) == (413, too_large)
            status, body = await call(http, "POST", f"{daemon.url}/v1/messages", data=bomb(1024), headers=headers)
            assert (status, body["error"]["type"]) == (413, "request_too_large")
        # aiohttp's own decompression buffered about four times the limit before it noticed.
        assert _peak_rss(daemon.process.pid) - before < 2 * limit
    finally:
        assert await daemon.stop() == 0


NOT_GZIP = [
    pytest.param(orjson.dumps(CHAT), "gzip", id="plain-json"),
    pytest.param(compress(orjson.dumps(CHAT), "gzip")[:-12], "gzip", id="truncated"),
    pytest.param(compress(orjson.dumps(CHAT), "gzip") + b"garbage!", "gzip", id="trailing-garbage"),
    pytest.param(b"\x78\x9c not deflate at all", "deflate", id="bad-deflate"),
    pytest.param(compress(orjson.dumps(CHAT), "deflate") + b"\x00", "deflate", id="deflate-trailing-byte"),
]


@pytest.mark.parametrize(("data", "coding"), NOT_GZIP)
async def test_a_body_that_is_not_what_its_encoding_claims_is_a_400(
    proxy: RunningProxy,
    http: aiohttp.ClientSession,
    sqlite_only: None,
    caplog: pytest.LogCaptureFixture,
    data: bytes,
    coding: str,
) -> None:
    await add_account(proxy, http, "alice", ALICE)
    headers = {"Authorization": f"Bearer {ALICE}", "Content-Type": "application/json", "Content-Encoding": coding}
    expected = f"Request body is not valid {coding} data (Content-Encoding: {coding})"
    status, body = await call(http, "POST", f"{proxy.url}/v1/chat/completions", data=data, headers=headers)
    assert status == 400 and body["error"]["message"].startswith(expected)  # OpenAI's shape
    status, body = await call(http, "POST", f"{proxy.url}/v1/messages", data=data, headers=headers)
    assert status == 400 and body["error"]["type"] == "invalid_request_error"  # Anthropic's
    assert body["error"]["message"].startswith(expected)
    assert (await admin_refusal(http, proxy, data, headers)).startswith(expected)
    assert_refused_quietly(proxy, caplog)


async def test_gzip_members_are_inflated_one_after_the_other(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    await add_account(proxy, http, "alice", ALICE)
    body = orjson.dumps(CHAT)
    data = compress(body[:10], "gzip") + compress(body[10:], "gzip")  # as `cat a.gz b.gz` makes
    headers = {"Authorization": f"Bearer {ALICE}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
    status, answer = await call(http, "POST", f"{proxy.url}/v1/chat/completions", data=data, headers=headers)
    assert status == 200, answer
    assert proxy.upstream.state.requests_to("/chat/completions")[0].body == body


# --------------------------------------------------------------------------- deeply nested JSON


def nested(depth: int) -> bytes:
    """A JSON object ``depth`` levels deep, a schema of sorts (written by hand: orjson stops at 254)."""
    pairs, odd = divmod(depth - 1, 2)
    head = b'{"type": "object", "items": ' * odd + b'{"type": "object", "properties": {"a": ' * pairs
    return head + b'{"type": "string"}' + b"}}" * pairs + b"}" * odd


def with_field(body: dict[str, Any], name: str, value: bytes) -> bytes:
    """``body`` as JSON with ``name`` set to the raw JSON ``value``."""
    return orjson.dumps(body)[:-1] + b', "' + name.encode() + b'": ' + value + b"}"


ANTHROPIC = {"model": "claude-sonnet-4", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def with_tool(depth: int) -> bytes:
    """A Messages request whose tool's input_schema makes it ``depth`` levels deep (body, tools, tool, schema)."""
    return with_field(ANTHROPIC, "tools", b'[{"name": "t", "input_schema": ' + nested(depth - 3) + b"}]")


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 250, 1000])
async def test_json_nested_too_deeply_is_a_400_everywhere(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None, caplog: pytest.LogCaptureFixture, depth: int
) -> None:
    await add_account(proxy, http, "alice", ALICE)
    headers = {"Authorization": f"Bearer {ALICE}", "Content-Type": "application/json"}
    message = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    deep = nested(depth - 1)  # one level below the body's own
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        status, body = await call(http, "POST", proxy.url + path, data=with_tool(depth), headers=headers)
        assert (status, body["error"]) == (400, {"type": "invalid_request_error", "message": message})
    data = with_field(CHAT, "metadata", deep)
    status, body = await call(http, "POST", f"{proxy.url}/v1/chat/completions", data=data, headers=headers)
    assert (status, body["error"]["message"]) == (400, message)
    assert await admin_refusal(http, proxy, with_field({"key": "x"}, "name", deep), headers) == message
    assert_refused_quietly(proxy, caplog)


async def test_json_nested_up_to_the_limit_goes_through(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    await add_account(proxy, http, "alice", ALICE)
    headers = {"Authorization": f"Bearer {ALICE}", "Content-Type": "application/json"}
    deep = nested(MAX_JSON_DEPTH - 1)
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        status, body = await call(http, "POST", proxy.url + path, data=with_tool(MAX_JSON_DEPTH), headers=headers)
        assert status == 200, body
    data = with_field(CHAT, "metadata", deep)
    status, body = await call(http, "POST", f"{proxy.url}/v1/chat/completions", data=data, headers=headers)
    assert status == 200, body


def test_the_depth_check_matches_orjson_and_spares_flat_bodies() -> None:
    # The check relies on where orjson's own limit lies: if a release moves it, this says so.
    orjson.dumps(orjson.loads(nested(ORJSON_MAX_DEPTH)))
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(orjson.loads(nested(ORJSON_MAX_DEPTH + 1)))
    for depth in (1, 2, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, ORJSON_MAX_DEPTH + 1, 1024):
        raw = nested(depth)
        assert too_deep(raw, orjson.loads(raw)) == (depth > MAX_JSON_DEPTH), depth
    flat = [{"role": "user", "content": [{"type": "text", "text": "["}]} for _ in range(10_000)]
    raw = orjson.dumps(flat)
    assert not too_deep(raw, orjson.loads(raw))


def with_values(body: dict[str, Any], values: int) -> bytes:
    """``body`` with a ``metadata`` list of zeros, making it hold exactly ``values`` JSON values as proxyd counts."""
    bare = with_field(body, "metadata", b"[]")
    zeros = values - count_values(bare)  # [] counts its bracket; n zeros add n - 1 commas
    return with_field(body, "metadata", b"[" + b",".join([b"0"] * (zeros + 1)) + b"]")


async def test_a_body_holding_more_json_values_than_the_limit_is_a_400_everywhere(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Counted before parsing: a body of many small values would hold the interpreter for its whole parse."""
    await add_account(proxy, http, "alice", ALICE)
    headers = {"Authorization": f"Bearer {ALICE}", "Content-Type": "application/json"}
    message = f"Request body holds more than {MAX_JSON_VALUES:,} JSON values"
    too_many = with_values(CHAT, MAX_JSON_VALUES + 1)
    assert count_values(too_many) == MAX_JSON_VALUES + 1 and len(too_many) > OFF_LOOP_BODY_BYTES
    status, body = await call(http, "POST", f"{proxy.url}/v1/chat/completions", data=too_many, headers=headers)
    assert (status, body["error"]["message"]) == (400, message)
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        data = with_values(ANTHROPIC, MAX_JSON_VALUES + 1)
        status, body = await call(http, "POST", proxy.url + path, data=data, headers=headers)
        assert (status, body["error"]) == (400, {"type": "invalid_request_error", "message": message})
    assert proxy.upstream.state.requests_to("/chat/completions") == []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    # At the limit a body goes through, unchanged.
    at_limit = with_values(CHAT, MAX_JSON_VALUES)
    status, body = await call(http, "POST", f"{proxy.url}/v1/chat/completions", data=at_limit, headers=headers)
    assert status == 200, body
    assert proxy.upstream.state.last_request("/chat/completions").body == at_limit


# --------------------------------------------------------------------------- keys no database could store

UNSTORABLE_TAIL = "after-the-bad-byte-0123456789"
KNOWN_SECRETS.add(UNSTORABLE_TAIL)  # no log line may show the key


async def raw_request(proxy: RunningProxy, request: bytes) -> tuple[int, Any]:
    host, port = proxy.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        head, _, body = (await reader.read()).partition(b"\r\n\r\n")
    finally:
        writer.close()
    return int(head.split()[1]), orjson.loads(body)


@pytest.mark.parametrize(
    "key",
    [
        b"gho_notutf8\xff" + UNSTORABLE_TAIL.encode(),
        b"pxd_notutf8\xc3\x28" + UNSTORABLE_TAIL.encode(),
        b"\xed\xa0\x80" + UNSTORABLE_TAIL.encode(),  # an encoded surrogate: not UTF-8 either
        "gho_\u00e9t\u00e9-".encode() + UNSTORABLE_TAIL.encode(),  # valid UTF-8, just unknown
    ],
    ids=["gho-ff", "pxd-bad-pair", "surrogate", "utf8"],
)
async def test_a_key_with_bytes_no_database_stores_is_a_401(
    proxy: RunningProxy, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, key: bytes
) -> None:
    await add_account(proxy, http, "alice", ALICE)
    proxy.app[RESOLVER].invalidate()  # alice is the default key: a key that is not found must not fall back to it
    body = orjson.dumps(CHAT)
    for path, header, shape in (
        ("/v1/chat/completions", b"Authorization: Bearer ", "openai"),
        ("/v1/messages", b"x-api-key: ", "anthropic"),
        ("/api/chat/completions", b"Authorization: token ", "nest"),
    ):
        request = (
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        ).encode()
        status, answer = await raw_request(proxy, request + header + key + b"\r\n\r\n" + body)
        assert status == 401, answer
        message = answer["message"] if shape == "nest" else answer["error"]["message"]
        assert message == "Invalid API key"
    assert proxy.upstream.state.requests_to("/chat/completions") == []
    assert UNSTORABLE_TAIL not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # no traceback, no "database unavailable"
