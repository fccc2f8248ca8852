"""The path of a proxied request, one part per module, each testable alone.

    principal.py   who asks: the client's key becomes a Principal (the account, or a client key's pool)
    client_limits.py  a client key's models, requests per minute and per month
    copilot.py     the upstream client: the account's Copilot token, the call, one replay on 401,
                   failover within a client key's pool
    pool.py        which account of a pool is next, which are cooling down
    relay.py       the answer streamed back: SSE event by event, or the JSON body
    accounting.py  what the request cost: usage, the request log
    copilot_wire.py  what goes on the wire to Copilot: headers, usage found in answers

``proxyd/http/proxy.py`` strings them together (``exchange``) for the OpenAI
routes and for ``proxyd/http/messages.py``, Anthropic's Messages API, which
reuses principal, copilot and accounting with a relay of its own
(``proxyd/anthropic/relay.py``).
"""
