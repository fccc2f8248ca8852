"""One daemon per port: a second ``proxyd serve`` on a port already served exits 1 with one line.

With SO_REUSEPORT, two daemons (say, on different databases) could share a port
and silently split its connections. The port is now bound once, by the process
that starts, and its workers inherit it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from pathlib import Path

import aiohttp
import pytest

from proxyd.config import Config
from proxyd.db.schema import Migrator
from proxyd.db.url import DatabaseUrl
from proxyd.errors import ProxydError
from proxyd.runtime.listen import bind_listening
from tests.daemon import PROXYD, Daemon, free_port


async def _migrated(url: str) -> str:
    await asyncio.to_thread(Migrator(DatabaseUrl.parse(url)).apply)
    return url


@pytest.mark.parametrize(("first_workers", "second_workers"), [(1, 1), (2, 2), (1, 2), (2, 1)])
async def test_second_daemon_on_a_served_port_exits_1_with_one_line(
    config: Config, sqlite_only: None, tmp_path: Path, first_workers: int, second_workers: int
) -> None:
    await _migrated(config.database.raw)
    first = Daemon({"DATABASE_URL": config.database.raw, "PROXYD_WORKERS": str(first_workers)})
    await first.start()
    try:
        # Another database, ready to serve: only the port stands in the way.
        other = await _migrated(f"sqlite:///{tmp_path / 'other.db'}")
        env = {
            **os.environ,
            "DATABASE_URL": other,
            "PROXYD_HOST": "127.0.0.1",
            "PROXYD_PORT": str(first.port),
            "PROXYD_WORKERS": str(second_workers),
        }
        second = await asyncio.create_subprocess_exec(
            PROXYD, "serve", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            out, err = await asyncio.wait_for(second.communicate(), 30)
        finally:
            if second.returncode is None:
                second.kill()
                await second.wait()
        assert second.returncode == 1, (out + err).decode()
        assert err.decode().splitlines() == [f"proxyd: port {first.port} on 127.0.0.1 is already in use"]
        assert b"Traceback" not in out + err
        # The first still serves every connection (none went to the other database).
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            for _ in range(10):
                async with http.get(f"{first.url}/readyz") as response:
                    assert response.status == 200
    finally:
        assert await first.stop() == 0, first.output.decode()
    assert b"already in use" not in first.output


def test_serve_migrate_on_a_busy_port_says_so_before_touching_the_database(tmp_path: Path) -> None:
    """The port is checked first: no database is created, no migration applied."""
    database = tmp_path / "new.db"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "PROXYD_HOST": "127.0.0.1"}
        result = subprocess.run(
            [PROXYD, "serve", "--migrate"],
            env=env | {"PROXYD_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"proxyd: port {port} on 127.0.0.1 is already in use"]
    assert "applied" not in result.stdout
    assert not database.exists()


def test_a_port_held_by_a_reuse_port_listener_is_refused() -> None:
    # The way proxyd's workers used to listen: any later SO_REUSEPORT socket of the same user could join.
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ProxydError) as refused:
            bind_listening("127.0.0.1", port)
    assert refused.value.message == f"port {port} on 127.0.0.1 is already in use"


def test_a_free_port_can_be_bound_again_after_close() -> None:
    port = free_port()
    for _ in range(2):
        sockets = bind_listening("127.0.0.1", port)
        try:
            assert [s.getsockname() for s in sockets] == [("127.0.0.1", port)]
            assert not sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        finally:
            for sock in sockets:
                sock.close()


def test_an_unresolvable_host_names_itself() -> None:
    with pytest.raises(ProxydError) as refused:
        bind_listening("no-such-host.invalid", 3000)
    assert refused.value.message.startswith("cannot listen on no-such-host.invalid:3000: ")
