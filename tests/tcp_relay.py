"""A loopback TCP relay the tests put between proxyd and its database, to inject faults.

- ``cut()`` / ``restore()``: the database goes away (connections dropped, new ones refused) and comes back.
- ``freeze()`` / ``thaw()``: the database stops answering without closing anything, as a server
  stopped with SIGSTOP (or a half-open connection) does; the test's shared server stays untouched.
- ``CommitLosingRelay.lose_next_commit()``: the next COMMIT, or the server's acknowledgement of it,
  is lost with its connection, as when a network fails at that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

from proxyd.db.url import DatabaseUrl


class TcpRelay:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones, as a database crash would."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def relayed_url(self, url: DatabaseUrl) -> DatabaseUrl:
        """``url`` (the relay's target) reached through the relay instead."""
        return DatabaseUrl.parse(url.raw.replace(f":{url.port}/", f":{self.port}/"))

    async def restore(self) -> None:
        await self.start()  # same port again

    def freeze(self) -> None:
        """Stop forwarding in both directions, closing nothing: connections (new ones too) just hang."""
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    async def close(self) -> None:
        """Cut, and let every relayed connection wind down before the test's event loop goes away."""
        self.thaw()
        await self.cut()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._relay(client_reader, client_writer)
        finally:
            self._tasks.discard(task)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await self._connect(client_writer)
        if server_writer is None:
            return
        await asyncio.gather(
            self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer), return_exceptions=True
        )
        self._writers.difference_update((client_writer, server_writer))

    async def _connect(
        self, client_writer: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter | None]:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return asyncio.StreamReader(), None
        self._writers.update((client_writer, server_writer))
        return server_reader, server_writer

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()


Protocol = Literal["postgresql", "mysql"]
LostPart = Literal["request", "reply"]

# PostgreSQL messages a client sends before its startup message, without a type byte.
_PG_SSL_REQUEST, _PG_GSSENC_REQUEST = 80877103, 80877104
_MYSQL_COM_QUERY = 0x03


class _ClientFrames:
    """Splits the bytes a client sends into protocol messages (unencrypted connections only)."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self._buffer = bytearray()
        self._started = False  # PostgreSQL: past the untyped startup messages

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """The messages ``data`` completes, each with its end offset in ``data``."""
        start = len(self._buffer)
        self._buffer += data
        frames: list[tuple[int, bytes]] = []
        consumed = 0
        while (size := self._next_size(self._buffer[consumed:])) is not None:
            frame = bytes(self._buffer[consumed : consumed + size])
            consumed += size
            frames.append((consumed - start, frame))
        del self._buffer[:consumed]
        return frames

    def _next_size(self, buffer: bytearray) -> int | None:
        if self.protocol == "mysql":  # 3-byte little-endian payload length, 1-byte sequence number
            if len(buffer) < 4:
                return None
            size = 4 + int.from_bytes(buffer[:3], "little")
        elif not self._started:  # int32 length (itself included), int32 request code
            if len(buffer) < 8:
                return None
            size = int.from_bytes(buffer[:4], "big")
            if len(buffer) >= size and int.from_bytes(buffer[4:8], "big") not in (_PG_SSL_REQUEST, _PG_GSSENC_REQUEST):
                self._started = True
        else:  # type byte, int32 length (itself included)
            if len(buffer) < 5:
                return None
            size = 1 + int.from_bytes(buffer[1:5], "big")
        return size if len(buffer) >= size else None

    def is_commit(self, frame: bytes) -> bool:
        if self.protocol == "mysql":
            command, text = frame[4:5], frame[5:]
            if command != bytes([_MYSQL_COM_QUERY]):
                return False
        else:
            if not self._started or frame[:1] != b"Q":
                return False
            text = frame[5:].rstrip(b"\0")
        return text.strip().rstrip(b";").strip().upper() == b"COMMIT"


class CommitLosingRelay(TcpRelay):
    """A relay that understands just enough of the database protocol to lose one COMMIT on demand.

    ``lose_next_commit("reply")``: the next COMMIT reaches the server, which commits, but its
    acknowledgement never reaches the client: the connection is cut instead. ``"request"``: the
    COMMIT itself is cut off before the server sees it, so the server rolls the transaction back.
    """

    def __init__(self, target_host: str, target_port: int, protocol: Protocol) -> None:
        super().__init__(target_host, target_port)
        self.protocol = protocol
        self._armed: LostPart | None = None
        self.lost: list[LostPart] = []

    def lose_next_commit(self, part: LostPart) -> None:
        self._armed = part

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await self._connect(client_writer)
        if server_writer is None:
            return
        awaiting_reply = asyncio.Event()  # set once a COMMIT whose answer is to be lost went to the server

        def drop() -> None:
            for writer in (client_writer, server_writer):
                writer.transport.abort()

        async def client_to_server() -> None:
            frames = _ClientFrames(self.protocol)
            try:
                while data := await client_reader.read(65536):
                    await self._flowing.wait()
                    for end, frame in frames.feed(data):
                        if self._armed is None or not frames.is_commit(frame):
                            continue
                        part, self._armed = self._armed, None
                        self.lost.append(part)
                        if part == "request":
                            server_writer.write(data[: max(0, end - len(frame))])
                            drop()
                            return
                        awaiting_reply.set()
                    server_writer.write(data)
                    await server_writer.drain()
            finally:
                with contextlib.suppress(Exception):
                    server_writer.close()

        async def server_to_client() -> None:
            try:
                while data := await server_reader.read(65536):
                    await self._flowing.wait()
                    if awaiting_reply.is_set():
                        drop()  # the server committed; the client never hears of it
                        return
                    client_writer.write(data)
                    await client_writer.drain()
            finally:
                with contextlib.suppress(Exception):
                    client_writer.close()

        await asyncio.gather(client_to_server(), server_to_client(), return_exceptions=True)
        self._writers.difference_update((client_writer, server_writer))
