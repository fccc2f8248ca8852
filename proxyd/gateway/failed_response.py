"""A streamed Responses request that Copilot refused: a ``response.failed`` event, as OpenAI sends it.

Codex reads an error from a stream's ``response.failed`` and acts on three
codes (CDX ``codex-api/src/sse/responses.rs``): ``rate_limit_exceeded`` (it
waits the "try again in Ns" the message names), ``insufficient_quota`` and
``context_length_exceeded`` (it stops and says why). Copilot answers these as
HTTP errors before any event, with codes of its own; this relay puts them in
the stream with the codes Codex knows.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from aiohttp import web

from proxyd import sse
from proxyd.errors import UpstreamAnswered
from proxyd.gateway.record import RequestRecord
from proxyd.gateway.relay import Intercepting, refusal, to_client
from proxyd.translate.base import JsonObject
from proxyd.upstream.direct import UpstreamResponse

# Copilot's codes (and OpenAI's) for a prompt longer than the model takes.
_CONTEXT_CODES = frozenset({"context_length_exceeded", "model_max_prompt_tokens_exceeded", "tokens_limit_reached"})


def codex_code(error: UpstreamAnswered) -> str:
    """The ``response.failed`` code for Copilot's refusal."""
    message = error.message.lower()
    if error.status == 429:
        return "rate_limit_exceeded"
    if error.status == 402 or "quota" in message:
        return "insufficient_quota"
    if error.code in _CONTEXT_CODES or ("context" in message and ("length" in message or "window" in message)):
        return "context_length_exceeded"
    return error.code or ("server_error" if error.status >= 500 else "invalid_request_error")


@dataclass(frozen=True, slots=True)
class FailedAsEvent(Intercepting):
    """Copilot's answer through ``passthrough``, unless it is an error: then a stream ending in ``response.failed``."""

    model: str

    def takes(self, status: int, record: RequestRecord) -> bool:
        return not 200 <= status < 300

    async def answer(
        self, request: web.Request, upstream: UpstreamResponse, record: RequestRecord
    ) -> web.StreamResponse:
        error = await refusal(upstream)
        message = error.message
        wait = error.headers.get("Retry-After") if error.headers else None
        if error.status == 429 and wait and wait.isdigit():
            message = f"{message} Please try again in {wait}s."
        failed = _response(self.model, "failed")
        failed["error"] = {"code": codex_code(error), "message": message}
        events = [
            (
                "response.created",
                {"type": "response.created", "sequence_number": 0, "response": _response(self.model, "in_progress")},
            ),
            ("response.failed", {"type": "response.failed", "sequence_number": 1, "response": failed}),
        ]
        response = sse.stream_response()
        await to_client(response.prepare(request))
        await to_client(response.write(sse.frame("responses", events)))
        await to_client(response.write_eof())
        return response


def _response(model: str, status: str) -> JsonObject:
    return {
        "id": "resp_" + secrets.token_hex(12),
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": [],
        "error": None,
        "incomplete_details": None,
        "usage": None,
    }
