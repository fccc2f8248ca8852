"""PROXYD_MAX_CONNECTIONS: idle connections cannot lock clients out, whatever the open-file limit.

The real ``proxyd serve`` (its own process, its own open-file limit); the database does not matter: SQLite only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from proxyd.config import Config
from proxyd.db.schema import Migrator
from proxyd.errors import ConfigError
from proxyd.runtime.connections import MIN_DEFAULT_CONNECTIONS, RESERVED_DESCRIPTORS, default_max_connections
from tests.daemon import Daemon

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@contextlib.asynccontextmanager
async def running(config: Config, open_files: int | None = None, **env: str) -> AsyncIterator[Daemon]:
    await asyncio.to_thread(Migrator(config.database).apply)
    daemon = Daemon({"DATABASE_URL": config.database.raw, **env}, open_files=open_files)
    await daemon.start()
    try:
        yield daemon
    finally:
        assert await daemon.stop() == 0


async def connect(daemon: Daemon) -> Connection:
    return await asyncio.open_connection("127.0.0.1", daemon.port)


async def get(daemon: Daemon, path: str, within: float = 5.0) -> bytes:
    """The whole answer to GET ``path`` on a new connection."""
    reader, writer = await connect(daemon)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        return await asyncio.wait_for(reader.read(), within)
    finally:
        writer.close()


async def closed_by_proxyd(connection: Connection, within: float = 2.0) -> bool:
    try:
        await asyncio.wait_for(connection[0].read(), within)  # whatever was still unread, up to the end
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def close_all(connections: list[Connection]) -> None:
    for _, writer in connections:
        writer.close()


async def test_idle_connections_cannot_exhaust_the_open_file_limit(config: Config, sqlite_only: None) -> None:
    """As many silent connections as the daemon may open files: the oldest are closed, /healthz answers."""
    files = 256
    limit = default_max_connections(files)
    assert limit == (files - RESERVED_DESCRIPTORS) // 2
    async with running(config, open_files=files) as daemon:
        idle = [await connect(daemon) for _ in range(files + 50)]
        try:
            answer = await get(daemon, "/healthz")
            assert answer.startswith(b"HTTP/1.1 200"), answer
            assert await closed_by_proxyd(idle[0])  # the oldest went first ...
            assert not await closed_by_proxyd(idle[-1], within=0.2)  # ... the newest stay
            metrics = (await get(daemon, "/metrics")).decode()
        finally:
            close_all(idle)
    assert f"\nproxyd_connections_limit {limit}\n" in metrics
    closed = next(line for line in metrics.splitlines() if line.startswith("proxyd_connections_shed_total{action"))
    assert closed.startswith('proxyd_connections_shed_total{action="closed_idle"}')
    assert int(closed.split()[-1]) >= files + 50 - limit
    assert 'proxyd_connections_shed_total{action="refused"} 0' in metrics
    output = daemon.output.decode()
    assert f"accepting up to {limit} connections at once (derived from the open-file limit, {files})" in output
    # Hundreds closed within the minute: one line says so.
    assert output.count("connection limit reached (PROXYD_MAX_CONNECTIONS=") == 1, output


async def test_busy_connections_are_never_closed_to_make_room(config: Config, sqlite_only: None) -> None:
    """Requests in flight keep their connections; a new one is refused with a 503 while all are busy."""
    async with running(config, PROXYD_MAX_CONNECTIONS="3") as daemon:
        body = b'{"name": "busy", "key": "gho_connectionlimit000000000000000001"}'
        head = "POST /api/api-keys HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        busy: list[Connection] = []
        try:
            for _ in range(3):  # each with a request whose body is still on its way
                busy.append(await connect(daemon))
                busy[-1][1].write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body[:5])
                await asyncio.sleep(0.2)  # inside its request before the next connects
            answer = await get(daemon, "/healthz")
            assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer
            reader, writer = busy[0]
            writer.write(body[5:])
            status = await asyncio.wait_for(reader.readline(), 5)
            assert status.startswith(b"HTTP/1.1 201"), status  # served, though the cap was reached meanwhile
            # That connection is idle now, kept alive: the next new one takes its place.
            await asyncio.sleep(0.3)  # proxyd has finished with the answer
            assert (await get(daemon, "/healthz")).startswith(b"HTTP/1.1 200")
            assert await closed_by_proxyd(busy[0])
            assert not await closed_by_proxyd(busy[1], within=0.2)
            metrics = (await get(daemon, "/metrics")).decode()
        finally:
            close_all(busy)
    assert 'proxyd_connections_shed_total{action="refused"} 1' in metrics
    assert "accepting up to 3 connections at once (PROXYD_MAX_CONNECTIONS)" in daemon.output.decode()


def test_the_variable_and_its_default() -> None:
    assert Config.from_env({}).max_connections is None
    assert Config.from_env({"PROXYD_MAX_CONNECTIONS": "500"}).max_connections == 500
    for bad in ("0", "-1", "many"):
        with pytest.raises(ConfigError, match=r"^PROXYD_MAX_CONNECTIONS: "):
            Config.from_env({"PROXYD_MAX_CONNECTIONS": bad})
    assert default_max_connections(65536) == (65536 - RESERVED_DESCRIPTORS) // 2  # the systemd unit's limit
    assert default_max_connections(1024) == 480
    assert default_max_connections(10) == MIN_DEFAULT_CONNECTIONS
