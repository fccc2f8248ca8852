"""Accounting: what one proxied request cost, recorded off the request's path.

Every request that passed authentication and had a valid body becomes one
request-log row; one whose Copilot answer was a 2xx also counts as a use of
its account (even if the client left before the end: Copilot did the work).
"""

from __future__ import annotations

import time

from proxyd.clock import now_ms
from proxyd.gateway.record import CLIENT_GONE, RequestRecord
from proxyd.gateway.recorder import RequestLogEntry, UsageRecorder


class Accounting:
    def __init__(self, recorder: UsageRecorder) -> None:
        self._recorder = recorder

    def record(self, request: RequestRecord) -> None:
        prompt, completion, total = request.usage or (None, None, None)
        upstream = request.upstream_status
        self._recorder.record(
            RequestLogEntry(
                time=now_ms(),
                api_key_id=(request.account or request.principal.account).id,
                client_key_id=client_key.id if (client_key := request.principal.client_key) is not None else None,
                endpoint=request.endpoint,
                model=request.model,
                status=request.status or CLIENT_GONE,
                duration_ms=int((time.monotonic() - request.started) * 1000),
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=total,
            ),
            count_usage=upstream is not None and 200 <= upstream < 300,
        )
