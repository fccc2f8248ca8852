"""Metrics and logs: what operators see, and that no secret is ever in it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from bench.fake_upstream import FakeUpstream
from proxyd.config import Config
from proxyd.db.schema import Migrator
from proxyd.errors import ConfigError
from proxyd.keys.masking import mask_secret
from proxyd.logs import (
    JsonFormatter,
    TextFormatter,
    handler,
    log_redacted,
    redact,
    redact_query,
    redact_values,
    sole_writer,
)
from proxyd.runtime.server import client_base_urls
from tests.conftest import KNOWN_SECRETS, RunningProxy, find_leaks, run_proxy
from tests.daemon import Daemon

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


# --------------------------------------------------------------------------- log lines clients cannot forge

ADMIN_TOKEN = "observe-admin-token-0123456789"
BASIC = base64.b64encode(b"root:observe-password-42").decode()
API_KEY = "observe-api-key-0123456789"
KNOWN_SECRETS.update((ADMIN_TOKEN, BASIC, API_KEY))


@contextlib.contextmanager
def proxyd_log(fmt: str) -> Iterator[io.StringIO]:
    """What proxyd's own handler writes, while the block runs."""
    stream = io.StringIO()
    out = handler(fmt, stream)
    root = logging.getLogger()
    root.addHandler(out)
    try:
        yield stream
    finally:
        root.removeHandler(out)


async def raw_request(proxy: RunningProxy, data: bytes) -> bytes:
    host, port = proxy.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


FORGED_PATH = b"/v1/models%0d%0aINFO%20proxyd.access:%20GET%20/forged%20200%1b[2K?page=1%0d%0aINFO%20x&c=%1b[31m"


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_access_log_escapes_control_characters(proxy: RunningProxy, sqlite_only: None, fmt: str) -> None:
    with proxyd_log(fmt) as stream:
        answer = await raw_request(proxy, b"GET " + FORGED_PATH + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 404")
    lines = [line for line in stream.getvalue().splitlines() if "proxyd.access" in line]
    assert len(lines) == 1, lines  # one request, one line: no forged second one
    if fmt == "text":
        assert lines[0] == (
            "INFO proxyd.access: GET /v1/models\\r\\nINFO proxyd.access: GET /forged 200\\x1b[2K"
            "?page=1\\r\\nINFO x&c=\\x1b[31m 404 " + lines[0].split(" 404 ")[1]
        )
        assert "\x1b" not in stream.getvalue() and "\r" not in stream.getvalue()
    else:
        entry = orjson.loads(lines[0])
        assert entry["path"] == "/v1/models\r\nINFO proxyd.access: GET /forged 200\x1b[2K"
        assert entry["query"] == "page=1\r\nINFO x&c=\x1b[31m"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_an_access_line_written_directly_is_the_line_a_record_would_give(fmt: str) -> None:
    """With proxyd's handler alone on the way (the daemon's set-up), the access line skips the record, not a byte."""
    outputs = []
    for alone in (True, False):
        logger = logging.Logger("proxyd.access")  # outside the tree: the test run's own capture is not on its way
        stream = io.StringIO()
        logger.addHandler(handler(fmt, stream))
        if not alone:
            logger.addHandler(logging.NullHandler())
        assert (sole_writer(logger) is not None) is alone
        fields: dict[str, object] = {"path": "/v1/x\r\nINFO forged", "query": "api_key=sk-x", "status": 200}
        log_redacted(logger, logging.INFO, "GET /v1/x\r\nINFO forged 200 \x1b[2K", fields)
        logger.handlers[0].flush()
        outputs.append(stream.getvalue())
    direct, via_record = outputs
    assert direct.endswith("\n") and direct.count("\n") == 1
    if fmt == "json":  # the same but for the moment it was written
        assert {**orjson.loads(direct), "time": "-"} == {**orjson.loads(via_record), "time": "-"}
    else:
        assert direct == via_record


def test_text_format_escapes_every_message_and_indents_tracebacks() -> None:
    try:
        raise ValueError("bad value\nINFO proxyd.access: GET /forged 200")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "got %s", ("a\rb\x1b[31m\u2028c\x00",), sys.exc_info()
        )
    first, *rest = TextFormatter().format(record).split("\n")
    assert first == "ERROR x: got a\\rb\\x1b[31m\\u2028c\\x00"
    assert rest and all(line.startswith("  ") for line in rest)
    assert "  INFO proxyd.access: GET /forged 200" in rest


def test_json_format_survives_undecodable_bytes() -> None:
    # aiohttp decodes header bytes with surrogateescape: such a value must not break the log line.
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "header %s", ("\udcff\x1b",), None)
    assert orjson.loads(JsonFormatter().format(record))["message"] == "header \\udcff\x1b"
    assert TextFormatter().format(record) == "INFO x: header \\udcff\\x1b"


@pytest.mark.parametrize(
    "text",
    [
        f"b'Authorization: Bearer {ADMIN_TOKEN}\\x01'",
        f"b'GET / HTTP/1.1\\r\\nauthorization: token {ADMIN_TOKEN}\\r\\nHost: x\\r\\n'",
        f"Authorization: Basic {BASIC}\nnext line",
        f"PROXY-AUTHORIZATION: Basic {BASIC}",
        f"{{'Authorization': 'Bearer {ADMIN_TOKEN}', 'Host': 'x'}}",
        f"<CIMultiDict('X-Api-Key': '{API_KEY}')>",
        f'{{"authorization":"Bearer {ADMIN_TOKEN}","x-api-key":"{API_KEY}"}}',
        f'{{\\"Authorization\\": \\"Bearer {ADMIN_TOKEN}\\"}}',
        f'Authorization: Digest username="root", response="{ADMIN_TOKEN}", nonce="n"',
        f"authorization={ADMIN_TOKEN}",
        f"x-api-key: {API_KEY}",
        f"postgresql://proxyd:{ADMIN_TOKEN}@db:5432/proxyd",
    ],
    ids=lambda text: "shape",  # not the secrets, and not a dialect name, in test ids
)
def test_redaction_covers_every_scheme_and_shape(text: str) -> None:
    redacted = redact(text)
    assert ADMIN_TOKEN not in redacted and BASIC not in redacted and API_KEY not in redacted
    assert "[redacted]" in redacted
    assert redact(redacted) == redacted


def test_redaction_keeps_what_is_not_a_secret() -> None:
    for text in (
        "Authorization must be 'Bearer <admin token>'",
        "device flow failed: GitHub refused the device authorization: The authorization request was denied.",
        "b'X-Bad: \\x01'",
        "Authorization: \nHost: x",
        "listening on http://127.0.0.1:3000/api",
        "GET /v1/models 200 1.2ms key=gho_abcdef...wxyz1 model=gpt-4o",
    ):
        assert redact(text) == text
    assert redact("b'Authorization: Bearer x\\r\\nHost: y'") == "b'Authorization: [redacted]\\r\\nHost: y'"


BAD_HEADER_LINES = [
    # The invalid byte on the credential's own line: aiohttp quotes that line in its error.
    f"Authorization: Bearer {ADMIN_TOKEN}\x01\r\n",
    f"authorization: token {ADMIN_TOKEN}\x7f\r\n",
    f"Authorization: Basic {BASIC}\x01\r\n",
    f"Proxy-Authorization: Basic {BASIC}\x01\r\n",
    f"X-Api-Key: {API_KEY}\x01\r\n",
    f"Authorization : Bearer {ADMIN_TOKEN}\r\n",  # invalid header name
    f"Authorization: Bearer {ADMIN_TOKEN}\nX-Next: y\r\n",  # bare LF
    # ... or on another line.
    f"Authorization: Bearer {ADMIN_TOKEN}\r\nX-Bad: \x01\r\n",
]


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_bad_header_line_never_logs_the_credential(
    proxy: RunningProxy, sqlite_only: None, caplog: pytest.LogCaptureFixture, fmt: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    with proxyd_log(fmt) as stream:
        for line in BAD_HEADER_LINES:
            answer = await raw_request(proxy, b"GET /api/api-keys HTTP/1.1\r\nHost: x\r\n" + line.encode() + b"\r\n")
            assert answer.startswith(b"HTTP/1.0 400")
    # aiohttp did log the raw header lines, credentials included ...
    logged = caplog.text  # formatted as each record came, before proxyd's handler redacted it
    assert ADMIN_TOKEN in logged and BASIC in logged and API_KEY in logged
    # ... and none of them reached proxyd's log.
    written = stream.getvalue()
    assert written.count("Error handling request") == len(BAD_HEADER_LINES)
    assert ADMIN_TOKEN not in written and BASIC not in written and API_KEY not in written
    assert written.count("[redacted]") >= len(BAD_HEADER_LINES) - 1
    assert not find_leaks(written)


async def test_daemon_log_escapes_and_redacts(config: Config, sqlite_only: None) -> None:
    """The real `proxyd serve` wires the redaction and escaping into its handler."""
    await asyncio.to_thread(Migrator(config.database).apply)
    daemon = Daemon({"DATABASE_URL": config.database.raw, "PROXYD_ADMIN_TOKEN": ADMIN_TOKEN})
    await daemon.start()
    try:
        for request in (
            b"GET " + FORGED_PATH + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            f"GET /api/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\x01\r\n\r\n".encode(),
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", daemon.port)
            writer.write(request)
            await reader.read()
            writer.close()
            await writer.wait_closed()
    finally:
        assert await daemon.stop() == 0  # also checks the output for secrets
    output = daemon.output.decode()
    assert "\x1b" not in output and "\r" not in output
    (access,) = [line for line in output.splitlines() if "proxyd.access" in line]
    assert access.startswith("INFO proxyd.access: GET /v1/models\\r\\nINFO proxyd.access: GET /forged 200\\x1b[2K?")
    assert "Authorization: [redacted]" in output and ADMIN_TOKEN not in output
    root = f"http://127.0.0.1:{daemon.port}"
    assert (
        f"INFO proxyd: proxyd listening on {root}: OpenAI clients use base URL {root}/v1, "
        f"Anthropic clients (Claude Code: ANTHROPIC_BASE_URL) {root}, legacy clients {root}/api\n"
    ) in output


def test_the_start_up_line_gives_each_kind_of_client_its_base_url() -> None:
    assert client_base_urls("::1", 3000, "") == (
        "http://[::1]:3000: OpenAI clients use base URL http://[::1]:3000/v1, "
        "Anthropic clients (Claude Code: ANTHROPIC_BASE_URL) http://[::1]:3000, legacy clients http://[::1]:3000"
    )
    for everywhere in ("0.0.0.0", "::"):  # noqa: S104 (what PROXYD_HOST may be)
        assert client_base_urls(everywhere, 8080, "/api").startswith(
            "http://<this host>:8080: OpenAI clients use base URL http://<this host>:8080/v1, "
        )
    assert client_base_urls("proxyd.lan", 80, "/api").endswith("legacy clients http://proxyd.lan:80/api")


# --------------------------------------------------------------------------- credentials by shape, value and name

CLIENT_KEY = "pxd_" + "Observe0123456789abcdefghijklmnopqrstuvwxy"
SHORT_ADMIN_TOKEN = "plain-admin-token-42"  # no shape: only its value gives it away
KNOWN_SECRETS.update((CLIENT_KEY, SHORT_ADMIN_TOKEN))

# Header lines aiohttp refuses for their *name*, and quotes whole in its error log.
BAD_HEADER_NAMES = [
    "Authorization\x01: Bearer {secret}",
    "Authorization(: Bearer {secret}",
    "x-api-key\x7f: {secret}",
    "X-Api-Key\x00: {secret}",
    "Authorization\x01\x02: token {secret}",
]


@pytest.mark.parametrize(
    "text",
    [
        f"b'Authorization\\x01: Bearer {SHORT_ADMIN_TOKEN}'",
        f"b'Authorization(: Bearer {SHORT_ADMIN_TOKEN}'",
        f"b'x-api-key\\x7f: {API_KEY}'",
        f"Authorization\x01: Bearer {ADMIN_TOKEN}",
        f"key {CLIENT_KEY} was refused",
        f"GET /v1/models?api_key={API_KEY}&page=1 200",
        f"GET /v1/models?page=1&token={ADMIN_TOKEN} 200",
        f"/callback?access_token={ADMIN_TOKEN}&x=1",
        f"/x?client_secret={API_KEY};X-Api-Key={API_KEY}#frag",
    ],
    ids=lambda text: "shape",
)
def test_redaction_by_shape_and_by_name(text: str) -> None:
    redacted = redact(text)
    for secret in (ADMIN_TOKEN, SHORT_ADMIN_TOKEN, API_KEY, CLIENT_KEY):
        assert secret not in redacted, redacted
    assert redact(redacted) == redacted


def test_redaction_by_value_and_what_it_keeps() -> None:
    value = "no-shape-at-all-but-a-secret"
    assert redact(f"bearer {value}!") == f"bearer {value}!"
    redact_values(value, None, "short")
    assert redact(f"bearer {value}!") == "bearer [redacted]!"
    assert redact("a short word") == "a short word"  # too short to redact by value
    assert redact(f"client key {CLIENT_KEY}") == "client key pxd_Observ...[redacted]"
    assert redact("key=pxd_abcdef... model=gpt-4o") == "key=pxd_abcdef... model=gpt-4o"  # a masked key stays
    for text in ("GET /v1/models?page=1&limit=50&model=gpt-4o 200", "monkey=1", "?keys=3", "GET /api/api-keys 200"):
        assert redact(text) == text
    assert redact_query("api_key=x&model=gpt-4o") == "api_key=[redacted]&model=gpt-4o"


async def test_access_log_redacts_credentials_in_the_query(
    proxy: RunningProxy, sqlite_only: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="proxyd.access"):
        query = {"api_key": CLIENT_KEY, "token": SHORT_ADMIN_TOKEN, "page": "2"}
        async with aiohttp.ClientSession() as http, http.get(f"{proxy.url}/v1/models", params=query) as r:
            await r.read()
    (record,) = [r for r in caplog.records if r.name == "proxyd.access"]
    # Redacted in the record itself, before any formatter: both the message and the JSON field.
    assert "?api_key=[redacted]&token=[redacted]&page=2 " in record.getMessage()
    assert record.fields["query"] == "api_key=[redacted]&token=[redacted]&page=2"  # type: ignore[attr-defined]


@pytest.mark.parametrize("token_source", ["variable", "file"])
async def test_daemon_never_logs_a_credential_in_a_malformed_header_name(
    config: Config, sqlite_only: None, tmp_path: Path, token_source: str
) -> None:
    """aiohttp quotes the refused line whole: the pxd_ key and the admin token (set or generated) stay out."""
    await asyncio.to_thread(Migrator(config.database).apply)
    token_file = tmp_path / "admin-token"
    env = {"DATABASE_URL": config.database.raw, "PROXYD_ADMIN_LOOPBACK": "0"}
    if token_source == "variable":
        env["PROXYD_ADMIN_TOKEN"] = SHORT_ADMIN_TOKEN
    else:
        env["PROXYD_ADMIN_TOKEN_FILE"] = str(token_file)
    daemon = Daemon(env)
    await daemon.start()
    admin_token = SHORT_ADMIN_TOKEN if token_source == "variable" else token_file.read_text().strip()
    KNOWN_SECRETS.add(admin_token)  # daemon.stop() fails if its output shows it
    try:
        for line in BAD_HEADER_NAMES:
            for secret in (CLIENT_KEY, admin_token):
                header = line.format(secret=secret)
                request = f"GET /api/api-keys HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n".encode()
                reader, writer = await asyncio.open_connection("127.0.0.1", daemon.port)
                writer.write(request)
                assert (await reader.read()).startswith(b"HTTP/1.0 400")
                writer.close()
                await writer.wait_closed()
        async with aiohttp.ClientSession() as http:
            query = {"api_key": CLIENT_KEY, "access_token": admin_token, "model": "gpt-4o"}
            async with http.get(f"{daemon.url}/v1/models", params=query, headers={"Host": "x"}) as r:
                await r.read()
    finally:
        assert await daemon.stop() == 0  # also checks the output for secrets
    output = daemon.output.decode()
    assert output.count("Error handling request") == 2 * len(BAD_HEADER_NAMES)
    assert CLIENT_KEY not in output and admin_token not in output
    assert "GET /v1/models?api_key=[redacted]&access_token=[redacted]&model=gpt-4o " in output


# --------------------------------------------------------------------------- PROXYD_METRICS_TOKEN

METRICS_TOKEN = "metrics-token-0123456789abcdef"
KNOWN_SECRETS.add(METRICS_TOKEN)


async def test_metrics_token_guards_the_metrics(config: Config, upstream: FakeUpstream, sqlite_only: None) -> None:
    guarded = dataclasses.replace(config, metrics_token=METRICS_TOKEN)
    async with run_proxy(guarded, upstream) as proxy, aiohttp.ClientSession() as http:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-0123456789abcdef"},
            {"Authorization": f"token {METRICS_TOKEN}"},
            {"Authorization": f"Bearer {METRICS_TOKEN}x"},
        ):
            async with http.get(f"{proxy.url}/metrics", headers=headers) as r:
                assert r.status == 401
                assert r.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
                body = await r.json()
                assert body == {
                    "statusCode": 401,
                    "message": "Metrics need 'Authorization: Bearer <PROXYD_METRICS_TOKEN>'",
                    "error": "Unauthorized",
                }
        headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        async with http.get(f"{proxy.url}/metrics", headers=headers) as r:
            assert r.status == 200 and "proxyd_http_requests_total" in await r.text()
        async with http.get(f"{proxy.url}/healthz") as r:  # the probes stay open
            assert r.status == 200


def test_metrics_token_variable() -> None:
    assert Config.from_env({}).metrics_token is None
    assert Config.from_env({"PROXYD_METRICS_TOKEN": METRICS_TOKEN}).metrics_token == METRICS_TOKEN
    assert METRICS_TOKEN not in repr(Config.from_env({"PROXYD_METRICS_TOKEN": METRICS_TOKEN}))
    for bad in ("short", "has a space in it 0123456789"):
        with pytest.raises(ConfigError, match=r"^PROXYD_METRICS_TOKEN: expected at least 16 printable"):
            Config.from_env({"PROXYD_METRICS_TOKEN": bad})
