"""Accounting: what one proxied request cost, recorded off the request's path.

Every request that passed authentication and had a valid body becomes one
request-log row; one whose Copilot answer was a 2xx also counts as a use of
its account (even if the client left before the end: Copilot did the work).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from proxyd.clock import now_ms
from proxyd.gateway.principal import Principal
from proxyd.gateway.recorder import RequestLogEntry, UsageRecorder
from proxyd.keys.records import ApiKey
from proxyd.upstream.wire import Usage

# The status the request log gives a request whose client left before its answer ended.
CLIENT_GONE = 499


@dataclass(slots=True)
class Exchange:
    """One proxied request, filled in as it goes: by the route, the relay and the error paths."""

    endpoint: str
    principal: Principal
    started: float = field(default_factory=time.monotonic)
    model: str | None = None
    # What Copilot answered (decides whether usage counts), and what the client got.
    upstream_status: int | None = None
    status: int = 0
    usage: Usage | None = None
    # The account that served it, when a client key's pool chose one (else the principal's).
    account: ApiKey | None = None


class Accounting:
    def __init__(self, recorder: UsageRecorder) -> None:
        self._recorder = recorder

    def record(self, exchange: Exchange) -> None:
        prompt, completion, total = exchange.usage or (None, None, None)
        upstream = exchange.upstream_status
        self._recorder.record(
            RequestLogEntry(
                time=now_ms(),
                api_key_id=(exchange.account or exchange.principal.account).id,
                client_key_id=client_key.id if (client_key := exchange.principal.client_key) is not None else None,
                endpoint=exchange.endpoint,
                model=exchange.model,
                status=exchange.status or CLIENT_GONE,
                duration_ms=int((time.monotonic() - exchange.started) * 1000),
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=total,
            ),
            count_usage=upstream is not None and 200 <= upstream < 300,
        )
