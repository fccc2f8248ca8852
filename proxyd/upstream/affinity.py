"""One conversation, one account: which account of a pool a conversation stays on.

Thinking signatures and encrypted reasoning verify only on the account that
made them, and prompt caches are per account (COPILOT-PROTOCOL.md §8), so a
conversation keeps the account that first served it. It moves only when that
account cannot serve (cooling down, refused, out of quota); then it is marked
``moved``, and every later request of it is sent without what only the old
account could verify (``portable.py``).

A conversation is named by what the client sends: Claude Code's
``metadata.user_id`` (it holds the session), Codex's ``prompt_cache_key`` or
its ``session-id`` header, OpenAI clients' ``user`` or
``prompt_cache_key``; else it is the client key and model. The map is bounded
(least recently used entries go first) and forgets conversations idle for
``idle`` seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from proxyd.translate.base import Api

# Codex sends session-id (and thread-id, the same id); others session_id or conversation_id.
_HEADERS = ("session-id", "thread-id", "session_id", "conversation_id", "x-session-id")
# Ids longer than this are cut: the client chooses them, and each is kept in memory.
_ID_MAX = 256


@dataclass(slots=True)
class Pin:
    account_id: str
    moved: bool
    seen: float


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
        found = next((value for name in _HEADERS if (value := headers.get(name))), None)
    return found[:_ID_MAX] if isinstance(found, str) and found else None


class ConversationAffinity:
    def __init__(self, *, idle: float, capacity: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._idle = idle
        self._capacity = capacity
        self._clock = clock
        self._pins: OrderedDict[str, Pin] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pins)

    def pinned(self, conversation: str) -> Pin | None:
        pin = self._pins.get(conversation)
        if pin is None:
            return None
        if self._clock() - pin.seen > self._idle:
            del self._pins[conversation]
            return None
        return pin

    def remember(self, conversation: str, account_id: str) -> None:
        """``account_id`` served this conversation's request; a change of account marks it moved for good."""
        now = self._clock()
        pin = self._pins.get(conversation)
        if pin is None:
            self._pins[conversation] = Pin(account_id, False, now)
        else:
            pin.moved = pin.moved or pin.account_id != account_id
            pin.account_id = account_id
            pin.seen = now
            self._pins.move_to_end(conversation)
        self._prune(now)

    def forget_account(self, account_id: str) -> None:
        """The account is gone: its conversations start afresh wherever they land (and are marked moved)."""
        for pin in self._pins.values():
            if pin.account_id == account_id:
                pin.account_id = ""

    def _prune(self, now: float) -> None:
        while self._pins:
            oldest = next(iter(self._pins.values()))
            if len(self._pins) <= self._capacity and now - oldest.seen <= self._idle:
                return
            self._pins.popitem(last=False)
