"""Child processes that never outlive the benchmark.

Every child gets its own session (so Ctrl-C in the terminal reaches only the
benchmark, which then stops the children in order), a raised RLIMIT_NOFILE,
and PR_SET_PDEATHSIG so the kernel kills it should the benchmark itself die
without running its cleanup. ``stop()`` signals the child's process group by
its id: SIGTERM, a bounded wait, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import resource
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1
_live: dict[int, str] = {}  # pid -> name, for the atexit safety net


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _child_setup() -> None:  # runs in the child between fork and exec
    raise_nofile_limit()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The benchmark's environment for a child: no proxy variables (loopback only), no admin token."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy") and not k.startswith("PROXYD_")
    }
    env.pop("DATABASE_URL", None)
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` in KiB (0 when the process is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far (0 when the process is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class Child:
    """One started process; ``stop()`` is idempotent and bounded in time."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log_path: Path | None) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def stop(self, grace: float = 10.0) -> int | None:
        if self.running:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                _signal_group(self.pid, signal.SIGKILL)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.process.wait(), 5.0)
        # Anything the child itself started in its group goes too.
        _signal_group(self.pid, signal.SIGKILL)
        _live.pop(self.pid, None)
        return self.process.returncode

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)  # the child leads its own session: its pgid is its pid


async def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path | None,
    stdout_pipe: bool = False,
    stdin_pipe: bool = False,
    cwd: Path | None = None,
) -> Child:
    log: IO[bytes] | int = asyncio.subprocess.DEVNULL
    if log_path is not None:
        log = log_path.open("ab")
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=dict(env),
            cwd=cwd,
            stdin=asyncio.subprocess.PIPE if stdin_pipe else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if stdout_pipe else log,
            stderr=log,
            start_new_session=True,
            preexec_fn=_child_setup,
        )
    finally:
        if not isinstance(log, int):
            log.close()  # the child holds its own copy
    _live[process.pid] = name
    return Child(name, process, log_path)


def python_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


@atexit.register
def _kill_leftovers() -> None:
    for pid in list(_live):
        _signal_group(pid, signal.SIGKILL)
    _live.clear()
