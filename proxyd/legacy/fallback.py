"""Transition fallback: serve keys that are still only in the legacy files, importing them on first use.

With ``PROXYD_LEGACY_MODE=fallback`` proxyd can run beside the legacy service
while clients move over: a key a client presents that the database lacks is
looked up in the legacy store, imported (the same :func:`decide` rules as the
batch import, recorded in ``legacy_import``) and served. When the database
has no default key and the legacy store names one, asking for the default
imports it if needed and adopts it.

The legacy service may keep writing its files meanwhile. The index of the
store is rebuilt whenever :func:`store_signature` changes, checked at most
once per ``check_interval``; reading happens in a worker thread. Half-written
files are skipped by the reader and picked up once a later signature check
sees them rewritten. Skipped files and warnings are logged once each, when a
rebuild first meets them. Nothing under the directory is ever written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from proxyd.clock import now_ms
from proxyd.config import Config
from proxyd.db import Executor
from proxyd.errors import DuplicateKeyError, IntegrityViolation, LegacyDirError
from proxyd.keys.records import ApiKey
from proxyd.keys.store import KeyStore
from proxyd.legacy.importer import read_source, record_params
from proxyd.legacy.printable import masked, printable
from proxyd.legacy.reader import store_signature
from proxyd.legacy.rules import DatabaseFacts, Decision, decide, key_sha256

log = logging.getLogger("proxyd.legacy")

CHECK_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class _Index:
    by_key: Mapping[str, ApiKey]
    default: ApiKey | None
    files: Mapping[str, str]
    directory: Path
    problems: tuple[str, ...] = ()  # skipped files and warnings, as the import report words them


def _build_index(directory: Path) -> _Index:
    """Read and plan the store (blocking: run in a thread). Merged duplicates are one row, as in the import."""
    source = read_source(directory)
    plan = source.plan
    rows = plan.rows
    default = next((row for row in rows if row.id == plan.default_id), None)
    problems = (*(f"skipped {s.file}: {s.reason}" for s in plan.skipped), *plan.warnings)
    return _Index({row.key: row for row in rows}, default, source.files, source.directory, problems)


class LegacyFallback:
    """The :class:`~proxyd.keys.account_resolver.KeyResolver` fallback: ``await fallback(presented)`` -> ApiKey or None.

    ``presented`` is a key the database does not hold, or None when the
    database has no default key. ``imports`` counts keys imported so far.
    """

    def __init__(
        self,
        directory: Path,
        store: KeyStore,
        *,
        check_interval: float = CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self._shown_dir = printable(str(directory))
        self.imports = 0
        self._store = store
        self._check_interval = check_interval
        self._clock = clock
        self._index: _Index | None = None
        self._signature: tuple[int, ...] | None = None
        self._checked_at = 0.0
        self._problem: str | None = None
        self._logged: frozenset[str] = frozenset()
        self._refresh_lock = asyncio.Lock()
        self._import_lock = asyncio.Lock()

    async def __call__(self, presented: str | None) -> ApiKey | None:
        index = await self._current_index()
        if presented is None:
            if index.default is None:
                return None
            return await self._adopt_default(index, index.default)
        row = index.by_key.get(presented)
        if row is None:
            return None
        return await self._import(index, row)

    # --- the legacy index ------------------------------------------------------------------------

    async def _current_index(self) -> _Index:
        index = self._index
        if index is not None and self._clock() - self._checked_at < self._check_interval:
            return index
        async with self._refresh_lock:
            index = self._index
            if index is not None and self._clock() - self._checked_at < self._check_interval:
                return index  # another task refreshed it while this one waited
            return await self._refresh()

    async def _refresh(self) -> _Index:
        try:
            # The signature is taken before reading: a file written during the read changes it again.
            signature = await asyncio.to_thread(store_signature, self.directory)
            if self._index is None or signature != self._signature:
                self._index = await asyncio.to_thread(_build_index, self.directory)
                self._signature = signature
                log.debug("legacy fallback: %d key(s) indexed from %s", len(self._index.by_key), self._shown_dir)
                self._log_new_problems(self._index)
            if self._problem is not None:
                log.info("legacy fallback: %s is readable again", self._shown_dir)
                self._problem = None
        except Exception as exc:
            # Keep serving what was read before; say so once, not once per request.
            if isinstance(exc, LegacyDirError):
                message = exc.message  # names the directory already
            else:
                message = f"cannot read {self._shown_dir}: {str(exc) or type(exc).__name__}"
            if message != self._problem:
                log.warning("legacy fallback: %s", message)
                self._problem = message
            if self._index is None:
                self._index = _Index({}, None, {}, self.directory)
        self._checked_at = self._clock()
        return self._index

    def _log_new_problems(self, index: _Index) -> None:
        """Log what this rebuild skipped or warned about and earlier ones did not: once, not once per check."""
        for problem in index.problems:
            if problem not in self._logged:
                log.warning("legacy fallback: %s", problem)
        self._logged = frozenset(index.problems)

    # --- importing -------------------------------------------------------------------------------

    async def _import(self, index: _Index, row: ApiKey) -> ApiKey | None:
        async with self._import_lock:
            try:
                async with self._store.db.transaction() as tx:
                    facts = await self._facts(tx, row)
                    decision = decide([row], None, facts)
                    if decision.inserts:
                        await self._write(tx, index, decision)
                    elif not self._explain(decision):
                        return None
                    found = await self._store.find_by_key_in(tx, row.key)
            except (DuplicateKeyError, IntegrityViolation):
                # Another instance imported it between our read and our insert: serve its row.
                return await self._store.find_by_key(row.key)
            self._count(index, decision)
            return found

    async def _adopt_default(self, index: _Index, row: ApiKey) -> ApiKey | None:
        q = self._store.q
        async with self._import_lock:
            try:
                async with self._store.db.transaction() as tx:
                    # Held to commit: nobody sets another default between the check and the write.
                    await tx.fetch_one(q["lock_default_key"], {})
                    facts = await self._facts(tx, row)
                    decision = decide([row], row.id, facts)
                    outcome = decision.default
                    if outcome.status in ("already", "kept"):
                        return await self._store.get_default_in(tx)  # set meanwhile, elsewhere
                    if outcome.status != "set":
                        log.warning(
                            "legacy fallback: legacy default %s (%s) not adopted: %s",
                            printable(row.id),
                            masked(row.key),
                            outcome.reason,
                        )
                        return None
                    await self._write(tx, index, decision)
                    found = await self._store.get_default_in(tx)
            except (DuplicateKeyError, IntegrityViolation):
                return await self._store.get_default()  # another instance got there first
            self._count(index, decision)
            log.info(
                "legacy fallback: adopted %s as the default key (the legacy default)",
                printable(str(outcome.database_id)),
            )
            return found

    async def _facts(self, tx: Executor, row: ApiKey) -> DatabaseFacts:
        q = self._store.q
        by_id = await self._store.find_by_id_in(tx, row.id)
        by_key = await self._store.find_by_key_in(tx, row.key)
        imported = await tx.fetch_all(q["legacy_imported_match"], {"id": row.id, "key_sha256": key_sha256(row.key)})
        default = await tx.fetch_one(q["find_default_key"], {})
        return DatabaseFacts(
            # An account whose token cannot be decrypted still holds its id: "a different key" as far as we know.
            key_of_id={by_id.id: by_id.key if not by_id.unusable else "\x00"} if by_id is not None else {},
            id_of_key={by_key.key: by_key.id} if by_key is not None else {},
            imported_ids=frozenset(r["api_key_id"] for r in imported),
            imported_key_hashes=frozenset(r["key_sha256"] for r in imported),
            default_id=default["id"] if default is not None else None,
        )

    async def _write(self, tx: Executor, index: _Index, decision: Decision) -> None:
        q = self._store.q
        for api_key in decision.inserts:
            await self._store.insert(tx, replace(api_key, is_default=api_key.id == decision.mark_default))
            await tx.execute(
                q["legacy_record_import"],
                record_params(
                    api_key,
                    source_dir=index.directory,
                    source_file=index.files.get(api_key.id, ""),
                    via="fallback",
                    imported_at=now_ms(),
                ),
            )
        target = decision.mark_default
        if target is not None and all(api_key.id != target for api_key in decision.inserts):
            await tx.execute(q["mark_default_key"], {"id": target})

    def _count(self, index: _Index, decision: Decision) -> None:
        """Count and log the keys a committed transaction imported (masked tokens only)."""
        for api_key in decision.inserts:
            self.imports += 1
            log.info(
                "legacy fallback: imported %s (%s) from %s on first use",
                printable(api_key.id),
                masked(api_key.key),
                index.files.get(api_key.id) or printable(str(index.directory)),
            )

    def _explain(self, decision: Decision) -> bool:
        """Log why a legacy key is not imported; True when the database has the token anyway."""
        for item in decision.present:
            if item.reason != "id":
                return True  # imported meanwhile (another request or instance): serve it
            log.warning(
                "legacy fallback: %s (%s) not imported: its id is in the database with a different key",
                printable(item.row.id),
                masked(item.row.key),
            )
        for api_key in decision.deleted:
            log.info(
                "legacy fallback: %s (%s) not imported: deleted in proxyd after an earlier import",
                printable(api_key.id),
                masked(api_key.key),
            )
        for rejected in decision.rejected:
            log.warning("legacy fallback: %s not imported: %s", printable(rejected.row.id), rejected.reason)
        return False


def legacy_fallback(config: Config, store: KeyStore) -> LegacyFallback | None:
    """The fallback ``config`` asks for, or None: with ``PROXYD_LEGACY_MODE=off`` legacy files are never touched."""
    if config.legacy_mode != "fallback" or config.legacy_dir is None:
        return None
    return LegacyFallback(config.legacy_dir, store)
