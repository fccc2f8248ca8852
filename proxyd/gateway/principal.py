"""Who asks: the key a client presents, resolved to the account (or the pool of accounts) that serves it.

A GitHub token, ``_`` or no key select one account, as they always did; a client
key (``pxd_...``) selects its account pool and brings its limits along.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from proxyd.clock import now_ms
from proxyd.errors import Forbidden, NoAccount, Unauthorized, UnsupportedMediaType
from proxyd.gateway.client_limits import ClientKeyLimits
from proxyd.http.hosts import host_name, is_loopback_name
from proxyd.keys.account_resolver import DEFAULT_KEY_ALIASES, KeyResolver
from proxyd.keys.client_key_resolver import ClientKeyResolver
from proxyd.keys.client_keys import ClientKey, is_client_key
from proxyd.keys.masking import mask_secret
from proxyd.keys.records import ApiKey
from proxyd.keys.store import storable
from proxyd.sharedstate.memory import MemoryState

_KEY_SCHEMES = ("bearer", "token")


@dataclass(frozen=True, slots=True)
class Principal:
    """The party a proxied request acts for, and the GitHub account that pays for it."""

    account: ApiKey  # with a client key: the first account of its pool
    # False when the client sent no key (or ``_``) and spends the default account.
    presented_key: bool
    client_key: ClientKey | None = None
    # The accounts a client key may be served by, in order; empty for a GitHub token or the default key.
    pool: tuple[ApiKey, ...] = ()

    @property
    def chooses_account(self) -> bool:
        """A client key whose pool has more than one account: a conversation is kept on the one it began on."""
        return len(self.pool) > 1

    @property
    def masked_key(self) -> str:
        return self.client_key.masked if self.client_key is not None else mask_secret(self.account.key)


def presented_key(request: web.Request) -> str | None:
    """The key from ``Authorization: Bearer <key>`` or ``token <key>``, else ``x-api-key``; None when there is none.

    An ``Authorization`` that holds no key (``Bearer `` with nothing after it, as an SDK sends with an empty
    API key setting) does not count: a key in ``x-api-key`` beside it is the one presented.
    """
    header = request.headers.get("Authorization", "").strip()
    if header:
        scheme, _, value = header.partition(" ")
        key = value.strip() if scheme.lower() in _KEY_SCHEMES else header
        if key:
            return key
    return request.headers.get("x-api-key", "").strip() or None


class ClientAuth:
    """Authenticates a proxied request before its body is read."""

    def __init__(
        self,
        resolver: KeyResolver,
        allowed_hosts: frozenset[str],
        client_keys: ClientKeyResolver | None = None,
        limits: ClientKeyLimits | None = None,
        *,
        client_keys_only: bool = False,
    ) -> None:
        self._resolver = resolver
        self._allowed_hosts = allowed_hosts
        self._client_keys = client_keys
        self._limits = limits or ClientKeyLimits(MemoryState())
        self._client_keys_only = client_keys_only

    async def authenticate(self, request: web.Request) -> Principal:
        key = presented_key(request)
        if key is not None and not storable(key):
            # Bytes that are not UTF-8 (or a NUL): no stored key has them. Answered before any
            # lookup, so the key reaches neither a database driver nor its error messages.
            raise Unauthorized("Invalid API key")
        if key is not None and is_client_key(key) and self._client_keys is not None:
            grant = await self._client_keys.resolve(key)
            if grant is not None:
                if grant.key.expired(now_ms()):
                    raise Unauthorized("This client key has expired")
                if not grant.pool:
                    raise NoAccount()
                return Principal(account=grant.pool[0], presented_key=True, client_key=grant.key, pool=grant.pool)
        if self._client_keys_only:
            # Checked after the lookup: an unknown pxd_ key gets the same answer as a GitHub token.
            raise Unauthorized("Invalid API key: only client keys are accepted here")
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

    async def forget_client_key(self, key_id: str) -> None:
        """The client key was deleted: its counts go too."""
        await self._limits.forget(key_id)

    async def admit(self, principal: Principal, model: str | None) -> None:
        """Apply a client key's limits to one request for ``model`` (403 or 429); other keys have none."""
        key = principal.client_key
        if key is not None and key.settings.limited:
            await self._limits.admit(key, model)

    def _require_keyless_host(self, request: web.Request) -> None:
        """A request that spends the default key must name this machine (or an allowed host) in its ``Host``.

        A web page can point its own domain at 127.0.0.1 (DNS rebinding) and then
        send same-origin requests to proxyd through the visitor's browser, JSON
        bodies included, and read the answers; the browser still names that domain
        in ``Host``.
        """
        name = host_name(request.headers.get("Host"))
        if is_loopback_name(name) or name in self._allowed_hosts:
            return
        raise Forbidden(
            "Requests without an API key must be sent to localhost, a loopback address or a host in "
            "PROXYD_ALLOWED_HOSTS"
        )
