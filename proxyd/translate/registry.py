"""Which translation serves which (client API, endpoint API) pair."""

from __future__ import annotations

from proxyd.translate import chat_to_messages, chat_to_responses, messages_to_chat, responses_to_chat
from proxyd.translate.base import Api, TranslatorFactory
from proxyd.translate.chain import chained

# (the client's API, the endpoint's API) -> the translation between them.
TRANSLATIONS: dict[tuple[Api, Api], TranslatorFactory] = {
    ("chat", "responses"): chat_to_responses.translator,
    ("chat", "messages"): chat_to_messages.translator,
    ("responses", "chat"): responses_to_chat.translator,
    ("responses", "messages"): chained(responses_to_chat.translator, chat_to_messages.translator),
    ("messages", "chat"): messages_to_chat.translator,
    ("messages", "responses"): chained(messages_to_chat.translator, chat_to_responses.translator),
}
