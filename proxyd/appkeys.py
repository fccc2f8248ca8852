"""Every piece of shared application state, declared once as a typed ``web.AppKey``."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from .config import Config
from .db import Database
from .github import GitHubClient
from .keycache import KeyResolver
from .lifecycle import AccessInfo, Lifecycle
from .metrics import Metrics
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
METRICS = web.AppKey("metrics", Metrics)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)

# Per request: filled by the proxy handler, read by the access log.
ACCESS = web.RequestKey("access", AccessInfo)
