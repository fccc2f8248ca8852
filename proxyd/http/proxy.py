"""The OpenAI-compatible routes: authenticate the client's key, then stream the Copilot API's answer back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from ..appkeys import ACCESS, CONFIG, HTTP, METRICS, OUTBOUND_PROXY, RESOLVER, TOKENS, USAGE
from ..clock import now_ms
from ..config import host_name
from ..errors import (
    BadRequest,
    Forbidden,
    ModelNotFound,
    ProxydError,
    Unauthorized,
    UnsupportedMediaType,
    UpstreamError,
    UpstreamTimeout,
)
from ..github import CopilotToken, GitHubRefused
from ..keycache import DEFAULT_KEY_ALIASES
from ..lifecycle import AccessInfo
from ..masking import mask_secret
from ..models import ApiKey
from ..upstream import JsonUsageSniffer, SseUsageSniffer, request_headers, response_headers
from ..usage import RequestLogEntry
from .admin_auth import is_loopback_host
from .responses import json_response, read_json

log = logging.getLogger("proxyd.proxy")

ROUTES = (
    ("POST", "/chat/completions"),
    ("GET", "/models"),
    ("POST", "/embeddings"),
    ("POST", "/responses"),
)
_KEY_SCHEMES = ("bearer", "token")
_LOST_EVENT = b'data: {"error":{"message":"upstream connection lost","type":"upstream_error"}}\n\n'


def presented_key(request: web.Request) -> str | None:
    """The key from ``Authorization: Bearer <key>`` or ``token <key>``; None when there is none."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() in _KEY_SCHEMES else header


async def authenticate(request: web.Request) -> ApiKey:
    presented = presented_key(request)
    if presented is None or presented in DEFAULT_KEY_ALIASES:
        require_keyless_host(request)
    return await request.app[RESOLVER].resolve(presented)


def require_keyless_host(request: web.Request) -> None:
    """A request that spends the default key must name this machine (or an allowed host) in its ``Host``.

    A web page can point its own domain at 127.0.0.1 (DNS rebinding) and then
    send same-origin requests to proxyd through the visitor's browser, JSON
    bodies included, and read the answers; the browser still names that domain
    in ``Host``.
    """
    host = request.headers.get("Host")
    if is_loopback_host(host) or host_name(host) in request.app[CONFIG].allowed_hosts:
        return
    raise Forbidden(
        "Requests without an API key must be sent to localhost, a loopback address or a host in PROXYD_ALLOWED_HOSTS"
    )


async def copilot_token(request: web.Request, api_key: ApiKey, stale: str | None = None) -> CopilotToken:
    try:
        return await request.app[TOKENS].get(api_key, stale=stale)
    except GitHubRefused as exc:
        if exc.upstream_status in (401, 403, 404):
            raise Unauthorized(f"GitHub refused this API key for Copilot ({exc.upstream_status})") from None
        raise


class _Forward:
    """One proxied request: its upstream call, the streamed answer, and what gets logged."""

    def __init__(self, request: web.Request, path: str) -> None:
        self.request = request
        self.path = path
        self.started = time.monotonic()
        self.api_key: ApiKey | None = None
        self.model: str | None = None
        self.upstream_status: int | None = None  # what Copilot answered: decides whether usage counts
        self.status = 0  # what the client got, for the request log
        self.usage: tuple[int | None, int | None, int | None] | None = None

    async def run(self) -> web.StreamResponse:
        request = self.request
        # Authenticate before reading the body: an unknown client gets its 401
        # without proxyd reading (up to PROXYD_MAX_BODY_BYTES of) what it sends.
        api_key = await authenticate(request)
        access = request[ACCESS] = AccessInfo(masked_key=mask_secret(api_key.key))
        raw: bytes | None = None
        payload: Any = None
        if request.method == "POST":
            if "Authorization" not in request.headers and request.content_type != "application/json":
                # A browser can POST text/plain cross-site without a preflight: without this,
                # any web page could spend the default key. OpenAI clients always send JSON.
                raise UnsupportedMediaType("Requests without an API key must be sent as application/json")
            raw, payload = await read_json(request)
            if not isinstance(payload, dict):
                raise BadRequest("Request body must be a JSON object")
            model = payload.get("model")
            self.model = access.model = model[:200] if isinstance(model, str) else None
        self.api_key = api_key
        try:
            return await self._forward(raw, payload)
        except ProxydError as exc:
            self.status = exc.status
            raise
        except asyncio.CancelledError:
            self._client_left()  # aiohttp cancels the handler when the client disconnects
            raise
        finally:
            self._log()

    async def _forward(self, raw: bytes | None, payload: Any) -> web.StreamResponse:
        assert self.api_key is not None
        token = await copilot_token(self.request, self.api_key)
        upstream = await self._send(token, raw, payload)
        if upstream.status == 401:
            # The token expired or was revoked early: exchange once more and replay once.
            upstream.release()
            token = await copilot_token(self.request, self.api_key, stale=token.token)
            upstream = await self._send(token, raw, payload)
        try:
            return await self._stream_back(upstream)
        finally:
            # close(), not release(): if the client left mid-stream the upstream
            # connection must be dropped so Copilot stops generating.
            upstream.close()

    async def _send(self, token: CopilotToken, raw: bytes | None, payload: Any) -> aiohttp.ClientResponse:
        config = self.request.app[CONFIG]
        url = token.api_base + self.path
        headers = request_headers(token.token, payload, self.request.headers.get("Accept"))
        timeout = aiohttp.ClientTimeout(
            total=None, connect=config.upstream_connect_timeout, sock_read=config.upstream_timeout
        )
        metrics = self.request.app[METRICS]
        started = time.monotonic()
        try:
            response = await self.request.app[HTTP].request(
                self.request.method,
                url,
                data=raw,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                proxy=self.request.app[OUTBOUND_PROXY](url),
            )
        except TimeoutError:
            metrics.upstream_errors.inc((("kind", "timeout"),))
            raise UpstreamTimeout("Copilot API did not answer in time") from None
        except aiohttp.ClientError as exc:
            metrics.upstream_errors.inc((("kind", "unreachable"),))
            raise UpstreamError(f"Copilot API unreachable ({type(exc).__name__})") from None
        metrics.upstream_latency.observe(time.monotonic() - started, (("endpoint", self.path),))
        return response

    async def _stream_back(self, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        self.upstream_status = self.status = upstream.status
        is_sse = upstream.content_type == "text/event-stream"
        sniffer: SseUsageSniffer | JsonUsageSniffer = SseUsageSniffer() if is_sse else JsonUsageSniffer()
        response = web.StreamResponse(status=upstream.status, headers=response_headers(upstream.headers))
        if is_sse:
            response.headers["Cache-Control"] = "no-cache"
            response.headers["X-Accel-Buffering"] = "no"
        # A client that went away is no failure: closing upstream (in _forward) stops Copilot.
        try:
            await _to_client(response.prepare(self.request))
        except _ClientGone:
            self._client_left()
            return response
        # From here on the status line is sent: every failure must end this
        # response, never let the error middleware start a second one.
        # SSE is forwarded event by event: bytes after the last blank line wait for
        # the rest of their event, so a stream that breaks never leaves half an
        # event in front of the error event.
        pending = b""
        try:
            async for chunk in upstream.content.iter_any():
                sniffer.feed(chunk)
                if is_sse:
                    chunk, pending = _complete_events(pending + chunk)
                if chunk:
                    await _to_client(response.write(chunk))
            if pending:
                await _to_client(response.write(pending))
            await _to_client(response.write_eof())
        except _ClientGone:
            self._client_left()
        except Exception as exc:
            log.warning("upstream failed mid-response on %s: %s", self.path, type(exc).__name__)
            self.request.app[METRICS].upstream_errors.inc((("kind", "mid_stream"),))
            self.status = 502
            await self._end_broken(response, is_sse)
        finally:
            self.usage = sniffer.usage
        return response

    def _client_left(self) -> None:
        # Routine for streams (a user stops a generation): one short line, no traceback.
        log.debug("client went away mid-answer on %s", self.path)
        self.status = 499

    async def _end_broken(self, response: web.StreamResponse, is_sse: bool) -> None:
        if is_sse:
            # An event SSE clients understand (OpenAI SDKs raise it as APIError), then a clean end.
            with contextlib.suppress(ConnectionResetError):
                await response.write(_LOST_EVENT)
                await response.write_eof()
        elif self.request.transport is not None:
            # Without the final chunk the client sees a truncated body, not a complete-looking one.
            self.request.transport.abort()

    def _log(self) -> None:
        if self.api_key is None:
            return
        if self.upstream_status is not None and self.status != self.upstream_status:
            self.request[ACCESS].status = self.status  # the answer broke after its status line
        prompt, completion, total = self.usage or (None, None, None)
        self.request.app[USAGE].record(
            RequestLogEntry(
                time=now_ms(),
                api_key_id=self.api_key.id,
                endpoint=self.path,
                model=self.model,
                status=self.status or 499,
                duration_ms=int((time.monotonic() - self.started) * 1000),
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=total,
            ),
            # Copilot did the work (even if the client left before the end): it counts.
            count_usage=self.upstream_status is not None and 200 <= self.upstream_status < 300,
        )


class _RetrieveModel(_Forward):
    """``GET /models/{id}``, the SDKs' ``models.retrieve``: Copilot has no such route, so the list is fetched."""

    def __init__(self, request: web.Request, model_id: str) -> None:
        super().__init__(request, "/models")
        self.model_id = model_id
        self.model = model_id[:200]  # the request log shows which model was asked for

    async def _stream_back(self, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        if upstream.status != 200:
            return await super()._stream_back(upstream)  # Copilot's own error passes through unchanged
        self.upstream_status = self.status = upstream.status
        try:
            listing = orjson.loads(await upstream.read())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise UpstreamError(f"Copilot API sent no readable model list ({type(exc).__name__})") from None
        models = listing.get("data") if isinstance(listing, dict) else None
        for model in models if isinstance(models, list) else ():
            if isinstance(model, dict) and model.get("id") == self.model_id:
                return json_response(model)
        raise ModelNotFound(f"The model '{self.model_id}' does not exist")


async def _retrieve_model(request: web.Request) -> web.StreamResponse:
    return await _RetrieveModel(request, request.match_info["model_id"]).run()


class _ClientGone(Exception):
    """Writing to the client failed: it closed the connection."""


async def _to_client(write: Awaitable[object]) -> None:
    # aiohttp raises ClientConnectionResetError ("Cannot write to closing transport"), a
    # ConnectionResetError, when the client is gone; only writes raise _ClientGone, so an
    # upstream read failing the same way still counts as an upstream failure.
    try:
        await write
    except ConnectionResetError:
        raise _ClientGone from None


def _complete_events(data: bytes) -> tuple[bytes, bytes]:
    """Split ``data`` into whole SSE events (up to the last blank line) and the unfinished rest."""
    lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n")
    end = max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
    return data[:end], data[end:]


def _handler(path: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await _Forward(request, path).run()

    return handle


def setup(app: web.Application, prefix: str) -> None:
    for base in dict.fromkeys((prefix, "/v1")):
        for method, path in ROUTES:
            app.router.add_route(method, base + path, _handler(path))
        # Any characters: no other route lives below /models/, and some gateways' model ids hold a "/".
        app.router.add_route("GET", base + "/models/{model_id:.+}", _retrieve_model)
