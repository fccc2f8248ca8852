"""The key store: API keys and their Copilot meta, in the legacy shapes.

Every method is one statement or one transaction; unknown ids raise
``ApiKeyNotFound`` rather than silently doing nothing.

Tokens are sealed on the way in and opened on the way out (:mod:`proxyd.keys.sealed`,
:mod:`proxyd.crypto.keyring`); a presented token is found by its keyed lookup
hash, never by comparing tokens in SQL. An account whose token cannot be opened
with the keys this process holds is *unusable*: it is named once in the log,
listed for admins, and never found for a request nor put in a client key's pool.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, ParamSpec, TypeVar

from proxyd.clock import now_ms
from proxyd.crypto.keyring import Keyring, Purpose
from proxyd.crypto.source import KeySource
from proxyd.db import Database, Executor, Row, optional_int
from proxyd.db.queries import Query
from proxyd.errors import (
    ApiKeyNotFound,
    DuplicateKeyError,
    IntegrityViolation,
    NotFoundError,
    TransientConflict,
    UndecryptableToken,
)
from proxyd.keys.records import ApiKey, CopilotMeta
from proxyd.keys.sealed import key_columns, meta_columns, unusable_account
from proxyd.keys.usage import UsageIncrement, usage_batch

log = logging.getLogger("proxyd.keys")


class _Unset:
    """Marks an argument the caller did not pass (``None`` is a real value for ``last_used``)."""


UNSET: Any = _Unset()


def storable(value: str) -> bool:
    """Whether ``value`` could be in the database at all.

    PostgreSQL text cannot hold NUL, and no database holds what is not UTF-8: the lone
    surrogates aiohttp decodes a header's undecodable bytes to (surrogateescape).
    """
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def lock_row(tx: Executor, query: Query, row_id: str, missing: type[NotFoundError]) -> None:
    """Lock the row ``row_id`` names until ``tx`` ends; ``missing`` if there is none (or no database could hold it)."""
    if not storable(row_id) or await tx.fetch_one(query, {"id": row_id}) is None:
        raise missing()


async def delete_row(executor: Executor, query: Query, row_id: str, missing: type[NotFoundError]) -> None:
    """Delete the row ``row_id`` names; ``missing`` if there is none (or no database could hold it)."""
    if not storable(row_id) or await executor.execute(query, {"id": row_id}) == 0:
        raise missing()


async def account_ids(database: Database) -> set[str]:
    """Every account's id; nothing is decrypted, so no key is needed."""
    return {row["id"] for row in await database.fetch_all(database.queries["all_key_ids"])}


_ATTEMPTS = 3

P = ParamSpec("P")
T = TypeVar("T")


def retry_transient(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Run a write again when the database aborted it to break a deadlock (concurrent admin writes on InnoDB)."""

    @functools.wraps(method)
    async def retrying(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await method(*args, **kwargs)
            except TransientConflict:
                if attempt == _ATTEMPTS:
                    raise
                await asyncio.sleep(0.02 * attempt)
        raise AssertionError("unreachable")

    return retrying


class KeyStore:
    def __init__(self, database: Database, keys: KeySource) -> None:
        self.db = database
        self.q = database.queries
        self.keys = keys
        self._reported: set[tuple[str, str, str | None]] = set()  # (row, token kind, key id) named in the log

    async def find_all(self, *, include_unusable: bool = False) -> list[ApiKey]:
        """Every account, newest first; those whose token cannot be decrypted only with ``include_unusable``."""
        accounts = [self.account(r) for r in await self.db.fetch_all(self.q["find_all_keys"])]
        return accounts if include_unusable else [a for a in accounts if not a.unusable]

    async def find_by_id(self, key_id: str) -> ApiKey | None:
        """The account with this id, unusable or not (admin changes work on both)."""
        return await self._find_one(self.db, "find_key_by_id", {"id": key_id})

    async def get(self, key_id: str) -> ApiKey:
        found = await self.find_by_id(key_id)
        if found is None:
            raise ApiKeyNotFound()
        return found

    async def find_by_key(self, key: str) -> ApiKey | None:
        return await self.find_by_key_in(self.db, key)

    async def find_by_key_in(self, executor: Executor, key: str) -> ApiKey | None:
        """The usable account whose GitHub token is ``key``, found by its lookup hash."""
        if not storable(key):
            return None  # stored nowhere, so found nowhere: no query (the drivers would fail on it)
        keyring = self.keys.keyring()
        found = await self._find_by_hash(executor, keyring, key)
        if found is None:
            # The key file may have changed (a rotation): rows may be hashed under a key this process learnt
            # just now, or while the query waited (compared by identity: another request may have reloaded it).
            self.keys.refresh()
            if (latest := self.keys.keyring()) is not keyring:
                found = await self._find_by_hash(executor, latest, key)
        return found if found is not None and not found.unusable and found.key == key else None

    async def get_default(self) -> ApiKey | None:
        return await self.get_default_in(self.db)

    async def get_default_in(self, executor: Executor) -> ApiKey | None:
        """The default account, if it is usable."""
        found = await self._find_one(executor, "find_default_key", {})
        return found if found is not None and not found.unusable else None

    @retry_transient
    async def create(
        self,
        name: str,
        key: str,
        *,
        meta: CopilotMeta | None = None,
        key_id: str | None = None,
        created_at: int | None = None,
    ) -> ApiKey:
        """A new key; it becomes the default when there is none, so ``_`` works from the first key on."""
        api_key = ApiKey(
            id=key_id or str(uuid.uuid4()),
            name=name,
            key=key,
            created_at=now_ms() if created_at is None else created_at,
            meta=meta,
        )
        async with self.db.transaction() as tx:
            # Held to commit and taken before the check: of two keys created at once
            # on an empty database, one becomes the default and the other sees it.
            await tx.fetch_one(self.q["lock_default_key"], {})
            if await tx.fetch_one(self.q["find_default_key"], {}) is None:
                api_key = replace(api_key, is_default=True)
            await self.insert(tx, api_key)
        return api_key

    async def insert(self, tx: Executor, api_key: ApiKey) -> None:
        """Insert a complete record (meta and default flag included) inside ``tx``, its tokens sealed."""
        keyring = self.keys.keyring()
        # The unique index catches the token hashed under the sealing key; while a rotation runs, the
        # same token may still be stored hashed under an older key.
        for older in keyring.lookup_hashes(api_key.key)[1:]:
            if await tx.fetch_one(self.q["find_key_by_hmac"], {"hmac": older, "other_hmac": older}) is not None:
                raise DuplicateKeyError()
        try:
            await tx.execute(self.q["insert_key"], key_columns(api_key, keyring))
        except IntegrityViolation as exc:
            raise DuplicateKeyError() from exc
        if api_key.meta is not None:
            await tx.execute(self.q["upsert_meta"], meta_columns(api_key.id, api_key.meta, keyring))
        if api_key.is_default:
            await self._make_default(tx, api_key.id)

    @retry_transient
    async def update(
        self,
        key_id: str,
        *,
        name: str | None = None,
        usage_count: int | None = None,
        last_used: int | None = UNSET,
        meta: CopilotMeta | None = None,
    ) -> ApiKey:
        async with self.db.transaction() as tx:
            # The row stays locked until commit: a DELETE racing this update either
            # removed it already (404 here) or waits, so what is read back below is
            # what was stored, and a 200 never reports a change that was lost.
            await lock_row(tx, self.q["lock_key"], key_id, ApiKeyNotFound)
            current = await self._find_one(tx, "find_key_by_id", {"id": key_id})
            assert current is not None  # locked above
            if name is not None:
                await tx.execute(self.q["update_key_name"], {"id": key_id, "name": name})
            if usage_count is not None or last_used is not UNSET:
                await tx.execute(
                    self.q["update_key_usage"],
                    {
                        "id": key_id,
                        "usage_count": current.usage_count if usage_count is None else usage_count,
                        "last_used": current.last_used if last_used is UNSET else last_used,
                    },
                )
            if meta is not None:
                await tx.execute(self.q["upsert_meta"], meta_columns(key_id, meta, self.keys.keyring()))
            updated = await self._find_one(tx, "find_key_by_id", {"id": key_id})
        assert updated is not None  # locked above
        return updated

    @retry_transient
    async def delete(self, key_id: str) -> None:
        await delete_row(self.db, self.q["delete_key"], key_id, ApiKeyNotFound)

    @retry_transient
    async def set_default(self, key_id: str) -> ApiKey:
        async with self.db.transaction() as tx:
            await self._make_default(tx, key_id)
            updated = await self._find_one(tx, "find_key_by_id", {"id": key_id})
        assert updated is not None
        return updated

    async def _make_default(self, tx: Executor, key_id: str) -> None:
        if not storable(key_id):
            raise ApiKeyNotFound()
        await tx.fetch_one(self.q["lock_default_key"], {})
        await tx.execute(self.q["clear_default_key"], {})
        if await tx.execute(self.q["mark_default_key"], {"id": key_id}) == 0:
            raise ApiKeyNotFound()

    async def upsert_meta(self, key_id: str, meta: CopilotMeta) -> ApiKey:
        await self.save_meta(key_id, meta)
        return await self.get(key_id)

    @retry_transient
    async def save_meta(self, key_id: str, meta: CopilotMeta) -> None:
        """``upsert_meta`` without reading the record back."""
        if not storable(key_id):
            raise ApiKeyNotFound()
        try:
            await self.db.execute(self.q["upsert_meta"], meta_columns(key_id, meta, self.keys.keyring()))
        except IntegrityViolation as exc:
            # The only constraint an upsert can break is the key's foreign key.
            raise ApiKeyNotFound() from exc

    async def record_usage(self, increments: Iterable[UsageIncrement], *, executor: Executor | None = None) -> None:
        """Apply many usage increments in one round trip; ids of deleted keys are ignored."""
        batch = usage_batch(increments)
        if batch is not None:
            await (executor or self.db).execute(self.q["record_usage"], {"batch": batch})

    async def record_usage_batch(
        self, executor: Executor, batch_id: str, increments: Iterable[UsageIncrement], *, applied_at: int | None = None
    ) -> bool:
        """Apply ``increments`` inside the caller's transaction unless batch ``batch_id`` already counted.

        The id is written in the same transaction, so a batch whose COMMIT acknowledgement was lost
        can be sent again: False (and nothing applied) if a committed transaction already applied it.
        """
        claim = {"id": batch_id, "applied_at": now_ms() if applied_at is None else applied_at}
        if await executor.execute(self.q["claim_usage_batch"], claim) == 0:
            return False
        await self.record_usage(increments, executor=executor)
        return True

    # --- rows to accounts ------------------------------------------------------------------------

    def account(self, row: Row) -> ApiKey:
        """A row of ``api_key_records`` as an account, its tokens opened (or marked unusable)."""
        try:
            key = self._open(row["key_ciphertext"], "github-token", row["id"])
        except UndecryptableToken as exc:
            self._report(row, "GitHub token", exc)
            return unusable_account(row)
        meta = None
        if row["meta_token_ciphertext"] is not None:
            try:
                token = self._open(row["meta_token_ciphertext"], "copilot-token", row["id"])
            except UndecryptableToken as exc:
                self._report(row, "cached Copilot token", exc)  # only costs a new token exchange
            else:
                meta = CopilotMeta(
                    token=token,
                    expires_at=int(row["meta_expires_at"]),
                    reset_time=optional_int(row["meta_reset_time"]),
                    chat_quota=optional_int(row["meta_chat_quota"]),
                    completions_quota=optional_int(row["meta_completions_quota"]),
                )
        return ApiKey(
            id=row["id"],
            name=row["name"],
            key=key,
            created_at=int(row["created_at"]),
            usage_count=int(row["usage_count"]),
            last_used=optional_int(row["last_used"]),
            is_default=bool(row["is_default"]),
            meta=meta,
            masked_key=row["masked_key"],
        )

    def _open(self, sealed: str, purpose: Purpose, row_id: str) -> str:
        keyring = self.keys.keyring()
        try:
            return keyring.open(sealed, purpose, row_id)
        except UndecryptableToken as exc:
            # Sealed under a key this process lacks: a rotation may have just added it to the key file.
            if exc.key_id is not None and exc.key_id not in keyring.ids and self.keys.refresh():
                return self.keys.keyring().open(sealed, purpose, row_id)
            raise

    def _report(self, row: Row, what: str, exc: UndecryptableToken) -> None:
        """Name an undecryptable row once per process (the start-up check named it first)."""
        seen = (str(row["id"]), what, exc.key_id)
        if seen in self._reported:
            return
        self._reported.add(seen)
        if what == "GitHub token":
            log.error(
                "account %s (%r, %s) is unusable: its GitHub token is %s; it is not used until %s holds that key",
                row["id"],
                row["name"],
                row["masked_key"],
                exc.reason,
                self.keys.describe(),
            )
        else:
            log.warning("account %s: its %s is %s; a new one is exchanged instead", row["id"], what, exc.reason)

    async def _find_by_hash(self, executor: Executor, keyring: Keyring, key: str) -> ApiKey | None:
        hashes = keyring.lookup_hashes(key)
        # Each query pairs the sealing key's hash with one other key's, so a row a rotation moves from
        # that key to the sealing key between two queries is still found by one of them.
        for other in hashes[1:] or hashes:
            row = await executor.fetch_one(self.q["find_key_by_hmac"], {"hmac": hashes[0], "other_hmac": other})
            if row is not None:
                return self.account(row)
        return None

    async def _find_one(self, executor: Executor, query: str, params: Mapping[str, Any]) -> ApiKey | None:
        if not all(storable(v) for v in params.values() if isinstance(v, str)):
            return None  # no such row can exist; asking would be a driver error on PostgreSQL
        row = await executor.fetch_one(self.q[query], params)
        return self.account(row) if row is not None else None

    async def find_by_id_in(self, executor: Executor, key_id: str) -> ApiKey | None:
        return await self._find_one(executor, "find_key_by_id", {"id": key_id})
