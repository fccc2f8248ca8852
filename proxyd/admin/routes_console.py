"""The admin console: its page and assets at ``/admin``, and its sign-in and sign-out.

The page (``proxyd/console/static/``: hand-written HTML, CSS and JavaScript,
no build step, nothing fetched from elsewhere) calls the admin API with the
session cookie that ``POST /admin/login`` sets (``proxyd/admin/sessions.py``).
Every answer on the admin paths (``routes.py``), console and API alike, carries
the security headers below: a Content-Security-Policy that allows this server's
own scripts and styles only (no inline script, no ``eval``), no framing, no
referrer, no MIME sniffing.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from proxyd.admin.sessions import (
    CONSOLE_PATH,
    COOKIE,
    clear_session_cookies,
    cookie_paths,
    cross_site,
    is_secure,
    same_origin,
    set_session_cookies,
)
from proxyd.appkeys import ADMIN_AUTH, CONFIG
from proxyd.config import Config
from proxyd.errors import BadRequest, Forbidden, ProxydError, TooManyRequests, Unauthorized
from proxyd.http.body import read_body
from proxyd.http.json_io import json_response, read_json_object
from proxyd.limits import CONSOLE_SESSION_TTL_SECONDS

CREDENTIAL_MAX = 1024
FORM_FIELDS_MAX = 8

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


def _load_assets() -> dict[str, tuple[bytes, str]]:
    folder = files("proxyd.console").joinpath("static")
    assets = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            assets[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return assets


ASSETS = _load_assets()


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """For every answer on the admin paths, errors included (``routes.py`` calls it on response prepare)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")


def _asset_response(name: str, cache: str) -> web.Response:
    body, content_type = ASSETS[name]
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers={"Cache-Control": cache})


async def page(request: web.Request) -> web.Response:
    return _asset_response("index.html", "no-store")


async def slash(request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect("../admin")


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name == "index.html" or name not in ASSETS:
        raise web.HTTPNotFound()
    return _asset_response(name, "no-cache")


async def session_info(request: web.Request) -> web.Response:
    """Whether the browser is signed in, and how it may sign in: what the page needs before anything else."""
    auth = request.app[ADMIN_AUTH]
    config = _config(request)
    session = await auth.session(request) if same_origin(request, auth.trusted_proxies) else None
    loopback = False
    if session is None and auth.loopback_only:
        try:
            await auth.authorize(request)
            loopback = True
        except ProxydError:
            pass
    return json_response(
        {
            "signedIn": session is not None or loopback,
            "expiresAt": session.expires_at if session is not None else None,
            "subject": session.subject if session is not None else None,
            "loopback": loopback,
            "tokenLogin": auth.token_login_enabled,
            "passwordLogin": auth.login_enabled,
            "apiPrefix": config.api_prefix,
        }
    )


async def sign_in(request: web.Request) -> web.StreamResponse:
    """``{"token": …}`` or ``{"username": …, "password": …}``, as JSON or as a form: sets the session cookie."""
    auth = request.app[ADMIN_AUTH]
    config = _config(request)
    navigating = request.headers.get("Sec-Fetch-Mode") == "navigate"
    if cross_site(request, auth.trusted_proxies):  # login CSRF: another site signing the browser in
        raise Forbidden("Sign in from the console's own page")
    form = request.content_type == "application/x-www-form-urlencoded"
    fields = await _read_form(request) if form else await _read_json(request)
    token, username, password = (fields.get(name) for name in ("token", "username", "password"))
    if not form and token is None and config.api_prefix == "" and username is not None:
        # PROXYD_API_PREFIX=/ puts the API's login (a bearer token for curl) on this very path: keep its answer.
        return await _api_login(request, username, password or "")
    try:
        await auth.throttle.check(request.remote)
        if token:
            if not auth.token_login_enabled:
                raise Forbidden("There is no admin token to sign in with (PROXYD_ADMIN_LOOPBACK=1)")
            subject = "token" if auth.check_token(token) else None
        elif username is not None or password:
            if not auth.login_enabled:
                raise Forbidden("Sign-in with a password is disabled: PROXYD_ADMIN_PASSWORD is not set")
            subject = f"user:{username}" if auth.check_credentials(username or "", password or "") else None
        else:
            raise BadRequest("Send the admin token (token), or the admin user and password (username, password)")
        if subject is None:
            await auth.throttle.failed(request.remote)
            raise Unauthorized("Invalid admin token" if token else "Invalid username or password")
        if auth.sessions is None:  # pragma: no cover - a credential checked above means a session key exists
            raise Forbidden("Console sessions are not available")
    except (Unauthorized, TooManyRequests) as exc:
        if navigating:  # a plain form post (no script): back to the page, which says what went wrong
            raise web.HTTPSeeOther("../admin#signin-failed") from exc
        raise
    secret, session = await auth.sessions.create(subject)
    response: web.StreamResponse
    if navigating:
        response = _see_other("../admin")
    else:
        response = json_response({"signedIn": True, "expiresAt": session.expires_at, "subject": session.subject})
    set_session_cookies(
        response,
        secret,
        max_age=CONSOLE_SESSION_TTL_SECONDS,
        secure=is_secure(request, auth.trusted_proxies),
        paths=cookie_paths(config.api_prefix),
    )
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    """Ends the session the cookie names, on every worker and instance (its row is deleted), and clears the cookie."""
    auth = request.app[ADMIN_AUTH]
    if cross_site(request, auth.trusted_proxies):
        raise Forbidden("Sign out from the console's own page")
    secret = request.cookies.get(COOKIE)
    if secret and auth.sessions is not None:
        await auth.sessions.revoke(secret)
    response: web.StreamResponse
    if request.headers.get("Sec-Fetch-Mode") == "navigate":
        response = _see_other("../admin")
    else:
        response = json_response({"signedIn": False})
    clear_session_cookies(
        response, secure=is_secure(request, auth.trusted_proxies), paths=cookie_paths(_config(request).api_prefix)
    )
    return response


async def _api_login(request: web.Request, username: str, password: str) -> web.Response:
    auth = request.app[ADMIN_AUTH]
    if not auth.login_enabled:
        raise Forbidden("Login is disabled: PROXYD_ADMIN_PASSWORD is not set")
    await auth.throttle.check(request.remote)
    if not auth.check_credentials(username, password):
        await auth.throttle.failed(request.remote)
        raise Unauthorized("Invalid username or password")
    return json_response(auth.issue())


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


async def _read_json(request: web.Request) -> dict[str, str]:
    content_type = request.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise BadRequest("Content-Type must be application/json or application/x-www-form-urlencoded")
    body = await read_json_object(request)
    return _credentials(body)


async def _read_form(request: web.Request) -> dict[str, str]:
    raw = await read_body(request)
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw), max_num_fields=FORM_FIELDS_MAX
        )
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The form is not valid application/x-www-form-urlencoded UTF-8") from None
    return _credentials(dict(pairs))


def _credentials(body: dict[str, Any]) -> dict[str, str]:
    messages = []
    fields: dict[str, str] = {}
    for name in ("token", "username", "password"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > CREDENTIAL_MAX:
            messages.append(f"{name} must be a string of at most {CREDENTIAL_MAX} characters")
        else:
            fields[name] = value
    if messages:
        raise BadRequest(messages)
    return fields


def _config(request: web.Request) -> Config:
    return request.config_dict[CONFIG]


def add_routes(admin: web.Application) -> None:
    admin.router.add_get(CONSOLE_PATH, page, name="console-page")
    admin.router.add_get(f"{CONSOLE_PATH}/", slash, name="console-slash")
    admin.router.add_get(f"{CONSOLE_PATH}/assets/{{name}}", asset, name="console-asset")
    admin.router.add_get(f"{CONSOLE_PATH}/session", session_info, name="console-session")
    admin.router.add_post(f"{CONSOLE_PATH}/login", sign_in, name="console-login")
    admin.router.add_post(f"{CONSOLE_PATH}/logout", sign_out, name="console-logout")
