"""Reading a chat completion chunk's choices: what both stream translators from chat completions share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from proxyd.translate.base import Event, JsonObject


def choice_events(chunk: JsonObject, translate: Callable[[JsonObject], Iterable[Event]]) -> Iterator[Event]:
    """The events each of ``chunk``'s choices implies, in order (a choice that is not an object is skipped)."""
    choices = chunk.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if isinstance(choice, dict):
            yield from translate(choice)
