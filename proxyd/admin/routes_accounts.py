"""The legacy ``api-keys`` routes: create, list, rename, delete, default, refresh-meta, device flow."""

from __future__ import annotations

from aiohttp import web

from proxyd import sse
from proxyd.admin.accounts import usable
from proxyd.admin.validation import require_new_key, require_strings
from proxyd.appkeys import COPILOT, DEVICE_FLOWS, KEY_ADMIN, QUOTAS, STORE
from proxyd.http.json_io import json_response, read_dto

NAME_MAX = 100
KEY_MAX = 512
ID_MAX = 255


async def create_key(request: web.Request) -> web.Response:
    name, key = require_new_key(await read_dto(request), name_max=NAME_MAX, key_max=KEY_MAX)
    created = await request.config_dict[KEY_ADMIN].create(name, key)
    return json_response(created.to_response(), 201)


async def list_keys(request: web.Request) -> web.Response:
    cooldowns = request.config_dict[COPILOT].cooldowns
    listed = []
    for key in await request.config_dict[STORE].find_all(include_unusable=True):
        # An account serving client keys rests after Copilot rate-limited it.
        cooling = await cooldowns.cooling(key.id)
        listed.append(
            {
                **key.to_response(),
                "coolingDownUntil": cooling.until_ms if cooling is not None else None,
                "coolingDownReason": cooling.reason if cooling is not None else None,
            }
        )
    return json_response(listed)


async def rename_key(request: web.Request) -> web.Response:
    fields = require_strings(await read_dto(request), name=NAME_MAX)
    updated = await request.config_dict[KEY_ADMIN].rename(request.match_info["id"], fields["name"])
    return json_response(updated.to_response())


async def delete_key(request: web.Request) -> web.Response:
    await request.config_dict[KEY_ADMIN].delete(request.match_info["id"])
    request.config_dict[QUOTAS].forget(request.match_info["id"])
    # The legacy controller returned nothing: 200 with an empty body.
    return web.Response(status=200)


async def set_default_key(request: web.Request) -> web.Response:
    fields = require_strings(await read_dto(request), id=ID_MAX)
    updated = await request.config_dict[KEY_ADMIN].set_default(fields["id"])
    return json_response(updated.to_response(), 201)


async def refresh_meta(request: web.Request) -> web.Response:
    updated = await request.config_dict[KEY_ADMIN].refresh_meta(request.match_info["id"])
    return json_response(updated.to_response(), 201)


async def key_quota(request: web.Request) -> web.Response:
    """The account's Copilot plan and quotas as GitHub reports them (cached a minute: upstream/quota.py)."""
    account = usable(await request.config_dict[STORE].get(request.match_info["id"]))
    return json_response({"id": account.id, **await request.config_dict[QUOTAS].get(account)})


async def device_flow(request: web.Request) -> web.StreamResponse:
    """Server-sent events of the (shared) device flow; see ``device_flow.py`` for the events."""
    response = sse.stream_response()
    with request.app[DEVICE_FLOWS].watch() as events:
        await response.prepare(request)
        try:
            while (event := await events.get()) is not None:
                await response.write(event.frame())
            await response.write_eof()
        except ConnectionResetError:
            pass  # this watcher left; the flow goes on for the others
    return response
