"""JSON in and out: orjson responses, and request bodies read with clear 400/413 errors."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

from ..appkeys import CONFIG
from ..errors import BadRequest, PayloadTooLarge, RequestTimeout


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def nest_error(status: int, message: str | list[str]) -> dict[str, Any]:
    """The NestJS error shape the legacy service answered with."""
    return {"statusCode": status, "message": message, "error": HTTPStatus(status).phrase}


async def read_body(request: web.Request) -> bytes:
    config = request.app[CONFIG]
    try:
        # A client trickling its body must not hold a connection (and its memory) forever.
        async with asyncio.timeout(config.client_timeout):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(f"Request body larger than {config.max_body_bytes} bytes") from None
    except TimeoutError:
        raise RequestTimeout(f"Request body not received within {config.client_timeout:g} s") from None


async def read_json(request: web.Request) -> tuple[bytes, Any]:
    """The raw body (to forward unchanged) and its parsed JSON."""
    raw = await read_body(request)
    if not raw.strip():
        raise BadRequest("Request body must be JSON")
    try:
        return raw, orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON: {exc.msg} at position {exc.pos}") from None


async def read_json_object(request: web.Request) -> dict[str, Any]:
    _, data = await read_json(request)
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object")
    return data
