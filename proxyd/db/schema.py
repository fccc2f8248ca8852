"""Versioned schema migrations: a thin wrapper around yoyo for ``DATABASE_URL``.

yoyo applies migrations through synchronous DB-API drivers (sqlite3, psycopg2,
PyMySQL); these calls block, so the daemon runs them before its event loop
serves anything, and ``proxyd migrate`` runs them directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from proxyd.db import Database
from proxyd.db.url import DatabaseUrl
from proxyd.errors import DatabaseError, SchemaOutOfDate

if TYPE_CHECKING:
    from proxyd.crypto.migration import KeyProvider, MigrationRun

# The Python driver yoyo uses for each dialect, and the extra that installs it.
DRIVER_EXTRAS = {"postgresql": "postgresql", "mysql": "mysql"}


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    id: str
    applied: bool


def yoyo_url(url: DatabaseUrl) -> str:
    if url.dialect == "sqlite":
        return f"sqlite:///{url.path}"
    auth = quote(url.user, safe="")
    if url.password:
        auth += ":" + quote(url.password, safe="")
    host = f"{auth}@{url.host}" if auth else url.host
    port = f":{url.port}" if url.port else ""
    query = url.query
    if url.dialect == "mysql" and "charset=" not in query:
        query = "&".join(filter(None, [query, "charset=utf8mb4"]))
    return f"{url.dialect}://{host}{port}/{quote(url.database, safe='')}" + (f"?{query}" if query else "")


@contextmanager
def migrations_path(dialect: str) -> Iterator[Path]:
    with as_file(files("proxyd.migrations").joinpath(dialect)) as path:
        yield Path(path)


def migration_ids(dialect: str) -> list[str]:
    """The ids of every migration this version ships, in order (file names minus extension)."""
    with migrations_path(dialect) as path:
        names = [p.name for p in path.iterdir() if p.suffix in (".sql", ".py")]
    ids = {n.removesuffix(".rollback.sql").removesuffix(".sql").removesuffix(".py") for n in names}
    return sorted(ids)


class Migrator:
    """Apply, roll back and list migrations, holding yoyo's lock, never prompting.

    ``keys`` gives the encryption keys to the migration that encrypts the stored tokens (and to its
    rollback); it is called only when there are tokens to encrypt or decrypt.
    """

    def __init__(self, url: DatabaseUrl, keys: KeyProvider | None = None) -> None:
        self.url = url
        self.keys = keys

    @contextmanager
    def _session(self) -> Iterator[tuple[Any, Any, MigrationRun]]:
        from yoyo import read_migrations

        try:
            backend = _backend(self.url)
        except ImportError as exc:
            extra = DRIVER_EXTRAS.get(self.url.dialect, "")
            raise DatabaseError(
                f"{self.url.redacted()}: migration driver missing ({exc}); "
                f"install it with: pip install 'proxyd[{extra}]'"
            ) from None
        except Exception as exc:  # driver-specific connection errors
            raise DatabaseError(f"{self.url.redacted()}: connect failed: {_safe(exc, self.url)}") from None
        from proxyd.crypto.migration import migration_keys

        with migrations_path(self.url.dialect) as path:
            migrations = read_migrations(str(path))
            try:
                with backend.lock(), migration_keys(self.keys) as run:
                    yield backend, migrations, run
            except DatabaseError:
                raise
            except Exception as exc:
                raise DatabaseError(f"{self.url.redacted()}: migration failed: {_safe(exc, self.url)}") from exc

    def _missing_file(self) -> str | None:
        """Why there is no SQLite database to look at (yoyo would create the file), else None."""
        if self.url.dialect != "sqlite":
            return None
        from proxyd.db.sqlite import missing_file

        return missing_file(self.url)

    def apply(self) -> list[str]:
        if self.url.dialect == "sqlite":
            from proxyd.db.sqlite import create_private

            create_private(self.url)  # before yoyo's sqlite3 would create it readable by everyone
        with self._session() as (backend, migrations, run):
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        if run.rewrote_tokens:
            from proxyd.crypto.migration import scrub

            scrub(self.url)  # the copies of the tokens in clear that the database files still hold
        return [m.id for m in pending]

    def rollback(self, count: int = 1) -> list[str]:
        missing = self._missing_file()
        if missing:
            raise DatabaseError(missing)
        with self._session() as (backend, migrations, _):
            targets = backend.to_rollback(migrations)[:count]
            backend.rollback_migrations(targets)
            return [m.id for m in targets]

    def status(self) -> list[MigrationStatus]:
        if self._missing_file():  # nothing applied yet; looking must not create the file
            return [MigrationStatus(mid, False) for mid in migration_ids(self.url.dialect)]
        with self._session() as (backend, migrations, _):
            applied = {m.id for m in backend.to_rollback(migrations)}
            return [MigrationStatus(m.id, m.id in applied) for m in migrations]


def _backend(url: DatabaseUrl) -> Any:
    from yoyo import get_backend

    if url.dialect != "mysql":
        return get_backend(yoyo_url(url))
    from yoyo.backends.core.mysql import MySQLBackend
    from yoyo.connections import default_migration_table, parse_uri

    from proxyd.db.mysql import connect_sync

    class ProxydMySQLBackend(MySQLBackend):  # type: ignore[misc]
        """yoyo's MySQL backend, connecting as the daemon does.

        yoyo's own hands ``sslca`` and friends to PyMySQL as keyword arguments,
        which PyMySQL refuses, and would fall back to clear text silently.
        """

        def connect(self, dburi: Any) -> Any:
            return connect_sync(url, timeout=30)

    backend = ProxydMySQLBackend(parse_uri(yoyo_url(url).split("?")[0]), default_migration_table)
    backend.init_database()
    return backend


def _safe(exc: BaseException, url: DatabaseUrl) -> str:
    return url.scrub(str(exc).strip() or type(exc).__name__)


async def pending_migrations(database: Database) -> list[str]:
    """Migrations this version ships that the database lacks (all of them on an empty database)."""
    expected = migration_ids(database.dialect)
    try:
        rows = await database.fetch_all(database.queries["applied_migrations"])
    except DatabaseError:
        # No yoyo table yet means nothing applied; a real outage shows up in the ping.
        await database.fetch_one(database.queries["ping"])
        return expected
    applied = {row["migration_id"] for row in rows}
    return [mid for mid in expected if mid not in applied]


async def require_current_schema(database: Database) -> None:
    missing = await pending_migrations(database)
    if missing:
        raise SchemaOutOfDate(
            f"{database.url.redacted()}: database schema is out of date (missing {', '.join(missing)}); "
            "run `proxyd migrate apply` or start with `proxyd serve --migrate`"
        )
