"""Which endpoints each model answers on, as each account's ``GET /models`` says (``supported_endpoints``).

Plans differ, so the list is kept per account. The first request of an
account waits for its list (once, shared by concurrent requests); after that
requests never wait: a list older than ``refresh_after`` is refreshed in the
background while the old one keeps serving. A list that cannot be had is
tried again after ``retry_after``; meanwhile every model counts as unlisted
(a chat model, as proxyd always treated them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from proxyd.errors import ProxydError
from proxyd.translate.base import APIS_BY_PATH, Api
from proxyd.upstream.github import CopilotToken

log = logging.getLogger("proxyd.catalog")

# A model entry without supported_endpoints is a chat model (COPILOT-PROTOCOL.md §1).
CHAT_ONLY: frozenset[Api] = frozenset({"chat"})

# Fetches an account's model list with its Copilot token: the entries of ``data``.
FetchModels = Callable[[CopilotToken], Awaitable[list[Any]]]


@dataclass(frozen=True, slots=True)
class _Listing:
    endpoints: Mapping[str, frozenset[Api]]
    fresh_until: float


def endpoints_of(entry: Mapping[str, Any]) -> frozenset[Api]:
    listed = entry.get("supported_endpoints")
    if not isinstance(listed, list):
        return CHAT_ONLY
    return frozenset(APIS_BY_PATH[path] for path in listed if isinstance(path, str) and path in APIS_BY_PATH)


def _listing(entries: list[Any], fresh_until: float) -> _Listing:
    found = {
        entry["id"]: endpoints_of(entry)
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("id"), str)
    }
    return _Listing(found, fresh_until)


class ModelCatalog:
    def __init__(
        self,
        fetch: FetchModels,
        *,
        refresh_after: float,
        retry_after: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refresh_after = refresh_after
        self._retry_after = retry_after
        self._clock = clock
        self._listings: dict[str, _Listing] = {}
        self._inflight: dict[str, asyncio.Future[_Listing]] = {}
        self.fetches = 0

    async def endpoints(self, account_id: str, token: CopilotToken, model: str) -> frozenset[Api] | None:
        """The endpoints ``model`` answers on for this account; None when its list does not name it."""
        listing = self._listings.get(account_id)
        if listing is None:
            listing = await self._load(account_id, token)
        elif listing.fresh_until <= self._clock() and account_id not in self._inflight:
            self._start(account_id, token)  # serve the old list meanwhile
        return listing.endpoints.get(model)

    def stale(self, account_id: str) -> None:
        """Copilot refused a model on an endpoint its list named: read the list again on next use."""
        listing = self._listings.get(account_id)
        if listing is not None:
            self._listings[account_id] = _Listing(listing.endpoints, 0.0)

    def forget(self, account_id: str) -> None:
        self._listings.pop(account_id, None)

    async def _load(self, account_id: str, token: CopilotToken) -> _Listing:
        pending = self._inflight.get(account_id) or self._start(account_id, token)
        # shield: one waiting client leaving must not cancel the fetch the others wait for.
        return await asyncio.shield(pending)

    def _start(self, account_id: str, token: CopilotToken) -> asyncio.Future[_Listing]:
        pending = asyncio.ensure_future(self._refresh(account_id, token))
        self._inflight[account_id] = pending
        pending.add_done_callback(lambda _: self._inflight.pop(account_id, None))
        return pending

    async def _refresh(self, account_id: str, token: CopilotToken) -> _Listing:
        self.fetches += 1
        try:
            listing = _listing(await self._fetch(token), self._clock() + self._refresh_after)
        except ProxydError as exc:
            log.warning(
                "model list of account %s unavailable (%s); retrying in %ds",
                account_id,
                exc.message,
                round(self._retry_after),
            )
            previous = self._listings.get(account_id)
            listing = _Listing(previous.endpoints if previous else {}, self._clock() + self._retry_after)
        self._listings[account_id] = listing
        return listing
