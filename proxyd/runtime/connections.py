"""A cap on open client connections, below the open-file limit (``PROXYD_MAX_CONNECTIONS``).

Every connection holds a file descriptor. Without a cap, enough idle
connections (opened and left silent, or kept alive between requests) use up
the process's open-file limit: accept() then fails and every new client waits
in the kernel's backlog until some of them close, ``/healthz`` included.

With the cap, a new connection that would pass it first makes room: the
connections idle the longest (waiting for a request, never inside one) are
closed, a batch at a time. Only when every open connection is busy is the new
one refused, with a bare ``503``. Both are counted
(``proxyd_connections_shed_total``) and logged at most once a minute.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import resource
import socket
import time
from collections.abc import Callable
from typing import cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from proxyd.metrics import Labels

log = logging.getLogger("proxyd")

# Descriptors kept for everything but client connections: the listening sockets, the event loop's,
# the database pool, log streams, DNS, token exchanges with GitHub.
RESERVED_DESCRIPTORS = 64
# The open-file limit taken when there is none (RLIM_INFINITY).
UNLIMITED_FILES = 1 << 20
# The smallest default cap, however low the open-file limit.
MIN_DEFAULT_CONNECTIONS = 16
# Connections closed at once when the cap is reached, as a fraction of it: finding the idle ones
# looks at every connection, so it is done once per batch rather than once per new connection.
EVICTION_BATCH_FRACTION = 64
# A refused connection waits this long for its request before it is cut off; at most this many wait.
REFUSAL_WAIT = 1.0
REFUSALS_WAITING = 16
# At most one log line about the cap per this many seconds.
REPORT_INTERVAL = 60.0

_REFUSAL = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n"


def open_file_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return UNLIMITED_FILES if soft == resource.RLIM_INFINITY else soft


def default_max_connections(file_limit: int | None = None) -> int:
    """The cap when PROXYD_MAX_CONNECTIONS is unset: half of what the open-file limit leaves.

    Half, because a connection with a request in flight also holds one to Copilot.
    """
    files = open_file_limit() if file_limit is None else file_limit
    return max(MIN_DEFAULT_CONNECTIONS, (files - RESERVED_DESCRIPTORS) // 2)


def _idle(handler: RequestHandler) -> bool:
    # As aiohttp's own keep-alive expiry decides it: waiting for the next request (or the first).
    waiter = getattr(handler, "_waiter", None)
    return waiter is not None and not waiter.done()


def _idle_since(handler: RequestHandler) -> float:
    # aiohttp moves this deadline to the end of each request (plus the keep-alive timeout): the
    # smallest belongs to the connection idle the longest.
    return float(getattr(handler, "_next_keepalive_close_time", 0.0))


class _Refused(asyncio.Protocol):
    """A connection over the cap while every other is busy: its request gets a bare 503, then it is closed.

    The answer waits for the request's first bytes: closing a socket with a request unread makes the
    kernel reset the connection, and the client would see that instead of the 503. A client that sends
    nothing for REFUSAL_WAIT seconds, or arrives while REFUSALS_WAITING others wait, is cut off at once.
    """

    def __init__(self, cap: ConnectionCap) -> None:
        self._cap = cap
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is one without being a subclass
        if self._cap.refusals_waiting >= REFUSALS_WAITING:
            transport.abort()
            return
        self._cap.refusals_waiting += 1
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(REFUSAL_WAIT, transport.abort)

    def data_received(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(_REFUSAL)
            self._transport.close()  # once the answer is out

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._cap.refusals_waiting -= 1
            self._timer = None


class ConnectionCap:
    """The protocol factory the listening sockets accept through: aiohttp's, behind the cap."""

    def __init__(self, server: web.Server, limit: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.server = server
        self.limit = limit
        self._batch = max(1, limit // EVICTION_BATCH_FRACTION)
        # At least the number of open connections: the last count plus those accepted since.
        self._upper_bound = 0
        self.closed_idle = 0
        self.refused = 0
        self._clock = clock
        self._reported_at: float | None = None
        self._closed_unreported = 0
        self._refused_unreported = 0
        self.refusals_waiting = 0

    def protocol(self) -> asyncio.BaseProtocol:
        """Called by the event loop for each accepted connection."""
        if self._upper_bound >= self.limit:
            self._make_room()
            if self._upper_bound >= self.limit:
                self.refused += 1
                self._refused_unreported += 1
                self._report()
                return _Refused(self)
        self._upper_bound += 1
        return self.server()

    def _make_room(self) -> None:
        connections = self.server.connections
        self._upper_bound = len(connections)
        if self._upper_bound < self.limit:
            return
        wanted = self._upper_bound - self.limit + self._batch
        oldest = heapq.nsmallest(wanted, filter(_idle, connections), key=_idle_since)
        for handler in oldest:
            handler.force_close()  # its descriptor is closed on the loop's next pass
        self._upper_bound -= len(oldest)
        self.closed_idle += len(oldest)
        self._closed_unreported += len(oldest)
        if oldest:
            self._report()

    def _report(self) -> None:
        now = self._clock()
        if self._reported_at is not None and now - self._reported_at < REPORT_INTERVAL:
            return
        log.warning(
            "connection limit reached (PROXYD_MAX_CONNECTIONS=%d): closed %d idle connection(s) and refused %d new "
            "one(s) while all were busy%s",
            self.limit,
            self._closed_unreported,
            self._refused_unreported,
            "" if self._reported_at is None else " in the last minute",
        )
        self._reported_at = now
        self._closed_unreported = self._refused_unreported = 0

    def samples(self) -> list[tuple[Labels, float]]:
        return [((("action", "closed_idle"),), self.closed_idle), ((("action", "refused"),), self.refused)]


class CappedSite(web.SockSite):
    """aiohttp's SockSite, accepting through a ConnectionCap."""

    __slots__ = ("_cap",)

    def __init__(self, runner: web.BaseRunner, sock: socket.socket, cap: ConnectionCap, *, backlog: int) -> None:
        super().__init__(runner, sock, backlog=backlog)
        self._cap = cap

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner, which stops it at shutdown
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._cap.protocol, sock=self._sock, backlog=self._backlog)
