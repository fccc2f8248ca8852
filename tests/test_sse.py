"""The one SSE module: the pass-through cutter and the parsing reader share one line cap."""

from __future__ import annotations

import pytest

from proxyd import sse
from proxyd.errors import SseLineTooLong
from proxyd.gateway.relay import _usage_in

STREAM = (
    b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
    b": keep-alive\r\n\r\n"
    b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":6}}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_the_cutter_passes_whole_events_unchanged(size: int) -> None:
    cutter = sse.EventCutter()
    passed = [cutter.feed(STREAM[i : i + size]) for i in range(0, len(STREAM), size)]
    assert cutter.close() == b""
    assert b"".join(passed) == STREAM
    assert all(part.endswith((b"\n\n", b"\r\n\r\n")) for part in passed if part)  # never half an event


def test_usage_is_read_only_from_events_that_mention_it() -> None:
    assert _usage_in(b'data: {"choices":[]}\n\n', None) is None
    assert _usage_in(STREAM, None) == (5, 6, 11)
    assert _usage_in(b'data: {"usage": not json}\n\n', (1, 2, 3)) == (1, 2, 3)
    # The last event of a stream that ended without its blank line counts too.
    assert _usage_in(b'data: {"usage":{"total_tokens":3}}', None) == (None, None, 3)


def test_one_line_cap_for_both_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "LINE_MAX", 16)
    # Many short lines in one unfinished event are no long line.
    assert sse.EventCutter().feed(b"data: 1\n" * 10) == b""
    assert sse.SseReader().feed(b"data: 1\n" * 10) == []
    for reader in (sse.EventCutter(), sse.SseReader()):
        reader.feed(b"data: 0123456789")
        with pytest.raises(SseLineTooLong):
            reader.feed(b"0123456789")


def test_stream_response_keeps_copilots_content_type() -> None:
    passed = sse.stream_response(200, {"Content-Type": "text/event-stream; charset=utf-8", "x-request-id": "r"})
    assert passed.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert passed.headers["Cache-Control"] == "no-cache" and passed.headers["X-Accel-Buffering"] == "no"
    assert sse.stream_response().headers["Content-Type"] == sse.CONTENT_TYPE
