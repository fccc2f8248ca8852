"""proxyd's own upstream connections (upstream/direct.py), against a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import gzip
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from proxyd.upstream.direct import DirectClient
from tests.served import served


class Upstream:
    """An aiohttp server that records what it received and which connection each call came on."""

    def __init__(self) -> None:
        self.peers: list[object] = []
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.disconnected = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.answer)

    async def answer(self, request: web.Request) -> web.StreamResponse:
        self.peers.append(request.transport)
        body = await request.read()
        self.received.append((f"{request.method} {request.path_qs}", dict(request.headers), body))
        kind = request.path.strip("/")
        if kind == "chunks":
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for n in range(3):
                await response.write(f"data: {n}\n\n".encode())
                await asyncio.sleep(0.01)
            await response.write_eof()
            return response
        if kind == "endless":
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            try:
                while True:
                    await response.write(b"data: more\n\n")
                    await asyncio.sleep(0.01)
            except (ConnectionResetError, asyncio.CancelledError):
                self.disconnected.set()
                raise
        if kind == "silent":
            await asyncio.sleep(2)  # beyond the client's read timeout
        if kind == "gzip":
            return web.Response(body=gzip.compress(b'{"zipped":true}'), headers={"Content-Encoding": "gzip"})
        if kind == "close":
            return web.Response(body=b"bye", headers={"Connection": "close"})
        return web.json_response({"echo": body.decode()}, status=201)


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    server = Upstream()
    async with served(server.app) as base:
        yield server, base


@pytest.fixture
async def client() -> AsyncIterator[DirectClient]:
    async with DirectClient(connect_timeout=2, read_timeout=0.5) as direct:
        yield direct


async def test_calls_share_one_kept_alive_connection(upstream: tuple[Upstream, str], client: DirectClient) -> None:
    server, base = upstream
    for n in range(3):
        response = await client.request("POST", f"{base}/plain?n={n}", {"X-Call": str(n)}, b'{"n":1}')
        assert response.status == 201 and response.content_type == "application/json"
        assert await response.read() == b'{"echo": "{\\"n\\":1}"}'
        response.close()
    assert len(set(map(id, server.peers))) == 1
    line, headers, body = server.received[-1]
    assert line == "POST /plain?n=2" and headers["X-Call"] == "2" and headers["Content-Length"] == "7"
    assert headers["Host"] == base.removeprefix("http://") and body == b'{"n":1}'


async def test_a_stream_arrives_chunk_by_chunk(upstream: tuple[Upstream, str], client: DirectClient) -> None:
    _, base = upstream
    response = await client.request("GET", f"{base}/chunks", {}, None)
    assert response.content_type == "text/event-stream"
    chunks = [chunk async for chunk in response.content.iter_any()]
    assert b"".join(chunks) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n" and len(chunks) >= 2
    assert response.content.is_eof()


async def test_closing_an_unfinished_answer_drops_its_connection(
    upstream: tuple[Upstream, str], client: DirectClient
) -> None:
    server, base = upstream
    response = await client.request("POST", f"{base}/endless", {}, b"{}")
    assert await response.content.readany()
    response.close()  # the client left: Copilot must stop generating
    await asyncio.wait_for(server.disconnected.wait(), 5)
    again = await client.request("POST", f"{base}/plain", {}, b"{}")
    assert again.status == 201 and len(set(map(id, server.peers))) == 2


async def test_a_silent_upstream_times_out(upstream: tuple[Upstream, str], client: DirectClient) -> None:
    _, base = upstream
    with pytest.raises(TimeoutError):
        await client.request("POST", f"{base}/silent", {}, b"{}")


async def test_answers_are_inflated_and_connection_close_is_honoured(
    upstream: tuple[Upstream, str], client: DirectClient
) -> None:
    server, base = upstream
    zipped = await client.request("GET", f"{base}/gzip", {}, None)
    assert server.received[-1][1]["Accept-Encoding"] == "gzip, deflate"
    assert await zipped.read() == b'{"zipped":true}'
    closing = await client.request("GET", f"{base}/close", {}, None)
    assert await closing.read() == b"bye"
    after = await client.request("GET", f"{base}/plain", {}, None)
    assert after.status == 201
    assert len(set(map(id, server.peers))) == 2  # the one after Connection: close came on a new connection


async def test_a_lost_connection_is_a_client_error(client: DirectClient) -> None:
    async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(cut_short, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        response = await client.request("GET", f"http://127.0.0.1:{port}/", {}, None)
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    with pytest.raises(aiohttp.ClientConnectionError):
        await client.request("GET", f"http://127.0.0.1:{port}/", {}, None)  # nobody listens any more


@pytest.mark.parametrize(
    ("name", "value"),
    [("anthropic-beta", "x\r\nInjected: 1"), ("anthropic-beta", "x\ny"), ("anthropic-beta", "x\x00"), ("a\rb", "x")],
)
async def test_a_line_break_in_a_header_is_refused(client: DirectClient, name: str, value: str) -> None:
    headers = {"X-Request-Id": "fine", name: value}
    with pytest.raises(ValueError, match="Newline.*" + re.escape(repr(name))):
        await client.request("GET", "http://127.0.0.1:1/", headers, None)


def test_the_same_calls_on_uvloop() -> None:
    """proxyd serves on uvloop when it is installed: its transports are not asyncio's own classes."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> None:
        server = Upstream()
        async with served(server.app) as base, DirectClient(connect_timeout=2, read_timeout=2) as client:
            for _ in range(2):
                response = await client.request("POST", f"{base}/plain", {}, b"{}")
                assert response.status == 201 and await response.read() == b'{"echo": "{}"}'
            stream = await client.request("GET", f"{base}/chunks", {}, None)
            assert b"".join([chunk async for chunk in stream.content.iter_any()]).count(b"data:") == 3
        assert len(set(map(id, server.peers))) == 1

    uvloop.run(scenario())
