"""Around the Messages API: model names, PROXYD_MODEL_MAP, the count_tokens estimate, Anthropic's error shape.

The translation itself is tested in tests/test_translate_messages_chat.py."""

from __future__ import annotations

import pytest

from proxyd.config import Config
from proxyd.errors import ConfigError
from proxyd.http.json_io import ErrorReport, anthropic_error, error_renderer, openai_error
from proxyd.translate.messages_to_chat.estimate import estimate_input_tokens
from proxyd.translate.messages_to_chat.request import chat_request
from proxyd.upstream.model_names import copilot_model

HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("asked", "copilot"),
    [
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-3-5-sonnet-20241022", "claude-3.5-sonnet"),
        ("claude-3-7-sonnet-latest", "claude-3.7-sonnet"),
        ("claude-opus-4-1-20250805", "claude-opus-4.1"),
        ("claude-sonnet-4-5", "claude-sonnet-4.5"),
        ("claude-sonnet-4", "claude-sonnet-4"),
        ("gpt-4o-2024-11-20", "gpt-4o-2024-11-20"),  # not a Claude name: unchanged
    ],
)
def test_default_model_rule(asked: str, copilot: str) -> None:
    assert copilot_model(asked, {}) == copilot


def test_the_model_map_comes_first() -> None:
    assert copilot_model("claude-3-5-haiku-20241022", {"claude-3-5-haiku-20241022": "gpt-4o-mini"}) == "gpt-4o-mini"


def test_model_map_configuration() -> None:
    config = Config.from_env({"PROXYD_MODEL_MAP": '{"claude-x": "gpt-4o"}'})
    assert dict(config.model_map) == {"claude-x": "gpt-4o"}
    for bad in ("{oops", '["a"]', '{"a": 1}', '{"a": ""}'):
        with pytest.raises(ConfigError, match=r"^PROXYD_MODEL_MAP: "):
            Config.from_env({"PROXYD_MODEL_MAP": bad})


def test_count_tokens_estimate() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 8}, image]}]}
    # 8 characters -> 2 tokens, 4 for the message, 1,600 for the image.
    assert estimate_input_tokens(chat_request(body, "m", counting=True)) == 1606


def test_anthropic_errors_by_prefix() -> None:
    assert error_renderer("/v1/messages") is anthropic_error
    assert error_renderer("/v1/messages/count_tokens") is anthropic_error
    assert error_renderer("/v1/messagesx") is openai_error
    for status, kind in (
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
    ):
        assert anthropic_error(ErrorReport(status, "m")) == {"type": "error", "error": {"type": kind, "message": "m"}}
