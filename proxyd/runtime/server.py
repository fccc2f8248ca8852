"""Running the daemon: listening, systemd notifications, signals, graceful shutdown, workers.

Shutdown order on SIGTERM: /readyz turns 503 and systemd hears STOPPING=1; the
listening socket closes; in-flight requests and streams get up to
``PROXYD_SHUTDOWN_TIMEOUT`` seconds; then the cleanup contexts run in reverse
(usage and request-log buffers are flushed, pools closed), each within what the
timeout leaves, or a short floor (proxyd/app.py), so a hung database cannot hold
the exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.metadata
import ipaddress
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from multiprocessing.connection import Connection

from aiohttp import web

from proxyd.app import create_app
from proxyd.appkeys import LIFECYCLE, METRICS
from proxyd.config import Config, EventLoop
from proxyd.db.sqlite import readable_by_others
from proxyd.errors import ConfigError, ProxydError
from proxyd.http.hosts import is_loopback
from proxyd.metrics import MULTIPROCESS_DIR
from proxyd.runtime import offloop
from proxyd.runtime.connections import (
    RESERVED_DESCRIPTORS,
    CappedSite,
    ConnectionCap,
    default_max_connections,
    open_file_limit,
)
from proxyd.runtime.listen import BACKLOG, bind_listening
from proxyd.runtime.systemd import Notifier

log = logging.getLogger("proxyd")

# A collection of the youngest generation starts once this many more objects
# were allocated than freed since the last one (Python's default: 700). See ``settle_gc``.
GC_YOUNG_THRESHOLD = 50_000


def serve(config: Config, *, before_serving: Callable[[], object] | None = None) -> int:
    """Serve until SIGTERM; ``before_serving`` (``--migrate``'s migrations) runs once the port is bound."""
    if os.environ.get("STORAGE_DIR"):
        log.warning(
            "STORAGE_DIR is no longer read; to import legacy keys set PROXYD_LEGACY_DIR "
            "or run `proxyd import-legacy DIR`"
        )
    for advice in config.advisories():
        log.warning("%s", advice)
    new_loop, loop_name = event_loop(config.event_loop)
    # Bound here, once, before any database work (migrations included): a port already served is
    # one line and exit 1 at once, with the database untouched.
    sockets = bind_listening(config.host, config.port)
    try:
        if before_serving is not None:
            before_serving()
        if config.database.dialect == "sqlite":
            _warn_if_readable_by_others(config)
        log.info("event loop: %s", loop_name)
        if config.workers > 1:
            return _supervise(config, Notifier(), sockets)
        with asyncio.Runner(loop_factory=new_loop) as runner:
            return runner.run(run(config, Notifier(), sockets))
    finally:
        for sock in sockets:
            sock.close()


def client_base_urls(host: str, port: int, api_prefix: str) -> str:
    """The base URL each kind of client should be given, as the start-up line says it."""
    if _unspecified(host):  # every address: clients use one of this machine's
        root = f"http://<this host>:{port}"
    else:
        root = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return (
        f"{root}: OpenAI clients use base URL {root}/v1, Anthropic clients (Claude Code: ANTHROPIC_BASE_URL) "
        f"{root}, legacy clients {root}{api_prefix}"
    )


def _unspecified(host: str) -> bool:
    try:
        return not host or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False  # a name


def _warn_if_readable_by_others(config: Config) -> None:
    for path, mode in readable_by_others(config.database):
        log.warning(
            "%s is readable by other users (mode %04o) and holds every account's GitHub token: run chmod 600 %s",
            os.path.abspath(path),
            mode,
            os.path.abspath(path),
        )


async def run(config: Config, notifier: Notifier, sockets: list[socket.socket], ready: Connection | None = None) -> int:
    # Signals first: a SIGTERM that arrives while starting up stops cleanly, too.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    app = create_app(config)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        handler_cancellation=True,  # a client that disconnects cancels its upstream request
        # aiohttp waits this long twice (first for handlers to finish, then
        # again after asking them to stop) before cancelling: half each.
        shutdown_timeout=config.shutdown_timeout / 2,
        keepalive_timeout=75,  # idle keep-alive connections are closed after this
        access_log=None,  # proxyd's own access log has the masked key and the model
    )
    try:
        await runner.setup()  # connects to the database, checks the schema
    except ProxydError:
        await runner.cleanup()
        raise
    cap = _connection_cap(app, runner, config)
    for sock in sockets:
        await CappedSite(runner, sock, cap, backlog=BACKLOG).start()
    offloop.start()
    settle_gc()
    port = sockets[0].getsockname()[1]  # PROXYD_PORT=0: the one the kernel chose
    log.info("proxyd listening on %s", client_base_urls(config.host, port, config.api_prefix))
    if not is_loopback(config.host) and config.host != "localhost":
        log.warning(
            "listening on %s, beyond loopback: a client that sends no key (or the key '_') uses the "
            "default API key, if one is set; keep the port private or put an authenticating proxy in front",
            config.host,
        )

    notifier.notify("READY=1", f"STATUS=listening on {config.host}:{port}")
    if ready is not None:
        ready.send(True)
    watchdog = asyncio.create_task(_watchdog(notifier)) if notifier.watchdog_interval else None

    await stop.wait()
    log.info("shutting down: waiting up to %gs for in-flight requests", config.shutdown_timeout)
    app[LIFECYCLE].begin_shutdown(config.shutdown_timeout)
    notifier.notify("STOPPING=1", "STATUS=shutting down")
    await runner.cleanup()
    if watchdog is not None:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
    log.info("proxyd stopped")
    return 0


def _connection_cap(app: web.Application, runner: web.AppRunner, config: Config) -> ConnectionCap:
    """PROXYD_MAX_CONNECTIONS (else what the open-file limit allows) for this process's sockets, and its metrics."""
    assert runner.server is not None  # set up
    files = open_file_limit()
    limit = config.max_connections or default_max_connections(files)
    if limit > files - RESERVED_DESCRIPTORS:
        log.warning(
            "PROXYD_MAX_CONNECTIONS=%d leaves too few of the %d files this process may open: once they run out, "
            "new clients wait until connections close; lower it or raise the limit (systemd: LimitNOFILE=)",
            limit,
            files,
        )
    source = "PROXYD_MAX_CONNECTIONS" if config.max_connections else f"derived from the open-file limit, {files}"
    log.info("accepting up to %d connections at once (%s)", limit, source)
    cap = ConnectionCap(runner.server, limit)
    metrics = app[METRICS]
    metrics.sample(
        "proxyd_connections_open", "Client connections open.", "gauge", lambda: [((), len(cap.server.connections))]
    )
    metrics.sample("proxyd_connections_limit", "PROXYD_MAX_CONNECTIONS in effect.", "gauge", lambda: [((), limit)])
    metrics.sample(
        "proxyd_connections_shed_total",
        "Connections closed at PROXYD_MAX_CONNECTIONS: idle ones closed to make room, new ones refused.",
        "counter",
        cap.samples,
    )
    return cap


def event_loop(choice: EventLoop) -> tuple[Callable[[], asyncio.AbstractEventLoop], str]:
    """A factory for the loop to serve on (``PROXYD_EVENT_LOOP``), and its name for the log.

    uvloop, an optional extra, measured about 10 % fewer instructions per
    request and up to 11 % more requests per second at concurrency 64, the same
    latency at 200 req/s, but a p99 tail 1.7-2.7x asyncio's with 64 requests in
    flight (bench/REPORT.md). It is used when installed, unless
    PROXYD_EVENT_LOOP=asyncio.
    """
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise ConfigError("PROXYD_EVENT_LOOP: uvloop is not installed (pip install 'proxyd[uvloop]')") from None
        else:
            return uvloop.new_event_loop, f"uvloop {importlib.metadata.version('uvloop')}"
    return asyncio.new_event_loop, "asyncio"


def settle_gc() -> None:
    """Tune the cyclic garbage collector once start-up is done.

    Why, as measured with the benchmark (bench/REPORT.md): requests in flight
    hold young objects, and with many in flight allocations outrun frees by
    Python's default 700 again and again. At concurrency 64 a young collection
    ran every ~20 requests, found next to nothing to free (reference counting
    frees a finished request), and promoted the live requests to older
    generations, whose collections walk ever more of the heap: 6-9 % of
    proxyd's CPU and ~10 % of its instructions at concurrency 64, against 0.2 %
    at 4, which is why throughput fell as concurrency rose. At 50,000 no
    collection runs in steady state up to concurrency 256 (10,000 still did
    there); reference cycles are still collected, later. The objects start-up
    made (modules, the app, pools) are frozen: full collections skip them.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    log.debug(
        "garbage collector: %d start-up objects frozen, young-generation threshold %d",
        gc.get_freeze_count(),
        GC_YOUNG_THRESHOLD,
    )


async def _watchdog(notifier: Notifier) -> None:
    # Pinging from the event loop proves the loop itself is not stuck.
    interval = notifier.watchdog_interval or 0
    while True:
        notifier.notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def _worker(config: Config, sockets: list[socket.socket], ready: Connection) -> None:
    from proxyd.logs import configure

    configure(config.python_log_level, config.log_format)
    # Workers talk to the supervisor, not to systemd: one service, one READY.
    quiet = Notifier({})
    try:
        with asyncio.Runner(loop_factory=event_loop(config.event_loop)[0]) as runner:
            sys.exit(runner.run(run(config, quiet, sockets, ready)))
    except ProxydError as exc:
        log.error("worker %d: %s", os.getpid(), exc.message)
        sys.exit(1)


def _supervise(config: Config, notifier: Notifier, sockets: list[socket.socket]) -> int:
    """Start N workers accepting on the supervisor's sockets; stop them all when one fails or on SIGTERM.

    The workers keep their metrics in one directory (``PROMETHEUS_MULTIPROC_DIR``: the operator's, else a
    fresh one under ``$RUNTIME_DIRECTORY`` or the temporary directory, removed on exit), so that whichever
    answers ``/metrics`` reports them all (proxyd/metrics.py).
    """
    created = None
    if not os.environ.get(MULTIPROCESS_DIR):
        runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0] or None
        created = os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="proxyd-metrics-", dir=runtime)
    try:
        return _start_workers(config, notifier, sockets)
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
            os.environ.pop(MULTIPROCESS_DIR, None)


def _start_workers(config: Config, notifier: Notifier, sockets: list[socket.socket]) -> int:
    context = multiprocessing.get_context("spawn")
    workers: list[multiprocessing.process.BaseProcess] = []
    pipes: list[Connection] = []
    for _ in range(config.workers):
        receive, send = context.Pipe(duplex=False)
        # The sockets travel to the spawned worker as inherited file descriptors.
        worker: multiprocessing.process.BaseProcess = context.Process(target=_worker, args=(config, sockets, send))
        worker.start()
        workers.append(worker)
        pipes.append(receive)
    # Only the workers hold the port now: once they have closed it on shutdown, it refuses connections.
    for sock in sockets:
        sock.close()

    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        notifier.notify("STOPPING=1")
        for process in workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for pipe, process in zip(pipes, workers, strict=True):
        while not pipe.poll(0.5):
            if stopping:
                return _join(workers)
            if not process.is_alive():
                stop(signal.SIGTERM, None)
                _join(workers)
                return 1
    notifier.notify("READY=1", f"STATUS={config.workers} workers on {config.host}:{config.port}")
    interval = notifier.watchdog_interval
    while not stopping:
        if any(not p.is_alive() for p in workers):
            log.error("a worker exited unexpectedly; stopping the others")
            stop(signal.SIGTERM, None)
            _join(workers)
            return 1
        if interval:
            notifier.notify("WATCHDOG=1")
        multiprocessing.connection.wait([p.sentinel for p in workers], timeout=min(interval or 1.0, 1.0))
    return _join(workers)


def _join(workers: list[multiprocessing.process.BaseProcess]) -> int:
    for process in workers:
        process.join()
    # A worker still importing when SIGTERM came dies of it (-SIGTERM): that is the stop we asked for.
    return 0 if all(p.exitcode in (0, -signal.SIGTERM) for p in workers) else 1
