"""``proxyd keys``: create, list and revoke client keys from the host, straight in the database.

Running instances see a change when their cached entry expires (within
``PROXYD_KEY_CACHE_TTL``), as with a change made on another instance.
``proxyd keys rotate-encryption`` re-encrypts the stored GitHub tokens under a new
key (:mod:`proxyd.crypto.rotation`).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from proxyd.admin.routes_client_keys import COUNT_MAX, NAME_MAX, expiry
from proxyd.clock import iso_ms
from proxyd.config import Config
from proxyd.crypto.rotation import rotate_encryption
from proxyd.crypto.startup import open_keys
from proxyd.db import Database, open_database
from proxyd.db.schema import require_current_schema
from proxyd.errors import BadRequest
from proxyd.keys.client_keys import ClientKey, ClientKeySettings, ClientKeyStore
from proxyd.keys.store import account_ids


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="manage client keys (pxd_...); rotate the encryption key")
    actions = keys.add_subparsers(dest="keys_action", required=True)
    create = actions.add_parser("create", help="create a client key and print its secret (shown this once)")
    create.add_argument("name")
    create.add_argument("--models", nargs="+", metavar="MODEL", help="the only models it may use (default: all)")
    create.add_argument("--rpm", type=_count, help="requests per minute, per instance")
    create.add_argument("--monthly-requests", type=_count, help="requests per UTC calendar month")
    create.add_argument(
        "--expires",
        metavar="ISO",
        help="expiry, ISO 8601 (UTC unless an offset is given); a bare date (2026-12-31) is the end of that day, UTC",
    )
    create.add_argument("--accounts", nargs="+", metavar="ID", help="API key ids that serve it (default: all)")
    actions.add_parser("list", help="list client keys, newest first (never their secrets)")
    revoke = actions.add_parser("revoke", help="delete a client key")
    revoke.add_argument("id")
    actions.add_parser(
        "rotate-encryption",
        help="re-encrypt every stored GitHub and Copilot token under a new encryption key, while proxyd serves",
    )


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= COUNT_MAX:
        raise argparse.ArgumentTypeError(f"must be from 1 to {COUNT_MAX}, got {value}")
    return value


def run(config: Config, args: argparse.Namespace) -> int:
    if args.keys_action == "rotate-encryption":
        return asyncio.run(_rotate_encryption(config))
    return asyncio.run(_with_store(config, lambda store: _ACTIONS[args.keys_action](store, args)))


async def _rotate_encryption(config: Config) -> int:
    database: Database = await open_database(config)
    try:
        await require_current_schema(database)
        source = await open_keys(database, config, may_create=False)
        return await rotate_encryption(database, source, lambda line: print(line, flush=True))
    finally:
        await database.close()


async def _with_store(config: Config, action: Callable[[ClientKeyStore], Awaitable[int]]) -> int:
    database: Database = await open_database(config)
    try:
        await require_current_schema(database)
        return await action(ClientKeyStore(database))
    finally:
        await database.close()


async def _create(store: ClientKeyStore, args: argparse.Namespace) -> int:
    problems: list[str] = []
    if not args.name or len(args.name) > NAME_MAX or not args.name.isprintable():
        problems.append(f"NAME must be 1 to {NAME_MAX} printable characters")
    expires, problem = expiry(args.expires) if args.expires is not None else (None, None)
    if problem:
        problems.append(problem.replace("expiresAt", "--expires"))
    models = tuple(dict.fromkeys(m for each in args.models or () for m in each.split(",") if m)) or None
    accounts = tuple(dict.fromkeys(args.accounts)) if args.accounts else None
    if accounts is not None:
        known = await account_ids(store.db)
        problems += [f"--accounts: no API key has the id {a!r}" for a in accounts if a not in known]
    if problems:
        raise BadRequest("; ".join(problems))
    settings = ClientKeySettings(
        name=args.name,
        models=models,
        rpm=args.rpm,
        monthly_requests=args.monthly_requests,
        expires_at=expires,
        accounts=accounts,
    )
    created, secret = await store.create(settings)
    print(secret)
    print(f"created client key {created.id} ({created.name}); the secret above is shown this once")
    return 0


async def _list(store: ClientKeyStore, args: argparse.Namespace) -> int:
    for key in await store.find_all():
        print(_line(key))
    return 0


def _line(key: ClientKey) -> str:
    s = key.settings
    limits = [
        f"models={','.join(s.models)}" if s.models is not None else "models=all",
        f"rpm={s.rpm}" if s.rpm is not None else None,
        f"monthly={key.requests_this_month}/{s.monthly_requests}" if s.monthly_requests is not None else None,
        f"expires={iso_ms(s.expires_at)}" if s.expires_at is not None else None,
        f"accounts={','.join(s.accounts)}" if s.accounts is not None else None,
        f"used={key.usage_count}",
    ]
    return "\t".join([key.id, key.prefix + "...", key.name, " ".join(x for x in limits if x)])


async def _revoke(store: ClientKeyStore, args: argparse.Namespace) -> int:
    await store.delete(args.id)
    print(f"revoked client key {args.id}; running instances refuse it within PROXYD_KEY_CACHE_TTL")
    return 0


_ACTIONS: dict[str, Callable[[ClientKeyStore, argparse.Namespace], Awaitable[int]]] = {
    "create": _create,
    "list": _list,
    "revoke": _revoke,
}
