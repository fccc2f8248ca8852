"""The one exception hierarchy. ``proxyd/http/middleware.py`` maps it onto HTTP responses."""

from __future__ import annotations

import math
from collections.abc import Mapping


class ProxydError(Exception):
    """Base of every error proxyd raises on purpose.

    ``headers`` go out with the error response (``Retry-After``, say).
    """

    status = 500
    message = "Internal server error"
    # OpenAI's machine-readable ``error.code`` and ``error.param`` for answers under /v1;
    # None leaves the code to the status (see proxyd/http/json_io.py).
    code: str | None = None
    param: str | None = None

    def __init_subclass__(cls, *, status: int | None = None, message: str | None = None, **kwargs: object) -> None:
        """A subclass names its status and default message: ``class Gone(ProxydError, status=410, message="Gone")``."""
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if message is not None:
            cls.message = message

    def __init__(self, message: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.headers: dict[str, str] = dict(headers or {})


class ConfigError(ProxydError):
    """A configuration value is invalid; the message names the variable."""


class DatabaseError(ProxydError, status=503, message="Database unavailable"):
    """A database call failed. The message names the database, never its credentials."""


class IntegrityViolation(DatabaseError, status=409):
    """A constraint (unique, foreign key, check) rejected the statement."""

    def __init__(self, message: str, constraint: str = "") -> None:
        super().__init__(message)
        self.constraint = constraint


class TransientConflict(DatabaseError):
    """The database aborted a transaction to break a deadlock (or a lock wait timed out): retry it."""


class SchemaOutOfDate(DatabaseError):
    """The database schema lacks migrations this version needs."""


class NotFoundError(ProxydError, status=404, message="Not found"):
    pass


class ApiKeyNotFound(NotFoundError, message="API key not found"):
    pass


class ClientKeyNotFound(NotFoundError, message="Client key not found"):
    pass


class ModelNotFound(NotFoundError, message="Model not found"):
    code = "model_not_found"
    param = "model"


class ConflictError(ProxydError, status=409, message="Conflict"):
    pass


class DuplicateKeyError(ConflictError, message="An API key with this key already exists"):
    pass


class BadRequest(ProxydError, status=400, message="Bad Request"):
    def __init__(self, message: str | list[str] | None = None) -> None:
        # NestJS' ValidationPipe answers with a list of messages; keep that shape.
        self.messages = message if isinstance(message, list) else None
        super().__init__(message if isinstance(message, str) else None)


class InvalidModel(BadRequest):
    """The request's ``model`` is missing or not a name."""

    param = "model"


class UnsupportedMediaType(ProxydError, status=415, message="Unsupported Media Type"):
    pass


class RequestTimeout(ProxydError, status=408, message="Request Timeout"):
    pass


class PayloadTooLarge(ProxydError, status=413, message="Payload Too Large"):
    pass


class Unauthorized(ProxydError, status=401, message="Unauthorized"):
    pass


class Forbidden(ProxydError, status=403, message="Forbidden"):
    pass


class NoAccount(ProxydError, status=503, message="No GitHub account is available to serve this client key"):
    """A client key whose pool is empty: it names only deleted accounts, or none is stored."""


class AccountRefused(Unauthorized, message="GitHub refused this API key for Copilot"):
    """GitHub refused an account's token for Copilot (401/403/404 on the token exchange)."""


class TooManyRequests(ProxydError, status=429, message="Too Many Requests"):
    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        """``retry_after``: seconds until the client may try again, sent as ``Retry-After`` (whole, rounded up)."""
        merged = dict(headers or {})
        if retry_after is not None:
            merged["Retry-After"] = str(max(1, math.ceil(retry_after)))
        super().__init__(message, headers=merged)


class UpstreamError(ProxydError, status=502, message="Bad Gateway"):
    """GitHub or Copilot could not be reached or refused us."""


class UpstreamTimeout(UpstreamError, status=504, message="Gateway Timeout"):
    pass


class GitHubRefused(UpstreamError):
    """GitHub answered, and said no (bad credentials, no Copilot subscription)."""

    def __init__(self, message: str, upstream_status: int) -> None:
        super().__init__(message)
        self.upstream_status = upstream_status


class UpstreamAnswered(ProxydError):
    """Copilot answered with an error that a translating route passes on in its own shape.

    The status and ``Retry-After`` are Copilot's; the message is Copilot's own.
    """

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, headers=headers)
        self.status = status
        self.code = code


class ClientVersionRefused(UpstreamError):
    """Copilot answered 466: it no longer serves the client version proxyd announces. Never retried."""

    code = "client_version_unsupported"


class LegacyDirError(ProxydError):
    """The legacy storage dir cannot be used (missing, not a folder, unreadable)."""


class UnusableLegacyFile(Exception):
    """A legacy store's file cannot be imported; the message is the reason the import report gives.

    Not a ProxydError: the reader catches it for each file and reports the file as skipped.
    """


class UndecryptableToken(Exception):
    """A stored token cannot be decrypted: its key is not in the keyring, or its ciphertext is not intact.

    Not a ProxydError: the key store catches it for each row and marks that account unusable (the
    authenticated cipher never hands back a wrong plaintext). ``key_id`` names the key the ciphertext
    says it was encrypted under, when it says one.
    """

    def __init__(self, reason: str, key_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key_id = key_id


class ClientGone(Exception):
    """Writing an answer failed because the client closed its connection: routine, never answered.

    Not a ProxydError: there is nobody left to send an error response to.
    """


class SseLineTooLong(ValueError):
    """An upstream stream sent a line longer than ``proxyd.sse.LINE_MAX``: broken or hostile, not an answer."""
