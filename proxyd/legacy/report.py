"""The import report: what was inserted, left alone, merged, skipped, and what became of the default.

One value, two renderings: :meth:`ImportReport.lines` for people (the CLI's
stdout, the migration's log) and :meth:`ImportReport.to_json` for scripts
(``proxyd import-legacy --json``). Tokens only ever appear masked. Ids, names
and masked tokens are whatever the legacy files held, so both renderings show
them :func:`printable`, as they show file names: one line, no control characters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, overload

from proxyd.keys.records import ApiKey
from proxyd.legacy.plan import Merged
from proxyd.legacy.printable import masked, printable
from proxyd.legacy.reader import Skipped
from proxyd.legacy.rules import DefaultOutcome, Present

# Per-key sections longer than this are cut short in the text; --json always lists everything.
LIST_LIMIT = 50
_NAME_SHOWN = 80


@dataclass(frozen=True, slots=True)
class ImportReport:
    source: str
    database: str | None
    dry_run: bool
    records: int  # usable records read
    rows: int  # rows after merging records that share a token
    inserted: list[ApiKey]
    present: list[Present]
    deleted: list[ApiKey]
    merged: list[Merged]
    skipped: list[Skipped]
    warnings: list[str]
    default: DefaultOutcome
    default_source: str | None  # "selected-token" or "isDefault flag"
    dangling_default: str | None
    files: Mapping[str, str]  # row id -> the file it came from

    def lines(self, limit: int = LIST_LIMIT) -> list[str]:
        header = f"legacy import from {self.source}"
        if self.database:
            header += f" into {self.database}"
        if self.dry_run:
            header += " (dry run: nothing written)"
        out = [header, f"records: {self.records} read, {self.rows} distinct tokens"]
        out += _section(
            "would insert" if self.dry_run else "inserted",
            [f"{_id(k.id)}  {masked(k.key)}  {_name(k.name)}" for k in self.inserted],
            limit,
        )
        out += _section(
            "already present",
            [f"{_id(p.row.id)}  {masked(p.row.key)}  {p.describe()}" for p in self.present],
            limit,
        )
        out += _section(
            "not re-imported (deleted in proxyd after an earlier import)",
            [f"{_id(k.id)}  {masked(k.key)}" for k in self.deleted],
            limit,
        )
        out += _section(
            "merged",
            [f"{_id(m.kept_id)} <- {', '.join(map(_id, m.merged_ids))}  ({m.key_masked})" for m in self.merged],
        )
        out += _section("skipped", [f"{s.file}: {s.reason}" for s in self.skipped])
        out += _section("warnings", self.warnings)
        out.append(f"default: {self.describe_default()}")
        out.append(f"dangling default: {self.describe_dangling()}")
        return out

    def text(self, limit: int = LIST_LIMIT) -> str:
        return "\n".join(self.lines(limit))

    def describe_default(self) -> str:
        outcome = self.default
        legacy_id, database_id = _id(outcome.legacy_id), _id(outcome.database_id)
        named = f"named by {self.default_source}" if self.default_source else "named by the legacy store"
        if outcome.status == "none":
            return "none (the legacy store names no default)"
        if outcome.status == "set":
            verb = "would be set to" if self.dry_run else "set to"
            if outcome.database_id == outcome.legacy_id:
                return f"{verb} {database_id} ({named})"
            return f"{verb} {database_id}, which holds the token of {legacy_id} ({named})"
        if outcome.status == "already":
            return f"unchanged: {database_id} already is the default ({named})"
        if outcome.status == "kept":
            return f"unchanged: the database already has a default ({database_id}); {legacy_id} ({named}) not adopted"
        return f"none set: {legacy_id} ({named}) is not in the database: {outcome.reason}"

    def describe_dangling(self) -> str:
        if self.dangling_default is None:
            return "none"
        return f"{_id(self.dangling_default)} (selected-token names a key that is not in the legacy store)"

    def to_json(self) -> dict[str, Any]:
        outcome = self.default
        return {
            "source": self.source,
            "database": self.database,
            "dry_run": self.dry_run,
            "records": self.records,
            "rows": self.rows,
            "inserted": [
                {"id": _id(k.id), "name": printable(k.name), "masked_key": masked(k.key), "file": self.files.get(k.id)}
                for k in self.inserted
            ],
            "already_present": [
                {
                    "id": _id(p.row.id),
                    "masked_key": masked(p.row.key),
                    "reason": p.reason,
                    "database_id": _id(p.database_id),
                    "message": p.describe(),
                }
                for p in self.present
            ],
            "deleted_since_import": [{"id": _id(k.id), "masked_key": masked(k.key)} for k in self.deleted],
            "merged": [
                {"kept_id": _id(m.kept_id), "merged_ids": [_id(i) for i in m.merged_ids], "masked_key": m.key_masked}
                for m in self.merged
            ],
            "skipped": [{"file": s.file, "reason": s.reason} for s in self.skipped],
            "warnings": list(self.warnings),
            "default": {
                "status": outcome.status,
                "legacy_id": _id(outcome.legacy_id),
                "source": self.default_source,
                "database_id": _id(outcome.database_id),
                "reason": outcome.reason,
                "message": self.describe_default(),
            },
            "dangling_default": _id(self.dangling_default),
        }

    def json_text(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2)


def _section(title: str, items: list[str], limit: int | None = None) -> list[str]:
    shown = items if limit is None or len(items) <= limit else items[:limit]
    lines = [f"{title}: {len(items)}", *(f"  {item}" for item in shown)]
    if len(shown) < len(items):
        lines.append(f"  ... and {len(items) - len(shown)} more (--json lists every one)")
    return lines


@overload
def _id(key_id: str) -> str: ...
@overload
def _id(key_id: None) -> None: ...
def _id(key_id: str | None) -> str | None:
    return None if key_id is None else printable(key_id)


def _name(name: str) -> str:
    """A name for one report line: quoted and escaped (names may hold anything), long ones cut."""
    shown = '"' + printable(name[:_NAME_SHOWN]).replace('"', '\\"') + '"'
    if len(name) > _NAME_SHOWN:
        return shown + f" (+{len(name) - _NAME_SHOWN} chars)"
    return shown
