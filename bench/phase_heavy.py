"""Worst-case bodies against the event loop: ``/healthz`` polled while four of a kind are handled at once.

Three kinds, each as large as proxyd lets a body be: a ~31 MB ``count_tokens`` of many short messages
(parsed, translated and estimated, nothing sent upstream), a ``/v1/messages`` body just under
``PROXYD_MAX_BODY_BYTES`` packed with small image blocks for gpt-4.1 (translated to a chat completion, which the
fake answers), and a ~1 MB gzip body that would inflate to 1 GiB (inflated up to the limit, then a 413). While
four requests of a kind are in flight, a thread polls ``GET /healthz`` every 10 ms on a connection of its own:
its latency is how long the event loop was held. Goal: under 100 ms, worst poll included.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import itertools
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from proxyd.http.json_values import count_values, more_values_than
from proxyd.limits import MAX_JSON_VALUES

from .services import ANTHROPIC_VERSION, Proxyd
from .settings import Settings
from .stats import Summary, summarize

HEALTHZ_LIMIT_MS = 100.0
POLL_INTERVAL = 0.010
MAX_BODY_BYTES = 32 * 1024 * 1024  # proxyd's default PROXYD_MAX_BODY_BYTES, which the benchmark leaves alone
COUNT_TOKENS_BYTES = 31_000_000
INFLATED_BYTES = 1 << 30  # what the gzip body would inflate to
_QUIET = 0.2  # seconds polled before the first request and after the last answer
IDLE_SECONDS = 1.0  # /healthz polled alone first
_MiB = 1 << 20

# One short message, one image block: many small JSON values per byte are what parsing and translating cost.
_MESSAGE = b'{"role":"user","content":[{"type":"text","text":"Say hello"}]}'
_IMAGE = b'{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}'
_SMALL_REQUEST = b'{"model":"gpt-4.1","max_tokens":16,"messages":[{"role":"user","content":"Say hello"}]'


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of worst-case request: where it goes, its body, and the answer it should get."""

    name: str
    description: str
    path: str
    body: bytes
    expected_status: int
    headers: tuple[tuple[str, str], ...] = ()


def packed(head: bytes, item: bytes, tail: bytes, size: int) -> tuple[bytes, int]:
    """``head``, as many comma-separated ``item``s as fit in ``size`` bytes in all, ``tail``; and their number."""
    count = (size - len(head) - len(tail) + 1) // (len(item) + 1)
    return head + b",".join(itertools.repeat(item, count)) + tail, count


def gzip_of_spaces(inflated: int) -> bytes:
    """A valid gzip body that inflates to a JSON request ``inflated`` bytes long, nearly all spaces.

    Built from one compressed MiB of spaces repeated: after a full flush deflate starts afresh, so each
    MiB compresses to the same bytes; no GiB is ever held or compressed here.
    """
    spaces = b" " * _MiB
    middles, rest = divmod(inflated - len(_SMALL_REQUEST) - 1, _MiB)
    head, tail = _SMALL_REQUEST, b" " * rest + b"}"
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)
    middle = deflate.compress(spaces) + deflate.flush(zlib.Z_FULL_FLUSH)
    last = deflate.compress(tail) + deflate.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    for _ in range(middles):
        crc = zlib.crc32(spaces, crc)
    trailer = struct.pack("<II", zlib.crc32(tail, crc), inflated & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first + middle * middles + last + trailer


def _packed_json(head: bytes, item: bytes, tail: bytes, size: int, values: int) -> tuple[bytes, int]:
    """:func:`packed` with no more items than leave the body within ``values`` JSON values (proxyd's count)."""
    per_item = count_values(item) + 1  # and its comma
    most = (values - count_values(head + tail)) // per_item
    return packed(head, item, tail, min(size, len(head) + len(tail) + most * (len(item) + 1)))


def _json_kind(name: str, path: str, body: bytes, what: str) -> Kind:
    """A JSON kind: answered (200) when proxyd would parse it, refused (400) when it holds too many values."""
    refused = more_values_than(body, MAX_JSON_VALUES)
    return Kind(name, f"{len(body) / 1e6:.1f} MB, {what}", path, body, 400 if refused else 200)


def kinds(scale: float) -> list[Kind]:
    """Each kind, its sizes times ``scale`` (a smoke run sends smaller bodies).

    The two JSON kinds twice: as large as proxyd takes bodies (what the issue measured), and with as many
    items as proxyd's value limit lets a body hold (MAX_JSON_VALUES), the worst body proxyd parses.
    """
    found = []
    for name, path, head, item, tail, size, what in (
        (
            "count_tokens",
            "/v1/messages/count_tokens",
            b'{"model":"claude-sonnet-4","messages":[',
            _MESSAGE,
            b"]}",
            int(COUNT_TOKENS_BYTES * scale),
            "messages",
        ),
        (
            "images",
            "/v1/messages",
            b'{"model":"gpt-4.1","max_tokens":16,"messages":[{"role":"user","content":[',
            _IMAGE,
            b"]}]}",
            int(MAX_BODY_BYTES * scale) - 1024,
            "image blocks, gpt-4.1 (translated to chat)",
        ),
    ):
        body, count = packed(head, item, tail, size)
        found.append(_json_kind(name, path, body, f"{count:,} {what}"))
        body, count = _packed_json(head, item, tail, size, int(MAX_JSON_VALUES * scale))
        found.append(_json_kind(f"{name} at the value limit", path, body, f"{count:,} {what}"))
    inflated = int(INFLATED_BYTES * scale)
    gzipped = gzip_of_spaces(inflated)
    what = f"{len(gzipped) / 1e6:.2f} MB of gzip inflating to {inflated / _MiB:,.0f} MiB"
    found.append(Kind("gzip", what, "/v1/messages", gzipped, 413, (("Content-Encoding", "gzip"),)))
    return found


@dataclass(frozen=True, slots=True)
class HeavyRun:
    kind: str
    description: str
    body_bytes: int
    requests: int
    statuses: dict[str, int]  # status (or the network error's name) -> requests
    expected_status: int
    handled_s: float  # from the first request sent to the last answer
    healthz: Summary  # the polls' latencies
    healthz_failed: int

    @property
    def as_expected(self) -> bool:
        return self.statuses == {str(self.expected_status): self.requests}

    @property
    def met(self) -> bool:
        return self.as_expected and self.healthz_failed == 0 and self.healthz.max_ms < HEALTHZ_LIMIT_MS


@dataclass(frozen=True, slots=True)
class Heavy:
    concurrency: int
    poll_interval_ms: float
    runs: list[HeavyRun]
    idle: Summary  # /healthz polled with nothing else sent: what the machine itself adds (other jobs on it)


class _Poller:
    """GET /healthz every POLL_INTERVAL on one keep-alive connection, in a thread of its own."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._stop = threading.Event()
        self.latencies: list[float] = []
        self.failed = 0

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(*self._address, timeout=60)

    def run(self) -> None:
        connection = self._connection()
        try:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    connection.request("GET", "/healthz")
                    response = connection.getresponse()
                    response.read()
                    if response.status == 200:
                        self.latencies.append(time.perf_counter() - started)
                    else:
                        self.failed += 1
                except (OSError, http.client.HTTPException):
                    self.failed += 1
                    connection.close()
                    connection = self._connection()
                self._stop.wait(max(0.0, started + POLL_INTERVAL - time.perf_counter()))
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()


async def _post(http: aiohttp.ClientSession, url: str, kind: Kind, headers: dict[str, str]) -> str:
    try:
        async with http.post(url, data=kind.body, headers=headers) as response:
            await response.read()
            return str(response.status)
    except (aiohttp.ClientError, TimeoutError) as exc:  # counted, not raised: the report shows it
        return type(exc).__name__


@contextlib.asynccontextmanager
async def _polling(url: str) -> AsyncIterator[_Poller]:
    poller = _Poller(url)
    thread = asyncio.create_task(asyncio.to_thread(poller.run))
    try:
        await asyncio.sleep(_QUIET)
        yield poller
        await asyncio.sleep(_QUIET)
    finally:
        poller.stop()
        await thread


async def run_kind(url: str, github_token: str, kind: Kind, concurrency: int) -> HeavyRun:
    """``concurrency`` requests of ``kind`` sent at once to the proxyd at ``url``, /healthz polled meanwhile."""
    headers = {
        "x-api-key": github_token,
        "anthropic-version": ANTHROPIC_VERSION,
        "Content-Type": "application/json",
        **dict(kind.headers),
    }
    timeout = aiohttp.ClientTimeout(total=300)
    async with (
        aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=concurrency)) as http,
        _polling(url) as poller,
    ):
        started = time.perf_counter()
        statuses = await asyncio.gather(*(_post(http, url + kind.path, kind, headers) for _ in range(concurrency)))
        handled = time.perf_counter() - started
    return HeavyRun(
        kind=kind.name,
        description=kind.description,
        body_bytes=len(kind.body),
        requests=concurrency,
        statuses=dict(Counter(statuses)),
        expected_status=kind.expected_status,
        handled_s=handled,
        healthz=summarize(poller.latencies),
        healthz_failed=poller.failed,
    )


async def heavy(settings: Settings, proxyd: Proxyd, github_token: str) -> Heavy:
    """/healthz alone first, then each kind in turn: its bodies built once (in a thread: ~100 MB of bytes)."""
    async with _polling(proxyd.url) as poller:
        await asyncio.sleep(IDLE_SECONDS)
    idle = summarize(poller.latencies)
    built = await asyncio.to_thread(kinds, settings.heavy_scale)
    runs = []
    for kind in built:
        runs.append(await run_kind(proxyd.url, github_token, kind, settings.heavy_requests))
    return Heavy(settings.heavy_requests, POLL_INTERVAL * 1000, runs, idle)
