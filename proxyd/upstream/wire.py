"""What proxyd sends to the Copilot API and what it passes back: headers, and usage found in answers."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from proxyd.errors import UpstreamAnswered

# Only these response headers reach the client; hop-by-hop headers, cookies and
# upstream framing (length, encoding) never do.
_PASSED_BACK = ("content-type", "retry-after", "x-request-id", "openai-processing-ms")
_PASSED_BACK_PREFIXES = ("x-ratelimit-",)


def response_headers(upstream: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream.items():
        lower = name.lower()
        if lower in _PASSED_BACK or lower.startswith(_PASSED_BACK_PREFIXES):
            headers.add(name, value)
    return headers


def error_message(document: Any) -> str | None:
    """The message of an error answer Copilot sent, parsed: ``{"error": {"message": ...}}`` or ``{"message": ...}``."""
    if not isinstance(document, dict):
        return None
    error = document.get("error")
    message = error.get("message") if isinstance(error, dict) else document.get("message")
    return message if isinstance(message, str) and message else None


def answered(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> UpstreamAnswered:
    """Copilot's error answer, its message and code kept, as an error the middleware renders in the client's shape.

    A redirect (never followed) is no answer the client could act on: it becomes a 502.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    error = document.get("error") if isinstance(document, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return UpstreamAnswered(
        status if status >= 400 else 502,
        error_message(document) or f"Copilot API answered {status}",
        headers=headers,
        code=code if isinstance(code, str) else None,
    )


def readable_message(body: bytes) -> str | None:
    """The message of an error body Copilot sent, as far as it can be read: its JSON message, else its text."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or None
    message = error_message(document)
    return message[:500] if message is not None else None


# (prompt, completion, total) tokens, each None when the answer did not say.
Usage = tuple[int | None, int | None, int | None]


def usage_from(document: Any) -> Usage | None:
    """(prompt, completion, total) tokens from a chat, embeddings or Responses answer or event."""
    if not isinstance(document, dict):
        return None
    usage = document.get("usage")
    if usage is None:
        # Responses events carry it in "response", Anthropic's message_start in "message".
        outer = document.get("response") or document.get("message")
        usage = outer.get("usage") if isinstance(outer, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage, "prompt_tokens", "input_tokens")
    if prompt is not None and "cache_read_input_tokens" in usage:
        # Anthropic counts cached input apart from input_tokens; the request log counts every prompt token.
        cached = (_count(usage, "cache_read_input_tokens") or 0) + (_count(usage, "cache_creation_input_tokens") or 0)
        prompt = min(prompt + cached, _INT64_MAX)
    completion = _count(usage, "completion_tokens", "output_tokens")
    total = _count(usage, "total_tokens")
    if total is None and prompt is not None:
        total = prompt + (completion or 0)
    return prompt, completion, total


_INT64_MAX = 2**63 - 1


def merged(earlier: Usage | None, later: Usage) -> Usage:
    """Usage reported in parts (Anthropic: input in message_start, output in message_delta): later parts win."""
    if earlier is None:
        return later
    prompt = later[0] if later[0] is not None else earlier[0]
    completion = later[1] if later[1] is not None else earlier[1]
    total = prompt + (completion or 0) if prompt is not None else later[2]
    return prompt, completion, total


def with_usage(usage: Usage | None, document: Any) -> Usage | None:
    """``usage`` with what ``document`` (an answer, or one event of a stream) reports, parts merged."""
    found = usage_from(document)
    return usage if found is None else merged(usage, found)


# Bytes that hold usage say so: a stream's events are parsed only when they mention it.
USAGE_MENTIONED = b'"usage"'


def _count(usage: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = usage.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            # Whatever upstream says must fit the BIGINT column, or it would block every later flush.
            return min(max(value, 0), _INT64_MAX)
    return None


class JsonUsageSniffer:
    """Finds ``usage`` in a JSON answer by looking at its end only.

    OpenAI-style answers put ``usage`` last; reading just the tail keeps a
    large answer (embeddings of many inputs) from being copied and parsed
    whole on the event loop.
    """

    _TAIL = 16 * 1024
    # The usage object, allowing one level of nesting ("prompt_tokens_details": {...}).
    _USAGE = re.compile(rb'"usage"\s*:\s*(\{(?:[^{}]|\{[^{}]*\})*\})')

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        if len(chunk) >= self._TAIL:
            self._tail = chunk[-self._TAIL :]
        elif self._tail:
            self._tail = (self._tail + chunk)[-self._TAIL :]
        else:
            self._tail = chunk  # the first chunk, as a small answer's whole body is: no copy

    @property
    def usage(self) -> Usage | None:
        start = self._tail.rfind(b'"usage"')
        if start < 0:
            return None
        with contextlib.suppress(orjson.JSONDecodeError):
            # Usually usage is the answer's last member: then the answer's own closing brace
            # closes this object too, and one parse (no regular expression) reads it.
            return usage_from(orjson.loads(b"{" + self._tail[start:]))
        found = self._USAGE.match(self._tail, start)
        if found is None:
            return None
        try:
            return usage_from({"usage": orjson.loads(found.group(1))})
        except orjson.JSONDecodeError:
            return None
