"""The path of a proxied request on proxyd's side, one part per module, each testable alone.

    principal.py          who asks: the client's key becomes a Principal (the account, or a client key's pool)
    record.py             the one record of a request, filled in as it goes, read at its end
    client_limits.py      a client key's models, requests per minute and per month
    shapes.py             a request in the client's API shape becomes the call to the endpoint chosen
    relay.py              Copilot's answer streamed back unchanged: SSE event by event, or the JSON body
    translating_relay.py  Copilot's answer in another API's shape, translated event by event
    failed_response.py    a refused Responses stream ends in ``response.failed`` (what Codex reads)
    accounting.py         what the request cost: usage, the request log
    recorder.py           usage and request-log rows, batched off the request path

Everything that speaks to Copilot (accounts, tokens, endpoint choice, retries)
is ``proxyd/upstream``; the translations are ``proxyd/translate``.
``proxyd/http/proxy.py`` strings the parts together (``call_copilot``) for every route.
"""
