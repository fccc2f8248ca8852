"""Read a legacy ``STORAGE_DIR`` (node-persist 4 files) into plain records.

Nothing here touches a database, and nothing is ever written under the storage
directory: files are only opened for reading. One bad file never fails the
whole store; it is reported as :class:`Skipped` and the rest is read. Only
regular files are opened (a FIFO would block, a device could act on being
opened), and never more than :data:`MAX_DATUM_BYTES` of one is read. File
names in everything returned are :func:`printable`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson

from proxyd import clock
from proxyd.errors import UnusableLegacyFile
from proxyd.keys.account_resolver import unusable_key_reasons
from proxyd.keys.records import ApiKey, CopilotMeta
from proxyd.legacy.printable import printable

TOKENS_DIR = "tokens"
SELECTED_DIR = "selected-token"
SELECTED_KEY = "selected-token-id"

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Integral floats beyond 2**53 may already have been rounded, so they are refused rather than trusted.
_EXACT_FLOAT_LIMIT = 2**53
_SHOWN_CHARS = 40

# node-persist files for keys are a few KiB; the largest record a database can store whole (rules.py)
# stays well under this even with every character JSON-escaped. Larger files are skipped unread.
MAX_DATUM_BYTES = 1024 * 1024

# Seconds with a fraction in an ISO-8601 time (extended or basic format): the fraction is split off
# and added back exactly, since datetime keeps only microseconds.
_SECONDS_FRACTION = re.compile(r"(\d\d:?\d\d:?\d\d)[.,](\d+)")
# An epoch-ms number an admin wrote as a JSON string: "1753543000000" or "1753543000000.7".
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_WHOLE_MS = Decimal(1)
_ROUNDING = Context(prec=40, rounding=ROUND_HALF_UP)

NOT_A_DATUM = "not a node-persist datum"
INVALID_JSON = "invalid JSON (truncated?)"
EMPTY_FILE = "empty file"
NOT_A_FILE = "not a regular file"
SYMLINK_LOOP = "symlink loop"
DANGLING_SYMLINK = "dangling symlink"
TOO_LARGE = f"too large (the cap is {MAX_DATUM_BYTES} bytes)"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was not imported; ``file`` is relative to the storage dir (``tokens/65ab...``), printable."""

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


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    path: str
    rel: str  # printable: the name every report, log line and legacy_import row shows


@dataclass(frozen=True, slots=True)
class _Datum:
    key: str
    value: Any
    mtime_ns: int


def read_store(storage_dir: Path, *, now_ms: int | None = None) -> LegacyStore:
    """Read every datum under ``storage_dir``; ``now_ms`` decides which ttls have passed.

    A missing ``tokens/`` or ``selected-token/`` folder means "empty". A missing
    ``storage_dir`` raises FileNotFoundError: importing nothing from a mistyped
    path must not look like success.
    """
    if not storage_dir.is_dir():
        raise FileNotFoundError(f"legacy storage dir not found: {printable(str(storage_dir))}")
    now = clock.now_ms() if now_ms is None else now_ms
    skipped: list[Skipped] = []
    warnings: list[str] = []
    token_entries = _list_folder(storage_dir, TOKENS_DIR)
    selected_entries = _list_folder(storage_dir, SELECTED_DIR)
    if token_entries is None and selected_entries is None:
        warnings.append(
            f"no {TOKENS_DIR}/ or {SELECTED_DIR}/ folder in {printable(str(storage_dir))}: nothing to import"
        )
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
    a folder that cannot be listed is not the same as an empty one. Entries are
    not stat'ed here: one symlink loop must cost one file, not the listing.
    """
    try:
        with os.scandir(os.path.join(storage_dir, folder)) as it:
            entries = [_Entry(e.name, e.path, f"{folder}/{printable(e.name)}") for e in it]
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
                info = entry.stat()
            except FileNotFoundError:
                continue  # removed while listing, or a dangling symlink: the reader skips it anyway
            except OSError:
                # A symlink loop or an unreadable target: the link itself still fingerprints the entry.
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
            count += 1
            mtimes += info.st_mtime_ns
            sizes += info.st_size
    return (count, folder_mtime, mtimes, sizes)


# --- datums --------------------------------------------------------------------------------------


def _read_datum(entry: _Entry, now_ms: int) -> _Datum:
    """The node-persist key and value of a live datum, or UnusableLegacyFile."""
    try:
        info = os.stat(entry.path)
    except OSError as exc:
        raise UnusableLegacyFile(_stat_problem(entry.path, exc)) from None
    _check_regular(info)
    if entry.name.startswith("."):
        # .DS_Store, ._* and friends: node-persist names its files by hex digests, never like this.
        raise UnusableLegacyFile(NOT_A_DATUM)
    data, mtime_ns = _read_bounded(entry.path)
    if not data or data.isspace():
        raise UnusableLegacyFile(EMPTY_FILE)
    doc = _parse_json(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("key"), str) or "value" not in doc:
        raise UnusableLegacyFile(NOT_A_DATUM)
    _check_ttl(doc.get("ttl"), now_ms)
    return _Datum(doc["key"], doc["value"], mtime_ns)


def _stat_problem(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return SYMLINK_LOOP
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return DANGLING_SYMLINK
    return f"unreadable ({exc.strerror or exc})"


_FILE_KINDS = {
    stat.S_IFDIR: "directory",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
}


def _check_regular(info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise UnusableLegacyFile(f"{NOT_A_FILE} ({_FILE_KINDS.get(stat.S_IFMT(info.st_mode), 'special file')})")
    if info.st_size > MAX_DATUM_BYTES:
        raise UnusableLegacyFile(f"{TOO_LARGE}: {info.st_size} bytes")


def _read_bounded(path: str) -> tuple[bytes, int]:
    """The content of the regular file at ``path`` and its mtime; never more than MAX_DATUM_BYTES.

    The file may have been swapped since it was stat'ed: O_NONBLOCK keeps a FIFO
    from blocking the open, and fstat checks again what was actually opened.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise UnusableLegacyFile(_stat_problem(path, exc)) from None
    try:
        info = os.fstat(fd)
        _check_regular(info)
        data = read_at_most(fd, MAX_DATUM_BYTES + 1)
    except OSError as exc:
        raise UnusableLegacyFile(f"unreadable ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_DATUM_BYTES:
        raise UnusableLegacyFile(f"{TOO_LARGE}: it grew while being read")
    return data, info.st_mtime_ns


def read_at_most(fd: int, limit: int) -> bytes:
    """Up to ``limit`` bytes from ``fd``, fewer only at end of file."""
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 64 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _parse_json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    # orjson refuses some JSON the legacy service or a hand edit can produce: a lone surrogate escaped
    # as \udXXX (an emoji cut in half by a slice, as JSON.stringify writes it) or a number beyond a
    # double. The stdlib parser accepts them, and the field checks decide what the values are worth.
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # ValueError covers UnicodeDecodeError and JSONDecodeError
        raise UnusableLegacyFile(INVALID_JSON) from None


def _check_ttl(ttl: object, now_ms: int) -> None:
    # Mirrors node-persist's isExpired: only a truthy number in the past expires a datum; false,
    # null, 0 or a missing ttl mean "forever".
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl:
        return
    if ttl < now_ms:
        shown = clock.iso_ms(int(ttl)) if math.isfinite(ttl) else str(ttl)
        raise UnusableLegacyFile(f"expired (ttl {shown})")


# --- tokens/ -------------------------------------------------------------------------------------


def _read_tokens(entries: list[_Entry], now_ms: int, skipped: list[Skipped], warnings: list[str]) -> list[LegacyRecord]:
    by_id: dict[str, LegacyRecord] = {}
    for entry in entries:
        try:
            record = _record(entry, _read_datum(entry, now_ms), warnings)
        except UnusableLegacyFile as exc:
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
    skipped.append(Skipped(record.file, f"duplicate id {printable(rid)} (kept {other.file})"))


def _is_canonical(rel: str, datum_key: str) -> bool:
    return rel.rsplit("/", 1)[-1] == hashlib.sha256(datum_key.encode("utf-8", "surrogatepass")).hexdigest()


def _record(entry: _Entry, datum: _Datum, warnings: list[str]) -> LegacyRecord:
    """The key in one ``tokens/`` datum. Only a record without a usable token is rejected.

    Every other field an admin may have mangled by hand is repaired or dropped
    with a note: a key imported with an approximate date, a count of 0 or its id
    as its name beats a key lost.
    """
    value = datum.value
    if not isinstance(value, dict):
        raise UnusableLegacyFile("record is not an object")
    notes: list[str] = []  # in field order; each becomes one "FILE: note" warning
    rid = _id(value, datum.key, notes)
    key = _token(value, notes)
    api_key = ApiKey(
        id=rid,
        name=_name(value, rid, notes),
        key=key,
        created_at=_created_at(value.get("createdAt"), datum.mtime_ns, notes),
        usage_count=_usage_count(value.get("usageCount"), notes),
        last_used=_last_used(value.get("lastUsed"), notes),
        meta=_meta_or_note(value.get("meta"), notes),
    )
    warnings.extend(f"{entry.rel}: {note}" for note in notes)
    # Older releases kept the default as a flag inside the record instead of in selected-token/.
    return LegacyRecord(file=entry.rel, api_key=api_key, flagged_default=value.get("isDefault") is True)


def _id(value: dict[str, Any], datum_key: str, notes: list[str]) -> str:
    raw = value.get("id")
    if isinstance(raw, str) and raw:
        if _has_lone_surrogate(raw):
            raise UnusableLegacyFile("record id is not valid Unicode (lone surrogate)")
        if raw != datum_key:
            notes.append(f"datum key {_show(datum_key)} differs from record id {_show(raw)}; using the id")
        return raw
    problem = "record has no id" if raw is None or raw == "" else f"record id is not a string: {_show(raw)}"
    # node-persist files each record under its id, so the datum key is the id the legacy service used.
    if not datum_key or _has_lone_surrogate(datum_key):
        raise UnusableLegacyFile(problem)
    notes.append(f"{problem}; using the datum key {_show(datum_key)}")
    return datum_key


def _token(value: dict[str, Any], notes: list[str]) -> str:
    """The GitHub token, without the whitespace a hand edit leaves around it; UnusableLegacyFile if none is left.

    Requests present keys stripped, and ``_`` means "the default key", so a token
    with whitespace at either end, or ``_``, could be stored but never used.
    """
    key = _text(value, "key")
    stripped = key.strip()
    if stripped != key:
        if not stripped:
            raise UnusableLegacyFile("record key is only whitespace")
        lead, trail = key[: len(key) - len(key.lstrip())], key[len(key.rstrip()) :]
        where = [f"{lead!r} at the start"] * bool(lead) + [f"{trail!r} at the end"] * bool(trail)
        notes.append(f"whitespace around the key stripped ({', '.join(where)})")
    reasons = unusable_key_reasons(stripped)
    if reasons:
        raise UnusableLegacyFile(f"record key can never be presented ({'; '.join(reasons)})")
    return stripped


def _text(value: dict[str, Any], field: str) -> str:
    """A required, non-empty string field, kept verbatim."""
    text = value.get(field)
    if text is None or text == "":
        raise UnusableLegacyFile(f"record has no {field}")
    if not isinstance(text, str):
        raise UnusableLegacyFile(f"record {field} is not a string")
    if _has_lone_surrogate(text):
        raise UnusableLegacyFile(f"record {field} is not valid Unicode (lone surrogate)")
    return text


def _name(value: dict[str, Any], rid: str, notes: list[str]) -> str:
    name = value.get("name")
    if not isinstance(name, str):
        problem = "record has no name" if name is None else f"record name is not a string: {_show(name)}"
        notes.append(f"{problem}; using the id as its name")
        return rid
    if _has_lone_surrogate(name):
        # No database can store a lone surrogate, and losing the key over its label would be worse.
        notes.append("name has a lone surrogate (a cut emoji?); replaced with U+FFFD")
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in name)
    return name


def _created_at(raw: object, mtime_ns: int, notes: list[str]) -> int:
    """createdAt, else the file's mtime: when the legacy service last wrote the record, so never before it was created.

    Only ordering depends on createdAt; losing the token over it would be worse than an approximate date.
    """
    if raw is None:
        problem = "record has no createdAt"
    else:
        parsed: list[str] = []
        try:
            created_at = _required_instant(raw, "record", "createdAt", parsed)
        except UnusableLegacyFile as exc:
            problem = str(exc)
        else:
            notes.extend(parsed)
            return created_at
    mtime_ms = mtime_ns // 1_000_000
    notes.append(f"{problem}; using the file's mtime {clock.iso_ms(mtime_ms)}")
    return mtime_ms


def _last_used(raw: object, notes: list[str]) -> int | None:
    parsed: list[str] = []
    try:
        last_used = _optional_instant(raw, "record", "lastUsed", parsed)
    except UnusableLegacyFile as exc:
        notes.append(f"{exc}; imported without lastUsed")
        return None
    notes.extend(parsed)
    return last_used


def _usage_count(raw: object, notes: list[str]) -> int:
    """usageCount as a non-negative 64-bit integer: a statistic, never a reason to lose the key.

    A whole number in any shape (``12``, ``12.0``, ``"12"``) is taken as it is;
    a fraction is rounded, halves up; a negative or non-numeric count becomes 0
    and one beyond 64 bits the largest; each with a note.
    """
    if raw is None:
        return 0  # older records have no usageCount: it was never counted
    count = _decimal(raw)
    shown = f"record usageCount {_show(raw)}"
    if count is None:
        notes.append(f"{shown} is not a number; imported as 0")
        return 0
    if count < 0:
        notes.append(f"{shown} is negative; imported as 0")
        return 0
    if count > INT64_MAX:
        notes.append(f"{shown} is beyond the 64-bit range; imported as {INT64_MAX}")
        return INT64_MAX
    whole = int(count.quantize(_WHOLE_MS, context=_ROUNDING))
    if whole != count:
        notes.append(f"{shown} rounded to a whole number: {whole}")
    return whole


def _decimal(raw: object) -> Decimal | None:
    """A JSON number, or a number written as a string, exactly; None for anything else."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(raw) if math.isfinite(raw) else None
    if isinstance(raw, str) and _NUMBER.fullmatch(raw.strip()):
        return _number_string(raw.strip())
    return None


def _number_string(raw: str) -> Decimal | None:
    """``raw`` (matching _NUMBER) as a Decimal; None when no Decimal holds its exponent ("1e99999999999999999999")."""
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


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


def _required_instant(raw: object, owner: str, field: str, rounded: list[str]) -> int:
    instant = _optional_instant(raw, owner, field, rounded)
    if instant is None:
        raise UnusableLegacyFile(f"{owner} has no {field}")
    return instant


def _optional_instant(raw: object, owner: str, field: str, rounded: list[str]) -> int | None:
    """Epoch ms from a number or an ISO-8601 string (older releases wrote dates as strings).

    A JS number may have a fraction and an ISO string more than three decimals;
    either is rounded to whole milliseconds, halves up, and noted in ``rounded``:
    an instant a millisecond off is better than a lost key.
    """
    if isinstance(raw, str):
        exact = _string_to_ms(raw, owner, field)
    elif isinstance(raw, float) and math.isfinite(raw) and not raw.is_integer():
        exact = Decimal(raw)  # exact: every float is a finite decimal
    else:
        return _int64(raw, owner, field)
    if not INT64_MIN <= exact <= INT64_MAX:
        raise UnusableLegacyFile(f"{owner} {field} is out of the 64-bit range: {_show(raw)}")
    whole = int(exact.quantize(_WHOLE_MS, context=_ROUNDING))
    if whole != exact:
        rounded.append(f"{owner} {field} {_show(raw)} rounded to whole milliseconds: {whole}")
    return whole


def _string_to_ms(raw: str, owner: str, field: str) -> Decimal:
    """An ISO-8601 date, or else epoch ms written as a string, as exact (possibly fractional) epoch ms."""
    fraction = _SECONDS_FRACTION.search(raw)
    whole_seconds = raw if fraction is None else raw[: fraction.start(2) - 1] + raw[fraction.end(2) :]
    try:
        moment = datetime.fromisoformat(whole_seconds)
    except ValueError:
        if _NUMBER.fullmatch(raw):
            number = _number_string(raw)
            if number is None:
                raise UnusableLegacyFile(f"{owner} {field} is out of the 64-bit range: {_show(raw)}") from None
            return number
        raise UnusableLegacyFile(f"{owner} {field} is not a date: {_show(raw)}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # JSON.stringify(Date) always writes UTC
    ms = Decimal(clock.epoch_ms(moment))
    if fraction is None:
        return ms
    digits = fraction.group(2)
    exact = Context(prec=len(digits) + 40)
    return exact.add(ms, exact.scaleb(Decimal("0." + digits), 3))


def _int64(raw: object, owner: str, field: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise UnusableLegacyFile(f"{owner} {field} is not an integer: {_show(raw)}")
    if isinstance(raw, float):
        if not raw.is_integer() or abs(raw) > _EXACT_FLOAT_LIMIT:
            raise UnusableLegacyFile(f"{owner} {field} is not an exact integer: {_show(raw)}")
        raw = int(raw)
    if not isinstance(raw, int):
        raise UnusableLegacyFile(f"{owner} {field} is not an integer: {_show(raw)}")
    if not INT64_MIN <= raw <= INT64_MAX:
        raise UnusableLegacyFile(f"{owner} {field} is out of the 64-bit range: {raw}")
    return raw


def _show(raw: object) -> str:
    """A field value for a report, cut short. Never used for tokens."""
    shown = repr(raw)
    return shown if len(shown) <= _SHOWN_CHARS else shown[: _SHOWN_CHARS - 3] + "..."


# --- meta ----------------------------------------------------------------------------------------


def _meta_or_note(raw: object, notes: list[str]) -> CopilotMeta | None:
    """Cached Copilot metadata; when malformed the record is still imported, since proxyd refetches it."""
    if raw is None:
        return None
    parsed: list[str] = []
    try:
        meta = _meta(raw, parsed)
    except UnusableLegacyFile as exc:
        notes.append(f"meta ignored ({exc})")
        return None
    notes.extend(parsed)  # only for meta that is kept: ignored meta has its own note
    return meta


def _meta(raw: object, rounded: list[str]) -> CopilotMeta:
    if not isinstance(raw, dict):
        raise UnusableLegacyFile("meta is not an object")
    token = raw.get("token")
    if token is None or token == "":
        raise UnusableLegacyFile("meta has no token")
    if not isinstance(token, str) or _has_lone_surrogate(token):
        raise UnusableLegacyFile("meta token is not a string")
    return CopilotMeta(
        token=token,
        expires_at=_required_instant(raw.get("expiresAt"), "meta", "expiresAt", rounded),
        reset_time=_optional_instant(raw.get("resetTime"), "meta", "resetTime", rounded),
        chat_quota=_int64(raw.get("chatQuota"), "meta", "chatQuota"),
        completions_quota=_int64(raw.get("completionsQuota"), "meta", "completionsQuota"),
    )


# --- selected-token/ -----------------------------------------------------------------------------


def _read_selected(entries: list[_Entry], now_ms: int, skipped: list[Skipped]) -> str | None:
    selected: str | None = None
    found_in: str | None = None
    for entry in entries:
        try:
            datum = _read_datum(entry, now_ms)
            datum_key, value = datum.key, datum.value
            if datum_key != SELECTED_KEY:
                raise UnusableLegacyFile(f"not the {SELECTED_KEY} datum (key {_show(datum_key)})")
            if value is not None and not isinstance(value, str):
                raise UnusableLegacyFile(f"{SELECTED_KEY} is not a string")
            if found_in is not None:
                raise UnusableLegacyFile(f"another {SELECTED_KEY} datum is in {found_in}")
        except UnusableLegacyFile as exc:
            skipped.append(Skipped(entry.rel, str(exc)))
            continue
        found_in = entry.rel
        # null or "" is how "no default" looks once the default key was deleted.
        selected = value or None
    return selected
