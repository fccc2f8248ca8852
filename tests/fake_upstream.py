"""A fake of GitHub (device flow, Copilot token exchange) and of the Copilot API, as one aiohttp app.

The test suite and the benchmark run it on loopback and point proxyd at it through
``PROXYD_GITHUB_URL``, ``PROXYD_GITHUB_API_URL`` and ``PROXYD_COPILOT_API_URL``. It answers the
way the real services do (status codes, body shapes, SSE framing, GitHub's HTTP-200 OAuth
errors), records every request it receives, and lets each test script faults on its
``FakeUpstreamState``.

Run standalone (for the benchmark): ``python -m tests.fake_upstream --port 0``; it prints
``FAKE_UPSTREAM_URL=...`` and ``FAKE_GITHUB_TOKEN=...`` lines, then serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import itertools
import secrets
import signal
import string
import struct
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict, MultiDict

__all__ = [
    "DEFAULT_COPILOT_API_URL",
    "DEVICE_GRANT_TYPE",
    "FAKE_STATE",
    "DeviceAuthorization",
    "FailSpec",
    "FakeUpstream",
    "FakeUpstreamState",
    "GithubAccount",
    "IssuedCopilotToken",
    "RecordedRequest",
    "StreamCancellation",
    "create_fake_upstream",
    "default_models",
    "running_fake_upstream",
]

DEFAULT_COPILOT_API_URL = "https://api.individual.githubcopilot.com"
DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
GITHUB_DOCS_URL = "https://docs.github.com/rest"
DEVICE_ERROR_URI = "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow"
VERIFICATION_URI = "https://github.com/login/device"

# The error_description texts GitHub sends with each device-flow error code.
DEVICE_ERROR_DESCRIPTIONS = {
    "authorization_pending": "The authorization request is still pending.",
    "slow_down": "Too many requests have been made in the same timeframe.",
    "expired_token": "The `device_code` has expired.",
    "access_denied": "The authorization request was denied.",
    "incorrect_device_code": "The device_code provided is not valid.",
    "incorrect_client_credentials": "The client_id and/or client_secret passed are incorrect.",
    "unsupported_grant_type": "The grant type is not supported.",
    "device_flow_disabled": "Device flow must be enabled for this App.",
}

StreamUsageMode = Literal["requested", "always", "never"]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    headers: CIMultiDict[str]
    query: MultiDict[str]
    body: bytes
    json: Any  # the parsed body, or None when it was empty or not JSON
    time: float  # state.clock() at arrival


@dataclass(frozen=True, slots=True)
class StreamCancellation:
    """A streaming response the client abandoned before the fake finished writing it."""

    path: str
    events_sent: int
    time: float


@dataclass(frozen=True, slots=True)
class FailSpec:
    """A canned error answer queued with ``FakeUpstreamState.fail_next``."""

    status: int
    body: bytes
    headers: Mapping[str, str]
    path: str | None  # None: the next request to any path


@dataclass(slots=True)
class GithubAccount:
    """A GitHub OAuth token the fake accepts, and what its Copilot entitlement looks like."""

    token: str
    login: str
    user_id: int
    has_copilot: bool = True
    denied_status: int = 404  # what /copilot_internal/v2/token answers when has_copilot is False
    sku: str = "free_limited_copilot"
    quotas: dict[str, int] | None = field(default_factory=lambda: {"chat": 50, "completions": 2000})
    reset_date: int | None = None  # None: JSON null
    quota_fields: bool = True  # False: limited_user_* keys are absent altogether
    # What GET /copilot_internal/user reports: the plan and its premium-request quota.
    copilot_plan: str = "individual"
    premium_entitlement: int = 300
    premium_remaining: int = 300


@dataclass(slots=True)
class IssuedCopilotToken:
    token: str
    github_token: str
    issued_at: float
    expires_at: float


@dataclass(slots=True)
class DeviceAuthorization:
    """One device-flow login started with POST /login/device/code."""

    device_code: str
    user_code: str
    client_id: str
    scope: str
    interval: int
    expires_at: float
    polls: list[float] = field(default_factory=list)  # state.clock() of each access_token poll
    access_token: str | None = None  # set once approved; the code is then spent

    def poll_gaps(self) -> list[float]:
        """Seconds between consecutive polls, to check the client honoured ``interval``."""
        return [later - earlier for earlier, later in itertools.pairwise(self.polls)]


# --------------------------------------------------------------------------- state


def _chat_model(model_id: str, name: str, vendor: str, version: str, context: int, output: int) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "name": name,
        "vendor": vendor,
        "version": version,
        "preview": False,
        "model_picker_enabled": True,
        "capabilities": {
            "family": model_id,
            "object": "model_capabilities",
            "type": "chat",
            "tokenizer": "o200k_base",
            "limits": {
                "max_context_window_tokens": context,
                "max_output_tokens": output,
                "max_prompt_tokens": context - output,
            },
            "supports": {"streaming": True, "tool_calls": True, "parallel_tool_calls": True},
        },
    }


def default_models() -> list[dict[str, Any]]:
    """The model list in the shape Copilot's GET /models returns it."""
    return [
        _chat_model("gpt-4o", "GPT-4o", "Azure OpenAI", "gpt-4o-2024-11-20", 128000, 4096),
        _chat_model("gpt-4o-mini", "GPT-4o mini", "Azure OpenAI", "gpt-4o-mini-2024-07-18", 128000, 4096),
        _chat_model("gpt-4.1", "GPT-4.1", "Azure OpenAI", "gpt-4.1-2025-04-14", 128000, 16384),
        _chat_model("claude-sonnet-4", "Claude Sonnet 4", "Anthropic", "claude-sonnet-4", 128000, 16000),
        {
            "id": "text-embedding-3-small",
            "object": "model",
            "name": "Embedding V3 small",
            "vendor": "Azure OpenAI",
            "version": "text-embedding-3-small",
            "preview": False,
            "model_picker_enabled": False,
            "capabilities": {
                "family": "text-embedding-3-small",
                "object": "model_capabilities",
                "type": "embeddings",
                "tokenizer": "cl100k_base",
                "limits": {"max_inputs": 512},
                "supports": {"dimensions": True},
            },
        },
    ]


@dataclass(kw_only=True)
class FakeUpstreamState:
    """Configuration, scripted faults and recordings of one fake upstream.

    Plain attributes are meant to be set by tests directly; methods cover what needs bookkeeping.
    """

    # --- behaviour
    record: bool = True  # False for the benchmark: nothing is kept per request
    clock: Callable[[], float] = field(default_factory=lambda: time.time)
    copilot_token_ttl: int = 1800
    refresh_in: int | None = None  # None: ttl - 300 like GitHub, but never below half the ttl
    copilot_api_url: str = DEFAULT_COPILOT_API_URL  # endpoints.api in the token answer
    required_headers: tuple[str, ...] = ()  # Copilot API answers 400 when one is missing
    reject_unknown_models: bool = False  # chat with a model not in `models` -> 400 model_not_supported
    models: list[dict[str, Any]] = field(default_factory=default_models)
    completion_text: str = "Hello from the fake Copilot!"
    stream_chunks: int = 3  # content chunks a streamed chat answer is split into
    stream_usage: StreamUsageMode = "requested"  # "requested": only with stream_options.include_usage
    prompt_filter_chunk: bool = False  # lead the stream with Copilot's empty-choices filter chunk
    # Tool calls (name, arguments) the assistant makes after its text; the answer then finishes with "tool_calls".
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    finish_reason: str = "stop"  # of an answer without tool calls ("length": cut at max_tokens)
    prompt_tokens: int = 12
    completion_tokens: int = 8
    embedding_dims: int = 8

    # --- device flow
    device_interval: int = 5
    device_expires_in: int = 900
    device_flow_script: list[str] = field(default_factory=list)  # one answer per poll, consumed
    device_flow_default: str = "authorization_pending"  # the answer once the script is used up
    slow_down_increment: int = 5  # GitHub adds 5 s to the interval on each slow_down
    enforce_device_interval: bool = False  # answer slow_down to a poll sooner than the interval
    device_grants_copilot: bool = True  # the approved gho_ token has Copilot access

    # --- faults (reset_faults() restores these)
    stall_seconds: float = 0.0  # delay before answering
    stall_path: str | None = None  # None: stall every path
    reset_mid_stream_after: int | None = None  # close the connection after N SSE events
    omit_done: bool = False  # end chat streams cleanly but without `data: [DONE]`
    stream_chunk_delay: float = 0.0  # seconds between SSE events

    # --- registries and recordings
    github_accounts: dict[str, GithubAccount] = field(default_factory=dict)
    copilot_tokens: dict[str, IssuedCopilotToken] = field(default_factory=dict)
    exchange_counts: Counter[str] = field(default_factory=Counter)
    device_authorizations: dict[str, DeviceAuthorization] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    cancelled_streams: list[StreamCancellation] = field(default_factory=list)
    completed_streams: int = 0
    stream_cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    _failures: list[FailSpec] = field(default_factory=list, repr=False)
    _request_seen: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    # ----------------------------------------------------------------- GitHub accounts

    def add_github_token(
        self,
        token: str,
        *,
        login: str = "octocat",
        has_copilot: bool = True,
        denied_status: int = 404,
        sku: str = "free_limited_copilot",
        quotas: dict[str, int] | None = None,
        reset_date: int | None = None,
        quota_fields: bool = True,
    ) -> GithubAccount:
        """Register a GitHub OAuth token; quotas default to the free plan's chat 50 / completions 2000."""
        account = GithubAccount(
            token=token,
            login=login,
            user_id=len(self.github_accounts) + 1,
            has_copilot=has_copilot,
            denied_status=denied_status,
            sku=sku,
            quotas={"chat": 50, "completions": 2000} if quotas is None else quotas,
            reset_date=int(self.clock()) + 30 * 86400 if reset_date is None else reset_date,
            quota_fields=quota_fields,
        )
        self.github_accounts[token] = account
        return account

    def exchange_count(self, github_token: str) -> int:
        """How many Copilot tokens were issued for this GitHub token."""
        return self.exchange_counts[github_token]

    # ----------------------------------------------------------------- Copilot tokens

    def issue_copilot_token(self, github_token: str = "", *, ttl: int | None = None) -> IssuedCopilotToken:
        """Mint a fresh Copilot token, as the exchange does; tests may call it to skip the exchange."""
        now = self.clock()
        expires_at = int(now) + (self.copilot_token_ttl if ttl is None else ttl)
        account = self.github_accounts.get(github_token)
        sku = account.sku if account else "free_limited_copilot"
        token = (
            f"tid={secrets.token_hex(16)};exp={expires_at};sku={sku};"
            "proxy-ep=proxy.individual.githubcopilot.com;st=dotcom;chat=1;cit=1;malfil=1;"
            f"8kp=1:{secrets.token_hex(32)}"
        )
        issued = IssuedCopilotToken(token=token, github_token=github_token, issued_at=now, expires_at=expires_at)
        self.copilot_tokens[token] = issued
        return issued

    def expire_copilot_token(self, token: str) -> None:
        self.copilot_tokens[token].expires_at = self.clock() - 1

    def expire_all_copilot_tokens(self) -> None:
        past = self.clock() - 1
        for issued in self.copilot_tokens.values():
            issued.expires_at = past

    def copilot_token_status(self, token: str) -> Literal["valid", "expired", "unknown"]:
        issued = self.copilot_tokens.get(token)
        if issued is None:
            return "unknown"
        return "valid" if issued.expires_at > self.clock() else "expired"

    # ----------------------------------------------------------------- device flow

    def approve_device_after(self, pending_polls: int) -> None:
        """Script the device flow: `pending_polls` authorization_pending answers, then approval."""
        self.device_flow_script = ["authorization_pending"] * pending_polls + ["approve"]

    @property
    def device_polls(self) -> list[float]:
        """Poll times across all device authorizations, in arrival order."""
        return sorted(t for auth in self.device_authorizations.values() for t in auth.polls)

    # ----------------------------------------------------------------- faults

    def fail_next(
        self,
        status: int,
        body: bytes | str | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        path: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests (to `path`, or to any path) with this error.

        A mapping body is sent as JSON; None sends an OpenAI-style error for the status.
        """
        if body is None:
            phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "error"
            body = _openai_error_body(phrase, _error_code(status))
        elif isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = orjson.dumps(body)
        spec = FailSpec(status=status, body=body, headers=dict(headers or {}), path=path)
        self._failures.extend([spec] * times)

    def reset_faults(self) -> None:
        self._failures.clear()
        self.stall_seconds = 0.0
        self.stall_path = None
        self.reset_mid_stream_after = None
        self.omit_done = False
        self.stream_chunk_delay = 0.0

    def take_failure(self, path: str) -> FailSpec | None:
        for index, spec in enumerate(self._failures):
            if spec.path is None or spec.path == path:
                return self._failures.pop(index)
        return None

    # ----------------------------------------------------------------- recordings

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def clear_requests(self) -> None:
        self.requests.clear()

    async def wait_for_requests(self, path: str, count: int = 1, within: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least `count` requests to `path` were recorded (e.g. a background refresh)."""
        if not self.record:
            raise RuntimeError("wait_for_requests needs record=True")
        async with asyncio.timeout(within):
            while len(found := self.requests_to(path)) < count:
                self._request_seen.clear()
                await self._request_seen.wait()
        return found

    def record_request(self, request: web.Request, body: bytes, parsed: Any) -> None:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                headers=CIMultiDict(request.headers),
                query=MultiDict(request.query),
                body=body,
                json=parsed,
                time=self.clock(),
            )
        )
        self._request_seen.set()

    def note_cancelled_stream(self, path: str, events_sent: int) -> None:
        self.cancelled_streams.append(StreamCancellation(path=path, events_sent=events_sent, time=self.clock()))
        self.stream_cancelled.set()


FAKE_STATE = web.AppKey("fake_state", FakeUpstreamState)
# The body parsed once by the middleware (JSON, or a dict for a form), for the handlers.
_PARSED_BODY: web.RequestKey[Any] = web.RequestKey("fake_parsed_json")


# --------------------------------------------------------------------------- response helpers


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, headers=headers, content_type="application/json")


def _error_code(status: int) -> str:
    return {401: "unauthorized", 429: "rate_limited", 500: "internal_error", 503: "service_unavailable"}.get(
        status, "error"
    )


def _openai_error_body(message: str, code: str, error_type: str = "invalid_request_error") -> bytes:
    return orjson.dumps({"error": {"message": message, "type": error_type, "param": None, "code": code}})


def _openai_error(status: int, message: str, code: str) -> web.Response:
    return web.Response(body=_openai_error_body(message, code), status=status, content_type="application/json")


def _github_error(status: int, message: str) -> web.Response:
    return _json({"message": message, "documentation_url": GITHUB_DOCS_URL}, status=status)


def _oauth_reply(request: web.Request, payload: Mapping[str, Any]) -> web.Response:
    """GitHub's OAuth endpoints answer form-encoded unless the client asks for JSON."""
    if "json" in request.headers.get("Accept", ""):
        return _json(payload)
    return web.Response(
        text=urlencode({k: str(v) for k, v in payload.items()}),
        content_type="application/x-www-form-urlencoded",
    )


def _request_params(request: web.Request) -> dict[str, str]:
    """OAuth parameters from the query string, a form body or a JSON body, as GitHub accepts all three."""
    params = dict(request.query)
    parsed = request.get(_PARSED_BODY)
    if isinstance(parsed, dict):
        params.update({k: str(v) for k, v in parsed.items()})
    return params


def _auth_credential(request: web.Request, schemes: Iterable[str]) -> str | None:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in schemes and credential.strip():
        return credential.strip()
    return None


def _usage(state: FakeUpstreamState) -> dict[str, Any]:
    return {
        "prompt_tokens": state.prompt_tokens,
        "completion_tokens": state.completion_tokens,
        "total_tokens": state.prompt_tokens + state.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _split(text: str, parts: int) -> list[str]:
    """Exactly `parts` pieces (some may be empty) that join back to `text`."""
    parts = max(1, parts)
    bounds = [len(text) * i // parts for i in range(parts + 1)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


# --------------------------------------------------------------------------- middleware


@web.middleware
async def _upstream_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record the request, then apply the queued failure and the stall before the real handler."""
    state = request.app[FAKE_STATE]
    body = await request.read()
    parsed: Any = None
    if body[:1] in (b"{", b"["):
        with contextlib.suppress(orjson.JSONDecodeError):
            parsed = orjson.loads(body)
    elif body and request.content_type == "application/x-www-form-urlencoded":
        parsed = dict(parse_qsl(body.decode("utf-8", "replace")))
    request[_PARSED_BODY] = parsed
    if state.record:
        # Form bodies are recorded as bytes only: `json` means a JSON body.
        state.record_request(request, body, parsed if body[:1] in (b"{", b"[") else None)
    # Taken at arrival, so concurrent requests consume queued failures in arrival order.
    failure = state.take_failure(request.path)
    if state.stall_seconds > 0 and state.stall_path in (None, request.path):
        await asyncio.sleep(state.stall_seconds)
    if failure is not None:
        response = web.Response(body=failure.body, status=failure.status, content_type="application/json")
        response.headers.update(failure.headers)  # may override Content-Type
        return response
    return await handler(request)


# --------------------------------------------------------------------------- GitHub


def _github_account(request: web.Request) -> GithubAccount | None:
    """The account whose GitHub token the request sends (``token`` or ``Bearer``), if the fake knows it."""
    credential = _auth_credential(request, ("token", "bearer"))
    return request.app[FAKE_STATE].github_accounts.get(credential) if credential else None


async def _copilot_token(request: web.Request) -> web.Response:
    state = request.app[FAKE_STATE]
    account = _github_account(request)
    if account is None:
        return _github_error(401, "Bad credentials")
    if not account.has_copilot:
        if account.denied_status == 403:
            return _github_error(403, "Resource not accessible by integration")
        return _github_error(account.denied_status, "Not Found")
    ttl = state.copilot_token_ttl
    issued = state.issue_copilot_token(account.token, ttl=ttl)
    state.exchange_counts[account.token] += 1
    refresh_in = state.refresh_in if state.refresh_in is not None else max(ttl - 300, ttl // 2)
    payload: dict[str, Any] = {
        "token": issued.token,
        "expires_at": int(issued.expires_at),
        "refresh_in": refresh_in,
        "endpoints": {
            "api": state.copilot_api_url,
            "proxy": "https://proxy.individual.githubcopilot.com",
            "telemetry": "https://telemetry.individual.githubcopilot.com",
            "origin-tracker": "https://origin-tracker.individual.githubcopilot.com",
        },
        "sku": account.sku,
        "individual": True,
        "chat_enabled": True,
        "annotations_enabled": False,
        "code_quote_enabled": True,
        "public_suggestions": "disabled",
        "telemetry": "disabled",
        "tracking_id": secrets.token_hex(16),
    }
    if account.quota_fields:
        payload["limited_user_quotas"] = account.quotas
        payload["limited_user_reset_date"] = account.reset_date
    return _json(payload, headers={"X-GitHub-Request-Id": secrets.token_hex(8).upper()})


async def _github_user(request: web.Request) -> web.Response:
    account = _github_account(request)
    if account is None:
        return _github_error(401, "Bad credentials")
    return _json({"login": account.login, "id": account.user_id, "type": "User", "name": account.login})


def _quota_snapshot(kind: str, entitlement: int, remaining: int, unlimited: bool) -> dict[str, Any]:
    percent = 100.0 if unlimited or not entitlement else round(100 * remaining / entitlement, 1)
    return {
        "quota_id": kind,
        "entitlement": entitlement,
        "remaining": remaining,
        "percent_remaining": percent,
        "unlimited": unlimited,
        "overage_count": 0,
        "overage_permitted": False,
        "quota_remaining": float(remaining),
        "timestamp_utc": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time())),
    }


async def _copilot_user(request: web.Request) -> web.Response:
    """GET /copilot_internal/user: the plan and quota snapshots, as GitHub answers a ``token`` credential."""
    state = request.app[FAKE_STATE]
    credential = _auth_credential(request, ("token", "bearer"))
    account = state.github_accounts.get(credential) if credential else None
    if account is None:
        return _github_error(401, "Bad credentials")
    if not account.has_copilot:
        return _github_error(404, "Not Found")
    reset = time.strftime("%Y-%m-%d", time.gmtime(account.reset_date or state.clock() + 30 * 86400))
    return _json(
        {
            "login": account.login,
            "access_type_sku": account.sku,
            "copilot_plan": account.copilot_plan,
            "chat_enabled": True,
            "quota_reset_date": reset,
            "quota_snapshots": {
                "chat": _quota_snapshot("chat", 0, 0, True),
                "completions": _quota_snapshot("completions", 0, 0, True),
                "premium_interactions": _quota_snapshot(
                    "premium_interactions", account.premium_entitlement, account.premium_remaining, False
                ),
            },
        }
    )


def _user_code() -> str:
    alphabet = string.ascii_uppercase + string.digits
    code = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


async def _device_code(request: web.Request) -> web.Response:
    state = request.app[FAKE_STATE]
    params = _request_params(request)
    client_id = params.get("client_id", "")
    if not client_id:
        return _json({"error": "Not Found"}, status=404)
    auth = DeviceAuthorization(
        device_code=secrets.token_hex(20),
        user_code=_user_code(),
        client_id=client_id,
        scope=params.get("scope", ""),
        interval=state.device_interval,
        expires_at=state.clock() + state.device_expires_in,
    )
    state.device_authorizations[auth.device_code] = auth
    return _oauth_reply(
        request,
        {
            "device_code": auth.device_code,
            "user_code": auth.user_code,
            "verification_uri": VERIFICATION_URI,
            "expires_in": state.device_expires_in,
            "interval": auth.interval,
        },
    )


def _device_error(request: web.Request, error: str, **extra: Any) -> web.Response:
    # GitHub answers every device-flow error with HTTP 200.
    payload = {
        "error": error,
        "error_description": DEVICE_ERROR_DESCRIPTIONS.get(error, error),
        "error_uri": DEVICE_ERROR_URI,
        **extra,
    }
    return _oauth_reply(request, payload)


def _next_device_answer(state: FakeUpstreamState, auth: DeviceAuthorization, now: float) -> str:
    too_soon = len(auth.polls) > 1 and now - auth.polls[-2] < auth.interval
    if state.enforce_device_interval and too_soon:
        return "slow_down"
    if state.device_flow_script:
        return state.device_flow_script.pop(0)
    return state.device_flow_default


def _approve_device(request: web.Request, state: FakeUpstreamState, auth: DeviceAuthorization) -> web.Response:
    token = "gho_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
    auth.access_token = token
    state.add_github_token(token, has_copilot=state.device_grants_copilot)
    scope = auth.scope or "read:user"
    return _oauth_reply(request, {"access_token": token, "token_type": "bearer", "scope": scope})


async def _access_token(request: web.Request) -> web.Response:
    state = request.app[FAKE_STATE]
    params = _request_params(request)
    if params.get("grant_type") != DEVICE_GRANT_TYPE:
        return _device_error(request, "unsupported_grant_type")
    auth = state.device_authorizations.get(params.get("device_code", ""))
    if auth is None or auth.access_token is not None:
        return _device_error(request, "incorrect_device_code")
    if params.get("client_id") != auth.client_id:
        return _device_error(request, "incorrect_client_credentials")
    now = state.clock()
    auth.polls.append(now)
    if now >= auth.expires_at:
        return _device_error(request, "expired_token")
    answer = _next_device_answer(state, auth, now)
    if answer == "approve":
        return _approve_device(request, state, auth)
    if answer == "slow_down":
        auth.interval += state.slow_down_increment
        return _device_error(request, "slow_down", interval=auth.interval)
    return _device_error(request, answer)


# --------------------------------------------------------------------------- Copilot API


def _check_copilot_request(state: FakeUpstreamState, request: web.Request) -> web.Response | None:
    """The 401/400 answer Copilot gives this request, or None when it may proceed."""
    token = _auth_credential(request, ("bearer",))
    status = state.copilot_token_status(token) if token else "unknown"
    if status == "unknown":
        return _openai_error(401, "unauthorized: token invalid", "invalid_token")
    if status == "expired":
        return _openai_error(401, "unauthorized: token expired", "token_expired")
    for name in state.required_headers:
        if name not in request.headers:
            return _openai_error(400, f"bad request: missing {name} header for IDE auth", "bad_request")
    return None


class _SseStream:
    """Writes SSE events while applying the stream faults (delay, mid-stream reset)."""

    def __init__(self, request: web.Request, state: FakeUpstreamState) -> None:
        self.request = request
        self.state = state
        self.events_sent = 0
        self.response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Request-Id": secrets.token_hex(16),
            }
        )

    async def send(self, data: bytes, event: str | None = None) -> bool:
        """Write one event; False when the reset fault closed the connection instead."""
        if not self.response.prepared:
            await self.response.prepare(self.request)
        limit = self.state.reset_mid_stream_after
        if limit is not None and self.events_sent >= limit:
            # close() without a chunked terminator: the client sees a truncated body.
            if self.request.transport is not None:
                self.request.transport.close()
            return False
        if self.events_sent and self.state.stream_chunk_delay > 0:
            await asyncio.sleep(self.state.stream_chunk_delay)
        frame = b"data: " + data + b"\n\n"
        if event is not None:
            frame = b"event: " + event.encode() + b"\n" + frame
        await self.response.write(frame)
        self.events_sent += 1
        return True


async def _serve_stream(
    request: web.Request, state: FakeUpstreamState, events: Iterable[tuple[str | None, bytes]]
) -> web.StreamResponse:
    """Stream `events`, noting a client that goes away mid-stream."""
    stream = _SseStream(request, state)
    try:
        for event, data in events:
            if not await stream.send(data, event):
                return stream.response
        await stream.response.write_eof()
    except asyncio.CancelledError:
        # aiohttp cancels the handler when the client disconnects (handler_cancellation=True).
        state.note_cancelled_stream(request.path, stream.events_sent)
        raise
    except ConnectionResetError:
        # Without handler cancellation the disconnect surfaces on the next write; aiohttp's
        # finish_response tolerates a dead connection, so return instead of raising (no 500 log).
        state.note_cancelled_stream(request.path, stream.events_sent)
        return stream.response
    state.completed_streams += 1
    return stream.response


def _chat_chunk(model: str, completion_id: str, created: int, choice: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [choice],
        }
    )


def _chat_stream_events(state: FakeUpstreamState, payload: dict[str, Any], model: str) -> list[bytes]:
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    created = int(state.clock())
    events: list[bytes] = []
    if state.prompt_filter_chunk:
        # Copilot (Azure) opens with a chunk carrying only the prompt filter verdict.
        filters = {"hate": {"filtered": False, "severity": "safe"}}
        events.append(
            orjson.dumps(
                {
                    "choices": [],
                    "created": 0,
                    "id": "",
                    "model": "",
                    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filters}],
                }
            )
        )
    text, finish_reason = _answer_text(state, payload)
    for index, piece in enumerate(_split(text, state.stream_chunks) if text else ()):
        delta = {"role": "assistant", "content": piece} if index == 0 else {"content": piece}
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        events.append(_chat_chunk(model, completion_id, created, choice))
    for index, (call_id, name, arguments) in enumerate(_tool_calls(state)):
        # As OpenAI and Copilot send them: the id and name first, then the arguments in fragments.
        head = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        choice = {"index": 0, "delta": {"role": "assistant", "content": None, "tool_calls": [head]}}
        events.append(_chat_chunk(model, completion_id, created, {**choice, "finish_reason": None}))
        for fragment in _split(arguments, state.stream_chunks):
            part = {"index": index, "function": {"arguments": fragment}}
            choice = {"index": 0, "delta": {"tool_calls": [part]}, "finish_reason": None}
            events.append(_chat_chunk(model, completion_id, created, choice))
    finish = {"index": 0, "delta": {}, "finish_reason": finish_reason}
    events.append(_chat_chunk(model, completion_id, created, finish))
    options = payload.get("stream_options")
    requested = isinstance(options, dict) and bool(options.get("include_usage"))
    if state.stream_usage == "always" or (state.stream_usage == "requested" and requested):
        usage_chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [],
            "usage": _usage(state),
        }
        events.append(orjson.dumps(usage_chunk))
    if not state.omit_done:
        events.append(b"[DONE]")
    return events


def _answer_text(state: FakeUpstreamState, payload: dict[str, Any]) -> tuple[str, str]:
    """The answer's text and finish_reason; like OpenAI, a stop sequence cuts the text and is not sent."""
    text = state.completion_text
    if state.tool_calls:
        return text, "tool_calls"
    stops = payload.get("stop")
    for stop in [stops] if isinstance(stops, str) else stops if isinstance(stops, list) else []:
        if isinstance(stop, str) and stop and stop in text:
            return text[: text.index(stop)], "stop"
    return text, state.finish_reason


def _tool_calls(state: FakeUpstreamState) -> list[tuple[str, str, str]]:
    """(id, name, arguments JSON) of each scripted tool call."""
    return [("call_" + secrets.token_hex(8), name, orjson.dumps(args).decode()) for name, args in state.tool_calls]


def _chat_completion(state: FakeUpstreamState, model: str, payload: dict[str, Any]) -> dict[str, Any]:
    text, finish_reason = _answer_text(state, payload)
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if state.tool_calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, name, arguments in _tool_calls(state)
        ]
    return {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": int(state.clock()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": _usage(state),
    }


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[FAKE_STATE]
    if (denied := _check_copilot_request(state, request)) is not None:
        return denied
    payload = request[_PARSED_BODY]
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
        return _openai_error(400, "invalid request body: messages is required", "invalid_request_body")
    model = str(payload.get("model") or "gpt-4o")
    if state.reject_unknown_models and model not in {m["id"] for m in state.models}:
        return _openai_error(400, "The requested model is not supported.", "model_not_supported")
    if payload.get("stream"):
        events = _chat_stream_events(state, payload, model)
        return await _serve_stream(request, state, ((None, data) for data in events))
    return _json(_chat_completion(state, model, payload))


async def _models(request: web.Request) -> web.Response:
    state = request.app[FAKE_STATE]
    if (denied := _check_copilot_request(state, request)) is not None:
        return denied
    return _json({"data": state.models, "object": "list"})


def _embedding_inputs(raw: Any) -> list[str] | None:
    """The inputs as strings; token arrays (ints) are accepted like OpenAI does."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        return [" ".join(map(str, raw))]
    if isinstance(raw, list) and raw and all(isinstance(x, str | list) for x in raw):
        return [x if isinstance(x, str) else " ".join(map(str, x)) for x in raw]
    return None


def _embedding_vector(text: str, dims: int) -> list[float]:
    """A deterministic vector in [-1, 1) derived from the text, so equal inputs embed equally."""
    digest = b""
    counter = 0
    while len(digest) < dims:
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    return [(byte - 128) / 128 for byte in digest[:dims]]


async def _embeddings(request: web.Request) -> web.Response:
    state = request.app[FAKE_STATE]
    if (denied := _check_copilot_request(state, request)) is not None:
        return denied
    payload = request[_PARSED_BODY]
    inputs = _embedding_inputs(payload.get("input")) if isinstance(payload, dict) else None
    if inputs is None or not isinstance(payload, dict):
        return _openai_error(400, "invalid request body: input is required", "invalid_request_body")
    dims = int(payload.get("dimensions") or state.embedding_dims)
    as_base64 = payload.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(inputs):
        vector = _embedding_vector(text, dims)
        encoded: Any = vector
        if as_base64:
            # The openai client asks for base64 by default: little-endian float32, base64-encoded.
            encoded = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(max(1, len(text) // 4) for text in inputs)
    model = str(payload.get("model") or "text-embedding-3-small")
    return _json(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def _response_object(
    state: FakeUpstreamState, ids: tuple[str, str], model: str, text: str | None, created: int
) -> dict[str, Any]:
    """A Responses-API `response`; text None means still in progress (no output, no usage yet)."""
    response_id, message_id = ids
    output: list[dict[str, Any]] = []
    usage: dict[str, Any] | None = None
    if text is not None:
        output = [_response_message(message_id, text, "completed")]
        usage = {
            "input_tokens": state.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": state.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": state.prompt_tokens + state.completion_tokens,
        }
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": "in_progress" if text is None else "completed",
        "model": model,
        "output": output,
        "usage": usage,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "top_p": 1.0,
        "tool_choice": "auto",
        "tools": [],
        "text": {"format": {"type": "text"}},
    }


def _response_message(message_id: str, text: str, status: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": message_id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def _responses_events(state: FakeUpstreamState, model: str) -> list[tuple[str, bytes]]:
    ids = ("resp_" + secrets.token_hex(12), "msg_" + secrets.token_hex(12))
    created = int(state.clock())
    text = state.completion_text
    part = {"type": "output_text", "text": "", "annotations": []}
    item_ref = {"item_id": ids[1], "output_index": 0, "content_index": 0}
    bodies: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": _response_object(state, ids, model, None, created)}),
        ("response.in_progress", {"response": _response_object(state, ids, model, None, created)}),
        (
            "response.output_item.added",
            {"output_index": 0, "item": _response_message(ids[1], "", "in_progress")},
        ),
        ("response.content_part.added", {**item_ref, "part": part}),
    ]
    for piece in _split(text, state.stream_chunks):
        bodies.append(("response.output_text.delta", {**item_ref, "delta": piece}))
    bodies += [
        ("response.output_text.done", {**item_ref, "text": text}),
        ("response.content_part.done", {**item_ref, "part": {**part, "text": text}}),
        (
            "response.output_item.done",
            {"output_index": 0, "item": _response_message(ids[1], text, "completed")},
        ),
        ("response.completed", {"response": _response_object(state, ids, model, text, created)}),
    ]
    return [
        (name, orjson.dumps({"type": name, "sequence_number": seq, **body})) for seq, (name, body) in enumerate(bodies)
    ]


async def _responses(request: web.Request) -> web.StreamResponse:
    state = request.app[FAKE_STATE]
    if (denied := _check_copilot_request(state, request)) is not None:
        return denied
    payload = request[_PARSED_BODY]
    if not isinstance(payload, dict) or "input" not in payload:
        return _openai_error(400, "invalid request body: input is required", "invalid_request_body")
    model = str(payload.get("model") or "gpt-4o")
    if payload.get("stream"):
        events: list[tuple[str | None, bytes]] = list(_responses_events(state, model))
        return await _serve_stream(request, state, events)
    ids = ("resp_" + secrets.token_hex(12), "msg_" + secrets.token_hex(12))
    return _json(_response_object(state, ids, model, state.completion_text, int(state.clock())))


# --------------------------------------------------------------------------- app and runner


def create_fake_upstream(state: FakeUpstreamState | None = None) -> web.Application:
    """The fake GitHub + Copilot API; its state is at ``app[FAKE_STATE]``."""
    app = web.Application(middlewares=[_upstream_middleware])
    app[FAKE_STATE] = state if state is not None else FakeUpstreamState()
    app.router.add_get("/copilot_internal/v2/token", _copilot_token)
    app.router.add_get("/user", _github_user)
    app.router.add_get("/copilot_internal/user", _copilot_user)
    app.router.add_post("/login/device/code", _device_code)
    app.router.add_post("/login/oauth/access_token", _access_token)
    app.router.add_post("/chat/completions", _chat_completions)
    app.router.add_get("/models", _models)
    app.router.add_post("/embeddings", _embeddings)
    app.router.add_post("/responses", _responses)
    return app


@dataclass(frozen=True, slots=True)
class FakeUpstream:
    url: str  # e.g. "http://127.0.0.1:41234", no trailing slash
    state: FakeUpstreamState
    app: web.Application

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@contextlib.asynccontextmanager
async def running_fake_upstream(
    host: str = "127.0.0.1", port: int = 0, state: FakeUpstreamState | None = None
) -> AsyncIterator[FakeUpstream]:
    """Serve the fake on a real socket for the duration of the block."""
    app = create_fake_upstream(state)
    # handler_cancellation like aiohttp's TestServer, so a client disconnect cancels the handler;
    # a short shutdown_timeout so a stalled handler doesn't hold up the test's teardown.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield FakeUpstream(url=f"http://{url_host}:{bound_port}", state=app[FAKE_STATE], app=app)
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- standalone


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fake GitHub + Copilot API upstream for proxyd")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument(
        "--github-token",
        action="append",
        dest="github_tokens",
        help="a GitHub token to accept (repeatable); default: two fixed bench tokens",
    )
    parser.add_argument("--record", action="store_true", help="keep every request in memory")
    parser.add_argument("--stream-chunks", type=int, default=3)
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between SSE events")
    parser.add_argument("--ttl", type=int, default=1800, help="Copilot token lifetime in seconds")
    return parser.parse_args(argv)


async def _serve_forever(args: argparse.Namespace) -> None:
    state = FakeUpstreamState(
        record=args.record,
        stream_chunks=args.stream_chunks,
        stream_chunk_delay=args.chunk_delay,
        copilot_token_ttl=args.ttl,
    )
    tokens = args.github_tokens or [
        "gho_fakebench0000000000000000000000000001",
        "gho_fakebench0000000000000000000000000002",
    ]
    for token in tokens:
        state.add_github_token(token)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_fake_upstream(args.host, args.port, state) as fake:
        # Machine-readable lines first: the benchmark parses them from our stdout.
        print(f"FAKE_UPSTREAM_URL={fake.url}", flush=True)
        for token in tokens:
            print(f"FAKE_GITHUB_TOKEN={token}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(_serve_forever(_parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
