"""The upstream client: one request's call to the Copilot API, on behalf of one GitHub account.

For each account it tries, it holds the account's Copilot token (``tokens``),
looks up which endpoints the model answers on (``catalog``), lets the route
prepare the call for the endpoint chosen (``routing``), and sends it the way
the official client does (COPILOT-PROTOCOL.md §5): a 401 is replayed once with
a fresh token, a 500 or 502 is sent once more after a short wait, a 466 is
never retried. Every resend is the agent's (``X-Initiator: agent``).

For a client key it is also the one place that knows which account serves a
call: a conversation stays on its account (``affinity``); a new one takes the
next ready account of the key's pool. It fails over to the next account when
Copilot rate-limits one (429) or says its quota is used up (402, or 403 naming
the quota), or GitHub refuses its token, before any byte reached the client;
that account cools down (``pool``). A conversation that moved is sent without
what only its old account could verify (``portable``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import aiohttp
import orjson

from proxyd.clock import now_ms
from proxyd.errors import (
    AccountRefused,
    ClientVersionRefused,
    Forbidden,
    GitHubRefused,
    TooManyRequests,
    UpstreamError,
    UpstreamTimeout,
)
from proxyd.gateway.principal import Principal
from proxyd.gateway.record import RequestRecord
from proxyd.keys.records import ApiKey
from proxyd.limits import (
    MODEL_LIST_REFRESH,
    MODEL_LIST_RETRY,
    UPSTREAM_ERROR_BODY_MAX,
    UPSTREAM_RETRY_DELAY,
    VERSION_REFUSED_LOG_EVERY,
)
from proxyd.metrics import Metrics
from proxyd.runtime.offloop import off_loop
from proxyd.sharedstate.base import SharedState
from proxyd.translate.base import Api
from proxyd.upstream.affinity import ConversationAffinity
from proxyd.upstream.catalog import ModelCatalog
from proxyd.upstream.direct import DirectClient, UpstreamResponse
from proxyd.upstream.github import CopilotToken
from proxyd.upstream.identity import CallTraits, ClientIdentity
from proxyd.upstream.outbound import ProxySelector
from proxyd.upstream.pool import (
    DEFAULT_COOL_DOWN,
    QUOTA_EXHAUSTED,
    RATE_LIMITED,
    REFUSED,
    AccountCooldowns,
    retry_after_seconds,
)
from proxyd.upstream.portable import portable
from proxyd.upstream.routing import choose_endpoint
from proxyd.upstream.tokens import CopilotTokens
from proxyd.upstream.wire import answered, readable_message

log = logging.getLogger("proxyd.upstream")

T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")
# Words in a 400 that mean Copilot could not verify what another account made.
_ACCOUNT_BOUND_REFUSALS = (b"signature", b"encrypted_content", b"previous_response_not_found")
_RETRIED = frozenset({500, 502})
# The statuses that may mean an account must rest (_exhausted reads which).
_EXHAUSTED = frozenset({402, 403, 429})


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """One Copilot API call, as the route prepared it."""

    method: str
    path: str  # below the Copilot API base, e.g. "/chat/completions"
    body: bytes | None = None
    # The parsed body, in the shape of ``api``: decides the X-Initiator and vision headers.
    payload: Any = None
    api: Api | None = None
    accept: str | None = None
    headers: Mapping[str, str] | None = None  # the route's own, e.g. anthropic-beta
    traits: CallTraits | None = None  # read from the payload once (``_Calls``); None: read when sent

    def with_traits(self) -> UpstreamCall:
        """This call with its traits read (spelled out: ``dataclasses.replace`` costs more than the reading)."""
        traits = CallTraits.of(self.api, self.payload)
        return UpstreamCall(
            self.method, self.path, self.body, self.payload, self.api, self.accept, self.headers, traits
        )


# The route's part: the call for the endpoint chosen (None: a call without a model), and what relays its answer.
Prepare = Callable[[Api | None], tuple[UpstreamCall, T]]


@dataclass(frozen=True, slots=True)
class Ask(Generic[T]):
    """What a route asks of Copilot."""

    prepare: Prepare[T]
    api: Api | None = None  # the client's API shape; None for calls without a model (GET /models, embeddings)
    model: str | None = None  # Copilot's name of the model
    conversation: str | None = None  # the id the client gave its conversation
    # A large body is prepared (translated, read for its headers) in the worker thread (proxyd/runtime/offloop.py),
    # so the event loop keeps serving everyone else meanwhile.
    heavy: bool = False


class _Calls(Generic[T]):
    """The route's calls of one request, prepared once per endpoint whatever the accounts tried."""

    def __init__(self, ask: Ask[T]) -> None:
        self.ask = ask
        self._plain: dict[Api | None, tuple[UpstreamCall, T]] = {}
        self._portable: dict[Api | None, tuple[UpstreamCall, T] | None] = {}
        # Copilot could not verify what another account made: the call went again without it.
        self.left_foreign_state = False

    async def plain(self, api: Api | None) -> tuple[UpstreamCall, T]:
        found = self._plain.get(api)
        if found is None:
            found = self._plain[api] = await self._off_loop(self._prepare, api)
        return found

    async def portable(self, api: Api | None) -> tuple[UpstreamCall, T] | None:
        """The call without what only another account could verify; None when it carries nothing such."""
        if api not in self._portable:
            call, extra = await self.plain(api)
            moved = await self._off_loop(_portable_call, call)
            self._portable[api] = None if moved is None else (moved, extra)
        return self._portable[api]

    def _prepare(self, api: Api | None) -> tuple[UpstreamCall, T]:
        call, extra = self.ask.prepare(api)
        return call.with_traits(), extra

    async def _off_loop(self, work: Callable[[A], R], argument: A) -> R:
        if self.ask.heavy:
            return await off_loop(work, argument)
        return work(argument)


def _portable_call(call: UpstreamCall) -> UpstreamCall | None:
    stripped = portable(call.api, call.payload)
    if stripped is None:
        return None
    return replace(call, payload=stripped, body=orjson.dumps(stripped), traits=CallTraits.of(call.api, stripped))


class CopilotClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: CopilotTokens,
        proxies: ProxySelector,
        metrics: Metrics,
        identity: ClientIdentity,
        *,
        connect_timeout: float,
        read_timeout: float,
        state: SharedState,
        conversation_idle: float = 7200.0,
        retry_delay: float = UPSTREAM_RETRY_DELAY,
        direct: DirectClient | None = None,
    ) -> None:
        self._session = session
        # Calls without an outgoing proxy go on proxyd's own connections (direct.py); None: aiohttp's for all.
        self._direct = direct
        self._tokens = tokens
        self._proxies = proxies
        self._metrics = metrics
        self._identity = identity
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout)
        self._retry_delay = retry_delay
        self._version_logged = -VERSION_REFUSED_LOG_EVERY
        self.cooldowns = AccountCooldowns(state)
        self.catalog = ModelCatalog(self._fetch_models, refresh_after=MODEL_LIST_REFRESH, retry_after=MODEL_LIST_RETRY)
        self.affinity = ConversationAffinity(state, idle=conversation_idle)

    async def send(
        self, target: ApiKey | Principal, ask: Ask[T], record: RequestRecord | None = None
    ) -> tuple[UpstreamResponse, T]:
        """Copilot's answer, its body not yet read (the caller closes it), and what the route prepared with it.

        ``target``: one account, or a principal (a client key's fails over within its
        pool). ``record.account`` is set to the account that answered.
        """
        calls = _Calls(ask)
        if isinstance(target, ApiKey):
            return await self._send_as(target, calls, moved=False, resent=False)
        if target.client_key is None:
            return await self._send_as(target.account, calls, moved=False, resent=False)
        return await self._send_pooled(target, calls, record)

    async def forget(self, account_id: str) -> None:
        """The account was deleted: nothing of it is kept (its conversations find it gone and move)."""
        await self.cooldowns.forget(account_id)
        self.catalog.forget(account_id)

    async def _send_pooled(
        self, principal: Principal, calls: _Calls[T], record: RequestRecord | None
    ) -> tuple[UpstreamResponse, T]:
        ask = calls.ask
        key = _conversation_key(principal, ask)
        pin = await self.affinity.pinned(key) if key is not None else None
        resent = False
        for account in await self.cooldowns.order(principal.pool, first=pin.account_id if pin is not None else None):
            if resent and await self.cooldowns.cooling(account.id) is not None:
                # Cooled down by a concurrent request while the accounts before it were tried (the first was
                # looked at just now, by order()).
                continue
            if record is not None:
                record.account = account
            moved = pin is not None and (pin.moved or pin.account_id != account.id)
            try:
                response, extra = await self._send_as(account, calls, moved=moved, resent=resent)
            except AccountRefused as exc:
                await self.cooldowns.cool_down(account, DEFAULT_COOL_DOWN, REFUSED, exc.message)
                resent = True
                continue
            cool_down = await self._exhausted(account, response) if response.status in _EXHAUSTED else None
            if cool_down is None:
                if key is not None and response.status < 400:
                    # Moved once, moved for good: the history holds what the first account made.
                    moved = moved or calls.left_foreign_state
                    if pin is None or pin.account_id != account.id or pin.moved != moved:
                        await self.affinity.remember(key, account.id, moved=moved)  # unchanged: its read kept it
                return response, extra
            seconds, reason, detail = cool_down
            response.close()
            await self.cooldowns.cool_down(account, seconds, reason, detail)
            resent = True
        raise TooManyRequests(
            "Every GitHub account of this client key is rate limited or out of quota",
            retry_after=await self.cooldowns.shortest_wait(principal.pool),
        )

    async def _send_as(
        self, account: ApiKey, calls: _Calls[T], *, moved: bool, resent: bool
    ) -> tuple[UpstreamResponse, T]:
        token = await self._token(account)
        api = await self._endpoint(account, token, calls.ask)
        call, extra = (await calls.portable(api) if moved else None) or await calls.plain(api)
        response = await self._send(token, call, resent=resent)
        if response.status == 401:
            # The token expired or was revoked early: exchange once more and replay once.
            response.release()
            self._metrics.upstream_retries.inc((("status", "401"),))
            token = await self._token(account, stale=token.token)
            response = await self._send(token, call, resent=True)
        if response.status in _RETRIED:
            response.release()
            self._metrics.upstream_retries.inc((("status", str(response.status)),))
            await asyncio.sleep(self._retry_delay)
            response = await self._send(token, call, resent=True)
        if response.status == 466:
            response.close()
            raise self._version_refused()
        if response.status == 400 and not moved and (stripped := await calls.portable(api)) is not None:
            response = await self._without_foreign_state(response, token, stripped[0])
            calls.left_foreign_state = True
        return response, extra

    async def _without_foreign_state(
        self, response: UpstreamResponse, token: CopilotToken, stripped: UpstreamCall
    ) -> UpstreamResponse:
        """A 400 for a request holding thinking signatures or encrypted reasoning: if Copilot could not verify
        them (another account made them: proxyd restarted, another instance served), send it again without."""
        try:
            body = await response.content.read(UPSTREAM_ERROR_BODY_MAX)
        except (aiohttp.ClientError, TimeoutError):
            body = b""
        finally:
            response.close()
        if any(word in body.lower() for word in _ACCOUNT_BOUND_REFUSALS):
            self._metrics.upstream_retries.inc((("status", "400"),))
            return await self._send(token, stripped, resent=True)
        raise answered(400, body)

    async def _endpoint(self, account: ApiKey, token: CopilotToken, ask: Ask[T]) -> Api | None:
        if ask.api is None:
            return None
        endpoints = await self.catalog.endpoints(account.id, token, ask.model) if ask.model else None
        return choose_endpoint(ask.api, endpoints)

    def _version_refused(self) -> ClientVersionRefused:
        self._metrics.version_refused.inc()
        message = (
            f"Copilot no longer accepts the client version proxyd sends (466, X-GitHub-Api-Version "
            f"{self._identity.api_version}): set PROXYD_COPILOT_API_VERSION (and PROXYD_EDITOR_VERSION, "
            "PROXYD_EDITOR_PLUGIN_VERSION) to what the current Copilot client sends, then restart proxyd"
        )
        now = time.monotonic()
        if now - self._version_logged >= VERSION_REFUSED_LOG_EVERY:
            self._version_logged = now
            log.error("%s", message)
        return ClientVersionRefused(message)

    async def _exhausted(self, account: ApiKey, response: UpstreamResponse) -> tuple[float, str, str] | None:
        """How long ``account`` must rest when Copilot's 402, 403 or 429 says it is rate limited or out of quota."""
        status = response.status
        if status == 403:
            # Copilot's 403 is also "not allowed" (a policy, a model): only the quota one moves on.
            try:
                body = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                response.close()
                raise UpstreamError(f"Copilot API sent an unreadable 403 ({type(exc).__name__})") from None
            if b"quota" not in body.lower():
                response.close()
                raise Forbidden(readable_message(body) or "Copilot refused the request (403)")
        wall = now_ms()
        retry_after = retry_after_seconds(response.headers.get("retry-after"), wall_ms=wall)
        if status == 429:
            return (retry_after or DEFAULT_COOL_DOWN), RATE_LIMITED, "Copilot answered 429"
        reset = account.meta.reset_time if account.meta is not None else None
        if retry_after is None and reset is not None and reset > wall:
            retry_after = (reset - wall) / 1000
        return (retry_after or DEFAULT_COOL_DOWN), QUOTA_EXHAUSTED, f"Copilot says the quota is used up ({status})"

    async def _token(self, account: ApiKey, stale: str | None = None) -> CopilotToken:
        try:
            return await self._tokens.get(account, stale=stale)
        except GitHubRefused as exc:
            if exc.upstream_status in (401, 403, 404):
                raise AccountRefused(f"GitHub refused this API key for Copilot ({exc.upstream_status})") from None
            raise

    async def _fetch_models(self, token: CopilotToken) -> list[Any]:
        response = await self._send(token, UpstreamCall("GET", "/models"), resent=False)
        try:
            if response.status != 200:
                raise UpstreamError(f"Copilot API answered {response.status} to GET /models")
            document = orjson.loads(await response.read())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise UpstreamError(f"Copilot API sent no readable model list ({type(exc).__name__})") from None
        finally:
            response.close()
        entries = document.get("data") if isinstance(document, dict) else None
        return entries if isinstance(entries, list) else []

    async def _send(self, token: CopilotToken, call: UpstreamCall, *, resent: bool) -> UpstreamResponse:
        url = token.api_base + call.path
        traits = call.traits or CallTraits.of(call.api, call.payload)
        headers = self._identity.copilot_headers(token.token, traits, call.accept, resent=resent)
        if call.headers:
            headers.update(call.headers)
        started = time.monotonic()
        proxy = self._proxies(url)
        try:
            response: UpstreamResponse
            if proxy is None and self._direct is not None:
                response = await self._direct.request(call.method, url, headers, call.body)
            else:
                response = await self._session.request(
                    call.method,
                    url,
                    data=call.body,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                    proxy=proxy,
                )
        except TimeoutError:
            self._metrics.upstream_errors.inc((("kind", "timeout"),))
            raise UpstreamTimeout("Copilot API did not answer in time") from None
        except aiohttp.ClientError as exc:
            self._metrics.upstream_errors.inc((("kind", "unreachable"),))
            raise UpstreamError(f"Copilot API unreachable ({type(exc).__name__})") from None
        self._metrics.upstream_latency.observe(time.monotonic() - started, (("endpoint", call.path),))
        return response


def _conversation_key(principal: Principal, ask: Ask[Any]) -> str | None:
    client_key = principal.client_key
    if ask.api is None or client_key is None or not principal.chooses_account:
        return None
    return f"{client_key.id}\x00{ask.model or ''}\x00{ask.conversation or ''}"
