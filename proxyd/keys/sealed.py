"""Accounts as the database holds them: tokens sealed, with the lookup hash and the masked key beside them.

The one place that turns an :class:`~proxyd.keys.records.ApiKey` into the
columns of ``api_keys`` and ``copilot_meta`` and back, for the key store, the
legacy import and the fallback alike. Nothing here ever writes a token in clear.
"""

from __future__ import annotations

from typing import Any

from proxyd.crypto.keyring import Keyring
from proxyd.db import Row
from proxyd.keys.records import ApiKey, CopilotMeta


def key_columns(api_key: ApiKey, keyring: Keyring) -> dict[str, Any]:
    """The ``api_keys`` row of ``api_key``, its token sealed under the keyring's first key."""
    return {
        "id": api_key.id,
        "name": api_key.name,
        "key_hmac": keyring.lookup_hash(api_key.key),
        "key_ciphertext": keyring.seal(api_key.key, "github-token", api_key.id),
        "masked_key": api_key.masked_key,
        "created_at": api_key.created_at,
        "last_used": api_key.last_used,
        "usage_count": api_key.usage_count,
    }


def meta_columns(key_id: str, meta: CopilotMeta, keyring: Keyring) -> dict[str, Any]:
    """The ``copilot_meta`` row of account ``key_id``, the Copilot token sealed."""
    return {
        "api_key_id": key_id,
        "token_ciphertext": keyring.seal(meta.token, "copilot-token", key_id),
        "expires_at": meta.expires_at,
        "reset_time": meta.reset_time,
        "chat_quota": meta.chat_quota,
        "completions_quota": meta.completions_quota,
    }


def unusable_account(row: Row) -> ApiKey:
    """A row of ``api_key_records`` whose token cannot be decrypted: shown to admins, never used."""
    return ApiKey(
        id=row["id"],
        name=row["name"],
        key="",
        created_at=int(row["created_at"]),
        usage_count=int(row["usage_count"]),
        last_used=None if row["last_used"] is None else int(row["last_used"]),
        is_default=bool(row["is_default"]),
        masked_key=row["masked_key"],
        unusable=True,
    )
