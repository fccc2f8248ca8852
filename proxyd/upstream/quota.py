"""Each account's Copilot plan and quotas, as GitHub reports them, cached for a minute.

``GET {prefix}/api-keys/{id}/quota`` asks GitHub when its cached answer is
older than ``QUOTA_TTL``; ``/admin/stats`` only reads what is cached, so a
dashboard polling the stats never costs GitHub calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from proxyd.clock import now_ms
from proxyd.keys.records import ApiKey
from proxyd.limits import QUOTA_TTL

QUOTA_KINDS = ("premium_interactions", "chat", "completions")
_QUOTA_FIELDS = ("entitlement", "remaining", "percent_remaining", "unlimited")


def quota_view(user: dict[str, Any]) -> dict[str, Any]:
    """The plan, the reset date and each quota's numbers from GitHub's answer; what GitHub left out is None."""
    snapshots = user.get("quota_snapshots")
    snapshots = snapshots if isinstance(snapshots, dict) else {}
    view: dict[str, Any] = {}
    for kind in QUOTA_KINDS:
        snapshot = snapshots.get(kind)
        view[kind] = {name: snapshot.get(name) for name in _QUOTA_FIELDS} if isinstance(snapshot, dict) else None
    return {
        "copilot_plan": user.get("copilot_plan"),
        "quota_reset_date": user.get("quota_reset_date"),
        "quota_snapshots": view,
    }


class CopilotUserSource(Protocol):
    """``GitHubClient`` in production; anything that answers ``copilot_user`` in tests."""

    async def copilot_user(self, github_token: str) -> dict[str, Any]: ...


class QuotaCache:
    def __init__(
        self, github: CopilotUserSource, *, ttl: float = QUOTA_TTL, clock: Callable[[], float] = time.monotonic
    ):
        self._github = github
        self._ttl = ttl
        self._clock = clock
        # account id -> (monotonic time fetched, view with its epoch-ms "fetched_at")
        self._cached: dict[str, tuple[float, dict[str, Any]]] = {}

    async def get(self, account: ApiKey) -> dict[str, Any]:
        cached = self._cached.get(account.id)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        view = {**quota_view(await self._github.copilot_user(account.key)), "fetched_at": now_ms()}
        self._cached[account.id] = (self._clock(), view)
        return view

    def known(self, account_id: str) -> dict[str, Any] | None:
        """The last answer fetched for this account, however old (its ``fetched_at`` says), or None."""
        cached = self._cached.get(account_id)
        return cached[1] if cached is not None else None

    def known_accounts(self) -> dict[str, dict[str, Any]]:
        return {account_id: view for account_id, (_, view) in self._cached.items()}

    def forget(self, account_id: str) -> None:
        self._cached.pop(account_id, None)
