"""The SQLite database file: private from its creation, and created only by the commands asked to create it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import subprocess
from pathlib import Path

from proxyd.config import Config
from proxyd.db import open_database
from proxyd.db.schema import Migrator
from tests.daemon import PROXYD, Daemon, free_port


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
    return {
        "id": "k",
        "name": "k",
        "key_hmac": "0" * 64,
        "key_ciphertext": "sealed",
        "masked_key": "***",
        "created_at": 1,
        "last_used": None,
        "usage_count": 0,
    }


# --------------------------------------------------------------------------- only migrations create the database


def proxyd(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"PROXYD_ADMIN_LOOPBACK": "1"} | env
    return subprocess.run(
        [PROXYD, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def test_commands_that_read_never_create_the_database(tmp_path: Path) -> None:
    """Run where there is no database: each says which one it looked for, and leaves none behind."""
    expected = f"proxyd: sqlite:///proxyd.db: no database file at {tmp_path / 'proxyd.db'}; `proxyd migrate apply`"
    for args in (["keys", "list"], ["keys", "revoke", "x"], ["serve"], ["migrate", "rollback"]):
        done = proxyd(tmp_path, *args, PROXYD_PORT=str(free_port()))
        assert done.returncode == 1, (args, done.stderr)
        assert done.stderr.startswith(expected), (args, done.stderr)
        assert not any(tmp_path.iterdir()), args
    # Looking at the migrations shows them all pending, still without creating anything.
    done = proxyd(tmp_path, "migrate", "list")
    assert done.returncode == 0 and done.stdout.startswith("pending  0001"), done.stdout
    assert not any(tmp_path.iterdir())
    # The commands asked to create it do.
    done = proxyd(tmp_path, "migrate", "apply")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((tmp_path / "proxyd.db").stat().st_mode) == 0o600
    assert proxyd(tmp_path, "keys", "list").returncode == 0


def test_serve_migrate_creates_the_database(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [PROXYD, "serve", "--migrate"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        | {"PROXYD_ADMIN_LOOPBACK": "1", "PROXYD_PORT": str(free_port())},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "listening on" in line:
                break
        assert (tmp_path / "proxyd.db").exists()
    finally:
        process.terminate()
        process.communicate(timeout=30)
