"""Opening the keys for a process that reads or writes accounts, checked against what the database holds.

The rules, the same for ``proxyd serve``, ``proxyd keys rotate-encryption`` and ``proxyd import-legacy``:

* A missing key file is created (a new random key) only while the database holds no sealed token:
  a new key could not open them, and the file's absence more likely means it was lost or misplaced.
* A key that opens none of the stored GitHub tokens (another installation's key file, a copied
  database) is one line naming the setting, and the process exits 1: nothing is used or written.
* Where some tokens open and others do not, the others' accounts are marked unusable and named in
  the log (:class:`~proxyd.keys.store.KeyStore`), and everything else works.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from proxyd.config import Config
from proxyd.crypto.keyring import Keyring, sealed_key_id
from proxyd.crypto.source import KeySource, key_source
from proxyd.db import Database, Row
from proxyd.errors import ConfigError, UndecryptableToken
from proxyd.keys.store import KeyStore

if TYPE_CHECKING:
    from proxyd.legacy.syncdb import SyncExecutor

log = logging.getLogger("proxyd.crypto")


async def open_key_store(database: Database, config: Config) -> KeyStore:
    """The accounts' store with its keys, checked: every unusable account named in the log, once."""
    store = KeyStore(database, await open_keys(database, config))
    accounts = await store.find_all(include_unusable=True)
    unusable = sum(account.unusable for account in accounts)
    if unusable:
        log.error(
            "%d of %d accounts cannot be decrypted with %s and are not used (named above)",
            unusable,
            len(accounts),
            store.keys.describe(),
        )
    return store


async def open_keys(database: Database, config: Config, *, may_create: bool = True) -> KeySource:
    """The keys ``config`` names, for a process on the async database (``proxyd serve``, a rotation).

    ``may_create=False`` for commands an admin may run as another user than the service's (a key file
    created by root could not be read by the service).
    """
    rows = await database.fetch_all(database.queries["sealed_tokens"])
    source = key_source(config, create=may_create and not rows, missing=_missing(rows))
    require_some_open(source, rows)
    return source


def open_keys_sync(executor: SyncExecutor, config: Config) -> KeySource:
    """The same, on a synchronous connection (``proxyd import-legacy``)."""
    rows = executor.fetch_all("sealed_tokens")
    source = key_source(config, create=not rows, missing=_missing(rows))
    require_some_open(source, rows)
    return source


def require_some_open(source: KeySource, rows: Sequence[Row]) -> None:
    """ConfigError naming the setting when the stored GitHub tokens exist and none of them opens."""
    if not rows:
        return
    keyring = source.keyring()
    if any(_opens(keyring, row) for row in rows):
        return
    raise ConfigError(
        f"{source.variable}: {source.holding()} decrypts none of the {len(rows)} stored GitHub token(s) "
        f"(they are encrypted under {_key_ids(rows)}); start proxyd with the key they were encrypted with "
        "(a key of another installation, or a database copied from one?)"
    )


def _opens(keyring: Keyring, row: Row) -> bool:
    try:
        keyring.open(row["key_ciphertext"], "github-token", row["id"])
    except UndecryptableToken:
        return False
    return True


def _missing(rows: Sequence[Row]) -> str:
    """Why a missing key file is not simply created: what the database holds."""
    if not rows:
        return " (`proxyd serve` or `proxyd migrate apply` creates it, as the service's user)"
    return (
        f", but the database holds {len(rows)} GitHub token(s) encrypted under {_key_ids(rows)}; "
        "restore the key file from its backup (or set PROXYD_ENCRYPTION_KEY_FILE or PROXYD_ENCRYPTION_KEY "
        "to the key they were encrypted with)"
    )


def _key_ids(rows: Sequence[Row]) -> str:
    counted = Counter(sealed_key_id(row["key_ciphertext"]) or "no known key" for row in rows)
    return ", ".join(f"key {key_id}" for key_id, _ in counted.most_common())
