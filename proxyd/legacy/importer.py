"""Writing an import plan to the database: the one batch import.

Both the yoyo migration ``0002.legacy-import`` and ``proxyd import-legacy``
call :func:`write_plan` on a synchronous DB-API connection (yoyo's, or one
opened by :func:`import_legacy_command`): read the facts, :func:`decide`,
write in batches, inside the caller's single transaction. The transition
fallback (:mod:`proxyd.legacy.fallback`) applies the same :func:`decide` to
one key at a time through the async store.

Every ``api_keys`` row an import creates is recorded in ``legacy_import``
(id, sha256 of the token, when, from which file, by which path), so that
rolling back ``0002`` deletes exactly those rows, and so that a key deleted
in proxyd after its import is not imported again.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from proxyd.clock import now_ms
from proxyd.config import Config
from proxyd.crypto.keyring import Keyring, generate_key, parse_key
from proxyd.crypto.startup import open_keys_sync
from proxyd.db import Row
from proxyd.db.schema import migration_ids
from proxyd.db.url import DatabaseUrl
from proxyd.errors import DatabaseError, LegacyDirError, ProxydError, SchemaOutOfDate, UndecryptableToken
from proxyd.keys.records import ApiKey, CopilotMeta
from proxyd.keys.sealed import key_columns, meta_columns
from proxyd.legacy.plan import ImportPlan, plan_import
from proxyd.legacy.printable import printable
from proxyd.legacy.reader import LegacyStore, Skipped, read_store
from proxyd.legacy.report import ImportReport
from proxyd.legacy.rules import DatabaseFacts, Decision, decide, key_sha256
from proxyd.legacy.syncdb import SyncExecutor, connect, driver_reason

log = logging.getLogger("proxyd.legacy")

Via = Literal["migration", "cli", "fallback"]
Progress = Callable[[str], None]

# Rows per executemany round; also the progress step for large stores.
CHUNK = 5000

# A stored key no token equals: the row's token could not be decrypted (its id still collides).
_UNREADABLE = "\x00"


@dataclass(frozen=True, slots=True)
class AccountColumns:
    """How an import writes accounts, and reads back the ones stored, in the schema it runs against.

    The current schema seals every token (:func:`sealed_columns`). Migration 0002 runs before 0006
    encrypts anything: it writes the schema of its time, in clear (:data:`CLEAR_COLUMNS`, with the
    queries its migration file brings), and 0006 then encrypts what it wrote.
    """

    key_params: Callable[[ApiKey], dict[str, Any]]
    meta_params: Callable[[str, CopilotMeta], dict[str, Any]]
    # The token of a ``legacy_existing_keys`` row; None when it cannot be read.
    stored_key: Callable[[Row], str | None]


def sealed_columns(keyring: Keyring) -> AccountColumns:
    def stored_key(row: Row) -> str | None:
        try:
            return keyring.open(row["key_ciphertext"], "github-token", row["id"])
        except UndecryptableToken:
            return None

    return AccountColumns(
        key_params=lambda api_key: key_columns(api_key, keyring),
        meta_params=lambda key_id, meta: meta_columns(key_id, meta, keyring),
        stored_key=stored_key,
    )


CLEAR_COLUMNS = AccountColumns(
    key_params=lambda api_key: {
        "id": api_key.id,
        "name": api_key.name,
        "key": api_key.key,
        "created_at": api_key.created_at,
        "last_used": api_key.last_used,
        "usage_count": api_key.usage_count,
    },
    meta_params=lambda key_id, meta: {
        "api_key_id": key_id,
        "token": meta.token,
        "expires_at": meta.expires_at,
        "reset_time": meta.reset_time,
        "chat_quota": meta.chat_quota,
        "completions_quota": meta.completions_quota,
    },
    stored_key=lambda row: str(row["key"]),
)


@dataclass(frozen=True, slots=True)
class LegacySource:
    """A legacy store read and planned: everything an import needs from the files."""

    directory: Path
    store: LegacyStore
    plan: ImportPlan

    @property
    def files(self) -> dict[str, str]:
        return {record.api_key.id: record.file for record in self.store.records}

    @property
    def default_source(self) -> str | None:
        if self.plan.default_id is None:
            return None
        return "selected-token" if self.plan.default_id == self.store.selected_id else "isDefault flag"


def check_directory(directory: Path) -> Path:
    """``directory`` made absolute, or LegacyDirError naming what is wrong with it."""
    path = Path(os.path.abspath(directory))
    shown = printable(str(directory))
    try:
        is_dir = path.is_dir()
        exists = is_dir or path.exists()
    except PermissionError:
        raise LegacyDirError(f"{shown}: permission denied") from None
    if not exists:
        raise LegacyDirError(f"{shown}: no such directory")
    if not is_dir:
        raise LegacyDirError(f"{shown}: not a directory")
    if not os.access(path, os.R_OK | os.X_OK):
        raise LegacyDirError(f"{shown}: permission denied")
    return path


def read_source(directory: Path, *, now_ms: int | None = None) -> LegacySource:
    """Read and plan the store under ``directory`` (opened for reading only); OSError becomes LegacyDirError."""
    path = check_directory(directory)
    try:
        store = read_store(path, now_ms=now_ms)
    except OSError as exc:
        raise LegacyDirError(f"{printable(str(directory))}: cannot read ({exc.strerror or exc})") from None
    return LegacySource(path, store, plan_import(store))


def record_params(api_key: ApiKey, *, source_dir: Path, source_file: str, via: Via, imported_at: int) -> dict[str, Any]:
    """The ``legacy_import`` row for one inserted key (the token itself is not stored twice)."""
    return {
        "api_key_id": api_key.id,
        "key_sha256": key_sha256(api_key.key),
        "imported_at": imported_at,
        "source_dir": printable(str(source_dir)),
        "source_file": source_file,
        "via": via,
    }


def read_facts(executor: SyncExecutor, columns: AccountColumns) -> DatabaseFacts:
    """Every id and key in the database, what earlier imports created, and the default."""
    key_of_id: dict[str, str] = {}
    id_of_key: dict[str, str] = {}
    for row in executor.fetch_all("legacy_existing_keys"):
        key = columns.stored_key(row)
        key_of_id[row["id"]] = _UNREADABLE if key is None else key
        if key is not None:
            id_of_key[key] = row["id"]
    imported = executor.fetch_all("legacy_imported")
    default = executor.fetch_one("find_default_key")
    return DatabaseFacts(
        key_of_id=key_of_id,
        id_of_key=id_of_key,
        imported_ids=frozenset(row["api_key_id"] for row in imported),
        imported_key_hashes=frozenset(row["key_sha256"] for row in imported),
        default_id=default["id"] if default is not None else None,
    )


def write_plan(
    executor: SyncExecutor,
    source: LegacySource,
    *,
    via: Via,
    columns: AccountColumns,
    dry_run: bool = False,
    database: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import ``source`` inside the caller's transaction and report; with ``dry_run`` only read.

    The default-key lock is taken first, so the "database has no default yet"
    fact cannot change before the import commits.
    """
    if not dry_run:
        executor.fetch_one("lock_default_key")
    facts = read_facts(executor, columns)
    decision = decide(source.plan.rows, source.plan.default_id, facts)
    if not dry_run:
        _write(executor, source, decision, via, columns, progress)
    return build_report(source, decision, dry_run=dry_run, database=database)


def _write(
    executor: SyncExecutor,
    source: LegacySource,
    decision: Decision,
    via: Via,
    columns: AccountColumns,
    progress: Progress | None,
) -> None:
    files = source.files
    imported_at = now_ms()
    total = len(decision.inserts)
    for start in range(0, total, CHUNK):
        chunk = decision.inserts[start : start + CHUNK]
        executor.execute_many("insert_key", [columns.key_params(row) for row in chunk])
        executor.execute_many(
            "legacy_insert_meta", [columns.meta_params(row.id, row.meta) for row in chunk if row.meta is not None]
        )
        executor.execute_many(
            "legacy_record_import",
            [
                record_params(
                    row, source_dir=source.directory, source_file=files[row.id], via=via, imported_at=imported_at
                )
                for row in chunk
            ],
        )
        if progress is not None and total > CHUNK:
            progress(f"legacy import: {start + len(chunk)}/{total} keys written")
    if decision.mark_default is not None:
        executor.execute("mark_default_key", {"id": decision.mark_default})


def build_report(source: LegacySource, decision: Decision, *, dry_run: bool, database: str | None) -> ImportReport:
    files = source.files
    rejected = [Skipped(files[item.row.id], item.reason) for item in decision.rejected]
    return ImportReport(
        source=printable(str(source.directory)),
        database=database,
        dry_run=dry_run,
        records=len(source.store.records),
        rows=len(source.plan.rows),
        inserted=decision.inserts,
        present=decision.present,
        deleted=decision.deleted,
        merged=source.plan.merged,
        skipped=sorted([*source.plan.skipped, *rejected], key=lambda s: s.file),
        warnings=[*source.plan.warnings, *decision.warnings],
        default=decision.default,
        default_source=source.default_source,
        dangling_default=source.plan.dangling_default,
        files=files,
    )


# --- proxyd import-legacy ------------------------------------------------------------------------


def import_legacy_command(config: Config, directory: Path, *, dry_run: bool = False, as_json: bool = False) -> int:
    """``proxyd import-legacy DIR``: the report on stdout, progress on stderr, one transaction."""
    path = check_directory(directory)
    url = config.database
    with connect(url, timeout=config.db_timeout) as executor:
        require_current_schema_sync(executor, url)
        columns = sealed_columns(_import_keys(executor, config, dry_run=dry_run))
        started = time.monotonic()
        source = read_source(path)
        if len(source.store.records) > CHUNK:
            _progress(f"legacy import: read {len(source.store.records)} records in {time.monotonic() - started:.1f}s")
        try:
            with executor.transaction(commit=not dry_run):
                report = write_plan(
                    executor,
                    source,
                    via="cli",
                    columns=columns,
                    dry_run=dry_run,
                    database=url.redacted(),
                    progress=_progress,
                )
        except ProxydError:
            raise
        except Exception as exc:
            log.debug("legacy import failed", exc_info=True)
            reason = driver_reason(exc, url)
            raise DatabaseError(f"{url.redacted()}: legacy import failed, nothing was written: {reason}") from None
    print(report.json_text() if as_json else report.text(), flush=True)
    return 0


def _import_keys(executor: SyncExecutor, config: Config, *, dry_run: bool) -> Keyring:
    """The keys to seal with, and to read the stored tokens with (to find those already present).

    A dry run writes nothing, not even a new key file: where nothing is stored yet, it needs no key.
    """
    if dry_run and not executor.fetch_all("sealed_tokens"):
        return Keyring([parse_key(generate_key())])  # seals nothing that is kept
    return open_keys_sync(executor, config).keyring()


def require_current_schema_sync(executor: SyncExecutor, url: DatabaseUrl) -> None:
    try:
        applied = {row["migration_id"] for row in executor.fetch_all("applied_migrations")}
    except executor.driver.Error:
        applied = set()  # no yoyo table: nothing applied yet
    missing = [mid for mid in migration_ids(url.dialect) if mid not in applied]
    if missing:
        raise SchemaOutOfDate(
            f"{url.redacted()}: database schema is out of date (missing {', '.join(missing)}); "
            "run `proxyd migrate apply` first"
        )


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
