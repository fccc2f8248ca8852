"""The admin token file: a random token proxyd creates on first start when ``PROXYD_ADMIN_TOKEN`` is unset.

Like the credentials files of other daemons, it is created once with mode 0600
and reused on every later start. Creation is all-or-nothing and race-safe: the
token is written and synced to a private temporary file first, then hard-linked
to its name, which fails if the name exists. Every worker (``PROXYD_WORKERS``)
and every instance sharing the file therefore read one complete token, whoever
created it, and a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from pathlib import Path

from proxyd.errors import ConfigError

VARIABLE = "PROXYD_ADMIN_TOKEN_FILE"
_MIN_LENGTH = 16


def load_or_create(path: Path) -> tuple[str, bool]:
    """The token stored at ``path``, creating the file first if it is missing; True if it was created now."""
    try:
        return read(path), False
    except FileNotFoundError:
        pass
    created = _create(path, secrets.token_urlsafe(32))
    try:
        return read(path), created
    except FileNotFoundError:
        raise ConfigError(f"{VARIABLE}: {path} vanished while proxyd was creating it") from None


def read(path: Path) -> str:
    """The token in ``path``; FileNotFoundError if there is none, ConfigError if it is unusable."""
    try:
        # O_NONBLOCK: a FIFO in its place must not hang the start-up; it is refused below.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as file:
            status = os.fstat(file.fileno())
            mode = status.st_mode
            if not stat.S_ISREG(mode):
                raise ConfigError(f"{VARIABLE}: {path} is not a regular file")
            if status.st_uid != os.geteuid():
                # Planted, say, in a shared directory before the first start: whoever owns it knows
                # the token, and may change it at will.
                raise ConfigError(
                    f"{VARIABLE}: {path} belongs to another user (uid {status.st_uid}; proxyd runs as uid "
                    f"{os.geteuid()}); delete it to have proxyd create its own token, or run proxyd as its owner"
                )
            if mode & 0o077:
                # As ssh does with private keys: a token others can read is no secret any more.
                raise ConfigError(
                    f"{VARIABLE}: {path} is accessible to other users (mode {stat.S_IMODE(mode):04o}: "
                    f"{_who_may(mode)}); "
                    f"run chmod 600 {path}, or delete it to have proxyd create a new token"
                )
            raw = file.read(4096)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"{VARIABLE}: cannot read {path}: {exc.strerror}") from None
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


def _who_may(mode: int) -> str:
    """What a token file's mode lets users other than its owner do, in words."""
    parts = []
    for who, read, write in (("group", stat.S_IRGRP, stat.S_IWGRP), ("others", stat.S_IROTH, stat.S_IWOTH)):
        rights = [verb for bit, verb in ((read, "read"), (write, "write")) if mode & bit]
        if rights:
            parts.append(f"{who} may {' and '.join(rights)} it")
    return "; ".join(parts) or "group or others have execute rights"


def _create(path: Path, token: str) -> bool:
    """Store ``token`` at ``path`` unless a file is already there; True if this call stored it."""
    directory = path.parent
    try:
        # mkstemp: O_CREAT|O_EXCL, mode 0600 whatever the umask; never readable by others.
        descriptor, temporary = tempfile.mkstemp(prefix=".proxyd-admin-token.", dir=directory)
    except OSError as exc:
        raise ConfigError(f"{VARIABLE}: cannot create {path}: {exc.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(token.encode() + b"\n")
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)
    except FileExistsError:
        return False  # another worker or instance was first: its token is the one
    except OSError as exc:
        raise ConfigError(f"{VARIABLE}: cannot create {path}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    with contextlib.suppress(OSError):  # the new name survives a power loss
        directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)
    return True
