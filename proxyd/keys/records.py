"""Key records, timestamps in epoch milliseconds: the legacy wire shapes ``ApiKey`` and ``CopilotMeta``, and
``KeyRecord``, what an account and a client key both are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proxyd.keys.masking import mask_secret


@dataclass(frozen=True, slots=True)
class CopilotMeta:
    token: str
    expires_at: int
    reset_time: int | None = None
    chat_quota: int | None = None
    completions_quota: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "expiresAt": self.expires_at,
            "resetTime": self.reset_time,
            "chatQuota": self.chat_quota,
            "completionsQuota": self.completions_quota,
        }


# Keyword-only: a subclass's own fields, defaults or not, follow these in any order.
@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRecord:
    """A stored key of either kind, account or client key: its uses as the usage flush last wrote them."""

    id: str
    created_at: int
    usage_count: int = 0
    last_used: int | None = None


@dataclass(frozen=True, slots=True)
class ApiKey(KeyRecord):
    """An account: ``key`` is its GitHub token, in clear (in memory only; the database holds it sealed).

    ``masked_key`` is computed once, when the key is written, and stored beside it: listing accounts
    needs no decryption. An ``unusable`` account is one whose stored token cannot be decrypted with
    the keys proxyd holds: its ``key`` is empty, and it is never used for a request.
    """

    name: str
    key: str
    is_default: bool = False
    meta: CopilotMeta | None = None
    masked_key: str = ""
    unusable: bool = False

    def __post_init__(self) -> None:
        if not self.masked_key and not self.unusable:
            object.__setattr__(self, "masked_key", mask_secret(self.key))

    def to_json(self) -> dict[str, Any]:
        """The legacy ``ApiKey`` record; absent optional fields are omitted, as the legacy service did."""
        record: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "key": self.key,
            "createdAt": self.created_at,
            "usageCount": self.usage_count,
        }
        if self.last_used is not None:
            record["lastUsed"] = self.last_used
        if self.meta is not None:
            record["meta"] = self.meta.to_json()
        return record

    def to_response(self) -> dict[str, Any]:
        """The legacy ``ApiKeyResponse``: the record without ``key``, plus ``isDefault`` and ``maskedKey``."""
        record = self.to_json()
        del record["key"]
        record["isDefault"] = self.is_default
        record["maskedKey"] = self.masked_key
        if self.meta is not None:
            record["meta"] = {**self.meta.to_json(), "token": mask_secret(self.meta.token)}
        if self.unusable:
            # Its token cannot be decrypted with the encryption key in use (see the README's Encryption at rest).
            record["unusable"] = True
        return record
