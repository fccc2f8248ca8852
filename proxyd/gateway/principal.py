"""Who asks: the key a client presents, resolved to the account that serves the request."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..errors import UnsupportedMediaType
from ..keycache import KeyResolver
from ..masking import mask_secret
from ..models import ApiKey

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
    """The key from ``Authorization: Bearer <key>`` or ``token <key>``; None when there is none."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() in _KEY_SCHEMES else header


class ClientAuth:
    """Authenticates a proxied request before its body is read."""

    def __init__(self, resolver: KeyResolver) -> None:
        self._resolver = resolver

    async def authenticate(self, request: web.Request) -> Principal:
        key = presented_key(request)
        account = await self._resolver.resolve(key)
        keyless = "Authorization" not in request.headers
        if request.method == "POST" and keyless and request.content_type != "application/json":
            # A browser can POST text/plain cross-site without a preflight: without this,
            # any web page could spend the default key. OpenAI clients always send JSON.
            raise UnsupportedMediaType("Requests without an API key must be sent as application/json")
        return Principal(account=account, presented_key=key not in (None, "", "_"))
