"""GitHub's device flow, run once per process and watched by any number of admins.

Admins who open the device-flow stream while a flow is running join it: they
share its one device code, get its ``initiated`` event replayed (with the time
left) and every event after that. The flow belongs to the process, not to a
stream: a watcher leaving never cancels it, and a flow nobody watches any more
still runs until GitHub approves, refuses or the code expires, so a code the
user already typed in still yields a stored key. The next stream after a flow
ended starts a new one.

A poll that fails (GitHub unreachable, an unexpected answer) ends the flow with
an ``error`` event; the admin starts over with a new stream.

Events are ``event: <name>`` + ``data: <JSON object>``; the object repeats the
name as ``type``:

- ``initiated``  {userCode, verificationUri, expiresIn (s left), expiresAt (epoch ms), interval (s)}
- ``pending``    {interval (s until the next poll), slowDown (GitHub asked to poll slower)}
- ``success``    {id, name, maskedKey}: the key is stored as ``Key:<epoch ms>``, with its Copilot meta
- ``error``      {message}
- ``expired``    {message}

The stream ends after ``success``, ``error`` or ``expired``. The GitHub token
itself never appears in an event or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from proxyd import sse
from proxyd.admin.accounts import KeyAdmin
from proxyd.clock import now_ms
from proxyd.errors import ProxydError, UpstreamError
from proxyd.keys.masking import mask_secret
from proxyd.upstream.github import GitHubClient

log = logging.getLogger("proxyd.admin")

# RFC 8628 defaults, for a device-code answer that lacks them.
DEFAULT_INTERVAL = 5.0
DEFAULT_EXPIRES_IN = 900.0
SLOW_DOWN_STEP = 5.0


@dataclass(frozen=True, slots=True)
class FlowEvent:
    name: str  # initiated | pending | success | error | expired
    data: dict[str, Any]

    def frame(self) -> bytes:
        """One SSE event; ``data`` repeats the name as ``type`` for clients that ignore ``event:``."""
        return sse.named(self.name, {"type": self.name, **self.data})


def _json_seconds(value: float) -> int | float:
    """5 rather than 5.0 on the wire, as GitHub sends it."""
    return int(value) if value == int(value) else value


def _seconds(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else default


def slowed_interval(current: float, answer: Mapping[str, Any]) -> float:
    """The poll interval after a ``slow_down``: GitHub's new ``interval``, else five seconds more (RFC 8628)."""
    if "interval" in answer:
        return max(current, _seconds(answer["interval"], current + SLOW_DOWN_STEP))
    return current + SLOW_DOWN_STEP


Watcher = asyncio.Queue[FlowEvent | None]  # None: the flow ended


class _Flow:
    def __init__(self) -> None:
        self.watchers: set[Watcher] = set()
        self.task: asyncio.Task[None] | None = None
        self._initiated: dict[str, Any] | None = None
        self._deadline = math.inf

    def remaining(self) -> float:
        return self._deadline - time.monotonic()

    def initiated(self, user_code: str, verification_uri: str, expires_in: float, interval: float) -> None:
        self._deadline = time.monotonic() + expires_in
        self._initiated = {
            "userCode": user_code,
            "verificationUri": verification_uri,
            "expiresAt": now_ms() + int(expires_in * 1000),
            "interval": _json_seconds(interval),
        }
        self.publish(self._initiated_event())

    def _initiated_event(self) -> FlowEvent:
        assert self._initiated is not None
        # expiresIn counts from now, so a late joiner sees the time really left.
        expires_in = max(0, math.ceil(self.remaining()))
        return FlowEvent("initiated", {**self._initiated, "expiresIn": expires_in})

    def join(self) -> Watcher:
        queue: Watcher = asyncio.Queue()
        if self._initiated is not None:
            queue.put_nowait(self._initiated_event())
        self.watchers.add(queue)
        return queue

    def publish(self, event: FlowEvent) -> None:
        for queue in self.watchers:
            queue.put_nowait(event)

    def end(self) -> None:
        for queue in self.watchers:
            queue.put_nowait(None)


class DeviceFlowHub:
    def __init__(self, github: GitHubClient, keys: KeyAdmin) -> None:
        self._github = github
        self._keys = keys
        self._flow: _Flow | None = None

    @contextlib.contextmanager
    def watch(self) -> Iterator[Watcher]:
        """Events of the running flow (started if there is none), until the flow ends with ``None``."""
        flow = self._flow
        if flow is None:
            flow = self._flow = _Flow()
            flow.task = asyncio.create_task(self._run(flow), name="device-flow")
        queue = flow.join()
        try:
            yield queue
        finally:
            flow.watchers.discard(queue)

    async def close(self) -> None:
        """Stop the running flow (at shutdown); its watchers get an ``error`` event and the end."""
        flow = self._flow
        if flow is not None and flow.task is not None:
            flow.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flow.task

    async def _run(self, flow: _Flow) -> None:
        try:
            await self._drive(flow)
        except asyncio.CancelledError:
            flow.publish(FlowEvent("error", {"message": "proxyd is shutting down"}))
            raise
        except ProxydError as exc:
            log.warning("device flow failed: %s", exc.message)
            flow.publish(FlowEvent("error", {"message": exc.message}))
        except Exception:
            log.exception("device flow failed")
            flow.publish(FlowEvent("error", {"message": "Internal server error"}))
        finally:
            # Synchronously with the end: nobody can join a flow that has ended.
            if self._flow is flow:
                self._flow = None
            flow.end()

    async def _drive(self, flow: _Flow) -> None:
        code = await self._github.request_device_code()
        device_code, user_code, uri = code.get("device_code"), code.get("user_code"), code.get("verification_uri")
        if not (isinstance(device_code, str) and isinstance(user_code, str) and isinstance(uri, str)):
            raise UpstreamError("GitHub's device code answer lacks device_code, user_code or verification_uri")
        interval = _seconds(code.get("interval"), DEFAULT_INTERVAL)
        flow.initiated(user_code, uri, _seconds(code.get("expires_in"), DEFAULT_EXPIRES_IN), interval)
        log.info("device flow started")
        while True:
            await asyncio.sleep(interval)
            if flow.remaining() <= 0:
                break
            answer = await self._github.poll_device_token(device_code)
            token = answer.get("access_token")
            if isinstance(token, str) and token:
                api_key = await self._keys.create_or_find(f"Key:{now_ms()}", token)
                log.info("device flow succeeded: key %s stored", api_key.id)
                data = {"id": api_key.id, "name": api_key.name, "maskedKey": mask_secret(api_key.key)}
                flow.publish(FlowEvent("success", data))
                return
            error = answer.get("error")
            if error == "authorization_pending":
                flow.publish(FlowEvent("pending", {"interval": _json_seconds(interval), "slowDown": False}))
            elif error == "slow_down":
                interval = slowed_interval(interval, answer)
                flow.publish(FlowEvent("pending", {"interval": _json_seconds(interval), "slowDown": True}))
            elif error == "expired_token":
                break
            else:
                description = answer.get("error_description")
                message = description if isinstance(description, str) and description else str(error or "no token")
                raise UpstreamError(f"GitHub refused the device authorization: {message}")
        log.info("device flow expired")
        flow.publish(FlowEvent("expired", {"message": "The device code expired before it was authorized"}))
