"""``proxyd keys rotate-encryption``: every stored token re-encrypted under a new key while proxyd serves.

Old and new key are both accepted until the rotation is over, so no request fails
on the way (a keyring's first key encrypts, all of them decrypt):

* **Key file** (the default): the command does it all. It writes a new random key into
  the file ahead of the current one, waits until every proxyd process on this machine
  has read the file (they look at it at least once per ``KEY_FILE_CHECK_INTERVAL``
  while they work, and at once on meeting a row sealed under a key they lack),
  re-encrypts every token under the new key, waits again and re-encrypts what a process
  sealed under the old key meanwhile, then retires the old key from the file.
* **PROXYD_ENCRYPTION_KEY** (or a key file that already lists several keys, as when a
  file is handed to several machines): the operator has made every instance read the
  new key, then encrypt with it (``<old>,<new>``, then ``<new>,<old>``, one rolling
  restart each); the command re-encrypts everything under the first key (and retires
  the others from a key file), and says what to remove.

Each row is rewritten only if it still holds what was read (a compare-and-set), in
short transactions, so admin changes and Copilot tokens stored meanwhile are never
overwritten; a later pass picks them up. Last, the database is asked to drop the old
ciphertexts from its files (``scrub_token_tables``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from proxyd.crypto import key_file
from proxyd.crypto.keyring import Keyring, generate_key, sealed_key_id
from proxyd.crypto.source import FileKeys, KeySource
from proxyd.db import Database, Row
from proxyd.errors import DatabaseError, TransientConflict, UndecryptableToken
from proxyd.limits import ROTATION_BATCH_ROWS, ROTATION_GRACE

log = logging.getLogger("proxyd.crypto")

# Passes until a pass finds nothing left under another key; more means something keeps writing old keys.
_MAX_PASSES = 5
_ATTEMPTS = 3

Say = Callable[[str], None]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class Rotation:
    """What a rotation did: tokens re-encrypted, and accounts whose token no key of the keyring opens."""

    keys: int = 0
    copilot_tokens: int = 0
    unusable: dict[str, str] = field(default_factory=dict)  # account id -> why, as the log names it


async def rotate_encryption(
    database: Database, source: KeySource, say: Say, *, grace: float = ROTATION_GRACE, sleep: Sleep = asyncio.sleep
) -> int:
    """Run a rotation, telling the operator what happens through ``say``; the exit status."""
    automatic = isinstance(source, FileKeys)
    keyring = source.keyring()
    if automatic and len(keyring.ids) == 1:
        assert isinstance(source, FileKeys)
        new = generate_key()
        current = key_file.read_keys(source.path)
        key_file.write_keys(source.path, [new, *current], note=_in_progress())
        source.refresh()
        keyring = source.keyring()
        say(
            f"new key {keyring.primary.id} written first in {source.path}; {', '.join(keyring.ids[1:])} still "
            f"decrypts. Waiting {grace:g} s for the proxyd processes on this machine to read it"
        )
        await sleep(grace)
    elif len(keyring.ids) == 1:
        say(f"{source.describe()} holds one key, {keyring.primary.id}: re-encrypting what is not under it")
    else:
        say(f"re-encrypting every token under {keyring.primary.id}, the first key of {source.describe()}")

    done = await _passes(database, source, say)
    if automatic and len(source.keyring().ids) > 1:
        # A process that sealed under the old key just before it read the file: its row is re-encrypted now.
        await sleep(grace)
        late = await _passes(database, source, say)
        done.keys += late.keys
        done.copilot_tokens += late.copilot_tokens
        done.unusable.update(late.unusable)
    keyring = source.keyring()
    say(
        f"{done.keys} GitHub token(s) and {done.copilot_tokens} Copilot token(s) re-encrypted; "
        f"every readable token is encrypted under {keyring.primary.id}"
    )
    if automatic and len(keyring.ids) > 1:
        assert isinstance(source, FileKeys)
        retired = keyring.ids[1:]
        key_file.write_keys(source.path, key_file.read_keys(source.path)[:1])
        source.refresh()
        say(
            f"retired {', '.join(retired)} from {source.path}; back up the file again "
            "(the old key reads only older backups)"
        )
    elif len(keyring.ids) > 1:
        say(
            f"now remove the other key(s) ({', '.join(keyring.ids[1:])}) from {source.describe()} on every instance "
            "and restart them"
        )
    elif not automatic:
        say(
            "to change the key with one instance: set PROXYD_ENCRYPTION_KEY=<new key>,<current key>, restart it and "
            "run this again (make a key with: openssl rand -base64 32); with several, see the README's staged rotation"
        )
    await _scrub(database, say)
    for account_id, reason in sorted(done.unusable.items()):
        say(f"account {account_id} was left as it is: its GitHub token is {reason}")
    if done.unusable:
        say(
            f"{len(done.unusable)} account(s) could not be re-encrypted: no key of {source.describe()} decrypts them "
            "(delete them, or add the key they were encrypted with and run this again)"
        )
        return 1
    return 0


def _in_progress() -> str:
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"rotation started {started}: the first key encrypts, the second still decrypts until it is retired"


async def _passes(database: Database, source: KeySource, say: Say) -> Rotation:
    done = Rotation()
    for _ in range(_MAX_PASSES):
        keyring = source.keyring()
        step = await _pass(database, keyring, say)
        done.keys += step.keys
        done.copilot_tokens += step.copilot_tokens
        done.unusable.update(step.unusable)
        if step.keys == 0 and step.copilot_tokens == 0:
            return done
    log.warning("rotation: tokens under the old key keep appearing; a process may not read the key file")
    return done


async def _pass(database: Database, keyring: Keyring, say: Say) -> Rotation:
    """Re-encrypt every row not sealed under the keyring's first key (that its keys can open)."""
    q = database.queries
    primary = keyring.primary.id
    done = Rotation()
    keys = [r for r in await database.fetch_all(q["sealed_tokens"]) if sealed_key_id(r["key_ciphertext"]) != primary]
    metas = [
        r for r in await database.fetch_all(q["sealed_meta_tokens"]) if sealed_key_id(r["token_ciphertext"]) != primary
    ]
    for start in range(0, len(keys), ROTATION_BATCH_ROWS):
        batch = keys[start : start + ROTATION_BATCH_ROWS]
        done.keys += await _batch(database, batch, lambda row: _reseal_key(keyring, row, done))
        if len(keys) > ROTATION_BATCH_ROWS:
            say(f"  {min(start + ROTATION_BATCH_ROWS, len(keys))}/{len(keys)} GitHub tokens")
    for start in range(0, len(metas), ROTATION_BATCH_ROWS):
        batch = metas[start : start + ROTATION_BATCH_ROWS]
        done.copilot_tokens += await _batch(database, batch, lambda row: _reseal_meta(keyring, row))
    return done


Statement = tuple[str, dict[str, str]]


async def _batch(database: Database, rows: Sequence[Row], reseal: Callable[[Row], Statement | None]) -> int:
    """One short transaction of compare-and-set updates; the number of rows changed."""
    statements = [s for s in map(reseal, rows) if s is not None]
    for attempt in range(1, _ATTEMPTS + 1):
        changed = 0
        try:
            async with database.transaction() as tx:
                for name, params in statements:
                    changed += await tx.execute(database.queries[name], params)
            return changed
        except TransientConflict:
            if attempt == _ATTEMPTS:
                raise
            await asyncio.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def _reseal_key(keyring: Keyring, row: Row, done: Rotation) -> Statement | None:
    try:
        token = keyring.open(row["key_ciphertext"], "github-token", row["id"])
    except UndecryptableToken as exc:
        done.unusable[row["id"]] = exc.reason
        return None
    return (
        "reseal_key",
        {
            "id": row["id"],
            "key_hmac": keyring.lookup_hash(token),
            "key_ciphertext": keyring.seal(token, "github-token", row["id"]),
            "old_ciphertext": row["key_ciphertext"],
        },
    )


def _reseal_meta(keyring: Keyring, row: Row) -> Statement | None:
    try:
        token = keyring.open(row["token_ciphertext"], "copilot-token", row["api_key_id"])
    except UndecryptableToken:
        return None  # a cached Copilot token: the next exchange replaces it, sealed under the new key
    return (
        "reseal_meta",
        {
            "api_key_id": row["api_key_id"],
            "token_ciphertext": keyring.seal(token, "copilot-token", row["api_key_id"]),
            "old_ciphertext": row["token_ciphertext"],
        },
    )


async def _scrub(database: Database, say: Say) -> None:
    try:
        await database.execute(database.queries["scrub_token_tables"])
    except DatabaseError as exc:
        say(f"the old ciphertexts could not be cleaned from the database files ({exc.message}); see the README")
