"""The ``proxyd`` command: serve, migrate, import-legacy, admin-token, keys."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from proxyd.admin import keys_cli as client_key_cli
from proxyd.admin import token_file as admin_token
from proxyd.config import Config
from proxyd.db.schema import Migrator
from proxyd.errors import ProxydError
from proxyd.logs import configure as configure_logging

log = logging.getLogger("proxyd")


def _positive_count(text: str) -> int:
    """``--count``: a whole number of at least 1 (it is used as a slice; 0 or -1 would mean something else)."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {count}")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="proxyd", description="GitHub Copilot as an OpenAI-compatible API.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the daemon")
    serve.add_argument("--migrate", action="store_true", help="apply pending migrations before serving")

    migrate = commands.add_parser("migrate", help="manage the database schema")
    migrate.add_argument("action", choices=("apply", "rollback", "list"))
    migrate.add_argument("--count", type=_positive_count, default=1, help="migrations to roll back (default 1)")

    token = commands.add_parser(
        "admin-token", help="print the admin token (PROXYD_ADMIN_TOKEN, else the one proxyd serve generated)"
    )
    token.add_argument("--path", action="store_true", help="print the token file's path instead")

    legacy = commands.add_parser("import-legacy", help="import API keys from a legacy STORAGE_DIR (read only)")
    legacy.add_argument("directory", type=Path, metavar="DIR", help="the legacy service's STORAGE_DIR")
    legacy.add_argument("--dry-run", action="store_true", help="report what would be imported; write nothing")
    legacy.add_argument("--json", action="store_true", help="print the report as JSON")
    client_key_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = Config.from_env()
        configure_logging(config.python_log_level, config.log_format)
        if args.command == "migrate":
            return migrate(config, args.action, args.count)
        if args.command == "admin-token":
            return print_admin_token(config, path_only=args.path)
        if args.command == "keys":
            return client_key_cli.run(config, args)
        if args.command == "import-legacy":
            from proxyd.legacy.importer import import_legacy_command

            return import_legacy_command(config, args.directory, dry_run=args.dry_run, as_json=args.json)
        from proxyd.runtime.server import serve

        return serve(config, before_serving=(lambda: migrate(config, "apply", 0)) if args.migrate else None)
    except ProxydError as exc:
        print(f"proxyd: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def print_admin_token(config: Config, *, path_only: bool) -> int:
    """What admin routes accept as ``Authorization: Bearer``; reads the file, never creates it.

    Creating it here could leave a file owned by whoever ran the command (root,
    say), which the service could then not read.
    """
    path = config.admin_token_path.absolute()
    if config.admin_token is not None and not path_only:
        print(config.admin_token)
        return 0
    if config.admin_token is not None or config.admin_loopback:
        reason = "PROXYD_ADMIN_TOKEN is set" if config.admin_token is not None else "PROXYD_ADMIN_LOOPBACK=1"
        raise ProxydError(f"{admin_token.VARIABLE}: no token file is used while {reason}")
    if path_only:
        print(path)
        return 0
    try:
        print(admin_token.read(path))
    except FileNotFoundError:
        raise ProxydError(
            f"{admin_token.VARIABLE}: {path} does not exist yet; `proxyd serve` creates it on its first start"
        ) from None
    return 0


def migrate(config: Config, action: str, count: int) -> int:
    from proxyd.crypto.migration import keys_from

    migrator = Migrator(config.database, keys=keys_from(config))
    if action == "apply":
        applied = migrator.apply()
        print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    elif action == "rollback":
        rolled_back = migrator.rollback(count)
        print(f"rolled back {len(rolled_back)} migration(s)" + (f": {', '.join(rolled_back)}" if rolled_back else ""))
    else:
        for status in migrator.status():
            print(f"{'applied' if status.applied else 'pending'}  {status.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
