"""Running ``proxyd serve`` as a real subprocess, for tests about signals, workers and instances."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.conftest import TEST_ENCRYPTION_KEY, find_leaks

PROXYD = str(Path(sys.executable).with_name("proxyd"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Daemon:
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    output: bytes = b""
    open_files: int | None = None  # the daemon's RLIMIT_NOFILE, when a test needs it low

    def _limit_open_files(self) -> None:
        # Runs in the child between fork and exec.
        if self.open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *args: str) -> None:
        # Loopback admin mode and the tests' encryption key unless a test says otherwise: no token file
        # and no key file land in the working directory.
        defaults = {"PROXYD_ADMIN_LOOPBACK": "1", "PROXYD_ENCRYPTION_KEY": TEST_ENCRYPTION_KEY}
        env = {**os.environ, **defaults, **self.env}
        env.update(PROXYD_PORT=str(self.port), PROXYD_HOST="127.0.0.1")
        self.process = await asyncio.create_subprocess_exec(
            PROXYD,
            "serve",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=self._limit_open_files if self.open_files is not None else None,
        )
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if self.process.returncode is not None:
                    break
                try:
                    async with http.get(f"{self.url}/readyz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        await self.stop()
        raise RuntimeError(f"proxyd did not become ready:\n{self.output.decode()}")

    def terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = await asyncio.wait_for(self.process.communicate(), 60)
        except TimeoutError:
            self.process.kill()
            out, _ = await self.process.communicate()
        self.output += out or b""
        leaks = find_leaks(self.output.decode(errors="replace"))
        assert not leaks, f"secrets in proxyd's output: {leaks}"
        return self.process.returncode or 0
