"""``{prefix}/client-keys``: create, list, show, change and delete client keys.

The secret is in the answer to POST only; every other answer shows its
``prefix``. Each change clears this process's client key cache at once (other
instances see it within ``PROXYD_KEY_CACHE_TTL``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from aiohttp import web

from proxyd.admin.validation import read_dto, string_messages
from proxyd.appkeys import CLIENT_AUTH, CLIENT_KEY_RESOLVER, CLIENT_KEYS, STORE
from proxyd.clock import epoch_ms, now_ms
from proxyd.errors import BadRequest
from proxyd.http.json_io import json_response
from proxyd.keys.client_keys import ClientKeySettings
from proxyd.keys.store import account_ids

NAME_MAX = 100
MODEL_MAX = 200
LIST_MAX = 1000
COUNT_MAX = 10**12
FIELDS = ("name", "models", "rpm", "monthlyRequests", "expiresAt", "accounts")


async def create_client_key(request: web.Request) -> web.Response:
    body = await read_dto(request)
    settings = await _settings(request, body, ClientKeySettings(name=""), require_name=True)
    created, secret = await request.config_dict[CLIENT_KEYS].create(settings)
    request.config_dict[CLIENT_KEY_RESOLVER].invalidate()
    return json_response({**created.to_response(), "key": secret}, 201)


async def list_client_keys(request: web.Request) -> web.Response:
    return json_response([key.to_response() for key in await request.config_dict[CLIENT_KEYS].find_all()])


async def get_client_key(request: web.Request) -> web.Response:
    key = await request.config_dict[CLIENT_KEYS].get(request.match_info["id"])
    return json_response(key.to_response())


async def update_client_key(request: web.Request) -> web.Response:
    store = request.config_dict[CLIENT_KEYS]
    key_id = request.match_info["id"]
    body = await read_dto(request)
    current = await store.get(key_id)
    settings = await _settings(request, body, current.settings, require_name=False)
    updated = await store.update(key_id, settings)
    request.config_dict[CLIENT_KEY_RESOLVER].invalidate()
    return json_response(updated.to_response())


async def delete_client_key(request: web.Request) -> web.Response:
    await request.config_dict[CLIENT_KEYS].delete(request.match_info["id"])
    request.config_dict[CLIENT_KEY_RESOLVER].invalidate()
    await request.config_dict[CLIENT_AUTH].forget_client_key(request.match_info["id"])  # its counts go too
    return web.Response(status=200)  # as DELETE /api-keys/{id}: 200, empty body


async def _settings(
    request: web.Request, body: Mapping[str, Any], current: ClientKeySettings, *, require_name: bool
) -> ClientKeySettings:
    """``current`` with the fields ``body`` sets (null clears a limit); one 400 listing every problem."""
    messages = [f"property {field} should not exist" for field in body if field not in FIELDS]
    values: dict[str, Any] = {}
    if require_name or "name" in body:
        problems = string_messages(body, "name", max_length=NAME_MAX)
        messages += problems
        values["name"] = body.get("name")
    for field, attribute in (("rpm", "rpm"), ("monthlyRequests", "monthly_requests")):
        if field in body:
            value = body[field]
            if value is not None and (type(value) is not int or not 1 <= value <= COUNT_MAX):
                messages.append(f"{field} must be a whole number from 1 to {COUNT_MAX}, or null")
            values[attribute] = value
    if "models" in body:
        models = body["models"]
        if models is not None and not _string_list(models, MODEL_MAX):
            messages.append(
                f"models must be a non-empty list of model ids (at most {LIST_MAX}, "
                f"each 1 to {MODEL_MAX} characters), or null"
            )
        values["models"] = tuple(dict.fromkeys(models)) if isinstance(models, list) else None
    if "expiresAt" in body:
        expires, problem = expiry(body["expiresAt"])
        if problem:
            messages.append(problem)
        values["expires_at"] = expires
    if "accounts" in body:
        accounts = body["accounts"]
        if accounts is not None and not _string_list(accounts, 255):
            messages.append(f"accounts must be a non-empty list of API key ids (at most {LIST_MAX}), or null")
        elif accounts is not None:
            known = await account_ids(request.config_dict[STORE].db)  # ids only: nothing to decrypt
            messages += [
                f"accounts: no API key has the id {account_id!r}" for account_id in accounts if account_id not in known
            ]
        values["accounts"] = tuple(dict.fromkeys(accounts)) if isinstance(accounts, list) else None
    if messages:
        raise BadRequest(messages)
    return dataclasses.replace(current, **values)


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
