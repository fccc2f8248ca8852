"""Server-sent events: the one reader of Copilot's streams and the one writer of proxyd's.

The reader is incremental: bytes go in as they arrive, complete events come
out, and only the unfinished line and event are kept. A line longer than
``LINE_MAX`` is a broken or hostile stream, not an answer: it raises
``SseLineTooLong`` rather than growing without bound.

The writer frames events as each client API expects: chat completion chunks
as bare ``data:`` lines ended by ``data: [DONE]``; Responses and Messages
events with an ``event:`` line naming their type.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from aiohttp import web

from proxyd.errors import SseLineTooLong
from proxyd.translate.base import Api, Event

LINE_MAX = 16 * 1024 * 1024
DONE = b"[DONE]"
HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class SseReader:
    """Cuts a byte stream into events: ``(name or None, data)``, ``data`` the joined ``data:`` lines."""

    __slots__ = ("_data", "_name", "_partial")

    def __init__(self) -> None:
        self._partial = b""
        self._name: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        data = self._partial + chunk if self._partial else chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > LINE_MAX:
            raise SseLineTooLong(f"an SSE line longer than {LINE_MAX} bytes")
        events: list[tuple[str | None, bytes]] = []
        for line in lines:
            self._line(line.removesuffix(b"\r"), events)
        return events

    def close(self) -> list[tuple[str | None, bytes]]:
        """The last event, when the stream ended without its blank line."""
        events: list[tuple[str | None, bytes]] = []
        if self._partial:
            self._line(self._partial.removesuffix(b"\r"), events)
            self._partial = b""
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[tuple[str | None, bytes]]) -> None:
        if not line:
            if self._data:
                events.append((self._name, b"\n".join(self._data)))
            self._name, self._data = None, []
            return
        field, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if field == b"data":
            self._data.append(value)
        elif field == b"event":
            self._name = value.decode("utf-8", "replace")
        # Comments (": keep-alive"), id and retry lines carry nothing proxyd passes on.


def frame(api: Api, events: Iterable[Event]) -> bytes:
    """``events`` in ``api``'s framing."""
    if api == "chat":
        return b"".join(b"data: " + orjson.dumps(data) + b"\n\n" for _, data in events)
    return b"".join(named(name or str(data.get("type", "message")), data) for name, data in events)


def named(name: str, data: object) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def end_of_stream(api: Api) -> bytes:
    """What closes a stream in ``api``'s framing, after its last event."""
    return b"data: [DONE]\n\n" if api == "chat" else b""


def stream_response(status: int = 200) -> web.StreamResponse:
    return web.StreamResponse(status=status, headers=HEADERS)
