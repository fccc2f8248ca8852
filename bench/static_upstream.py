"""An upstream that answers every request at once with one fixed chat completion.

The fake upstream (``bench.fake_upstream``) is a full aiohttp app: behind proxyd
its own Python cost shares the machine with proxyd's and blurs what proxyd
adds. This server parses just enough HTTP/1.1 (request line, headers,
``Content-Length`` body, keep-alive) to answer from a prebuilt byte string, so
that the throughput rows through it show proxyd's own cost. It checks nothing:
token exchanges still go to the fake (proxyd's ``PROXYD_COPILOT_API_URL``
points here, its GitHub URLs at the fake).

``python -m bench.static_upstream --port 0`` prints ``STATIC_UPSTREAM_URL=...``
and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import orjson

_COMPLETION = orjson.dumps(
    {
        "id": "chatcmpl-static",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o",
        "system_fingerprint": "fp_static",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the static upstream"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11},
    }
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(_COMPLETION)).encode()
    + b"\r\nX-Request-Id: static\r\n\r\n"
    + _COMPLETION
)
_LENGTH = b"\r\ncontent-length:"


def _body_length(head: bytes) -> int:
    at = head.lower().find(_LENGTH)
    if at < 0:
        return 0
    end = head.find(b"\r\n", at + len(_LENGTH))
    return int(head[at + len(_LENGTH) : end if end >= 0 else len(head)])


class StaticHttp(asyncio.Protocol):
    """One connection: every complete request (pipelined ones too) gets ``RESPONSE``."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        answers = 0
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            try:
                total = end + 4 + _body_length(buffer[:end])
            except ValueError:  # not a number: not a client this server is for
                assert self._transport is not None
                self._transport.close()
                return
            if len(buffer) < total:
                break
            buffer = buffer[total:]
            answers += 1
        self._buffer = buffer
        if answers and self._transport is not None:
            self._transport.write(RESPONSE * answers)


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_server(StaticHttp, host, port, backlog=1024)
    bound = server.sockets[0].getsockname()
    print(f"STATIC_UPSTREAM_URL=http://{bound[0]}:{bound[1]}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.static_upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
