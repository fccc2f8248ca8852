"""Admin request bodies and query strings, checked the way the legacy NestJS DTOs meant them to be.

Every rule that fails contributes one message in class-validator's wording, so
a client that parsed the legacy ``message`` list keeps working. Bodies must be
JSON objects sent as JSON (``http/json_io.read_dto``); anything else is a 400
before any rule runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from proxyd.errors import BadRequest
from proxyd.keys.account_resolver import unusable_key_reasons

# C0 controls and DEL cannot travel in the Authorization header a key is sent in.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIGITS = re.compile(r"[0-9]+")


def string_messages(body: Mapping[str, Any], field: str, *, max_length: int) -> list[str]:
    """class-validator's @IsString, @IsNotEmpty and @MaxLength for ``body[field]``, plus no control characters.

    Control characters are refused because a key travels in an HTTP header and
    PostgreSQL text cannot hold NUL; a name or id with them is a typing accident.
    """
    value = body.get(field)
    messages: list[str] = []
    if not isinstance(value, str):
        messages.append(f"{field} must be a string")
    if value is None or value == "":
        messages.append(f"{field} should not be empty")
    if not isinstance(value, str) or len(value) > max_length:
        messages.append(f"{field} must be shorter than or equal to {max_length} characters")
    if isinstance(value, str) and _CONTROL.search(value):
        messages.append(f"{field} must not contain control characters")
    return messages


def require_strings(body: Mapping[str, Any], **max_lengths: int) -> dict[str, str]:
    """Check plain string fields; raise one 400 listing every problem, or return the values."""
    messages = [m for field, limit in max_lengths.items() for m in string_messages(body, field, max_length=limit)]
    if messages:
        raise BadRequest(messages)
    return {field: body[field] for field in max_lengths}


def require_new_key(body: Mapping[str, Any], *, name_max: int, key_max: int) -> tuple[str, str]:
    """The ``name`` and ``key`` of a key to add; one 400 listing every problem.

    Beyond the string rules, the key must be one a request can present: no
    whitespace at either end (the proxy strips it) and not ``_`` (the default key).
    """
    messages = string_messages(body, "name", max_length=name_max) + string_messages(body, "key", max_length=key_max)
    key = body.get("key")
    if isinstance(key, str):
        messages += [f"key {reason}" for reason in unusable_key_reasons(key)]
    if messages:
        raise BadRequest(messages)
    return body["name"], body["key"]


def int_param(
    query: Mapping[str, str], name: str, *, default: int, minimum: int, maximum: int
) -> tuple[int, list[str]]:
    """A positive integer query parameter and the messages its value earns (class-validator wording)."""
    raw = query.get(name)
    if raw is None:
        return default, []
    if not _DIGITS.fullmatch(raw):
        return default, [f"{name} must be an integer number"]
    # Past 18 digits it is too large anyway (and int() of thousands of digits is refused).
    value = int(raw) if len(raw) <= 18 else maximum + 1
    if value < minimum:
        return default, [f"{name} must not be less than {minimum}"]
    if value > maximum:
        return default, [f"{name} must not be greater than {maximum}"]
    return value, []
