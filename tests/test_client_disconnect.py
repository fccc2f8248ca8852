"""A client that leaves mid-answer: status 499, one short line, never a traceback.

aiohttp tells proxyd in one of two ways: it cancels the handler (connection_lost),
or, when the connection is already closing but connection_lost has not run yet
(a reset seen in the same loop iteration as upstream data, common under load),
a write raises ClientConnectionResetError "Cannot write to closing transport".
The second is a race over real sockets; here a transport that starts closing at
a chosen point makes it deterministic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.client_exceptions import ClientConnectionResetError
from aiohttp.http_writer import StreamWriter
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict, CIMultiDictProxy

from proxyd.appkeys import USAGE
from proxyd.gateway.principal import Principal
from proxyd.gateway.record import RequestRecord
from proxyd.gateway.relay import PassThroughRelay
from proxyd.http.middleware import error_middleware
from proxyd.keys.records import ApiKey
from proxyd.metrics import Metrics
from tests.conftest import RunningProxy
from tests.proxy_clients import add_key, leave_mid_stream

GITHUB_TOKEN = "gho_disconnect0000000000000000000000000001"
EVENTS = [b'data: {"n":1}\n\n', b'data: {"n":2}\n\n', b'data: {"n":3}\n\n']


class ClientConnection(asyncio.Transport):
    """Proxyd's side of a client connection; ``closing`` as when the client reset it."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = False
        self.received = bytearray()

    def is_closing(self) -> bool:
        return self.closing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.received += data


class Protocol(BaseProtocol):
    """What web.Request reads of aiohttp's RequestHandler (BaseProtocol has slots: no attributes)."""

    ssl_context = None
    peername = ("127.0.0.1", 40000)
    sockname = ("127.0.0.1", 3000)


class UpstreamAnswer:
    """What the relay reads of Copilot's answer; the client leaves before chunk ``leave_at``."""

    def __init__(self, chunks: list[bytes], content_type: str, client: ClientConnection, leave_at: int) -> None:
        self.status = 200
        self.content_type = content_type
        self.headers = CIMultiDictProxy(CIMultiDict({"Content-Type": content_type}))
        self.content = self
        self._chunks, self._client, self._leave_at = chunks, client, leave_at

    def is_eof(self) -> bool:
        return False  # still arriving: read chunk by chunk

    async def iter_any(self) -> AsyncIterator[bytes]:
        for n, chunk in enumerate(self._chunks):
            if n == self._leave_at:
                self._client.closing = True
            yield chunk
        if self._leave_at == len(self._chunks):
            self._client.closing = True


@pytest.mark.parametrize(
    ("chunks", "content_type", "leave_at"),
    [
        (EVENTS, "text/event-stream", -1),  # before the status line
        (EVENTS, "text/event-stream", 1),  # between two events
        ([*EVENTS, b'data: {"n":'], "text/event-stream", 4),  # before the unfinished last event
        (EVENTS, "text/event-stream", 3),  # before the end of the stream
        ([b'{"id":"x","usage":{"total_tokens":3}}'], "application/json", 1),  # before the end of a JSON answer
    ],
    ids=["status-line", "mid-stream", "pending-event", "end-of-stream", "end-of-json"],
)
async def test_write_to_a_leaving_client_is_a_499(
    chunks: list[bytes], content_type: str, leave_at: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="proxyd")
    client = ClientConnection()
    client.closing = leave_at < 0
    protocol = Protocol(asyncio.get_running_loop())
    protocol.connection_made(client)
    writer = StreamWriter(protocol, asyncio.get_running_loop())
    request = make_mocked_request("POST", "/v1/chat/completions", writer=writer, protocol=protocol, transport=client)
    record = RequestRecord(
        "/chat/completions", Principal(ApiKey(id="k", name="k", key=GITHUB_TOKEN, created_at=1), True)
    )
    upstream = UpstreamAnswer(chunks, content_type, client, leave_at)
    await PassThroughRelay(Metrics())(request, cast(aiohttp.ClientResponse, upstream), record)
    assert record.status == 499
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert [r.getMessage() for r in caplog.records] == ["client went away mid-answer on /chat/completions"]


async def test_client_leaving_mid_stream_is_one_line(
    proxy: RunningProxy, caplog: pytest.LogCaptureFixture, sqlite_only: None
) -> None:
    caplog.set_level(logging.INFO)
    await add_key(proxy, GITHUB_TOKEN, "disconnect", default=True)
    async with aiohttp.ClientSession() as http:
        await leave_mid_stream(proxy, http)
        assert await proxy.app[USAGE].flush()
        async with http.get(f"{proxy.base_url}/admin/logs") as r:
            logs: Any = await r.json()
    assert [entry["status"] for entry in logs["logs"]] == [499]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    lines = [r.getMessage() for r in caplog.records if "chat/completions" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("POST /v1/chat/completions 499 "), caplog.text


@pytest.mark.parametrize("client_left", [True, False])
async def test_error_middleware_tells_a_leaving_client_from_a_bug(
    client_left: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Any handler (the device-flow stream, say) that writes to a client that has left."""
    client = ClientConnection()
    client.closing = client_left
    request = make_mocked_request("GET", "/api/api-keys/device-flow", transport=client)

    async def handler(request: web.Request) -> web.StreamResponse:
        raise ClientConnectionResetError("Cannot write to closing transport")

    response = await error_middleware(request, handler)
    tracebacks = [r for r in caplog.records if r.exc_info]
    if client_left:
        assert response.status == 499 and not tracebacks
    else:
        assert response.status == 500 and len(tracebacks) == 1  # a bug: the traceback is wanted
