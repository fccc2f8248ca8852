"""Which peers and ``Host`` names are this machine: the loopback rules admin and keyless access share."""

from __future__ import annotations

import ipaddress


def is_loopback(remote: str | None) -> bool:
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_loopback_host(host: str | None) -> bool:
    """True if a ``Host`` header names this machine's loopback: ``localhost``, ``127.x.x.x`` or ``[::1]``.

    The port is ignored; an IPv6 address must be in brackets, as in a URL.
    """
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return False
        return ":" in name and is_loopback(name)
    name, colon, port = host.partition(":")
    if colon and not port.isdigit():
        return False
    if name.rstrip(".") == "localhost":
        return True
    return name.count(".") == 3 and is_loopback(name)
