"""Checks shared by the daemon's state files, the admin token and the encryption key file."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from proxyd.config import Config
from proxyd.db.url import DatabaseUrl
from proxyd.errors import ConfigError

T = TypeVar("T")


def race(call: Callable[[], T], threads: int = 16) -> list[T]:
    """Runs ``call`` in ``threads`` threads released together by a barrier; returns what each returned."""
    results: list[T] = []
    barrier = threading.Barrier(threads)

    def start() -> None:
        barrier.wait()
        results.append(call())

    started = [threading.Thread(target=start) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    assert len(results) == threads, "a racing call raised"
    return results


def assert_state_file_placement(setting: str, variable: str, name: str) -> None:
    """Where a state file (``Config.<setting>``) goes: beside a SQLite database, else in the working directory,
    in systemd's first STATE_DIRECTORY (without the ``proxyd-`` prefix), or where ``variable`` says."""

    def placed(env: dict[str, str]) -> Path | None:
        return getattr(Config.from_env(env), setting)  # type: ignore[no-any-return]

    sqlite = {"DATABASE_URL": "sqlite:////var/lib/x/keys.db"}
    assert placed(sqlite) == Path(f"/var/lib/x/proxyd-{name}")
    assert placed({}) == Path(f"proxyd-{name}")  # beside ./proxyd.db
    assert placed({"DATABASE_URL": "postgresql://u@db/proxyd"}) == Path(f"proxyd-{name}")
    systemd = {**sqlite, "STATE_DIRECTORY": "/var/lib/proxyd:/var/lib/other"}
    assert placed(systemd) == Path(f"/var/lib/proxyd/{name}")
    assert placed({**systemd, variable: "/etc/proxyd/chosen"}) == Path("/etc/proxyd/chosen")
    # Built without the environment (as tests do): beside the SQLite database.
    direct = Config(database=DatabaseUrl.parse("sqlite:////srv/p.db"))
    assert getattr(direct, setting.removesuffix("_file") + "_path") == Path(f"/srv/proxyd-{name}")


def refused_file(path: Path, content: bytes, file_mode: int, load: Callable[[Path], object], variable: str) -> str:
    """Writes ``content`` with ``file_mode`` at ``path`` and has ``load`` refuse it, naming ``variable`` and the
    path, without replacing the file; returns the message."""
    path.write_bytes(content)
    path.chmod(file_mode)
    with pytest.raises(ConfigError, match=rf"^{variable}: ") as refused:
        load(path)
    assert str(path) in refused.value.message
    assert path.read_bytes() == content  # never replaced behind the admin's back
    return refused.value.message
