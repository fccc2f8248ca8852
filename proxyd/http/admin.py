"""Admin routes: wiring, the admin guard, login, and the state they share.

Every route here except login requires an admin (see ``admin_auth``); the
handlers live in ``admin_keys`` and ``admin_stats``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from .. import admin_token
from ..appkeys import ADMIN_AUTH, CONFIG, DEVICE_FLOWS, GITHUB, KEY_ADMIN, RESOLVER, STORE, TOKENS
from ..config import Config
from ..errors import Forbidden, Unauthorized
from ..key_admin import KeyAdmin
from . import admin_keys, admin_stats
from .admin_auth import AdminAuth
from .device_flow import DeviceFlowHub
from .responses import json_response
from .validation import read_dto, require_strings

log = logging.getLogger("proxyd.admin")

CREDENTIAL_MAX = 1024


def admin_only(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        request.app[ADMIN_AUTH].authorize(request)
        return await handler(request)

    return guarded


async def login(request: web.Request) -> web.Response:
    auth = request.app[ADMIN_AUTH]
    if not auth.login_enabled:
        raise Forbidden("Login is disabled: PROXYD_ADMIN_PASSWORD is not set")
    fields = require_strings(await read_dto(request), username=CREDENTIAL_MAX, password=CREDENTIAL_MAX)
    auth.throttle.check(request.remote)
    if not auth.check_credentials(fields["username"], fields["password"]):
        auth.throttle.failed(request.remote)
        raise Unauthorized("Invalid username or password")
    return json_response(auth.issue())


async def _start(app: web.Application) -> None:
    # On startup, not in setup(): the store, GitHub client and caches exist only once the cleanup contexts ran.
    config = app[CONFIG]
    app[ADMIN_AUTH] = auth = AdminAuth(_with_admin_token(config))
    app[KEY_ADMIN] = keys = KeyAdmin(app[STORE], app[GITHUB], app[RESOLVER], app[TOKENS])
    app[DEVICE_FLOWS] = DeviceFlowHub(app[GITHUB], keys)
    if auth.loopback_only:
        log.warning(
            "PROXYD_ADMIN_TOKEN is unset and PROXYD_ADMIN_LOOPBACK=1: admin routes (%s/api-keys, %s/admin/*) "
            "answer loopback clients without a token%s; a reverse proxy on this host must not relay to them",
            config.api_prefix,
            config.api_prefix,
            " or holders of a login token" if auth.login_enabled else "",
        )
    elif config.admin_loopback:
        log.warning("PROXYD_ADMIN_LOOPBACK is ignored: PROXYD_ADMIN_TOKEN is set")


def _with_admin_token(config: Config) -> Config:
    """``config`` with the generated admin token when PROXYD_ADMIN_TOKEN is unset (and loopback mode is off)."""
    if config.admin_token is not None or config.admin_loopback:
        return config
    path = config.admin_token_path.absolute()
    token, created = admin_token.load_or_create(path)
    # The path, never the token: whoever may read the file may be admin.
    if created:
        log.info("admin token created in %s (mode 0600): admins send it as a bearer token", path)
    else:
        log.info("admin token: read from %s", path)
    return dataclasses.replace(config, admin_token=token)


async def _stop(app: web.Application) -> None:
    # on_shutdown runs before aiohttp waits for open streams: device-flow watchers end now, not at the timeout.
    hub = app.get(DEVICE_FLOWS)
    if hub is not None:  # None: start-up failed before the admin state existed
        await hub.close()


def setup(app: web.Application, prefix: str) -> None:
    keys = f"{prefix}/api-keys"
    routes: list[tuple[str, str, Handler]] = [
        # The fixed paths before ``{id}``, so it never captures ``default`` or ``device-flow``.
        ("POST", f"{keys}/default", admin_keys.set_default_key),
        ("GET", f"{keys}/device-flow", admin_keys.device_flow),
        ("POST", keys, admin_keys.create_key),
        ("GET", keys, admin_keys.list_keys),
        ("PATCH", f"{keys}/{{id}}", admin_keys.rename_key),
        ("DELETE", f"{keys}/{{id}}", admin_keys.delete_key),
        ("POST", f"{keys}/{{id}}/refresh-meta", admin_keys.refresh_meta),
        ("GET", f"{prefix}/admin/stats", admin_stats.stats),
        ("GET", f"{prefix}/admin/logs", admin_stats.logs),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, admin_only(handler))
    app.router.add_post(f"{prefix}/admin/login", login)
    app.on_startup.append(_start)
    app.on_shutdown.append(_stop)
