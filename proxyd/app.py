"""``create_app(config)``: the aiohttp application, wired from explicit arguments."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from .appkeys import CONFIG, DATABASE, STORE
from .config import Config
from .db import open_database
from .schema import require_current_schema
from .store import KeyStore

log = logging.getLogger("proxyd")


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    database = await open_database(config)
    try:
        await require_current_schema(database)
        log.info("database ready: %s", config.database.redacted())
        app[DATABASE] = database
        app[STORE] = KeyStore(database)
        yield
    finally:
        await database.close()


def create_app(config: Config) -> web.Application:
    app = web.Application(client_max_size=config.max_body_bytes)
    app[CONFIG] = config
    app.cleanup_ctx.append(database_ctx)
    return app
