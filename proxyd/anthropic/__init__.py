"""Anthropic's Messages API on top of Copilot's chat completions.

    models.py     the Copilot model a Claude model name stands for
    translate.py  an Anthropic request becomes a chat completion request; a completion becomes a message
    stream.py     chat completion chunks become Anthropic stream events, one chunk at a time
    estimate.py   the ``count_tokens`` estimate
    relay.py      the relay of ``POST /v1/messages``: Copilot's answer translated as it arrives

Everything but relay.py is pure (no I/O), so it is tested without a server.
"""
