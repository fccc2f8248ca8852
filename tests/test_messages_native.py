"""What proxyd changes in a client's Messages body before Copilot's own /v1/messages takes it, and nothing else."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from proxyd.translate.messages_native import CHANGES, PASSED_BETA_PREFIXES, adapted, for_copilot, passed_betas

EPHEMERAL = {"type": "ephemeral"}
MODEL = "claude-sonnet-4.5"


def _body(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **fields}


def _text(text: str, mark: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "text", "text": text, "cache_control": mark} if mark else {"type": "text", "text": text}


def test_a_body_copilot_takes_is_returned_itself() -> None:
    body = _body(
        system=[_text("You help.", EPHEMERAL)],
        thinking={"type": "adaptive"},
        output_config={"effort": "high"},
        context_management={"edits": [{"type": "clear_thinking_20251015"}]},
        metadata={"user_id": "u_session_1"},
        tools=[{"name": "f", "input_schema": {"type": "object"}, "cache_control": EPHEMERAL}],
        stream=True,
    )
    kept = copy.deepcopy(body)
    assert adapted(body, MODEL) == (body, ())
    assert for_copilot(body, MODEL) is body
    assert body == kept


def test_the_model_becomes_copilots() -> None:
    body = _body(model="claude-sonnet-4-5-20250929")
    out, changes = adapted(body, MODEL)
    assert (out["model"], changes) == (MODEL, ("model",))
    assert body["model"] == "claude-sonnet-4-5-20250929"  # the client's body is left as it was


@pytest.mark.parametrize("thinking", [{"type": "enabled", "budget_tokens": 2048}, {"type": "adaptive"}])
def test_sampling_goes_when_thinking_is_on(thinking: dict[str, Any]) -> None:
    out, changes = adapted(_body(thinking=thinking, temperature=0.5, top_p=0.9, top_k=5), MODEL)
    assert changes == ("sampling_with_thinking",)
    assert "temperature" not in out and "top_p" not in out
    assert (out["thinking"], out["top_k"]) == (thinking, 5)


def test_sampling_stays_without_thinking() -> None:
    body = _body(thinking={"type": "disabled"}, temperature=0.5, top_p=0.9)
    assert for_copilot(body, MODEL) is body


def test_scope_leaves_every_cache_control() -> None:
    scoped = {"type": "ephemeral", "scope": "global", "ttl": "1h"}
    result = {"type": "tool_result", "tool_use_id": "t", "content": [_text("out", scoped)]}
    body = _body(
        system=[_text("a", scoped)],
        tools=[{"name": "f", "input_schema": {"type": "object"}, "cache_control": scoped}],
        messages=[{"role": "user", "content": [result, _text("b", scoped)]}],
    )
    kept = copy.deepcopy(body)
    out, changes = adapted(body, MODEL)
    assert changes == ("cache_control_scope",)
    mark = {"type": "ephemeral", "ttl": "1h"}
    assert out["system"] == [_text("a", mark)]
    assert out["tools"][0]["cache_control"] == mark
    assert out["messages"][0]["content"] == [
        {"type": "tool_result", "tool_use_id": "t", "content": [_text("out", mark)]},
        _text("b", mark),
    ]
    assert body == kept


def test_a_top_level_cache_control_goes() -> None:
    out, changes = adapted(_body(cache_control=EPHEMERAL), MODEL)
    assert changes == ("top_level_cache_control",) and "cache_control" not in out


def test_beyond_four_marks_the_earliest_go() -> None:
    # Prompt order: tools, system, then messages; the latest marks cache the most, so they stay.
    body = _body(
        tools=[{"name": "f", "input_schema": {"type": "object"}, "cache_control": EPHEMERAL}],
        system=[_text("s1", EPHEMERAL), _text("s2", EPHEMERAL)],
        messages=[
            {"role": "user", "content": [_text("u1", EPHEMERAL)]},
            {"role": "assistant", "content": [_text("a1", EPHEMERAL)]},
            {"role": "user", "content": [_text("u2", EPHEMERAL)]},
        ],
    )
    out, changes = adapted(body, MODEL)
    assert changes == ("cache_control_limit",)
    assert "cache_control" not in out["tools"][0]
    assert out["system"] == [_text("s1"), _text("s2", EPHEMERAL)]
    assert [m["content"][0].get("cache_control") for m in out["messages"]] == [EPHEMERAL] * 3
    # What did not change is shared, not copied.
    assert out["messages"][2] is body["messages"][2]


def test_changes_combine_in_order() -> None:
    body = _body(
        model="claude-opus-4-1",
        thinking={"type": "enabled", "budget_tokens": 1024},
        temperature=1,
        cache_control=EPHEMERAL,
        system=[_text(str(i), {"type": "ephemeral", "scope": "global"}) for i in range(5)],
    )
    out, changes = adapted(body, "claude-opus-4.1")
    assert changes == tuple(name for name, _ in CHANGES)
    assert out["model"] == "claude-opus-4.1"
    assert out["system"] == [_text("0")] + [_text(str(i), EPHEMERAL) for i in range(1, 5)]
    assert set(out) == {"model", "max_tokens", "messages", "thinking", "system"}


@pytest.mark.parametrize(
    ("header", "passed"),
    [
        (None, None),
        ("", None),
        ("oauth-2025-04-20,fine-grained-tool-streaming-2025-05-14", None),
        (
            "claude-code-20250219, interleaved-thinking-2025-05-14,context-management-2025-06-27",
            "interleaved-thinking-2025-05-14,context-management-2025-06-27",
        ),
        ("advanced-tool-use-2025-11-20", "advanced-tool-use-2025-11-20"),
    ],
)
def test_passed_betas(header: str | None, passed: str | None) -> None:
    assert passed_betas(header) == passed


def test_the_beta_prefixes() -> None:
    assert PASSED_BETA_PREFIXES == ("interleaved-thinking", "context-management", "advanced-tool-use")
