"""Who proxyd says it is to Copilot, and the headers of each call it makes.

The version headers follow the official client (COPILOT-PROTOCOL.md §2) and
come from configuration: since February 2026 Copilot answers 466 to clients it
considers too old, and an operator must be able to follow it without a
release. GitHub's own ``copilot_internal`` endpoints keep the API version they
document.

``X-Initiator`` says whether a request is a person's (``user``) or the agent's
own follow-up (``agent``); it decides billing, so it is read from the *last*
message as the official client's agent loop would have sent it: a person's
turn is ``user``, a tool result or an assistant prefill is ``agent``, and every
request proxyd resends itself is ``agent``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from proxyd.config import Config
from proxyd.translate.base import Api

GITHUB_API_VERSION = "2025-04-01"
# Part and block types that carry an image, in the three shapes.
_IMAGE_TYPES = frozenset({"image_url", "input_image", "image"})
# Responses input items that are the agent's: a tool's output, or the model's own earlier output.
_PERSON_ROLES = frozenset({"user"})


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    api_version: str
    editor_version: str
    editor_plugin_version: str
    _fixed_copilot_headers: dict[str, str] = field(init=False, repr=False, compare=False)

    @classmethod
    def from_config(cls, config: Config) -> ClientIdentity:
        return cls(config.copilot_api_version, config.editor_version, config.editor_plugin_version)

    def __post_init__(self) -> None:
        # The same for every call: built once, not on each request.
        fixed = {
            "accept-encoding": "identity",
            "editor-version": self.editor_version,
            "editor-plugin-version": self.editor_plugin_version,
            "user-agent": self.user_agent,
            "x-github-api-version": self.api_version,
            "copilot-integration-id": "vscode-chat",
            "openai-intent": "conversation-agent",
            "x-interaction-type": "conversation-agent",
        }
        object.__setattr__(self, "_fixed_copilot_headers", fixed)

    @property
    def user_agent(self) -> str:
        return "GitHubCopilotChat/" + self.editor_plugin_version.partition("/")[2]

    def github_headers(self) -> dict[str, str]:
        """For GitHub's ``copilot_internal`` endpoints (token exchange, quota) and the device flow."""
        return {
            "accept": "application/json",
            "editor-version": self.editor_version,
            "editor-plugin-version": self.editor_plugin_version,
            "user-agent": self.user_agent,
            "x-github-api-version": GITHUB_API_VERSION,
        }

    def copilot_headers(
        self, copilot_token: str, traits: CallTraits, accept: str | None, *, resent: bool
    ) -> dict[str, str]:
        """For one Copilot API call. ``resent``: proxyd sends it again itself (a retry, a failover)."""
        headers = {
            "authorization": f"Bearer {copilot_token}",
            "accept": accept or "application/json",
            **self._fixed_copilot_headers,
            "x-request-id": request_id(),
            "x-initiator": "agent" if resent else traits.initiator,
        }
        if traits.has_body:
            headers["content-type"] = "application/json"
        if traits.vision:
            headers["copilot-vision-request"] = "true"
        return headers


def request_id() -> str:
    """A random id in the form of a version-4 UUID, as the official client sends; a tenth of ``uuid4()``'s cost
    (not a secret: Mersenne Twister's bits do)."""
    bits = random.getrandbits(128)
    digits = f"{bits:032x}"
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{'89ab'[bits & 3]}{digits[17:20]}-{digits[20:]}"


@dataclass(frozen=True, slots=True)
class CallTraits:
    """What a call's body says about it to Copilot: read once per body, however often it is sent."""

    initiator: str
    vision: bool
    has_body: bool

    @classmethod
    def of(cls, api: Api | None, payload: Any) -> CallTraits:
        if payload is None:
            return _NO_BODY
        return cls(initiator(api, payload), isinstance(payload, dict) and has_image(payload), True)


def initiator(api: Api | None, payload: Any) -> str:
    """``user`` when the last message is a person's, else ``agent``, by the rules of ``api``'s shape."""
    if not isinstance(payload, dict):
        return "user"
    if api == "responses":
        return _responses_initiator(payload.get("input"))
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return "user"
    last = messages[-1]
    if last.get("role") not in _PERSON_ROLES:
        return "agent"
    if api == "messages":
        content = last.get("content")
        if isinstance(content, list) and content:
            # A user message made only of tool results is the agent loop going on.
            person = any(not isinstance(b, dict) or b.get("type") != "tool_result" for b in content)
            return "user" if person else "agent"
    return "user"


def _responses_initiator(items: Any) -> str:
    if isinstance(items, str) or not isinstance(items, list) or not items:
        return "user"
    last = items[-1]
    if not isinstance(last, dict):
        return "user"
    kind = last.get("type", "message")
    return "user" if kind == "message" and last.get("role") in _PERSON_ROLES else "agent"


def has_image(payload: Mapping[str, Any]) -> bool:
    """Whether any message or input item holds an image (chat, Responses or Messages)."""
    items = payload.get("messages")
    if items is None:
        items = payload.get("input")
    return isinstance(items, list) and any(_holds_image(item) for item in items)


def _holds_image(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    content = item.get("content")
    if not isinstance(content, list):
        return item.get("type") in _IMAGE_TYPES
    return _any_image(content)


def _any_image(parts: Iterable[Any]) -> bool:
    for part in parts:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in _IMAGE_TYPES:
            return True
        if kind == "tool_result" and isinstance(part.get("content"), list) and _any_image(part["content"]):
            return True
    return False


_NO_BODY = CallTraits("user", False, False)
