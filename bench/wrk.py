"""Closed-loop throughput with wrk (when installed): a POST script, and its text output parsed."""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .procs import clean_env, spawn
from .stats import Summary

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s*(50|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_AVERAGE = re.compile(r"^\s*Latency\s+([\d.]+)(us|ms|s|m)\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m)", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    errors: int
    elapsed_s: float
    rps: float
    latency: Summary


def available() -> str | None:
    return shutil.which("wrk")


def version() -> str:
    """wrk's banner line, e.g. ``wrk debian/4.1.0-3+b2 [epoll]`` (empty when not installed)."""
    binary = available()
    if binary is None:
        return ""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "wrk"
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


def _script(path: Path, body: str, headers: dict[str, str]) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def parse(output: str) -> WrkResult:
    percentiles = {int(q): _ms(v, u) for q, v, u in _PERCENTILE.findall(output)}
    average = _AVERAGE.search(output)
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    if rps is None or total is None or 50 not in percentiles or 99 not in percentiles:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    errors = sum(int(n) for n in _NON_2XX.findall(output))
    socket_errors = _SOCKET_ERRORS.search(output)
    if socket_errors is not None:
        errors += sum(int(n) for n in socket_errors.groups())
    requests = int(total.group(1))
    return WrkResult(
        requests=requests,
        errors=errors,
        elapsed_s=_ms(total.group(2), total.group(3)) / 1000,
        rps=float(rps.group(1)),
        latency=Summary(
            count=requests,
            mean_ms=_ms(average.group(1), average.group(2)) if average else math.nan,
            p50_ms=percentiles[50],
            p90_ms=percentiles.get(90, math.nan),
            p99_ms=percentiles[99],
            max_ms=_ms(average.group(3), average.group(4)) if average else math.nan,
        ),
    )


async def run(
    workdir: Path, url: str, body: str, headers: dict[str, str], *, connections: int, seconds: float
) -> WrkResult:
    binary = available()
    if binary is None:
        raise RuntimeError("wrk is not installed")
    script = _script(workdir / "post.lua", body, headers)
    argv = [
        binary,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    child = await spawn("wrk", argv, env=clean_env({}), log_path=workdir / "wrk.log", stdout_pipe=True)
    try:
        assert child.process.stdout is not None
        out = await asyncio.wait_for(child.process.stdout.read(), seconds + 30)
        await asyncio.wait_for(child.process.wait(), 10)
    finally:
        await child.stop(grace=2)
    if child.process.returncode != 0:
        raise RuntimeError(f"wrk failed ({child.process.returncode}):\n{child.log_tail()}")
    return parse(out.decode(errors="replace"))
