"""Admin routes (placeholder until the admin API lands)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application, prefix: str) -> None:
    pass
