"""Operations routes: liveness, readiness and metrics."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from proxyd.appkeys import CONFIG, DATABASE, LIFECYCLE, METRICS, READINESS
from proxyd.errors import DatabaseError, Unauthorized
from proxyd.http.json_io import json_response
from proxyd.runtime.readiness import ReadinessProbe

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
    token = request.app[CONFIG].metrics_token
    if token is not None and not _bearer_matches(request, token):
        raise Unauthorized(
            "Metrics need 'Authorization: Bearer <PROXYD_METRICS_TOKEN>'",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return web.Response(
        body=request.app[METRICS].render().encode(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )


def _bearer_matches(request: web.Request, token: str) -> bool:
    scheme, _, credential = request.headers.get("Authorization", "").strip().partition(" ")
    try:
        presented = credential.strip().encode("utf-8", "surrogateescape")  # the bytes the client sent
    except UnicodeEncodeError:
        return False
    # Compared in constant time, whatever the scheme says: no timing tells how much matched.
    matches = hmac.compare_digest(presented, token.encode())
    return matches and scheme.lower() == "bearer"


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
