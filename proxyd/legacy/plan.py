"""Turn a :class:`LegacyStore` into the rows to insert: one per GitHub token, at most one default.

The file store never enforced unique tokens, the database does; records that
share a token collapse into one row here, before any SQL runs, so a dry run
can show exactly what an import would do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from proxyd.keys.records import ApiKey, CopilotMeta
from proxyd.legacy.printable import masked, printable
from proxyd.legacy.reader import INT64_MAX, INT64_MIN, LegacyRecord, LegacyStore, Skipped


@dataclass(frozen=True, slots=True)
class Merged:
    """Records folded into ``kept_id`` because they held the same token (shown masked only)."""

    kept_id: str
    merged_ids: list[str]
    key_masked: str


@dataclass(frozen=True, slots=True)
class ImportPlan:
    rows: list[ApiKey]
    default_id: str | None
    dangling_default: str | None
    merged: list[Merged]
    skipped: list[Skipped]
    warnings: list[str]


def plan_import(store: LegacyStore) -> ImportPlan:
    warnings = list(store.warnings)
    default = _choose_default(store, warnings)
    rows: list[ApiKey] = []
    merged: list[Merged] = []
    for group in _group_by_token(store.records).values():
        row, folded = _collapse(group, default, warnings)
        rows.append(row)
        if folded is not None:
            merged.append(folded)
    rows.sort(key=lambda row: (row.created_at, row.id))
    return ImportPlan(
        rows=rows,
        default_id=default.api_key.id if default is not None else None,
        dangling_default=_dangling(store),
        merged=merged,
        skipped=list(store.skipped),
        warnings=warnings,
    )


def _age(record: LegacyRecord) -> tuple[int, str]:
    """Sort key for "newest": createdAt, then id so that ties still pick the same record every run."""
    return (record.api_key.created_at, record.api_key.id)


def _choose_default(store: LegacyStore, warnings: list[str]) -> LegacyRecord | None:
    """selected-token/ wins; older releases only had the isDefault flag, so it is the fallback."""
    by_id = {record.api_key.id: record for record in store.records}
    flagged = sorted((r for r in store.records if r.flagged_default), key=_age)
    selected = by_id.get(store.selected_id) if store.selected_id is not None else None
    if selected is not None:
        ignored = [printable(r.api_key.id) for r in flagged if r is not selected]
        if ignored:
            warnings.append(
                f"isDefault flag ignored on {', '.join(ignored)}: selected-token names {printable(selected.api_key.id)}"
            )
        return selected
    if len(flagged) > 1:
        ids = ", ".join(printable(r.api_key.id) for r in flagged)
        newest = printable(flagged[-1].api_key.id)
        warnings.append(f"several records flagged isDefault ({ids}); the newest, {newest}, wins")
    return flagged[-1] if flagged else None


def _dangling(store: LegacyStore) -> str | None:
    if store.selected_id is None:
        return None
    if any(record.api_key.id == store.selected_id for record in store.records):
        return None
    return store.selected_id


def _group_by_token(records: Iterable[LegacyRecord]) -> dict[str, list[LegacyRecord]]:
    groups: dict[str, list[LegacyRecord]] = {}
    for record in records:
        groups.setdefault(record.api_key.key, []).append(record)
    return groups


def _collapse(
    group: list[LegacyRecord], default: LegacyRecord | None, warnings: list[str]
) -> tuple[ApiKey, Merged | None]:
    """One row for one token: the default record if it is among them, else the newest, with the usage of all."""
    is_default = any(record is default for record in group)
    survivor = default if is_default and default is not None else max(group, key=_age)
    kept = survivor.api_key
    if len(group) == 1:
        return replace(kept, is_default=is_default), None
    row = replace(
        kept,
        usage_count=_summed_usage(group, kept.id, warnings),
        last_used=max((r.api_key.last_used for r in group if r.api_key.last_used is not None), default=None),
        meta=kept.meta if kept.meta is not None else _newest_meta(group),
        is_default=is_default,
    )
    others = [r.api_key.id for r in sorted(group, key=_age) if r is not survivor]
    return row, Merged(kept_id=kept.id, merged_ids=others, key_masked=masked(kept.key))


def _summed_usage(group: list[LegacyRecord], kept_id: str, warnings: list[str]) -> int:
    total = sum(record.api_key.usage_count for record in group)
    # The column is 64-bit; a capped counter beats a failed import.
    capped = min(max(total, INT64_MIN), INT64_MAX)
    if capped != total:
        warnings.append(f"summed usageCount of {printable(kept_id)} exceeds the 64-bit range; capped at {capped}")
    return capped


def _newest_meta(group: list[LegacyRecord]) -> CopilotMeta | None:
    with_meta = [record for record in group if record.api_key.meta is not None]
    return max(with_meta, key=_age).api_key.meta if with_meta else None
