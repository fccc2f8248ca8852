"""The daemon's listening sockets: bound once, by the process that starts, and shared by its workers.

Without SO_REUSEPORT, the kernel lets one listening socket hold an address, so
a second proxyd on a port already served fails to start instead of silently
splitting the port's connections with the first (SO_REUSEPORT lets any process
of the same user join). Workers inherit the sockets from the supervisor and
accept on them; SO_REUSEADDR only lets a restart bind while old connections
linger in TIME_WAIT, never while another socket listens.
"""

from __future__ import annotations

import contextlib
import errno
import socket

from proxyd.errors import ProxydError

BACKLOG = 1024


def bind_listening(host: str, port: int, *, backlog: int = BACKLOG) -> list[socket.socket]:
    """Listening sockets for every address ``host`` resolves to, as asyncio's create_server would bind them.

    A port another process listens on (or is about to) is a ProxydError naming the address; so is any
    other reason the address cannot be used.
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ProxydError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
                # Linux checks again here: of two sockets bound at once, only one may listen.
                sock.listen(backlog)
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL and family == socket.AF_INET6:
                    sockets.pop().close()  # IPv6 is off on this machine: serve the other addresses (as asyncio does)
                    continue
                if exc.errno == errno.EADDRINUSE:
                    raise ProxydError(f"port {port} on {host} is already in use") from None
                raise ProxydError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        if not sockets:
            raise ProxydError(f"cannot listen on {host}:{port}: no usable address")
    except BaseException:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
        raise
    return sockets
