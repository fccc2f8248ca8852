"""What a conversation must leave behind when it moves to another account.

Thinking signatures and encrypted reasoning verify only on the account that
made them; Responses item ids and ``previous_response_id`` name what only that
account stored. A request sent to another account without them succeeds: the
model still sees every message, only not its earlier hidden reasoning.
"""

from __future__ import annotations

from typing import Any

from proxyd.translate.base import Api, JsonObject

_ACCOUNT_BOUND_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def portable(api: Api | None, body: Any) -> JsonObject | None:
    """``body`` without account-bound state; None when it holds none (send it as it is)."""
    if not isinstance(body, dict):
        return None
    if api == "messages":
        return _portable_messages(body)
    if api == "responses":
        return _portable_responses(body)
    return None


def _portable_messages(body: JsonObject) -> JsonObject | None:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    kept: list[Any] = []
    changed = False
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list) or message.get("role") != "assistant":
            kept.append(message)
            continue
        blocks = [b for b in content if not (isinstance(b, dict) and b.get("type") in _ACCOUNT_BOUND_BLOCKS)]
        if len(blocks) == len(content):
            kept.append(message)
            continue
        changed = True
        if blocks:
            kept.append({**message, "content": blocks})
    if not changed:
        return None
    moved = {**body, "messages": kept}
    if _continues_tool_turn(kept) and isinstance(body.get("thinking"), dict):
        # With thinking on, a turn that goes on after a tool call must begin with the thinking block
        # it no longer has: that one turn goes without thinking.
        moved.pop("thinking")
    return moved


def _continues_tool_turn(messages: list[Any]) -> bool:
    assistants = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    if not assistants or not isinstance(messages[-1], dict) or messages[-1].get("role") != "user":
        return False
    content = assistants[-1].get("content")
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content)


def _portable_responses(body: JsonObject) -> JsonObject | None:
    items = body.get("input")
    changed = "previous_response_id" in body
    kept: list[Any] = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and item.get("type") == "reasoning":
            changed = True
            continue
        if isinstance(item, dict) and "id" in item:
            changed = True
            item = {name: value for name, value in item.items() if name != "id"}
        kept.append(item)
    if not changed:
        return None
    moved = {name: value for name, value in body.items() if name != "previous_response_id"}
    if isinstance(items, list):
        moved["input"] = kept
    return moved
