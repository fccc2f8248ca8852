"""Server-sent events: the one reader of Copilot's streams and the one writer of proxyd's.

Reading is incremental: bytes go in as they arrive and only the unfinished
line (and event) is kept. ``SseReader`` gives parsed events, for the relays
that translate them; ``EventCutter`` gives the bytes of whole events,
unchanged, for the relay that passes Copilot's stream through: it only finds
where events end and parses none (``events_in`` parses the few it is asked
to, the ones that carry usage). Both refuse a line longer than ``LINE_MAX``:
that is a broken or hostile stream, not an answer, and it raises
``SseLineTooLong`` (the relay ends the answer as it ends any broken upstream)
rather than growing without bound.

The writer frames events as each client API expects: chat completion chunks
as bare ``data:`` lines ended by ``data: [DONE]``; Responses and Messages
events, and the admin's device-flow events, with an ``event:`` line naming
their type. ``stream_response`` is the one response that carries a stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson
from aiohttp import web

from proxyd.errors import SseLineTooLong
from proxyd.translate.base import Api, Event

# The longest line a reader holds: far beyond any event Copilot sends (a whole tool call's arguments
# arrive in deltas), and small enough that a stream without line ends cannot exhaust memory.
LINE_MAX = 16 * 1024 * 1024
DONE = b"[DONE]"
CONTENT_TYPE = "text/event-stream"
HEADERS = {"Content-Type": CONTENT_TYPE, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _check_line(unfinished: bytes) -> None:
    """Raise if the unfinished line at the end of ``unfinished`` is longer than LINE_MAX."""
    if len(unfinished) > LINE_MAX and len(unfinished) - unfinished.rfind(b"\n") - 1 > LINE_MAX:
        raise SseLineTooLong(f"an SSE line longer than {LINE_MAX} bytes")


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
        _check_line(self._partial)
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


def events_in(data: bytes) -> list[tuple[str | None, bytes]]:
    """The events in ``data``, parsed; the last one even without its blank line."""
    reader = SseReader()
    return reader.feed(data) + reader.close()


class EventCutter:
    """Cuts a byte stream at the end of its last whole event, so it passes on one whole event or more at a time.

    A stream that breaks never leaves half an event in front of the error event
    the relay then writes.
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        """The whole events that ``chunk`` completes, unchanged (empty while the first is unfinished)."""
        data = self._held + chunk if self._held else chunk
        lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n")
        end = max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
        if end == len(data):
            self._held = b""
            return data
        self._held = data[end:]
        _check_line(self._held)
        return data[:end]

    def close(self) -> bytes:
        """What is left when the stream ends: an event without its blank line, if any."""
        held, self._held = self._held, b""
        return held


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


def stream_response(status: int = 200, headers: Mapping[str, str] | None = None) -> web.StreamResponse:
    """A response that carries events; ``headers`` (Copilot's, passed back) keep their own Content-Type."""
    response = web.StreamResponse(status=status, headers=headers)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
