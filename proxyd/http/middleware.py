"""The one place exceptions become HTTP responses.

The shape follows the route prefix (``responses.error_renderer``): OpenAI's
under ``/v1``, the legacy NestJS shape everywhere else.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from proxyd.errors import BadRequest, DatabaseError, IntegrityViolation, ProxydError
from proxyd.http.json_io import ErrorReport, error_response

log = logging.getLogger("proxyd.http")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as exc:
        return error_response(request, _report(exc, exc.messages or exc.message), headers=exc.headers)
    except IntegrityViolation as exc:
        # A write raced another (a key deleted while its meta was stored, say).
        log.info("%s %s: %s", request.method, request.path, exc.message)
        return error_response(request, ErrorReport(409, "Conflict with a concurrent change; retry"))
    except DatabaseError as exc:
        # The details (host, database, driver message) are for the operator's log, not for clients.
        log.warning("%s %s: %s", request.method, request.path, exc.message)
        return error_response(request, _report(exc, DatabaseError.message))
    except ProxydError as exc:
        if exc.status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        return error_response(request, _report(exc, exc.message), headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = f"Cannot {request.method} {request.path}" if exc.status == 404 else exc.reason
        return error_response(request, ErrorReport(exc.status, message), headers=_allow(exc))
    except Exception as exc:
        if isinstance(exc, ConnectionResetError) and _client_gone(request):
            # aiohttp's "Cannot write to closing transport": routine, not a bug worth a traceback.
            log.debug("client went away mid-answer on %s %s", request.method, request.path)
            return web.Response(status=499)
        # Never a stack trace to the client; the log has it, with no request body.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(request, ErrorReport(500, "Internal server error"))


def _report(exc: ProxydError, message: str | list[str]) -> ErrorReport:
    return ErrorReport(exc.status, message, code=exc.code, param=exc.param)


def _client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


def _allow(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None
