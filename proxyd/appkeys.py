"""Every piece of shared application state, declared once as a typed ``web.AppKey``."""

from __future__ import annotations

from aiohttp import web

from proxyd.admin.accounts import KeyAdmin
from proxyd.admin.auth import AdminAuth
from proxyd.admin.client_keys import ClientKeyAdmin
from proxyd.admin.device_flow import DeviceFlowHub
from proxyd.config import Config
from proxyd.db import Database
from proxyd.gateway.accounting import Accounting
from proxyd.gateway.principal import ClientAuth
from proxyd.gateway.record import RequestRecord
from proxyd.gateway.recorder import UsageRecorder
from proxyd.gateway.relay import PassThroughRelay
from proxyd.keys.account_resolver import KeyResolver
from proxyd.keys.client_key_resolver import ClientKeyResolver
from proxyd.keys.client_keys import ClientKeyStore
from proxyd.keys.store import KeyStore
from proxyd.metrics import Metrics
from proxyd.runtime.lifecycle import Lifecycle
from proxyd.runtime.readiness import ReadinessProbe
from proxyd.sharedstate.base import SharedState
from proxyd.upstream.client import CopilotClient
from proxyd.upstream.github import GitHubClient
from proxyd.upstream.quota import QuotaCache
from proxyd.upstream.tokens import CopilotTokens

CONFIG = web.AppKey("config", Config)
DATABASE = web.AppKey("database", Database)
STORE = web.AppKey("store", KeyStore)
GITHUB = web.AppKey("github", GitHubClient)
TOKENS = web.AppKey("tokens", CopilotTokens)
RESOLVER = web.AppKey("resolver", KeyResolver)
CLIENT_KEYS = web.AppKey("client_keys", ClientKeyStore)
CLIENT_KEY_RESOLVER = web.AppKey("client_key_resolver", ClientKeyResolver)
USAGE = web.AppKey("usage", UsageRecorder)
METRICS = web.AppKey("metrics", Metrics)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
READINESS = web.AppKey("readiness", ReadinessProbe)
# What limits remember (proxyd/sharedstate): rpm and monthly counts, cool-downs, conversations, the throttle.
SHARED_STATE = web.AppKey("shared_state", SharedState)
# The parts of a proxied request (proxyd/gateway), in the order a request meets them.
CLIENT_AUTH = web.AppKey("client_auth", ClientAuth)
COPILOT = web.AppKey("copilot", CopilotClient)
RELAY = web.AppKey("relay", PassThroughRelay)
ACCOUNTING = web.AppKey("accounting", Accounting)
# Each account's Copilot quotas, as GitHub last reported them (proxyd/upstream/quota.py).
QUOTAS = web.AppKey("quotas", QuotaCache)
# Admin routes (proxyd/admin/routes.py), set on startup.
ADMIN_AUTH = web.AppKey("admin_auth", AdminAuth)
KEY_ADMIN = web.AppKey("key_admin", KeyAdmin)
CLIENT_KEY_ADMIN = web.AppKey("client_key_admin", ClientKeyAdmin)
DEVICE_FLOWS = web.AppKey("device_flows", DeviceFlowHub)

# Per proxied request: filled as it goes (proxyd/gateway/record.py), read by accounting, the access log and metrics.
REQUEST_RECORD = web.RequestKey("request_record", RequestRecord)
