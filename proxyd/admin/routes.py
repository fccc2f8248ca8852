"""The admin routes as an aiohttp sub-application: its own guard, its own state, its own start and stop.

Every route here except login requires an admin (see ``admin_auth``); the
handlers live in ``admin_keys`` and ``admin_stats``. The sub-application
answers the paths below ``{prefix}/api-keys``, ``{prefix}/client-keys`` and ``{prefix}/admin``; the
proxy routes that share the prefix stay with the root application.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from functools import partial

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import AbstractRuleMatching, MatchedSubAppResource

from proxyd.admin import routes_accounts as admin_keys
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
_PUBLIC = "admin-login"  # the one route anyone may call: it is how an admin gets a token


@web.middleware
async def admin_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route
    # Unmatched paths fall through to their 404/405, as on the root application.
    if request.match_info.http_exception is None and route.name != _PUBLIC and route.name not in console.PUBLIC:
        await request.app[ADMIN_AUTH].authorize(request)
    return await handler(request)


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


class _AdminPaths(AbstractRuleMatching):
    """The admin paths under the API prefix, which may be empty (so no plain sub-app prefix), and the console's."""

    def __init__(self, prefix: str) -> None:
        self._exact = (f"{prefix}/api-keys", f"{prefix}/admin", f"{prefix}/client-keys", CONSOLE_PATH)
        self._below = tuple(f"{path}/" for path in self._exact)

    async def match(self, request: web.Request) -> bool:
        path = request.rel_url.path
        return path in self._exact or path.startswith(self._below)

    def get_info(self) -> dict[str, object]:  # type: ignore[override]
        return {"paths": self._exact}

    @property
    def canonical(self) -> str:
        return self._exact[0]


def create_admin_app(root: web.Application, config: Config) -> web.Application:
    """The admin sub-application, built from the root's services.

    aiohttp starts a sub-application after its parent's cleanup contexts and
    stops it before them, so the GitHub client and key admin it takes from
    ``root`` exist for as long as it runs.
    """
    admin = web.Application(middlewares=[admin_guard])

    async def admin_state(admin: web.Application) -> AsyncIterator[None]:
        admin[ADMIN_AUTH] = auth = AdminAuth(
            _with_admin_token(config), state=root[SHARED_STATE], database=root[DATABASE]
        )
        admin[DEVICE_FLOWS] = hub = DeviceFlowHub(root[GITHUB], root[KEY_ADMIN])
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

    async def end_device_flows(admin: web.Application) -> None:
        # on_shutdown runs before aiohttp waits for open streams: device-flow watchers end now, not at the timeout.
        await admin[DEVICE_FLOWS].close()

    admin.cleanup_ctx.append(admin_state)
    admin.on_shutdown.append(end_device_flows)
    admin.on_response_prepare.append(console.security_headers)

    prefix = config.api_prefix
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
        ("GET", f"{keys}/{{id}}/quota", admin_keys.key_quota),
        ("POST", f"{prefix}/client-keys", admin_client_keys.create_client_key),
        ("GET", f"{prefix}/client-keys", admin_client_keys.list_client_keys),
        ("GET", f"{prefix}/client-keys/{{id}}", admin_client_keys.get_client_key),
        ("PATCH", f"{prefix}/client-keys/{{id}}", admin_client_keys.update_client_key),
        ("DELETE", f"{prefix}/client-keys/{{id}}", admin_client_keys.delete_client_key),
        ("GET", f"{prefix}/admin/stats", admin_stats.stats),
        ("GET", f"{prefix}/admin/logs", admin_stats.logs),
        ("GET", f"{prefix}/admin/usage", admin_stats.usage),
    ]
    for method, path, handler in routes:
        admin.router.add_route(method, path, handler)
    console.add_routes(admin)  # with PROXYD_API_PREFIX=/ its sign-in also answers the API's login
    if prefix:
        admin.router.add_post(f"{prefix}/admin/login", login, name=_PUBLIC)
    return admin


def mount(root: web.Application, config: Config) -> None:
    admin = create_admin_app(root, config)
    # add_subapp() needs a non-empty prefix; PROXYD_API_PREFIX=/ is allowed, so match by rule.
    # _add_subapp is what add_domain() uses for its rule-matched sub-applications.
    root._add_subapp(partial(MatchedSubAppResource, _AdminPaths(config.api_prefix), admin), admin)
