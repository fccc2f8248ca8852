"""Masking secrets (GitHub tokens, Copilot tokens) before they reach a log line or a report."""

from __future__ import annotations

_LONG = 20
_MEDIUM = 9


def mask_secret(value: str) -> str:
    """Enough of ``value`` to recognise it, never enough to use it.

    Shorter secrets reveal fewer characters, so that what is shown stays a small share of the whole.
    """
    if len(value) >= _LONG:
        return f"{value[:10]}...{value[-5:]}"
    if len(value) >= _MEDIUM:
        return f"{value[:4]}...{value[-2:]}"
    return "***"
