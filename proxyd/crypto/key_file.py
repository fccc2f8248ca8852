"""The encryption key file: one random key proxyd creates on first use when ``PROXYD_ENCRYPTION_KEY`` is unset.

It is created and checked like the admin token file (:mod:`proxyd.runtime.private_file`:
mode 0600, owner and mode checked, created all-or-nothing even by racing
workers), but losing it is worse: without it the stored GitHub tokens cannot be
read. So proxyd never suggests deleting it, and the file says to back it up.

One key per line (32 bytes in base64), ``#`` starts a comment; the first key
encrypts, the others only decrypt (a rotation in progress). A rotation replaces
the file whole, so a process reading it sees the old keys or the new ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from proxyd.crypto.keyring import generate_key, parse_key
from proxyd.errors import ConfigError
from proxyd.runtime.private_file import PrivateFile

VARIABLE = "PROXYD_ENCRYPTION_KEY_FILE"
_MAX_BYTES = 64 * 1024

HEADER = (
    "# proxyd's encryption key for the GitHub and Copilot tokens in its database.\n"
    "# Back this file up apart from the database: without it the stored tokens cannot be read.\n"
    "# One key per line; the first encrypts, any others only decrypt (during `proxyd keys rotate-encryption`).\n"
)


def _file(path: Path) -> PrivateFile:
    return PrivateFile(
        path,
        VARIABLE,
        other_owner_remedy=(
            "give it to proxyd's user (chown) or run proxyd as its owner; do not delete it: "
            "the stored tokens cannot be read without it"
        ),
        too_open_remedy=(
            "run chmod 600 {path}; others may have read the key, so rotate it then (proxyd keys rotate-encryption)"
        ),
    )


def read_keys(path: Path) -> tuple[str, ...]:
    """The keys in ``path``, the encrypting one first; FileNotFoundError if there is none, ConfigError if unusable."""
    raw = _file(path).read(_MAX_BYTES + 1)
    if len(raw) > _MAX_BYTES:
        raise ConfigError(f"{VARIABLE}: {path} is larger than {_MAX_BYTES} bytes: not a key file")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError(f"{VARIABLE}: {path} does not hold a usable key (not ASCII text)") from None
    keys: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        try:
            parse_key(entry)
        except ValueError as exc:
            raise ConfigError(
                f"{VARIABLE}: {path} does not hold a usable key (line {number}: {exc}; "
                "each key is 32 bytes in base64, one per line)"
            ) from None
        keys.append(entry)
    if not keys:
        raise ConfigError(f"{VARIABLE}: {path} does not hold a usable key (no key in it)")
    return tuple(keys)


def load_or_create(path: Path) -> tuple[tuple[str, ...], bool]:
    """The keys stored at ``path``, creating the file with a new random key if it is missing; True if created now."""
    try:
        return read_keys(path), False
    except FileNotFoundError:
        pass
    created = _file(path).create(content(generate_key()))
    try:
        return read_keys(path), created
    except FileNotFoundError:
        raise ConfigError(f"{VARIABLE}: {path} vanished while proxyd was creating it") from None


def write_keys(path: Path, keys: Sequence[str], note: str = "") -> None:
    """Replace the file's keys at once (a rotation); ``note`` becomes a comment line."""
    _file(path).replace(content(*keys, note=note))


def signature(path: Path) -> tuple[int, int, int] | None:
    return _file(path).signature()


def content(*keys: str, note: str = "") -> bytes:
    comment = f"# {note}\n" if note else ""
    return (HEADER + comment + "".join(f"{key}\n" for key in keys)).encode("ascii")
