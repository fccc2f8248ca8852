"""Review fixes: the admin Host check (DNS rebinding), redacted JSON log fields, exact metric values, --count.

None of this depends on the database: everything here runs on SQLite.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import aiohttp
import orjson
import pytest

import proxyd.errors
from proxyd.cli import build_parser, main
from proxyd.config import Config
from proxyd.logs import JsonFormatter
from proxyd.metrics import Counter, Histogram, Metrics
from proxyd.netaddr import is_loopback_host
from tests.conftest import RunningProxy, run_proxy
from tests.fake_upstream import FakeUpstream

ADMIN_TOKEN = "review-admin-token-0123456789"
WRONG_HOST = {
    "statusCode": 403,
    "message": "Admin routes without a token accept Host: localhost or a loopback address only "
    "(PROXYD_ADMIN_TOKEN is unset)",
    "error": "Forbidden",
}


# --------------------------------------------------------------------------- 1. Host check (DNS rebinding)


async def _get(url: str, headers: dict[str, str]) -> tuple[int, object]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        body = await response.read()
        return response.status, orjson.loads(body) if body else None


async def test_loopback_mode_checks_the_host_header(proxy: RunningProxy, sqlite_only: None) -> None:
    assert proxy.config.admin_token is None
    port = proxy.url.rsplit(":", 1)[1]
    url = f"{proxy.base_url}/api-keys"
    # A page on a rebound domain: the browser connects to 127.0.0.1 but names the attacker's host.
    for host in (f"evil.example:{port}", "evil.example", f"localhost.evil.example:{port}", f"192.0.2.1:{port}"):
        assert await _get(url, {"Host": host}) == (403, WRONG_HOST), host
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost", f"LOCALHOST:{port}"):
        status, _ = await _get(url, {"Host": host})
        assert status == 200, host
    assert await proxy.store.find_all() == []


async def test_bearer_requests_ignore_the_host_header(
    proxy_config: Config, upstream: FakeUpstream, sqlite_only: None
) -> None:
    async with run_proxy(dataclasses.replace(proxy_config, admin_token=ADMIN_TOKEN), upstream) as proxy:
        url = f"{proxy.base_url}/api-keys"
        headers = {"Host": "proxyd.example.com", "Authorization": f"Bearer {ADMIN_TOKEN}"}
        assert (await _get(url, headers))[0] == 200
        # With an admin token configured, a missing token is a 401 whatever the Host.
        assert (await _get(url, {"Host": "localhost"}))[0] == 401


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("localhost:3000", True),
        ("LocalHost:3000", True),
        ("localhost.", True),
        ("127.0.0.1", True),
        ("127.0.0.1:3000", True),
        ("127.8.9.10:80", True),
        ("[::1]", True),
        ("[::1]:3000", True),
        ("[::ffff:127.0.0.1]:3000", True),
        (None, False),
        ("", False),
        ("evil.example", False),
        ("evil.example:3000", False),
        ("localhost.evil.example", False),
        ("evil.localhost.example", False),
        ("127.0.0.1.nip.io", False),
        ("127.1", False),
        ("10.0.0.1:3000", False),
        ("[2001:db8::1]:3000", False),
        ("::1", False),
        ("[::1", False),
        ("[::1]x", False),
        ("localhost:x", False),
        ("[127.0.0.1]", False),
    ],
)
def test_is_loopback_host(host: str | None, expected: bool) -> None:
    assert is_loopback_host(host) is expected


# --------------------------------------------------------------------------- 2. JSON log fields are redacted


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


# --------------------------------------------------------------------------- 3. metric values


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


# --------------------------------------------------------------------------- 4. migrate --count


@pytest.mark.parametrize("value", ["0", "-1", "-5", "abc", "1.5"])
def test_migrate_count_must_be_positive(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["migrate", "rollback", "--count", value])
    assert exited.value.code == 2
    assert "--count" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # main() refuses before reading any configuration
        main(["migrate", "rollback", f"--count={value}"])
    assert exited.value.code == 2


def test_migrate_count_accepts_positive_numbers() -> None:
    assert build_parser().parse_args(["migrate", "rollback", "--count", "3"]).count == 3
    assert build_parser().parse_args(["migrate", "rollback"]).count == 1


# --------------------------------------------------------------------------- 5. errors docstring


def test_errors_docstring_names_the_real_module() -> None:
    doc = proxyd.errors.__doc__ or ""
    assert "proxyd.http.errors" not in doc and "proxyd/http/middleware.py" in doc
    assert (Path(proxyd.errors.__file__).parent / "http" / "middleware.py").exists()
