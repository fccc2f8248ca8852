"""The one place exceptions become HTTP responses, in the NestJS error shape."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from ..db.base import IntegrityViolation
from ..errors import BadRequest, DatabaseError, ProxydError
from .responses import json_response, nest_error

log = logging.getLogger("proxyd.http")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as exc:
        return json_response(nest_error(exc.status, exc.messages or exc.message), exc.status, headers=exc.headers)
    except IntegrityViolation as exc:
        # A write raced another (a key deleted while its meta was stored, say).
        log.info("%s %s: %s", request.method, request.path, exc.message)
        return json_response(nest_error(409, "Conflict with a concurrent change; retry"), 409)
    except DatabaseError as exc:
        # The details (host, database, driver message) are for the operator's log, not for clients.
        log.warning("%s %s: %s", request.method, request.path, exc.message)
        return json_response(nest_error(exc.status, DatabaseError.message), exc.status)
    except ProxydError as exc:
        if exc.status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        return json_response(nest_error(exc.status, exc.message), exc.status, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = f"Cannot {request.method} {request.path}" if exc.status == 404 else exc.reason
        return json_response(nest_error(exc.status, message), exc.status, headers=_allow(exc))
    except Exception as exc:
        if isinstance(exc, ConnectionResetError) and _client_gone(request):
            # aiohttp's "Cannot write to closing transport": routine, not a bug worth a traceback.
            log.debug("client went away mid-answer on %s %s", request.method, request.path)
            return web.Response(status=499)
        # Never a stack trace to the client; the log has it, with no request body.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response(nest_error(500, "Internal server error"), 500)


def _client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


def _allow(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None
