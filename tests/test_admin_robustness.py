"""The admin API under bad input and concurrency: never a 500, nothing changed by a rejected request."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import random
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fake_upstream import running_fake_upstream
from proxyd.appkeys import DATABASE
from proxyd.config import Config
from proxyd.keys.records import ApiKey
from tests.conftest import RunningProxy, run_proxy

T = TypeVar("T")
GITHUB_TOKEN = "gho_hardening000000000000000000000000001"


@dataclass
class ThreadedProxy:
    """proxyd and the fake upstream on an event loop of their own, for synchronous (hypothesis) tests."""

    proxy: RunningProxy
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def snapshot(self) -> list[ApiKey]:
        return self.call(self.proxy.store.find_all())

    def request(self, method: str, path: str, body: bytes, content_type: str | None) -> int:
        host, port = self.proxy.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            headers = {"Content-Type": content_type} if content_type else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status >= 400:
                error = orjson.loads(payload)
                assert error["statusCode"] == response.status and error["message"], payload
            return response.status
        finally:
            connection.close()


@pytest.fixture
def threaded(config: Config) -> Iterator[ThreadedProxy]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    started: concurrent.futures.Future[ThreadedProxy] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def serve() -> None:
        async with running_fake_upstream() as upstream, run_proxy(config, upstream) as proxy:
            upstream.state.add_github_token(GITHUB_TOKEN)
            started.set_result(ThreadedProxy(proxy, loop))
            await stop.wait()

    task = asyncio.run_coroutine_threadsafe(serve(), loop)
    try:
        yield started.result(timeout=60)
    finally:
        loop.call_soon_threadsafe(stop.set)
        task.result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


def dumps(value: object) -> bytes:
    return json.dumps(value).encode()  # not orjson: integers beyond 64 bits are good input too


names = st.text(max_size=120) | st.sampled_from(["Robert'); DROP TABLE api_keys;--", "%s %(x)s :id $1", "🔑" * 101])
bodies = st.one_of(
    st.fixed_dictionaries({"name": names | json_values, "key": st.text(max_size=600) | json_values}).map(dumps),
    st.fixed_dictionaries({"id": st.text(max_size=300) | json_values}).map(dumps),
    json_values.map(dumps),
    st.binary(max_size=200),
    st.just(b"\xff\xfe{not utf-8"),
)
ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40).map(lambda s: quote(s, safe="")) | st.sampled_from(
    ["..", "%00", "default", "device-flow", "0" * 300]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(
        [
            ("POST", "/api/api-keys"),
            ("PATCH", "/api/api-keys/{id}"),
            ("DELETE", "/api/api-keys/{id}"),
            ("POST", "/api/api-keys/default"),
            ("POST", "/api/api-keys/{id}/refresh-meta"),
            ("GET", "/api/admin/logs?page={id}&limit={id}"),
            ("POST", "/api/admin/login"),
        ]
    ),
    key_id=ids,
    body=bodies,
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", None]),
)
def test_fuzzed_admin_input(
    threaded: ThreadedProxy, route: tuple[str, str], key_id: str, body: bytes, content_type: str | None
) -> None:
    method, template = route
    before = threaded.snapshot()
    status = threaded.request(method, template.replace("{id}", key_id), body, content_type)
    assert status < 500
    if status >= 400:
        assert threaded.snapshot() == before


def test_sql_metacharacters_round_trip_through_the_api(threaded: ThreadedProxy) -> None:
    name = "Robert'); DROP TABLE api_keys;-- %s %(x)s :id $1 \\ \" ` ü 🔑"
    body = orjson.dumps({"name": name, "key": "gho_meta'\"chars%s:x$1"})
    assert threaded.request("POST", "/api/api-keys", body, "application/json") == 201
    assert [k.name for k in threaded.snapshot()] == [name]


async def test_concurrent_admin_writes_stay_consistent(proxy: RunningProxy) -> None:
    async with aiohttp.ClientSession() as http:

        async def create(i: int) -> str | None:
            body = {"name": f"k{i}", "key": f"gho_concurrent_admin_{i:04d}"}
            async with http.post(f"{proxy.url}/api/api-keys", json=body) as r:
                return str((await r.json())["id"]) if r.status == 201 else None

        ids = [i for i in await asyncio.gather(*(create(i) for i in range(12))) if i]
        assert len(ids) == 12
        rng = random.Random(7)

        async def churn(key_id: str) -> None:
            for action in rng.sample(["rename", "default", "default", "refresh", "delete"], 5):
                if action == "rename":
                    request = http.patch(f"{proxy.url}/api/api-keys/{key_id}", json={"name": "renamed"})
                elif action == "default":
                    request = http.post(f"{proxy.url}/api/api-keys/default", json={"id": key_id})
                elif action == "refresh":
                    request = http.post(f"{proxy.url}/api/api-keys/{key_id}/refresh-meta")
                else:
                    request = http.delete(f"{proxy.url}/api/api-keys/{key_id}")
                async with request as r:
                    assert r.status < 500 or r.status == 502, await r.text()

        await asyncio.gather(*(churn(i) for i in ids))
    database = proxy.app[DATABASE]
    orphans = await database.fetch_one(database.queries["count_orphaned_meta"])
    defaults = await database.fetch_one(database.queries["count_default_keys"])
    assert orphans is not None and int(orphans["n"]) == 0
    assert defaults is not None and int(defaults["n"]) <= 1
    assert len(await proxy.store.find_all()) == 0
