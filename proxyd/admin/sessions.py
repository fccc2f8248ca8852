"""Admin console sessions: a cookie that stands for the admin, kept in the database.

``POST /admin/login`` (``routes_console.py``) checks the admin token or the
admin user and password and creates a session: a random 256-bit secret in an
``HttpOnly``, ``SameSite=Strict``, ``Path``-limited cookie that expires with
the session. The database keeps an HMAC of the secret (keyed with the admin
credentials, so changing the admin token or password ends every session and a
copy of the table signs nobody in), its subject and its expiry. Every worker
and instance sharing the database honours the session, and sign-out deletes
its row, so it ends everywhere at once.

A request that carries the cookie proves nothing about where it came from: a
state-changing one must also come from the console's own origin
(``same_origin``), else it is refused with 403.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from proxyd.config import Network
from proxyd.db import Database

COOKIE = "proxyd_console"
# The console's own pages and its sign-in, always here whatever PROXYD_API_PREFIX is.
CONSOLE_PATH = "/admin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


@dataclass(frozen=True, slots=True)
class Session:
    subject: str  # "token" (signed in with the admin token) or "user:<name>"
    expires_at: int  # epoch ms


class SessionStore:
    """Sessions in ``admin_sessions``, by the HMAC of their secret."""

    def __init__(self, database: Database, key: bytes, *, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self._database = database
        self._key = key
        self._ttl_ms = int(ttl * 1000)
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def _hash(self, secret: str) -> str:
        return hmac.new(self._key, secret.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()

    async def create(self, subject: str) -> tuple[str, Session]:
        """A new session for ``subject``: its secret (for the cookie only) and the session."""
        queries = self._database.queries
        now = self._now()
        await self._database.execute(queries["delete_expired_admin_sessions"], {"now": now})
        secret = secrets.token_urlsafe(32)
        session = Session(subject, now + self._ttl_ms)
        await self._database.execute(
            queries["insert_admin_session"],
            {"id_hash": self._hash(secret), "subject": subject, "created_at": now, "expires_at": session.expires_at},
        )
        return secret, session

    async def find(self, secret: str) -> Session | None:
        """The session ``secret`` names, if it exists and has not expired."""
        if not secret or len(secret) > 128:
            return None
        row = await self._database.fetch_one(
            self._database.queries["find_admin_session"], {"id_hash": self._hash(secret), "now": self._now()}
        )
        return Session(str(row["subject"]), int(row["expires_at"])) if row is not None else None

    async def revoke(self, secret: str) -> None:
        if secret and len(secret) <= 128:
            await self._database.execute(
                self._database.queries["delete_admin_session"], {"id_hash": self._hash(secret)}
            )


# ------------------------------------------------------------------ cookies


def cookie_paths(api_prefix: str) -> list[str]:
    """Where the session cookie goes: the console and the admin API's three path roots, nowhere else."""
    paths = [CONSOLE_PATH, f"{api_prefix}/admin", f"{api_prefix}/api-keys", f"{api_prefix}/client-keys"]
    return sorted(set(paths))


def set_session_cookies(
    response: web.StreamResponse, secret: str, *, max_age: int, secure: bool, paths: Iterable[str]
) -> None:
    for path in paths:
        # aiohttp keys cookies by name: one Set-Cookie header per path, written by hand.
        response.headers.add("Set-Cookie", _cookie(secret, max_age=max_age, secure=secure, path=path))


def clear_session_cookies(response: web.StreamResponse, *, secure: bool, paths: Iterable[str]) -> None:
    for path in paths:
        response.headers.add("Set-Cookie", _cookie("", max_age=0, secure=secure, path=path))


def _cookie(value: str, *, max_age: int, secure: bool, path: str) -> str:
    parts = [f"{COOKIE}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


# ------------------------------------------------------------------ where a request comes from


def _trusted(request: web.Request, trusted_proxies: tuple[Network, ...]) -> bool:
    if not trusted_proxies or request.remote is None:
        return False
    try:
        address = ipaddress.ip_address(request.remote)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted_proxies)


def _forwarded(request: web.Request, name: str, trusted_proxies: tuple[Network, ...]) -> str | None:
    """The first value of an ``X-Forwarded-*`` header, from a trusted proxy only."""
    value = request.headers.get(name)
    if value is None or not _trusted(request, trusted_proxies):
        return None
    first = value.split(",")[0].strip()
    return first or None


def is_secure(request: web.Request, trusted_proxies: tuple[Network, ...]) -> bool:
    """Served over TLS, here or (``X-Forwarded-Proto: https`` from a trusted proxy) before it."""
    if request.secure:
        return True
    return (_forwarded(request, "X-Forwarded-Proto", trusted_proxies) or "").lower() == "https"


def own_origin(request: web.Request, trusted_proxies: tuple[Network, ...]) -> str:
    """The origin the console was served from, as a browser writes it in ``Origin``."""
    scheme = "https" if is_secure(request, trusted_proxies) else "http"
    host = (_forwarded(request, "X-Forwarded-Host", trusted_proxies) or request.host or "").lower()
    return f"{scheme}://{host.removesuffix(_DEFAULT_PORTS[scheme])}"


def cross_site(request: web.Request, trusted_proxies: tuple[Network, ...]) -> bool:
    """Whether a browser says this request comes from another origin (a page of another site, say).

    ``Sec-Fetch-Site`` (every current browser sends it) other than
    ``same-origin`` (or ``none``, a typed address, for reads), else an
    ``Origin`` other than this server's. Requests without either (curl, say)
    are not cross-site by this test.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return not (site == "same-origin" or (site == "none" and request.method in SAFE_METHODS))
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    scheme, _, host = origin.lower().partition("://")
    normalized = f"{scheme}://{host.removesuffix(_DEFAULT_PORTS.get(scheme, ''))}"
    return normalized != own_origin(request, trusted_proxies)


def same_origin(request: web.Request, trusted_proxies: tuple[Network, ...]) -> bool:
    """Whether a request that carries the session cookie may use it.

    Not cross-site, and a state-changing request must say where it comes from
    (``Sec-Fetch-Site`` or ``Origin``, which browsers send with every one); a
    read without either is a plain navigation, which ``SameSite=Strict``
    already keeps same-site.
    """
    if cross_site(request, trusted_proxies):
        return False
    return request.method in SAFE_METHODS or any(name in request.headers for name in ("Sec-Fetch-Site", "Origin"))
