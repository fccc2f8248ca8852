"""Checks of request fields every translation shares, each refusing with a 400 that names the field."""

from __future__ import annotations

from collections.abc import Mapping
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
