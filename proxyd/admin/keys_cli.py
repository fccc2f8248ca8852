"""``proxyd keys``: create, list and revoke client keys from the host, straight in the database.

The rules are the admin routes' (``admin/client_keys.py``); messages name this
command's options where the routes name their fields. Running instances see a
change when their cached entry expires (within ``PROXYD_KEY_CACHE_TTL``), as
with a change made on another instance. ``proxyd keys rotate-encryption``
re-encrypts the stored GitHub tokens under a new key (:mod:`proxyd.crypto.rotation`).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from proxyd.admin.client_keys import COUNT_MAX, ClientKeyAdmin
from proxyd.clock import iso_ms
from proxyd.config import Config
from proxyd.crypto.rotation import rotate_encryption
from proxyd.crypto.startup import open_keys
from proxyd.db import Database, open_database
from proxyd.db.schema import require_current_schema
from proxyd.errors import BadRequest
from proxyd.keys.client_keys import ClientKey, ClientKeyStore

# The API's field names, as this command names them in messages.
_OPTIONS = {
    "name": "NAME",
    "models": "--models",
    "rpm": "--rpm",
    "monthlyRequests": "--monthly-requests",
    "expiresAt": "--expires",
    "accounts": "--accounts",
}


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
    return asyncio.run(_with_admin(config, lambda admin: _ACTIONS[args.keys_action](admin, args)))


async def _rotate_encryption(config: Config) -> int:
    database: Database = await open_database(config)
    try:
        await require_current_schema(database)
        source = await open_keys(database, config, may_create=False)
        return await rotate_encryption(database, source, lambda line: print(line, flush=True))
    finally:
        await database.close()


async def _with_admin(config: Config, action: Callable[[ClientKeyAdmin], Awaitable[int]]) -> int:
    database: Database = await open_database(config)
    try:
        await require_current_schema(database)
        return await action(ClientKeyAdmin(ClientKeyStore(database)))
    finally:
        await database.close()


async def _create(admin: ClientKeyAdmin, args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {"name": args.name}
    models = list(dict.fromkeys(m for each in args.models or () for m in each.split(",") if m))
    if models:
        fields["models"] = models
    if args.rpm is not None:
        fields["rpm"] = args.rpm
    if args.monthly_requests is not None:
        fields["monthlyRequests"] = args.monthly_requests
    if args.expires is not None:
        fields["expiresAt"] = args.expires
    if args.accounts:
        fields["accounts"] = list(args.accounts)
    try:
        created, secret = await admin.create(fields)
    except BadRequest as exc:
        raise BadRequest("; ".join(_in_option_words(m) for m in exc.messages or [exc.message])) from None
    print(secret)
    print(f"created client key {created.id} ({created.name}); the secret above is shown this once")
    return 0


def _in_option_words(message: str) -> str:
    """A message of the client key rules, the field it starts with named as this command's option."""
    for field, option in _OPTIONS.items():
        if message.startswith(field):
            return option + message.removeprefix(field)
    return message


async def _list(admin: ClientKeyAdmin, args: argparse.Namespace) -> int:
    for key in await admin.find_all():
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


async def _revoke(admin: ClientKeyAdmin, args: argparse.Namespace) -> int:
    await admin.delete(args.id)
    print(f"revoked client key {args.id}; running instances refuse it within PROXYD_KEY_CACHE_TTL")
    return 0


_ACTIONS: dict[str, Callable[[ClientKeyAdmin, argparse.Namespace], Awaitable[int]]] = {
    "create": _create,
    "list": _list,
    "revoke": _revoke,
}
