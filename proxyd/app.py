"""``create_app(config)``: the aiohttp application, wired from explicit arguments."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web
from redis.exceptions import RedisError

from proxyd.admin import routes as admin
from proxyd.admin.accounts import KeyAdmin
from proxyd.admin.client_keys import ClientKeyAdmin
from proxyd.appkeys import (
    ACCOUNTING,
    CLIENT_AUTH,
    CLIENT_KEY_ADMIN,
    CLIENT_KEY_RESOLVER,
    CLIENT_KEYS,
    CONFIG,
    COPILOT,
    DATABASE,
    GITHUB,
    KEY_ADMIN,
    LIFECYCLE,
    METRICS,
    QUOTAS,
    RELAY,
    RESOLVER,
    SHARED_STATE,
    STORE,
    TOKENS,
    USAGE,
)
from proxyd.config import Config
from proxyd.crypto.startup import open_key_store
from proxyd.db import open_database
from proxyd.db.schema import require_current_schema
from proxyd.gateway.accounting import Accounting
from proxyd.gateway.client_limits import ClientKeyLimits
from proxyd.gateway.principal import ClientAuth
from proxyd.gateway.recorder import UsageRecorder
from proxyd.gateway.relay import PassThroughRelay
from proxyd.http import messages, middleware, observe, ops, proxy
from proxyd.keys.account_resolver import KeyResolver
from proxyd.keys.client_key_resolver import ClientKeyResolver
from proxyd.keys.client_keys import ClientKeyStore
from proxyd.legacy.fallback import legacy_fallback
from proxyd.limits import DATABASE_CLOSE_FLOOR, DRAIN_FLOOR, FINAL_FLUSH_FLOOR
from proxyd.logs import redact_values
from proxyd.metrics import Labels, Metrics
from proxyd.runtime.lifecycle import Lifecycle, bounded
from proxyd.sharedstate.base import SharedState
from proxyd.sharedstate.failopen import FailOpenState
from proxyd.sharedstate.invalidation import Invalidations
from proxyd.sharedstate.memory import MemoryState
from proxyd.sharedstate.redis import open_redis_state
from proxyd.upstream.client import CopilotClient
from proxyd.upstream.direct import DirectClient
from proxyd.upstream.github import GitHubClient
from proxyd.upstream.identity import ClientIdentity
from proxyd.upstream.outbound import ProxySelector
from proxyd.upstream.quota import QuotaCache
from proxyd.upstream.tokens import CopilotTokens

log = logging.getLogger("proxyd")


async def shared_state_ctx(app: web.Application) -> AsyncIterator[None]:
    """With PROXYD_REDIS_URL: the Redis client every limit shares its state through, open while the app runs."""
    config = app[CONFIG]
    state = app[SHARED_STATE]
    if config.redis_url is None or not isinstance(state, FailOpenState):
        yield
        return
    shared = open_redis_state(config.redis_url.raw, timeout=config.redis_timeout)
    state.attach(shared)
    try:
        await bounded(shared.ping(), config.redis_timeout * 4)
        log.info("shared state: Redis at %s", config.redis_url.redacted())
    except (RedisError, OSError, TimeoutError) as exc:  # Redis is not needed to serve: the limits fail open
        state.failed(exc)  # the one warning a minute
    try:
        yield
    finally:
        state.attach(None)
        await shared.close()


def _invalidations(app: web.Application, caches: dict[str, Callable[[], None]]) -> Invalidations | None:
    """With Redis: key caches cleared on every instance when one changes a key (proxyd/sharedstate/invalidation.py)."""
    state = app[SHARED_STATE]
    if not isinstance(state, FailOpenState) or state.shared is None:
        return None
    invalidations = Invalidations(state.shared.client, caches)
    app[METRICS].sample(
        "proxyd_key_cache_invalidations_received_total",
        "Key caches cleared because another instance changed a client key or an account (Redis pub/sub).",
        "counter",
        lambda: [((), invalidations.received)],
    )
    return invalidations


def _shared_state(config: Config, metrics: Metrics) -> SharedState:
    if config.redis_url is None:
        return MemoryState()
    url = config.redis_url
    state = FailOpenState(
        MemoryState(), name=f"Redis at {url.redacted()}", timeout=config.redis_timeout, scrub=url.scrub
    )
    metrics.sample(
        "proxyd_shared_state_store",
        "Which store keeps the limits, cool-downs and conversations: 1 for the one in use (redis, or memory"
        " while Redis fails).",
        "gauge",
        lambda: [((("store", store),), float(state.serving == store)) for store in ("redis", "memory")],
    )
    metrics.sample(
        "proxyd_redis_failures_total",
        "Redis calls that failed or timed out (each was served from this instance's memory instead).",
        "counter",
        lambda: [((), state.failures)],
    )
    return state


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    database = await open_database(config)
    try:
        await require_current_schema(database)
        log.info("database ready: %s", config.database.redacted())
        app[DATABASE] = database
        # Checked against the stored tokens: a wrong key stops the start here, in one line.
        app[STORE] = await open_key_store(database, config)
        app[CLIENT_KEYS] = ClientKeyStore(database)

        def pool_connections() -> list[tuple[Labels, float]]:
            in_use, idle = database.pool_stats()
            return [((("state", "in_use"),), in_use), ((("state", "idle"),), idle)]

        app[METRICS].sample("proxyd_db_pool_connections", "Database connections by state.", "gauge", pool_connections)
        yield
    finally:
        lifecycle = app[LIFECYCLE]
        lifecycle.begin_shutdown(config.shutdown_timeout)
        try:
            # Cancelled, asyncpg drops its connections by force (aiomysql closed its own when their
            # statements were cancelled): a hung server cannot hold the exit.
            await bounded(database.close(), lifecycle.time_left(floor=DATABASE_CLOSE_FLOOR))
        except TimeoutError:
            log.warning("shutdown: the database did not answer; its connections were dropped")


async def upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
    direct = DirectClient(connect_timeout=config.upstream_connect_timeout, read_timeout=config.upstream_timeout)
    async with aiohttp.ClientSession(connector=connector) as session, direct:
        proxies = ProxySelector()
        app[GITHUB] = GitHubClient(session, config, proxies)
        app[QUOTAS] = QuotaCache(app[GITHUB])
        app[TOKENS] = CopilotTokens(app[GITHUB], app[STORE], config)
        fallback = legacy_fallback(config, app[STORE])
        app[RESOLVER] = KeyResolver(app[STORE], config.key_cache_ttl, fallback=fallback)
        app[CLIENT_KEY_RESOLVER] = client_keys = ClientKeyResolver(app[CLIENT_KEYS], app[STORE], config.key_cache_ttl)
        tokens, resolver = app[TOKENS], app[RESOLVER]
        metrics = app[METRICS]
        state = app[SHARED_STATE]
        app[CLIENT_AUTH] = ClientAuth(
            resolver,
            config.allowed_hosts,
            client_keys,
            ClientKeyLimits(state),
            client_keys_only=config.client_keys_only,
        )
        app[COPILOT] = copilot = CopilotClient(
            session,
            tokens,
            proxies,
            metrics,
            ClientIdentity.from_config(config),
            connect_timeout=config.upstream_connect_timeout,
            read_timeout=config.upstream_timeout,
            state=state,
            conversation_idle=config.conversation_idle,
            direct=direct,
        )
        app[KEY_ADMIN] = KeyAdmin(
            app[STORE], app[GITHUB], resolver, tokens, client_keys.invalidate, on_delete=copilot.forget
        )
        app[CLIENT_KEY_ADMIN] = ClientKeyAdmin(
            app[CLIENT_KEYS],
            on_change=client_keys.invalidate,
            on_delete=app[CLIENT_AUTH].forget_client_key,
        )
        metrics.sample(
            "proxyd_conversations",
            "Conversations pinned to a client key's account (idle ones expire, PROXYD_CONVERSATION_TTL).",
            "gauge",
            lambda: [((), len(copilot.affinity))],
        )
        metrics.sample(
            "proxyd_model_list_fetches_total",
            "Model lists read from Copilot (which endpoints each model answers on), per account.",
            "counter",
            lambda: [((), copilot.catalog.fetches)],
        )
        app[RELAY] = PassThroughRelay(metrics)
        if fallback is not None:
            log.info("legacy fallback: keys missing from the database are looked up in %s", config.legacy_dir)
            metrics.sample(
                "proxyd_legacy_fallback_imports_total",
                "Keys imported from the legacy store on first use.",
                "counter",
                lambda: [((), fallback.imports)],
            )
        metrics.sample(
            "proxyd_token_exchanges_total",
            "Copilot token exchanges with GitHub.",
            "counter",
            lambda: [((), tokens.exchanges)],
        )
        metrics.sample(
            "proxyd_token_cache_hits_total",
            "Copilot tokens served from the cache.",
            "counter",
            lambda: [((), tokens.cache_hits)],
        )
        metrics.sample("proxyd_key_cache_total", "API key lookups by cache outcome.", "counter", resolver.outcomes)
        metrics.sample(
            "proxyd_client_key_cache_total", "Client key lookups by cache outcome.", "counter", client_keys.outcomes
        )
        metrics.sample(
            "proxyd_account_failovers_total",
            "Client-key requests moved off an account: rate limited, out of quota or refused by GitHub.",
            "counter",
            lambda: [((("account", account_id),), n) for account_id, n in sorted(copilot.cooldowns.failovers.items())],
        )
        invalidations = _invalidations(app, {"accounts": resolver.clear, "client-keys": client_keys.clear})
        if invalidations is not None:
            resolver.on_invalidate = lambda: invalidations.changed("accounts")
            client_keys.on_invalidate = lambda: invalidations.changed("client-keys")
            await invalidations.start(wait=config.redis_timeout * 4)
        yield
        if invalidations is not None:
            await invalidations.close()
        lifecycle = app[LIFECYCLE]
        lifecycle.begin_shutdown(config.shutdown_timeout)

        async def drain() -> None:
            await resolver.close()
            await client_keys.close()
            await tokens.drain()  # a token not stored now is exchanged again after the restart

        try:
            await bounded(drain(), lifecycle.time_left(floor=DRAIN_FLOOR))
        except TimeoutError:
            log.warning("shutdown: Copilot tokens or key lookups still waiting for the database were abandoned")


async def usage_ctx(app: web.Application) -> AsyncIterator[None]:
    recorder = UsageRecorder(app[DATABASE], app[STORE], retention_days=app[CONFIG].request_log_days)
    app[USAGE] = recorder
    app[ACCOUNTING] = Accounting(recorder)
    app[METRICS].sample(
        "proxyd_usage_buffered_entries",
        "Usage and log entries waiting to be written.",
        "gauge",
        lambda: [((), recorder.buffered)],
    )
    app[METRICS].sample(
        "proxyd_usage_dropped_total",
        "Request log entries dropped because the buffer was full.",
        "counter",
        lambda: [((), recorder.dropped)],
    )
    app[METRICS].sample(
        "proxyd_usage_flush_failures_total",
        "Usage flushes that failed (their entries were kept for the next one).",
        "counter",
        lambda: [((), recorder.flush_failures)],
    )
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(recorder.run(app[CONFIG].usage_flush_interval, stop)),
        asyncio.create_task(recorder.run_retention(stop)),
    ]
    yield
    lifecycle = app[LIFECYCLE]
    lifecycle.begin_shutdown(app[CONFIG].shutdown_timeout)
    stop.set()

    async def last_flush() -> bool:
        # Not cancel(): a flush in progress finishes (or puts its entries back) first.
        await asyncio.gather(*tasks)
        return await recorder.flush()

    try:
        written = await bounded(last_flush(), lifecycle.time_left(floor=FINAL_FLUSH_FLOOR))
    except TimeoutError:
        written = False  # the database hangs: what PROXYD_SHUTDOWN_TIMEOUT left is spent
    if not written:
        log.error("shutdown: %d usage entries could not be written", recorder.buffered)


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """With workers: this worker's sampled values written each second, for the others' scrapes (metrics.py)."""
    metrics = app[METRICS]
    if metrics.shared is None:
        yield
        return

    async def publish() -> None:
        while True:
            await asyncio.sleep(1.0)
            metrics.publish()

    task = asyncio.create_task(publish())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        metrics.publish()  # the last values: its counters stay in the sum after it stopped


def create_app(config: Config) -> web.Application:
    # Secrets whose shape says nothing: no log line shows them, whoever logs it (proxyd/logs.py).
    redact_values(
        config.admin_token,
        config.admin_password,
        config.metrics_token,
        config.redis_url.password if config.redis_url is not None else None,
    )
    app = web.Application(
        client_max_size=config.max_body_bytes,
        # Bodies are inflated by proxyd's own reader, which stops at PROXYD_MAX_BODY_BYTES (http/body.py).
        handler_args={"auto_decompress": False},
        middlewares=[observe.observe_middleware, middleware.error_middleware],
    )
    app[CONFIG] = config
    app[METRICS] = Metrics()
    app[LIFECYCLE] = Lifecycle()
    app[SHARED_STATE] = _shared_state(config, app[METRICS])
    app.cleanup_ctx.extend([shared_state_ctx, database_ctx, ops.readiness_ctx, upstream_ctx, usage_ctx, metrics_ctx])
    ops.setup(app)
    proxy.setup(app, config.api_prefix)
    messages.setup(app)
    admin.mount(app, config)
    return app
