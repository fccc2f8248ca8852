"""Where proxyd spends its time under load: py-spy (when installed) attached to the running daemon."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from . import loadclient
from .procs import clean_env, spawn
from .services import Proxyd, Target

_LINE_NUMBER = re.compile(r":\d+\)$")
_SITE = re.compile(r"\(.*?(?:site-packages|lib/python3\.\d+)/")
_PLUMBING = re.compile(
    r"\((?:asyncio/(?:base_events|runners|events)|threading|concurrent/futures/thread|proxyd/(?:cli|server))\.py\)"
    r"|^<module>"
)


@dataclass(frozen=True, slots=True)
class Profile:
    samples: int
    concurrency: int
    self_top: list[tuple[float, str]]  # (% of samples, function (file))
    inclusive_top: list[tuple[float, str]]
    raw_file: str


def pyspy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _frame(raw: str) -> str:
    """``handle (proxyd/http/proxy.py:170)`` -> ``handle (proxyd/http/proxy.py)``, library paths shortened."""
    return _SITE.sub("(", _LINE_NUMBER.sub(")", raw))


def summarize(raw: str, top: int = 15) -> tuple[int, list[tuple[float, str]], list[tuple[float, str]]]:
    """(samples, self top, inclusive top) from py-spy's ``--format raw`` (collapsed stacks)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n

    def ranked(counter: Counter[str], skip_plumbing: bool) -> list[tuple[float, str]]:
        # Frames that nearly every sample goes through (the event loop, main) say nothing.
        rows = [(100.0 * n / total, f) for f, n in counter.most_common()]
        return [r for r in rows if not (skip_plumbing and _PLUMBING.search(r[1]))][:top]

    if total == 0:
        return 0, [], []
    return total, ranked(own, False), ranked(inclusive, True)


def _prepare(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    raw_file = out / "proxyd-profile.txt"
    raw_file.unlink(missing_ok=True)
    return raw_file


def _read(raw_file: Path) -> str | None:
    return raw_file.read_text(errors="replace") if raw_file.exists() else None


async def profile(workdir: Path, out: Path, proxyd: Proxyd, proxied: Target, *, seconds: float = 6.0) -> Profile:
    binary = pyspy()
    if binary is None:
        raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
    concurrency = 50
    spec = proxied.closed_loop(concurrency, seconds + 2)
    raw_file = _prepare(out)
    argv = [
        binary,
        "record",
        "--pid",
        str(proxyd.pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        "200",
        "--format",
        "raw",
        "--nonblocking",
        "-o",
        str(raw_file),
    ]
    load = asyncio.create_task(loadclient.run(spec, workdir))
    try:
        await asyncio.sleep(1.0)  # sample the steady state, not the load generator's start
        child = await spawn("py-spy", argv, env=clean_env({}), log_path=workdir / "py-spy.log")
        try:
            await asyncio.wait_for(child.process.wait(), seconds + 30)
        finally:
            await child.stop(grace=2)
    finally:
        await asyncio.gather(load, return_exceptions=True)
    raw = _read(raw_file)
    if child.process.returncode != 0 or raw is None:
        raise RuntimeError(f"py-spy failed ({child.process.returncode}): {child.log_tail(5)}")
    samples, own, inclusive = summarize(raw)
    return Profile(samples, concurrency, own, inclusive, str(raw_file))
