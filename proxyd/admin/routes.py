"""The admin routes: ``{prefix}/api-keys``, ``{prefix}/client-keys``, ``{prefix}/admin`` and the console's ``/admin``.

Every route here except the login and the console's own (its page, assets,
sign-in and sign-out check for themselves) requires an admin (``auth.py``):
each handler is wrapped in the guard, so a path no route matches keeps its
plain 404 or 405, as on any other path. Every answer on these paths, errors
included, carries the console's security headers (``routes_console.py``). The
handlers live in ``routes_accounts``, ``routes_client_keys``, ``routes_stats``
and ``routes_console``. They are routes of the root application, not a
sub-application: their paths share the API prefix with the proxy routes, and
that prefix may be empty (``PROXYD_API_PREFIX=/``), which aiohttp's
``add_subapp`` cannot take.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from proxyd.admin import routes_accounts as admin_accounts
from proxyd.admin import routes_client_keys as admin_client_keys
from proxyd.admin import routes_console as console
from proxyd.admin import routes_stats as admin_stats
from proxyd.admin import token_file as admin_token
from proxyd.admin.auth import AdminAuth
from proxyd.admin.device_flow import DeviceFlowHub
from proxyd.admin.sessions import CONSOLE_PATH
from proxyd.admin.validation import require_strings
from proxyd.appkeys import ADMIN_AUTH, DATABASE, DEVICE_FLOWS, GITHUB, KEY_ADMIN, SHARED_STATE
from proxyd.config import Config
from proxyd.errors import Forbidden, Unauthorized
from proxyd.http.json_io import json_response, read_dto
from proxyd.logs import redact_values

log = logging.getLogger("proxyd.admin")

CREDENTIAL_MAX = 1024


def guarded(handler: Handler) -> Handler:
    """``handler`` for admins only: anyone else gets the guard's 401 or 403 and the handler never runs."""

    async def guard(request: web.Request) -> web.StreamResponse:
        await request.app[ADMIN_AUTH].authorize(request)
        return await handler(request)

    return guard


async def login(request: web.Request) -> web.Response:
    auth = request.app[ADMIN_AUTH]
    if not auth.login_enabled:
        raise Forbidden("Login is disabled: PROXYD_ADMIN_PASSWORD is not set")
    fields = require_strings(await read_dto(request), username=CREDENTIAL_MAX, password=CREDENTIAL_MAX)
    await auth.throttle.check(request.remote)
    if not auth.check_credentials(fields["username"], fields["password"]):
        await auth.throttle.failed(request.remote)
        raise Unauthorized("Invalid username or password")
    return json_response(auth.issue())


def _with_admin_token(config: Config) -> Config:
    """``config`` with the generated admin token when PROXYD_ADMIN_TOKEN is unset (and loopback mode is off)."""
    if config.admin_token is not None or config.admin_loopback:
        return config
    path = config.admin_token_path.absolute()
    token, created = admin_token.load_or_create(path)
    redact_values(token)
    # The path, never the token: whoever may read the file may be admin.
    if created:
        log.info("admin token created in %s (mode 0600): admins send it as a bearer token", path)
    else:
        log.info("admin token: read from %s", path)
    return dataclasses.replace(config, admin_token=token)


def admin_paths(prefix: str) -> Callable[[str], bool]:
    """Whether a path is the admin's: below ``{prefix}/api-keys``, ``/client-keys``, ``/admin``, or the console's."""
    exact = (f"{prefix}/api-keys", f"{prefix}/admin", f"{prefix}/client-keys", CONSOLE_PATH)
    below = tuple(f"{path}/" for path in exact)

    def is_admin(path: str) -> bool:
        return path in exact or path.startswith(below)

    return is_admin


def mount(root: web.Application, config: Config) -> None:
    """The admin routes on ``root``, their state set up after the root's services and torn down before them.

    The GitHub client, key admin and database they take from ``root`` come from
    the cleanup contexts before this one, so they exist for as long as it runs.
    """

    async def admin_state(app: web.Application) -> AsyncIterator[None]:
        app[ADMIN_AUTH] = auth = AdminAuth(_with_admin_token(config), state=app[SHARED_STATE], database=app[DATABASE])
        app[DEVICE_FLOWS] = hub = DeviceFlowHub(app[GITHUB], app[KEY_ADMIN])
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
        yield
        await hub.close()

    async def end_device_flows(app: web.Application) -> None:
        # on_shutdown runs before aiohttp waits for open streams: device-flow watchers end now, not at the timeout.
        await app[DEVICE_FLOWS].close()

    is_admin = admin_paths(config.api_prefix)

    async def admin_headers(request: web.Request, response: web.StreamResponse) -> None:
        if is_admin(request.rel_url.path):  # every answer on the admin paths, errors included
            await console.security_headers(request, response)

    root.cleanup_ctx.append(admin_state)
    root.on_shutdown.append(end_device_flows)
    root.on_response_prepare.append(admin_headers)

    prefix = config.api_prefix
    keys, client_keys, admin = f"{prefix}/api-keys", f"{prefix}/client-keys", f"{prefix}/admin"
    # Each path with its methods; the fixed paths before ``{id}``, so it never captures ``default`` or ``device-flow``.
    table: dict[str, dict[str, Handler]] = {
        f"{keys}/default": {"POST": admin_accounts.set_default_key},
        f"{keys}/device-flow": {"GET": admin_accounts.device_flow},
        keys: {"POST": admin_accounts.create_key, "GET": admin_accounts.list_keys},
        f"{keys}/{{id}}": {"PATCH": admin_accounts.rename_key, "DELETE": admin_accounts.delete_key},
        f"{keys}/{{id}}/refresh-meta": {"POST": admin_accounts.refresh_meta},
        f"{keys}/{{id}}/quota": {"GET": admin_accounts.key_quota},
        client_keys: {"POST": admin_client_keys.create_client_key, "GET": admin_client_keys.list_client_keys},
        f"{client_keys}/{{id}}": {
            "GET": admin_client_keys.get_client_key,
            "PATCH": admin_client_keys.update_client_key,
            "DELETE": admin_client_keys.delete_client_key,
        },
        f"{admin}/stats": {"GET": admin_stats.stats},
        f"{admin}/logs": {"GET": admin_stats.logs},
        f"{admin}/usage": {"GET": admin_stats.usage},
    }
    for path, methods in table.items():
        for method, handler in methods.items():
            root.router.add_route(method, path, guarded(handler))
    # The routes anyone may call: the console's page and sign-in check for themselves, and the login is
    # how an admin gets a token (with PROXYD_API_PREFIX=/ the console's sign-in answers it too).
    console.add_routes(root)
    if prefix:
        root.router.add_post(f"{admin}/login", login)
