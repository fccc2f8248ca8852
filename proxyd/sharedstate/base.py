"""The interface every limit keeps its state behind.

Each operation names a namespace (what kind of state: ``"rpm"``,
``"cooldown"``, …) and a key within it (a client key's id, an account's id).
Durations are seconds from now on the implementation's own clock, so an
implementation shared by several machines can use one clock for all. Every
operation is atomic on its own: a check and the change it allows happen
together, never as a read followed by a write from Python.
"""

from __future__ import annotations

from typing import Protocol


class SharedState(Protocol):
    async def hit(self, namespace: str, key: str, *, limit: int, seconds: float) -> float | None:
        """Count one event in ``key``'s sliding window of ``seconds`` unless ``limit`` are in it already.

        None when counted; else the seconds until the oldest event leaves the window.
        """
        ...

    async def note(self, namespace: str, key: str, *, limit: int, seconds: float) -> None:
        """Count one event, always (only the last ``limit`` are kept: older ones cannot matter)."""
        ...

    async def full_for(self, namespace: str, key: str, *, limit: int, seconds: float) -> float | None:
        """Seconds until ``key``'s window holds fewer than ``limit`` events; None when it already does."""
        ...

    async def add(
        self, namespace: str, key: str, amount: int, *, floor: int = 0, limit: int | None = None, seconds: float
    ) -> int | None:
        """Raise the counter to at least ``floor``, then add ``amount`` unless that passes ``limit``.

        The new value, or None when ``limit`` refused (nothing added). A counter
        unknown or expired starts at 0 and lives ``seconds`` from its creation.
        """
        ...

    async def set_deadline(self, namespace: str, key: str, seconds: float, value: str) -> None:
        """``key`` holds ``value`` for ``seconds``."""
        ...

    async def deadline(self, namespace: str, key: str) -> tuple[float, str] | None:
        """(seconds left, value) while ``key``'s deadline has not passed; else None."""
        ...

    async def get(self, namespace: str, key: str, *, touch: float | None = None) -> str | None:
        """``key``'s value while it has not expired; ``touch`` gives it that many seconds more."""
        ...

    async def put(self, namespace: str, key: str, value: str, *, seconds: float) -> None:
        """``key`` holds ``value`` until ``seconds`` pass without a touch."""
        ...

    async def delete(self, namespace: str, key: str) -> None:
        """Forget ``key`` in ``namespace``, whatever kind of state it is."""
        ...

    def size(self, namespace: str) -> int:
        """Entries held in ``namespace`` (for metrics; may be approximate in a shared store)."""
        ...
