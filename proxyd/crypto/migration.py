"""The data steps of migration ``0007.encrypt-tokens``, and the clean-up after tokens were rewritten.

yoyo calls the steps with its DB-API connection inside the migration's
transaction; they never commit. Encrypting needs the key, which yoyo knows
nothing about: :class:`~proxyd.db.schema.Migrator` makes it available for the
duration of a run (:func:`migration_keys`), and a step asks for it only when
there are tokens to encrypt or decrypt, so an empty database needs none.

Each migration file brings the queries of the schema it runs against (the
columns are renamed by its later steps), in the sql/ files' format.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from proxyd.config import Config
from proxyd.crypto.keyring import Keyring
from proxyd.crypto.source import KeySource, key_source
from proxyd.db.url import DatabaseUrl, Dialect
from proxyd.errors import ConfigError, ProxydError, UndecryptableToken
from proxyd.keys.masking import mask_secret
from proxyd.legacy.syncdb import SyncExecutor, connect, driver_error, driver_reason

log = logging.getLogger("proxyd.crypto")

ENCRYPT_MIGRATION = "0007.encrypt-tokens"

# create=True: a missing key file may be created (nothing is sealed yet, so no key can be lost).
KeyProvider = Callable[[bool], KeySource]
Step = Callable[[Any], None]


@dataclass(slots=True)
class MigrationRun:
    """What one ``apply`` or ``rollback`` gives the steps, and what they report back."""

    keys: KeyProvider | None
    rewrote_tokens: bool = False  # the database files may still hold the tokens' old values


_RUN: ContextVar[MigrationRun | None] = ContextVar("proxyd_migration_run", default=None)


@contextmanager
def migration_keys(provider: KeyProvider | None) -> Iterator[MigrationRun]:
    """Make ``provider`` the source of keys for the migration steps run inside the block."""
    run = MigrationRun(provider)
    token = _RUN.set(run)
    try:
        yield run
    finally:
        _RUN.reset(token)


def keys_from(config: Config) -> KeyProvider:
    """The keys ``proxyd migrate`` hands the steps: PROXYD_ENCRYPTION_KEY, else the key file."""

    def provide(create: bool) -> KeySource:
        return key_source(config, create=create, missing=": the stored tokens cannot be decrypted without it")

    return provide


def _keys(dialect: Dialect, *, create: bool, count: int) -> KeySource:
    run = _RUN.get()
    provider = run.keys if run is not None else None
    if provider is None:
        raise driver_error(
            dialect,
            f"{ENCRYPT_MIGRATION}: {count} token(s) to encrypt or decrypt, but no encryption key was given "
            "(run `proxyd migrate`, which reads PROXYD_ENCRYPTION_KEY or PROXYD_ENCRYPTION_KEY_FILE)",
        )
    try:
        source = provider(create)
    except ConfigError as exc:
        raise driver_error(dialect, exc.message) from None
    assert run is not None
    run.rewrote_tokens = True
    return source


def _stored_tokens(
    connection: Any, dialect: Dialect, schema_queries: str, queries: tuple[str, str], none_stored: str
) -> tuple[SyncExecutor, list[dict[str, Any]], list[dict[str, Any]]] | None:
    """The executor, and the ``api_keys`` and ``copilot_meta`` rows the two queries select; None (logged) if none."""
    executor = SyncExecutor(connection, dialect, schema_queries)
    executor.prepare_session()  # SQLite: zero what the updates overwrite
    keys_query, metas_query = queries
    keys = executor.fetch_all(keys_query)
    metas = executor.fetch_all(metas_query)
    if not keys and not metas:
        log.info(none_stored, ENCRYPT_MIGRATION)
        return None
    return executor, keys, metas


def encrypt_step(dialect: Dialect, schema_queries: str) -> Step:
    """Seal every GitHub and Copilot token in place: the hash and ciphertext beside the key, the token replaced."""

    def apply(connection: Any) -> None:
        stored = _stored_tokens(
            connection, dialect, schema_queries, ("clear_keys", "clear_meta_tokens"), "%s: no stored token to encrypt"
        )
        if stored is None:
            return
        executor, keys, metas = stored
        source = _keys(dialect, create=True, count=len(keys) + len(metas))
        keyring = source.keyring()
        executor.execute_many(
            "seal_clear_key",
            [
                {
                    "id": row["id"],
                    "key_hmac": keyring.lookup_hash(row["key"]),
                    "key_ciphertext": keyring.seal(row["key"], "github-token", row["id"]),
                    "masked_key": mask_secret(row["key"]),
                }
                for row in keys
            ],
        )
        executor.execute_many(
            "seal_clear_meta_token",
            [{"api_key_id": row["api_key_id"], "token": _sealed_meta(keyring, row)} for row in metas],
        )
        log.info(
            "%s: %d GitHub token(s) and %d Copilot token(s) encrypted under key %s (%s)",
            ENCRYPT_MIGRATION,
            len(keys),
            len(metas),
            keyring.primary.id,
            source.describe(),
        )

    return apply


def _sealed_meta(keyring: Keyring, row: dict[str, Any]) -> str:
    return keyring.seal(row["token"], "copilot-token", row["api_key_id"])


def decrypt_step(dialect: Dialect, schema_queries: str) -> Step:
    """The rollback: every token back in clear (all or nothing), and a warning saying so."""

    def rollback(connection: Any) -> None:
        stored = _stored_tokens(
            connection,
            dialect,
            schema_queries,
            ("sealed_keys_to_open", "sealed_meta_tokens_to_open"),
            "%s rolled back: no stored token to decrypt",
        )
        if stored is None:
            return
        executor, keys, metas = stored
        source = _keys(dialect, create=False, count=len(keys) + len(metas))
        keyring = source.keyring()
        clear_keys = _opened(dialect, source, keyring, keys, "id", "key_ciphertext", "github-token")
        clear_metas = _opened(dialect, source, keyring, metas, "api_key_id", "token", "copilot-token")
        executor.execute_many("unseal_key", [{"id": row_id, "key": key} for row_id, key in clear_keys])
        executor.execute_many(
            "unseal_meta_token", [{"api_key_id": row_id, "token": token} for row_id, token in clear_metas]
        )
        log.warning(
            "%s rolled back: %d GitHub token(s) and %d Copilot token(s) are stored IN CLEAR again "
            "(api_keys.key, copilot_meta.token); the database and its backups now hand them to whoever reads them",
            ENCRYPT_MIGRATION,
            len(clear_keys),
            len(clear_metas),
        )

    return rollback


def _opened(
    dialect: Dialect,
    source: KeySource,
    keyring: Keyring,
    rows: list[dict[str, Any]],
    id_column: str,
    sealed_column: str,
    purpose: Any,
) -> list[tuple[str, str]]:
    opened: list[tuple[str, str]] = []
    failed: list[str] = []
    for row in rows:
        try:
            opened.append((row[id_column], keyring.open(row[sealed_column], purpose, row[id_column])))
        except UndecryptableToken as exc:
            failed.append(f"{row[id_column]} ({exc.reason})")
    if failed:
        # All or nothing: a rollback that dropped the ciphertexts it could not open would lose those accounts.
        raise driver_error(
            dialect,
            f"{ENCRYPT_MIGRATION}: cannot decrypt {len(failed)} stored token(s) with {source.describe()}, "
            f"so nothing was rolled back: {', '.join(failed[:5])}{' ...' if len(failed) > 5 else ''}",
        )
    return opened


def scrub(url: DatabaseUrl, timeout: float = 30.0) -> None:
    """Drop the old copies of rewritten tokens from the database's files, as far as it allows (best effort).

    Run after the migration committed (PostgreSQL's VACUUM cannot run inside a transaction).
    """
    try:
        with connect(url, timeout=timeout) as executor:
            executor.execute("scrub_token_tables")
    except Exception as exc:  # the tokens are sealed already: say what is left, never fail the migration
        reason = exc.message if isinstance(exc, ProxydError) else driver_reason(exc, url)
        log.warning(
            "%s: the old copies of the tokens could not be cleaned from the database files (%s); "
            "see the README's Encryption at rest for what to run by hand",
            url.redacted(),
            reason,
        )
