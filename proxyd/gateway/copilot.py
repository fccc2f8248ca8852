"""The upstream client: sends a call to the Copilot API on behalf of one GitHub account.

It holds the account's Copilot token (through ``CopilotTokens``), sends, and
replays once with a fresh token when Copilot answers 401. This is the one place
that knows which account serves a call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..errors import GitHubRefused, Unauthorized, UpstreamError, UpstreamTimeout
from ..github import CopilotToken
from ..metrics import Metrics
from ..models import ApiKey
from ..outbound import ProxySelector
from ..tokens import CopilotTokens
from .copilot_wire import request_headers


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
    ) -> None:
        self._session = session
        self._tokens = tokens
        self._proxies = proxies
        self._metrics = metrics
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout)

    async def send(self, account: ApiKey, call: UpstreamCall) -> aiohttp.ClientResponse:
        """Copilot's answer, its body not yet read; the caller closes it."""
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
                raise Unauthorized(f"GitHub refused this API key for Copilot ({exc.upstream_status})") from None
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
