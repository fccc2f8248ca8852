"""The OpenAI-compatible routes: who asks, the Copilot call, the answer relayed back, accounting.

Each step is a part of ``proxyd/gateway``; ``exchange`` strings them together,
with the route's own ``Prepare`` (the Copilot call and the relay it makes of the
body). ``forward`` is the one for routes whose body goes to Copilot unchanged;
a translating route (``messages.py``) brings its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..appkeys import ACCESS, ACCOUNTING, CLIENT_AUTH, COPILOT, RELAY
from ..errors import BadRequest, ProxydError
from ..gateway.accounting import Exchange
from ..gateway.relay import ModelLookupRelay, Relay, client_left
from ..lifecycle import AccessInfo
from ..upstream.client import UpstreamCall
from .responses import read_json

ROUTES = (
    ("POST", "/chat/completions"),
    ("GET", "/models"),
    ("POST", "/embeddings"),
    ("POST", "/responses"),
)
# Model names longer than this are cut in the logs: the client chooses them.
_MODEL_LOGGED_MAX = 200


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a route makes of a client's request: the Copilot call, who answers, the model for the log."""

    call: UpstreamCall
    relay: Relay
    model: str | None


# The route's part: the raw body and its parsed JSON (both None for a GET) become the Copilot call.
Prepare = Callable[[bytes | None, Any], Prepared]


async def forward(
    request: web.Request, path: str, *, relay: Relay | None = None, model: str | None = None
) -> web.StreamResponse:
    """Proxy ``request`` to Copilot's ``path``; ``relay`` answers (default: Copilot's answer unchanged)."""

    def unchanged(raw: bytes | None, payload: Any) -> Prepared:
        chosen = payload.get("model") if model is None and isinstance(payload, dict) else model
        call = UpstreamCall(request.method, path, raw, payload, request.headers.get("Accept"))
        return Prepared(call, relay or request.app[RELAY], chosen if isinstance(chosen, str) else None)

    return await exchange(request, path, unchanged)


async def exchange(request: web.Request, endpoint: str, prepare: Prepare) -> web.StreamResponse:
    """Who asks, the Copilot call ``prepare`` makes of the body, its answer relayed, the accounting.

    ``endpoint`` names the request in the request log and the metrics.
    """
    app = request.app
    # Authenticate before reading the body: an unknown client gets its 401
    # without proxyd reading (up to PROXYD_MAX_BODY_BYTES of) what it sends.
    principal = await app[CLIENT_AUTH].authenticate(request)
    access = request[ACCESS] = AccessInfo(masked_key=principal.masked_key)
    record = Exchange(endpoint=endpoint, principal=principal)
    prepared = prepare(*await _read_payload(request))
    model = prepared.model
    record.model = access.model = model[:_MODEL_LOGGED_MAX] if isinstance(model, str) else None
    # A client key's limits (403, 429): a refused request is not logged and does not count.
    app[CLIENT_AUTH].admit(principal, model if isinstance(model, str) else None)
    try:
        upstream = await app[COPILOT].send(principal, prepared.call, record)
        try:
            return await prepared.relay(request, upstream, record)
        finally:
            # close(), not release(): if the client left mid-stream the upstream
            # connection must be dropped so Copilot stops generating.
            upstream.close()
    except ProxydError as exc:
        record.status = exc.status
        raise
    except asyncio.CancelledError:
        client_left(record)  # aiohttp cancels the handler when the client disconnects
        raise
    finally:
        if record.upstream_status is not None and record.status != record.upstream_status:
            access.status = record.status  # the answer broke after its status line
        app[ACCOUNTING].record(record)


async def _read_payload(request: web.Request) -> tuple[bytes | None, Any]:
    if request.method != "POST":
        return None, None
    raw, payload = await read_json(request)
    if not isinstance(payload, dict):
        raise BadRequest("Request body must be a JSON object")
    return raw, payload


async def retrieve_model(request: web.Request) -> web.StreamResponse:
    model_id = request.match_info["model_id"]
    relay = ModelLookupRelay(request.app[RELAY], model_id)
    # The request log shows which model was asked for.
    return await forward(request, "/models", relay=relay, model=model_id)


def _handler(path: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await forward(request, path)

    return handle


def setup(app: web.Application, prefix: str) -> None:
    for base in dict.fromkeys((prefix, "/v1")):
        for method, path in ROUTES:
            app.router.add_route(method, base + path, _handler(path))
        # Any characters: no other route lives below /models/, and some gateways' model ids hold a "/".
        app.router.add_route("GET", base + "/models/{model_id:.+}", retrieve_model)
