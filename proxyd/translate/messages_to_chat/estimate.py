"""The ``count_tokens`` estimate: no tokenizer, so a documented rule of thumb.

Copilot has no token-counting route, and a real tokenizer would need its
tables downloaded at run time. The estimate counts the characters of the
chat completion request the message would become (texts, tool definitions
and tool inputs as JSON), one token per four characters rounded up, plus
four tokens per message for its framing and 1,600 per image (Anthropic's
ceiling for one image).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
TOKENS_PER_IMAGE = 1600


def estimate_input_tokens(chat: Mapping[str, Any]) -> int:
    """Input tokens of the chat completion request ``chat`` (as ``translate.to_chat_request`` built it)."""
    messages = chat.get("messages") or []
    characters = 0
    images = 0
    for message in messages:
        for text in _texts(message):
            if text is None:
                images += 1
            else:
                characters += len(text)
    if chat.get("tools"):
        characters += len(orjson.dumps(chat["tools"]))
    return math.ceil(characters / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(messages) + TOKENS_PER_IMAGE * images


def _texts(message: Mapping[str, Any]) -> Iterator[str | None]:
    """Each text of ``message``; None for each image."""
    content = message.get("content")
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            yield part.get("text", "") if part.get("type") == "text" else None
    for call in message.get("tool_calls") or ():
        yield call["function"]["name"] + call["function"]["arguments"]
