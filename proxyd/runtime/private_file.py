"""Files only proxyd's own user may read: the generated admin token, the encryption key.

Like the credentials files of other daemons, such a file is created once with
mode 0600 and read on every later start. Creation is all-or-nothing and
race-safe: the content is written and synced to a private temporary file first,
then hard-linked to its name, which fails if the name exists. Every worker and
every instance sharing the file therefore reads one complete file, whoever
created it, and a crash never leaves a half-written file behind. Replacing one
(a key rotation) renames a complete private file over it, so readers see the old
content or the new, never a mix.

Reading refuses what could have been read or chosen by someone else: a file of
another user, one others may read or write, or something that is not a regular
file. Every error is a :class:`~proxyd.errors.ConfigError` naming the variable.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from proxyd.errors import ConfigError


@dataclass(frozen=True, slots=True)
class PrivateFile:
    """One such file: ``variable`` names it in errors; the remedies end the messages about its owner and mode."""

    path: Path
    variable: str
    # What to do about a file of another user, and about one that others may read or write ({path} is filled in).
    other_owner_remedy: str
    too_open_remedy: str

    def read(self, limit: int) -> bytes:
        """At most ``limit`` bytes of the file; FileNotFoundError if there is none, ConfigError if it is unusable."""
        path = self.path
        try:
            # O_NONBLOCK: a FIFO in its place must not hang the start-up; it is refused below.
            with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as file:
                status = os.fstat(file.fileno())
                mode = status.st_mode
                if not stat.S_ISREG(mode):
                    raise ConfigError(f"{self.variable}: {path} is not a regular file")
                if status.st_uid != os.geteuid():
                    # Planted, say, in a shared directory before the first start: whoever owns it knows
                    # the secret, and may change it at will.
                    raise ConfigError(
                        f"{self.variable}: {path} belongs to another user (uid {status.st_uid}; proxyd runs as uid "
                        f"{os.geteuid()}); {self.other_owner_remedy.format(path=path)}"
                    )
                if mode & 0o077:
                    # As ssh does with private keys: a secret others can read is no secret any more.
                    raise ConfigError(
                        f"{self.variable}: {path} is accessible to other users (mode {stat.S_IMODE(mode):04o}: "
                        f"{who_may(mode)}); {self.too_open_remedy.format(path=path)}"
                    )
                return file.read(limit)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise ConfigError(f"{self.variable}: cannot read {path}: {exc.strerror}") from None

    def signature(self) -> tuple[int, int, int] | None:
        """What changes when the file is replaced or rewritten (None: it cannot be looked at)."""
        try:
            status = os.stat(self.path)
        except OSError:
            return None
        return (status.st_ino, status.st_mtime_ns, status.st_size)

    def create(self, content: bytes) -> bool:
        """Store ``content`` unless a file is already there; True if this call stored it."""
        temporary = self._write_temporary(content, "create")
        try:
            os.link(temporary, self.path)
        except FileExistsError:
            return False  # another worker or instance was first: its file is the one
        except OSError as exc:
            raise ConfigError(f"{self.variable}: cannot create {self.path}: {exc.strerror}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        self._sync_directory()
        return True

    def replace(self, content: bytes) -> None:
        """Put ``content`` in place of the file at once (readers see the old file or the new one, never a mix)."""
        temporary = self._write_temporary(content, "replace")
        try:
            os.replace(temporary, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise ConfigError(f"{self.variable}: cannot replace {self.path}: {exc.strerror}") from None
        self._sync_directory()

    def _write_temporary(self, content: bytes, action: str) -> str:
        try:
            # mkstemp: O_CREAT|O_EXCL, mode 0600 whatever the umask; never readable by others.
            descriptor, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        except OSError as exc:
            raise ConfigError(f"{self.variable}: cannot {action} {self.path}: {exc.strerror}") from None
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise ConfigError(f"{self.variable}: cannot {action} {self.path}: {exc.strerror}") from None
        return temporary

    def _sync_directory(self) -> None:
        with contextlib.suppress(OSError):  # the new name survives a power loss
            directory_fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(directory_fd)
            finally:
                os.close(directory_fd)


def who_may(mode: int) -> str:
    """What a file's mode lets users other than its owner do, in words."""
    parts = []
    for who, read, write in (("group", stat.S_IRGRP, stat.S_IWGRP), ("others", stat.S_IROTH, stat.S_IWOTH)):
        rights = [verb for bit, verb in ((read, "read"), (write, "write")) if mode & bit]
        if rights:
            parts.append(f"{who} may {' and '.join(rights)} it")
    return "; ".join(parts) or "group or others have execute rights"
