"""What the end-to-end tests do to a running proxy as its clients: add a key, talk through the openai SDK, hang up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
import openai

from proxyd.appkeys import RESOLVER
from proxyd.keys.records import ApiKey
from tests.conftest import RunningProxy

ClientFactory = Callable[..., openai.AsyncOpenAI]


async def add_key(proxy: RunningProxy, token: str, name: str = "test key", *, default: bool = False) -> ApiKey:
    """A key for ``token``, which the fake upstream accepts; the default key if ``default``."""
    proxy.upstream.state.add_github_token(token)
    api_key = await proxy.store.create(name, token)
    if default:
        await proxy.store.set_default(api_key.id)
    proxy.app[RESOLVER].invalidate()
    return api_key


@asynccontextmanager
async def openai_clients(default_key: str) -> AsyncIterator[ClientFactory]:
    """Makes openai clients for a proxy, and closes them before the event loop goes."""
    made: list[openai.AsyncOpenAI] = []

    def make(proxy: RunningProxy, key: str = default_key, base: str = "/v1") -> openai.AsyncOpenAI:
        made.append(openai.AsyncOpenAI(base_url=proxy.url + base, api_key=key, max_retries=0, timeout=10))
        return made[-1]

    try:
        yield make
    finally:
        for ai in made:
            await ai.close()


async def leave_mid_stream(proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    """Starts a slow streamed completion, reads its first line and hangs up; returns once the upstream saw that."""
    state = proxy.upstream.state
    state.stream_chunks = 50
    state.stream_chunk_delay = 0.05
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream": True}
    async with http.post(f"{proxy.url}/v1/chat/completions", json=body) as r:
        await r.content.readline()
    # leaving the block closes the connection mid-stream
    await asyncio.wait_for(state.stream_cancelled.wait(), 5)
