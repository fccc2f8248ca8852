"""A client's Messages body, changed only where Copilot's own ``/v1/messages`` refuses it, before it passes natively.

Claude Code depends on what a translation through chat would lose (thinking
and its signatures, prompt caching), so a Claude model that answers on
``/v1/messages`` gets the client's body as it came. Everything is kept
(system blocks, ``thinking`` adaptive or enabled, ``output_config``,
``context_management``, ``cache_control`` marks, tools, ``metadata``) except
what Copilot refuses (COPILOT-PROTOCOL.md section 6; VCC ``messagesApi.ts``,
CZY ``preprocess.ts``). The changes, in the order ``CHANGES`` applies them:

- ``model``: replaced by Copilot's id (with dots: ``claude-sonnet-4.5``);
- ``sampling_with_thinking``: ``temperature`` and ``top_p`` dropped when
  ``thinking`` is enabled or adaptive, as the official client does;
- ``top_level_cache_control``: a top-level ``cache_control`` removed (some
  models refuse it);
- ``cache_control_scope``: ``scope`` removed from every ``cache_control`` (in
  tools, system blocks, message content blocks and tool results' blocks);
- ``cache_control_limit``: beyond four ``cache_control`` marks (Anthropic's
  limit), the earliest are removed: the latest mark caches the longest prefix.

Each change returns a new body, copying only the path to what it changes, and
never touches the one it is given: when nothing changes, ``for_copilot``
returns the client's own object, so the caller can send the client's raw bytes.

``passed_betas`` keeps the ``anthropic-beta`` flags Copilot accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from proxyd.translate.base import JsonObject

# anthropic-beta flags starting with one of these pass (the official passthrough keeps these); the rest
# (Claude Code sends several Copilot does not know, e.g. fine-grained-tool-streaming, oauth) are dropped.
PASSED_BETA_PREFIXES = ("interleaved-thinking", "context-management", "advanced-tool-use")
# Anthropic refuses more cache_control marks than this in one request.
MAX_CACHE_MARKS = 4
_THINKING_ON = frozenset({"enabled", "adaptive"})

# A change: the new body, or None when the body needs none.
Change = Callable[[JsonObject, str], JsonObject | None]
# Keys and indexes leading from the body to a block.
_Path = tuple[str | int, ...]


def passed_betas(header: str | None) -> str | None:
    """The ``anthropic-beta`` header to send Copilot (None: send none), from the client's."""
    if not header:
        return None
    kept = [flag for flag in (part.strip() for part in header.split(",")) if flag.startswith(PASSED_BETA_PREFIXES)]
    return ",".join(kept) or None


def for_copilot(body: JsonObject, copilot_model: str) -> JsonObject:
    """``body`` as Copilot takes it: ``body`` itself when nothing changes, else a new object."""
    return adapted(body, copilot_model)[0]


def adapted(body: JsonObject, copilot_model: str) -> tuple[JsonObject, tuple[str, ...]]:
    """``body`` as Copilot takes it, and the names of the changes made (empty: ``body`` itself is returned)."""
    made: list[str] = []
    for name, change in CHANGES:
        changed = change(body, copilot_model)
        if changed is not None:
            body = changed
            made.append(name)
    return body, tuple(made)


def replace_model(body: JsonObject, copilot_model: str) -> JsonObject | None:
    return None if body.get("model") == copilot_model else {**body, "model": copilot_model}


def drop_sampling_with_thinking(body: JsonObject, _model: str) -> JsonObject | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in _THINKING_ON:
        return None
    if "temperature" not in body and "top_p" not in body:
        return None
    return {key: value for key, value in body.items() if key not in ("temperature", "top_p")}


def drop_top_level_cache_control(body: JsonObject, _model: str) -> JsonObject | None:
    if "cache_control" not in body:
        return None
    return {key: value for key, value in body.items() if key != "cache_control"}


def drop_cache_control_scope(body: JsonObject, _model: str) -> JsonObject | None:
    scoped = [path for path, mark in _cache_marks(body) if "scope" in mark]
    for path in scoped:
        body = _replace(body, path, _without_scope)
    return body if scoped else None


def limit_cache_marks(body: JsonObject, _model: str) -> JsonObject | None:
    marks = [path for path, _mark in _cache_marks(body)]
    extra = marks[: max(0, len(marks) - MAX_CACHE_MARKS)]
    for path in extra:
        body = _replace(body, path, _unmarked)
    return body if extra else None


CHANGES: tuple[tuple[str, Change], ...] = (
    ("model", replace_model),
    ("sampling_with_thinking", drop_sampling_with_thinking),
    ("top_level_cache_control", drop_top_level_cache_control),
    ("cache_control_scope", drop_cache_control_scope),
    ("cache_control_limit", limit_cache_marks),
)


def _cache_marks(body: JsonObject) -> Iterator[tuple[_Path, JsonObject]]:
    """Every block's ``cache_control`` object with the block's path, in the order of the prompt.

    Anthropic's prompt runs tools, system, then messages; a tool result's own
    blocks come before the tool result's end.
    """
    for i, tool in _objects(body.get("tools")):
        yield from _mark(tool, ("tools", i))
    for i, block in _objects(body.get("system")):
        yield from _mark(block, ("system", i))
    for i, message in _objects(body.get("messages")):
        for j, block in _objects(message.get("content")):
            for k, inner in _objects(block.get("content")):
                yield from _mark(inner, ("messages", i, "content", j, "content", k))
            yield from _mark(block, ("messages", i, "content", j))


def _objects(items: Any) -> Iterator[tuple[int, JsonObject]]:
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict):
                yield i, item


def _mark(block: JsonObject, path: _Path) -> Iterator[tuple[_Path, JsonObject]]:
    mark = block.get("cache_control")
    if isinstance(mark, dict):
        yield path, mark


def _replace(node: Any, path: _Path, change: Callable[[JsonObject], JsonObject]) -> Any:
    """``node`` with the block at ``path`` changed: only the lists and objects on the way are copied."""
    if not path:
        return change(node)
    key, rest = path[0], path[1:]
    copy: Any = list(node) if isinstance(node, list) else dict(node)
    copy[key] = _replace(node[key], rest, change)
    return copy


def _without_scope(block: JsonObject) -> JsonObject:
    mark = {key: value for key, value in block["cache_control"].items() if key != "scope"}
    return {**block, "cache_control": mark}


def _unmarked(block: JsonObject) -> JsonObject:
    return {key: value for key, value in block.items() if key != "cache_control"}
