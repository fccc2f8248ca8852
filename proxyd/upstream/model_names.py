"""The Copilot model a requested model name stands for, on every route.

``PROXYD_MODEL_MAP`` maps names one by one. Past it, Claude names follow a
rule: Claude Code and the Anthropic SDKs send dated names
(``claude-sonnet-4-5-20250929``); Copilot lists undated ones with a dotted
version (``claude-sonnet-4.5``, ``claude-3.5-sonnet``). Other names pass unchanged.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from types import MappingProxyType

_DATE_OR_LATEST = re.compile(r"-(?:\d{8}|latest)$")
# A version written with a dash between single digits ("3-5", "4-1"): Copilot writes it "3.5", "4.1".
_DASHED_VERSION = re.compile(r"(?<=-)(\d)-(\d)(?=-|$)")


def copilot_model(requested: str, overrides: Mapping[str, str]) -> str:
    """``overrides[requested]`` if present, else the default rule (Claude names only; others pass unchanged)."""
    mapped = overrides.get(requested)
    if mapped is not None:
        return mapped
    return _by_rule(requested) if requested.startswith("claude-") else requested


@functools.lru_cache(maxsize=8)
def overrides(pairs: tuple[tuple[str, str], ...]) -> Mapping[str, str]:
    """``PROXYD_MODEL_MAP``'s pairs as a mapping: built once, not on every request."""
    return MappingProxyType(dict(pairs))


# A client uses a few names again and again: the two substitutions run once per name.
@functools.lru_cache(maxsize=256)
def _by_rule(requested: str) -> str:
    return _DASHED_VERSION.sub(r"\1.\2", _DATE_OR_LATEST.sub("", requested))
