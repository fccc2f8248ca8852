"""Who may use the admin routes.

- ``Authorization: Bearer <admin token>``: PROXYD_ADMIN_TOKEN, or when that
  is unset the token proxyd generated into PROXYD_ADMIN_TOKEN_FILE
  (``proxyd/admin/token_file.py``; ``admin/routes.py`` puts it in the config as the admin routes start), or
- ``Authorization: Bearer <access_token>`` from ``POST {prefix}/admin/login``
  (PROXYD_ADMIN_USER / PROXYD_ADMIN_PASSWORD): an HS256 JWT over the user and
  its expiry, valid 24 hours. Its signing key is derived (scrypt) from the
  admin user and password, keyed with the admin token when there is one. No
  random per-process secret: a token must work on every worker
  (PROXYD_WORKERS) and instance, and across restarts. Changing the password,
  the user or the admin token invalidates every login token.
- the admin console's session cookie (``proxyd/admin/sessions.py``), from
  ``POST /admin/login`` with the admin token or the admin user and password:
  valid on every worker and instance (the sessions live in the database) until
  it expires or is signed out. A request carrying it must come from the
  console's own origin (``Sec-Fetch-Site``/``Origin``), else it is a 403.
- Only with PROXYD_ADMIN_LOOPBACK=1 and no admin token (no file is generated
  then), a request that presents no token is served
  only if it comes from a loopback address and carries no forwarding header
  (``Forwarded``, ``X-Forwarded-For``, ``X-Real-IP``): a reverse proxy on the
  same host would otherwise make every remote client look local. Its ``Host``
  must also name the loopback (``localhost``, ``127.x.x.x``, ``[::1]``): a web
  page can point its own domain at 127.0.0.1 (DNS rebinding) and so reach
  proxyd from the admin's browser, but the browser still sends that domain as
  the ``Host``. This is opt-in because a reverse proxy on the same host that
  sends neither a forwarding header nor the client's ``Host`` (nginx's
  default ``proxy_pass http://127.0.0.1:PORT;``) still makes every remote
  client look local.

A presented token that is wrong is always refused, even from loopback.
Secrets are compared in constant time and never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from proxyd.admin.sessions import COOKIE, Session, SessionStore, cross_site, same_origin
from proxyd.admin.throttle import FailureThrottle
from proxyd.config import Config
from proxyd.db import Database
from proxyd.errors import Forbidden, Unauthorized
from proxyd.http.hosts import is_loopback, is_loopback_host
from proxyd.limits import CONSOLE_SESSION_TTL_SECONDS, LOGIN_TTL_SECONDS
from proxyd.sharedstate.base import SharedState
from proxyd.sharedstate.memory import MemoryState

_FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
_JWT_HEADER = base64.urlsafe_b64encode(orjson.dumps({"alg": "HS256", "typ": "JWT"})).rstrip(b"=")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


def _raw(text: str) -> bytes | None:
    """Header text back to the bytes the client sent (aiohttp decodes with surrogateescape)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return None


class AdminAuth:
    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        state: SharedState | None = None,
        database: Database | None = None,
    ) -> None:
        self._token = config.admin_token.encode() if config.admin_token else None
        self.trusted_proxies = config.trusted_proxies
        self._loopback = self._token is None and config.admin_loopback
        self._user = config.admin_user
        self._password = config.admin_password
        self._clock = clock
        self._signing_key: bytes | None = None
        self.throttle = FailureThrottle(state or MemoryState())
        if self._password is not None:
            # scrypt: a captured login token must not make guessing the password cheap.
            stretched = hashlib.scrypt(
                self._password.encode(), salt=b"proxyd admin login\0" + self._user.encode(), n=2**14, r=8, p=1
            )
            self._signing_key = hmac.new(self._token or b"", stretched, hashlib.sha256).digest()
        # Console sessions need a credential to sign in with; their key changes with every credential.
        self.sessions: SessionStore | None = None
        if database is not None and (self._token is not None or self._signing_key is not None):
            key = hashlib.sha256(
                b"proxyd console session\0" + (self._token or b"") + b"\0" + (self._signing_key or b"")
            ).digest()
            self.sessions = SessionStore(database, key, ttl=CONSOLE_SESSION_TTL_SECONDS, clock=clock)

    @property
    def loopback_only(self) -> bool:
        """True when requests without a token are served to loopback clients (opted in, no admin token)."""
        return self._loopback

    @property
    def login_enabled(self) -> bool:
        return self._signing_key is not None

    @property
    def token_login_enabled(self) -> bool:
        return self._token is not None

    # ------------------------------------------------------------------ login

    def check_token(self, token: str) -> bool:
        """Whether ``token`` is the admin token (constant time)."""
        raw = _raw(token)
        return self._token is not None and raw is not None and hmac.compare_digest(raw, self._token)

    def check_credentials(self, username: str, password: str) -> bool:
        if self._password is None:
            return False
        # Both comparisons always run: timing says nothing about which one failed.
        user_ok = hmac.compare_digest(username.encode(), self._user.encode())
        password_ok = hmac.compare_digest(password.encode(), self._password.encode())
        return user_ok & password_ok

    def issue(self) -> dict[str, Any]:
        """The login answer: a bearer token for the admin user, valid ``LOGIN_TTL_SECONDS``."""
        assert self._signing_key is not None
        now = int(self._clock())
        claims = _b64(orjson.dumps({"sub": self._user, "iat": now, "exp": now + LOGIN_TTL_SECONDS}))
        signing_input = _JWT_HEADER + b"." + claims
        token = signing_input + b"." + _b64(self._sign(signing_input))
        return {"access_token": token.decode(), "token_type": "Bearer", "expires_in": LOGIN_TTL_SECONDS}

    def _sign(self, signing_input: bytes) -> bytes:
        assert self._signing_key is not None
        return hmac.new(self._signing_key, signing_input, hashlib.sha256).digest()

    def _valid_login_token(self, token: bytes) -> bool:
        if self._signing_key is None or token.count(b".") != 2:
            return False
        signing_input, _, signature = token.rpartition(b".")
        if not hmac.compare_digest(_b64(self._sign(signing_input)), signature):
            return False
        try:
            claims = orjson.loads(_unb64(signing_input.split(b".")[1]))
        except (binascii.Error, ValueError):
            return False
        if not isinstance(claims, dict):
            return False
        expiry = claims.get("exp")
        return claims.get("sub") == self._user and isinstance(expiry, int) and self._clock() < expiry

    # ------------------------------------------------------------------ requests

    async def session(self, request: web.Request) -> Session | None:
        """The console session the request's cookie names, if it is valid."""
        secret = request.cookies.get(COOKIE)
        if not secret or self.sessions is None:
            return None
        return await self.sessions.find(secret)

    async def authorize(self, request: web.Request) -> None:
        """Return if ``request`` may use the admin routes; raise 401 or 403 otherwise."""
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, credential = header.strip().partition(" ")
            raw = _raw(credential.strip())
            if scheme.lower() != "bearer" or not raw:
                raise Unauthorized("Authorization must be 'Bearer <admin token>'")
            await self.throttle.check(request.remote)
            if (self._token is not None and hmac.compare_digest(raw, self._token)) or self._valid_login_token(raw):
                return
            await self.throttle.failed(request.remote)
            raise Unauthorized("Invalid admin token")
        if COOKIE in request.cookies:
            if not same_origin(request, self.trusted_proxies):
                raise Forbidden("A request with the console's session must come from the console's own origin")
            if await self.session(request) is not None:
                return
            if not self._loopback:
                raise Unauthorized("The console session has expired or was ended: sign in again")
        if self._loopback and cross_site(request, self.trusted_proxies):
            # A page on another site cannot use the admin's browser to reach the loopback admin routes.
            raise Forbidden("Admin routes refuse requests from other sites")
        if self._loopback and is_loopback(request.remote) and not self._forwarded(request):
            if is_loopback_host(request.headers.get("Host")):
                return
            raise Forbidden(
                "Admin routes without a token accept Host: localhost or a loopback address only"
                " (PROXYD_ADMIN_TOKEN is unset)"
            )
        if self._loopback and not self.login_enabled:
            raise Forbidden("Admin routes answer loopback clients only while PROXYD_ADMIN_TOKEN is unset")
        raise Unauthorized("Admin token required: send 'Authorization: Bearer <token>'")

    @staticmethod
    def _forwarded(request: web.Request) -> bool:
        return any(name in request.headers for name in _FORWARDING_HEADERS)
