"""Every piece of shared application state, declared once as a typed ``web.AppKey``."""

from __future__ import annotations

from aiohttp import web

from .config import Config
from .db import Database
from .store import KeyStore

CONFIG = web.AppKey("config", Config)
DATABASE = web.AppKey("database", Database)
STORE = web.AppKey("store", KeyStore)
