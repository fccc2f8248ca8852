"""What an import does to a database that may already hold keys: pure rules, no I/O.

The batch import (the yoyo step and ``proxyd import-legacy``, on synchronous
DB-API connections) and the transition fallback (one key at a time, on the
async :class:`~proxyd.keys.store.KeyStore`) both read a few :class:`DatabaseFacts`
inside their transaction and call :func:`decide`; only the statements that
carry out the :class:`Decision` differ. The rules:

* A row whose id or key is already in ``api_keys`` is *already present* and
  left exactly as it is (never overwritten).
* A row that an earlier import created and that was deleted in proxyd since
  (``legacy_import`` remembers it) is not imported again: an admin removed it.
* A row the database could not store whole on every dialect is rejected with
  a reason instead of failing the import: nothing is ever truncated.
* The legacy default is set only when the database has no default yet (an
  admin's choice is never overridden), and only if its token is in the
  database once the rows are written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from typing import Literal

from proxyd.keys.records import ApiKey
from proxyd.legacy.printable import printable

# The narrowest column on any dialect: MySQL's VARCHAR(255) id and VARCHAR(512) key, TEXT (64 KiB)
# name and meta token. One limit for all dialects, so a dry run on SQLite predicts MySQL.
ID_MAX_CHARS = 255
KEY_MAX_CHARS = 512
TEXT_MAX_BYTES = 65_535

PresentReason = Literal["same", "id", "key"]
DefaultStatus = Literal["set", "already", "kept", "none", "unavailable"]


def key_sha256(key: str) -> str:
    """How ``legacy_import`` remembers a token without storing it a second time."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class DatabaseFacts:
    """What the database holds, as far as the rows being decided are concerned.

    The batch import loads every id and key; the fallback only the ones of the
    row it imports. Either way the facts come from inside the writing transaction.
    """

    key_of_id: Mapping[str, str] = field(default_factory=dict)
    id_of_key: Mapping[str, str] = field(default_factory=dict)
    imported_ids: AbstractSet[str] = frozenset()
    imported_key_hashes: AbstractSet[str] = frozenset()
    default_id: str | None = None


@dataclass(frozen=True, slots=True)
class Present:
    """A row left alone because the database has it (``database_id`` is the row it collides with)."""

    row: ApiKey
    reason: PresentReason
    database_id: str

    def describe(self) -> str:
        if self.reason == "same":
            return "already in the database"
        if self.reason == "id":
            return "id already in the database with a different key; not imported"
        return f"key already in the database as {printable(self.database_id)}"


@dataclass(frozen=True, slots=True)
class Rejected:
    row: ApiKey
    reason: str


@dataclass(frozen=True, slots=True)
class DefaultOutcome:
    """What happened to the default key.

    ``set``: ``database_id`` becomes the default; ``already``: it is already the
    default; ``kept``: the database has another default (``database_id``), left
    alone; ``none``: the legacy store names no default; ``unavailable``: its
    default is not in the database (``reason`` says why).
    """

    status: DefaultStatus
    legacy_id: str | None = None
    database_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    inserts: list[ApiKey]  # is_default is always False here; ``mark_default`` says which row gets it
    present: list[Present]
    deleted: list[ApiKey]
    rejected: list[Rejected]
    warnings: list[str]
    default: DefaultOutcome

    @property
    def mark_default(self) -> str | None:
        return self.default.database_id if self.default.status == "set" else None


def decide(rows: Sequence[ApiKey], default_id: str | None, facts: DatabaseFacts) -> Decision:
    """Sort planned ``rows`` into inserts, already present, deleted since import and rejected; pick the default."""
    inserts: list[ApiKey] = []
    present: list[Present] = []
    deleted: list[ApiKey] = []
    rejected: list[Rejected] = []
    warnings: list[str] = []
    for row in rows:
        collision = _collision(row, facts)
        if collision is not None:
            present.append(collision)
        elif row.id in facts.imported_ids or key_sha256(row.key) in facts.imported_key_hashes:
            deleted.append(row)
        elif (problem := _too_large(row)) is not None:
            rejected.append(Rejected(row, problem))
        else:
            inserts.append(_storable(row, warnings))
    default = _default(default_id, facts, inserts, present, deleted, rejected)
    return Decision(inserts, present, deleted, rejected, warnings, default)


def _collision(row: ApiKey, facts: DatabaseFacts) -> Present | None:
    stored_key = facts.key_of_id.get(row.id)
    if stored_key is not None:
        return Present(row, "same" if stored_key == row.key else "id", row.id)
    other_id = facts.id_of_key.get(row.key)
    if other_id is not None:
        return Present(row, "key", other_id)
    return None


def _too_large(row: ApiKey) -> str | None:
    if len(row.id) > ID_MAX_CHARS:
        return f"id is longer than {ID_MAX_CHARS} characters"
    if len(row.key) > KEY_MAX_CHARS:
        return f"key is longer than {KEY_MAX_CHARS} characters"
    if len(row.name.encode("utf-8")) > TEXT_MAX_BYTES:
        return f"name is longer than {TEXT_MAX_BYTES} bytes"
    return None


def _storable(row: ApiKey, warnings: list[str]) -> ApiKey:
    row = replace(row, is_default=False)
    if row.meta is not None and len(row.meta.token.encode("utf-8")) > TEXT_MAX_BYTES:
        # proxyd fetches a fresh Copilot token on first use; the key itself matters more.
        warnings.append(f"{printable(row.id)}: meta ignored (token longer than {TEXT_MAX_BYTES} bytes)")
        row = replace(row, meta=None)
    return row


def _default(
    default_id: str | None,
    facts: DatabaseFacts,
    inserts: list[ApiKey],
    present: list[Present],
    deleted: list[ApiKey],
    rejected: list[Rejected],
) -> DefaultOutcome:
    if default_id is None:
        return DefaultOutcome("none")
    target, reason = _default_target(default_id, inserts, present, deleted, rejected)
    if facts.default_id is not None:
        status: DefaultStatus = "already" if facts.default_id == target else "kept"
        return DefaultOutcome(status, default_id, facts.default_id)
    if target is None:
        return DefaultOutcome("unavailable", default_id, None, reason)
    return DefaultOutcome("set", default_id, target)


def _default_target(
    default_id: str,
    inserts: list[ApiKey],
    present: list[Present],
    deleted: list[ApiKey],
    rejected: list[Rejected],
) -> tuple[str | None, str]:
    """The database row that holds the legacy default's token once the import is written."""
    if any(row.id == default_id for row in inserts):
        return default_id, ""
    for item in present:
        if item.row.id == default_id:
            if item.reason == "id":
                return None, "its id is already in the database with a different key"
            return item.database_id, ""
    if any(row.id == default_id for row in deleted):
        return None, "it was deleted in proxyd after an earlier import"
    for refused in rejected:
        if refused.row.id == default_id:
            return None, refused.reason
    return None, "not among the rows to import"
