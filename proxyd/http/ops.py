"""Operations routes: liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ..appkeys import CONFIG, DATABASE, LIFECYCLE, METRICS
from ..errors import DatabaseError
from ..schema import pending_migrations
from .responses import json_response

log = logging.getLogger("proxyd.ops")


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if request.app[LIFECYCLE].shutting_down:
        return json_response({"status": "unavailable", "reason": "shutting down"}, 503)
    database = request.app[DATABASE]
    try:
        async with asyncio.timeout(min(2.0, request.app[CONFIG].db_timeout)):
            missing = await pending_migrations(database)
    except (DatabaseError, TimeoutError) as exc:
        # Unauthenticated endpoint: the details go to the log only.
        log.warning("readyz: %s", exc.message if isinstance(exc, DatabaseError) else "database timed out")
        return json_response({"status": "unavailable", "reason": "database unavailable"}, 503)
    if missing:
        return json_response(
            {"status": "unavailable", "reason": "database schema out of date: run `proxyd migrate apply`"}, 503
        )
    return json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].render().encode(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
