"""Checks of request fields every translation shares, each refusing with a 400 that names the field."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from proxyd.errors import BadRequest
from proxyd.translate.base import JsonObject

SAMPLING = ("temperature", "top_p")


def sampling(body: Mapping[str, Any]) -> JsonObject:
    """``temperature`` and ``top_p`` as the client set them (numbers; absent or null left out)."""
    found: JsonObject = {}
    for name in SAMPLING:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRequest(f"{name}: must be a number")
        found[name] = value
    return found


def messages(items: list[Any]) -> Iterator[tuple[str, JsonObject]]:
    """Each message with its place (``messages.N``); one that is not an object is refused."""
    for position, message in enumerate(items):
        where = f"messages.{position}"
        if not isinstance(message, dict):
            raise BadRequest(f"{where}: must be an object")
        yield where, message


def content_parts(content: Any, where: str, text_type: str, part: Callable[[Any, str], JsonObject]) -> list[JsonObject]:
    """A message's content as parts: a string is one text part of ``text_type``, a list's items go through ``part``."""
    if isinstance(content, str):
        return [{"type": text_type, "text": content}]
    if not isinstance(content, list):
        raise BadRequest(f"{where}: must be a string or a list of content parts")
    return [part(item, f"{where}.{i}") for i, item in enumerate(content)]
