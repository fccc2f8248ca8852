"""systemd's notify protocol: READY, WATCHDOG and STOPPING as datagrams to ``$NOTIFY_SOCKET``.

The protocol is one datagram of newline-separated ``KEY=value`` pairs; it is
small enough that a dependency would add more than it saves.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("proxyd.systemd")


class Notifier:
    """Talks to systemd when started by it, and does nothing otherwise."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        path = env.get("NOTIFY_SOCKET", "")
        # A leading "@" names a socket in the abstract namespace.
        self._address = "\0" + path[1:] if path.startswith("@") else path
        self._watchdog_usec = _int(env.get("WATCHDOG_USEC"))
        watchdog_pid = _int(env.get("WATCHDOG_PID"))
        if watchdog_pid is not None and watchdog_pid != os.getpid():
            self._watchdog_usec = None  # the watchdog is meant for another process

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings: half the timeout systemd enforces."""
        return self._watchdog_usec / 2_000_000 if self._watchdog_usec else None

    def notify(self, *states: str) -> None:
        if not self._address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall("\n".join(states).encode())
        except OSError as exc:
            log.warning("systemd notification failed: %s", exc)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
