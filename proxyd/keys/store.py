"""The key store: API keys and their Copilot meta, in the legacy shapes.

Every method is one statement or one transaction; unknown ids raise
``ApiKeyNotFound`` rather than silently doing nothing.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ParamSpec, TypeVar

import orjson

from proxyd.clock import now_ms
from proxyd.db import Database, Executor, Row, optional_int
from proxyd.errors import ApiKeyNotFound, DuplicateKeyError, IntegrityViolation, TransientConflict
from proxyd.keys.records import ApiKey, CopilotMeta


@dataclass(frozen=True, slots=True)
class UsageIncrement:
    key_id: str
    count: int
    last_used: int


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


def row_to_api_key(row: Row) -> ApiKey:
    meta = None
    if row["meta_token"] is not None:
        meta = CopilotMeta(
            token=row["meta_token"],
            expires_at=int(row["meta_expires_at"]),
            reset_time=optional_int(row["meta_reset_time"]),
            chat_quota=optional_int(row["meta_chat_quota"]),
            completions_quota=optional_int(row["meta_completions_quota"]),
        )
    return ApiKey(
        id=row["id"],
        name=row["name"],
        key=row["key"],
        created_at=int(row["created_at"]),
        usage_count=int(row["usage_count"]),
        last_used=optional_int(row["last_used"]),
        is_default=bool(row["is_default"]),
        meta=meta,
    )


def meta_params(key_id: str, meta: CopilotMeta) -> dict[str, Any]:
    return {
        "api_key_id": key_id,
        "token": meta.token,
        "expires_at": meta.expires_at,
        "reset_time": meta.reset_time,
        "chat_quota": meta.chat_quota,
        "completions_quota": meta.completions_quota,
    }


def key_params(api_key: ApiKey) -> dict[str, Any]:
    return {
        "id": api_key.id,
        "name": api_key.name,
        "key": api_key.key,
        "created_at": api_key.created_at,
        "last_used": api_key.last_used,
        "usage_count": api_key.usage_count,
    }


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
    def __init__(self, database: Database) -> None:
        self.db = database
        self.q = database.queries

    async def find_all(self) -> list[ApiKey]:
        return [row_to_api_key(r) for r in await self.db.fetch_all(self.q["find_all_keys"])]

    async def find_by_id(self, key_id: str) -> ApiKey | None:
        return await self._find_one(self.db, "find_key_by_id", {"id": key_id})

    async def get(self, key_id: str) -> ApiKey:
        found = await self.find_by_id(key_id)
        if found is None:
            raise ApiKeyNotFound()
        return found

    async def find_by_key(self, key: str) -> ApiKey | None:
        if not storable(key):
            return None  # stored nowhere, so found nowhere: no query (the drivers would fail on it)
        return await self._find_one(self.db, "find_key_by_key", {"key": key})

    async def get_default(self) -> ApiKey | None:
        return await self._find_one(self.db, "find_default_key", {})

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
        """Insert a complete record (meta and default flag included) inside ``tx``."""
        try:
            await tx.execute(self.q["insert_key"], key_params(api_key))
        except IntegrityViolation as exc:
            raise DuplicateKeyError() from exc
        if api_key.meta is not None:
            await tx.execute(self.q["upsert_meta"], meta_params(api_key.id, api_key.meta))
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
            if not storable(key_id) or await tx.fetch_one(self.q["lock_key"], {"id": key_id}) is None:
                raise ApiKeyNotFound()
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
                await tx.execute(self.q["upsert_meta"], meta_params(key_id, meta))
            updated = await self._find_one(tx, "find_key_by_id", {"id": key_id})
        assert updated is not None  # locked above
        return updated

    @retry_transient
    async def delete(self, key_id: str) -> None:
        if not storable(key_id):
            raise ApiKeyNotFound()
        if await self.db.execute(self.q["delete_key"], {"id": key_id}) == 0:
            raise ApiKeyNotFound()

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
            await self.db.execute(self.q["upsert_meta"], meta_params(key_id, meta))
        except IntegrityViolation as exc:
            # The only constraint an upsert can break is the key's foreign key.
            raise ApiKeyNotFound() from exc

    async def record_usage(self, increments: Iterable[UsageIncrement], *, executor: Executor | None = None) -> None:
        """Apply many usage increments in one round trip; ids of deleted keys are ignored."""
        merged: dict[str, tuple[int, int]] = {}
        for inc in increments:
            count, last = merged.get(inc.key_id, (0, 0))
            merged[inc.key_id] = (count + inc.count, max(last, inc.last_used))
        if not merged:
            return
        batch = [{"id": k, "n": n, "last_used": lu} for k, (n, lu) in merged.items()]
        await (executor or self.db).execute(self.q["record_usage"], {"batch": orjson.dumps(batch).decode()})

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

    async def _find_one(self, executor: Executor, query: str, params: Mapping[str, Any]) -> ApiKey | None:
        if not all(storable(v) for v in params.values() if isinstance(v, str)):
            return None  # no such row can exist; asking would be a driver error on PostgreSQL
        row = await executor.fetch_one(self.q[query], params)
        return row_to_api_key(row) if row is not None else None
