"""Where the encryption keys come from, and how a running process learns of new ones.

``PROXYD_ENCRYPTION_KEY`` is read once, at start. The key file is looked at
again (a ``stat``) at most once per ``KEY_FILE_CHECK_INTERVAL`` while the keys
are used, and at once when a row turns out to be sealed under a key this
process lacks: that is how every process on the machine follows
``proxyd keys rotate-encryption`` without a restart. A key file that cannot be
read later (it was being replaced, say) leaves the keys as they were.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

from proxyd.config import Config
from proxyd.crypto import key_file
from proxyd.crypto.keyring import Keyring, parse_key
from proxyd.errors import ConfigError
from proxyd.limits import KEY_FILE_CHECK_INTERVAL
from proxyd.logs import redact_values

log = logging.getLogger("proxyd.crypto")

ENV_VARIABLE = "PROXYD_ENCRYPTION_KEY"


def keyring_of(keys: Sequence[str]) -> Keyring:
    redact_values(*keys)  # a second line of defence: no log line ever shows a key
    return Keyring([parse_key(key) for key in keys])


class KeySource(ABC):
    """The current keyring, and the setting an operator changes to change it."""

    variable: str

    @abstractmethod
    def keyring(self) -> Keyring:
        """The keys to use now (a key file is looked at again at most once per check interval)."""

    @abstractmethod
    def refresh(self) -> bool:
        """Look at the source now; True if the keys changed."""

    @abstractmethod
    def describe(self) -> str:
        """The setting as an operator would look for it: the variable (and the file)."""

    def holding(self) -> str:
        """The keys in use, by id, and where they are: for messages about what they cannot decrypt."""
        ids = ", ".join(self.keyring().ids)
        return f"the key{'s' if ',' in ids else ''} {ids}"


class StaticKeys(KeySource):
    """``PROXYD_ENCRYPTION_KEY``: fixed for the life of the process."""

    variable = ENV_VARIABLE

    def __init__(self, keys: Sequence[str]) -> None:
        self._keyring = keyring_of(keys)

    def keyring(self) -> Keyring:
        return self._keyring

    def refresh(self) -> bool:
        return False

    def describe(self) -> str:
        return ENV_VARIABLE


class FileKeys(KeySource):
    """The key file, followed while it changes (a rotation replaces it whole)."""

    variable = key_file.VARIABLE

    def __init__(
        self,
        path: Path,
        keys: Sequence[str],
        *,
        check_interval: float = KEY_FILE_CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._check_interval = check_interval
        self._clock = clock
        self._signature = key_file.signature(path)
        self._keys = tuple(keys)
        self._keyring = keyring_of(keys)
        self._checked_at = clock()
        self._problem: str | None = None

    def keyring(self) -> Keyring:
        if self._clock() - self._checked_at >= self._check_interval:
            self.refresh()
        return self._keyring

    def refresh(self) -> bool:
        self._checked_at = self._clock()
        signature = key_file.signature(self.path)
        if signature == self._signature:
            return False
        try:
            keys = key_file.read_keys(self.path)
        except (ConfigError, FileNotFoundError) as exc:
            problem = exc.message if isinstance(exc, ConfigError) else f"{self.variable}: {self.path} is missing"
            if problem != self._problem:
                log.warning("%s; keeping the keys read before", problem)
                self._problem = problem
            return False
        self._problem = None
        self._signature = signature
        if keys == self._keys:
            return False
        self._keys = keys
        self._keyring = keyring_of(keys)
        log.info("encryption keys reloaded from %s: %s", self.path, ", ".join(self._keyring.ids))
        return True

    def describe(self) -> str:
        return f"{self.variable} ({self.path})"

    def holding(self) -> str:
        return f"{self.path} ({super().holding()})"


def key_source(config: Config, *, create: bool, missing: str = "") -> KeySource:
    """The keys ``config`` names: PROXYD_ENCRYPTION_KEY, else the key file.

    ``create``: a missing key file is created with a new random key (only where the database holds no
    token sealed under another one); otherwise a missing file is a ConfigError ending with ``missing``.
    """
    if config.encryption_key:
        return StaticKeys(config.encryption_key)
    path = config.encryption_key_path.absolute()
    if create:
        keys, created = key_file.load_or_create(path)
        # The path, never the key.
        if created:
            log.info(
                "encryption key created in %s (mode 0600): back it up apart from the database; "
                "without it the stored GitHub tokens cannot be read",
                path,
            )
        else:
            log.info("encryption key: read from %s", path)
        return FileKeys(path, keys)
    try:
        keys = key_file.read_keys(path)
    except FileNotFoundError:
        raise ConfigError(f"{key_file.VARIABLE}: {path} does not exist{missing}") from None
    log.info("encryption key: read from %s", path)
    return FileKeys(path, keys)
