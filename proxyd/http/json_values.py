"""How many values a JSON body holds, counted a step at a time before it is parsed.

Parsing a body (``orjson.loads``), translating it and writing it again cost per value, and orjson
holds the interpreter lock (the GIL) for a whole call: while it parses a 31 MB body of 500,000 short
messages (0.25 s to over a second, with the garbage collections it sets off) no other thread runs,
the event loop included, wherever the call is made. So a body is counted before it is parsed: bytes
methods (``replace``, ``translate``, ``split``, all in C) read it ``COUNT_STEP`` bytes at a time, a few
milliseconds each with the lock let go between steps, and the count stops as soon as it passes the
limit.

What is counted: the characters ``{ [ , :`` outside strings, about one per value. ``{"a": [1, 2]}``
counts 4 (``{ : [ ,``) for its five values (the object, its key, the list, two numbers). The count is
exact for valid JSON, and for invalid JSON up to its first error, which is as far as a parser reads.
"""

from __future__ import annotations

# Bytes read per step: ~1-5 ms of C each (bench/REPORT.md, phase heavy).
COUNT_STEP = 1 << 20

_BACKSLASH = 0x5C
_COUNTED = b"{[,:"
# Everything but the counted characters and the quote, which tells strings apart.
_LEFT_OUT = bytes(b for b in range(256) if b not in _COUNTED + b'"')


def more_values_than(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` holds more than ``limit`` values (counted as the module says)."""
    # Each counted character is a byte: a body no longer than the limit needs no counting.
    return len(raw) > limit and count_values(raw, stop_above=limit) > limit


def count_values(raw: bytes, *, stop_above: int | None = None, step: int = COUNT_STEP) -> int:
    """The values the JSON text ``raw`` holds; once past ``stop_above``, the count so far."""
    counted = 0
    in_string = False  # where the step starts
    start = 0
    while start < len(raw):
        end = min(start + step, len(raw))
        while end < len(raw) and raw[end - 1] == _BACKSLASH:
            end += 1  # a run of backslashes stays in one step: escapes pair from its start
        part = raw[start:end]
        if b"\\" in part:
            # Escaped backslashes first: of \\" the quote ends a string, of \" it does not.
            part = part.replace(b"\\\\", b"").replace(b'\\"', b"")
        # Quotes and counted characters only; split at the quotes, every other piece is outside strings.
        pieces = part.translate(None, _LEFT_OUT).split(b'"')
        counted += sum(map(len, pieces[1 if in_string else 0 :: 2]))
        if stop_above is not None and counted > stop_above:
            break
        in_string ^= len(pieces) % 2 == 0  # an odd number of quotes leaves the step in the other state
        start = end
    return counted
