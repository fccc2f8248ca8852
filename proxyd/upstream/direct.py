"""Copilot API calls on proxyd's own keep-alive connections: the request path's one hot call, without aiohttp's client.

For every request aiohttp's ``ClientSession`` builds a ``ClientRequest`` (the
headers merged into a multidict, a payload object, a task that writes the
body, timers) and reads the answer through a response handler; under
callgrind that came to a third of proxyd's instructions per request
(``bench/REPORT.md``). A Copilot call always has one shape: a method, a
target on one host, headers proxyd chose, a body of known length. Here it is
written in one go on a pooled connection, and the answer is parsed by
httptools (llhttp, Node.js's parser) into a ``DirectBody`` that the relays
read as they read aiohttp's: ``is_eof``, ``read_nowait``, ``iter_any``,
``read``.

Calls through an outgoing proxy (``HTTPS_PROXY``...) keep aiohttp's client,
which speaks CONNECT. Failures raise aiohttp's exception types (a lost
connection, a read timeout), so the callers treat both clients alike.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import aiohttp
import httptools
from multidict import CIMultiDict, CIMultiDictProxy

# An idle connection older than this is closed, not reused: the server may be closing it right now
# (aiohttp's TCPConnector keeps them as long).
KEEP_ALIVE = 15.0
# Past this many unread bytes of an answer, the connection stops reading until the relay catches up.
_HIGH_WATER = 256 * 1024
_ACCEPT_ENCODING = "gzip, deflate"


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a URL's calls go: the connection pool's key, the ``Host`` header and the request target."""

    scheme: str
    host: str
    port: int
    authority: str
    path: str

    @property
    def pool_key(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


def _target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise aiohttp.InvalidURL(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(parts.scheme, parts.hostname, port, parts.netloc.rpartition("@")[2], target)


class DirectBody:
    """An answer's body as it arrives; ``read`` and ``iter_any`` wait for more, failures surface in order."""

    def __init__(self, connection: _Connection, encoding: str | None) -> None:
        self._connection = connection
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._eof = False
        self._exception: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._inflater = _inflater(encoding)

    def feed(self, data: bytes) -> None:
        if self._inflater is not None:
            try:
                data = self._inflater.decompress(data)
            except zlib.error:
                self.fail(aiohttp.ClientPayloadError("Can not decode content-encoding"))
                self._connection.abort()
                return
        if data:
            self._chunks.append(data)
            self._size += len(data)
            if self._size > _HIGH_WATER:
                self._connection.pause_reading()
        self._wake()

    def end(self) -> None:
        if self._inflater is not None:
            rest = self._inflater.flush()
            if rest:
                self._chunks.append(rest)
                self._size += len(rest)
        self._eof = True
        self._wake()

    def fail(self, exc: BaseException) -> None:
        if not self._eof:
            self._exception = exc
        self._wake()

    def is_eof(self) -> bool:
        return self._eof and not self._chunks

    def read_nowait(self) -> bytes:
        """What arrived and was not read yet (``b""`` for nothing); the failure once nothing is left."""
        if not self._chunks:
            if self._exception is not None:
                raise self._exception
            return b""
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        if not self._eof:  # once its answer ended, the connection may be serving another call
            self._connection.resume_reading()
        return data

    async def readany(self) -> bytes:
        """The next bytes, as many as arrived; ``b""`` at the end."""
        while not self._chunks and not self._eof and self._exception is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.read_nowait()

    async def read(self, n: int = -1) -> bytes:
        """The rest of the body, or its next ``n`` bytes at most when ``n`` >= 0."""
        parts: list[bytes] = []
        size = 0
        while n < 0 or size < n:
            chunk = await self.readany()
            if not chunk:
                break
            if n >= 0 and size + len(chunk) > n:
                self._chunks.appendleft(chunk[n - size :])
                self._size += len(chunk) - (n - size)
                chunk = chunk[: n - size]
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)

    def iter_any(self) -> DirectBody:
        return self

    def __aiter__(self) -> DirectBody:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.readany()
        if not chunk:
            raise StopAsyncIteration
        return chunk

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _inflater(encoding: str | None) -> zlib._Decompress | None:
    coding = (encoding or "").strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=31)
    if coding == "deflate":
        return zlib.decompressobj(wbits=47)  # zlib or raw deflate, as servers send either
    return None


class DirectResponse:
    """Copilot's answer: its status and headers, its body still arriving."""

    def __init__(self, status: int, headers: CIMultiDictProxy[str], content: DirectBody, connection: _Connection):
        self.status = status
        self.headers = headers
        self.content = content
        self._connection = connection

    @property
    def content_type(self) -> str:
        raw = self.headers.get("Content-Type")
        return raw.partition(";")[0].strip().lower() if raw else "application/octet-stream"

    async def read(self) -> bytes:
        return await self.content.read()

    async def __aenter__(self) -> DirectResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    def release(self) -> None:
        self.close()

    def close(self) -> None:
        """Done with it: an answer not read to its end drops its connection, so Copilot stops sending."""
        if not self.content._eof:
            self._connection.abort()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one call at a time, its answer parsed as it arrives."""

    def __init__(self, pool: DirectClient, key: tuple[str, str, int], read_timeout: float) -> None:
        self._pool = pool
        self.key = key
        self._read_timeout = read_timeout
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self._raw_headers: list[tuple[str, str]] = []
        self._answer: asyncio.Future[DirectResponse] | None = None
        self._body: DirectBody | None = None
        self._headers: CIMultiDictProxy[str] | None = None
        # One timer per call, not one per packet: when it fires it looks at when the last bytes came.
        self._timer: asyncio.TimerHandle | None = None
        self._last_read = 0.0
        self._reading_paused = False
        self.idle_since = 0.0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._failed(aiohttp.ClientPayloadError(f"Copilot API sent a malformed answer ({exc})"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._cancel_timer()
        self._pool.forget(self)
        body = self._body
        if body is not None and not body._eof and self._reads_to_close():
            body.end()  # neither a length nor chunks: the body ends where the connection does
            return
        self._failed(aiohttp.ServerDisconnectedError() if self._body is None else _incomplete())

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        headers = CIMultiDictProxy(CIMultiDict(self._raw_headers))
        self._raw_headers = []
        body = self._body = DirectBody(self, headers.get("Content-Encoding"))
        self._headers = headers
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_result(DirectResponse(self._parser.get_status_code(), headers, body, self))

    def on_body(self, data: bytes) -> None:
        if self._body is not None:
            self._body.feed(data)

    def on_message_complete(self) -> None:
        self._cancel_timer()
        body = self._body
        if body is not None:
            body.end()
        self.resume_reading()  # a pause its last bytes asked for must not hold the next call's answer
        if self._parser.should_keep_alive() and self.transport is not None and not self.transport.is_closing():
            self._pool.keep(self)
        else:
            self.abort()

    # the pool's side

    def send(self, request: bytes) -> asyncio.Future[DirectResponse]:
        assert self.transport is not None
        self._body = None
        self._headers = None
        self._answer = self._loop.create_future()
        self.transport.write(request)
        self._arm_timer()
        return self._answer

    def usable(self, now: float) -> bool:
        return self.transport is not None and not self.transport.is_closing() and now - self.idle_since < KEEP_ALIVE

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self._cancel_timer()  # waiting on the relay, not on Copilot
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
            if self._body is not None and not self._body._eof:
                self._arm_timer()

    def _reads_to_close(self) -> bool:
        headers = self._headers
        return headers is not None and "Content-Length" not in headers and "Transfer-Encoding" not in headers

    def _failed(self, exc: BaseException) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_exception(exc)
        elif self._body is not None:
            self._body.fail(exc)

    def _arm_timer(self) -> None:
        self._last_read = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(self._last_read + self._read_timeout, self._check_silence)

    def _check_silence(self) -> None:
        self._timer = None
        if self._answer is None or self._reading_paused or (self._body is not None and self._body._eof):
            return  # no call waiting on Copilot: nothing to time
        due = self._last_read + self._read_timeout
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._check_silence)
            return
        self._failed(aiohttp.ServerTimeoutError("Timeout on reading data from socket"))
        self.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _incomplete() -> aiohttp.ClientPayloadError:
    return aiohttp.ClientPayloadError("Response payload is not completed")


class DirectClient:
    """Keep-alive connections per host, reused for one call at a time; ``request`` is the one call."""

    def __init__(self, *, connect_timeout: float, read_timeout: float) -> None:
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._targets: dict[str, _Target] = {}
        self._tls: ssl.SSLContext | None = None

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> DirectResponse:
        target = self._targets.get(url)
        if target is None:
            target = self._targets[url] = _target(url)
            if len(self._targets) > 256:  # proxyd calls a handful of URLs; a bound all the same
                self._targets.pop(next(iter(self._targets)))
        request = _request_bytes(method, target, headers, body)
        connection = self._idle_connection(target) or await self._connect(target)
        self._busy.add(connection)
        try:
            return await connection.send(request)
        except BaseException:
            connection.abort()  # a call given up (the client left, a timeout) must not leave Copilot working
            raise

    def keep(self, connection: _Connection) -> None:
        """``connection``'s answer ended: it waits for the next call."""
        self._busy.discard(connection)
        connection.idle_since = time.monotonic()
        self._idle.setdefault(connection.key, []).append(connection)

    def forget(self, connection: _Connection) -> None:
        self._busy.discard(connection)
        idle = self._idle.get(connection.key)
        if idle is not None and connection in idle:
            idle.remove(connection)

    async def __aenter__(self) -> DirectClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for connection in [*self._busy, *(c for idle in self._idle.values() for c in idle)]:
            connection.abort()
        self._idle.clear()
        self._busy.clear()

    def _idle_connection(self, target: _Target) -> _Connection | None:
        idle = self._idle.get(target.pool_key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.usable(now):
                return connection
            connection.abort()
        return None

    async def _connect(self, target: _Target) -> _Connection:
        loop = asyncio.get_running_loop()
        key = target.pool_key
        tls = self._tls_context() if target.scheme == "https" else None
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self, key, self._read_timeout),
                    target.host,
                    target.port,
                    ssl=tls,
                    server_hostname=target.host if tls is not None else None,
                )
        except TimeoutError:
            raise aiohttp.ConnectionTimeoutError(f"Connection timeout to {target.authority}") from None
        except (OSError, ssl.SSLError) as exc:
            raise aiohttp.ClientConnectionError(f"Cannot connect to {target.authority}: {exc}") from exc
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls


def _request_bytes(method: str, target: _Target, headers: dict[str, str], body: bytes | None) -> bytes:
    # One scan of every name and value together, not one per header and character: this runs for every call.
    if _breaks_line("".join(headers) + "".join(headers.values())):
        name = next(name for name, value in headers.items() if _breaks_line(name + value))
        # As aiohttp refuses them: a line break in a value would start a header of its own.
        raise ValueError(f"Newline or carriage return character detected in HTTP header {name!r}")
    lines = [f"{method} {target.path} HTTP/1.1\r\nHost: {target.authority}\r\nAccept-Encoding: {_ACCEPT_ENCODING}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}\r\n")
    lines.append("\r\n")
    head = "".join(lines).encode("utf-8")
    return head + body if body else head


def _breaks_line(text: str) -> bool:
    return "\r" in text or "\n" in text or "\x00" in text


# Copilot's answer as the relays read it, from either client.
UpstreamResponse = aiohttp.ClientResponse | DirectResponse
