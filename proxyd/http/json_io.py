"""JSON in and out: orjson responses, and request bodies read with clear 400/413 errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

from proxyd.errors import BadRequest
from proxyd.http.body import read_body
from proxyd.http.json_values import more_values_than
from proxyd.limits import MAX_JSON_DEPTH, MAX_JSON_VALUES, OFF_LOOP_BODY_BYTES, ORJSON_MAX_DEPTH
from proxyd.runtime.offloop import off_loop


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


@dataclass(frozen=True, slots=True)
class ErrorReport:
    """One error proxyd answers with, before it is put in the shape its route prefix calls for."""

    status: int
    message: str | list[str]
    code: str | None = None  # machine-readable reason (OpenAI's error.code); None: the status's usual one
    param: str | None = None  # the request field at fault, when there is one


ErrorRenderer = Callable[[ErrorReport], dict[str, Any]]


def nest_error(report: ErrorReport) -> dict[str, Any]:
    """The NestJS error shape the legacy service answered with."""
    return {"statusCode": report.status, "message": report.message, "error": HTTPStatus(report.status).phrase}


# (error.type, error.code) as OpenAI's API sends them: a bad key is an
# invalid_request_error with code invalid_api_key, a rate limit has type
# "requests". Other 4xx are invalid_request_error, 5xx server_error.
_OPENAI_KINDS: dict[int, tuple[str, str | None]] = {
    401: ("invalid_request_error", "invalid_api_key"),
    429: ("requests", "rate_limit_exceeded"),
}


def openai_error(report: ErrorReport) -> dict[str, Any]:
    """OpenAI's error shape: OpenAI SDKs show ``error.message`` in the exception they raise."""
    default = ("server_error", None) if report.status >= 500 else ("invalid_request_error", None)
    kind, code = _OPENAI_KINDS.get(report.status, default)
    message = report.message if isinstance(report.message, str) else "; ".join(report.message)
    return {"error": {"message": message, "type": kind, "param": report.param, "code": report.code or code}}


# Anthropic's error.type for each status; other 4xx are invalid_request_error, other 5xx api_error.
_ANTHROPIC_KINDS: dict[int, str] = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def anthropic_error(report: ErrorReport) -> dict[str, Any]:
    """Anthropic's error shape: its SDKs pick the exception class by status and show ``error.message``."""
    default = "api_error" if report.status >= 500 else "invalid_request_error"
    message = report.message if isinstance(report.message, str) else "; ".join(report.message)
    return {"type": "error", "error": {"type": _ANTHROPIC_KINDS.get(report.status, default), "message": message}}


# The first prefix that matches a request's path chooses its error shape; others get NestJS'.
_RENDERERS: tuple[tuple[str, ErrorRenderer], ...] = (("/v1/messages", anthropic_error), ("/v1", openai_error))


def error_renderer(path: str) -> ErrorRenderer:
    for prefix, renderer in _RENDERERS:
        if path == prefix or path.startswith(prefix + "/"):
            return renderer
    return nest_error


def error_response(request: web.Request, report: ErrorReport, headers: Mapping[str, str] | None = None) -> web.Response:
    """``report`` in the shape of the request's route prefix: OpenAI's under /v1, else the legacy NestJS one."""
    body = error_renderer(request.path)(report)
    return json_response(body, report.status, headers=dict(headers) if headers else None)


async def read_json(request: web.Request) -> tuple[bytes, Any]:
    """The raw body (to forward unchanged) and its parsed JSON."""
    raw = await read_body(request)
    if len(raw) > OFF_LOOP_BODY_BYTES:
        # Counted, parsed and checked in the worker thread (proxyd/runtime/offloop.py): the loop runs between steps.
        return raw, await off_loop(parse_json, raw)
    return raw, parse_json(raw)


def parse_json(raw: bytes) -> Any:
    """``raw`` parsed: a 400 for what is not JSON, holds too many values or nests too deeply."""
    if not raw.strip():
        raise BadRequest("Request body must be JSON")
    if more_values_than(raw, MAX_JSON_VALUES):
        raise BadRequest(f"Request body holds more than {MAX_JSON_VALUES:,} JSON values")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON: {exc.msg} at position {exc.pos}") from None
    if too_deep(raw, data):
        raise BadRequest(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return data


def too_deep(raw: bytes, data: Any) -> bool:
    """Whether ``data`` (parsed from ``raw``) nests more than MAX_JSON_DEPTH levels, at the cost of C loops only.

    Fewer brackets than the limit cannot nest deeper; otherwise orjson writes ``data`` wrapped in as many
    lists as make its own depth limit fall right at MAX_JSON_DEPTH levels of ``data``: it refuses exactly
    the values nested deeper, and no Python loop walks a huge flat body.
    """
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return False
    wrapped = data
    for _ in range(ORJSON_MAX_DEPTH - MAX_JSON_DEPTH):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError:
        return True  # what orjson.loads gave back it can write, except what nests too deep
    return False


async def read_json_object_with_raw(request: web.Request) -> tuple[bytes, dict[str, Any]]:
    """The raw body (to forward unchanged when it can be) and its JSON object."""
    raw, data = await read_json(request)
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object")
    return raw, data


async def read_json_object(request: web.Request) -> dict[str, Any]:
    return (await read_json_object_with_raw(request))[1]


async def read_dto(request: web.Request) -> dict[str, Any]:
    """An admin request body (a DTO, as the legacy NestJS service called it): a JSON object sent as JSON.

    400 for any other content type or shape.
    """
    content_type = request.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise BadRequest("Content-Type must be application/json")
    return await read_json_object(request)
