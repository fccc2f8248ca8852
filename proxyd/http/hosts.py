"""Which peers and ``Host`` names are this machine: the one ``Host`` parser, and the loopback rules admin
and keyless access share."""

from __future__ import annotations

import ipaddress
import re

# Letters, digits, hyphens and underscores (some internal names have them), dot-separated.
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")


def host_name(host: str | None) -> str | None:
    """The name a ``Host`` header (or a PROXYD_ALLOWED_HOSTS entry) gives: lower case, no port, no final dot.

    An IPv6 address must be in brackets, as in a URL, and comes without them, in its compressed form.
    None when ``host`` is malformed.
    """
    host = (host or "").strip().lower()
    if host.startswith("["):
        name, bracket, port = host[1:].partition("]")
        if not bracket or (port and not (port.startswith(":") and port[1:].isdigit())):
            return None
        try:
            return ipaddress.IPv6Address(name).compressed
        except ValueError:
            return None
    name, colon, port = host.partition(":")
    if colon and not port.isdigit():
        return None
    name = name.removesuffix(".")
    return name if _HOST_NAME.fullmatch(name) else None


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

    Read by ``host_name``: the port is ignored, and so is one final dot.
    """
    return is_loopback_name(host_name(host))


def is_loopback_name(name: str | None) -> bool:
    """``is_loopback_host`` for a name ``host_name`` already gave."""
    if name is None:
        return False
    if ":" in name:  # an IPv6 address: host_name took it out of its brackets
        return is_loopback(name)
    return name == "localhost" or (name.count(".") == 3 and is_loopback(name))
