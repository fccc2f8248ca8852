"""How a request in a client's API shape becomes the call to the endpoint Copilot serves its model on.

The upstream client chooses the endpoint (per account, from ``/models``); this
prepares the call for it. On the client's own API the body goes as it came
(its bytes reused when nothing changes), apart from the model's Copilot name
and what Copilot refuses (``translate/messages_native``, ``translate/responses_tools``);
on another API it is translated (``translate.TRANSLATIONS``) and so is the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from proxyd import sse
from proxyd.gateway.failed_response import FailedAsEvent
from proxyd.gateway.relay import PassThroughRelay, Relay
from proxyd.gateway.translating_relay import TranslatingRelay
from proxyd.metrics import Metrics
from proxyd.translate import messages_native
from proxyd.translate.base import ENDPOINT_PATHS, Api, JsonObject
from proxyd.translate.registry import TRANSLATIONS
from proxyd.translate.responses_tools import native_responses
from proxyd.upstream.client import UpstreamCall


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """A client's request for a model, read and checked."""

    api: Api  # the client's API shape
    raw: bytes
    body: JsonObject
    requested: str  # the model the client named: answers name it back
    model: str  # Copilot's name for it
    accept: str | None  # the client's Accept, passed on natively
    betas: str | None = None  # anthropic-beta, Messages only

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True


class CallPlanner:
    """The route's ``Prepare``: one request's call for whichever endpoint the upstream client chose."""

    def __init__(self, metrics: Metrics, request: ModelRequest) -> None:
        self._metrics = metrics
        self._request = request

    def __call__(self, endpoint: Api | None) -> tuple[UpstreamCall, Relay]:
        call, relay = self._call(endpoint or "chat")
        if self._request.api == "responses" and self._request.stream:
            relay = FailedAsEvent(relay, self._request.requested)  # Codex reads errors from the stream
        return call, relay

    def _call(self, target: Api) -> tuple[UpstreamCall, Relay]:
        request = self._request
        if target == request.api:
            return self._native()
        body = {**request.body, "model": request.model}
        translator = TRANSLATIONS[(request.api, target)](body, request.requested)
        payload = translator.request()
        accept = sse.CONTENT_TYPE if payload.get("stream") is True else "application/json"
        call = UpstreamCall("POST", ENDPOINT_PATHS[target], orjson.dumps(payload), payload, target, accept)
        relay = TranslatingRelay(self._metrics, translator, request.api, stream=request.stream, upstream_api=target)
        return call, relay

    def _native(self) -> tuple[UpstreamCall, Relay]:
        request = self._request
        api = request.api
        relay: Relay = PassThroughRelay(self._metrics)
        headers: dict[str, str] | None = None
        if api == "messages":
            payload: Any = messages_native.for_copilot(request.body, request.model)
            relay = PassThroughRelay(self._metrics, errors_in_client_shape=True)
            betas = messages_native.passed_betas(request.betas)
            headers = {"anthropic-beta": betas} if betas else None
        elif request.model != request.requested:
            payload = {**request.body, "model": request.model}
        else:
            payload = request.body
        if api == "responses":
            tools = native_responses(payload)
            if tools is not None:
                payload = tools.request()
                relay = TranslatingRelay(self._metrics, tools, api, stream=request.stream, upstream_api=api)
        raw = request.raw if payload is request.body else orjson.dumps(payload)
        path = ENDPOINT_PATHS[api]
        return UpstreamCall("POST", path, raw, payload, api, request.accept, headers), relay
