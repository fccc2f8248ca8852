"""Reading a request body: the one reader every route uses, bounded in time, size and inflation.

aiohttp's own decompression is off (``auto_decompress=False``, see ``proxyd/app.py``):
it inflates into its buffers ahead of the reader, several times
``PROXYD_MAX_BODY_BYTES`` before ``request.read()`` notices. Here a gzip or
deflate body is inflated chunk by chunk as it arrives, each step allowed to
produce no more than what is left below the limit, so a small body that would
inflate to gigabytes costs at most the limit's worth of work and memory before
it is a 413.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Iterator

from aiohttp import web

from proxyd.appkeys import CONFIG
from proxyd.errors import BadRequest, PayloadTooLarge, RequestTimeout, UnsupportedMediaType
from proxyd.limits import OFF_LOOP_BODY_BYTES
from proxyd.runtime.offloop import off_loop

# Content-Encoding -> zlib's wbits: gzip (RFC 1952) and deflate, meant as zlib's format (RFC 1950);
# raw deflate, which some clients send as "deflate", is recognised by its first byte.
_GZIP = zlib.MAX_WBITS | 16
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS
_CODINGS = {"gzip": _GZIP, "x-gzip": _GZIP, "deflate": _ZLIB}
_IDENTITY = ("", "identity")
# Inflated bytes per zlib call: the memory one call may take, and how often a large body lets others run.
INFLATE_STEP = 1 << 20


class _Inflater:
    """Inflates one body's chunks a step at a time, never producing more than it is allowed."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._wbits = _CODINGS[coding]
        self._stream: zlib._Decompress | None = None

    def steps(self, chunk: bytes, room: int) -> Iterator[bytes | None]:
        """``chunk`` inflated, INFLATE_STEP bytes at most at a time; None once it would take more than ``room``.

        A body that is not what its Content-Encoding says is a BadRequest (400).
        """
        data = chunk
        while data:
            if self._stream is None or self._stream.eof:
                if self._stream is not None and self._wbits != _GZIP:
                    raise self._invalid("it goes on after the end of the compressed data")
                if self._stream is None and self._wbits == _ZLIB and data[0] & 0x0F != 8:
                    self._wbits = _RAW_DEFLATE  # no zlib header: raw deflate
                self._stream = zlib.decompressobj(self._wbits)  # gzip: the next member, if several
            try:
                # max_length room + 1: producing more than room proves the body too large, and zlib stops
                # there, keeping the rest of the input unread (max_length 0 would mean no limit).
                out = self._stream.decompress(data, min(INFLATE_STEP, room + 1))
            except zlib.error:
                raise self._invalid() from None
            if len(out) > room:
                yield None
                return
            room -= len(out)
            data = self._stream.unused_data if self._stream.eof else self._stream.unconsumed_tail
            yield out

    def finish(self) -> None:
        """The body ended: it must have ended where its compressed data does."""
        if self._stream is not None and not self._stream.eof:
            raise self._invalid("it ends before the compressed data does")

    def _invalid(self, why: str = "") -> BadRequest:
        detail = f": {why}" if why else ""
        return BadRequest(f"Request body is not valid {self.coding} data (Content-Encoding: {self.coding}){detail}")


def _inflater(request: web.Request) -> _Inflater | None:
    coding = request.headers.get("Content-Encoding", "").strip().lower()
    if coding in _IDENTITY:
        return None
    if coding not in _CODINGS:
        raise UnsupportedMediaType(
            f"Content-Encoding {coding!r} is not supported: send the body as it is, or gzip or deflate it"
        )
    return _Inflater(coding)


def _too_large(limit: int) -> PayloadTooLarge:
    # A new one each time: one kept in a local would hold the frame (and the body read so far) in a cycle.
    return PayloadTooLarge(f"Request body larger than {limit} bytes")


async def read_body(request: web.Request) -> bytes:
    """The body, decoded: 413 past PROXYD_MAX_BODY_BYTES (as sent or inflated), 408 past PROXYD_CLIENT_TIMEOUT."""
    config = request.app[CONFIG]
    limit = config.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)  # said up front: nothing needs reading
    inflater = _inflater(request)
    content = request.content
    if inflater is None and content.is_eof():
        # Sent whole with its headers, as small bodies are: already read, nothing to wait for.
        body = content.read_nowait()
        if len(body) > limit:
            raise _too_large(limit)
        return body
    parts: list[bytes] = []
    sent = size = 0
    try:
        # A client trickling its body must not hold a connection (and its memory) forever.
        async with asyncio.timeout(config.client_timeout):
            async for chunk in content.iter_any():
                sent += len(chunk)
                if sent > limit:
                    raise _too_large(limit)
                if inflater is None:
                    size += len(chunk)
                    parts.append(chunk)
                    continue
                for part in inflater.steps(chunk, limit - size):
                    if part is None:
                        raise _too_large(limit)
                    size += len(part)
                    parts.append(part)
                    await asyncio.sleep(0)  # a large body inflates in steps, between other requests
        if inflater is not None:
            inflater.finish()
    except TimeoutError:
        raise RequestTimeout(f"Request body not received within {config.client_timeout:g} s") from None
    if size > OFF_LOOP_BODY_BYTES:
        # Tens of milliseconds for 30 MB (fresh memory, page by page), during which bytes.join lets go of
        # the interpreter lock: in the worker thread the event loop runs meanwhile.
        return await off_loop(b"".join, parts)
    return b"".join(parts)
