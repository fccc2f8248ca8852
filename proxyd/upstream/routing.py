"""The Copilot endpoint a request goes to: the client's own API when the model answers there, else the
official client's order (COPILOT-PROTOCOL.md §1)."""

from __future__ import annotations

from proxyd.translate.base import Api

# VCC chatEndpoint.ts: /responses when listed, else /v1/messages, else /chat/completions.
PREFERENCE: tuple[Api, ...] = ("responses", "messages", "chat")


def choose_endpoint(client_api: Api, endpoints: frozenset[Api] | None) -> Api:
    """``endpoints``: what the model lists; None (not listed at all) is a chat model, as it always was."""
    if endpoints is None or client_api in endpoints:
        return "chat" if endpoints is None else client_api
    for api in PREFERENCE:
        if api in endpoints:
            return api
    return "chat"  # lists only endpoints proxyd does not speak (ws:/responses): try chat
