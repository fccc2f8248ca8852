"""A small aiohttp load generator, run as its own process: ``python -m bench.loadgen '<spec json>'``.

Modes (see :class:`Spec`):

- ``closed``: ``concurrency`` workers send ``requests`` requests back to back;
- ``rate``: open loop, one request every ``1/rate`` s for ``seconds``, each on its own task;
- ``stream``: ``requests`` streamed answers, ``concurrency`` at a time, timing every SSE event (the gaps between
  those whose data line matches ``chunk_marker``, when set);
- ``hold``: open ``requests`` streams (``concurrency`` being set up at a time), print an ``open`` line once
  each has delivered its first event, hold them until stdin closes (or ``seconds`` pass), then close them.

Every mode is bounded by ``seconds``. Output: JSON lines on stdout, the last one ``{"event": "result", ...}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

from .procs import raise_nofile_limit
from .stats import summarize

_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, ConnectionError)


@dataclass(frozen=True, slots=True)
class Spec:
    mode: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    concurrency: int = 1
    requests: int = 0
    seconds: float = 30.0
    rate: float = 0.0
    last_event: str = "data: [DONE]"  # a streamed answer whose last data line does not start so is incomplete
    chunk_marker: str = ""  # stream: a regular expression; the events it matches are the chunks (empty: every one)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0

    def as_result(self, elapsed: float) -> dict[str, Any]:
        ok = sum(n for status, n in self.statuses.items() if 200 <= status < 300)
        return {
            "requests": len(self.latencies),
            "ok": ok,
            "errors": self.errors + len(self.latencies) - ok,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "elapsed_s": elapsed,
            "rps": len(self.latencies) / elapsed if elapsed > 0 else 0.0,
            "latency": asdict(summarize(self.latencies)),
        }

    async def post(self, session: aiohttp.ClientSession, spec: Spec) -> None:
        """Send one request and count it: its latency and status, or a network error."""
        started = time.perf_counter()
        try:
            async with session.post(spec.url, data=spec.body.encode(), headers=spec.headers) as response:
                await response.read()
        except _NETWORK_ERRORS:
            self.errors += 1
            return
        self.latencies.append(time.perf_counter() - started)
        self.statuses[response.status] += 1


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def closed(spec: Spec, session: aiohttp.ClientSession) -> dict[str, Any]:
    deadline = time.monotonic() + spec.seconds
    tally = _Tally()
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while sent < spec.requests and time.monotonic() < deadline:
            sent += 1
            await tally.post(session, spec)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    return tally.as_result(time.perf_counter() - started)


async def rate(spec: Spec, session: aiohttp.ClientSession) -> dict[str, Any]:
    tally = _Tally()
    lateness: list[float] = []
    interval = 1.0 / spec.rate
    total = int(spec.rate * spec.seconds)
    tasks: set[asyncio.Task[None]] = set()
    begin = time.perf_counter() + 0.05
    for i in range(total):
        scheduled = begin + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lateness.append(max(0.0, time.perf_counter() - scheduled))
        task = asyncio.create_task(tally.post(session, spec))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    result = tally.as_result(time.perf_counter() - begin)
    result["target_rps"] = spec.rate
    result["send_lateness"] = asdict(summarize(lateness))
    return result


async def _read_events(response: aiohttp.ClientResponse, on_event: Callable[[bytes], None]) -> None:
    async for line in response.content:
        if line.startswith(b"data:"):
            on_event(line)


async def stream(spec: Spec, session: aiohttp.ClientSession) -> dict[str, Any]:
    ttfb: list[float] = []
    first_chunk: list[float] = []
    gaps: list[float] = []
    durations: list[float] = []
    events_per_stream: list[int] = []
    chunks_per_stream: list[int] = []
    errors = 0
    incomplete = 0
    sent = 0
    deadline = time.monotonic() + spec.seconds
    is_chunk = re.compile(spec.chunk_marker.encode()).search
    last_event = spec.last_event.encode()

    async def one() -> None:
        nonlocal errors, incomplete
        started = time.perf_counter()
        arrivals: list[float] = []
        chunks: list[float] = []
        last = b""

        def on_event(line: bytes) -> None:
            nonlocal last
            arrivals.append(time.perf_counter())
            if is_chunk(line):
                chunks.append(arrivals[-1])
            last = line

        try:
            async with session.post(spec.url, data=spec.body.encode(), headers=spec.headers) as response:
                if response.status != 200:
                    errors += 1
                    await response.read()
                    return
                await _read_events(response, on_event)
        except _NETWORK_ERRORS:
            errors += 1
            return
        if not arrivals or not last.startswith(last_event):
            incomplete += 1
        if arrivals:
            ttfb.append(arrivals[0] - started)
            durations.append(arrivals[-1] - started)
            events_per_stream.append(len(arrivals))
            chunks_per_stream.append(len(chunks))
        if chunks:
            first_chunk.append(chunks[0] - started)
            gaps.extend(b - a for a, b in itertools.pairwise(chunks))

    async def worker() -> None:
        nonlocal sent
        while sent < spec.requests and time.monotonic() < deadline:
            sent += 1
            await one()

    def mean(counts: list[int]) -> float:
        return sum(counts) / len(counts) if counts else 0

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    return {
        "streams": len(ttfb),
        "errors": errors,
        "incomplete": incomplete,
        "elapsed_s": time.perf_counter() - started,
        "events_per_stream": mean(events_per_stream),
        "chunks_per_stream": mean(chunks_per_stream),
        "ttfb": asdict(summarize(ttfb)),
        "first_chunk": asdict(summarize(first_chunk)),
        "gap": asdict(summarize(gaps)),
        "duration": asdict(summarize(durations)),
    }


async def _stdin_closed() -> None:
    """Return once the parent closes our stdin (or writes a line)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.readline()


async def hold(spec: Spec, session: aiohttp.ClientSession) -> dict[str, Any]:
    gate = asyncio.Semaphore(spec.concurrency)
    opened = 0
    failed = 0
    all_settled = asyncio.Event()
    open_times: list[float] = []

    def settle() -> None:
        if opened + failed >= spec.requests:
            all_settled.set()

    async def one() -> None:
        nonlocal opened, failed
        is_open = False
        await gate.acquire()  # held until the first event: at most `concurrency` streams are being set up
        started = time.perf_counter()
        try:
            async with session.post(spec.url, data=spec.body.encode(), headers=spec.headers) as response:
                if response.status != 200:
                    raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
                async for line in response.content:
                    if not is_open and line.startswith(b"data:"):
                        is_open = True
                        gate.release()
                        opened += 1
                        open_times.append(time.perf_counter() - started)
                        settle()
        except _NETWORK_ERRORS:
            if not is_open:
                failed += 1
                settle()
        finally:
            if not is_open:
                gate.release()

    began = time.perf_counter()
    tasks = [asyncio.create_task(one()) for _ in range(spec.requests)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_settled.wait(), spec.seconds)
    emit("open", open=opened, failed=failed, ramp_s=time.perf_counter() - began)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_stdin_closed(), spec.seconds)
    still_open = sum(1 for task in tasks if not task.done())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "streams": spec.requests,
        "opened": opened,
        "failed": failed,
        "still_open_at_close": still_open,
        "open_latency": asdict(summarize(open_times)),
    }


_MODES: dict[str, Callable[[Spec, aiohttp.ClientSession], Awaitable[dict[str, Any]]]] = {
    "closed": closed,
    "rate": rate,
    "stream": stream,
    "hold": hold,
}


async def run(spec: Spec) -> dict[str, Any]:
    long_reads = spec.mode == "hold"
    timeout = aiohttp.ClientTimeout(total=None if long_reads else 60, sock_connect=10, sock_read=120)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        gc.collect()
        gc.freeze()  # the setup's objects need no more scanning: fewer, shorter GC pauses in the client
        return await _MODES[spec.mode](spec, session)


def main(argv: list[str]) -> int:
    raise_nofile_limit()
    spec = Spec(**json.loads(argv[0]))
    if spec.mode not in _MODES:
        print(f"unknown mode {spec.mode!r}", file=sys.stderr)
        return 2
    emit("result", **asyncio.run(run(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
