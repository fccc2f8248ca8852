"""The admin token file: a random token proxyd creates on first start when ``PROXYD_ADMIN_TOKEN`` is unset.

Created once with mode 0600 and reused on every later start, all-or-nothing and
race-safe (:mod:`proxyd.runtime.private_file`), so every worker (``PROXYD_WORKERS``) and
every instance sharing the file read one complete token, whoever created it.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from proxyd.errors import ConfigError
from proxyd.runtime.private_file import PrivateFile

VARIABLE = "PROXYD_ADMIN_TOKEN_FILE"
_MIN_LENGTH = 16


def _file(path: Path) -> PrivateFile:
    return PrivateFile(
        path,
        VARIABLE,
        other_owner_remedy="delete it to have proxyd create its own token, or run proxyd as its owner",
        too_open_remedy="run chmod 600 {path}, or delete it to have proxyd create a new token",
    )


def load_or_create(path: Path) -> tuple[str, bool]:
    """The token stored at ``path``, creating the file first if it is missing; True if it was created now."""
    try:
        return read(path), False
    except FileNotFoundError:
        pass
    created = _file(path).create(secrets.token_urlsafe(32).encode() + b"\n")
    try:
        return read(path), created
    except FileNotFoundError:
        raise ConfigError(f"{VARIABLE}: {path} vanished while proxyd was creating it") from None


def read(path: Path) -> str:
    """The token in ``path``; FileNotFoundError if there is none, ConfigError if it is unusable."""
    raw = _file(path).read(4096)
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        token = ""
    # It travels in an Authorization header: printable ASCII, no spaces.
    if len(token) < _MIN_LENGTH or not all("!" <= c <= "~" for c in token):
        raise ConfigError(
            f"{VARIABLE}: {path} does not hold a usable token (at least {_MIN_LENGTH} printable ASCII "
            "characters, no spaces); delete it to have proxyd create a new one"
        )
    return token
