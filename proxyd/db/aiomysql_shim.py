"""The private parts of aiomysql (and of PyMySQL, which it is built on) that proxyd relies on, in one place.

Each is here because the public API has no equivalent, with the reason beside
it; written against aiomysql 0.2-0.3 and PyMySQL 1.1. If an upgrade renames
one of them, this module is the only place to change (the MySQL tests of
test_db_adapters.py exercise each).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any


def is_encrypted(connection: Any) -> bool:
    """Whether an aiomysql connection really runs over TLS.

    aiomysql upgrades to TLS only if the server offers it and silently carries on in clear text
    otherwise, and it exposes no flag saying which happened: its transport (``_writer``) is the
    ground truth. Anything unexpected counts as not encrypted.
    """
    writer = getattr(connection, "_writer", None)
    return writer is not None and writer.get_extra_info("ssl_object") is not None


def is_encrypted_sync(connection: Any) -> bool:
    """Whether a PyMySQL connection really runs over TLS: PyMySQL, like aiomysql, silently stays in clear
    text when the server offers no TLS, and only its socket (``_sock``) tells."""
    return isinstance(getattr(connection, "_sock", None), ssl.SSLSocket)


def wake_pool_waiter(pool: Any) -> asyncio.Future[None] | None:
    """After proxyd closed a connection it had from ``pool``, wake one request waiting for a connection.

    aiomysql's ``release()`` wakes waiters only for a connection it takes back, not for one that was
    closed (timeout, lost TLS): without this, a request queued for a connection would wait out its
    timeout although a slot is free. ``Pool._wakeup()`` is that notification; ``Pool._closing`` says
    the pool is shutting down, when nobody may be woken. Returns the task to keep a reference to,
    or None when the pool is closing.
    """
    if pool._closing:
        return None
    wakeup: asyncio.Future[None] = asyncio.ensure_future(pool._wakeup())
    return wakeup
