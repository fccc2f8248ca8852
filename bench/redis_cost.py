"""What sharing the limits through Redis adds to a client-key request: ``python -m bench.redis_cost``.

A client key with rpm and monthlyRequests is admitted (``ClientKeyLimits.admit``: the monthly counter, then the
rpm window) over and over, in this process's memory and through a private ``redis-server`` on loopback
(``tests/dbservers.py``), alternating blocks of each so that the machine's other load weighs on both alike.
Prints the p50 and p99 per admission of each, and what Redis adds at p50 (target: at most 0.3 ms).
Pass ``--redis-url`` to measure against a Redis of your own instead (its ``proxyd-bench:`` keys are left to expire).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator

from redis.asyncio import Redis

from proxyd.gateway.client_limits import ClientKeyLimits
from proxyd.keys.client_keys import ClientKey, ClientKeySettings
from proxyd.sharedstate.base import SharedState
from proxyd.sharedstate.failopen import FailOpenState
from proxyd.sharedstate.memory import MemoryState
from proxyd.sharedstate.redis import RedisState

TARGET_MS = 0.3


def _key(index: int) -> ClientKey:
    settings = ClientKeySettings(name="bench", rpm=1_000_000_000, monthly_requests=1_000_000_000)
    return ClientKey(id=f"bench-{index}", settings=settings, prefix="pxd_bench", created_at=0)


async def _admissions(state: SharedState, n: int, keys: int) -> list[float]:
    limits = ClientKeyLimits(state)
    each = [_key(i) for i in range(keys)]
    took = []
    for i in range(n):
        started = time.perf_counter()
        await limits.admit(each[i % keys], "gpt-4o")
        took.append((time.perf_counter() - started) * 1000)
    return took


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def measure(url: str, *, requests: int, blocks: int, keys: int) -> dict[str, float]:
    client = Redis.from_url(url)
    shared = FailOpenState(MemoryState(), timeout=1.0)
    shared.attach(RedisState(client, prefix="proxyd-bench:"))
    memory: list[float] = []
    redis: list[float] = []
    try:
        await _admissions(shared, 200, keys)  # warm up: scripts loaded, connections open
        await _admissions(MemoryState(), 200, keys)
        for _ in range(blocks):
            memory += await _admissions(MemoryState(), requests // blocks, keys)
            redis += await _admissions(shared, requests // blocks, keys)
        assert shared.failures == 0, "Redis failed during the run"
    finally:
        await client.aclose()
    result = {
        "memory_p50_ms": statistics.median(memory),
        "memory_p99_ms": _percentile(memory, 0.99),
        "redis_p50_ms": statistics.median(redis),
        "redis_p99_ms": _percentile(redis, 0.99),
    }
    result["added_p50_ms"] = result["redis_p50_ms"] - result["memory_p50_ms"]
    return result


@contextlib.contextmanager
def _private_redis() -> Iterator[str]:
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    from tests.dbservers import redis_server

    with redis_server() as server:
        yield server.url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", help="a Redis of your own (default: a private redis-server on loopback)")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--keys", type=int, default=100)
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        url = args.redis_url or stack.enter_context(_private_redis())
        result = asyncio.run(measure(url, requests=args.requests, blocks=args.blocks, keys=args.keys))
    print(json.dumps({k: round(v, 4) for k, v in result.items()}, indent=2))
    verdict = "within" if result["added_p50_ms"] <= TARGET_MS else "OVER"
    added = result["added_p50_ms"]
    print(f"Redis adds {added:.3f} ms at p50 per client-key admission ({verdict} the {TARGET_MS} ms target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
