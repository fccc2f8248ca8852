"""Client keys as an admin changes them: the one set of rules ``{prefix}/client-keys`` and ``proxyd keys`` share.

Fields are named as the HTTP API names them (``monthlyRequests``, ``expiresAt``);
every problem is one message that starts with its field's name, all of them in
one ``BadRequest`` (``proxyd keys`` puts its option names in their place). Each
change clears this process's client key cache (``on_change``), and a deleted key's
counts go with it (``on_delete``); other processes see the change within
``PROXYD_KEY_CACHE_TTL``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import Any

from proxyd.admin.validation import string_messages
from proxyd.clock import epoch_ms, now_ms
from proxyd.errors import BadRequest
from proxyd.keys.client_keys import ClientKey, ClientKeySettings, ClientKeyStore
from proxyd.keys.store import account_ids

NAME_MAX = 100
MODEL_MAX = 200
ACCOUNT_ID_MAX = 255
LIST_MAX = 1000
COUNT_MAX = 10**12
FIELDS = ("name", "models", "rpm", "monthlyRequests", "expiresAt", "accounts")


@dataclass(frozen=True, slots=True)
class ClientKeyAdmin:
    keys: ClientKeyStore
    on_change: Callable[[], None] | None = None
    # What the limits remember of a key (its counts): forgotten with the key.
    on_delete: Callable[[str], Awaitable[None]] | None = None

    async def find_all(self) -> list[ClientKey]:
        return await self.keys.find_all()

    async def get(self, key_id: str) -> ClientKey:
        return await self.keys.get(key_id)

    async def create(self, fields: Mapping[str, Any]) -> tuple[ClientKey, str]:
        """A new key with ``fields`` (``name`` required) and its secret, shown this once."""
        settings = await self.settings(fields, ClientKeySettings(name=""), require_name=True)
        created = await self.keys.create(settings)
        self._changed()
        return created

    async def update(self, key_id: str, fields: Mapping[str, Any]) -> ClientKey:
        current = await self.keys.get(key_id)
        updated = await self.keys.update(key_id, await self.settings(fields, current.settings, require_name=False))
        self._changed()
        return updated

    async def delete(self, key_id: str) -> None:
        await self.keys.delete(key_id)
        self._changed()
        if self.on_delete is not None:
            await self.on_delete(key_id)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    async def settings(
        self, fields: Mapping[str, Any], current: ClientKeySettings, *, require_name: bool
    ) -> ClientKeySettings:
        """``current`` with the fields ``fields`` sets (null clears a limit); one 400 listing every problem."""
        messages = [f"property {field} should not exist" for field in fields if field not in FIELDS]
        values: dict[str, Any] = {}
        if require_name or "name" in fields:
            messages += string_messages(fields, "name", max_length=NAME_MAX)
            values["name"] = fields.get("name")
        for field, attribute in (("rpm", "rpm"), ("monthlyRequests", "monthly_requests")):
            if field in fields:
                value = fields[field]
                if value is not None and (type(value) is not int or not 1 <= value <= COUNT_MAX):
                    messages.append(f"{field} must be a whole number from 1 to {COUNT_MAX}, or null")
                values[attribute] = value
        if "models" in fields:
            models = fields["models"]
            if models is not None and not _string_list(models, MODEL_MAX):
                messages.append(
                    f"models must be a non-empty list of model ids (at most {LIST_MAX}, "
                    f"each 1 to {MODEL_MAX} characters), or null"
                )
            values["models"] = tuple(dict.fromkeys(models)) if isinstance(models, list) else None
        if "expiresAt" in fields:
            expires, problem = expiry(fields["expiresAt"])
            if problem:
                messages.append(problem)
            values["expires_at"] = expires
        if "accounts" in fields:
            accounts = fields["accounts"]
            messages += await self._account_messages(accounts)
            values["accounts"] = tuple(dict.fromkeys(accounts)) if isinstance(accounts, list) else None
        if messages:
            raise BadRequest(messages)
        return replace(current, **values)

    async def _account_messages(self, accounts: Any) -> list[str]:
        if accounts is None:
            return []
        if not _string_list(accounts, ACCOUNT_ID_MAX):
            return [f"accounts must be a non-empty list of API key ids (at most {LIST_MAX}), or null"]
        known = await account_ids(self.keys.db)  # the API keys a client key may name: ids only, nothing to decrypt
        return [f"accounts: no API key has the id {account_id!r}" for account_id in accounts if account_id not in known]


def _string_list(value: Any, max_length: int) -> bool:
    # Not empty: a key no model or no account could ever serve is a mistake; null means "all".
    return (
        isinstance(value, list)
        and 0 < len(value) <= LIST_MAX
        and all(isinstance(item, str) and 0 < len(item) <= max_length and item.isprintable() for item in value)
    )


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59, 999_000), UTC)


def expiry(value: Any) -> tuple[int | None, str | None]:
    """``expiresAt``: an ISO 8601 date-time (UTC when no offset is given) or date, in the future; or null.

    A bare date (``2026-12-31``) means the end of that day in UTC, its last millisecond: the key
    works through the day it names, and is listed as expiring at ``2026-12-31T23:59:59.999Z``.
    """
    if value is None:
        return None, None
    problem = (
        "expiresAt must be an ISO 8601 date-time (e.g. 2026-12-31T23:59:59Z) or date (2026-12-31: "
        "the end of that day, UTC) in the future, or null"
    )
    if not isinstance(value, str) or len(value) > 64:
        return None, problem
    try:
        moment = _end_of_day(date.fromisoformat(value))
    except ValueError:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None, problem
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        expires = epoch_ms(moment)
    except OverflowError:
        return None, problem
    if expires <= now_ms():
        return None, problem
    return expires, None
