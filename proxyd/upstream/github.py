"""GitHub: exchanging an OAuth token for a Copilot token, and the device flow."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from proxyd.clock import now_ms
from proxyd.config import Config
from proxyd.errors import GitHubRefused, UpstreamError, UpstreamTimeout
from proxyd.keys.records import CopilotMeta
from proxyd.limits import GITHUB_CALL_TIMEOUT, TOKEN_MIN_LIFETIME_LEFT_MS, TOKEN_REFRESH_AHEAD_MS
from proxyd.upstream.identity import ClientIdentity
from proxyd.upstream.outbound import ProxySelector

DEFAULT_COPILOT_API = "https://api.githubcopilot.com"
_PROXY_ENDPOINT = re.compile(r"(?:^|;)proxy-ep=([^;]+)")


@dataclass(frozen=True, slots=True)
class CopilotToken:
    token: str
    expires_at_ms: int
    refresh_at_ms: int
    api_base: str
    meta: CopilotMeta


def copilot_api_base(config: Config, token: str, endpoints_api: str | None = None) -> str:
    """Where to send Copilot API calls for this token.

    The override wins; then ``endpoints.api`` of the token response if it is a
    Copilot host; then the host named in the token's ``proxy-ep`` field (what a
    persisted token still carries after a restart); then the public default.
    """
    if config.copilot_api_url:
        return config.copilot_api_url
    if endpoints_api and _is_copilot_host(endpoints_api):
        return endpoints_api.rstrip("/")
    match = _PROXY_ENDPOINT.search(token)
    if match and match.group(1).startswith("proxy."):
        derived = "https://api." + match.group(1).removeprefix("proxy.")
        # The token may come from legacy files or the database: only ever a Copilot host.
        if _is_copilot_host(derived):
            return derived
    return DEFAULT_COPILOT_API


def _is_copilot_host(url: str) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return parts.scheme == "https" and host.endswith(".githubcopilot.com")


def token_from_meta(config: Config, meta: CopilotMeta) -> CopilotToken:
    # A persisted token has no refresh_in: refresh five minutes ahead of expiry.
    return CopilotToken(
        token=meta.token,
        expires_at_ms=meta.expires_at,
        refresh_at_ms=meta.expires_at - TOKEN_REFRESH_AHEAD_MS,
        api_base=copilot_api_base(config, meta.token),
        meta=meta,
    )


def parse_token_response(config: Config, data: dict[str, Any], now_ms: int) -> CopilotToken:
    token = data.get("token")
    expires_at = data.get("expires_at")
    if not isinstance(token, str) or not isinstance(expires_at, int | float):
        raise UpstreamError("GitHub token response lacks token or expires_at")
    # expires_at is Unix seconds (the legacy service parsed it as a date string
    # and so considered every token expired).
    expires_at_ms = int(expires_at * 1000)
    refresh_in = data.get("refresh_in")
    refresh_at_ms = (
        now_ms + int(refresh_in * 1000)
        if isinstance(refresh_in, int | float) and refresh_in > 0
        else expires_at_ms - TOKEN_REFRESH_AHEAD_MS
    )
    quotas = data.get("limited_user_quotas") or {}
    reset = data.get("limited_user_reset_date")
    endpoints = data.get("endpoints") or {}
    meta = CopilotMeta(
        token=token,
        expires_at=expires_at_ms,
        reset_time=int(reset * 1000) if isinstance(reset, int | float) else None,
        chat_quota=_int_or_none(quotas.get("chat")) if isinstance(quotas, dict) else None,
        completions_quota=_int_or_none(quotas.get("completions")) if isinstance(quotas, dict) else None,
    )
    api = endpoints.get("api") if isinstance(endpoints, dict) else None
    return CopilotToken(
        token=token,
        expires_at_ms=expires_at_ms,
        refresh_at_ms=min(refresh_at_ms, expires_at_ms - TOKEN_MIN_LIFETIME_LEFT_MS),
        api_base=copilot_api_base(config, token, api if isinstance(api, str) else None),
        meta=meta,
    )


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class GitHubClient:
    def __init__(self, session: aiohttp.ClientSession, config: Config, proxy_for: ProxySelector) -> None:
        self._session = session
        self._config = config
        self._proxy_for = proxy_for
        self._timeout = aiohttp.ClientTimeout(total=GITHUB_CALL_TIMEOUT, connect=config.upstream_connect_timeout)
        self._headers = ClientIdentity.from_config(config).github_headers()

    async def exchange(self, github_token: str) -> CopilotToken:
        """The token exchange: an account's GitHub token for a short-lived Copilot token (all "exchange" means here)."""
        data = await self._get_as(github_token, "/copilot_internal/v2/token", "the token exchange")
        return parse_token_response(self._config, data, now_ms())

    async def copilot_user(self, github_token: str) -> dict[str, Any]:
        """The account's Copilot plan and quotas (``GET /copilot_internal/user``), as GitHub reports them."""
        return await self._get_as(github_token, "/copilot_internal/user", "the quota request")

    async def _get_as(self, github_token: str, path: str, what: str) -> dict[str, Any]:
        """``GET path`` with the account's token: its JSON object, or GitHubRefused naming ``what``."""
        url = f"{self._config.github_api_url}{path}"
        headers = {**self._headers, "authorization": f"token {github_token}"}
        status, data = await self._call("GET", url, headers=headers)
        if status != 200 or not isinstance(data, dict):
            message = data.get("message") if isinstance(data, dict) else None
            raise GitHubRefused(f"GitHub refused {what} ({status}{': ' + message if message else ''})", status)
        return data

    async def request_device_code(self) -> dict[str, Any]:
        url = f"{self._config.github_url}/login/device/code"
        form = {"client_id": self._config.github_client_id, "scope": "read:user"}
        status, data = await self._call("POST", url, headers=self._headers, data=form)
        if status != 200 or not isinstance(data, dict) or "device_code" not in data:
            raise GitHubRefused(f"GitHub refused the device code request ({status})", status)
        return data

    async def poll_device_token(self, device_code: str) -> dict[str, Any]:
        url = f"{self._config.github_url}/login/oauth/access_token"
        form = {
            "client_id": self._config.github_client_id,
            "device_code": device_code,
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        }
        status, data = await self._call("POST", url, headers=self._headers, data=form)
        if not isinstance(data, dict):
            raise GitHubRefused(f"GitHub answered the device poll with {status}", status)
        return data

    async def _call(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        try:
            async with self._session.request(
                method, url, timeout=self._timeout, proxy=self._proxy_for(url), **kwargs
            ) as response:
                body = await response.read()
                try:
                    return response.status, orjson.loads(body) if body else None
                except orjson.JSONDecodeError:
                    return response.status, None
        except TimeoutError:
            raise UpstreamTimeout("GitHub did not answer in time") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"GitHub unreachable: {type(exc).__name__}") from None
