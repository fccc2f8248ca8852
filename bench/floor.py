"""The floor: the least an aiohttp proxy can do, measured beside proxyd as its target.

It reads the request body, POSTs it to one upstream on a pooled client session
(the request's path, ``Authorization`` and ``Content-Type`` passed on), and
streams the answer back chunk by chunk as it arrives: no authentication, no
accounting, no logging, no translation. Whatever proxyd does beyond this is its
own work, so proxyd's throughput over the floor's (same upstream, same run) is
the share of aiohttp's cost proxyd adds on top.

``python -m bench.floor --upstream URL --port 0`` prints ``FLOOR_URL=...`` and
serves until SIGINT/SIGTERM, on uvloop when it is installed (as proxyd does).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator

from aiohttp import ClientResponse, ClientSession, TCPConnector, web

_UPSTREAM = web.AppKey("upstream", str)
_SESSION = web.AppKey("session", ClientSession)
_PASSED_ON = ("Authorization", "Content-Type")


async def _relay(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    headers = {name: request.headers[name] for name in _PASSED_ON if name in request.headers}
    url = request.app[_UPSTREAM] + request.path
    async with request.app[_SESSION].post(url, data=body, headers=headers) as upstream:
        return await stream_back(request, upstream)


async def stream_back(request: web.Request, upstream: ClientResponse) -> web.StreamResponse:
    """``upstream``'s status, content type and body, the body chunk by chunk as it arrives."""
    response = web.StreamResponse(status=upstream.status)
    response.content_type = upstream.content_type
    await response.prepare(request)
    async for chunk in upstream.content.iter_any():
        await response.write(chunk)
    await response.write_eof()
    return response


def make_app(upstream: str) -> web.Application:
    app = web.Application()
    app[_UPSTREAM] = upstream.rstrip("/")

    async def session(app: web.Application) -> AsyncIterator[None]:
        async with ClientSession(connector=TCPConnector(limit=0), auto_decompress=False) as client:
            app[_SESSION] = client
            yield

    app.cleanup_ctx.append(session)
    app.router.add_post("/{path:.*}", _relay)
    return app


async def serve(upstream: str, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(make_app(upstream), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = runner.addresses[0]
    print(f"FLOOR_URL=http://{bound[0]}:{bound[1]}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--upstream", required=True, help="where every request goes, e.g. http://127.0.0.1:8001")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.upstream, args.host, args.port))
    else:
        uvloop.run(serve(args.upstream, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
