"""Every piece of shared application state, declared once as a typed ``web.AppKey``."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from .config import Config
from .db import Database
from .github import GitHubClient
from .keycache import KeyResolver
from .store import KeyStore
from .tokens import CopilotTokens
from .usage import UsageRecorder

CONFIG = web.AppKey("config", Config)
DATABASE = web.AppKey("database", Database)
STORE = web.AppKey("store", KeyStore)
HTTP = web.AppKey("http", aiohttp.ClientSession)
GITHUB = web.AppKey("github", GitHubClient)
TOKENS = web.AppKey("tokens", CopilotTokens)
RESOLVER = web.AppKey("resolver", KeyResolver)
USAGE = web.AppKey("usage", UsageRecorder)
