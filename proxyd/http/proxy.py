"""The proxied routes: who asks, the Copilot call, the answer relayed back, accounting.

Each step is a part of ``proxyd/gateway``; ``call_copilot`` strings them together
for one request. A model route (chat completions, Responses, Messages) reads
the body, names the model, and leaves the endpoint to the upstream client,
which asks the route's ``CallPlanner`` for the call on the endpoint it chose;
``forward`` is the one for calls whose body goes to Copilot unchanged
(embeddings, the model list).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from proxyd.appkeys import ACCOUNTING, CLIENT_AUTH, CONFIG, COPILOT, METRICS, RELAY, REQUEST_RECORD
from proxyd.errors import InvalidModel, ProxydError
from proxyd.gateway.record import RequestRecord
from proxyd.gateway.relay import ModelListRelay, ModelLookupRelay, Relay, client_left
from proxyd.gateway.shapes import CallPlanner, ModelRequest
from proxyd.http.json_io import read_json_object_with_raw
from proxyd.limits import OFF_LOOP_BODY_BYTES
from proxyd.translate.base import Api
from proxyd.upstream.affinity import conversation_id
from proxyd.upstream.client import Ask, UpstreamCall
from proxyd.upstream.model_names import copilot_model, overrides

# Model names longer than this are cut in the logs: the client chooses them.
_MODEL_LOGGED_MAX = 200


def required_model(body: dict[str, Any]) -> str:
    """The request's model: a non-empty string, or a 400 before anything is sent (a key's model list holds)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidModel("model: required, a non-empty string")
    return model


async def model_route(request: web.Request, client_api: Api, endpoint: str) -> web.StreamResponse:
    """A request for a model in ``client_api``'s shape, answered by whichever endpoint serves the model."""
    app = request.app
    record = await authenticate(request, endpoint)
    raw, body = await read_json_object_with_raw(request)
    requested = required_model(body)
    note_model(record, requested)
    # A client key's limits (403, 429): a refused request is not logged and does not count.
    await app[CLIENT_AUTH].admit(record.principal, requested)
    model_request = ModelRequest(
        api=client_api,
        raw=raw,
        body=body,
        requested=requested,
        model=copilot_model(requested, overrides(app[CONFIG].model_map)),
        accept=request.headers.get("Accept"),
        betas=request.headers.get("anthropic-beta"),
    )
    ask = Ask(
        CallPlanner(app[METRICS], model_request),
        api=client_api,
        model=model_request.model,
        # Only a pool of several accounts has a choice for a conversation to stay on.
        conversation=conversation_id(client_api, body, request.headers) if record.principal.chooses_account else None,
        heavy=len(raw) > OFF_LOOP_BODY_BYTES,
    )
    return await call_copilot(request, record, ask)


async def forward(
    request: web.Request, path: str, *, relay: Relay | None = None, model: str | None = None
) -> web.StreamResponse:
    """Proxy ``request`` to Copilot's ``path`` unchanged; ``relay`` answers (default: Copilot's answer unchanged)."""
    app = request.app
    record = await authenticate(request, path)
    raw: bytes | None = None
    payload: Any = None
    if request.method == "POST":
        raw, payload = await read_json_object_with_raw(request)
        model = required_model(payload)
    if model is not None:
        note_model(record, model)
    await app[CLIENT_AUTH].admit(record.principal, model)
    call = UpstreamCall(request.method, path, raw, payload, None, request.headers.get("Accept"))
    chosen = relay or app[RELAY]
    return await call_copilot(request, record, Ask(lambda _: (call, chosen)))


async def call_copilot(request: web.Request, record: RequestRecord, ask: Ask[Relay]) -> web.StreamResponse:
    """The Copilot call, its answer relayed, the accounting."""
    app = request.app
    try:
        upstream, relay = await app[COPILOT].send(record.principal, ask, record)
        try:
            return await relay(request, upstream, record)
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
        app[ACCOUNTING].record(record)


async def authenticate(request: web.Request, endpoint: str) -> RequestRecord:
    """Who asks, as the request's record (kept under ``REQUEST_RECORD`` for the access log)."""
    # Before reading the body: an unknown client gets its 401 without proxyd reading
    # (up to PROXYD_MAX_BODY_BYTES of) what it sends.
    principal = await request.app[CLIENT_AUTH].authenticate(request)
    record = request[REQUEST_RECORD] = RequestRecord(endpoint=endpoint, principal=principal)
    return record


def note_model(record: RequestRecord, model: str) -> None:
    record.model = model[:_MODEL_LOGGED_MAX]


async def list_models(request: web.Request) -> web.StreamResponse:
    return await forward(request, "/models", relay=ModelListRelay(request.app[RELAY]))


async def retrieve_model(request: web.Request) -> web.StreamResponse:
    model_id = request.match_info["model_id"]
    relay = ModelLookupRelay(request.app[RELAY], model_id)
    # The request log shows which model was asked for.
    return await forward(request, "/models", relay=relay, model=model_id)


def _model_handler(client_api: Api, path: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await model_route(request, client_api, path)

    return handle


async def embeddings(request: web.Request) -> web.StreamResponse:
    return await forward(request, "/embeddings")


def setup(app: web.Application, prefix: str) -> None:
    for base in dict.fromkeys((prefix, "/v1")):
        app.router.add_post(base + "/chat/completions", _model_handler("chat", "/chat/completions"))
        app.router.add_post(base + "/responses", _model_handler("responses", "/responses"))
        app.router.add_post(base + "/embeddings", embeddings)
        app.router.add_get(base + "/models", list_models)
        # Any characters: no other route lives below /models/, and some gateways' model ids hold a "/".
        app.router.add_get(base + "/models/{model_id:.+}", retrieve_model)
