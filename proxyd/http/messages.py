"""Anthropic's Messages API (Claude Code, Anthropic SDKs): ``POST /v1/messages`` and its ``count_tokens``.

A Messages request goes the way of every model request (``proxy.model_route``):
natively to Copilot's ``/v1/messages`` when the model answers there (Claude
models), translated otherwise. ``count_tokens`` is answered here: Copilot has
no such route.
"""

from __future__ import annotations

from aiohttp import web

from proxyd.appkeys import ACCESS, CLIENT_AUTH, CONFIG
from proxyd.http.json_io import json_response, read_json_object
from proxyd.http.proxy import model_route, required_model
from proxyd.runtime.lifecycle import AccessInfo
from proxyd.translate.messages_to_chat.estimate import estimate_input_tokens
from proxyd.translate.messages_to_chat.request import chat_request
from proxyd.upstream.model_names import copilot_model

ENDPOINT = "/v1/messages"


async def create_message(request: web.Request) -> web.StreamResponse:
    return await model_route(request, "messages", ENDPOINT)


async def count_tokens(request: web.Request) -> web.Response:
    """An estimate (translate/messages_to_chat/estimate.py): nothing goes upstream, but it counts as a request."""
    app = request.app
    principal = await app[CLIENT_AUTH].authenticate(request)
    access = request[ACCESS] = AccessInfo(masked_key=principal.masked_key)
    body = await read_json_object(request)
    requested = required_model(body)
    access.model = requested[:200]
    # Counted against a client key's limits like any request: it costs proxyd the same work.
    await app[CLIENT_AUTH].admit(principal, requested)
    chat = chat_request(body, copilot_model(requested, dict(app[CONFIG].model_map)), counting=True)
    return json_response({"input_tokens": estimate_input_tokens(chat)})


def setup(app: web.Application) -> None:
    app.router.add_post(ENDPOINT, create_message)
    app.router.add_post(ENDPOINT + "/count_tokens", count_tokens)
