"""The Codex CLI itself as a client: what ``codex exec`` really sends to ``/v1/responses``, through proxyd.

Codex speaks only the Responses API. A model Copilot serves on ``/responses``
(``gpt-5.3-codex``) should reach it there; a chat-only one (``gpt-4.1``) should
reach ``/chat/completions``, translated both ways, tool calls included. These
tests run when ``PROXYD_CODEX_CLI`` names the ``codex`` executable (``.ci/run``
installs ``@openai/codex`` with npm when npm is there) and are skipped otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.fake_upstream import RecordedRequest
from tests import proxy_clients
from tests.conftest import RunningProxy

CODEX_CLI = os.environ.get("PROXYD_CODEX_CLI", "")

pytestmark = pytest.mark.skipif(
    not CODEX_CLI,
    reason="PROXYD_CODEX_CLI is not set: the Codex CLI is not tested as a client "
    "(.ci/run installs @openai/codex with npm when npm is there)",
)

GITHUB_TOKEN = "gho_codexclitest000000000000000000000001"
KEY_VARIABLE = "PROXYD_API_KEY"  # the provider's env_key: Codex sends it as "Authorization: Bearer …"
RESPONSES_MODEL = "gpt-5.3-codex"  # Copilot serves it on /responses only
CHAT_MODEL = "gpt-4.1"  # Copilot serves it on /chat/completions only
RESPONSES = "/responses"
CHAT = "/chat/completions"
SHELL_TOOL = "exec_command"  # Codex's shell tool for a model its catalog does not know: {"cmd": "..."}
MARKER_COMMAND = {"cmd": "echo proxyd-tool-ok"}


def write_codex_home(directory: Path, base_url: str, model: str, *, hosted_tools: bool = False) -> Path:
    """A ``CODEX_HOME`` whose config.toml sends ``model`` to ``base_url`` (proxyd's ``…/v1``).

    The provider part and the two lines that turn off the tools Copilot cannot run
    (``web_search``, the ``multi_agent_v1`` namespace; ``hosted_tools`` keeps them)
    are what the README tells a user to write; the rest keeps a test quiet and quick:
    no update check, analytics or feedback, no history, and no retries (Codex
    retries a 5xx, 401, 429 or a cut stream up to 5 times by default, seconds apart).
    """
    directory.mkdir(parents=True, exist_ok=True)
    web_search = "" if hosted_tools else 'web_search = "disabled"'
    agents = "" if hosted_tools else "[agents]\nenabled = false"
    (directory / "config.toml").write_text(
        f"""\
model = "{model}"
model_provider = "proxyd"
check_for_update_on_startup = false
{web_search}

{agents}

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"

[history]
persistence = "none"

[model_providers.proxyd]
name = "proxyd"
base_url = "{base_url}"
env_key = "{KEY_VARIABLE}"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"""
    )
    return directory


@dataclass(frozen=True)
class CodexRun:
    """What ``codex exec --json`` printed: its exit code, JSONL events and stderr."""

    returncode: int | None
    events: list[dict[str, Any]]
    stderr: str

    def items(self, kind: str) -> list[dict[str, Any]]:
        """The completed items of one type (agent_message, command_execution, reasoning, error)."""
        return [e["item"] for e in self.events if e.get("type") == "item.completed" and e["item"]["type"] == kind]

    @property
    def answers(self) -> list[str]:
        return [item["text"] for item in self.items("agent_message")]

    @property
    def usage(self) -> dict[str, Any]:
        (turn,) = [e for e in self.events if e.get("type") == "turn.completed"]
        usage: dict[str, Any] = turn["usage"]
        return usage

    @property
    def failure(self) -> str:
        """Why it failed, for assertion messages: its error events, or the end of its stderr."""
        errors = [e.get("message") or e.get("error") for e in self.events if e.get("type") in ("error", "turn.failed")]
        return f"exit {self.returncode}: {errors or self.stderr[-2000:]}"


async def codex(proxy: RunningProxy, home: Path, prompt: str, model: str, *, hosted_tools: bool = False) -> CodexRun:
    """``codex exec --json prompt`` with ``model`` against ``proxy``, from a throwaway HOME and CODEX_HOME."""
    work = home / "work"
    work.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),  # codex is a node launcher; the shell tool runs bash
        "HOME": str(home),  # no settings or login of the machine's user leak in
        "CODEX_HOME": str(write_codex_home(home / "codex", f"{proxy.url}/v1", model, hosted_tools=hosted_tools)),
        KEY_VARIABLE: GITHUB_TOKEN,
    }
    process = await asyncio.create_subprocess_exec(
        CODEX_CLI,
        "exec",
        "--json",  # one JSON event a line on stdout
        "--skip-git-repo-check",  # work/ is no git repository
        "--ephemeral",  # no session files
        "--dangerously-bypass-approvals-and-sandbox",  # runs the tool's command without asking, no bubblewrap
        prompt,
        cwd=work,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,  # else it waits for more of the prompt on stdin
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    events = [orjson.loads(line) for line in out.splitlines() if line.startswith(b"{")]
    return CodexRun(process.returncode, events, err.decode(errors="replace"))


async def add_key(proxy: RunningProxy) -> None:
    await proxy_clients.add_key(proxy, GITHUB_TOKEN, "codex key", default=True)


def tool_names(request: RecordedRequest) -> list[str]:
    """Names of the tools a Responses or chat request offers (chat nests them under "function")."""
    return [tool.get("name") or tool.get("function", {}).get("name") for tool in request.json.get("tools") or []]


async def say_hi(proxy: RunningProxy, tmp_path: Path, model: str, endpoint: str) -> RecordedRequest:
    """Codex says hi to ``model``, which the fake serves on ``endpoint``: it gets the answer and its usage.

    Returns the one request sent there (streamed, with Codex's shell tool); none went to the other endpoint."""
    await add_key(proxy)
    state = proxy.upstream.state
    run = await codex(proxy, tmp_path, "Say hi", model)
    assert run.answers == [state.completion_text], run.failure
    assert run.returncode == 0, run.failure
    assert run.usage["output_tokens"] > 0  # the usage of the (translated) stream reached it
    (sent,) = state.requests_to(endpoint, "POST")
    assert sent.json["model"] == model
    assert sent.json["stream"] is True
    assert SHELL_TOOL in tool_names(sent)
    assert not state.requests_to(CHAT if endpoint == RESPONSES else RESPONSES)
    return sent


async def test_codex_gets_an_answer_from_a_responses_model(
    proxy: RunningProxy, tmp_path: Path, sqlite_only: None
) -> None:
    await say_hi(proxy, tmp_path, RESPONSES_MODEL, RESPONSES)


async def test_codex_gets_an_answer_from_a_chat_only_model(
    proxy: RunningProxy, tmp_path: Path, sqlite_only: None
) -> None:
    sent = await say_hi(proxy, tmp_path, CHAT_MODEL, CHAT)
    assert sent.json["messages"][-1]["role"] == "user"
    assert "Say hi" in orjson.dumps(sent.json["messages"][-1]["content"]).decode()


async def test_what_reaches_copilots_responses_holds_only_function_tools(
    proxy: RunningProxy, tmp_path: Path, sqlite_only: None
) -> None:
    """COPILOT-PROTOCOL.md section 7: Copilot's /responses takes function tools only."""
    await add_key(proxy)
    run = await codex(proxy, tmp_path, "Say hi", RESPONSES_MODEL)
    assert run.returncode == 0, run.failure
    (sent,) = proxy.upstream.state.requests_to(RESPONSES, "POST")
    assert {tool["type"] for tool in sent.json["tools"]} == {"function"}
    assert SHELL_TOOL in tool_names(sent)


async def test_codex_with_its_hosted_tools_is_told_which_setting_to_change(
    proxy: RunningProxy, tmp_path: Path, sqlite_only: None
) -> None:
    """Codex's default ``web_search`` tool cannot run on Copilot: a 400 that names the line to add, nothing sent."""
    await add_key(proxy)
    run = await codex(proxy, tmp_path, "Say hi", RESPONSES_MODEL, hosted_tools=True)
    assert run.returncode != 0
    # Both of Codex's default tools that Copilot cannot run are named at once, with the line that turns each off.
    assert "set web_search = " in run.failure and "disabled" in run.failure, run.failure
    assert "set [agents] enabled = false" in run.failure, run.failure
    assert not proxy.upstream.state.requests_to(RESPONSES, "POST")


def responses_tool_turn(request: RecordedRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """The function_call and its function_call_output in a Responses request's input."""
    (call,) = [item for item in request.json["input"] if item.get("type") == "function_call"]
    (output,) = [item for item in request.json["input"] if item.get("type") == "function_call_output"]
    assert output["call_id"] == call["call_id"]
    return call, output


def chat_tool_turn(request: RecordedRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """The assistant's tool call and the tool message answering it in a chat request's messages."""
    (assistant,) = [message for message in request.json["messages"] if message.get("tool_calls")]
    (call,) = assistant["tool_calls"]
    (output,) = [message for message in request.json["messages"] if message["role"] == "tool"]
    assert output["tool_call_id"] == call["id"]
    return call["function"], output


@pytest.mark.parametrize(("model", "path"), [(RESPONSES_MODEL, RESPONSES), (CHAT_MODEL, CHAT)])
async def test_codex_runs_a_shell_tool_and_its_output_reaches_copilot(
    proxy: RunningProxy, tmp_path: Path, model: str, path: str, sqlite_only: None
) -> None:
    await add_key(proxy)
    state = proxy.upstream.state
    state.tool_calls = [(SHELL_TOOL, MARKER_COMMAND)]
    running = asyncio.create_task(codex(proxy, tmp_path, "print the marker", model))
    first = asyncio.create_task(state.wait_for_requests(path, 1, within=60))
    await asyncio.wait({running, first}, return_when=asyncio.FIRST_COMPLETED)
    # codex exec has no turn limit and the fake asks for the tool on every turn: only the first
    # answer calls it. The fake builds its answer before it first yields, so clearing now is in time.
    state.tool_calls = []
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await first
    run = await running
    (command,) = run.items("command_execution")
    assert (command["aggregated_output"], command["exit_code"]) == ("proxyd-tool-ok\n", 0), run.failure
    # The fake says its text before the tool call too: that answer, then the one after the tool.
    assert run.answers[-1:] == [state.completion_text], run.failure
    assert run.returncode == 0, run.failure
    turns = state.requests_to(path, "POST")
    assert len(turns) == 2
    assert not state.requests_to(CHAT if path == RESPONSES else RESPONSES)
    call, output = responses_tool_turn(turns[1]) if path == RESPONSES else chat_tool_turn(turns[1])
    assert call["name"] == SHELL_TOOL
    assert orjson.loads(call["arguments"]) == MARKER_COMMAND
    # Codex sends a report, not the bare output: "Chunk ID: …\nWall time: …\nProcess exited with code 0\n
    # Original token count: 4\nOutput:\nproxyd-tool-ok\n".
    text = output["output"] if path == RESPONSES else output["content"]
    assert "proxyd-tool-ok" in (text if isinstance(text, str) else orjson.dumps(text).decode())
