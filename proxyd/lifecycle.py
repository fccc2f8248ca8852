"""Small mutable state objects shared through AppKeys and RequestKeys."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Lifecycle:
    """Where the process is in its life; /readyz answers 503 once shutdown began."""

    shutting_down: bool = False


@dataclass(slots=True)
class AccessInfo:
    """What a handler learned that belongs in the access log line (never a full key)."""

    masked_key: str | None = None
    model: str | None = None
    # Set when the answer's status line was already sent but the request then failed
    # (a stream cut short, a client gone): what the request really came to.
    status: int | None = None
