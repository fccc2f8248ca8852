"""One conversation, one account: which account of a pool a conversation stays on.

Thinking signatures and encrypted reasoning verify only on the account that
made them, and prompt caches are per account (COPILOT-PROTOCOL.md §8), so a
conversation keeps the account that first served it. It moves only when that
account cannot serve (cooling down, refused, out of quota); then it is marked
``moved``, and every later request of it is sent without what only the old
account could verify (``portable.py``). It is marked so too when Copilot
answered 400 to what another account made (proxyd restarted, another instance
served) and the request went again without it.

Only a client key whose pool has several accounts pins its conversations: with
one account there is no choice to keep, and the pin's read would be paid on
every request (a Redis round trip, when Redis is shared). If that
account is replaced, a conversation it served gets the 400 above and is sent
again without what the old account made.

A conversation is named by what the client sends: Claude Code's
``metadata.user_id`` (it holds the session), Codex's ``prompt_cache_key`` or
its ``session-id`` header, OpenAI clients' ``user`` or
``prompt_cache_key``; else it is the client key and model. The map is bounded
(least recently used entries go first) and forgets conversations idle for
``idle`` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxyd.sharedstate.base import SharedState
from proxyd.translate.base import Api

# Codex sends session-id (and thread-id, the same id); others session_id or conversation_id.
_HEADERS = ("session-id", "thread-id", "session_id", "conversation_id", "x-session-id")
# Ids longer than this are cut: the client chooses them, and each is kept in memory.
_ID_MAX = 256


NAMESPACE = "conversation"


@dataclass(frozen=True, slots=True)
class Pin:
    account_id: str
    moved: bool


def conversation_id(api: Api | None, body: Any, headers: Mapping[str, str]) -> str | None:
    """The id the client gave this conversation, if it gave one."""
    found: Any = None
    if isinstance(body, dict):
        if api == "messages":
            metadata = body.get("metadata")
            found = metadata.get("user_id") if isinstance(metadata, dict) else None
        else:
            found = body.get("prompt_cache_key") or (body.get("user") if api == "chat" else None)
    if not isinstance(found, str) or not found:
        for name in _HEADERS:
            found = headers.get(name)
            if found:
                break
    return found[:_ID_MAX] if isinstance(found, str) and found else None


class ConversationAffinity:
    """The map lives in the shared state (``proxyd/sharedstate``), bounded there, each entry kept ``idle`` seconds."""

    def __init__(self, state: SharedState, *, idle: float) -> None:
        self._state = state
        self._idle = idle

    def __len__(self) -> int:
        return self._state.size(NAMESPACE)

    async def pinned(self, conversation: str) -> Pin | None:
        found = await self._state.get(NAMESPACE, conversation, touch=self._idle)
        if found is None:
            return None
        account_id, _, moved = found.rpartition(" ")
        return Pin(account_id, moved == "moved")

    async def remember(self, conversation: str, account_id: str, *, moved: bool) -> None:
        """``account_id`` served this conversation's request; ``moved``: its history holds what another made.

        A deleted account needs no forgetting here: its conversations find it gone and move.
        """
        await self._state.put(
            NAMESPACE, conversation, f"{account_id} {'moved' if moved else 'kept'}", seconds=self._idle
        )
