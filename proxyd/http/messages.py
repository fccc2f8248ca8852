"""Anthropic's Messages API (Claude Code, Anthropic SDKs): ``POST /v1/messages`` and its ``count_tokens``.

The request is translated (proxyd/anthropic) and then goes the way of every
proxied request (``proxy.exchange``): the same keys, the same Copilot client,
the same accounting; only the relay is Anthropic's.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ..anthropic.estimate import estimate_input_tokens
from ..anthropic.models import copilot_model
from ..anthropic.relay import MessagesRelay
from ..anthropic.translate import to_chat_request
from ..appkeys import ACCESS, CLIENT_AUTH, CONFIG, METRICS
from ..errors import BadRequest
from ..lifecycle import AccessInfo
from ..upstream.client import UpstreamCall
from .proxy import Prepared, exchange
from .responses import json_response, read_json_object

ENDPOINT = "/v1/messages"


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: field required")
    return model


async def create_message(request: web.Request) -> web.StreamResponse:
    app = request.app
    overrides = dict(app[CONFIG].model_map)

    def translate(raw: bytes | None, body: Any) -> Prepared:
        requested = _model(body)
        chat = to_chat_request(body, copilot_model(requested, overrides))
        stream = chat.get("stream") is True
        relay = MessagesRelay(app[METRICS], requested, stream=stream, stop_sequences=chat.get("stop") or ())
        accept = "text/event-stream" if stream else "application/json"
        return Prepared(UpstreamCall("POST", "/chat/completions", orjson.dumps(chat), chat, accept), relay, requested)

    return await exchange(request, ENDPOINT, translate)


async def count_tokens(request: web.Request) -> web.Response:
    """An estimate (see proxyd/anthropic/estimate.py): Copilot has no such route, so nothing is sent upstream."""
    principal = await request.app[CLIENT_AUTH].authenticate(request)
    access = request[ACCESS] = AccessInfo(masked_key=principal.masked_key)
    body = await read_json_object(request)
    requested = _model(body)
    access.model = requested[:200]
    chat = to_chat_request(body, copilot_model(requested, dict(request.app[CONFIG].model_map)), counting=True)
    return json_response({"input_tokens": estimate_input_tokens(chat)})


def setup(app: web.Application) -> None:
    app.router.add_post(ENDPOINT, create_message)
    app.router.add_post(ENDPOINT + "/count_tokens", count_tokens)
