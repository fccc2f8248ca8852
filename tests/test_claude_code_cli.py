"""Claude Code itself as a client: its real requests (betas, system messages between turns, tools) through proxyd.

The anthropic package sends what its caller writes; Claude Code sends what it
sends today, which is what users run. These tests run when
``PROXYD_CLAUDE_CLI`` names the ``claude`` executable (``.ci/run`` installs
``@anthropic-ai/claude-code`` with npm when npm is there) and are skipped
otherwise.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import RunningProxy
from tests.test_anthropic_messages import GITHUB_TOKEN, add_key

CLAUDE_CLI = os.environ.get("PROXYD_CLAUDE_CLI", "")

pytestmark = pytest.mark.skipif(not CLAUDE_CLI, reason="PROXYD_CLAUDE_CLI is not set")


async def claude(proxy: RunningProxy, home: Path, prompt: str, *options: str) -> dict[str, Any]:
    """``claude -p prompt`` against ``proxy``: its JSON result."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),  # no settings or login of the machine's user leak in
        "ANTHROPIC_BASE_URL": proxy.url,
        "ANTHROPIC_API_KEY": GITHUB_TOKEN,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    process = await asyncio.create_subprocess_exec(
        CLAUDE_CLI,
        "-p",
        prompt,
        "--output-format",
        "json",
        *options,
        cwd=home,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert out, f"claude printed nothing (exit {process.returncode}): {err.decode(errors='replace')[-2000:]}"
    result: dict[str, Any] = orjson.loads(out)
    return result


def sent_messages(proxy: RunningProxy) -> list[list[dict[str, Any]]]:
    return [request.json["messages"] for request in proxy.upstream.state.requests_to("/chat/completions")]


async def say_hello(proxy: RunningProxy, tmp_path: Path, *args: str) -> dict[str, Any]:
    """Claude Code says hello (with ``args``) and gets the fake's answer; returns its result."""
    await add_key(proxy)
    result = await claude(proxy, tmp_path, "say hello", *args)
    assert result["is_error"] is False, result.get("result")
    assert result["result"] == "Hello from the fake Copilot!"
    return result


MARKER_COMMAND = {"command": "echo proxyd-tool-ok", "description": "Print a marker"}


async def run_the_marker_tool(proxy: RunningProxy, tmp_path: Path, *args: str) -> None:
    """The fake asks for ``MARKER_COMMAND`` on every turn: two turns are one call and one answer with its output."""
    await add_key(proxy)
    proxy.upstream.state.tool_calls = [("Bash", MARKER_COMMAND)]
    await claude(proxy, tmp_path, "print the marker", "--max-turns", "2", "--allowedTools", "Bash", *args)


async def test_claude_code_gets_an_answer(proxy: RunningProxy, tmp_path: Path, sqlite_only: None) -> None:
    result = await say_hello(proxy, tmp_path)
    assert result["usage"]["output_tokens"] > 0  # the usage of the translated stream reached it
    assert sent_messages(proxy)[-1][0]["role"] == "system"


async def test_claude_code_runs_a_tool_and_gets_its_output_to_copilot(
    proxy: RunningProxy, tmp_path: Path, sqlite_only: None
) -> None:
    await run_the_marker_tool(proxy, tmp_path)
    turns = sent_messages(proxy)
    assert len(turns) >= 2
    tool_messages = [message for message in turns[1] if message["role"] == "tool"]
    assert [message["content"] for message in tool_messages] == ["proxyd-tool-ok"]
    (assistant,) = [message for message in turns[1] if message.get("tool_calls")]
    assert orjson.loads(assistant["tool_calls"][0]["function"]["arguments"]) == MARKER_COMMAND


NATIVE_MODEL = "claude-sonnet-4-5-20250929"  # Copilot serves claude-sonnet-4.5 on /v1/messages


def native_requests(proxy: RunningProxy) -> list[Any]:
    return [request.json for request in proxy.upstream.state.requests_to("/v1/messages")]


async def test_claude_code_on_a_native_messages_model_keeps_what_it_sends(
    proxy: RunningProxy, tmp_path: Path, sqlite_only: None
) -> None:
    """A Claude model goes to Copilot's /v1/messages as Claude Code wrote it: system blocks, cache marks, tools."""
    await say_hello(proxy, tmp_path, "--model", NATIVE_MODEL)
    assert not proxy.upstream.state.requests_to("/chat/completions", "POST")
    sent = native_requests(proxy)[-1]
    assert sent["model"] == "claude-sonnet-4.5"  # the one change a native body needs: Copilot's id
    assert isinstance(sent["system"], list) and sent["system"][0]["type"] == "text"
    marks = orjson.dumps(sent).count(b'"cache_control"')
    assert 0 < marks <= 4  # Claude Code's prompt-caching marks arrive (at most four, as Anthropic allows)
    assert sent["tools"] and "input_schema" in sent["tools"][0]


async def test_claude_code_runs_a_tool_on_a_native_messages_model(
    proxy: RunningProxy, tmp_path: Path, sqlite_only: None
) -> None:
    await run_the_marker_tool(proxy, tmp_path, "--model", NATIVE_MODEL)
    turns = native_requests(proxy)
    assert len(turns) >= 2
    last = turns[1]["messages"][-1]
    assert last["role"] == "user"
    results = [block for block in last["content"] if block.get("type") == "tool_result"]
    assert len(results) == 1
    content = results[0]["content"]
    assert "proxyd-tool-ok" in (content if isinstance(content, str) else orjson.dumps(content).decode())
    requests = proxy.upstream.state.requests_to("/v1/messages")
    assert requests[1].headers["x-initiator"] == "agent"  # a tool result is the agent's turn
