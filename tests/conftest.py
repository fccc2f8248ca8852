"""Shared fixtures: real databases on every dialect, configuration, a migrated store.

PostgreSQL and MariaDB servers are started once per session in temporary
directories on loopback ports (tests/dbservers.py); each test gets a database
of its own. A dialect whose server binaries are missing is skipped with a loud
summary line, unless PROXYD_REQUIRE_ALL_DBS=1 makes that a failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bench.fake_upstream import FakeUpstream, running_fake_upstream
from proxyd import cli
from proxyd.app import create_app
from proxyd.appkeys import STORE
from proxyd.config import Config
from proxyd.crypto.migration import keys_from
from proxyd.crypto.source import KeySource, StaticKeys
from proxyd.db import Database, open_database
from proxyd.db.schema import Migrator
from proxyd.db.url import DatabaseUrl
from proxyd.keys.store import KeyStore
from proxyd.logs import QUIETER_LIBRARIES, JsonFormatter, RedactSecrets, TextFormatter
from tests import dbservers

DIALECTS = ("sqlite", "postgresql", "mysql")
_SERVER_FACTORIES = {"postgresql": dbservers.postgres_server, "mysql": dbservers.mariadb_server}
_UNAVAILABLE: dict[str, str] = {}


def _require_all() -> bool:
    return os.environ.get("PROXYD_REQUIRE_ALL_DBS", "") == "1"


class _Servers:
    """Starts each server on first use and keeps it for the session."""

    def __init__(self) -> None:
        self._running: dict[str, dbservers.ServerInfo] = {}
        self._contexts: list[AbstractContextManager[dbservers.ServerInfo]] = []

    def get(self, dialect: str) -> dbservers.ServerInfo:
        if dialect in _UNAVAILABLE:
            _skip_or_fail(dialect, _UNAVAILABLE[dialect])
        if dialect not in self._running:
            context = _SERVER_FACTORIES[dialect]()
            try:
                self._running[dialect] = context.__enter__()
            except dbservers.ServerUnavailable as exc:
                _UNAVAILABLE[dialect] = str(exc)
                _skip_or_fail(dialect, str(exc))
            self._contexts.append(context)
        return self._running[dialect]

    def close(self) -> None:
        for context in reversed(self._contexts):
            context.__exit__(None, None, None)


def _skip_or_fail(dialect: str, reason: str) -> None:
    message = f"{dialect} server unavailable: {reason}"
    if _require_all():
        pytest.fail(f"{message} (PROXYD_REQUIRE_ALL_DBS=1)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def db_servers() -> Iterator[_Servers]:
    servers = _Servers()
    yield servers
    servers.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every database test runs on each dialect; tests asking for ``sqlite_only`` run on SQLite alone."""
    if "dialect" in metafunc.fixturenames:
        dialects: tuple[str, ...] = DIALECTS
        if "sqlite_only" in metafunc.fixturenames:
            dialects = ("sqlite",)
        elif "server_dialects_only" in metafunc.fixturenames:
            dialects = ("postgresql", "mysql")
        metafunc.parametrize("dialect", dialects, indirect=True)


@pytest.fixture(scope="session")
def redis_session_server() -> Iterator[dbservers.RedisServer | None]:
    """One redis-server for the session (None when redis-server is missing: its tests skip or fail then)."""
    try:
        context = dbservers.redis_server()
        server = context.__enter__()
    except dbservers.ServerUnavailable as exc:
        _UNAVAILABLE["redis"] = str(exc)
        yield None
        return
    try:
        yield server
    finally:
        context.__exit__(None, None, None)


@pytest.fixture
def redis_url(redis_session_server: dbservers.RedisServer | None) -> str:
    """The session's Redis, emptied for this test."""
    if redis_session_server is None:
        _skip_or_fail("redis", _UNAVAILABLE["redis"])
        raise AssertionError("unreachable")
    _redis_command(redis_session_server.port, b"FLUSHALL")
    return redis_session_server.url


@pytest.fixture
def private_redis() -> Iterator[dbservers.RedisServer]:
    """A redis-server of this test's own, to stop and start again."""
    try:
        context = dbservers.redis_server()
        server = context.__enter__()
    except dbservers.ServerUnavailable as exc:
        _UNAVAILABLE["redis"] = str(exc)
        _skip_or_fail("redis", str(exc))
        raise AssertionError("unreachable") from None
    try:
        yield server
    finally:
        context.__exit__(None, None, None)


def _redis_command(port: int, command: bytes) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command + b"\r\n")
        assert sock.recv(64).startswith(b"+OK")


@pytest.fixture
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(dialect: str, db_servers: _Servers, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of the requested dialect."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'proxyd.db'}"
        return
    server = db_servers.get(dialect)
    name = f"proxyd_test_{uuid.uuid4().hex[:12]}"
    url = dbservers.create_database(server, name)
    yield url
    dbservers.drop_database(server, name)


@pytest.fixture
def config(database_url: str) -> Config:
    return make_config(database_url)


# The encryption key tests run with (PROXYD_ENCRYPTION_KEY), so no key file lands in the working directory;
# the default, a generated key file, is tested in test_encryption.py.
TEST_ENCRYPTION_KEY = "cHJveHlkLXRlc3QtZW5jcnlwdGlvbi1rZXktMzJieXQ="


def make_config(database_url: str, **overrides: Any) -> Config:
    # Admin routes in loopback mode (PROXYD_ADMIN_LOOPBACK=1), so tests about what they do need no token;
    # the default, a generated token file, is tested in test_admin_token.py.
    defaults: dict[str, Any] = {"admin_loopback": True, "encryption_key": (TEST_ENCRYPTION_KEY,)}
    return Config(database=DatabaseUrl.parse(database_url), **{**defaults, **overrides})


def keys_for(config: Config | None = None) -> KeySource:
    """The keys of ``config`` (else the test key), as a daemon started with it would use them."""
    keys = config.encryption_key if config is not None and config.encryption_key else (TEST_ENCRYPTION_KEY,)
    return StaticKeys(keys)


@pytest.fixture(autouse=True)
def encryption_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands a test runs read the environment (``Config.from_env``): they get the tests' key too."""
    monkeypatch.setenv("PROXYD_ENCRYPTION_KEY", TEST_ENCRYPTION_KEY)
    monkeypatch.delenv("PROXYD_ENCRYPTION_KEY_FILE", raising=False)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> pytest.MonkeyPatch:
    """The environment a `proxyd` command run in the test (``cli.main``) sees: this test's database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    # main() points the root logger at stdout; pytest's capture must stay in place.
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)
    return monkeypatch


@pytest.fixture
def cli_key_file(cli_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The same, with the encryption key in a key file instead (not made yet): the file's path."""
    path = tmp_path / "encryption-key"
    cli_env.setenv("PROXYD_ENCRYPTION_KEY", "")  # unset: the key file
    cli_env.setenv("PROXYD_ENCRYPTION_KEY_FILE", str(path))
    return path


def migrator(config: Config) -> Migrator:
    """What `proxyd migrate` runs for ``config``: the migrations, with its encryption key."""
    return Migrator(config.database, keys=keys_from(config))


@pytest.fixture
async def database(config: Config) -> AsyncIterator[Database]:
    await asyncio.to_thread(Migrator(config.database).apply)
    db = await open_database(config)
    yield db
    await db.close()


@pytest.fixture
def store(database: Database, config: Config) -> KeyStore:
    return KeyStore(database, keys_for(config))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    outcomes: dict[str, dict[str, int]] = {d: {} for d in DIALECTS}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            for dialect in DIALECTS:
                if f"[{dialect}" in getattr(report, "nodeid", "") and report.when in ("call", "setup"):
                    if outcome == "passed" and report.when != "call":
                        continue
                    outcomes[dialect][outcome] = outcomes[dialect].get(outcome, 0) + 1
    terminalreporter.section("tests per database")
    for dialect, counts in outcomes.items():
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "none ran"
        terminalreporter.line(f"{dialect}: {summary}")
    if _UNAVAILABLE:
        terminalreporter.section("DATABASES SKIPPED", sep="!", red=True, bold=True)
        for dialect, reason in _UNAVAILABLE.items():
            what = "Redis" if dialect == "redis" else dialect
            terminalreporter.line(f"!!! {dialect}: every {what} test was skipped: {reason}", red=True)
        terminalreporter.line("!!! set PROXYD_REQUIRE_ALL_DBS=1 to make this a failure", red=True)
    no_browser = [r for r in terminalreporter.stats.get("skipped", []) if "NO CHROMIUM" in str(r.longrepr)]
    if no_browser:
        terminalreporter.section("BROWSER TESTS SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.line(
            f"!!! {len(no_browser)} admin console tests did not run: no Chromium "
            "(apt-get install chromium, or set PROXYD_CHROMIUM)",
            red=True,
        )


@dataclass
class RunningProxy:
    """proxyd on a real loopback port, wired to a fake GitHub/Copilot upstream."""

    url: str
    app: web.Application
    upstream: FakeUpstream
    config: Config

    @property
    def base_url(self) -> str:
        return f"{self.url}{self.config.api_prefix}"

    @property
    def store(self) -> KeyStore:
        return self.app[STORE]


@asynccontextmanager
async def run_proxy(config: Config, upstream: FakeUpstream) -> AsyncIterator[RunningProxy]:
    config = dataclasses.replace(
        config,
        github_url=upstream.url,
        github_api_url=upstream.url,
        copilot_api_url=config.copilot_api_url or upstream.url,
        host="127.0.0.1",
        port=0,
    )
    await asyncio.to_thread(migrator(config).apply)
    app = create_app(config)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=config.shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield RunningProxy(f"http://127.0.0.1:{port}", app, upstream, config)
    finally:
        await runner.cleanup()


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with running_fake_upstream() as fake:
        yield fake


@pytest.fixture
def proxy_config(config: Config) -> Config:
    """Override in a test module to change how proxyd is configured."""
    return dataclasses.replace(config, usage_flush_interval=0.05, shutdown_timeout=2.0)


@pytest.fixture
async def proxy(proxy_config: Config, upstream: FakeUpstream) -> AsyncIterator[RunningProxy]:
    async with run_proxy(proxy_config, upstream) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for the tests' own HTTP calls, to proxyd or the fake upstream."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def server_dialects_only(dialect: str) -> None:
    """Marks a test about database servers (outages, several instances): PostgreSQL and MySQL only."""


@pytest.fixture
def sqlite_only(dialect: str) -> None:
    """Marks a test whose behaviour does not depend on the database: it runs on SQLite only."""


# --- No secret in any log line -------------------------------------------------------------
# Every log record of the whole suite is checked for GitHub tokens, Copilot tokens, unredacted
# Authorization / x-api-key header values and the admin secrets tests register, as proxyd's
# handler would write it (text and JSON), whoever logged it; proxyd's own records also before
# redaction: its code must not rely on the formatters. A test whose logs leak one fails at teardown.
SECRET_SHAPES = re.compile(
    r"\bgh[oupsr]_[A-Za-z0-9_]{20,}|\bpxd_[A-Za-z0-9_-]{32,}|\btid=[0-9a-f]{8,};exp="
    r"""|(?:^|(?<=[\r\n'"(\[{,;:=<>|])|(?<=\\[rnt]))[ \t]*(?:(?:proxy-)?authorization|x-api-key)"""
    r"""\\?["']?[ \t]*[:=][ \t]*\\?["']?(?!\[redacted\])[^\s"'\\]""",
    re.IGNORECASE | re.MULTILINE,
)
KNOWN_SECRETS: set[str] = set()


def find_leaks(text: str) -> list[str]:
    found = [m.group(0) for m in SECRET_SHAPES.finditer(text)]
    found += [secret for secret in KNOWN_SECRETS if secret in text]
    return [f"{leak[:6]}…({len(leak)} chars)" for leak in found]


class _LeakWatch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.leaks: list[str] = []
        self.formatters = (TextFormatter(), JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < QUIETER_LIBRARIES.get(record.name.split(".")[0], 0):
            return  # proxyd never lets this library log at this level
        texts = [formatter.format(self._redacted(record)) for formatter in self.formatters]
        if record.name.split(".")[0] == "proxyd":
            raw = record.getMessage()
            if record.exc_info:
                raw += logging.Formatter().formatException(record.exc_info)
            texts.append(raw)
        self.leaks.extend(f"{record.name}: {leak}" for text in texts for leak in find_leaks(text))

    @staticmethod
    def _redacted(record: logging.LogRecord) -> logging.LogRecord:
        # A copy: other handlers (caplog) still see the record as it was logged.
        copied = logging.makeLogRecord(record.__dict__)
        RedactSecrets().filter(copied)
        return copied


_LEAK_WATCH = _LeakWatch()


def pytest_sessionstart(session: pytest.Session) -> None:
    logging.getLogger().addHandler(_LEAK_WATCH)
    logging.getLogger("proxyd").setLevel(logging.DEBUG)  # check what debug logging would print too


@pytest.fixture(autouse=True)
def no_secrets_in_logs() -> Iterator[None]:
    before = len(_LEAK_WATCH.leaks)
    yield
    leaked = _LEAK_WATCH.leaks[before:]
    assert not leaked, f"secrets in log lines: {leaked}"
