"""Read a legacy ``STORAGE_DIR`` (node-persist 4 files) into plain records.

Nothing here touches a database, and nothing is ever written under the storage
directory: files are only opened for reading. One bad file never fails the
whole store; it is reported as :class:`Skipped` and the rest is read.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from proxyd import clock
from proxyd.models import ApiKey, CopilotMeta

TOKENS_DIR = "tokens"
SELECTED_DIR = "selected-token"
SELECTED_KEY = "selected-token-id"

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Integral floats beyond 2**53 may already have been rounded, so they are refused rather than trusted.
_EXACT_FLOAT_LIMIT = 2**53
_SHOWN_CHARS = 40

NOT_A_DATUM = "not a node-persist datum"
INVALID_JSON = "invalid JSON (truncated?)"
EMPTY_FILE = "empty file"
NOT_A_FILE = "not a regular file"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was not imported; ``file`` is relative to the storage dir, e.g. ``tokens/65ab...``."""

    file: str
    reason: str


@dataclass(frozen=True, slots=True)
class LegacyRecord:
    """One usable ``tokens/`` record; ``api_key.is_default`` is always False (the plan decides)."""

    file: str
    api_key: ApiKey
    flagged_default: bool


@dataclass(frozen=True, slots=True)
class LegacyStore:
    records: list[LegacyRecord]
    selected_id: str | None
    skipped: list[Skipped]
    warnings: list[str]


class _Reject(Exception):
    """The current file cannot be used; the message is the reason reported for it."""


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    path: str
    rel: str
    is_file: bool


def read_store(storage_dir: Path, *, now_ms: int | None = None) -> LegacyStore:
    """Read every datum under ``storage_dir``; ``now_ms`` decides which ttls have passed.

    A missing ``tokens/`` or ``selected-token/`` folder means "empty". A missing
    ``storage_dir`` raises FileNotFoundError: importing nothing from a mistyped
    path must not look like success.
    """
    if not storage_dir.is_dir():
        raise FileNotFoundError(f"legacy storage dir not found: {storage_dir}")
    now = clock.now_ms() if now_ms is None else now_ms
    skipped: list[Skipped] = []
    warnings: list[str] = []
    token_entries = _list_folder(storage_dir, TOKENS_DIR)
    selected_entries = _list_folder(storage_dir, SELECTED_DIR)
    if token_entries is None and selected_entries is None:
        warnings.append(f"no {TOKENS_DIR}/ or {SELECTED_DIR}/ folder in {storage_dir}: nothing to import")
    records = _read_tokens(token_entries or [], now, skipped, warnings)
    selected_id = _read_selected(selected_entries or [], now, skipped)
    records.sort(key=lambda r: (r.api_key.created_at, r.api_key.id))
    skipped.sort(key=lambda s: s.file)
    return LegacyStore(records=records, selected_id=selected_id, skipped=skipped, warnings=warnings)


def store_signature(storage_dir: Path) -> tuple[int, ...]:
    """A cheap fingerprint of both folders, equal as long as no file was added, removed or rewritten.

    node-persist rewrites files in place, which leaves the folder's own mtime
    alone, so the sum of the files' mtimes and sizes is part of the fingerprint.
    That costs one stat per file: far cheaper than reading them.
    """
    signature: list[int] = []
    for folder in (TOKENS_DIR, SELECTED_DIR):
        signature.extend(_folder_signature(os.path.join(storage_dir, folder)))
    return tuple(signature)


# --- folders -------------------------------------------------------------------------------------


def _list_folder(storage_dir: Path, folder: str) -> list[_Entry] | None:
    """The folder's entries sorted by name, or None when the folder does not exist.

    Any other error (permissions, a file where the folder should be) propagates:
    a folder that cannot be listed is not the same as an empty one.
    """
    try:
        with os.scandir(os.path.join(storage_dir, folder)) as it:
            entries = [_Entry(e.name, e.path, f"{folder}/{e.name}", e.is_file()) for e in it]
    except FileNotFoundError:
        return None
    entries.sort(key=lambda e: e.name)
    return entries


def _folder_signature(folder: str) -> tuple[int, int, int, int]:
    try:
        folder_mtime = os.stat(folder).st_mtime_ns
    except FileNotFoundError:
        return (-1, 0, 0, 0)
    count = mtimes = sizes = 0
    with os.scandir(folder) as it:
        for entry in it:
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue  # removed while listing; the folder mtime already differs
            count += 1
            mtimes += stat.st_mtime_ns
            sizes += stat.st_size
    return (count, folder_mtime, mtimes, sizes)


# --- datums --------------------------------------------------------------------------------------


def _read_datum(entry: _Entry, now_ms: int) -> tuple[str, Any]:
    """The (node-persist key, value) of a live datum, or _Reject."""
    if not entry.is_file:
        raise _Reject(NOT_A_FILE)
    if entry.name.startswith("."):
        # .DS_Store, ._* and friends: node-persist names its files by hex digests, never like this.
        raise _Reject(NOT_A_DATUM)
    try:
        with open(entry.path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise _Reject(f"unreadable ({exc.strerror or exc})") from None
    if not data or data.isspace():
        raise _Reject(EMPTY_FILE)
    doc = _parse_json(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("key"), str) or "value" not in doc:
        raise _Reject(NOT_A_DATUM)
    _check_ttl(doc.get("ttl"), now_ms)
    return doc["key"], doc["value"]


def _parse_json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    # JSON.stringify escapes a lone surrogate (an emoji cut in half by a slice) as \udXXX, which
    # orjson refuses; the stdlib parser accepts it and keeps integers exact as well.
    if b"\\u" in data:
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError:  # covers UnicodeDecodeError and JSONDecodeError
            pass
    raise _Reject(INVALID_JSON)


def _check_ttl(ttl: object, now_ms: int) -> None:
    # Mirrors node-persist's isExpired: only a truthy number in the past expires a datum; false,
    # null, 0 or a missing ttl mean "forever".
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl:
        return
    if ttl < now_ms:
        shown = clock.iso_ms(int(ttl)) if math.isfinite(ttl) else str(ttl)
        raise _Reject(f"expired (ttl {shown})")


# --- tokens/ -------------------------------------------------------------------------------------


def _read_tokens(entries: list[_Entry], now_ms: int, skipped: list[Skipped], warnings: list[str]) -> list[LegacyRecord]:
    by_id: dict[str, LegacyRecord] = {}
    for entry in entries:
        try:
            datum_key, value = _read_datum(entry, now_ms)
            record = _record(entry, datum_key, value, warnings)
        except _Reject as exc:
            skipped.append(Skipped(entry.rel, str(exc)))
            continue
        _keep_one_per_id(by_id, record, skipped)
    return list(by_id.values())


def _keep_one_per_id(by_id: dict[str, LegacyRecord], record: LegacyRecord, skipped: list[Skipped]) -> None:
    """Two files holding one id (a copied file) would collide in the database: keep one, report the other.

    The file named as node-persist names it wins; otherwise the first by file name.
    """
    rid = record.api_key.id
    other = by_id.get(rid)
    if other is None:
        by_id[rid] = record
        return
    if _is_canonical(record.file, rid) and not _is_canonical(other.file, rid):
        record, other = other, record
        by_id[rid] = other
    skipped.append(Skipped(record.file, f"duplicate id {rid} (kept {other.file})"))


def _is_canonical(rel: str, datum_key: str) -> bool:
    return rel.rsplit("/", 1)[-1] == hashlib.sha256(datum_key.encode("utf-8", "surrogatepass")).hexdigest()


def _record(entry: _Entry, datum_key: str, value: Any, warnings: list[str]) -> LegacyRecord:
    rel = entry.rel
    if not isinstance(value, dict):
        raise _Reject("record is not an object")
    rid = _text(value, "id")
    key = _text(value, "key")
    name = _name(value, rel, warnings)
    if datum_key != rid:
        warnings.append(f"{rel}: datum key {_show(datum_key)} differs from record id {_show(rid)}; using the id")
    api_key = ApiKey(
        id=rid,
        name=name,
        key=key,
        created_at=_created_at(value, entry, warnings),
        usage_count=_int64(value.get("usageCount"), "record", "usageCount") or 0,
        last_used=_optional_instant(value.get("lastUsed"), "record", "lastUsed"),
        meta=_meta_or_warn(value.get("meta"), rel, warnings),
    )
    # Older releases kept the default as a flag inside the record instead of in selected-token/.
    return LegacyRecord(file=rel, api_key=api_key, flagged_default=value.get("isDefault") is True)


def _created_at(value: dict[str, Any], entry: _Entry, warnings: list[str]) -> int:
    raw = value.get("createdAt")
    if raw is not None:
        return _required_instant(raw, "record", "createdAt")
    # Only ordering depends on createdAt; losing the token over it would be worse than an approximate date.
    try:
        mtime_ms = os.stat(entry.path).st_mtime_ns // 1_000_000
    except OSError:
        raise _Reject("record has no createdAt") from None
    warnings.append(f"{entry.rel}: record has no createdAt; using the file's mtime {clock.iso_ms(mtime_ms)}")
    return mtime_ms


def _text(value: dict[str, Any], field: str) -> str:
    """A required, non-empty string field, kept verbatim."""
    text = value.get(field)
    if text is None or text == "":
        raise _Reject(f"record has no {field}")
    if not isinstance(text, str):
        raise _Reject(f"record {field} is not a string")
    if _has_lone_surrogate(text):
        raise _Reject(f"record {field} is not valid Unicode (lone surrogate)")
    return text


def _name(value: dict[str, Any], rel: str, warnings: list[str]) -> str:
    name = value.get("name")
    if name is None:
        raise _Reject("record has no name")
    if not isinstance(name, str):
        raise _Reject("record name is not a string")
    if _has_lone_surrogate(name):
        # No database can store a lone surrogate, and losing the key over its label would be worse.
        warnings.append(f"{rel}: name has a lone surrogate (a cut emoji?); replaced with U+FFFD")
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in name)
    return name


def _has_lone_surrogate(text: str) -> bool:
    # Only the stdlib fallback parser can produce one; isascii() keeps the common case cheap.
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# --- field parsers (shared by records and meta) ----------------------------------------------------


def _required_instant(raw: object, owner: str, field: str) -> int:
    instant = _optional_instant(raw, owner, field)
    if instant is None:
        raise _Reject(f"{owner} has no {field}")
    return instant


def _optional_instant(raw: object, owner: str, field: str) -> int | None:
    """Epoch ms from a number or an ISO-8601 string (older releases wrote dates as strings)."""
    if isinstance(raw, str):
        return _iso_to_ms(raw, owner, field)
    return _int64(raw, owner, field)


def _iso_to_ms(raw: str, owner: str, field: str) -> int:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _Reject(f"{owner} {field} is not a date: {_show(raw)}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # JSON.stringify(Date) always writes UTC
    return clock.epoch_ms(moment)


def _int64(raw: object, owner: str, field: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise _Reject(f"{owner} {field} is not an integer: {_show(raw)}")
    if isinstance(raw, float):
        if not raw.is_integer() or abs(raw) > _EXACT_FLOAT_LIMIT:
            raise _Reject(f"{owner} {field} is not an exact integer: {_show(raw)}")
        raw = int(raw)
    if not isinstance(raw, int):
        raise _Reject(f"{owner} {field} is not an integer: {_show(raw)}")
    if not INT64_MIN <= raw <= INT64_MAX:
        raise _Reject(f"{owner} {field} is out of the 64-bit range: {raw}")
    return raw


def _show(raw: object) -> str:
    """A field value for a report, cut short. Never used for tokens."""
    shown = repr(raw)
    return shown if len(shown) <= _SHOWN_CHARS else shown[: _SHOWN_CHARS - 3] + "..."


# --- meta ----------------------------------------------------------------------------------------


def _meta_or_warn(raw: object, rel: str, warnings: list[str]) -> CopilotMeta | None:
    """Cached Copilot metadata; when malformed the record is still imported, since proxyd refetches it."""
    if raw is None:
        return None
    try:
        return _meta(raw)
    except _Reject as exc:
        warnings.append(f"{rel}: meta ignored ({exc})")
        return None


def _meta(raw: object) -> CopilotMeta:
    if not isinstance(raw, dict):
        raise _Reject("meta is not an object")
    token = raw.get("token")
    if token is None or token == "":
        raise _Reject("meta has no token")
    if not isinstance(token, str) or _has_lone_surrogate(token):
        raise _Reject("meta token is not a string")
    return CopilotMeta(
        token=token,
        expires_at=_required_instant(raw.get("expiresAt"), "meta", "expiresAt"),
        reset_time=_optional_instant(raw.get("resetTime"), "meta", "resetTime"),
        chat_quota=_int64(raw.get("chatQuota"), "meta", "chatQuota"),
        completions_quota=_int64(raw.get("completionsQuota"), "meta", "completionsQuota"),
    )


# --- selected-token/ -----------------------------------------------------------------------------


def _read_selected(entries: list[_Entry], now_ms: int, skipped: list[Skipped]) -> str | None:
    selected: str | None = None
    found_in: str | None = None
    for entry in entries:
        try:
            datum_key, value = _read_datum(entry, now_ms)
            if datum_key != SELECTED_KEY:
                raise _Reject(f"not the {SELECTED_KEY} datum (key {_show(datum_key)})")
            if value is not None and not isinstance(value, str):
                raise _Reject(f"{SELECTED_KEY} is not a string")
            if found_in is not None:
                raise _Reject(f"another {SELECTED_KEY} datum is in {found_in}")
        except _Reject as exc:
            skipped.append(Skipped(entry.rel, str(exc)))
            continue
        found_in = entry.rel
        # null or "" is how "no default" looks once the default key was deleted.
        selected = value or None
    return selected
