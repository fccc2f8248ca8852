"""The data step of migration ``0002.legacy-import``: import from ``PROXYD_LEGACY_DIR``, or undo imports.

yoyo calls these with its DB-API connection inside the migration's
transaction; they never commit. The step runs :func:`write_plan`, the same
code as ``proxyd import-legacy``, and logs the report line by line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from proxyd.db.url import Dialect
from proxyd.errors import LegacyDirError
from proxyd.legacy.importer import CHUNK, CLEAR_COLUMNS, read_source, write_plan
from proxyd.legacy.syncdb import SyncExecutor, driver_error

log = logging.getLogger("proxyd.legacy")

LEGACY_DIR_ENV = "PROXYD_LEGACY_DIR"

Step = Callable[[Any], None]


def import_step(dialect: Dialect, schema_queries: str) -> Step:
    """The apply function: import when ``PROXYD_LEGACY_DIR`` is set, do nothing when it is not.

    ``schema_queries`` are the writes of the schema this migration runs against, whose tokens are in
    clear: migration 0006 encrypts them right after (the current ``insert_key`` needs its columns).
    """

    def apply(connection: Any) -> None:
        raw = os.environ.get(LEGACY_DIR_ENV, "").strip()
        if not raw:
            log.info("%s is not set: no legacy import", LEGACY_DIR_ENV)
            return
        executor = SyncExecutor(connection, dialect, schema_queries)
        try:
            source = read_source(Path(raw))
            if len(source.store.records) > CHUNK:
                log.info("legacy import: read %d records", len(source.store.records))
            executor.prepare_session()
            report = write_plan(executor, source, via="migration", columns=CLEAR_COLUMNS, progress=log.info)
        except executor.driver.DatabaseError:
            raise
        except LegacyDirError as exc:
            raise driver_error(dialect, f"{LEGACY_DIR_ENV}: {exc}") from exc
        except Exception as exc:
            # yoyo undoes the steps before this one (the CREATE TABLE, which MySQL has already
            # committed) only for the driver's own error type.
            raise driver_error(dialect, f"legacy import from {raw} failed: {exc}") from exc
        for line in report.lines():
            log.info("%s", line)

    return apply


def rollback_step(dialect: Dialect) -> Step:
    """The rollback function: delete exactly the rows imports created; keys made since through the API stay."""

    def rollback(connection: Any) -> None:
        executor = SyncExecutor(connection, dialect)
        # yoyo's SQLite connection does not enforce foreign keys, so the meta goes first, explicitly.
        executor.execute("legacy_delete_imported_meta")
        deleted = executor.execute("legacy_delete_imported_keys")
        log.info("legacy import rolled back: %d imported key(s) deleted", deleted)

    return rollback
