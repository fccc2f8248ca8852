"""Metrics and logs: what operators see, and that no secret is ever in it."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from proxyd.logs import JsonFormatter, TextFormatter, redact
from proxyd.masking import mask_secret
from tests.conftest import RunningProxy

GITHUB_TOKEN = "gho_observe00000000000000000000000000001"


async def _use(proxy: RunningProxy) -> None:
    proxy.upstream.state.add_github_token(GITHUB_TOKEN)
    await proxy.store.create("observed", GITHUB_TOKEN)
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {GITHUB_TOKEN}"}
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(2):
            async with http.post(f"{proxy.url}/v1/chat/completions", json=body, headers=headers) as r:
                assert r.status == 200


async def test_metrics(proxy: RunningProxy, sqlite_only: None) -> None:
    await _use(proxy)
    async with aiohttp.ClientSession() as http, http.get(f"{proxy.url}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await r.text()
    assert 'proxyd_http_requests_total{route="/v1/chat/completions",method="POST",status="200"} 2' in text
    assert 'proxyd_upstream_latency_seconds_count{endpoint="/chat/completions"} 2' in text
    assert "proxyd_token_exchanges_total 1" in text
    assert "proxyd_token_cache_hits_total 1" in text
    assert 'proxyd_key_cache_total{outcome="hit"} 1' in text
    assert 'proxyd_db_pool_connections{state="idle"}' in text
    assert "proxyd_usage_buffered_entries" in text and "proxyd_usage_dropped_total 0" in text


async def test_access_log_line(proxy: RunningProxy, sqlite_only: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="proxyd.access"):
        await _use(proxy)
    lines = [r for r in caplog.records if r.name == "proxyd.access"]
    assert len(lines) == 2
    message = lines[0].getMessage()
    assert message.startswith("POST /v1/chat/completions 200 ")
    assert f"key={mask_secret(GITHUB_TOKEN)}" in message and "model=gpt-4o" in message
    assert GITHUB_TOKEN not in caplog.text
    json_line = JsonFormatter().format(lines[0])
    assert '"status":200' in json_line and '"model":"gpt-4o"' in json_line and GITHUB_TOKEN not in json_line


def test_formatters_redact_secrets_that_slip_through() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "token %s and copilot %s", (GITHUB_TOKEN, "tid=abc;exp=1;sku=x"), None
    )
    for formatter in (TextFormatter(), JsonFormatter()):
        out = formatter.format(record)
        assert GITHUB_TOKEN not in out and "tid=abc;exp" not in out
    assert redact("plain text") == "plain text"
