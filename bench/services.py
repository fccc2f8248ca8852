"""Starting the fake upstream and ``proxyd serve`` as separate processes, ready to take load."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from .loadgen import Spec
from .procs import Child, clean_env, free_port, python_argv, spawn

REPO = Path(__file__).resolve().parents[1]
PROXYD = str(Path(sys.executable).with_name("proxyd"))
CHAT_BODY = '{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}]}'
STREAM_BODY = '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Say hello"}]}'
UNTIL_TIME_IS_UP = 10_000_000  # requests no run gets through: the load lasts its seconds
ANTHROPIC_VERSION = "2023-06-01"


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# Anthropic's Messages API as Claude Code sends it (POST /v1/messages), and the chat completions proxyd makes of
# it: claude-sonnet-4 is served on chat completions only (tests/test_bench_messages.py holds these to proxyd's
# translation).
_HELLO = [{"role": "user", "content": "Say hello"}]
_CLAUDE = {"model": "claude-sonnet-4-20250514", "max_tokens": 100, "messages": _HELLO}
_TRANSLATED = {"model": "claude-sonnet-4", "messages": _HELLO, "max_tokens": 100}
MESSAGES_BODY = compact_json(_CLAUDE)
MESSAGES_STREAM_BODY = compact_json({**_CLAUDE, "stream": True})
TRANSLATED_BODY = compact_json(_TRANSLATED)
TRANSLATED_STREAM_BODY = compact_json({**_TRANSLATED, "stream": True, "stream_options": {"include_usage": True}})


class ServiceError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Service:
    """A process the benchmark started, and the URL it answers on."""

    url: str
    child: Child

    @property
    def pid(self) -> int:
        return self.child.pid


@dataclass(frozen=True, slots=True)
class Fake(Service):
    github_token: str


@dataclass(frozen=True, slots=True)
class Proxyd(Service):
    db_path: Path

    @property
    def event_loop(self) -> str:
        """What proxyd logged at start-up: ``asyncio`` or ``uvloop 0.x`` (empty if it did not say)."""
        path = self.child.log_path
        with contextlib.suppress(OSError), open(path or "", errors="replace") as log:
            for _, line in zip(range(50), log, strict=False):  # among the first lines, before the access log
                if "event loop: " in line:
                    return line.split("event loop: ", 1)[1].strip()
        return ""


@contextlib.asynccontextmanager
async def running_fake(
    workdir: Path, name: str, *, stream_chunks: int = 3, chunk_delay: float = 0.0
) -> AsyncIterator[Fake]:
    log = workdir / f"{name}.log"
    argv = python_argv(
        "bench.fake_upstream", "--port", "0", "--stream-chunks", str(stream_chunks), "--chunk-delay", str(chunk_delay)
    )
    child = await spawn(name, argv, env=clean_env({}), log_path=log, cwd=REPO)
    try:
        fields = await _wait_for_lines(child, log, ("FAKE_UPSTREAM_URL", "FAKE_GITHUB_TOKEN"), within=20)
        yield Fake(url=fields["FAKE_UPSTREAM_URL"], github_token=fields["FAKE_GITHUB_TOKEN"], child=child)
    finally:
        await child.stop()


async def _wait_for_lines(child: Child, log: Path, names: tuple[str, ...], within: float) -> dict[str, str]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = _fields(log, names)
        if len(found) == len(names):
            return found
        if not child.running:
            break
        await asyncio.sleep(0.05)
    raise ServiceError(f"{child.name} did not start:\n{child.log_tail()}")


def _fields(log: Path, names: tuple[str, ...]) -> dict[str, str]:
    """The first ``NAME=value`` line of each name in ``log``."""
    found: dict[str, str] = {}
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        name, sep, value = line.partition("=")
        if sep and name in names and name not in found:
            found[name] = value.strip()
    return found


@contextlib.asynccontextmanager
async def _running_module(workdir: Path, name: str, module: str, *args: str) -> AsyncIterator[Service]:
    """``python -m module --port 0 *args``, which prints ``..._URL=`` once it listens."""
    log = workdir / f"{name}.log"
    child = await spawn(name, python_argv(module, "--port", "0", *args), env=clean_env({}), log_path=log, cwd=REPO)
    try:
        url_line = f"{module.rpartition('.')[2].upper()}_URL"
        fields = await _wait_for_lines(child, log, (url_line,), within=20)
        yield Service(url=fields[url_line], child=child)
    finally:
        await child.stop()


def running_static(workdir: Path, name: str) -> contextlib.AbstractAsyncContextManager[Service]:
    """``bench.static_upstream``: every chat completion answered at once, for proxyd's own cost."""
    return _running_module(workdir, name, "bench.static_upstream")


def running_floor(workdir: Path, name: str, upstream: str) -> contextlib.AbstractAsyncContextManager[Service]:
    """``bench.floor``: the least an aiohttp proxy does, in front of ``upstream``: proxyd's target."""
    return _running_module(workdir, name, "bench.floor", "--upstream", upstream)


def proxyd_env(
    db_path: Path, port: int, fake: Fake, log_level: str, copilot_api_url: str | None = None
) -> dict[str, str]:
    """``copilot_api_url``: where chat completions go (the static upstream); the fake by default."""
    return clean_env(
        {
            "DATABASE_URL": f"sqlite:///{db_path}",  # absolute path: sqlite:////tmp/...
            "PROXYD_HOST": "127.0.0.1",
            "PROXYD_PORT": str(port),
            "PROXYD_WORKERS": "1",
            "PROXYD_GITHUB_URL": fake.url,
            "PROXYD_GITHUB_API_URL": fake.url,
            "PROXYD_COPILOT_API_URL": copilot_api_url or fake.url,
            "PROXYD_SHUTDOWN_TIMEOUT": "2",
            "PROXYD_ADMIN_LOOPBACK": "1",  # the bench manages keys from loopback, without a token
            "LOG_LEVEL": log_level,
        }
    )


@contextlib.asynccontextmanager
async def running_proxyd(
    workdir: Path,
    name: str,
    fake: Fake,
    *,
    command: Sequence[str] = (PROXYD,),
    log_level: str = "info",
    copilot_api_url: str | None = None,
) -> AsyncIterator[Proxyd]:
    """``command`` is the proxyd executable (plus leading arguments): the venv's, or another build to compare."""
    db_path = workdir / f"{name}.db"
    port = free_port()
    env = proxyd_env(db_path, port, fake, log_level, copilot_api_url)
    migrate = await asyncio.to_thread(
        subprocess.run, [*command, "migrate", "apply"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if migrate.returncode != 0:
        raise ServiceError(f"proxyd migrate apply failed:\n{migrate.stdout}{migrate.stderr}")
    child = await spawn(name, [*command, "serve"], env=env, log_path=workdir / f"{name}.log")
    try:
        proxyd = Proxyd(url=f"http://127.0.0.1:{port}", child=child, db_path=db_path)
        await _wait_ready(proxyd)
        yield proxyd
    finally:
        await child.stop()


async def _wait_ready(proxyd: Proxyd, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline and proxyd.child.running:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{proxyd.url}/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise ServiceError(f"proxyd did not become ready:\n{proxyd.child.log_tail()}")


async def register_key(base_url: str, github_token: str) -> str:
    """Create the bench key through proxyd's admin API at ``base_url`` (loopback, no admin token) and make it the
    default."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base_url}/api/api-keys", json={"name": "bench", "key": github_token}) as response:
            created = await response.json()
            if response.status != 201:
                raise ServiceError(f"creating the bench key answered {response.status}: {created}")
        key_id = str(created["id"])
        if created.get("meta") is None:
            raise ServiceError("the bench key has no Copilot meta: the token exchange with the fake failed")
        async with http.post(f"{base_url}/api/api-keys/default", json={"id": key_id}) as response:
            if response.status != 201:
                raise ServiceError(f"making the bench key default answered {response.status}")
    return key_id


async def register_client_key(base_url: str) -> str:
    """Create a client key through proxyd's admin API at ``base_url`` (loopback, no admin token): its secret."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base_url}/api/client-keys", json={"name": "bench"}) as response,
    ):
        created = await response.json()
        if response.status != 201:
            raise ServiceError(f"creating the bench client key answered {response.status}: {created}")
        return str(created["key"])


async def copilot_token(fake: Fake) -> str:
    """A Copilot token straight from the fake's token endpoint, for direct requests."""
    headers = {"Authorization": f"token {fake.github_token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{fake.url}/copilot_internal/v2/token", headers=headers) as response,
    ):
        if response.status != 200:
            raise ServiceError(f"the fake's token endpoint answered {response.status}")
        return str((await response.json())["token"])


@dataclass(frozen=True, slots=True)
class Route:
    """One API a target answers: the path posted to, the bodies sent, how the key goes along, the stream's shape."""

    path: str
    body: str
    stream_body: str
    anthropic: bool = False  # the key in ``x-api-key`` beside ``anthropic-version``, not ``Authorization: Bearer``
    last_event: str = "data: [DONE]"  # how the last data line of a complete stream starts
    # A regular expression matching the streamed data lines that carry the answer's text; empty: every event.
    chunk_marker: str = ""


CHAT = Route("/chat/completions", CHAT_BODY, STREAM_BODY)
# Sent direct, what proxyd sends Copilot for MESSAGES; its chunks are the events with text in them.
CHAT_FOR_MESSAGES = Route("/chat/completions", TRANSLATED_BODY, TRANSLATED_STREAM_BODY, chunk_marker='"content":"')
MESSAGES = Route(
    "/messages",
    MESSAGES_BODY,
    MESSAGES_STREAM_BODY,
    anthropic=True,
    last_event='data: {"type":"message_stop"}',
    chunk_marker='"type":"content_block_delta"',  # one per Copilot chunk with text
)


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send requests, and with what credentials: direct to the fake, or through proxyd."""

    name: str
    base: str
    token: str
    pid: int | None = None  # proxyd's, for proxied targets: its CPU time per request is measured
    route: Route = CHAT

    @property
    def url(self) -> str:
        return self.base + self.route.path

    def headers(self) -> dict[str, str]:
        if self.route.anthropic:
            return {"x-api-key": self.token, "anthropic-version": ANTHROPIC_VERSION, "Content-Type": "application/json"}
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    def load(self, mode: str, body: str | None = None, **shape: Any) -> Spec:
        """A load of ``body`` (the route's) posted to this target; ``shape``: the rest of :class:`Spec`."""
        route = self.route
        return Spec(
            mode=mode,
            url=self.url,
            headers=self.headers(),
            body=route.body if body is None else body,
            last_event=route.last_event,
            chunk_marker=route.chunk_marker,
            **shape,
        )

    def closed_loop(self, concurrency: int, seconds: float, requests: int = UNTIL_TIME_IS_UP) -> Spec:
        """``concurrency`` workers posting the route's body back to back, for ``requests`` or ``seconds``."""
        return self.load("closed", concurrency=concurrency, requests=requests, seconds=seconds)


async def targets(fake: Fake, proxyd: Proxyd) -> tuple[Target, Target]:
    """(direct, proxied) for one fake and the proxyd in front of it; the proxyd gets its key first."""
    await register_key(proxyd.url, fake.github_token)
    direct = Target("direct", fake.url, await copilot_token(fake))
    proxied = Target("proxyd", f"{proxyd.url}/v1", fake.github_token, proxyd.pid)
    return direct, proxied
