"""Instructions per request under callgrind: proxyd against the floor, a figure other load does not move.

``python -m bench.instructions`` runs the floor (``bench/floor.py``) and proxyd (a GitHub token, then a client
key), each alone under ``valgrind --tool=callgrind`` in front of the static upstream, sends ``--requests`` chat
completions at concurrency 4 with instrumentation on (start-up and a warm-up are not counted), and prints the
instructions each request cost, and proxyd's over the floor's. req/s on a shared 2-core machine moves by 10-20 %
between runs; these counts moved by 1-1.5 % (the same build, four runs: 1.073-1.089 M), so they tell whether a change
to the request path helped by more than that.
They count only what runs in user space: system calls saved (fewer writes) show in CPU time, not here.
proxyd's usage flush (one transaction a second, ``PROXYD_USAGE_FLUSH_INTERVAL``) is put off to the end: under
callgrind each request takes 50x longer, so a timer's work would weigh 50x as much per request as at full speed
(it added 64 k instructions a request, where at full speed it is one transaction for thousands of requests).

``--proxyd "env PYTHONPATH=/path/to/other/checkout .venv/bin/python -m proxyd"`` measures another build.
Needs valgrind (``apt-get install valgrind``); under it each process runs about 50x slower.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shlex
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from .procs import clean_env, free_port, python_argv
from .services import (
    CHAT,
    PROXYD,
    REPO,
    Fake,
    proxyd_env,
    register_client_key,
    register_key,
    running_fake,
    running_static,
)

WARM_UP = 200
FLUSH_PUT_OFF = 3600.0  # seconds: no timed usage flush while counting
CONCURRENCY = 4
_JSON = {"Content-Type": "application/json"}


async def _post_many(url: str, headers: dict[str, str], requests: int) -> None:
    left = requests

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            async with http.post(url, data=CHAT.body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{url} answered {response.status}")

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(client(http) for _ in range(CONCURRENCY)))


async def _ready(url: str, within: float = 300.0) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(int(within / 0.5)):
            try:
                async with http.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {within:g} s")


Prepare = Callable[[str], Awaitable[dict[str, str]]]


async def _callgrind_control(pid: int, *args: str) -> None:
    control = await asyncio.create_subprocess_exec(
        "callgrind_control", *args, str(pid), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    if await control.wait() != 0:
        raise RuntimeError(f"callgrind_control {' '.join(args)} failed")


async def _count(work: Path, argv: list[str], env: dict[str, str], base: str, prepare: Prepare, requests: int) -> int:
    """Instructions ``argv`` spent on ``requests`` chat completions posted to ``base``."""
    log = work / "callgrind.log"
    out = f"--callgrind-out-file={work / 'callgrind.out'}"
    with log.open("w") as sink:
        process = await asyncio.create_subprocess_exec(
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            out,
            *argv,
            env=env,
            stdout=sink,
            stderr=sink,
            cwd=REPO,
        )
    try:
        await _ready(base + "/healthz")
        headers = {**_JSON, **await prepare(base)}
        url = base + "/v1/chat/completions"
        await _post_many(url, headers, WARM_UP)
        await _callgrind_control(process.pid, "-i", "on")
        await _post_many(url, headers, requests)
        await _callgrind_control(process.pid, "-i", "off")
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 120)
    found = re.search(r"Collected : (\d+)", log.read_text(errors="replace"))
    if found is None:
        raise RuntimeError(f"callgrind reported nothing: see {log}")
    return int(found.group(1))


async def _floor_headers(base: str) -> dict[str, str]:
    return {"Authorization": "Bearer floor"}


def _proxyd_headers(fake: Fake, client_key: bool) -> Prepare:
    async def prepare(base: str) -> dict[str, str]:
        await register_key(base, fake.github_token)
        key = await register_client_key(base) if client_key else fake.github_token
        return {"Authorization": f"Bearer {key}"}

    return prepare


async def measure(proxyd: list[str], requests: int) -> dict[str, float]:
    """Instructions per request of the floor and of proxyd (GitHub token, client key)."""
    work = Path(tempfile.mkdtemp(prefix="proxyd-instructions-"))
    per_request: dict[str, float] = {}
    async with running_fake(work, "fake") as fake, running_static(work, "static") as static:
        port = free_port()
        floor = python_argv("bench.floor", "--upstream", static.url, "--port", str(port))
        floor_env = clean_env({})
        total = await _count(work, floor, floor_env, f"http://127.0.0.1:{port}", _floor_headers, requests)
        per_request["floor"] = total / requests
        for name, client_key in (("proxyd, GitHub token", False), ("proxyd, client key", True)):
            port = free_port()
            env = proxyd_env(work / f"proxyd-{len(per_request)}.db", port, fake, "info", static.url)
            env["PROXYD_USAGE_FLUSH_INTERVAL"] = str(FLUSH_PUT_OFF)
            base = f"http://127.0.0.1:{port}"
            argv = [*proxyd, "serve", "--migrate"]
            total = await _count(work, argv, env, base, _proxyd_headers(fake, client_key), requests)
            per_request[name] = total / requests
    return per_request


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="counted requests per target (default 1000)")
    parser.add_argument("--proxyd", default=PROXYD, help="the proxyd command (default: the venv's)")
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(shlex.split(args.proxyd), args.requests))
    floor = figures["floor"]
    for name, instructions in figures.items():
        speed = floor / instructions
        print(f"{name:22s} {instructions / 1e6:6.3f} M instructions a request ({speed:.2f} x the floor's speed)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
