"""Who asks: the key a client presents, resolved to the account that serves the request."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..config import host_name
from ..errors import Forbidden, UnsupportedMediaType
from ..keycache import DEFAULT_KEY_ALIASES, KeyResolver
from ..masking import mask_secret
from ..models import ApiKey
from ..netaddr import is_loopback_host

_KEY_SCHEMES = ("bearer", "token")


@dataclass(frozen=True, slots=True)
class Principal:
    """The party a proxied request acts for, and the GitHub account that pays for it."""

    account: ApiKey
    # False when the client sent no key (or ``_``) and spends the default account.
    presented_key: bool

    @property
    def masked_key(self) -> str:
        return mask_secret(self.account.key)


def presented_key(request: web.Request) -> str | None:
    """The key from ``Authorization: Bearer <key>`` or ``token <key>``, else ``x-api-key``; None when there is none."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return request.headers.get("x-api-key", "").strip() or None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() in _KEY_SCHEMES else header


class ClientAuth:
    """Authenticates a proxied request before its body is read."""

    def __init__(self, resolver: KeyResolver, allowed_hosts: frozenset[str]) -> None:
        self._resolver = resolver
        self._allowed_hosts = allowed_hosts

    async def authenticate(self, request: web.Request) -> Principal:
        key = presented_key(request)
        keyless = key is None or key in DEFAULT_KEY_ALIASES
        if keyless:
            self._require_keyless_host(request)
        account = await self._resolver.resolve(key)
        no_header = "Authorization" not in request.headers and "x-api-key" not in request.headers
        if request.method == "POST" and no_header and request.content_type != "application/json":
            # A browser can POST text/plain cross-site without a preflight: without this,
            # any web page could spend the default key. OpenAI clients always send JSON.
            raise UnsupportedMediaType("Requests without an API key must be sent as application/json")
        return Principal(account=account, presented_key=not keyless)

    def _require_keyless_host(self, request: web.Request) -> None:
        """A request that spends the default key must name this machine (or an allowed host) in its ``Host``.

        A web page can point its own domain at 127.0.0.1 (DNS rebinding) and then
        send same-origin requests to proxyd through the visitor's browser, JSON
        bodies included, and read the answers; the browser still names that domain
        in ``Host``.
        """
        host = request.headers.get("Host")
        if is_loopback_host(host) or host_name(host) in self._allowed_hosts:
            return
        raise Forbidden(
            "Requests without an API key must be sent to localhost, a loopback address or a host in "
            "PROXYD_ALLOWED_HOSTS"
        )
