"""Throwaway PostgreSQL and MariaDB servers for the test suite.

Each context manager starts a private server in a fresh temporary directory
(data directory and unix socket inside it), listening on a free loopback port,
yields a :class:`ServerInfo` and stops the server and removes the directory
afterwards.  The system servers (ports 5432 / 3306) are never used.

Set ``PROXYD_TEST_POSTGRES_URL`` / ``PROXYD_TEST_MYSQL_URL`` to an admin URL of
an existing server to use it instead of starting one.

Run ``python tests/dbservers.py postgresql|mysql`` to start a server by hand;
it prints the admin URL and runs until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

import psycopg2  # type: ignore[import-untyped,unused-ignore]
import pymysql

POSTGRES_URL_ENV = "PROXYD_TEST_POSTGRES_URL"
MYSQL_URL_ENV = "PROXYD_TEST_MYSQL_URL"

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
PORT_ATTEMPTS = 3
LOG_TAIL_CHARS = 4000
SYSTEM_PORTS = frozenset({5432, 3306})

POSTGRES_BIN_DIRS = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin")
MARIADB_BIN_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")

PG_SUPERUSER = "postgres"
MYSQL_SUPERUSER = "root"

IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
ADDRESS_IN_USE_RE = re.compile(
    r"Address already in use|could not bind|Bind on TCP/IP port|Do you already have another",
    re.IGNORECASE,
)


class ServerUnavailable(Exception):
    """The binaries needed to start a server are not installed."""


class ServerStartError(RuntimeError):
    """A server was found but failed to start (message includes the log tail)."""


@dataclass(frozen=True)
class ServerInfo:
    dialect: str  # "postgresql" | "mysql"
    admin_url: str
    datadir: str | None = None  # a private server's files (data, WAL / redo log); None for an external one

    def database_url(self, name: str) -> str:
        """The URL of database ``name`` on the same server."""
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path="/" + quote(name, safe="")))


# --------------------------------------------------------------------------- helpers


def _find_binary(names: Sequence[str], dir_patterns: Sequence[str]) -> str | None:
    """First of ``names`` found on PATH, then in ``dir_patterns`` (globs, newest first)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for pattern in dir_patterns:
        # Sort numerically so /usr/lib/postgresql/16 wins over /usr/lib/postgresql/9.6.
        dirs = sorted(glob.glob(pattern), key=_version_key, reverse=True)
        for directory in dirs:
            for name in names:
                candidate = os.path.join(directory, name)
                if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                    return candidate
    return None


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path))


def _free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in SYSTEM_PORTS:
            return port


def _log_tail(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        return f"(no log: {exc})"
    return text[-LOG_TAIL_CHARS:]


def _check_identifier(name: str) -> None:
    if not IDENTIFIER_RE.match(name):
        raise ValueError(f"invalid database name {name!r} (use [A-Za-z_][A-Za-z0-9_]*)")


def _command(cmd: Sequence[str], *, cwd: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Runs a server tool in the C locale, its output (stderr too) captured as text."""
    return subprocess.run(
        list(cmd),
        cwd=cwd,
        env={**os.environ, "LC_ALL": "C"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )


def _run(cmd: Sequence[str], *, cwd: str, what: str) -> None:
    try:
        proc = _command(cmd, cwd=cwd, timeout=START_TIMEOUT * 2)
    except subprocess.TimeoutExpired as exc:
        raise ServerStartError(f"{what} timed out: {shlex.join(cmd)}") from exc
    if proc.returncode != 0:
        raise ServerStartError(
            f"{what} failed (exit {proc.returncode}): {shlex.join(cmd)}\n{proc.stdout[-LOG_TAIL_CHARS:]}"
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- PostgreSQL


def _postgres_run_as() -> tuple[list[str], pwd.struct_passwd | None]:
    """Command prefix and account used to run PostgreSQL binaries (it refuses root)."""
    if os.geteuid() != 0:
        return [], None
    account = None
    for name in ("postgres", "nobody"):
        try:
            account = pwd.getpwnam(name)
            break
        except KeyError:
            continue
    if account is None:
        raise ServerUnavailable("running as root but neither user 'postgres' nor 'nobody' exists")
    runuser = _find_binary(["runuser"], ["/usr/sbin", "/sbin", "/usr/bin"])
    if runuser is None:
        raise ServerUnavailable("running as root and 'runuser' is missing (needed to drop privileges)")
    return [runuser, "-u", account.pw_name, "--"], account


def _pg_connect_kwargs() -> dict[str, Any]:
    return {"connect_timeout": 2}


def _stop_postgres(prefix: list[str], pg_ctl: str, datadir: str, tmpdir: str) -> None:
    pidfile = os.path.join(datadir, "postmaster.pid")
    if not os.path.exists(pidfile):
        return
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(
            [*prefix, pg_ctl, "-D", datadir, "stop", "-m", "fast", "-w", "-t", str(int(STOP_TIMEOUT))],
            cwd=tmpdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=STOP_TIMEOUT + 10,
            check=False,
        )
    # pg_ctl normally removes the pid file; if it is still there, kill by hand.
    try:
        with open(pidfile, encoding="ascii", errors="replace") as fh:
            pid = int(fh.readline().strip())
    except (OSError, ValueError):
        return
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _pid_alive(pid):
            return


def postgres_server() -> contextlib.AbstractContextManager[ServerInfo]:
    """A private PostgreSQL server for the ``with`` block (or the one named by PROXYD_TEST_POSTGRES_URL)."""
    return _external_or_private("postgresql", POSTGRES_URL_ENV, _private_postgres_server)


@contextlib.contextmanager
def _private_postgres_server() -> Iterator[ServerInfo]:
    initdb = _find_binary(["initdb"], POSTGRES_BIN_DIRS)
    pg_ctl = None
    if initdb is not None:
        # Prefer the pg_ctl of the same installation as initdb.
        sibling = os.path.join(os.path.dirname(os.path.realpath(initdb)), "pg_ctl")
        pg_ctl = sibling if os.access(sibling, os.X_OK) else _find_binary(["pg_ctl"], POSTGRES_BIN_DIRS)
    missing = [name for name, path in (("initdb", initdb), ("pg_ctl", pg_ctl)) if path is None]
    if initdb is None or pg_ctl is None:
        raise ServerUnavailable(f"PostgreSQL binaries not found: {', '.join(missing)}")
    prefix, account = _postgres_run_as()

    tmpdir = tempfile.mkdtemp(prefix="proxyd-pg-")
    datadir = os.path.join(tmpdir, "data")
    logfile = os.path.join(tmpdir, "postgres.log")
    try:
        if account is not None:
            os.chown(tmpdir, account.pw_uid, account.pw_gid)
        _run(
            [
                *prefix,
                initdb,
                "-D",
                datadir,
                "--no-sync",
                "-A",
                "trust",
                "-U",
                PG_SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
            ],
            cwd=tmpdir,
            what="initdb",
        )
        admin_url = _start_postgres(prefix, pg_ctl, datadir, tmpdir, logfile)
        yield ServerInfo("postgresql", admin_url, datadir)
    finally:
        try:
            _stop_postgres(prefix, pg_ctl, datadir, tmpdir)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _start_postgres(prefix: list[str], pg_ctl: str, datadir: str, tmpdir: str, logfile: str) -> str:
    """Start the postmaster on a free port (retrying if the port gets taken); return admin URL."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = _free_port()
        options = " ".join(
            [
                "-F",
                "-c fsync=off",
                "-c full_page_writes=off",
                "-c synchronous_commit=off",
                "-c max_connections=200",
                "-c listen_addresses=127.0.0.1",
                f"-p {port}",
                f"-k {shlex.quote(tmpdir)}",
            ]
        )
        deadline = time.monotonic() + START_TIMEOUT
        proc = _command(
            [
                *prefix,
                pg_ctl,
                "-D",
                datadir,
                "-l",
                logfile,
                "-w",
                "-t",
                str(int(START_TIMEOUT)),
                "-o",
                options,
                "start",
            ],
            cwd=tmpdir,
            timeout=START_TIMEOUT + 10,
        )
        tail = _log_tail(logfile)
        if proc.returncode != 0:
            if attempt < PORT_ATTEMPTS and ADDRESS_IN_USE_RE.search(tail):
                _stop_postgres(prefix, pg_ctl, datadir, tmpdir)
                continue
            raise ServerStartError(
                f"PostgreSQL failed to start on port {port}:\n{proc.stdout}\n--- log tail ---\n{tail}"
            )
        admin_url = f"postgresql://{PG_SUPERUSER}@127.0.0.1:{port}/postgres"
        _wait_until(functools.partial(_pg_ping, admin_url), deadline, "PostgreSQL", logfile)
        return admin_url
    raise AssertionError("unreachable")


def _pg_ping(url: str) -> None:
    conn = psycopg2.connect(url, **_pg_connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        conn.close()


# --------------------------------------------------------------------------- MariaDB


def _mysql_connect_kwargs(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    kwargs: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or MYSQL_SUPERUSER),
        "password": unquote(parts.password or ""),
        "charset": "utf8mb4",
        "connect_timeout": 5,
        "autocommit": True,
    }
    database = unquote(parts.path.lstrip("/"))
    if database:
        kwargs["database"] = database
    socket_path = query.get("unix_socket") or query.get("socket")
    if socket_path:
        kwargs["unix_socket"] = socket_path
    return kwargs


def _mysql_ping(url: str) -> None:
    # read/write timeouts: without them a non-MySQL listener on the port hangs the handshake.
    conn = pymysql.connect(**_mysql_connect_kwargs(url), read_timeout=2, write_timeout=2)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        conn.close()


def _mariadb_server_args(datadir: str) -> list[str]:
    """Options shared by bootstrap (mariadb-install-db) and the server; --no-defaults first."""
    args = [
        "--no-defaults",
        f"--datadir={datadir}",
        "--skip-log-bin",
        "--innodb-buffer-pool-size=32M",
        "--innodb-log-file-size=8M",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0",
        "--loose-innodb-use-native-aio=0",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
    ]
    if os.geteuid() == 0:
        args.append("--user=root")
    return args


def mariadb_server() -> contextlib.AbstractContextManager[ServerInfo]:
    """A private MariaDB server for the ``with`` block (or the one named by PROXYD_TEST_MYSQL_URL)."""
    return _external_or_private("mysql", MYSQL_URL_ENV, _private_mariadb_server)


@contextlib.contextmanager
def _private_mariadb_server() -> Iterator[ServerInfo]:
    mariadbd = _find_binary(["mariadbd", "mysqld"], MARIADB_BIN_DIRS)
    install_db = _find_binary(["mariadb-install-db", "mysql_install_db"], MARIADB_BIN_DIRS)
    missing = [name for name, path in (("mariadbd", mariadbd), ("mariadb-install-db", install_db)) if path is None]
    if mariadbd is None or install_db is None:
        raise ServerUnavailable(f"MariaDB binaries not found: {', '.join(missing)}")

    tmpdir = tempfile.mkdtemp(prefix="proxyd-mariadb-")
    datadir = os.path.join(tmpdir, "data")
    logfile = os.path.join(tmpdir, "mariadb.log")
    proc: subprocess.Popen[bytes] | None = None
    try:
        common = _mariadb_server_args(datadir)
        _run(
            [
                install_db,
                *common,
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            cwd=tmpdir,
            what="mariadb-install-db",
        )
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = _free_port()
            deadline = time.monotonic() + START_TIMEOUT
            with open(logfile, "ab") as log:
                proc = subprocess.Popen(
                    [
                        mariadbd,
                        *common,
                        f"--port={port}",
                        "--bind-address=127.0.0.1",
                        "--skip-networking=0",
                        f"--socket={os.path.join(tmpdir, 'mysqld.sock')}",
                        f"--pid-file={os.path.join(tmpdir, 'mysqld.pid')}",
                        f"--tmpdir={tmpdir}",
                        "--skip-name-resolve",
                        "--max-connections=300",
                        "--performance-schema=OFF",
                        "--loose-skip-innodb-adaptive-hash-index",
                    ],
                    cwd=tmpdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            admin_url = f"mysql://{MYSQL_SUPERUSER}@127.0.0.1:{port}/mysql"
            try:
                _wait_until(functools.partial(_mysql_ping, admin_url), deadline, "MariaDB", logfile, proc)
            except ServerStartError:
                exited = proc.poll() is not None
                if exited and attempt < PORT_ATTEMPTS and ADDRESS_IN_USE_RE.search(_log_tail(logfile)):
                    proc = None
                    continue
                raise
            break
        yield ServerInfo("mysql", admin_url, datadir)
    finally:
        try:
            if proc is not None:
                _stop_process(proc)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------- Redis

REDIS_BIN_DIRS = ("/usr/bin", "/usr/sbin", "/usr/local/bin")


def _redis_ping(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        if not sock.recv(64).startswith(b"+PONG"):
            raise ConnectionError("no PONG")


class RedisServer:
    """A private redis-server on a loopback port, its files in a temporary directory; ``stop`` and ``start`` again.

    No persistence: a restarted server starts empty, like a Redis that lost its data.
    """

    def __init__(self) -> None:
        binary = _find_binary(["redis-server"], REDIS_BIN_DIRS)
        if binary is None:
            raise ServerUnavailable("redis-server not found")
        self._binary = binary
        self._tmpdir = tempfile.mkdtemp(prefix="proxyd-redis-")
        self._logfile = os.path.join(self._tmpdir, "redis.log")
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            if not self.port or attempt > 1:
                self.port = _free_port()
            with open(self._logfile, "ab") as log:
                self._proc = subprocess.Popen(
                    [
                        self._binary,
                        "--port",
                        str(self.port),
                        "--bind",
                        "127.0.0.1",
                        "--dir",
                        self._tmpdir,
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--daemonize",
                        "no",
                        "--protected-mode",
                        "yes",
                    ],
                    cwd=self._tmpdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                _wait_until(
                    functools.partial(_redis_ping, self.port),
                    time.monotonic() + START_TIMEOUT,
                    "redis-server",
                    self._logfile,
                    self._proc,
                )
            except ServerStartError:
                if attempt < PORT_ATTEMPTS and ADDRESS_IN_USE_RE.search(_log_tail(self._logfile)):
                    continue
                raise
            return

    def stop(self) -> None:
        if self._proc is not None:
            _stop_process(self._proc)
            self._proc = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        try:
            if self._proc is not None:
                self._proc.send_signal(signal.SIGCONT)
            self.stop()
        finally:
            shutil.rmtree(self._tmpdir, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the ``with`` block."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


# --------------------------------------------------------------------------- common


@contextlib.contextmanager
def _external_or_private(
    dialect: str, url_env: str, start_private: Callable[[], contextlib.AbstractContextManager[ServerInfo]]
) -> Iterator[ServerInfo]:
    """The server whose admin URL is in ``url_env`` if set, else a private one for the duration."""
    external = os.environ.get(url_env)
    if external:
        yield ServerInfo(dialect, external)
        return
    with start_private() as server:
        yield server


def _wait_until(
    ping: Callable[[], None],
    deadline: float,
    what: str,
    logfile: str,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Call ``ping()`` until it succeeds; raise ServerStartError with the log tail otherwise."""
    last_error: BaseException | None = None
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerStartError(
                f"{what} exited with code {proc.returncode} during startup\n--- log tail ---\n{_log_tail(logfile)}"
            )
        try:
            ping()
            return
        except Exception as exc:  # any connect error means "not yet"
            last_error = exc
        if time.monotonic() >= deadline:
            raise ServerStartError(
                f"{what} did not accept connections within {START_TIMEOUT:.0f}s "
                f"(last error: {last_error})\n--- log tail ---\n{_log_tail(logfile)}"
            )
        time.sleep(0.05)


@contextlib.contextmanager
def _admin_cursor(server: ServerInfo) -> Iterator[Any]:
    """A cursor on the server's admin database, in autocommit (CREATE/DROP DATABASE need it)."""
    if server.dialect == "postgresql":
        conn: Any = psycopg2.connect(server.admin_url, **_pg_connect_kwargs())
        conn.autocommit = True
    elif server.dialect == "mysql":
        conn = pymysql.connect(**_mysql_connect_kwargs(server.admin_url))
    else:
        raise ValueError(f"unknown dialect {server.dialect!r}")
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def create_database(server: ServerInfo, name: str) -> str:
    """Create database ``name`` on ``server``; return its URL."""
    _check_identifier(name)
    with _admin_cursor(server) as cur:
        if server.dialect == "postgresql":
            # template0 + C locale works whatever the server's default encoding is.
            cur.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
        else:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    return server.database_url(name)


def drop_database(server: ServerInfo, name: str) -> None:
    """Drop database ``name`` if it exists (PostgreSQL: also kills lingering sessions)."""
    _check_identifier(name)
    with _admin_cursor(server) as cur:
        if server.dialect == "mysql":
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        elif cur.connection.server_version >= 130000:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')


def checkpoint(server: ServerInfo) -> None:
    """Have the server write what it holds in memory to its files (PostgreSQL: CHECKPOINT; InnoDB: flush logs)."""
    with _admin_cursor(server) as cur:
        cur.execute("CHECKPOINT" if server.dialect == "postgresql" else "FLUSH LOGS")


def files_contain(datadir: str, needles: Sequence[bytes]) -> set[bytes]:
    """Which of ``needles`` appear anywhere in the server's files: tables, indexes, WAL or redo and undo logs."""
    found: set[bytes] = set()
    for root, _, names in os.walk(datadir):
        for name in names:
            try:
                with open(os.path.join(root, name), "rb") as fh:
                    content = fh.read()
            except OSError:
                continue  # a socket, or a file that went away
            found.update(needle for needle in needles if needle in content)
    return found


def dump(url: str) -> str:
    """What ``pg_dump`` or ``mariadb-dump`` writes for the database at ``url`` (a backup, as an admin makes one)."""
    parts = urlsplit(url)
    if parts.scheme.startswith("postgres"):
        pg_dump = _find_binary(["pg_dump"], POSTGRES_BIN_DIRS)
        if pg_dump is None:
            raise ServerUnavailable("pg_dump not found")
        command = [pg_dump, "--no-owner", f"--dbname={url}"]
    else:
        mariadb_dump = _find_binary(["mariadb-dump", "mysqldump"], MARIADB_BIN_DIRS)
        if mariadb_dump is None:
            raise ServerUnavailable("mariadb-dump not found")
        kwargs = _mysql_connect_kwargs(url)
        command = [
            mariadb_dump,
            "--no-defaults",
            "--protocol=tcp",
            f"--host={kwargs['host']}",
            f"--port={kwargs['port']}",
            f"--user={kwargs['user']}",
            "--single-transaction",
            "--hex-blob",
            kwargs["database"],
        ]
        if kwargs["password"]:
            command.insert(2, f"--password={kwargs['password']}")
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed (exit {result.returncode}): {result.stderr[-LOG_TAIL_CHARS:]}")
    return result.stdout


def main(argv: Sequence[str]) -> int:
    servers = {"postgresql": postgres_server, "mysql": mariadb_server}
    if len(argv) != 1 or argv[0] not in servers:
        print(f"usage: {sys.argv[0]} postgresql|mysql", file=sys.stderr)
        return 2

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Explicit SIGINT handler too: it is ignored when started in the background by a script.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        with servers[argv[0]]() as server:
            print(server.admin_url, flush=True)
            print("Press Ctrl-C to stop.", file=sys.stderr, flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    except ServerUnavailable as exc:
        print(f"unavailable: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
