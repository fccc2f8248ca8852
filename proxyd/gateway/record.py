"""One record per proxied request, filled in as the request goes and read at its end.

The route creates it once the client is known (``http/proxy.authenticate``)
and keeps it under ``REQUEST_RECORD``; the upstream client notes the account
that served it, the relay what Copilot answered, what the client got and the
usage, the error paths what went wrong. At the end accounting
(``gateway/accounting.py``) turns it into a request-log row and a use of the
account, and the access log and the request metric (``http/observe.py``) read
the key, the model and the status it came to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from proxyd.gateway.principal import Principal
from proxyd.keys.records import ApiKey
from proxyd.upstream.wire import Usage

# The status a request comes to when its client left before its answer ended.
CLIENT_GONE = 499


@dataclass(slots=True)
class RequestRecord:
    endpoint: str
    principal: Principal
    started: float = field(default_factory=time.monotonic)
    # The model the client asked for, as logged (cut to a length the logs can hold).
    model: str | None = None
    # What Copilot answered (decides whether usage counts), and what the client got (0: nothing yet).
    upstream_status: int | None = None
    status: int = 0
    usage: Usage | None = None
    # The account that served it, when a client key's pool chose one (else the principal's).
    account: ApiKey | None = None

    def outcome(self, answered: int) -> int:
        """The status the request came to, given the status line ``answered`` (the response's, or the error's).

        They differ when the answer broke after its status line was sent: a
        stream cut short (502), a client gone (499).
        """
        if self.upstream_status is not None and self.status != self.upstream_status:
            return self.status or answered
        return answered
