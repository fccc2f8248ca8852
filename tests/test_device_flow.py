"""``GET /api/api-keys/device-flow``: GitHub's device flow as server-sent events, shared by every watcher.

Intervals are scripted small on the fake GitHub (0 or 1 s) to keep these fast.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import pytest

from bench.fake_upstream import DeviceAuthorization, FakeUpstream
from proxyd.admin.device_flow import slowed_interval
from proxyd.appkeys import KEY_ADMIN
from proxyd.config import Config
from proxyd.keys.masking import mask_secret
from tests.conftest import RunningProxy, run_proxy

Event = tuple[str, dict[str, Any]]
TOLERANCE = 0.05  # timers may fire a hair early against the fake's wall clock


async def next_event(response: aiohttp.ClientResponse) -> Event | None:
    """The next SSE event, or None at the end of the stream."""
    name, data = "", b""
    async for raw in response.content:
        line = raw.rstrip(b"\r\n")
        if line.startswith(b"event: "):
            name = line.removeprefix(b"event: ").decode()
        elif line.startswith(b"data: "):
            data = line.removeprefix(b"data: ")
        elif not line and name:
            payload = orjson.loads(data)
            assert payload["type"] == name
            return name, payload
    return None


async def rest(response: aiohttp.ClientResponse) -> list[Event]:
    events = []
    async with asyncio.timeout(10):
        while (event := await next_event(response)) is not None:
            events.append(event)
    return events


async def watch(http: aiohttp.ClientSession, proxy: RunningProxy) -> list[Event]:
    async with http.get(f"{proxy.base_url}/api-keys/device-flow") as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        return await rest(response)


def only_authorization(upstream: FakeUpstream) -> DeviceAuthorization:
    (authorization,) = upstream.state.device_authorizations.values()
    return authorization


async def test_success_stores_the_key(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    proxy.upstream.state.device_interval = 0
    proxy.upstream.state.approve_device_after(1)
    started = time.time()
    async with http.get(f"{proxy.base_url}/api-keys/device-flow") as response:
        raw = await response.read()
    events = _parse(raw)
    auth = only_authorization(proxy.upstream)
    assert auth.access_token is not None
    assert [name for name, _ in events] == ["initiated", "pending", "success"]
    initiated = events[0][1]
    assert initiated == {
        "type": "initiated",
        "userCode": auth.user_code,
        "verificationUri": "https://github.com/login/device",
        "expiresIn": 900,
        "expiresAt": initiated["expiresAt"],
        "interval": 0,
    }
    assert abs(initiated["expiresAt"] - (started + 900) * 1000) < 5000
    assert events[1][1] == {"type": "pending", "interval": 0, "slowDown": False}

    success = events[-1][1]
    stored = await proxy.store.get(success["id"])
    assert success == {"type": "success", "id": stored.id, "name": stored.name, "maskedKey": mask_secret(stored.key)}
    assert stored.key == auth.access_token and auth.access_token.encode() not in raw
    assert stored.name.startswith("Key:") and abs(int(stored.name[4:]) - time.time() * 1000) < 60_000
    assert stored.meta is not None  # fetched from GitHub like a key created by POST
    assert stored.is_default  # the first key: "_" works at once


async def test_intervals_and_slow_down_are_honoured(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    state = proxy.upstream.state
    state.device_interval = 0
    state.slow_down_increment = 1
    state.device_flow_script = ["authorization_pending", "slow_down", "authorization_pending", "approve"]
    events = await watch(http, proxy)
    assert [name for name, _ in events] == ["initiated", "pending", "pending", "pending", "success"]
    assert [(d["interval"], d["slowDown"]) for _, d in events[1:4]] == [(0, False), (1, True), (1, False)]
    # The interval GitHub asked for after slow_down was kept between all later polls.
    gaps = only_authorization(proxy.upstream).poll_gaps()
    assert len(gaps) == 3 and all(gap >= 1 - TOLERANCE for gap in gaps[1:])


def _parse(raw: bytes) -> list[Event]:
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], orjson.loads(fields["data"])))
    return events


async def test_two_watchers_share_one_flow(proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None) -> None:
    state = proxy.upstream.state
    state.device_interval = 1
    state.approve_device_after(1)
    url = f"{proxy.base_url}/api-keys/device-flow"
    async with http.get(url) as first, http.get(url) as second:
        first_initiated = await next_event(first)
        second_initiated = await next_event(second)  # replayed: the flow started for the first watcher
        assert first_initiated is not None and second_initiated is not None
        assert second_initiated[1]["userCode"] == first_initiated[1]["userCode"]
        first_rest, second_rest = await asyncio.gather(rest(first), rest(second))
    assert [n for n, _ in first_rest] == [n for n, _ in second_rest] == ["pending", "success"]
    assert first_rest[-1] == second_rest[-1]

    assert len(state.requests_to("/login/device/code")) == 1
    auth = only_authorization(proxy.upstream)
    assert auth.polls[0] - state.requests_to("/login/device/code")[0].time >= 1 - TOLERANCE
    assert auth.poll_gaps()[0] >= 1 - TOLERANCE
    assert len(await proxy.store.find_all()) == 1


async def test_flow_outlives_its_watchers(proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None) -> None:
    state = proxy.upstream.state
    state.device_interval = 1
    state.device_flow_script = ["approve"]
    url = f"{proxy.base_url}/api-keys/device-flow"
    async with http.get(url) as first:
        initiated = await next_event(first)
    async with http.get(url) as second:  # the first left, the flow still runs: same code
        replayed = await next_event(second)
    assert initiated is not None and replayed is not None
    assert replayed[1]["userCode"] == initiated[1]["userCode"]
    assert replayed[1]["expiresIn"] <= initiated[1]["expiresIn"]
    # Nobody watches any more; the flow still runs to its end and stores the key.
    (flow,) = [task for task in asyncio.all_tasks() if task.get_name() == "device-flow"]
    await asyncio.wait_for(flow, 5)
    (key,) = await proxy.store.find_all()
    assert key.key == only_authorization(proxy.upstream).access_token


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (["authorization_pending", "expired_token"], ["initiated", "pending", "expired"]),
        (["access_denied"], ["initiated", "error"]),
        (["incorrect_device_code"], ["initiated", "error"]),
    ],
)
async def test_flow_ends_without_a_key(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None, script: list[str], expected: list[str]
) -> None:
    proxy.upstream.state.device_interval = 0
    proxy.upstream.state.device_flow_script = list(script)
    events = await watch(http, proxy)
    assert [name for name, _ in events] == expected
    assert events[-1][1]["message"]
    assert await proxy.store.find_all() == []


async def test_denied_message(proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None) -> None:
    proxy.upstream.state.device_interval = 0
    proxy.upstream.state.device_flow_script = ["access_denied"]
    events = await watch(http, proxy)
    assert events[-1][1]["message"] == (
        "GitHub refused the device authorization: The authorization request was denied."
    )


async def test_code_expiring_before_approval(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    proxy.upstream.state.device_interval = 0
    proxy.upstream.state.device_expires_in = 0
    events = await watch(http, proxy)
    assert [name for name, _ in events] == ["initiated", "expired"]
    assert events[-1][1]["message"] == "The device code expired before it was authorized"


async def test_github_refusing_the_device_code_then_a_new_flow(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    state = proxy.upstream.state
    state.fail_next(500, path="/login/device/code")
    events = await watch(http, proxy)
    assert events == [("error", {"type": "error", "message": "GitHub refused the device code request (500)"})]
    state.device_interval = 0
    state.device_flow_script = ["approve"]
    assert [name for name, _ in await watch(http, proxy)] == ["initiated", "success"]


async def test_shutdown_ends_the_streams(proxy_config: Config, upstream: FakeUpstream, sqlite_only: None) -> None:
    upstream.state.device_interval = 60
    async with aiohttp.ClientSession() as http:
        async with run_proxy(proxy_config, upstream) as proxy:
            response = await http.get(f"{proxy.base_url}/api-keys/device-flow")
            assert (await next_event(response)) is not None
        # run_proxy has shut down: the stream ended with an error event, well before the poll interval.
        events = await rest(response)
        response.release()
    assert events == [("error", {"type": "error", "message": "proxyd is shutting down"})]


async def test_an_approved_token_already_stored_is_reported(proxy: RunningProxy, sqlite_only: None) -> None:
    keys = proxy.app[KEY_ADMIN]
    first = await keys.create_or_find("Key:1", "gho_" + "C" * 36)
    again = await keys.create_or_find("Key:2", "gho_" + "C" * 36)
    assert again == first


@pytest.mark.parametrize(
    ("current", "answer", "expected"),
    [(5.0, {"interval": 10}, 10.0), (5.0, {}, 10.0), (5.0, {"interval": "x"}, 10.0), (5.0, {"interval": 3}, 5.0)],
)
def test_slowed_interval(current: float, answer: dict[str, Any], expected: float) -> None:
    assert slowed_interval(current, answer) == expected
