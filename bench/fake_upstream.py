"""A fake of GitHub (device flow, Copilot token exchange) and of the Copilot API, as one aiohttp app.

The test suite and the benchmark run it on loopback and point proxyd at it through
``PROXYD_GITHUB_URL``, ``PROXYD_GITHUB_API_URL`` and ``PROXYD_COPILOT_API_URL``. It answers the
way the real services do (status codes, body shapes, SSE framing, GitHub's HTTP-200 OAuth
errors), records every request it receives, and lets each test script faults on its
``FakeUpstreamState``.

The Copilot side follows how Copilot's own client calls it today: GET /models lists each model's
``supported_endpoints``, and POST /chat/completions, /responses and /v1/messages (Anthropic's
Messages API) refuse a model that does not list them. Thinking signatures (Messages) and encrypted
reasoning (Responses) are HMACs keyed by the GitHub account behind the request's Copilot token, so
they verify only on the account that produced them (``state.signature_for``,
``state.encrypted_reasoning_for``).

It lives in ``bench/`` with the other helpers both use (``delegating_database``,
``node_persist``): the tests import the benchmark's helpers, the benchmark never
imports the tests.

Run standalone (for the benchmark): ``python -m bench.fake_upstream --port 0``; it prints
``FAKE_UPSTREAM_URL=...`` and ``FAKE_GITHUB_TOKEN=...`` lines, then serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import re
import secrets
import signal
import string
import struct
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict, MultiDict, MultiMapping

__all__ = [
    "API_VERSION_UNSUPPORTED",
    "CHAT_COMPLETIONS",
    "DEFAULT_COPILOT_API_URL",
    "DEVICE_GRANT_TYPE",
    "FAKE_STATE",
    "MESSAGES",
    "RESPONSES",
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
_ENCRYPTED_PREFIX = "gAAAAAB"  # what OpenAI's encrypted reasoning looks like (a Fernet token)


def _beta_flags(headers: MultiMapping[str]) -> list[str]:
    values = headers.getall("anthropic-beta", [])
    return [flag.strip() for value in values for flag in value.split(",") if flag.strip()]


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

    @property
    def anthropic_betas(self) -> list[str]:
        """The flags of every ``anthropic-beta`` header, in order (the header may repeat or list several)."""
        return _beta_flags(self.headers)


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


# What Copilot's model entries list in `supported_endpoints`.
CHAT_COMPLETIONS = "/chat/completions"
RESPONSES = "/responses"
MESSAGES = "/v1/messages"
# Copilot's 466 body (February 2026), sent to clients it considers too old.
API_VERSION_UNSUPPORTED = (
    "bad request: the specified API version is no longer supported. "
    "You may need to update your client to a newer version.\n"
)
_VISION_LIMITS = {
    "max_prompt_image_size": 3145728,
    "max_prompt_images": 5,
    "supported_media_types": ["image/jpeg", "image/png", "image/webp", "image/gif"],
}


def _chat_model(
    model_id: str,
    name: str,
    vendor: str,
    version: str,
    context: int,
    output: int,
    *,
    prompt: int | None = None,
    premium: bool = False,
    multiplier: float = 0,
    supports: Mapping[str, Any] | None = None,
    endpoints: list[str] | None = None,
    category: str = "versatile",
) -> dict[str, Any]:
    """One chat model entry; `endpoints` None leaves `supported_endpoints` out (a chat-completions model)."""
    supports = dict(supports or {"streaming": True, "tool_calls": True, "parallel_tool_calls": True})
    limits: dict[str, Any] = {
        "max_context_window_tokens": context,
        "max_output_tokens": output,
        "max_prompt_tokens": context - output if prompt is None else prompt,
    }
    if supports.get("vision"):
        limits["vision"] = dict(_VISION_LIMITS)
    entry: dict[str, Any] = {
        "id": model_id,
        "object": "model",
        "name": name,
        "vendor": vendor,
        "version": version,
        "preview": False,
        "model_picker_enabled": True,
        "model_picker_category": category,
        "is_chat_default": False,
        "is_chat_fallback": False,
        "billing": {"is_premium": premium, "multiplier": multiplier},
        "capabilities": {
            "family": model_id,
            "object": "model_capabilities",
            "type": "chat",
            "tokenizer": "o200k_base",
            "limits": limits,
            "supports": supports,
        },
    }
    if endpoints is not None:
        entry["supported_endpoints"] = list(endpoints)
    return entry


_TOOLS = {"streaming": True, "tool_calls": True, "parallel_tool_calls": True}
_CLAUDE_THINKING = {"thinking": True, "max_thinking_budget": 32000, "min_thinking_budget": 1024}


def _claude_model(
    model_id: str,
    name: str,
    context: int,
    output: int,
    *,
    multiplier: float,
    endpoints: list[str] | None = None,
    category: str = "versatile",
) -> dict[str, Any]:
    """A Claude model: premium, with vision and thinking; those that list their endpoints think adaptively too."""
    supports = {**_TOOLS, "vision": True, **_CLAUDE_THINKING}
    if endpoints is not None:
        supports["adaptive_thinking"] = True
    return _chat_model(
        model_id,
        name,
        "Anthropic",
        model_id,
        context,
        output,
        prompt=None if endpoints is None else 128000,
        premium=True,
        multiplier=multiplier,
        supports=supports,
        endpoints=endpoints,
        category=category,
    )


def default_models() -> list[dict[str, Any]]:
    """The model list in the shape Copilot's GET /models returns it.

    The first four carry no `supported_endpoints`, which makes them chat-completions models (but see
    ``FakeUpstreamState.responses_accepts_chat_models``); the last four list theirs, and gpt-5.3-codex
    (/responses) and claude-opus-4.5 (/v1/messages) answer on one endpoint only.
    """
    return [
        _chat_model(
            "gpt-4o", "GPT-4o", "Azure OpenAI", "gpt-4o-2024-11-20", 128000, 4096, supports={**_TOOLS, "vision": True}
        ),
        _chat_model("gpt-4o-mini", "GPT-4o mini", "Azure OpenAI", "gpt-4o-mini-2024-07-18", 128000, 4096),
        _chat_model(
            "gpt-4.1",
            "GPT-4.1",
            "Azure OpenAI",
            "gpt-4.1-2025-04-14",
            128000,
            16384,
            supports={**_TOOLS, "vision": True, "structured_outputs": True},
        ),
        _claude_model("claude-sonnet-4", "Claude Sonnet 4", 128000, 16000, multiplier=1),
        {
            "id": "text-embedding-3-small",
            "object": "model",
            "name": "Embedding V3 small",
            "vendor": "Azure OpenAI",
            "version": "text-embedding-3-small",
            "preview": False,
            "model_picker_enabled": False,
            "billing": {"is_premium": False, "multiplier": 0},
            "capabilities": {
                "family": "text-embedding-3-small",
                "object": "model_capabilities",
                "type": "embeddings",
                "tokenizer": "cl100k_base",
                "limits": {"max_inputs": 512},
                "supports": {"dimensions": True},
            },
        },
        _chat_model(
            "gpt-5-mini",
            "GPT-5 mini",
            "Azure OpenAI",
            "gpt-5-mini",
            264000,
            64000,
            prompt=128000,
            supports={
                **_TOOLS,
                "vision": True,
                "structured_outputs": True,
                "reasoning_effort": ["low", "medium", "high"],
            },
            endpoints=[CHAT_COMPLETIONS, RESPONSES],
            category="lightweight",
        ),
        _chat_model(
            "gpt-5.3-codex",
            "GPT-5.3-Codex",
            "OpenAI",
            "gpt-5.3-codex",
            400000,
            128000,
            prompt=272000,
            premium=True,
            multiplier=1,
            supports={
                **_TOOLS,
                "vision": True,
                "structured_outputs": True,
                "reasoning_effort": ["low", "medium", "high", "xhigh"],
            },
            endpoints=[RESPONSES],
            category="powerful",
        ),
        _claude_model(
            "claude-sonnet-4.5",
            "Claude Sonnet 4.5",
            144000,
            16000,
            multiplier=1,
            endpoints=[CHAT_COMPLETIONS, MESSAGES],
        ),
        _claude_model(
            "claude-opus-4.5", "Claude Opus 4.5", 160000, 32000, multiplier=3, endpoints=[MESSAGES], category="powerful"
        ),
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
    # A model without `supported_endpoints` is a chat-completions model, which Copilot refuses on /responses.
    # True (the default) lets such models answer /responses as well, as the tests written before the field
    # rely on; False refuses them like Copilot does. Models that list their endpoints are always held to them.
    responses_accepts_chat_models: bool = True
    min_api_version: str | None = None  # an X-GitHub-Api-Version older than this date (or none) -> 466
    require_vision_header: bool = False  # a request holding an image without Copilot-Vision-Request -> 400

    # --- Responses and Messages
    thinking_text: str = "Let me think this through."  # Messages thinking / Responses reasoning summary
    reasoning_tokens: int = 4  # output_tokens_details.reasoning_tokens of a Responses answer that reasoned
    cache_read_tokens: int = 8  # Messages usage.cache_read_input_tokens when the request has cache_control marks
    cache_creation_tokens: int = 0  # Messages usage.cache_creation_input_tokens, likewise
    rejected_betas: set[str] = field(default_factory=set)  # anthropic-beta flags /v1/messages answers 400 to
    top_level_cache_control_refused: set[str] = field(default_factory=set)  # models refusing a top-level mark
    # Keys the HMACs that bind thinking signatures and encrypted reasoning to one GitHub account.
    signing_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

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

    def github_token_of(self, copilot_token: str) -> str | None:
        """The GitHub token a Copilot token was issued for ("" when minted without one), None if unknown."""
        issued = self.copilot_tokens.get(copilot_token)
        return issued.github_token if issued is not None else None

    # ----------------------------------------------------------------- account-bound reasoning

    def _account_mac(self, purpose: bytes, github_token: str, data: bytes) -> bytes:
        key = hmac.new(self.signing_secret, purpose + b"\0" + github_token.encode(), hashlib.sha256).digest()
        return hmac.new(key, data, hashlib.sha256).digest()

    def signature_for(self, github_token: str, thinking_text: str) -> str:
        """The `signature` the fake gives a thinking block with this text for this GitHub account."""
        return base64.b64encode(self._account_mac(b"thinking", github_token, thinking_text.encode())).decode()

    def verify_signature(self, github_token: str, thinking_text: str, signature: Any) -> bool:
        """Whether `signature` was minted for this account over exactly this thinking text."""
        if not isinstance(signature, str) or not signature.isascii():
            return False
        return hmac.compare_digest(self.signature_for(github_token, thinking_text), signature)

    def encrypted_reasoning_for(self, github_token: str, reasoning_text: str) -> str:
        """The `encrypted_content` the fake gives a reasoning item with this text for this GitHub account."""
        text = reasoning_text.encode()
        return (
            _ENCRYPTED_PREFIX
            + base64.urlsafe_b64encode(self._account_mac(b"reasoning", github_token, text) + text).decode()
        )

    def decrypt_reasoning(self, github_token: str, encrypted: Any) -> str | None:
        """The reasoning text inside `encrypted`, or None when it does not verify for this account."""
        if not isinstance(encrypted, str) or not encrypted.startswith(_ENCRYPTED_PREFIX):
            return None
        try:
            raw = base64.urlsafe_b64decode(encrypted[len(_ENCRYPTED_PREFIX) :])
        except ValueError:
            return None
        mac, text = raw[:32], raw[32:]
        if len(mac) < 32 or not hmac.compare_digest(mac, self._account_mac(b"reasoning", github_token, text)):
            return None
        try:
            return text.decode()
        except UnicodeDecodeError:
            return None

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

        A mapping body is sent as JSON; None sends an OpenAI-style error for the status (for 466, Copilot's
        "the specified API version is no longer supported" body).
        """
        if body is None and status == 466:
            body = _api_version_error_body()
        elif body is None:
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

    def last_request(self, path: str, method: str | None = None) -> RecordedRequest:
        """The latest request recorded to `path`; LookupError when there is none."""
        found = self.requests_to(path, method)
        if not found:
            raise LookupError(f"no request to {path} was recorded")
        return found[-1]

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


FAKE_MAX_BODY_BYTES = 64 * 1024 * 1024
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


def _openai_error_body(
    message: str, code: str | None, error_type: str = "invalid_request_error", param: str | None = None
) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": error_type, "param": param, "code": code}})


def _openai_error(status: int, message: str, code: str | None, param: str | None = None) -> web.Response:
    body = _openai_error_body(message, code, param=param)
    return web.Response(body=body, status=status, content_type="application/json")


def _anthropic_error(status: int, message: str, error_type: str = "invalid_request_error") -> web.Response:
    """An error as Anthropic words it, which Copilot passes through on /v1/messages."""
    return _json({"type": "error", "error": {"type": error_type, "message": message}}, status=status)


def _api_version_error_body() -> bytes:
    return orjson.dumps({"error": {"message": API_VERSION_UNSUPPORTED, "type": "error"}})


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


CopilotHandler = Callable[[web.Request, "FakeUpstreamState"], Awaitable[web.StreamResponse]]


def _copilot_route(handler: CopilotHandler) -> Handler:
    """A Copilot API route: answered by ``handler`` once the request passed Copilot's checks."""

    async def checked(request: web.Request) -> web.StreamResponse:
        state = request.app[FAKE_STATE]
        if (denied := _check_copilot_request(state, request)) is not None:
            return denied
        return await handler(request, state)

    return checked


def _check_copilot_request(state: FakeUpstreamState, request: web.Request) -> web.Response | None:
    """The 401/400 answer Copilot gives this request, or None when it may proceed."""
    token = _auth_credential(request, ("bearer",))
    status = state.copilot_token_status(token) if token else "unknown"
    if status == "unknown":
        return _openai_error(401, "unauthorized: token invalid", "invalid_token")
    if status == "expired":
        return _openai_error(401, "unauthorized: token expired", "token_expired")
    if state.min_api_version is not None and not _api_version_ok(
        request.headers.get("X-GitHub-Api-Version"), state.min_api_version
    ):
        return web.Response(body=_api_version_error_body(), status=466, content_type="application/json")
    for name in state.required_headers:
        if name not in request.headers:
            return _openai_error(400, f"bad request: missing {name} header for IDE auth", "bad_request")
    vision = request.headers.get("Copilot-Vision-Request", "").lower() == "true"
    if state.require_vision_header and not vision and _holds_image(request.get(_PARSED_BODY)):
        return _openai_error(400, "missing required Copilot-Vision-Request header for vision requests", "bad_request")
    return None


def _api_version_ok(sent: str | None, minimum: str) -> bool:
    """Whether an X-GitHub-Api-Version date is at least `minimum`; absent or malformed counts as too old."""
    if sent is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", sent.strip()):
        return False
    return sent.strip() >= minimum


def _holds_image(value: Any) -> bool:
    """Whether a request body carries an image part (chat's image_url, Messages' image, Responses' input_image)."""
    if isinstance(value, dict):
        if value.get("type") in ("image_url", "image", "input_image"):
            return True
        return any(_holds_image(child) for child in value.values())
    if isinstance(value, list):
        return any(_holds_image(child) for child in value)
    return False


def _request_account(state: FakeUpstreamState, request: web.Request) -> str:
    """The GitHub token behind the request's (already checked) Copilot token: whose signatures it may use."""
    return state.github_token_of(_auth_credential(request, ("bearer",)) or "") or ""


def _model_entry(state: FakeUpstreamState, model: str) -> dict[str, Any] | None:
    return next((entry for entry in state.models if entry.get("id") == model), None)


def _endpoint_refusal(state: FakeUpstreamState, model: str, path: str) -> web.Response | None:
    """Copilot's 400 when `model` is unknown (see reject_unknown_models) or does not answer on `path`."""
    entry = _model_entry(state, model)
    if entry is None:
        if state.reject_unknown_models or path == MESSAGES:
            return _openai_error(400, "The requested model is not supported.", "model_not_supported", "model")
        return None
    endpoints = entry.get("supported_endpoints")
    if endpoints is None:  # a chat-completions model
        allowed = path == CHAT_COMPLETIONS or (path == RESPONSES and state.responses_accepts_chat_models)
    else:
        allowed = path in endpoints
    if allowed:
        return None
    message = f'model "{model}" is not accessible via the {path} endpoint'
    return _openai_error(400, message, "unsupported_api_for_model")


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


async def _chat_completions(request: web.Request, state: FakeUpstreamState) -> web.StreamResponse:
    payload = request[_PARSED_BODY]
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
        return _openai_error(400, "invalid request body: messages is required", "invalid_request_body")
    model = str(payload.get("model") or "gpt-4o")
    if (refused := _endpoint_refusal(state, model, CHAT_COMPLETIONS)) is not None:
        return refused
    if payload.get("stream"):
        events = _chat_stream_events(state, payload, model)
        return await _serve_stream(request, state, ((None, data) for data in events))
    return _json(_chat_completion(state, model, payload))


async def _models(request: web.Request, state: FakeUpstreamState) -> web.Response:
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


async def _embeddings(request: web.Request, state: FakeUpstreamState) -> web.Response:
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


# --------------------------------------------------------------------------- Responses API


def _item_id(prefix: str) -> str:
    return prefix + secrets.token_hex(24)


@dataclass(slots=True)
class _ResponsePlan:
    """One Responses answer, decided up front so the JSON and the stream tell the same story."""

    response_id: str
    created: int
    model: str
    payload: dict[str, Any]
    output: list[dict[str, Any]]
    status: Literal["completed", "incomplete"]
    reasoned: bool


def _plan_response(state: FakeUpstreamState, payload: dict[str, Any], model: str, account: str) -> _ResponsePlan:
    output: list[dict[str, Any]] = []
    reasoning = payload.get("reasoning")
    if isinstance(reasoning, dict):
        summary = [{"type": "summary_text", "text": state.thinking_text}] if reasoning.get("summary") else []
        item: dict[str, Any] = {"type": "reasoning", "id": _item_id("rs_"), "summary": summary}
        include = payload.get("include")
        if isinstance(include, list) and "reasoning.encrypted_content" in include:
            item["encrypted_content"] = state.encrypted_reasoning_for(account, state.thinking_text)
        output.append(item)
    incomplete = not state.tool_calls and state.finish_reason == "length"
    if state.completion_text or not state.tool_calls:
        status = "incomplete" if incomplete else "completed"
        output.append(_response_message(_item_id("msg_"), state.completion_text, status))
    for call_id, name, arguments in _tool_calls(state):
        output.append(
            {
                "type": "function_call",
                "id": _item_id("fc_"),
                "call_id": call_id,
                "name": name,
                "arguments": arguments,
                "status": "completed",
            }
        )
    return _ResponsePlan(
        response_id=_item_id("resp_"),
        created=int(state.clock()),
        model=model,
        payload=payload,
        output=output,
        status="incomplete" if incomplete else "completed",
        reasoned=isinstance(reasoning, dict),
    )


def _response_object(state: FakeUpstreamState, plan: _ResponsePlan, *, done: bool) -> dict[str, Any]:
    """A Responses-API `response`; not done means still in progress (no output, no usage yet)."""
    payload = plan.payload
    usage: dict[str, Any] | None = None
    if done:
        usage = {
            "input_tokens": state.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": state.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": state.reasoning_tokens if plan.reasoned else 0},
            "total_tokens": state.prompt_tokens + state.completion_tokens,
        }
    reasoning = payload.get("reasoning")
    reasoning = reasoning if isinstance(reasoning, dict) else {}
    return {
        "id": plan.response_id,
        "object": "response",
        "created_at": plan.created,
        "status": plan.status if done else "in_progress",
        "model": plan.model,
        "output": plan.output if done else [],
        "usage": usage,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if done and plan.status == "incomplete" else None,
        "instructions": payload.get("instructions"),
        "max_output_tokens": payload.get("max_output_tokens"),
        "metadata": payload.get("metadata") or {},
        "parallel_tool_calls": payload.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": payload.get("store", False),
        "temperature": payload.get("temperature", 1.0),
        "top_p": payload.get("top_p", 1.0),
        "tool_choice": payload.get("tool_choice", "auto"),
        "tools": payload.get("tools") or [],
        "text": {"format": {"type": "text"}},
        "truncation": "disabled",
    }


def _response_message(message_id: str, text: str, status: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": message_id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def _response_item_events(
    state: FakeUpstreamState, index: int, item: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """The events that build one output item: added, its deltas, done with the full item."""
    ref = {"item_id": item["id"], "output_index": index}
    bodies: list[tuple[str, dict[str, Any]]] = []
    if item["type"] == "reasoning":
        added = {"type": "reasoning", "id": item["id"], "summary": []}
        bodies.append(("response.output_item.added", {"output_index": index, "item": added}))
        for summary_index, part in enumerate(item["summary"]):
            part_ref = {**ref, "summary_index": summary_index}
            empty = {"type": "summary_text", "text": ""}
            bodies.append(("response.reasoning_summary_part.added", {**part_ref, "part": empty}))
            for piece in _split(part["text"], state.stream_chunks):
                bodies.append(("response.reasoning_summary_text.delta", {**part_ref, "delta": piece}))
            bodies.append(("response.reasoning_summary_text.done", {**part_ref, "text": part["text"]}))
            bodies.append(("response.reasoning_summary_part.done", {**part_ref, "part": part}))
    elif item["type"] == "message":
        text = item["content"][0]["text"]
        part = {"type": "output_text", "text": "", "annotations": []}
        content_ref = {**ref, "content_index": 0}
        added = _response_message(item["id"], "", "in_progress")
        bodies.append(("response.output_item.added", {"output_index": index, "item": added}))
        bodies.append(("response.content_part.added", {**content_ref, "part": part}))
        for piece in _split(text, state.stream_chunks):
            bodies.append(("response.output_text.delta", {**content_ref, "delta": piece, "logprobs": []}))
        bodies.append(("response.output_text.done", {**content_ref, "text": text, "logprobs": []}))
        bodies.append(("response.content_part.done", {**content_ref, "part": {**part, "text": text}}))
    else:  # function_call
        added = {**item, "arguments": "", "status": "in_progress"}
        bodies.append(("response.output_item.added", {"output_index": index, "item": added}))
        for piece in _split(item["arguments"], state.stream_chunks):
            bodies.append(("response.function_call_arguments.delta", {**ref, "delta": piece}))
        bodies.append(("response.function_call_arguments.done", {**ref, "arguments": item["arguments"]}))
    bodies.append(("response.output_item.done", {"output_index": index, "item": item}))
    return bodies


def _responses_events(state: FakeUpstreamState, plan: _ResponsePlan) -> list[tuple[str, bytes]]:
    bodies: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": _response_object(state, plan, done=False)}),
        ("response.in_progress", {"response": _response_object(state, plan, done=False)}),
    ]
    for index, item in enumerate(plan.output):
        bodies += _response_item_events(state, index, item)
    final = "response.completed" if plan.status == "completed" else "response.incomplete"
    bodies.append((final, {"response": _response_object(state, plan, done=True)}))
    return [
        (name, orjson.dumps({"type": name, "sequence_number": seq, **body})) for seq, (name, body) in enumerate(bodies)
    ]


def _responses_refusal(state: FakeUpstreamState, payload: dict[str, Any], account: str) -> web.Response | None:
    """What Copilot refuses in a Responses body: stored state, non-function tools, another account's reasoning."""
    previous = payload.get("previous_response_id")
    if previous:
        # Copilot keeps no responses (store is false): a previous response is never found.
        message = f"Previous response with id '{previous}' not found."
        return _openai_error(400, message, "previous_response_not_found", "previous_response_id")
    tools = payload.get("tools")
    for index, tool in enumerate(tools if isinstance(tools, list) else ()):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            message = f"Tool type '{kind}' is not supported; only function tools are."
            return _openai_error(400, message, "unsupported_value", f"tools[{index}].type")
    items = payload.get("input")
    for index, item in enumerate(items if isinstance(items, list) else ()):
        if not isinstance(item, dict) or item.get("type") != "reasoning":
            continue
        if state.decrypt_reasoning(account, item.get("encrypted_content")) is None:
            message = f"The encrypted content for item {item.get('id')} could not be verified."
            return _openai_error(400, message, "invalid_encrypted_content", f"input[{index}].encrypted_content")
    return None


async def _responses(request: web.Request, state: FakeUpstreamState) -> web.StreamResponse:
    payload = request[_PARSED_BODY]
    if not isinstance(payload, dict) or "input" not in payload:
        return _openai_error(400, "invalid request body: input is required", "invalid_request_body")
    model = str(payload.get("model") or "gpt-4o")
    if (refused := _endpoint_refusal(state, model, RESPONSES)) is not None:
        return refused
    account = _request_account(state, request)
    if (refused := _responses_refusal(state, payload, account)) is not None:
        return refused
    plan = _plan_response(state, payload, model, account)
    if payload.get("stream"):
        events: list[tuple[str | None, bytes]] = list(_responses_events(state, plan))
        return await _serve_stream(request, state, events)
    return _json(_response_object(state, plan, done=True))


# --------------------------------------------------------------------------- Messages API (Anthropic)

_BASE62 = string.ascii_letters + string.digits
_TEMPERATURE_WITH_THINKING = (
    "`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility"
)


def _anthropic_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_BASE62) for _ in range(24))


def _cache_control_marks(value: Any, path: str = "") -> Iterable[tuple[str, Any]]:
    """(where, value) of every `cache_control` key in a Messages body, `where` in Anthropic's dotted form."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "cache_control":
                yield path, child
            else:
                yield from _cache_control_marks(child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _cache_control_marks(child, f"{path}.{index}")


def _messages_refusal(
    state: FakeUpstreamState, request: web.Request, payload: dict[str, Any], model: str, account: str
) -> web.Response | None:
    """What Copilot (or Anthropic behind it) refuses in a Messages body, in the order it checks."""
    rejected = [flag for flag in _beta_flags(request.headers) if flag in state.rejected_betas]
    if rejected:
        return _anthropic_error(
            400,
            f"Unexpected value(s) `{','.join(rejected)}` for the `anthropic-beta` header. Please consult our "
            "documentation at docs.claude.com or try again without the header.",
        )
    if (refused := _endpoint_refusal(state, model, MESSAGES)) is not None:
        return refused
    marks = [(where, mark) for where, mark in _cache_control_marks(payload) if mark is not None]
    for where, mark in marks:
        if isinstance(mark, dict) and "scope" in mark:
            prefix = f"{where}." if where else ""
            return _anthropic_error(400, f"{prefix}cache_control.ephemeral.scope: Extra inputs are not permitted")
    if payload.get("cache_control") is not None and model in state.top_level_cache_control_refused:
        return _anthropic_error(400, "cache_control: Extra inputs are not permitted")
    if len(marks) > 4:
        return _anthropic_error(400, f"A maximum of 4 blocks with cache_control may be provided. Found {len(marks)}.")
    if (refused := _thinking_refusal(payload)) is not None:
        return refused
    for i, message in enumerate(payload["messages"]):
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for j, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") != "thinking":
                continue
            if not state.verify_signature(account, str(block.get("thinking", "")), block.get("signature")):
                return _anthropic_error(400, f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")
    return None


def _thinking_on(payload: dict[str, Any]) -> bool:
    thinking = payload.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _thinking_refusal(payload: dict[str, Any]) -> web.Response | None:
    """Anthropic's rules for a request with thinking on."""
    if not _thinking_on(payload):
        return None
    thinking = payload["thinking"]
    if thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            return _anthropic_error(
                400, "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            )
    temperature = payload.get("temperature")
    if temperature is not None and temperature != 1:
        return _anthropic_error(400, _TEMPERATURE_WITH_THINKING)
    tool_choice = payload.get("tool_choice")
    if isinstance(tool_choice, dict) and tool_choice.get("type") in ("any", "tool"):
        return _anthropic_error(400, "Thinking may not be enabled when tool_choice forces tool use.")
    return None


def _messages_stop(state: FakeUpstreamState, payload: dict[str, Any]) -> tuple[str, str, str | None]:
    """The answer's text, stop_reason and stop_sequence; a stop sequence cuts the text and is not sent."""
    text = state.completion_text
    if state.tool_calls:
        return text, "tool_use", None
    stops = payload.get("stop_sequences")
    for stop in stops if isinstance(stops, list) else ():
        if isinstance(stop, str) and stop and stop in text:
            return text[: text.index(stop)], "stop_sequence", stop
    return text, "max_tokens" if state.finish_reason == "length" else "end_turn", None


@dataclass(slots=True)
class _MessagePlan:
    message_id: str
    model: str
    blocks: list[dict[str, Any]]
    stop_reason: str
    stop_sequence: str | None
    usage: dict[str, Any]


def _plan_message(state: FakeUpstreamState, payload: dict[str, Any], model: str, account: str) -> _MessagePlan:
    blocks: list[dict[str, Any]] = []
    if _thinking_on(payload):
        signature = state.signature_for(account, state.thinking_text)
        blocks.append({"type": "thinking", "thinking": state.thinking_text, "signature": signature})
    text, stop_reason, stop_sequence = _messages_stop(state, payload)
    if text or not state.tool_calls:
        blocks.append({"type": "text", "text": text})
    for name, arguments in state.tool_calls:
        blocks.append({"type": "tool_use", "id": _anthropic_id("toolu_"), "name": name, "input": arguments})
    cached = any(mark is not None for _, mark in _cache_control_marks(payload))
    usage = {
        "input_tokens": state.prompt_tokens,
        "cache_creation_input_tokens": state.cache_creation_tokens if cached else 0,
        "cache_read_input_tokens": state.cache_read_tokens if cached else 0,
        "output_tokens": state.completion_tokens,
    }
    return _MessagePlan(_anthropic_id("msg_"), model, blocks, stop_reason, stop_sequence, usage)


def _message_object(plan: _MessagePlan, *, done: bool) -> dict[str, Any]:
    return {
        "id": plan.message_id,
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": plan.blocks if done else [],
        "stop_reason": plan.stop_reason if done else None,
        "stop_sequence": plan.stop_sequence if done else None,
        "usage": plan.usage if done else {**plan.usage, "output_tokens": 1},
    }


def _pieces(text: str, state: FakeUpstreamState) -> list[str]:
    """The stream_chunks pieces of `text`, without the empty ones (Anthropic sends no empty deltas)."""
    return [piece for piece in _split(text, state.stream_chunks) if piece]


def _message_block_events(state: FakeUpstreamState, index: int, block: dict[str, Any]) -> list[tuple[str, Any]]:
    """content_block_start, its deltas (no empty ones, like Anthropic), content_block_stop."""
    if block["type"] == "thinking":
        start: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        pieces = [{"type": "thinking_delta", "thinking": p} for p in _pieces(block["thinking"], state)]
        pieces.append({"type": "signature_delta", "signature": block["signature"]})
    elif block["type"] == "text":
        start = {"type": "text", "text": ""}
        pieces = [{"type": "text_delta", "text": p} for p in _pieces(block["text"], state)]
    else:  # tool_use: the input streamed as JSON fragments
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        arguments = orjson.dumps(block["input"]).decode()
        pieces = [{"type": "input_json_delta", "partial_json": p} for p in _pieces(arguments, state)]
    events: list[tuple[str, Any]] = [("content_block_start", {"index": index, "content_block": start})]
    events += [("content_block_delta", {"index": index, "delta": delta}) for delta in pieces]
    events.append(("content_block_stop", {"index": index}))
    return events


def _messages_events(state: FakeUpstreamState, plan: _MessagePlan) -> list[tuple[str, bytes]]:
    bodies: list[tuple[str, Any]] = [
        ("message_start", {"message": _message_object(plan, done=False)}),
        ("ping", {}),
    ]
    for index, block in enumerate(plan.blocks):
        bodies += _message_block_events(state, index, block)
    delta = {"stop_reason": plan.stop_reason, "stop_sequence": plan.stop_sequence}
    bodies.append(("message_delta", {"delta": delta, "usage": {"output_tokens": plan.usage["output_tokens"]}}))
    bodies.append(("message_stop", {}))
    return [(name, orjson.dumps({"type": name, **body})) for name, body in bodies]


async def _messages(request: web.Request, state: FakeUpstreamState) -> web.StreamResponse:
    """POST /v1/messages: Anthropic's Messages API as Copilot serves it for Claude models."""
    payload = request[_PARSED_BODY]
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
        return _anthropic_error(400, "messages: Field required")
    model = str(payload.get("model") or "")
    account = _request_account(state, request)
    if (refused := _messages_refusal(state, request, payload, model, account)) is not None:
        return refused
    plan = _plan_message(state, payload, model, account)
    if payload.get("stream"):
        events: list[tuple[str | None, bytes]] = list(_messages_events(state, plan))
        return await _serve_stream(request, state, events)
    return _json(_message_object(plan, done=True))


# --------------------------------------------------------------------------- app and runner


def create_fake_upstream(state: FakeUpstreamState | None = None) -> web.Application:
    """The fake GitHub + Copilot API; its state is at ``app[FAKE_STATE]``."""
    # Copilot takes bodies as large as proxyd forwards (PROXYD_MAX_BODY_BYTES, images and all), not aiohttp's 1 MiB.
    app = web.Application(middlewares=[_upstream_middleware], client_max_size=FAKE_MAX_BODY_BYTES)
    app[FAKE_STATE] = state if state is not None else FakeUpstreamState()
    app.router.add_get("/copilot_internal/v2/token", _copilot_token)
    app.router.add_get("/user", _github_user)
    app.router.add_get("/copilot_internal/user", _copilot_user)
    app.router.add_post("/login/device/code", _device_code)
    app.router.add_post("/login/oauth/access_token", _access_token)
    app.router.add_post("/chat/completions", _copilot_route(_chat_completions))
    app.router.add_get("/models", _copilot_route(_models))
    app.router.add_post("/embeddings", _copilot_route(_embeddings))
    app.router.add_post("/responses", _copilot_route(_responses))
    app.router.add_post("/v1/messages", _copilot_route(_messages))
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
