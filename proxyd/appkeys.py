"""Every piece of shared application state, declared once as a typed ``web.AppKey``."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from .admin_auth import AdminAuth
from .client_key_cache import ClientKeyResolver
from .client_keys import ClientKeyStore
from .config import Config
from .db import Database
from .device_flow import DeviceFlowHub
from .gateway.accounting import Accounting
from .gateway.principal import ClientAuth
from .gateway.relay import PassThroughRelay
from .key_admin import KeyAdmin
from .keycache import KeyResolver
from .lifecycle import AccessInfo, Lifecycle
from .metrics import Metrics
from .outbound import ProxySelector
from .readiness import ReadinessProbe
from .store import KeyStore
from .upstream.client import CopilotClient
from .upstream.github import GitHubClient
from .upstream.quota import QuotaCache
from .upstream.tokens import CopilotTokens
from .usage import UsageRecorder

CONFIG = web.AppKey("config", Config)
DATABASE = web.AppKey("database", Database)
STORE = web.AppKey("store", KeyStore)
HTTP = web.AppKey("http", aiohttp.ClientSession)
OUTBOUND_PROXY = web.AppKey("outbound_proxy", ProxySelector)
GITHUB = web.AppKey("github", GitHubClient)
TOKENS = web.AppKey("tokens", CopilotTokens)
RESOLVER = web.AppKey("resolver", KeyResolver)
CLIENT_KEYS = web.AppKey("client_keys", ClientKeyStore)
CLIENT_KEY_RESOLVER = web.AppKey("client_key_resolver", ClientKeyResolver)
USAGE = web.AppKey("usage", UsageRecorder)
METRICS = web.AppKey("metrics", Metrics)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
READINESS = web.AppKey("readiness", ReadinessProbe)
# The parts of a proxied request (proxyd/gateway), in the order a request meets them.
CLIENT_AUTH = web.AppKey("client_auth", ClientAuth)
COPILOT = web.AppKey("copilot", CopilotClient)
RELAY = web.AppKey("relay", PassThroughRelay)
ACCOUNTING = web.AppKey("accounting", Accounting)
# Each account's Copilot quotas, as GitHub last reported them (proxyd/quota.py).
QUOTAS = web.AppKey("quotas", QuotaCache)
# Admin routes (proxyd/http/admin.py), set on startup.
ADMIN_AUTH = web.AppKey("admin_auth", AdminAuth)
KEY_ADMIN = web.AppKey("key_admin", KeyAdmin)
DEVICE_FLOWS = web.AppKey("device_flows", DeviceFlowHub)

# Per request: filled by the proxy handler, read by the access log.
ACCESS = web.RequestKey("access", AccessInfo)
