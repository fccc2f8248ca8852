"""HTTP(S)_PROXY and NO_PROXY apply to proxyd's calls to GitHub and Copilot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bench.floor import stream_back
from tests.conftest import RunningProxy
from tests.served import served

GITHUB_TOKEN = "gho_outgoingproxy0000000000000000000001"


class ForwardProxy:
    """A minimal HTTP forward proxy (absolute-form requests) that records the hosts it was asked for."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.forward)

    async def forward(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(f"{request.method} {request.url}")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "proxy-connection")}
        async with (
            aiohttp.ClientSession(trust_env=False) as session,
            session.request(request.method, str(request.url), headers=headers, data=await request.read()) as upstream,
        ):
            return await stream_back(request, upstream)


@pytest.fixture
async def forward_proxy() -> AsyncIterator[tuple[ForwardProxy, str]]:
    proxy = ForwardProxy()
    async with served(proxy.app) as url:
        yield proxy, url


@pytest.fixture
def proxy_env(forward_proxy: tuple[ForwardProxy, str], monkeypatch: pytest.MonkeyPatch) -> ForwardProxy:
    # The upstream is plain http on loopback, so HTTP_PROXY is the variable that applies here;
    # HTTPS_PROXY works the same way for https:// GitHub and Copilot.
    monkeypatch.setenv("HTTP_PROXY", forward_proxy[1])
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    return forward_proxy[0]


async def _use(proxy: RunningProxy) -> None:
    proxy.upstream.state.add_github_token(GITHUB_TOKEN)
    await proxy.store.create("via proxy", GITHUB_TOKEN)
    async with (
        aiohttp.ClientSession(trust_env=False) as http,
        http.get(f"{proxy.url}/v1/models", headers={"Authorization": f"Bearer {GITHUB_TOKEN}"}) as r,
    ):
        assert r.status == 200


async def test_calls_go_through_the_configured_proxy(
    proxy_env: ForwardProxy, proxy: RunningProxy, sqlite_only: None
) -> None:
    await _use(proxy)
    assert any("/copilot_internal/v2/token" in seen for seen in proxy_env.seen)
    assert any(seen.endswith("/models") for seen in proxy_env.seen)


@pytest.fixture
def no_proxy_env(proxy_env: ForwardProxy, monkeypatch: pytest.MonkeyPatch) -> ForwardProxy:
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    return proxy_env


async def test_no_proxy_hosts_are_reached_directly(
    no_proxy_env: ForwardProxy, proxy: RunningProxy, sqlite_only: None
) -> None:
    await _use(proxy)
    assert no_proxy_env.seen == []
