"""Running the application: the listening socket, signals, and shutdown."""

from __future__ import annotations

import logging
import os

from aiohttp import web

from .app import create_app
from .config import Config

log = logging.getLogger("proxyd")


def serve(config: Config) -> int:
    if os.environ.get("STORAGE_DIR"):
        log.warning(
            "STORAGE_DIR is no longer read; to import legacy keys set PROXYD_LEGACY_DIR "
            "or run `proxyd import-legacy DIR`"
        )
    app = create_app(config)
    web.run_app(
        app,
        handler_cancellation=True,
        host=config.host,
        port=config.port,
        shutdown_timeout=config.shutdown_timeout,
        access_log=None,
        print=lambda _: None,
    )
    return 0
