"""Choosing the adapter for a ``DATABASE_URL``: a table, not a chain of ifs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from proxyd.db.base import Adapter, Database
from proxyd.db.mysql import MysqlDatabase
from proxyd.db.postgresql import PostgresDatabase
from proxyd.db.sqlite import SqliteDatabase
from proxyd.db.url import Dialect

if TYPE_CHECKING:  # proxyd.config imports proxyd.db.url, so this package must not import it at run time
    from proxyd.config import Config

ADAPTERS: Mapping[Dialect, type[Adapter[Any, Any]]] = {
    "sqlite": SqliteDatabase,
    "postgresql": PostgresDatabase,
    "mysql": MysqlDatabase,
}


def create_database(config: Config) -> Database:
    return ADAPTERS[config.database.dialect](
        config.database,
        pool_min=config.db_pool_min,
        pool_max=config.db_pool_max,
        timeout=config.db_timeout,
    )


async def open_database(config: Config) -> Database:
    database = create_database(config)
    await database.connect()
    return database
