"""In-process: what a key lookup costs cold and warm, and how many statements a proxied request runs.

Stored tokens are encrypted (proxyd/crypto/): a cold lookup finds its row by the
token's keyed hash and decrypts it; a warm one is served from memory and decrypts
nothing. The phase counts the decryptions and times one.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import aiohttp
from aiohttp.test_utils import TestServer

import proxyd.app
from bench.fake_upstream import FakeUpstreamState, running_fake_upstream
from proxyd.config import Config
from proxyd.crypto.keyring import Keyring, generate_key
from proxyd.crypto.source import StaticKeys
from proxyd.db import Database, open_database
from proxyd.db.schema import Migrator
from proxyd.db.url import DatabaseUrl
from proxyd.keys.account_resolver import KeyResolver
from proxyd.keys.store import KeyStore

from .dbcount import CountingDatabase
from .services import CHAT_BODY
from .settings import Settings
from .stats import Summary, summarize

STORED_KEYS = 1000
FLUSH_QUERIES = frozenset({"claim_usage_batch", "record_usage", "insert_request_log"})
LOOKUP_QUERIES = frozenset({"find_key_by_hmac", "find_default_key"})
BENCH_TOKEN = "gho_benchinprocess000000000000000000001"
KEY_CACHE_TTL = 1.0


def _key(n: int) -> str:
    return f"gho_{n:036d}"


async def _migrated(path: Path) -> DatabaseUrl:
    url = DatabaseUrl.parse(f"sqlite:///{path}")
    await asyncio.to_thread(Migrator(url).apply)  # empty: no token to encrypt, so no key needed
    return url


@dataclass(frozen=True, slots=True)
class KeyLookup:
    stored_keys: int
    cold: Summary  # no cache entry: the call waits for the database
    cold_default: Summary
    expired: Summary  # an entry older than the TTL (ttl 0): whatever the resolver does then
    warm: Summary  # a fresh entry
    cold_queries: int
    expired_queries: int
    warm_queries: int
    # Tokens decrypted (Keyring.open) per cold and per warm lookup, and what one decryption costs.
    cold_decrypts_per_lookup: float = math.nan
    warm_decrypts: int = 0
    decrypt: Summary | None = None


async def _time_resolves(
    resolver: KeyResolver, presented: str | None, iterations: int, *, cold: bool = False
) -> list[float]:
    """Per-call seconds; ``cold`` empties the cache (the public ``invalidate()``) before each call."""
    times: list[float] = []
    for _ in range(iterations):
        if cold:
            resolver.invalidate()
        started = time.perf_counter()
        await resolver.resolve(presented)
        times.append(time.perf_counter() - started)
    return times


async def key_lookup(settings: Settings, workdir: Path) -> KeyLookup:
    url = await _migrated(workdir / "lookup.db")
    database = CountingDatabase(await open_database(Config(database=url)))
    opened = Counter[str]()
    real_open = Keyring.open

    def counting_open(keyring: Keyring, *args: str) -> str:
        opened["n"] += 1
        return real_open(keyring, *args)  # type: ignore[arg-type]

    try:
        keys = StaticKeys((generate_key(),))
        store = KeyStore(database, keys)
        ids = [(await store.create(f"key {n}", _key(n))).id for n in range(STORED_KEYS)]
        await store.set_default(ids[STORED_KEYS // 3])
        probe = _key(STORED_KEYS // 2)
        cold_iterations = max(1000, settings.lookup_iterations // 4)

        resolver = KeyResolver(store, ttl=3600)
        database.counts.clear()
        with mock.patch.object(Keyring, "open", counting_open):
            cold_times = await _time_resolves(resolver, probe, cold_iterations, cold=True)
        cold_decrypts = opened["n"] / cold_iterations
        cold_default = await _time_resolves(resolver, None, cold_iterations, cold=True)
        cold_queries = sum(database.counts.values())
        decrypt = _time_decrypts(keys.keyring(), probe, settings.lookup_iterations)

        expired = KeyResolver(store, ttl=0)
        await expired.resolve(probe)
        database.counts.clear()
        expired_times = await _time_resolves(expired, probe, cold_iterations)
        await asyncio.sleep(0.1)  # let a background refresh, if any, finish and be counted
        expired_queries = sum(database.counts.values())

        warm = KeyResolver(store, ttl=3600)
        await warm.resolve(probe)
        database.counts.clear()
        opened.clear()
        with mock.patch.object(Keyring, "open", counting_open):
            warm_times = await _time_resolves(warm, probe, settings.lookup_iterations)
        warm_queries = sum(database.counts.values())
        warm_decrypts = opened["n"]
    finally:
        await database.close()
    return KeyLookup(
        stored_keys=STORED_KEYS,
        cold=summarize(cold_times),
        cold_default=summarize(cold_default),
        expired=summarize(expired_times),
        warm=summarize(warm_times),
        cold_queries=cold_queries,
        expired_queries=expired_queries,
        warm_queries=warm_queries,
        cold_decrypts_per_lookup=cold_decrypts,
        warm_decrypts=warm_decrypts,
        decrypt=decrypt,
    )


def _time_decrypts(keyring: Keyring, token: str, iterations: int) -> Summary:
    """Per-call seconds of opening one sealed GitHub token: what a cold lookup adds to its query."""
    sealed = keyring.seal(token, "github-token", "bench")
    times: list[float] = []
    for _ in range(iterations):
        started = time.perf_counter()
        keyring.open(sealed, "github-token", "bench")
        times.append(time.perf_counter() - started)
    return summarize(times)


@dataclass(frozen=True, slots=True)
class QueryCount:
    requests: int
    errors: int
    elapsed_s: float
    key_cache_ttl_s: float
    flush_interval_s: float
    by_query: dict[str, int]
    flush_statements: int
    flush_transactions: int
    key_lookups: int
    cache_refreshes: int  # key lookups explained by the cache TTL expiring during the window
    per_request_statements: int  # everything else: what scales with requests

    @property
    def queries_per_request(self) -> float:
        return self.per_request_statements / self.requests if self.requests else math.nan


async def _send(http: aiohttp.ClientSession, url: str, *, total: int, seconds: float) -> tuple[int, int]:
    """Send up to ``total`` requests, 10 at a time, for at most ``seconds``; (requests, errors)."""
    errors = 0
    sent = 0
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {BENCH_TOKEN}", "Content-Type": "application/json"}

    async def worker() -> None:
        nonlocal sent, errors
        while sent < total and time.monotonic() < deadline:
            sent += 1
            async with http.post(url, data=CHAT_BODY, headers=headers) as response:
                await response.read()
                errors += response.status != 200

    await asyncio.gather(*(worker() for _ in range(10)))
    return sent, errors


async def query_count(settings: Settings, workdir: Path) -> QueryCount:
    """Run ``create_app`` behind aiohttp's TestServer with a counting database; count a steady-state window."""
    url = await _migrated(workdir / "querycount.db")
    counting: list[CountingDatabase] = []

    async def open_counting(config: Config) -> Database:
        counting.append(CountingDatabase(await open_database(config)))
        return counting[-1]

    state = FakeUpstreamState(record=False)
    state.add_github_token(BENCH_TOKEN)
    async with running_fake_upstream(state=state) as fake:
        # A 1 s key-cache TTL puts several expiries in the window: each should cost exactly one lookup.
        config = Config(
            database=url,
            github_url=fake.url,
            github_api_url=fake.url,
            copilot_api_url=fake.url,
            log_level="warning",
            key_cache_ttl=KEY_CACHE_TTL,
            admin_loopback=True,  # the key is created from loopback, without a token
        )
        with mock.patch.object(proxyd.app, "open_database", open_counting):
            server = TestServer(proxyd.app.create_app(config), host="127.0.0.1")
            async with server, aiohttp.ClientSession() as http:
                async with http.post(server.make_url("/api/api-keys"), json={"name": "b", "key": BENCH_TOKEN}) as made:
                    if made.status != 201:
                        raise RuntimeError(f"creating the key answered {made.status}: {await made.text()}")
                chat = str(server.make_url("/v1/chat/completions"))
                await _send(http, chat, total=100, seconds=30)  # warm-up: key and Copilot token cached
                await asyncio.sleep(config.usage_flush_interval * 1.5)  # the warm-up's usage is written
                database = counting[0]
                database.counts.clear()
                transactions = database.transactions
                started = time.perf_counter()
                requests, errors = await _send(http, chat, total=1_000_000, seconds=settings.db_count_seconds)
                elapsed = time.perf_counter() - started
                counts = Counter(database.counts)
                flush_transactions = database.transactions - transactions
    flush = sum(n for name, n in counts.items() if name in FLUSH_QUERIES)
    lookups = sum(n for name, n in counts.items() if name in LOOKUP_QUERIES)
    refreshes = min(lookups, math.floor(elapsed / config.key_cache_ttl) + 1)
    return QueryCount(
        requests=requests,
        errors=errors,
        elapsed_s=elapsed,
        key_cache_ttl_s=config.key_cache_ttl,
        flush_interval_s=config.usage_flush_interval,
        by_query=dict(sorted(counts.items())),
        flush_statements=flush,
        flush_transactions=flush_transactions,
        key_lookups=lookups,
        cache_refreshes=refreshes,
        per_request_statements=sum(counts.values()) - flush - refreshes,
    )
