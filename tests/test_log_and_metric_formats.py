"""Log lines and metric samples as written: JSON fields redacted, metric values exact."""

from __future__ import annotations

import logging

import aiohttp
import orjson
import pytest

from proxyd.logs import JsonFormatter
from proxyd.metrics import Counter, Histogram, Metrics
from tests.conftest import RunningProxy


def _json_line(fields: dict[str, object], message: str = "GET something") -> dict[str, object]:
    record = logging.LogRecord("proxyd.access", logging.INFO, __file__, 1, message, None, None)
    record.fields = fields
    result = orjson.loads(JsonFormatter().format(record))
    assert isinstance(result, dict)
    return result


def test_json_formatter_redacts_fields() -> None:
    token = "gho_abcdefghijklmnopqrstuvwxyz"
    copilot = "tid=0123456789abcdef;exp=1753546461;sku=free"
    line = _json_line(
        {
            "path": f"/v1/{token}",
            "status": 200,
            "duration_ms": 1.5,
            "key": None,
            "nested": {"header": f"Bearer {token}", "list": [copilot, 3]},
        },
        message=f"GET /v1/{token}",
    )
    text = orjson.dumps(line).decode()
    assert token not in text and "0123456789abcdef" not in text
    assert line["path"] == "/v1/gho_abcdef...[redacted]"
    assert line["message"] == "GET /v1/gho_abcdef...[redacted]"
    assert (line["status"], line["duration_ms"], line["key"]) == (200, 1.5, None)  # non-strings untouched


async def test_access_log_json_redacts_the_path(
    proxy: RunningProxy, sqlite_only: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Short enough for the suite's leak watch (which sees raw records), long enough for redact().
    token = "gho_abcdefghijkl"
    with caplog.at_level(logging.INFO, logger="proxyd.access"):
        async with aiohttp.ClientSession() as http, http.get(f"{proxy.url}/v1/{token}") as response:
            await response.read()
    (record,) = [r for r in caplog.records if r.name == "proxyd.access"]
    assert record.fields["path"] == f"/v1/{token}"  # type: ignore[attr-defined]
    line = JsonFormatter().format(record)
    assert token not in line and '"path":"/v1/gho_abcdef...[redacted]"' in line


def test_metric_values_are_exact() -> None:
    counter = Counter("c_total", "c")
    counter.inc(amount=1_234_567)
    counter.inc((("k", "v"),), amount=0.1)
    counter.inc((("k", "v"),), amount=0.2)
    lines = list(counter.render())
    assert "c_total 1234567" in lines
    assert 'c_total{k="v"} 0.30000000000000004' in lines

    histogram = Histogram("h_seconds", "h")
    histogram.observe(1_234_566.0)
    histogram.observe(1.0)
    histogram.observe(0.123456789, (("e", "x"),))
    lines = list(histogram.render())
    assert "h_seconds_sum 1234567" in lines
    assert 'h_seconds_sum{e="x"} 0.123456789' in lines
    assert 'h_seconds_bucket{le="0.005"} 0' in lines and 'h_seconds_bucket{le="+Inf"} 2' in lines

    metrics = Metrics()
    metrics.sample("s", "s", "gauge", lambda: [((), 7654321.0), ((("x", "y"),), 2.5e-7), ((("x", "z"),), 12)])
    text = metrics.render()
    assert "\ns 7654321\n" in text and 's{x="y"} 2.5e-07' in text and 's{x="z"} 12' in text
    assert "e+06" not in text
