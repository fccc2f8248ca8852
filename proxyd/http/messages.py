"""Anthropic's Messages API (Claude Code, Anthropic SDKs): ``POST /v1/messages`` and its ``count_tokens``.

A Messages request goes the way of every model request (``proxy.model_route``):
natively to Copilot's ``/v1/messages`` when the model answers there (Claude
models), translated otherwise. ``count_tokens`` is answered here: Copilot has
no such route.
"""

from __future__ import annotations

from aiohttp import web

from proxyd.appkeys import CLIENT_AUTH, CONFIG
from proxyd.http.json_io import json_response, read_json_object_with_raw
from proxyd.http.proxy import authenticate, model_route, note_model, required_model
from proxyd.limits import OFF_LOOP_BODY_BYTES
from proxyd.runtime.offloop import off_loop
from proxyd.translate.messages_to_chat.estimate import estimate_input_tokens
from proxyd.translate.messages_to_chat.request import chat_request
from proxyd.upstream.model_names import copilot_model, overrides

ENDPOINT = "/v1/messages"


async def create_message(request: web.Request) -> web.StreamResponse:
    return await model_route(request, "messages", ENDPOINT)


async def count_tokens(request: web.Request) -> web.Response:
    """An estimate (translate/messages_to_chat/estimate.py): nothing goes upstream, but it counts as a request."""
    app = request.app
    record = await authenticate(request, ENDPOINT + "/count_tokens")
    raw, body = await read_json_object_with_raw(request)
    requested = required_model(body)
    note_model(record, requested)
    # Counted against a client key's limits like any request: it costs proxyd the same work.
    await app[CLIENT_AUTH].admit(record.principal, requested)
    model = copilot_model(requested, overrides(app[CONFIG].model_map))

    def estimate() -> int:
        return estimate_input_tokens(chat_request(body, model, counting=True))

    # A large body's estimate walks every block in Python: in the worker thread (proxyd/runtime/offloop.py), the loop
    # serves others meanwhile.
    tokens = await off_loop(estimate) if len(raw) > OFF_LOOP_BODY_BYTES else estimate()
    return json_response({"input_tokens": tokens})


def setup(app: web.Application) -> None:
    app.router.add_post(ENDPOINT, create_message)
    app.router.add_post(ENDPOINT + "/count_tokens", count_tokens)
