"""The upstream client: sends a call to the Copilot API on behalf of one GitHub account.

It holds the account's Copilot token (through ``CopilotTokens``), sends, and
replays once with a fresh token when Copilot answers 401. This is the one place
that knows which account serves a call: for a client key, it fails over to the
next account of the key's pool when Copilot rate-limits one (429) or says its
quota is used up (402, or 403 naming the quota), or GitHub refuses its token,
before any byte reached the client; that account cools down (see ``pool``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from ..clock import now_ms
from ..errors import AccountRefused, Forbidden, GitHubRefused, TooManyRequests, UpstreamError, UpstreamTimeout
from ..gateway.accounting import Exchange
from ..gateway.principal import Principal
from ..metrics import Metrics
from ..models import ApiKey
from ..outbound import ProxySelector
from .github import CopilotToken
from .pool import DEFAULT_COOL_DOWN, QUOTA_EXHAUSTED, RATE_LIMITED, REFUSED, AccountCooldowns, retry_after_seconds
from .tokens import CopilotTokens
from .wire import error_message, request_headers


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """One Copilot API call, as the route prepared it."""

    method: str
    path: str  # below the Copilot API base, e.g. "/chat/completions"
    body: bytes | None = None
    # The parsed body: decides the X-Initiator and vision headers.
    payload: Any = None
    accept: str | None = None


class CopilotClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: CopilotTokens,
        proxies: ProxySelector,
        metrics: Metrics,
        *,
        connect_timeout: float,
        read_timeout: float,
        cooldowns: AccountCooldowns | None = None,
    ) -> None:
        self._session = session
        self._tokens = tokens
        self._proxies = proxies
        self._metrics = metrics
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout)
        self.cooldowns = cooldowns or AccountCooldowns()

    async def send(
        self, target: ApiKey | Principal, call: UpstreamCall, exchange: Exchange | None = None
    ) -> aiohttp.ClientResponse:
        """Copilot's answer, its body not yet read; the caller closes it.

        ``target``: one account, or a principal (a client key's fails over within its
        pool). ``exchange.account`` is set to the account that answered.
        """
        if isinstance(target, ApiKey):
            return await self._send_as(target, call)
        if target.client_key is None:
            return await self._send_as(target.account, call)
        return await self._send_pooled(target.pool, call, exchange)

    async def _send_pooled(
        self, pool: tuple[ApiKey, ...], call: UpstreamCall, exchange: Exchange | None
    ) -> aiohttp.ClientResponse:
        # One turn of the round robin per request; an account cooled down meanwhile (by a
        # concurrent request) is skipped, and none is tried twice.
        for account in self.cooldowns.order(pool):
            if self.cooldowns.cooling(account.id) is not None:
                continue
            if exchange is not None:
                exchange.account = account
            try:
                response = await self._send_as(account, call)
            except AccountRefused as exc:
                self.cooldowns.cool_down(account, DEFAULT_COOL_DOWN, REFUSED, exc.message)
                continue
            cool_down = await self._exhausted(account, response)
            if cool_down is None:
                return response
            seconds, reason, detail = cool_down
            response.close()
            self.cooldowns.cool_down(account, seconds, reason, detail)
        raise TooManyRequests(
            "Every GitHub account of this client key is rate limited or out of quota",
            retry_after=self.cooldowns.shortest_wait(pool),
        )

    async def _exhausted(self, account: ApiKey, response: aiohttp.ClientResponse) -> tuple[float, str, str] | None:
        """How long ``account`` must rest, when Copilot's answer says it is rate limited or out of quota."""
        status = response.status
        if status not in (402, 403, 429):
            return None
        if status == 403:
            # Copilot's 403 is also "not allowed" (a policy, a model): only the quota one moves on.
            try:
                body = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                response.close()
                raise UpstreamError(f"Copilot API sent an unreadable 403 ({type(exc).__name__})") from None
            if b"quota" not in body.lower():
                response.close()
                raise Forbidden(_message_of(body) or "Copilot refused the request (403)")
        wall = now_ms()
        retry_after = retry_after_seconds(response.headers.get("retry-after"), wall_ms=wall)
        if status == 429:
            return (retry_after or DEFAULT_COOL_DOWN), RATE_LIMITED, "Copilot answered 429"
        reset = account.meta.reset_time if account.meta is not None else None
        if retry_after is None and reset is not None and reset > wall:
            retry_after = (reset - wall) / 1000
        return (retry_after or DEFAULT_COOL_DOWN), QUOTA_EXHAUSTED, f"Copilot says the quota is used up ({status})"

    async def _send_as(self, account: ApiKey, call: UpstreamCall) -> aiohttp.ClientResponse:
        token = await self._token(account)
        response = await self._send(token, call)
        if response.status == 401:
            # The token expired or was revoked early: exchange once more and replay once.
            response.release()
            token = await self._token(account, stale=token.token)
            response = await self._send(token, call)
        return response

    async def _token(self, account: ApiKey, stale: str | None = None) -> CopilotToken:
        try:
            return await self._tokens.get(account, stale=stale)
        except GitHubRefused as exc:
            if exc.upstream_status in (401, 403, 404):
                raise AccountRefused(f"GitHub refused this API key for Copilot ({exc.upstream_status})") from None
            raise

    async def _send(self, token: CopilotToken, call: UpstreamCall) -> aiohttp.ClientResponse:
        url = token.api_base + call.path
        started = time.monotonic()
        try:
            response = await self._session.request(
                call.method,
                url,
                data=call.body,
                headers=request_headers(token.token, call.payload, call.accept),
                timeout=self._timeout,
                allow_redirects=False,
                proxy=self._proxies(url),
            )
        except TimeoutError:
            self._metrics.upstream_errors.inc((("kind", "timeout"),))
            raise UpstreamTimeout("Copilot API did not answer in time") from None
        except aiohttp.ClientError as exc:
            self._metrics.upstream_errors.inc((("kind", "unreachable"),))
            raise UpstreamError(f"Copilot API unreachable ({type(exc).__name__})") from None
        self._metrics.upstream_latency.observe(time.monotonic() - started, (("endpoint", call.path),))
        return response


def _message_of(body: bytes) -> str | None:
    """The message of an error body Copilot sent, as far as it can be read."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or None
    message = error_message(document)
    return message[:500] if message is not None else None
