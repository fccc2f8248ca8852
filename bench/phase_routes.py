"""Each client API on each kind of model: the nine (client API, model) routes, native and translated.

A client speaks chat completions, the Responses API or Anthropic's Messages API; Copilot serves each model on one
of them (or several: proxyd keeps the client's when it can). Each route is measured like the chat completion
phases: added latency at the moderate rate (JSON answers) and the added delay per streamed chunk, against the
body proxyd sends the fake's endpoint for that model, sent there direct.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from proxyd.translate.base import ENDPOINT_PATHS, Api, JsonObject
from proxyd.translate.registry import TRANSLATIONS

from .phase_http import AddedLatency, Streaming, added_latency, at_moderate_rate, streaming, warm_up
from .services import Route, Target, compact_json
from .settings import Settings


@dataclass(frozen=True, slots=True)
class _Shape:
    """What one API's requests and streams look like."""

    path: str  # under proxyd's /v1
    body: JsonObject  # a request without its model
    last_event: str  # how a complete stream's last data line starts
    chunk_marker: str  # matches the data lines with text (a regular expression)


_HELLO = [{"role": "user", "content": "Say hello"}]
SHAPES: dict[Api, _Shape] = {
    # Not the role chunk a translated stream opens with ("content":""): only chunks with text.
    "chat": _Shape("/chat/completions", {"messages": _HELLO}, "data: [DONE]", '"content":"[^"]'),
    "responses": _Shape(
        "/responses", {"input": _HELLO}, 'data: {"type":"response.completed"', '"type":"response.output_text.delta"'
    ),
    "messages": _Shape(
        "/messages",
        {"max_tokens": 100, "messages": _HELLO},
        'data: {"type":"message_stop"}',
        '"type":"content_block_delta"',
    ),
}

# (the client's API, the model, the API of the fake's endpoint that serves it: see bench/fake_upstream.py).
ROUTES: tuple[tuple[Api, str, Api], ...] = (
    ("chat", "gpt-4.1", "chat"),
    ("chat", "gpt-5.3-codex", "responses"),
    ("chat", "claude-opus-4.5", "messages"),
    ("responses", "gpt-5.3-codex", "responses"),
    ("responses", "gpt-4.1", "chat"),
    ("responses", "claude-opus-4.5", "messages"),
    ("messages", "claude-sonnet-4.5", "messages"),
    ("messages", "gpt-4.1", "chat"),
    ("messages", "gpt-5.3-codex", "responses"),
)


@dataclass(frozen=True, slots=True)
class RouteFigures:
    client: Api
    model: str
    upstream: Api
    moderate: AddedLatency
    streaming: Streaming

    @property
    def native(self) -> bool:
        return self.client == self.upstream

    @property
    def errors(self) -> int:
        """Failed requests and broken streams, on either side."""
        s = self.streaming
        return self.moderate.errors + sum(side.errors + side.incomplete for side in (s.direct, s.proxyd))


def _sent(client: Api, upstream: Api, body: JsonObject) -> JsonObject:
    """The body proxyd sends ``upstream`` for the client's ``body`` (the models are Copilot's own names)."""
    return body if client == upstream else TRANSLATIONS[(client, upstream)](body, str(body["model"])).request()


def _route(api: Api, path: str, bodies: list[JsonObject], *, anthropic: bool = False) -> Route:
    shape = SHAPES[api]
    json_body, stream_body = (compact_json(body) for body in bodies)
    return Route(path, json_body, stream_body, anthropic, shape.last_event, shape.chunk_marker)


def route_targets(direct: Target, proxied: Target, client: Api, model: str, upstream: Api) -> tuple[Target, Target]:
    """(direct, proxied) for one route: the fake's endpoint with what proxyd sends it, and proxyd with the client's."""
    bodies: list[JsonObject] = [{"model": model, **SHAPES[client].body}]
    bodies.append({**bodies[0], "stream": True})
    sent = [_sent(client, upstream, body) for body in bodies]
    return (
        replace(direct, route=_route(upstream, ENDPOINT_PATHS[upstream], sent)),  # a Copilot token: Bearer
        replace(proxied, route=_route(client, SHAPES[client].path, bodies, anthropic=client == "messages")),
    )


async def routes(settings: Settings, workdir: Path, direct: Target, proxied: Target) -> list[RouteFigures]:
    """Each route in turn: both sides warmed, then at the moderate rate, then streamed."""
    figures = []
    for client, model, upstream in ROUTES:
        sides = route_targets(direct, proxied, client, model, upstream)
        for target in sides:
            await warm_up(workdir, target, requests=settings.route_warm_up)
        moderate = added_latency(settings, await at_moderate_rate(settings, workdir, *sides), *sides)
        figures.append(RouteFigures(client, model, upstream, moderate, await streaming(settings, workdir, *sides)))
    return figures
