"""Client keys: secrets handed to clients, apart from the GitHub accounts that pay for their requests.

A secret is ``pxd_`` and 43 random URL-safe characters; only its SHA-256 is
stored (the 32 random bytes make a slow hash pointless), and the secret is
shown once, in the answer that created it. A key may restrict the models it
may ask for, its requests per minute and per UTC calendar month, its expiry,
and the accounts (API keys) that serve it: none named means every account.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from proxyd.clock import epoch_ms, iso_ms, now_ms
from proxyd.db import Database, Executor, Row, optional_int
from proxyd.errors import ClientKeyNotFound
from proxyd.keys.records import KeyRecord
from proxyd.keys.store import delete_row, lock_row, retry_transient, storable
from proxyd.keys.usage import UsageIncrement, usage_batch

SECRET_PREFIX = "pxd_"  # noqa: S105 (the public prefix of every secret)
# Shown in lists and logs: the prefix and the next 6 characters, never enough to use the key.
SHOWN_CHARACTERS = len(SECRET_PREFIX) + 6


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def is_client_key(presented: str | None) -> bool:
    return presented is not None and presented.startswith(SECRET_PREFIX)


def month_start(moment_ms: int) -> int:
    """The start of the UTC calendar month ``moment_ms`` falls in."""
    moment = datetime.fromtimestamp(moment_ms / 1000, UTC)
    return epoch_ms(moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0))


def next_month_start(moment_ms: int) -> int:
    moment = datetime.fromtimestamp(month_start(moment_ms) / 1000, UTC)
    following = (
        moment.replace(year=moment.year + 1, month=1) if moment.month == 12 else moment.replace(month=moment.month + 1)
    )
    return epoch_ms(following)


@dataclass(frozen=True, slots=True)
class ClientKeySettings:
    """What an admin chooses for a key; None means no restriction."""

    name: str
    models: tuple[str, ...] | None = None
    rpm: int | None = None
    monthly_requests: int | None = None
    expires_at: int | None = None  # epoch ms
    accounts: tuple[str, ...] | None = None

    @property
    def limited(self) -> bool:
        """Whether a request of this key has a model list, a rate or a monthly cap to pass."""
        return self.models is not None or self.rpm is not None or self.monthly_requests is not None


@dataclass(frozen=True, slots=True)
class ClientKey(KeyRecord):
    settings: ClientKeySettings
    prefix: str
    # This UTC month's requests as the usage flush last wrote them (client_key_months) when the record was read.
    requests_this_month: int = 0

    @property
    def name(self) -> str:
        return self.settings.name

    def expired(self, at_ms: int) -> bool:
        return self.settings.expires_at is not None and at_ms >= self.settings.expires_at

    @property
    def masked(self) -> str:
        return self.prefix + "..."

    def to_response(self) -> dict[str, Any]:
        s = self.settings
        return {
            "id": self.id,
            "name": s.name,
            "prefix": self.prefix,
            "models": list(s.models) if s.models is not None else None,
            "rpm": s.rpm,
            "monthlyRequests": s.monthly_requests,
            "expiresAt": iso_ms(s.expires_at) if s.expires_at is not None else None,
            "accounts": list(s.accounts) if s.accounts is not None else None,
            "usageCount": self.usage_count,
            "requestsThisMonth": self.requests_this_month,
            "lastUsed": self.last_used,
            "createdAt": self.created_at,
        }


def _json_list(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(orjson.loads(value))


def row_to_client_key(row: Row) -> ClientKey:
    return ClientKey(
        id=row["id"],
        settings=ClientKeySettings(
            name=row["name"],
            models=_json_list(row["models"]),
            rpm=optional_int(row["rpm"]),
            monthly_requests=optional_int(row["monthly_requests"]),
            expires_at=optional_int(row["expires_at"]),
            accounts=_json_list(row["accounts"]),
        ),
        prefix=row["prefix"],
        created_at=int(row["created_at"]),
        usage_count=int(row["usage_count"]),
        last_used=optional_int(row["last_used"]),
        requests_this_month=int(row["requests_this_month"]),
    )


def _settings_params(settings: ClientKeySettings) -> dict[str, Any]:
    def as_json(values: Sequence[str] | None) -> str | None:
        return None if values is None else orjson.dumps(list(values)).decode()

    return {
        "name": settings.name,
        "models": as_json(settings.models),
        "rpm": settings.rpm,
        "monthly_requests": settings.monthly_requests,
        "expires_at": settings.expires_at,
        "accounts": as_json(settings.accounts),
    }


class ClientKeyStore:
    def __init__(self, database: Database) -> None:
        self.db = database
        self.q = database.queries

    async def find_all(self) -> list[ClientKey]:
        rows = await self.db.fetch_all(self.q["find_all_client_keys"], {"month_start": month_start(now_ms())})
        return [row_to_client_key(r) for r in rows]

    async def get(self, key_id: str) -> ClientKey:
        found = await self._find_one(self.db, "find_client_key_by_id", {"id": key_id})
        if found is None:
            raise ClientKeyNotFound()
        return found

    async def find_by_hash(self, digest: str) -> ClientKey | None:
        return await self._find_one(self.db, "find_client_key_by_hash", {"key_sha256": digest})

    @retry_transient
    async def create(self, settings: ClientKeySettings) -> tuple[ClientKey, str]:
        """The new key and its secret: the only time the secret exists outside the client."""
        secret = new_secret()
        key = ClientKey(id=str(uuid.uuid4()), settings=settings, prefix=secret[:SHOWN_CHARACTERS], created_at=now_ms())
        params = {
            **_settings_params(settings),
            "id": key.id,
            "key_sha256": secret_hash(secret),
            "prefix": key.prefix,
            "created_at": key.created_at,
        }
        await self.db.execute(self.q["insert_client_key"], params)
        return key, secret

    @retry_transient
    async def update(self, key_id: str, settings: ClientKeySettings) -> ClientKey:
        async with self.db.transaction() as tx:
            await lock_row(tx, self.q["lock_client_key"], key_id, ClientKeyNotFound)
            await tx.execute(self.q["update_client_key"], {**_settings_params(settings), "id": key_id})
            updated = await self._find_one(tx, "find_client_key_by_id", {"id": key_id})
        assert updated is not None  # locked above
        return updated

    @retry_transient
    async def delete(self, key_id: str) -> None:
        async with self.db.transaction() as tx:
            await delete_row(tx, self.q["delete_client_key"], key_id, ClientKeyNotFound)
            await tx.execute(self.q["delete_client_key_months"], {"id": key_id})

    async def _find_one(self, executor: Executor, query: str, params: Mapping[str, Any]) -> ClientKey | None:
        if not all(storable(v) for v in params.values() if isinstance(v, str)):
            return None
        row = await executor.fetch_one(self.q[query], {**params, "month_start": month_start(now_ms())})
        return row_to_client_key(row) if row is not None else None


@dataclass(frozen=True, slots=True)
class ClientKeyIncrement(UsageIncrement):
    month: int  # the start of the UTC month the requests fell in, epoch ms


async def record_client_key_usage(
    database: Database, executor: Executor, increments: Sequence[ClientKeyIncrement]
) -> None:
    """Apply usage increments of client keys: totals and months, one statement each; deleted keys are ignored."""
    totals = usage_batch(increments)
    if totals is None:
        return
    await executor.execute(database.queries["record_client_key_usage"], {"batch": totals})
    months = [{"id": i.key_id, "month": i.month, "n": i.count} for i in increments]
    await executor.execute(database.queries["record_client_key_months"], {"batch": orjson.dumps(months).decode()})
