"""Migrations on every dialect, and the SQL files' contract."""

from __future__ import annotations

import asyncio
from importlib.resources import files

import pytest

from proxyd.config import Config
from proxyd.db import open_database
from proxyd.db.connect import ADAPTERS
from proxyd.db.queries import Queries, compile_query, parse_queries, queries_for
from proxyd.db.schema import Migrator, migration_ids, pending_migrations, require_current_schema
from proxyd.db.url import Dialect
from proxyd.errors import IntegrityViolation, SchemaOutOfDate
from proxyd.legacy.syncdb import SYNC_DRIVERS, SyncExecutor

DIALECTS: tuple[Dialect, ...] = ("sqlite", "postgresql", "mysql")


def test_every_dialect_defines_the_same_queries() -> None:
    names = {d: set(Queries.load(d, ADAPTERS[d].paramstyle)) for d in DIALECTS}
    assert names["sqlite"], "no queries found"
    assert names["sqlite"] == names["postgresql"] == names["mysql"]


def test_the_legacy_import_runs_the_adapters_own_queries() -> None:
    """yoyo's synchronous driver and the daemon's async one share their Query objects where the placeholders agree."""
    for dialect in DIALECTS:
        adapter, synchronous = ADAPTERS[dialect], SYNC_DRIVERS[dialect]
        sync = SyncExecutor(None, dialect).queries
        assert set(sync) == set(queries_for(dialect, adapter.paramstyle))
        if synchronous.paramstyle == adapter.paramstyle:
            assert sync is queries_for(dialect, adapter.paramstyle)
        assert sync["find_key_by_id"].params == ("id",)


def test_every_dialect_ships_the_same_migrations() -> None:
    ids = {d: migration_ids(d) for d in DIALECTS}
    assert ids["sqlite"] == ids["postgresql"] == ids["mysql"]
    for dialect in DIALECTS:
        folder = files("proxyd.migrations").joinpath(dialect)
        sql = {p.name for p in folder.iterdir() if p.name.endswith(".sql")}
        for name in sql - {n for n in sql if n.endswith(".rollback.sql")}:
            assert name.replace(".sql", ".rollback.sql") in sql, f"{dialect}/{name} has no rollback"


@pytest.mark.parametrize(
    ("style", "expected", "params"),
    [
        ("named", "SELECT :a, :b, :a, x::int, '%'", ("a", "b")),
        ("pyformat", "SELECT %(a)s, %(b)s, %(a)s, x::int, '%%'", ("a", "b")),
        ("numeric_dollar", "SELECT $1, $2, $1, x::int, '%'", ("a", "b")),
    ],
)
def test_placeholders_compile_per_driver(style: str, expected: str, params: tuple[str, ...]) -> None:
    query = compile_query("q", "SELECT :a, :b, :a, x::int, '%'", style)  # type: ignore[arg-type]
    assert query.sql == expected and query.params == params


def test_parse_rejects_duplicates_and_empty_queries() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;", "named", "x.sql")
    with pytest.raises(ValueError, match="empty"):
        parse_queries("-- name: a\n-- only a comment\n", "named", "x.sql")


async def test_apply_rollback_apply(config: Config) -> None:
    migrator = Migrator(config.database)
    applied = await asyncio.to_thread(migrator.apply)
    assert applied == migration_ids(config.database.dialect)
    assert all(s.applied for s in await asyncio.to_thread(migrator.status))
    assert await asyncio.to_thread(migrator.apply) == []  # idempotent

    database = await open_database(config)
    try:
        await require_current_schema(database)
        await asyncio.to_thread(migrator.rollback, len(applied))
        assert not any(s.applied for s in await asyncio.to_thread(migrator.status))
        assert await pending_migrations(database) == migration_ids(config.database.dialect)
        with pytest.raises(SchemaOutOfDate, match="proxyd migrate apply"):
            await require_current_schema(database)
        await asyncio.to_thread(migrator.apply)
        await require_current_schema(database)
    finally:
        await database.close()


async def test_database_enforces_one_default(config: Config) -> None:
    """The constraint holds even for writers that bypass the store."""
    await asyncio.to_thread(Migrator(config.database).apply)
    database = await open_database(config)
    q = database.queries
    try:
        for key_id in ("a", "b"):
            await database.execute(
                q["insert_key"],
                {
                    "id": key_id,
                    "name": key_id,
                    "key_hmac": key_id * 64,
                    "key_ciphertext": "sealed",
                    "masked_key": "***",
                    "created_at": 1,
                    "last_used": None,
                    "usage_count": 0,
                },
            )
        await database.execute(q["mark_default_key"], {"id": "a"})
        with pytest.raises(IntegrityViolation):
            await database.execute(q["mark_default_key"], {"id": "b"})
    finally:
        await database.close()
