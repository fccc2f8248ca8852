"""The SQLite database file: private from its creation, and created only by the commands asked to create it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from pathlib import Path

from proxyd.config import Config
from proxyd.db import open_database
from proxyd.schema import Migrator
from tests.daemon import Daemon


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_database_and_its_wal_and_shm_are_created_0600(config: Config, sqlite_only: None) -> None:
    """It holds every account's GitHub token: private whatever the umask (the tests run with 022)."""
    path = Path(config.database.path)
    previous = os.umask(0o022)
    try:
        await asyncio.to_thread(Migrator(config.database).apply)  # what `proxyd migrate apply` does
        database = await open_database(config)  # WAL mode, as the daemon runs it
        try:
            await database.execute(database.queries["insert_key"], _key_row())
            companions = [Path(f"{path}-wal"), Path(f"{path}-shm")]
            assert all(p.exists() for p in companions)
            assert {p.name: mode(p) for p in (path, *companions)} == {p.name: 0o600 for p in (path, *companions)}
        finally:
            await database.close()
    finally:
        os.umask(previous)


async def test_start_up_warns_about_a_database_others_can_read(config: Config, sqlite_only: None) -> None:
    await asyncio.to_thread(Migrator(config.database).apply)
    path = config.database.path  # absolute: under tmp_path
    os.chmod(path, 0o644)  # as earlier releases created it
    daemon = Daemon({"DATABASE_URL": config.database.raw})
    await daemon.start()
    assert await daemon.stop() == 0
    output = daemon.output.decode()
    assert (
        f"WARNING proxyd: {path} is readable by other users (mode 0644) and holds every account's GitHub token: "
        f"run chmod 600 {path}"
    ) in output
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # a warning: proxyd changes nothing it did not create

    for name in (path, f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(FileNotFoundError):  # SQLite removes them when its last connection closes
            os.chmod(name, 0o600)
    daemon = Daemon({"DATABASE_URL": config.database.raw})
    await daemon.start()
    assert await daemon.stop() == 0
    assert "readable by other users" not in daemon.output.decode()


def _key_row() -> dict[str, object]:
    return {"id": "k", "name": "k", "key": "gho_k", "created_at": 1, "last_used": None, "usage_count": 0}
