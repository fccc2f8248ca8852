"""``{prefix}/client-keys``: create, list, show, change and delete client keys (``admin/client_keys.py``).

The secret is in the answer to POST only; every other answer shows its
``prefix``. Each change clears this process's client key cache at once (other
instances see it within ``PROXYD_KEY_CACHE_TTL``).
"""

from __future__ import annotations

from aiohttp import web

from proxyd.appkeys import CLIENT_KEY_ADMIN
from proxyd.http.json_io import json_response, read_dto


async def create_client_key(request: web.Request) -> web.Response:
    created, secret = await request.config_dict[CLIENT_KEY_ADMIN].create(await read_dto(request))
    return json_response({**created.to_response(), "key": secret}, 201)


async def list_client_keys(request: web.Request) -> web.Response:
    return json_response([key.to_response() for key in await request.config_dict[CLIENT_KEY_ADMIN].find_all()])


async def get_client_key(request: web.Request) -> web.Response:
    key = await request.config_dict[CLIENT_KEY_ADMIN].get(request.match_info["id"])
    return json_response(key.to_response())


async def update_client_key(request: web.Request) -> web.Response:
    body = await read_dto(request)
    updated = await request.config_dict[CLIENT_KEY_ADMIN].update(request.match_info["id"], body)
    return json_response(updated.to_response())


async def delete_client_key(request: web.Request) -> web.Response:
    await request.config_dict[CLIENT_KEY_ADMIN].delete(request.match_info["id"])
    return web.Response(status=200)  # as DELETE /api-keys/{id}: 200, empty body
