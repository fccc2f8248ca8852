"""Translations between Copilot's three API shapes, one package per direction (client → upstream).

    base.py               what every translation provides (``Translator``)
    registry.py           which translation serves which pair of APIs
    chat_to_responses/    chat completions clients, models served on /responses only
    chat_to_messages/     chat completions clients, Claude models served on /v1/messages only
    responses_to_chat/    Responses clients (Codex), chat-only models
    messages_to_chat/     Messages clients (Claude Code), chat-only models
    chain.py              two of them in a row, through chat: Responses ↔ Messages
    responses_tools.py    the Responses tools Copilot does not take (Codex's ``custom``), both ways
    messages_native.py    what Copilot's /v1/messages refuses of a native Messages body

A new translation is a package here and one line in ``registry.TRANSLATIONS``.
"""
