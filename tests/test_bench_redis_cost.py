"""bench/redis_cost.py runs against a real Redis and reports both stores' figures."""

from __future__ import annotations

from bench.redis_cost import measure


async def test_the_redis_cost_is_measured(redis_url: str) -> None:
    result = await measure(redis_url, requests=200, blocks=2, keys=5)
    assert set(result) == {"memory_p50_ms", "memory_p99_ms", "redis_p50_ms", "redis_p99_ms", "added_p50_ms"}
    assert 0 < result["memory_p50_ms"] < result["redis_p50_ms"]
