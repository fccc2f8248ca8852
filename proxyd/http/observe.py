"""One log line and one metric sample per request."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from proxyd.appkeys import METRICS, REQUEST_RECORD
from proxyd.logs import log_redacted, redact, redact_query

log = logging.getLogger("proxyd.access")
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.monotonic()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away
        raise
    finally:
        _record(request, status, time.monotonic() - started)


def _record(request: web.Request, status: int, seconds: float) -> None:
    # A proxied request's record (gateway/record.py) knows its key, its model and what it really came to.
    key = model = None
    record = request.get(REQUEST_RECORD)
    if record is not None:
        key, model, status = record.principal.masked_key, record.model, record.outcome(status)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[METRICS].requests.inc((("route", route), ("method", request.method), ("status", str(status))))
    level = logging.DEBUG if request.path in _QUIET_PATHS else logging.INFO
    if not log.isEnabledFor(level):
        return
    # Decoded, so the line is readable: the formatters escape any control character in it. A key
    # sent as ?api_key=... (or any parameter named like a credential) is not logged.
    query = redact_query(request.query_string)
    target = redact(f"{request.path}?{query}" if query else request.path)
    ms = seconds * 1000
    # The key is masked already; what the client chose (path, query, model) is redacted here.
    safe_model = redact(model) if model else "-"
    message = f"{request.method} {target} {status} {ms:.1f}ms key={key or '-'} model={safe_model}"
    fields = {
        "method": request.method,
        "path": request.path,
        "query": query or None,
        "status": status,
        "duration_ms": round(ms, 1),
        "key": key,
        "model": model,
    }
    log_redacted(log, level, message, fields)
