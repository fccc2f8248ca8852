"""The async adapters honour DATABASE_URL's options, bound every statement, and keep credentials exact and secret."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest

from proxyd.config import Config
from proxyd.db import Database, open_database
from proxyd.db.mysql import ssl_context
from proxyd.db.postgresql import connect_options
from proxyd.db.queries import Query
from proxyd.db.schema import Migrator
from proxyd.db.url import DatabaseUrl
from proxyd.errors import ConfigError, DatabaseError
from tests.conftest import KNOWN_SECRETS, make_config
from tests.tcp_relay import TcpRelay

# Printable ASCII that means something in a URL; drivers send passwords as latin-1, so nothing beyond.
ODD_PASSWORD = "p@ss:w/rd#?&%+ ='x;"


def raw_query(sql: str, *params: str) -> Query:
    """An ad-hoc statement, written in the adapter's own placeholder style."""
    return Query(name="adhoc", sql=sql, params=params)


def with_query(url: str, query: str) -> str:
    return f"{url}?{query}"


async def open_db(url: str, **overrides: Any) -> Database:
    return await open_database(make_config(url, **overrides))


@contextlib.asynccontextmanager
async def opened(url: str, **overrides: Any) -> AsyncIterator[Database]:
    db = await open_db(url, **overrides)
    try:
        yield db
    finally:
        await db.close()


# --- DATABASE_URL options: an allow-list per dialect ------------------------------------------


@pytest.mark.parametrize(
    ("raw", "option"),
    [
        ("sqlite:///proxyd.db?mode=ro", "mode"),
        ("postgresql://u@db/proxyd?connect_timeout=5", "connect_timeout"),
        ("postgresql://u@db/proxyd?sslmode=require&options=-c%20search_path%3Dx", "options"),
        ("postgresql://u@db/proxyd?host=/run/postgresql", "host"),
        ("postgresql://u@db/proxyd?sslmode=verify_full", "sslmode"),
        ("postgresql://u@db/proxyd?sslmode=disable&sslmode=require", "sslmode"),
        ("mysql://u@db/proxyd?unix_socket=/run/mysqld.sock", "unix_socket"),
        ("mysql://u@db/proxyd?charset=latin1", "charset"),
        ("mysql://u@db/proxyd?ssl=0", "ssl"),
        ("mysql://u@db/proxyd?ssl_ca=/etc/ca.pem", "ssl_ca"),
    ],
    ids=lambda value: "" if "://" in value else value,  # no dialect name in the id: not a per-database test
)
def test_unsupported_options_are_refused_naming_the_variable(raw: str, option: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env({"DATABASE_URL": raw})
    message = str(info.value)
    assert message.startswith("DATABASE_URL:") and repr(option) in message and "\n" not in message


def test_option_errors_never_echo_values() -> None:
    with pytest.raises(ConfigError) as info:
        DatabaseUrl.parse("postgresql://u:pw0rd@db/proxyd?sslpassword=hunter2&sslmode=nope")
    assert "hunter2" not in str(info.value) and "pw0rd" not in str(info.value)
    with pytest.raises(ConfigError, match="malformed"):
        DatabaseUrl.parse("postgresql://u@db/proxyd?sslmode")


def test_supported_options_are_decoded() -> None:
    url = DatabaseUrl.parse(
        "postgresql://u:pw@db/proxyd?sslmode=verify-full&sslrootcert=%2Fetc%2Fmy%20ca.pem&sslpassword=hunter2"
    )
    assert url.options() == {"sslmode": "verify-full", "sslrootcert": "/etc/my ca.pem", "sslpassword": "hunter2"}
    assert "hunter2" not in repr(url) and "hunter2" not in url.redacted()
    mysql = DatabaseUrl.parse("mysql://u@db/proxyd?ssl=1&sslca=/etc/ca.pem&charset=utf8mb4")
    assert mysql.options() == {"ssl": "1", "sslca": "/etc/ca.pem", "charset": "utf8mb4"}


def test_postgres_options_go_to_asyncpg_as_a_dsn_without_credentials() -> None:
    url = DatabaseUrl.parse(
        f"postgresql://{quote('us er', safe='')}:{quote(ODD_PASSWORD, safe='')}@db:5433/proxyd"
        "?sslmode=verify-full&sslrootcert=%2Fetc%2Fca%2Bx.pem&application_name=proxyd-test"
    )
    dsn, settings = connect_options(url)
    assert dsn == "postgresql://?sslmode=verify-full&sslrootcert=%2Fetc%2Fca%2Bx.pem"
    assert settings == {"application_name": "proxyd-test", "timezone": "UTC"}
    assert connect_options(DatabaseUrl.parse("postgresql://u@db/proxyd")) == (
        None,
        {"application_name": "proxyd", "timezone": "UTC"},
    )


# --- MySQL TLS context ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_mysql_without_tls_options_has_no_context() -> None:
    assert ssl_context(DatabaseUrl.parse("mysql://u@db/proxyd?charset=utf8mb4")) is None


def test_mysql_ssl_alone_encrypts_without_verifying_as_yoyo_does() -> None:
    context = ssl_context(DatabaseUrl.parse("mysql://u@db/proxyd?ssl=1"))
    assert context is not None
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_mysql_ca_verifies_certificate_and_host(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = ssl_context(DatabaseUrl.parse(f"mysql://u@db/proxyd?ssl=1&sslca={cert}&sslcert={cert}&sslkey={key}"))
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] >= 1
    # Any TLS option turns TLS on, as an operator who names a CA clearly wants it.
    implied = ssl_context(DatabaseUrl.parse(f"mysql://u@db/proxyd?sslca={cert}&sslcipher=ECDHE%2BAESGCM"))
    assert implied is not None and implied.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    ("query", "option"),
    [
        ("ssl=1&sslca=/nonexistent/ca.pem", "sslca"),
        ("ssl=1&sslcapath=/nonexistent/certs", "sslcapath"),
        ("ssl=1&sslcert=/nonexistent/cert.pem", "sslcert"),
        ("ssl=1&sslkey=/nonexistent/key.pem", "sslkey"),
        ("ssl=1&sslcipher=NO-SUCH-CIPHER", "sslcipher"),
    ],
)
def test_mysql_unusable_tls_options_are_config_errors(query: str, option: str) -> None:
    with pytest.raises(ConfigError) as info:
        ssl_context(DatabaseUrl.parse(f"mysql://u:pw0rd@db/proxyd?{query}"))
    assert str(info.value).startswith("DATABASE_URL:") and repr(option) in str(info.value)
    assert "pw0rd" not in str(info.value)


# --- Options reach the drivers (real servers) ------------------------------------------------


async def test_url_options_reach_the_driver(database_url: str, dialect: str, server_dialects_only: None) -> None:
    if dialect == "postgresql":
        async with opened(with_query(database_url, "application_name=proxyd-test&sslmode=disable")) as db:
            row = await db.fetch_one(raw_query("SELECT current_setting('application_name') AS name"))
            assert row == {"name": "proxyd-test"}
            row = await db.fetch_one(raw_query("SELECT current_setting('TimeZone') AS tz"))
            assert row == {"tz": "UTC"}
        async with opened(database_url) as db:
            row = await db.fetch_one(raw_query("SELECT current_setting('application_name') AS name"))
            assert row == {"name": "proxyd"}
    else:
        async with opened(with_query(database_url, "charset=utf8mb4")) as db:
            row = await db.fetch_one(raw_query("SELECT @@character_set_connection AS cs, @@time_zone AS tz"))
            assert row == {"cs": "utf8mb4", "tz": "+00:00"}


async def test_tls_asked_for_but_not_offered_fails_cleanly(
    database_url: str, dialect: str, server_dialects_only: None
) -> None:
    # The test servers have no TLS: the daemon must refuse rather than carry on in clear text.
    query = "sslmode=require" if dialect == "postgresql" else "ssl=1"
    url = DatabaseUrl.parse(with_query(database_url, query))
    started = time.monotonic()
    with pytest.raises(DatabaseError) as info:
        await open_db(url.raw, db_timeout=5.0)
    assert time.monotonic() - started < 5.0
    message = str(info.value)
    assert message.startswith(f"{url.redacted()}: connect failed:") and "\n" not in message
    if dialect == "mysql":  # aiomysql would carry on unencrypted: proxyd's own check refuses it
        assert "did not negotiate TLS" in message


def test_migrations_honour_tls_options_too(database_url: str, dialect: str, server_dialects_only: None) -> None:
    """yoyo and import-legacy connect through synchronous drivers: the same options, the same refusal."""
    query = "sslmode=require" if dialect == "postgresql" else "ssl=1"
    url = DatabaseUrl.parse(with_query(database_url, query))
    with pytest.raises(DatabaseError) as info:
        Migrator(url).apply()
    message = str(info.value)
    assert message.startswith(f"{url.redacted()}:") and "\n" not in message
    assert "SSL" in message or "TLS" in message
    Migrator(DatabaseUrl.parse(database_url)).apply()  # and without the options, as before


# --- Credentials with special characters -----------------------------------------------------


@pytest.fixture
async def admin(database_url: str, server_dialects_only: None) -> AsyncIterator[Database]:
    async with opened(database_url) as db:
        yield db


async def test_percent_encoded_credentials(
    admin: Database, database_url: str, dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    KNOWN_SECRETS.add(ODD_PASSWORD)  # the suite fails if any log line shows it
    user = f"odd user@{uuid.uuid4().hex[:8]}"
    base = DatabaseUrl.parse(database_url)
    url = f"{dialect}://{quote(user, safe='')}:{quote(ODD_PASSWORD, safe='')}@{base.host}:{base.port}/{base.database}"
    parsed = DatabaseUrl.parse(url)
    assert (parsed.user, parsed.password) == (user, ODD_PASSWORD)
    if dialect == "postgresql":
        await _check_postgres_credentials(admin, url, user, monkeypatch)
    else:
        await _check_mysql_credentials(admin, url, user, base.database)


async def _check_postgres_credentials(admin: Database, url: str, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The test server trusts loopback, so it never asks for the password: check what asyncpg receives too.
    literal = ODD_PASSWORD.replace("'", "''")
    await admin.execute(raw_query(f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{literal}'"))
    received: list[dict[str, Any]] = []
    real_create_pool = asyncpg.create_pool

    def spy(*args: Any, **kwargs: Any) -> Any:
        received.append({"dsn": args[0] if args else None, **kwargs})
        return real_create_pool(*args, **kwargs)

    monkeypatch.setattr(asyncpg, "create_pool", spy)
    try:
        async with opened(url + "?sslmode=disable") as db:
            assert await db.fetch_one(raw_query("SELECT current_user AS name")) == {"name": user}
        assert received[0]["user"] == user and received[0]["password"] == ODD_PASSWORD
        assert received[0]["dsn"] == "postgresql://?sslmode=disable"
    finally:
        await admin.execute(raw_query(f'DROP ROLE "{user}"'))


async def _check_mysql_credentials(admin: Database, url: str, user: str, database: str) -> None:
    create = raw_query("CREATE USER %(u)s@'%%' IDENTIFIED BY %(p)s", "u", "p")
    await admin.execute(create, {"u": user, "p": ODD_PASSWORD})
    try:
        await admin.execute(raw_query(f"GRANT ALL ON `{database}`.* TO %(u)s@'%%'", "u"), {"u": user})
        async with opened(url) as db:
            row = await db.fetch_one(raw_query("SELECT USER() AS name"))
            assert row is not None and str(row["name"]).startswith(f"{user}@")
        # The server does check this password: a wrong one is refused, and never echoed.
        wrong = url.replace(quote(ODD_PASSWORD, safe=""), "wr0ng-pass")
        with pytest.raises(DatabaseError) as info:
            await open_db(wrong)
        assert "wr0ng-pass" not in str(info.value) and "Access denied" in str(info.value)
    finally:
        await admin.execute(raw_query("DROP USER %(u)s@'%%'", "u"), {"u": user})


# --- Statements are bounded by PROXYD_DB_TIMEOUT ---------------------------------------------


TIMEOUT = 1.0


@contextlib.asynccontextmanager
async def _through_relay(config: Config, pool_max: int) -> AsyncIterator[tuple[Database, TcpRelay]]:
    """A database whose every connection goes through a relay the test can freeze."""
    relay = TcpRelay(config.database.host, config.database.port or 0)
    await relay.start()
    url = relay.relayed_url(config.database)
    relayed = dataclasses.replace(config, database=url, db_timeout=TIMEOUT, db_pool_min=1, db_pool_max=pool_max)
    db = await open_database(relayed)
    try:
        yield db, relay
    finally:
        relay.thaw()
        await db.close()
        await relay.close()


@pytest.fixture
async def stalling(config: Config, server_dialects_only: None) -> AsyncIterator[tuple[Database, TcpRelay]]:
    async with _through_relay(config, pool_max=2) as relayed:
        yield relayed


async def _times_out(action: Callable[[], Awaitable[object]], db: Database) -> None:
    started = time.monotonic()
    with pytest.raises(DatabaseError) as info:
        await asyncio.wait_for(action(), TIMEOUT * 5)  # a hang fails here, not at the suite's timeout
    elapsed = time.monotonic() - started
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT * 3, elapsed
    assert str(info.value) == f"{db.url.redacted()}: statement timed out after {TIMEOUT:g} s"


async def test_a_stalled_statement_times_out_and_the_pool_recovers(stalling: tuple[Database, TcpRelay]) -> None:
    db, relay = stalling
    ping = db.queries["ping"]
    assert await db.fetch_one(ping) == {"ok": 1}

    async def in_transaction() -> None:
        async with db.transaction() as tx:
            await tx.fetch_one(ping)

    # Each round stalls the pooled connection in a different place: a lone statement, then BEGIN.
    for stalled in (lambda: db.fetch_one(ping), in_transaction):
        relay.freeze()
        await _times_out(stalled, db)
        assert db.pool_stats()[0] == 0  # the timed-out connection was let go, not left in use
        relay.thaw()
        for _ in range(3):  # every connection the pool hands out now works: no stale, half-read one
            assert await db.fetch_one(ping) == {"ok": 1}
        async with db.transaction() as tx:
            assert await tx.fetch_one(ping) == {"ok": 1}


async def test_a_cancelled_statement_does_not_leave_its_result_to_the_next_caller(
    config: Config, server_dialects_only: None, dialect: str
) -> None:
    sleep = "SELECT pg_sleep(1) IS NULL AS slept" if dialect == "postgresql" else "SELECT SLEEP(1) AS slept"
    async with opened(config.database.raw, db_pool_min=1, db_pool_max=1) as db:
        task = asyncio.create_task(db.fetch_one(raw_query(sleep)))
        await asyncio.sleep(0.2)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert await db.fetch_one(db.queries["ping"]) == {"ok": 1}


async def test_a_request_waiting_for_the_pool_gets_the_slot_a_timed_out_connection_freed(
    config: Config, server_dialects_only: None
) -> None:
    """aiomysql wakes pool waiters only for connections it takes back: proxyd wakes them for one it dropped too."""
    async with _through_relay(config, pool_max=1) as (db, relay):
        ping = db.queries["ping"]
        relay.freeze()
        stalled = asyncio.create_task(db.fetch_one(ping))
        await asyncio.sleep(TIMEOUT * 0.8)
        waiting = asyncio.create_task(db.fetch_one(ping))  # the pool is full: this one queues for its connection
        with pytest.raises(DatabaseError, match="statement timed out"):
            await stalled
        relay.thaw()
        # The waiter's own deadline is still TIMEOUT * 0.8 away: it gets the freed slot well before.
        assert await asyncio.wait_for(waiting, TIMEOUT * 5) == {"ok": 1}


async def test_a_deadlock_is_a_transient_conflict(admin: Database) -> None:
    """The database aborts one of two transactions that wait for each other; the store retries that one."""
    table = f"deadlock_probe_{uuid.uuid4().hex[:8]}"
    await admin.execute(raw_query(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)"))
    try:
        await admin.execute(raw_query(f"INSERT INTO {table} (id, v) VALUES (1, 0), (2, 0)"))
        both_hold_a_row = asyncio.Barrier(2)

        async def cross(first: int, then: int) -> None:
            async with admin.transaction() as tx:
                await tx.execute(raw_query(f"UPDATE {table} SET v = v + 1 WHERE id = {first}"))
                await both_hold_a_row.wait()
                await tx.execute(raw_query(f"UPDATE {table} SET v = v + 1 WHERE id = {then}"))

        outcomes = await asyncio.gather(cross(1, 2), cross(2, 1), return_exceptions=True)
        assert sorted(type(outcome).__name__ for outcome in outcomes) == ["NoneType", "TransientConflict"]
        # The survivor committed both its updates; the aborted one left nothing behind.
        assert await admin.fetch_all(raw_query(f"SELECT v FROM {table} ORDER BY id")) == [{"v": 1}, {"v": 1}]
    finally:
        await admin.execute(raw_query(f"DROP TABLE {table}"))
