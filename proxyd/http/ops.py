"""Operations routes: liveness, readiness and metrics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from ..appkeys import DATABASE, LIFECYCLE, METRICS, READINESS
from ..errors import DatabaseError
from ..readiness import ReadinessProbe
from .responses import json_response

log = logging.getLogger("proxyd.ops")


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if request.app[LIFECYCLE].shutting_down:
        return json_response({"status": "unavailable", "reason": "shutting down"}, 503)
    try:
        missing = await request.app[READINESS].missing_migrations()
    except (DatabaseError, TimeoutError) as exc:
        # Unauthenticated endpoint: the details go to the log only.
        log.warning("readyz: %s", exc.message if isinstance(exc, DatabaseError) else "database timed out")
        return json_response({"status": "unavailable", "reason": "database unavailable"}, 503)
    if missing:
        return json_response(
            {"status": "unavailable", "reason": "database schema out of date: run `proxyd migrate apply`"}, 503
        )
    return json_response({"status": "ok"})


async def readiness_ctx(app: web.Application) -> AsyncIterator[None]:
    app[READINESS] = probe = ReadinessProbe(app[DATABASE])
    yield
    await probe.close()


async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].render().encode(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
