"""The admin token file proxyd creates when PROXYD_ADMIN_TOKEN is unset, and the loopback opt-in.

Behind a reverse proxy on the same host (nginx's default ``proxy_pass
http://127.0.0.1:PORT;`` sends ``Host: 127.0.0.1:PORT`` and no forwarding
header) every remote client looks like a loopback client: without a token, none
of them may be admin. Token handling does not depend on the database: SQLite only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import stat
import subprocess
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from bench.fake_upstream import FakeUpstream
from proxyd.admin import token_file as admin_token
from proxyd.config import Config
from proxyd.errors import ConfigError
from tests.conftest import KNOWN_SECRETS, RunningProxy, run_proxy
from tests.daemon import PROXYD, Daemon
from tests.state_files import assert_state_file_placement, race, refused_file

GITHUB_KEY = "gho_" + "T" * 36
MISSING_TOKEN = {
    "statusCode": 401,
    "message": "Admin token required: send 'Authorization: Bearer <token>'",
    "error": "Unauthorized",
}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return tmp_path / "state" / "admin-token"


@pytest.fixture
def proxy_config(config: Config, token_file: Path, sqlite_only: None) -> Config:
    """The default: no PROXYD_ADMIN_TOKEN, no loopback opt-in."""
    token_file.parent.mkdir()
    return dataclasses.replace(
        config, admin_loopback=False, admin_token_file=token_file, usage_flush_interval=0.05, shutdown_timeout=2.0
    )


StartProxy = Callable[..., AbstractAsyncContextManager[RunningProxy]]


@pytest.fixture
def start(proxy_config: Config, upstream: FakeUpstream) -> StartProxy:
    """Starts proxyd with this file's configuration, the given fields replaced."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[RunningProxy]:
        return run_proxy(dataclasses.replace(proxy_config, **overrides), upstream)

    return start


async def send(
    http: aiohttp.ClientSession, url: str, method: str = "GET", *, token: str | None = None, **kwargs: Any
) -> tuple[int, Any]:
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with http.request(method, url, headers=headers, **kwargs) as response:
        body = await response.read()
        return response.status, orjson.loads(body) if body else None


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read_token(path: Path) -> str:
    """The file's token, its mode checked; remembered as a secret."""
    assert mode(path) == 0o600
    return remember(path.read_text().strip())


def write_token(path: Path, content: str, file_mode: int) -> None:
    path.write_text(content)
    path.chmod(file_mode)


def remember(token: str) -> str:
    """From now on a log line holding ``token`` fails the test (conftest's leak check)."""
    KNOWN_SECRETS.add(token)
    return token


# --------------------------------------------------------------------------- the running daemon


async def test_first_start_creates_a_private_token_that_admins_send(
    start: StartProxy,
    upstream: FakeUpstream,
    http: aiohttp.ClientSession,
    token_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="proxyd")
    upstream.state.add_github_token(GITHUB_KEY)
    async with start() as proxy:
        token = read_token(token_file)
        assert len(token) >= 32
        url = f"{proxy.base_url}/api-keys"
        port = proxy.url.rsplit(":", 1)[1]
        # What nginx's default proxy_pass relays for any client: loopback peer, loopback Host, no forwarding header.
        assert await send(http, url, headers={"Host": f"127.0.0.1:{port}"}) == (401, MISSING_TOKEN)
        assert await send(http, url, "POST", json={"name": "n", "key": GITHUB_KEY}) == (401, MISSING_TOKEN)
        assert (await send(http, url, token=token[:-1]))[0] == 401
        # As curl would, with TOKEN=$(cat <file>):
        status, created = await send(http, url, "POST", token=token, json={"name": "laptop", "key": GITHUB_KEY})
        assert status == 201 and created["name"] == "laptop"
        # The list adds this instance's cool-down of each account (client keys' failover).
        listed = [{**created, "coolingDownUntil": None, "coolingDownReason": None}]
        assert await send(http, url, token=token) == (200, listed)
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("proxyd")]
    assert [m for m in logged if str(token_file) in m and "created" in m], logged
    assert not [m for m in logged if token in m]


async def test_later_starts_reuse_the_token(
    start: StartProxy, http: aiohttp.ClientSession, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="proxyd")
    async with start():
        first = read_token(token_file)
    caplog.clear()
    async with start() as proxy:
        assert (await send(http, f"{proxy.base_url}/admin/stats", token=first))[0] == 200
    assert read_token(token_file) == first
    assert [r for r in caplog.records if f"read from {token_file}" in r.getMessage()]


async def test_a_token_written_by_the_admin_is_used(
    start: StartProxy, http: aiohttp.ClientSession, token_file: Path
) -> None:
    token = remember("chosen-by-the-admin-0123456789")
    write_token(token_file, token + "\n", 0o600)
    async with start() as proxy:
        assert (await send(http, f"{proxy.base_url}/api-keys", token=token))[0] == 200


async def test_configured_admin_token_needs_no_file(
    start: StartProxy, http: aiohttp.ClientSession, token_file: Path
) -> None:
    token = remember("configured-admin-token-0123456789")
    async with start(admin_token=token) as proxy:
        assert (await send(http, f"{proxy.base_url}/api-keys"))[0] == 401
        assert (await send(http, f"{proxy.base_url}/api-keys", token=token))[0] == 200
    assert os.listdir(token_file.parent) == []


async def test_loopback_opt_in_restores_tokenless_local_admin(
    start: StartProxy, http: aiohttp.ClientSession, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with start(admin_loopback=True) as proxy:
        port = proxy.url.rsplit(":", 1)[1]
        assert (await send(http, f"{proxy.base_url}/api-keys", headers={"Host": f"127.0.0.1:{port}"}))[0] == 200
        assert (await send(http, f"{proxy.base_url}/api-keys", headers={"X-Forwarded-For": "192.0.2.1"}))[0] == 403
    assert os.listdir(token_file.parent) == []
    assert [r for r in caplog.records if "PROXYD_ADMIN_LOOPBACK=1" in r.getMessage() and r.levelno == logging.WARNING]


async def test_login_still_works_beside_the_token_file(start: StartProxy, http: aiohttp.ClientSession) -> None:
    password = remember("login-password-0123456789")
    async with start(admin_password=password) as proxy:
        status, login = await send(
            http, f"{proxy.base_url}/admin/login", "POST", json={"username": "admin", "password": password}
        )
        assert status == 200
        assert (await send(http, f"{proxy.base_url}/api-keys", token=remember(login["access_token"])))[0] == 200


async def test_an_unusable_token_file_stops_start_up(start: StartProxy, token_file: Path) -> None:
    write_token(token_file, "world-readable-token-0123456789\n", 0o644)
    with pytest.raises(
        ConfigError,
        match=r"^PROXYD_ADMIN_TOKEN_FILE: .* \(mode 0644: group may read it; others [^)]*\); run chmod 600 ",
    ):
        async with start():
            pass


# --------------------------------------------------------------------------- the file itself


def test_created_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "admin-token"
    previous = os.umask(0)
    try:
        token, created = admin_token.load_or_create(path)
    finally:
        os.umask(previous)
    assert created and mode(path) == 0o600 and path.read_text() == token + "\n"
    assert admin_token.load_or_create(path) == (token, False)
    assert os.listdir(tmp_path) == ["admin-token"]  # no temporary file left behind


def test_concurrent_starts_agree_on_one_token(tmp_path: Path) -> None:
    path = tmp_path / "admin-token"
    results = race(lambda: admin_token.load_or_create(path))
    assert len({token for token, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert os.listdir(tmp_path) == ["admin-token"]


@pytest.mark.parametrize(
    ("content", "file_mode", "message"),
    [
        (b"a-good-token-0123456789\n", 0o640, "accessible to other users (mode 0640: group may read it)"),
        (b"a-good-token-0123456789\n", 0o604, "accessible to other users (mode 0604: others may read it)"),
        (b"a-good-token-0123456789\n", 0o620, "accessible to other users (mode 0620: group may write it)"),
        (b"a-good-token-0123456789\n", 0o602, "accessible to other users (mode 0602: others may write it)"),
        (b"", 0o600, "does not hold a usable token"),
        (b"short\n", 0o600, "does not hold a usable token"),
        (b"has a space in it 0123456789\n", 0o600, "does not hold a usable token"),
        (b"\xff\xfe-not-ascii-0123456789\n", 0o600, "does not hold a usable token"),
    ],
)
def test_unusable_files_are_refused(tmp_path: Path, content: bytes, file_mode: int, message: str) -> None:
    refused = refused_file(
        tmp_path / "admin-token", content, file_mode, admin_token.load_or_create, "PROXYD_ADMIN_TOKEN_FILE"
    )
    assert message in refused


def test_unreadable_or_uncreatable_paths_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    os.mkfifo(tmp_path / "a-fifo", 0o600)  # opening it must not hang the start-up
    for path, message in (
        (tmp_path / "a-file" / "admin-token", "cannot read"),
        (tmp_path, "cannot read"),
        (tmp_path / "missing-directory" / "admin-token", "cannot create"),
        (tmp_path / "a-fifo", "is not a regular file"),
    ):
        with pytest.raises(ConfigError, match=r"^PROXYD_ADMIN_TOKEN_FILE: ") as raised:
            admin_token.load_or_create(path)
        assert message in raised.value.message, path


# --------------------------------------------------------------------------- configuration


def test_where_the_token_file_goes() -> None:
    assert_state_file_placement("admin_token_file", "PROXYD_ADMIN_TOKEN_FILE", "admin-token")


def test_loopback_opt_in_variable() -> None:
    assert Config.from_env({}).admin_loopback is False
    for value, expected in (("1", True), ("yes", True), ("TRUE", True), ("0", False), ("off", False)):
        assert Config.from_env({"PROXYD_ADMIN_LOOPBACK": value}).admin_loopback is expected
    with pytest.raises(ConfigError, match=r"^PROXYD_ADMIN_LOOPBACK: expected 1 or 0"):
        Config.from_env({"PROXYD_ADMIN_LOOPBACK": "sometimes"})


# --------------------------------------------------------------------------- `proxyd serve` and `proxyd admin-token`


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PROXYD_") and k != "STATE_DIRECTORY"}
    return subprocess.run(
        [PROXYD, *args], env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False
    )


# Six Python processes start and stop here (two daemons of two workers, two CLI calls each): on a loaded
# machine that alone can pass the default two minutes.
@pytest.mark.timeout(300)
async def test_workers_of_a_fresh_daemon_share_one_generated_token(
    config: Config, upstream: FakeUpstream, tmp_path: Path, sqlite_only: None
) -> None:
    env = {
        "DATABASE_URL": config.database.raw,  # tmp_path/proxyd.db: the token goes beside it
        "PROXYD_ADMIN_LOOPBACK": "0",
        "PROXYD_WORKERS": "2",
        "PROXYD_GITHUB_API_URL": upstream.url,
        "PROXYD_COPILOT_API_URL": upstream.url,
    }
    token_file = tmp_path / "proxyd-admin-token"
    for start in (1, 2):
        daemon = Daemon(env)
        await daemon.start("--migrate")
        try:
            token = read_token(token_file)
            for _ in range(12):  # fresh connections: SO_REUSEPORT spreads them over both workers
                async with aiohttp.ClientSession() as http:
                    assert await send(http, f"{daemon.url}/api/api-keys") == (401, MISSING_TOKEN)
                    assert await send(http, f"{daemon.url}/api/api-keys", token=token) == (200, [])
            printed = await asyncio.to_thread(_cli, "admin-token", env=env)
            assert (printed.returncode, printed.stdout) == (0, token + "\n")
            path = await asyncio.to_thread(_cli, "admin-token", "--path", env=env)
            assert path.stdout == f"{token_file}\n"
        finally:
            assert await daemon.stop() == 0
        output = daemon.output.decode()
        assert token not in output and str(token_file) in output
        # Both workers started at once; exactly one created the file, on the first start only.
        assert output.count("admin token created") == (1 if start == 1 else 0), output


def test_serve_refuses_a_token_file_others_can_read(tmp_path: Path) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text("readable-by-everyone-0123456789\n")
    token_file.chmod(0o644)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", "PROXYD_ADMIN_TOKEN_FILE": str(token_file)}
    result = _cli("serve", "--migrate", env={**env, "PROXYD_PORT": "0"})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"proxyd: PROXYD_ADMIN_TOKEN_FILE: {token_file} is accessible to other users")
    assert "Traceback" not in result.stderr and "readable-by-everyone" not in result.stdout + result.stderr


OTHER_UID = 65534  # nobody


def _planted(tmp_path: Path) -> Path:
    """A usable token file, private, but owned by another user (as planted in a shared directory)."""
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    path = tmp_path / "admin-token"
    path.write_text(remember("planted-by-someone-else-0123456789") + "\n")
    path.chmod(0o600)
    os.chown(path, OTHER_UID, -1)
    return path


def test_a_token_file_of_another_user_is_refused(tmp_path: Path) -> None:
    path = _planted(tmp_path)
    with pytest.raises(ConfigError, match=r"^PROXYD_ADMIN_TOKEN_FILE: ") as raised:
        admin_token.load_or_create(path)
    assert raised.value.message == (
        f"PROXYD_ADMIN_TOKEN_FILE: {path} belongs to another user (uid {OTHER_UID}; proxyd runs as uid 0); "
        "delete it to have proxyd create its own token, or run proxyd as its owner"
    )


def test_serve_refuses_a_token_file_of_another_user_in_one_line(tmp_path: Path) -> None:
    path = _planted(tmp_path)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", "PROXYD_ADMIN_TOKEN_FILE": str(path)}
    result = _cli("serve", "--migrate", env={**env, "PROXYD_PORT": "0"})
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"proxyd: PROXYD_ADMIN_TOKEN_FILE: {path} belongs to another user (uid {OTHER_UID}")
    )
    assert "Traceback" not in result.stderr and "planted-by" not in result.stdout + result.stderr


def test_admin_token_command_before_the_first_start(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    result = _cli("admin-token", env=env)
    assert result.returncode == 1 and "does not exist yet" in result.stderr
    assert not (tmp_path / "proxyd-admin-token").exists()  # only `proxyd serve` creates it
    configured = _cli("admin-token", env={**env, "PROXYD_ADMIN_TOKEN": remember("configured-0123456789abcdef")})
    assert configured.stdout == "configured-0123456789abcdef\n"
    loopback = _cli("admin-token", env={**env, "PROXYD_ADMIN_LOOPBACK": "1"})
    assert loopback.returncode == 1 and "PROXYD_ADMIN_LOOPBACK=1" in loopback.stderr
