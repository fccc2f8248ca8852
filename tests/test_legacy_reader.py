"""The pure part of the legacy import: reading node-persist files and planning the rows (no database)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

import proxyd.legacy.reader as reader_module
from bench.node_persist import write_datum
from proxyd.clock import iso_ms
from proxyd.keys.masking import mask_secret
from proxyd.keys.records import ApiKey, CopilotMeta
from proxyd.legacy.plan import ImportPlan, Merged, plan_import
from proxyd.legacy.printable import printable
from proxyd.legacy.reader import LegacyStore, Skipped, read_store, store_signature
from tests.legacy_samples import samples_dir

# After every ttl in the samples, and fixed so that expiry never depends on the clock.
NOW_MS = 1_800_000_000_000
T0 = 1_753_546_461_000


@dataclass(frozen=True, slots=True)
class Expected:
    rows: list[ApiKey]
    default_id: str | None = None
    dangling_default: str | None = None
    merged: tuple[Merged, ...] = ()
    skipped: tuple[Skipped, ...] = ()


# The GitHub token of every record the samples import, by record id.
SAMPLE_KEYS = {
    "57bb528c-00bb-49ea-aaf1-3bb7a36c6292": "gho_lD8UmSNhRTZqkEEawzs42QxJsladIKzkA_HY",
    "f39a2950-f6a8-484a-a4da-3e1c46fee19a": "gho_zHN9xe_o8mOD9A8nPLdyu_i24xJYO9hnBctC",
    "c247eefa-0da4-43af-aa17-31f20ea33e7b": "gho_AwBxXspVANQtTzbFoWZ7cH-Gy6iPhgNETJoc",
    "40767f49-a75e-4794-a136-c0c785b5b22e": "gho_LsBYUCp4kQToSlJCiRFoHx_ZbFK5qaOkMFyd",
    "11094081-e360-4f49-ad08-3c1c382618d7": "gho_hWBv22I2Ah9n4kOVqsGX8_wUxhnWPiOeri7Q",
    "1d79d5ee-0378-4967-a1d7-fa5d74bbebe3": "gho_HwDdPoSubojPvsXCmo_5weqfOI1E71DNcXhc",
    "2a914235-e87e-4861-ac5a-57504b2989aa": "gho_yHCWbkswqO6oYvAu2czAKE2PMBr5T7AdZwLX",
    "b77f61bd-42da-4fb4-a687-f409252e9d1c": "gho_Bs_QDbK0AFkc47NGSXcWnEyhvcwpOHGecpFh",
    "10e07215-d188-4e00-a966-ee33a04010c4": "gho_rRGNcighF_ykM7MJ4d1KDenwMXHEIKLfIICN",
    "70c56787-3747-4aa6-a396-cea1f4cc3ee2": "gho_pL_x6m6_U0qbcqf8ReibrFbe8UZ3_mC7p-rv",
    "9e205cfd-a884-4ce9-ab46-22bea7b3ec3f": "gho_r65-__9hLvB4z8kNZvsrc1YPKlP4xHKCy1_Q",
    "45b401ce-7ade-4028-a83e-4cd3a8a53ad9": "gho_Mjb3N2rRzVI8yWvOZ7yEL510oY_8Uk0bJeDc",
    "8ebb23f5-6a25-4faa-ae5c-033bf2a1dbf8": "gho_yEaLrGZSmcb06W6vTgv5Qnq76JgMqY3-Vjkc",
    "4b445913-54f1-4d0f-ae61-c68655bb76b1": "gho_RG5H8DYy1Q1i9A_OC_5tZKnjwSJNW61HWlZk",
    "a9e0407b-440f-4e61-a528-5e6ba079afa9": "gho__bvB3flVNAF0c_vK-VzZIaRDBFMX8ckNyzRk",
}

# resetTime, chatQuota and completionsQuota of the free plan, as the samples' metas hold them.
FREE_QUOTAS = (1755270861000, 50, 2000)
NO_QUOTAS = (None, None, None)


def _meta(
    tid: str, signature: str, quotas: tuple[int | None, int | None, int | None], exp: int = 1756134861
) -> CopilotMeta:
    """A sample's meta: its Copilot token differs from the others only in tid, exp and the 8kp signature."""
    token = f"tid={tid};exp={exp};sku=free_limited_copilot;proxy-ep=proxy.individual.githubcopilot.com;chat=1;"
    reset_time, chat, completions = quotas
    return CopilotMeta(
        token=f"{token}8kp=1:{signature}",
        expires_at=exp * 1000,
        reset_time=reset_time,
        chat_quota=chat,
        completions_quota=completions,
    )


def _sample_row(
    rid: str,
    name: str,
    created_at: int,
    *,
    usage_count: int = 0,
    last_used: int | None = None,
    is_default: bool = False,
    meta: CopilotMeta | None = None,
) -> ApiKey:
    """A planned row of a sample record, its token looked up in ``SAMPLE_KEYS``."""
    return ApiKey(
        id=rid,
        name=name,
        key=SAMPLE_KEYS[rid],
        created_at=created_at,
        usage_count=usage_count,
        last_used=last_used,
        is_default=is_default,
        meta=meta,
    )


# Every row, written out from the sample files and legacy-storage/README.md (fields left out have their defaults).
EXPECTED: dict[str, Expected] = {
    "basic": Expected(
        rows=[
            _sample_row("57bb528c-00bb-49ea-aaf1-3bb7a36c6292", "Work laptop", 1753546461000),
            _sample_row(
                "f39a2950-f6a8-484a-a4da-3e1c46fee19a",
                "Key:1753543000000",
                1753550061000,
                is_default=True,
                meta=_meta(
                    "92eb5ffee6ae2fec3ad71c777531578f",
                    "103d6254a6d94bacc82e822885185f56c69cb799ec5124c0aa405e386975151b",
                    FREE_QUOTAS,
                ),
            ),
            _sample_row(
                "c247eefa-0da4-43af-aa17-31f20ea33e7b",
                "CI bot",
                1753553661000,
                usage_count=42,
                last_used=1753578861000,
                meta=_meta(
                    "4a8a08f09d37b73795649038408b5f33",
                    "355b1bbfc96725cdce8f4a2708fda310a80e6d13315aec4e5eed2a75fe8032ce",
                    NO_QUOTAS,
                ),
            ),
        ],
        default_id="f39a2950-f6a8-484a-a4da-3e1c46fee19a",
    ),
    "empty": Expected(rows=[]),
    "no-default": Expected(
        rows=[
            _sample_row("40767f49-a75e-4794-a136-c0c785b5b22e", "only key", 1753546461000),
            _sample_row(
                "11094081-e360-4f49-ad08-3c1c382618d7",
                "second key",
                1753550061000,
                meta=_meta(
                    "a69913f66f2cfd4bd3f8ea75954ac476",
                    "68b0f376f352cdce73701112236134dc89c6eb932c1a79e6afeed7584b859e20",
                    FREE_QUOTAS,
                ),
            ),
        ],
    ),
    "dangling-default": Expected(
        rows=[_sample_row("1d79d5ee-0378-4967-a1d7-fa5d74bbebe3", "kept", 1753546461000)],
        dangling_default="3171fdd6-5252-4a58-a560-681dace1bc9b",
    ),
    "mixed-shapes": Expected(
        rows=[
            # createdAt "2025-07-26T15:14:21.000Z", lastUsed "2025-07-26T15:14:26.000Z", isDefault: true
            _sample_row(
                "2a914235-e87e-4861-ac5a-57504b2989aa",
                "iso dates",
                1753542861000,
                last_used=1753542866000,
                is_default=True,
            ),
            _sample_row("b77f61bd-42da-4fb4-a687-f409252e9d1c", "no usageCount", 1753550061000),
            _sample_row("10e07215-d188-4e00-a966-ee33a04010c4", "unknown fields", 1753553661000),
            _sample_row(
                "70c56787-3747-4aa6-a396-cea1f4cc3ee2",
                "\u00dcn\u00efc\u00f6d\u00e9 \u540d\u524d \U0001f511",
                1753557261000,
            ),
            _sample_row(
                "9e205cfd-a884-4ce9-ab46-22bea7b3ec3f",
                "meta with nulls",
                1753560861000,
                meta=_meta(
                    "412566367c67448b599d1b7666f8ccfc",
                    "9c6652e783281f3e1af8f71b26ce246bf73f7027f1e1515fc417718b11ff8fe1",
                    NO_QUOTAS,
                    exp=1753542861,
                ),
            ),
        ],
        default_id="2a914235-e87e-4861-ac5a-57504b2989aa",
    ),
    "corrupt": Expected(
        rows=[
            _sample_row("45b401ce-7ade-4028-a83e-4cd3a8a53ad9", "good one", 1753546461000, is_default=True),
            _sample_row("8ebb23f5-6a25-4faa-ae5c-033bf2a1dbf8", "second good one", 1753550061000),
        ],
        default_id="45b401ce-7ade-4028-a83e-4cd3a8a53ad9",
        skipped=(
            Skipped("tokens/.DS_Store", "not a node-persist datum"),
            Skipped("tokens/2e1cfa82b035c26cbbbdae632cea070514eb8b773f616aaeaf668e2f0be8f10d", "empty file"),
            Skipped(
                "tokens/65ab3b96d3f297dee36ca1a4d3c0163de11a8d6f6ec823901e9b3ea5af0d5e6a", "invalid JSON (truncated?)"
            ),
            Skipped(
                "tokens/c975f4615c2e2d3ae4e9e09ab756ceb939f5e4b6fcc8a335ae872ee5e93d3bfb",
                "expired (ttl 2025-07-26T15:14:20.999Z)",
            ),
            Skipped("tokens/notes.json", "not a node-persist datum"),
        ),
    ),
    "duplicate-keys": Expected(
        rows=[
            _sample_row(
                "4b445913-54f1-4d0f-ae61-c68655bb76b1",
                "second add",
                1753550061000,
                usage_count=7,
                is_default=True,
                meta=_meta(
                    "0e9f1e8e40bb79e800b0cc9433830cf4",
                    "b99d826fd2bc744997852995eac6dfe091e1152fe82ef0956af432bf8867a8a0",
                    FREE_QUOTAS,
                ),
            ),
            _sample_row("a9e0407b-440f-4e61-a528-5e6ba079afa9", "unrelated", 1753553661000),
        ],
        default_id="4b445913-54f1-4d0f-ae61-c68655bb76b1",
        merged=(
            Merged(
                kept_id="4b445913-54f1-4d0f-ae61-c68655bb76b1",
                merged_ids=["71b71f2f-e535-4df9-a00a-52ba1842a9c1"],
                key_masked="gho_RG5H8D...HWlZk",
            ),
        ),
    ),
}


def _sample(name: str) -> Path:
    path = samples_dir() / name
    assert path.is_dir(), f"legacy samples not found at {path}"
    return path


def _plan(storage_dir: Path, now_ms: int = NOW_MS) -> ImportPlan:
    return plan_import(read_store(storage_dir, now_ms=now_ms))


def _key(n: int, prefix: str = "gho_") -> str:
    return f"{prefix}{n:036d}"


def _record(rid: str, key: str, created_at: float | str = T0, **extra: object) -> dict[str, object]:
    return {"id": rid, "name": f"name {rid}", "key": key, "createdAt": created_at, "usageCount": 0, **extra}


def _row_of(rid: str, key: str, created_at: int, **fields: Any) -> ApiKey:
    """The row planned from ``_record(rid, key, created_at)``; ``fields`` are the other ``ApiKey`` fields."""
    return ApiKey(id=rid, name=f"name {rid}", key=key, created_at=created_at, **fields)


def _store_of(tmp_path: Path, *records: dict[str, object], selected: str | None = None) -> Path:
    for record in records:
        write_datum(tmp_path, "tokens", str(record["id"]), record)
    if selected is not None:
        write_datum(tmp_path, "selected-token", "selected-token-id", selected)
    return tmp_path


def _write_file(storage_dir: Path, folder: str, name: str, content: bytes) -> Path:
    """Write ``content`` as it is to ``folder/name``: bytes node-persist would not write, or not under that name."""
    path = storage_dir / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _fingerprint(root: Path) -> dict[str, tuple[str, int, int]]:
    """Content hash, mtime and mode of everything under ``root``, folders included."""
    seen: dict[str, tuple[str, int, int]] = {}
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        seen[str(path.relative_to(root))] = (digest, stat.st_mtime_ns, stat.st_mode)
    return seen


# --- the shared samples ------------------------------------------------------------------------------


def test_every_sample_has_expectations() -> None:
    names = {path.name for path in samples_dir().iterdir() if path.is_dir()}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_plan(name: str) -> None:
    expected = EXPECTED[name]
    plan = _plan(_sample(name))
    assert plan.rows == expected.rows
    assert plan.default_id == expected.default_id
    assert plan.dangling_default == expected.dangling_default
    assert plan.merged == list(expected.merged)
    assert plan.skipped == list(expected.skipped)
    assert [row.is_default for row in plan.rows].count(True) == (expected.default_id is not None)


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - {"empty"}))
def test_sample_has_no_warnings(name: str) -> None:
    assert _plan(_sample(name)).warnings == []


def test_empty_sample_says_so() -> None:
    root = _sample("empty")
    store = read_store(root, now_ms=NOW_MS)
    assert store == LegacyStore(
        records=[],
        selected_id=None,
        skipped=[],
        warnings=[f"no tokens/ or selected-token/ folder in {root}: nothing to import"],
    )


def test_store_keeps_file_names_flags_and_selection() -> None:
    store = read_store(_sample("mixed-shapes"), now_ms=NOW_MS)
    assert store.selected_id is None
    flagged = [(r.file, r.api_key.id) for r in store.records if r.flagged_default]
    assert flagged == [
        (
            "tokens/f5c10db646315aa7885948e2db253dc0a8a3c362303697d9716e6594001d9194",
            "2a914235-e87e-4861-ac5a-57504b2989aa",
        )
    ]
    assert not any(r.api_key.is_default for r in store.records)
    basic = read_store(_sample("basic"), now_ms=NOW_MS)
    assert basic.selected_id == "f39a2950-f6a8-484a-a4da-3e1c46fee19a"
    assert [r.file for r in basic.records] == [
        "tokens/2efe21ee474f6b91fe99b87c0dbd798181357a803ba7717c4d071df24d22a301",
        "tokens/bd781a5e95509ad64f78f73f984f540428614b9bc443b169e16f5aa0d9b3ff4f",
        "tokens/94b29df82c49871bc6a8d3ee2afca56c33504a755ebdde14081d81a9b3e09033",
    ]


def test_ttl_in_the_future_keeps_the_datum() -> None:
    plan = _plan(_sample("corrupt"), now_ms=1753542860999)
    assert "c12b98ad-dd43-44c8-ad4a-cfc36506a004" in [row.id for row in plan.rows]
    assert len(plan.skipped) == 4


def test_reading_changes_nothing_under_the_storage_dir() -> None:
    root = samples_dir()
    before = _fingerprint(root)
    for name in EXPECTED:
        store_signature(_sample(name))
        _plan(_sample(name))
    assert _fingerprint(root) == before


# --- size ----------------------------------------------------------------------------------------


def test_twenty_thousand_records(tmp_path: Path) -> None:
    count = 20_000
    for n in range(count):
        rid = f"id-{n:05d}"
        extra: dict[str, object] = {"usageCount": 2**63 - 1 - n}
        if n % 3 == 0:
            extra["lastUsed"] = T0 + n
        if n % 5 == 0:
            extra["meta"] = {"token": f"tid={n}", "expiresAt": T0 + 1, "resetTime": None, "chatQuota": n}
        write_datum(tmp_path, "tokens", rid, _record(rid, _key(n), T0 + (count - n) // 2, **extra))
    write_datum(tmp_path, "selected-token", "selected-token-id", "id-12345")

    store = read_store(tmp_path, now_ms=NOW_MS)

    assert store.skipped == []
    assert store.warnings == []
    assert len(store.records) == count
    keys = [(r.api_key.created_at, r.api_key.id) for r in store.records]
    assert keys == sorted(keys)
    by_id = {r.api_key.id: r.api_key for r in store.records}
    assert by_id["id-00015"] == _row_of(
        "id-00015",
        _key(15),
        T0 + (count - 15) // 2,
        usage_count=2**63 - 1 - 15,
        last_used=T0 + 15,
        meta=CopilotMeta(token="tid=15", expires_at=T0 + 1, reset_time=None, chat_quota=15),
    )
    assert by_id["id-00001"].meta is None
    assert by_id["id-00001"].last_used is None
    plan = plan_import(store)
    assert len(plan.rows) == count
    assert plan.default_id == "id-12345"
    assert [row.id for row in plan.rows if row.is_default] == ["id-12345"]


# --- reading edge cases ----------------------------------------------------------------------------


def test_missing_storage_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_store(tmp_path / "nope")


def test_missing_selected_folder_is_empty(tmp_path: Path) -> None:
    store = read_store(_store_of(tmp_path, _record("a", _key(1))), now_ms=NOW_MS)
    assert store.selected_id is None
    assert [r.api_key.id for r in store.records] == ["a"]
    assert store.warnings == []


def test_missing_tokens_folder_is_empty(tmp_path: Path) -> None:
    write_datum(tmp_path, "selected-token", "selected-token-id", "ghost")
    plan = _plan(tmp_path)
    assert plan.rows == []
    assert plan.dangling_default == "ghost"
    assert plan.warnings == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("just a string", "record is not an object"),
        ({"id": "x", "name": "n", "createdAt": 1}, "record has no key"),
        ({"id": "x", "name": "n", "key": None, "createdAt": 1}, "record has no key"),
        ({"id": "x", "name": "n", "key": "", "createdAt": 1}, "record has no key"),
        ({"id": "x", "name": "n", "key": 12345, "createdAt": 1}, "record key is not a string"),
        ({"id": "x", "name": "n", "key": " \n", "createdAt": 1}, "record key is only whitespace"),
        (
            {"id": "x", "name": "n", "key": "_", "createdAt": 1},
            'record key can never be presented (must not be "_": it selects the default key)',
        ),
        (
            {"id": "x", "name": "n", "key": " _\n", "createdAt": 1},
            'record key can never be presented (must not be "_": it selects the default key)',
        ),
    ],
)
def test_records_without_a_usable_token_are_skipped_with_a_reason(tmp_path: Path, value: object, reason: str) -> None:
    path = write_datum(tmp_path, "tokens", "x", value)
    _store_of(tmp_path, _record("good", _key(1)))
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert store.skipped == [Skipped(f"tokens/{path.name}", reason)]
    assert [r.api_key.id for r in store.records] == ["good"]
    assert store.warnings == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"key":"","value":{"name":"n","key":"k","createdAt":1}}', "record has no id"),
        (b'{"key":"","value":{"id":7,"name":"n","key":"k","createdAt":1}}', "record id is not a string: 7"),
    ],
)
def test_record_without_an_id_in_a_datum_without_a_key_is_skipped(tmp_path: Path, content: bytes, reason: str) -> None:
    _write_file(tmp_path, "tokens", "x", content)
    assert read_store(tmp_path, now_ms=NOW_MS).skipped == [Skipped("tokens/x", reason)]


# --- fields an admin or an old release may have mangled: the key is imported, with a warning ----------

MTIME = T0 + 3_600_000


def _read_one(tmp_path: Path, **fields: object) -> tuple[ApiKey, list[str]]:
    """The key read from one record (datum key "x", file mtime MTIME) and its warnings, without the file prefix."""
    record: dict[str, object] = {"id": "x", "name": "n", "key": _key(1), "createdAt": T0, **fields}
    for field, value in fields.items():
        if value is _ABSENT:
            del record[field]
    path = write_datum(tmp_path, "tokens", "x", record)
    os.utime(path, ns=(MTIME * 1_000_000, MTIME * 1_000_000))
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert store.skipped == []
    [read] = store.records
    prefix = f"tokens/{path.name}: "
    assert all(w.startswith(prefix) for w in store.warnings)
    return read.api_key, [w.removeprefix(prefix) for w in store.warnings]


_ABSENT = object()
INT64_MAX = 2**63 - 1
HUGE_EXPONENT = "1e99999999999999999999"  # matches a number, but no Decimal holds it


@pytest.mark.parametrize(
    ("raw", "count", "warning"),
    [
        (_ABSENT, 0, None),
        (None, 0, None),
        (12, 12, None),
        (12.0, 12, None),
        ("12", 12, None),
        (" 12\n", 12, None),
        (1.5e3, 1500, None),
        (12.7, 13, "record usageCount 12.7 rounded to a whole number: 13"),
        (12.5, 13, "record usageCount 12.5 rounded to a whole number: 13"),  # halves up, not to even
        (0.4, 0, "record usageCount 0.4 rounded to a whole number: 0"),
        ("12.5", 13, "record usageCount '12.5' rounded to a whole number: 13"),
        (-3, 0, "record usageCount -3 is negative; imported as 0"),
        (-0.5, 0, "record usageCount -0.5 is negative; imported as 0"),
        ("-1", 0, "record usageCount '-1' is negative; imported as 0"),
        ("many", 0, "record usageCount 'many' is not a number; imported as 0"),
        ("", 0, "record usageCount '' is not a number; imported as 0"),
        (True, 0, "record usageCount True is not a number; imported as 0"),
        ([3], 0, "record usageCount [3] is not a number; imported as 0"),
        ({}, 0, "record usageCount {} is not a number; imported as 0"),
        (HUGE_EXPONENT, 0, f"record usageCount {HUGE_EXPONENT!r} is not a number; imported as 0"),
        (2**63, INT64_MAX, f"record usageCount {2**63} is beyond the 64-bit range; imported as {INT64_MAX}"),
        (1e300, INT64_MAX, f"record usageCount 1e+300 is beyond the 64-bit range; imported as {INT64_MAX}"),
    ],
)
def test_any_usage_count_keeps_the_key(tmp_path: Path, raw: object, count: int, warning: str | None) -> None:
    api_key, warnings = _read_one(tmp_path, usageCount=raw)
    assert api_key.usage_count == count
    assert warnings == ([] if warning is None else [warning])


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("yesterday", "record lastUsed is not a date: 'yesterday'"),
        ("", "record lastUsed is not a date: ''"),
        ({}, "record lastUsed is not an integer: {}"),
        (True, "record lastUsed is not an integer: True"),
        ([T0], f"record lastUsed is not an integer: [{T0}]"),
        ("1e30", "record lastUsed is out of the 64-bit range: '1e30'"),
        (HUGE_EXPONENT, f"record lastUsed is out of the 64-bit range: {HUGE_EXPONENT!r}"),
        (2.0**60, "record lastUsed is not an exact integer: 1.152921504606847e+18"),
    ],
)
def test_unreadable_last_used_is_dropped_with_a_warning(tmp_path: Path, raw: object, problem: str) -> None:
    api_key, warnings = _read_one(tmp_path, lastUsed=raw, usageCount=4)
    assert (api_key.last_used, api_key.usage_count, api_key.created_at) == (None, 4, T0)
    assert warnings == [f"{problem}; imported without lastUsed"]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (_ABSENT, "record has no createdAt"),
        (None, "record has no createdAt"),
        ("yesterday", "record createdAt is not a date: 'yesterday'"),
        (True, "record createdAt is not an integer: True"),
        ({}, "record createdAt is not an integer: {}"),
        ("1e30", "record createdAt is out of the 64-bit range: '1e30'"),
        (HUGE_EXPONENT, f"record createdAt is out of the 64-bit range: {HUGE_EXPONENT!r}"),
    ],
)
def test_unreadable_created_at_becomes_the_file_mtime(tmp_path: Path, raw: object, problem: str) -> None:
    api_key, warnings = _read_one(tmp_path, createdAt=raw, lastUsed=T0 + 5)
    assert (api_key.created_at, api_key.last_used) == (MTIME, T0 + 5)
    assert warnings == [f"{problem}; using the file's mtime {iso_ms(MTIME)}"]


@pytest.mark.parametrize(
    ("field", "raw", "problem"),
    [
        ("name", _ABSENT, "record has no name"),
        ("name", None, "record has no name"),
        ("name", 42, "record name is not a string: 42"),
        ("name", ["n"], "record name is not a string: ['n']"),
        ("id", _ABSENT, "record has no id"),
        ("id", "", "record has no id"),
        ("id", 7, "record id is not a string: 7"),
    ],
)
def test_missing_or_odd_name_or_id_is_replaced(tmp_path: Path, field: str, raw: object, problem: str) -> None:
    # The name becomes the id; the id becomes the datum key.
    replaced = {"name": (("x", "x"), "the id as its name"), "id": (("x", "n"), "the datum key 'x'")}
    id_and_name, replacement = replaced[field]
    api_key, warnings = _read_one(tmp_path, **{field: raw})
    assert (api_key.id, api_key.name) == id_and_name
    assert warnings == [f"{problem}; using {replacement}"]


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (_key(1) + "\n", "'\\n' at the end"),
        ("  " + _key(1), "'  ' at the start"),
        ("\t" + _key(1) + " \r\n", "'\\t' at the start, ' \\r\\n' at the end"),
    ],
)
def test_whitespace_around_the_token_is_stripped_with_a_warning(tmp_path: Path, raw: str, where: str) -> None:
    api_key, warnings = _read_one(tmp_path, key=raw)
    assert api_key.key == _key(1)
    assert warnings == [f"whitespace around the key stripped ({where})"]


def test_tokens_equal_once_stripped_merge(tmp_path: Path) -> None:
    _store_of(
        tmp_path,
        _record("a", _key(1) + "\n", T0, usageCount=2, lastUsed=T0 + 9),
        _record("b", " " + _key(1), T0 + 1, usageCount=3),
        _record("c", _key(1), T0 - 1, usageCount=4),
    )
    plan = _plan(tmp_path)
    assert plan.rows == [_row_of("b", _key(1), T0 + 1, usage_count=9, last_used=T0 + 9)]
    assert plan.merged == [Merged(kept_id="b", merged_ids=["c", "a"], key_masked=mask_secret(_key(1)))]
    assert len(plan.warnings) == 2 and all("whitespace around the key stripped" in w for w in plan.warnings)


def test_ids_in_warnings_and_reasons_are_escaped(tmp_path: Path) -> None:
    evil = "id\n\x1b[2J"
    path = write_datum(tmp_path, "tokens", evil, _record(evil, _key(1), isDefault=True))
    (tmp_path / "tokens" / "0-copy").write_bytes(path.read_bytes())
    _store_of(tmp_path, _record("b\x07", _key(2), T0 + 1, isDefault=True))
    plan = _plan(tmp_path)
    assert plan.skipped == [Skipped("tokens/0-copy", f"duplicate id id\\n\\x1b[2J (kept tokens/{path.name})")]
    assert plan.warnings == ["several records flagged isDefault (id\\n\\x1b[2J, b\\x07); the newest, b\\x07, wins"]


ODD_VALUES: list[object] = [
    None, True, False, 0, -1, 0.5, -0.5, 1e300, -1e300, 2**64, -(2**64), 2**53 + 1,
    "", " ", "x", "_", "12", "-12.5", HUGE_EXPONENT, "-" + HUGE_EXPONENT, "1e-99999999999999999999",
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2025-07-26T15:16:40." + "9" * 5000 + "Z",
    [], {}, [1], {"a": 1}, float("nan"), float("inf"), float("-inf"),
]  # fmt: skip


@pytest.mark.parametrize("field", ["id", "name", "createdAt", "usageCount", "lastUsed", "meta", "isDefault"])
def test_no_value_of_an_optional_field_loses_the_key(tmp_path: Path, field: str) -> None:
    for n, raw in enumerate(ODD_VALUES):
        record = {**_record(f"r{n}", _key(n)), field: raw}
        (tmp_path / "tokens").mkdir(exist_ok=True)
        # The stdlib encoder writes NaN and Infinity, which only a hand edit could put in a file.
        (tmp_path / "tokens" / f"r{n}").write_text(json.dumps({"key": f"r{n}", "value": record}))
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert store.skipped == []
    assert sorted(r.api_key.key for r in store.records) == sorted(_key(n) for n in range(len(ODD_VALUES)))
    plan = plan_import(store)
    assert len(plan.rows) == len(ODD_VALUES)


@pytest.mark.parametrize("field", ["expiresAt", "resetTime", "chatQuota", "completionsQuota", "token"])
def test_no_value_of_a_meta_field_loses_the_key(tmp_path: Path, field: str) -> None:
    for n, raw in enumerate(ODD_VALUES):
        meta = {"token": "t", "expiresAt": T0, field: raw}
        (tmp_path / "tokens").mkdir(exist_ok=True)
        record = _record(f"r{n}", _key(n), meta=meta)
        (tmp_path / "tokens" / f"r{n}").write_text(json.dumps({"key": f"r{n}", "value": record}))
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert store.skipped == []
    assert len(store.records) == len(ODD_VALUES)


def test_report_never_shows_the_token(tmp_path: Path) -> None:
    write_datum(tmp_path, "tokens", "x", {"id": "x", "name": "n", "key": "gho_secret", "createdAt": "soon"})
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert "gho_secret" not in repr(store.skipped) + repr(store.warnings)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"  \n", "empty file"),
        (b'{"key":"x","value":{"id":"x"', "invalid JSON (truncated?)"),
        (b"\xef\xbb\xbf{}", "invalid JSON (truncated?)"),
        (b"\xff\xfe", "invalid JSON (truncated?)"),
        (b"[1,2]", "not a node-persist datum"),
        (b'{"key":"x"}', "not a node-persist datum"),
        (b'{"key":3,"value":{}}', "not a node-persist datum"),
        (b"null", "not a node-persist datum"),
    ],
)
def test_bad_files_are_skipped_with_a_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    _write_file(tmp_path, "tokens", "bad", content)
    assert read_store(tmp_path, now_ms=NOW_MS).skipped == [Skipped("tokens/bad", reason)]


def test_dotfiles_and_folders_are_reported_not_read(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    (tokens / ".DS_Store").write_bytes(b'{"key":"a","value":{}}')
    (tokens / "._resource").write_bytes(b"\x00\x05\x16\x07")
    (tokens / "sub").mkdir()
    assert read_store(tmp_path, now_ms=NOW_MS).skipped == [
        Skipped("tokens/.DS_Store", "not a node-persist datum"),
        Skipped("tokens/._resource", "not a node-persist datum"),
        Skipped("tokens/sub", "not a regular file (directory)"),
    ]


def test_unreadable_file_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_datum(tmp_path, "tokens", "a", _record("a", _key(1)))
    write_datum(tmp_path, "tokens", "b", _record("b", _key(2)))

    real_open = os.open

    def refuse(file: str, flags: int, mode: int = 0o777) -> int:
        if file == str(path):
            raise PermissionError(13, "Permission denied", file)
        return real_open(file, flags, mode)

    # chmod cannot stop root, which is who runs these tests in containers.
    monkeypatch.setattr(os, "open", refuse)
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert store.skipped == [Skipped(f"tokens/{path.name}", "unreadable (Permission denied)")]
    assert [r.api_key.id for r in store.records] == ["b"]


@pytest.mark.parametrize("ttl", [False, 0, NOW_MS, NOW_MS + 1, "soon"])
def test_ttl_that_never_expires_or_has_not_passed(tmp_path: Path, ttl: object) -> None:
    # node-persist only expires a datum whose ttl is a truthy number before now.
    _write_file(tmp_path, "tokens", "a", orjson.dumps({"key": "a", "value": _record("a", _key(1)), "ttl": ttl}))
    assert [r.api_key.id for r in read_store(tmp_path, now_ms=NOW_MS).records] == ["a"]


def test_null_ttl_and_passed_ttl(tmp_path: Path) -> None:
    write_datum(tmp_path, "tokens", "a", _record("a", _key(1)), ttl=None)
    (tmp_path / "tokens" / "b").write_bytes(
        b'{"key":"b","value":{"id":"b","name":"b","key":"k","createdAt":1},"ttl":null}'
    )
    expired = write_datum(tmp_path, "tokens", "c", _record("c", _key(3)), ttl=NOW_MS - 1)
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert sorted(r.api_key.id for r in store.records) == ["a", "b"]
    assert store.skipped == [Skipped(f"tokens/{expired.name}", "expired (ttl 2027-01-15T07:59:59.999Z)")]


def test_expired_selection_is_skipped(tmp_path: Path) -> None:
    _store_of(tmp_path, _record("a", _key(1)))
    path = write_datum(tmp_path, "selected-token", "selected-token-id", "a", ttl=T0)
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert store.selected_id is None
    assert store.skipped == [Skipped(f"selected-token/{path.name}", "expired (ttl 2025-07-26T16:14:21.000Z)")]


def test_iso_dates_convert_exactly(tmp_path: Path) -> None:
    record = _record(
        "a",
        _key(1),
        "2025-07-26T15:14:21.123Z",
        lastUsed="2025-07-26T17:14:21.999+02:00",
        meta={"token": "t", "expiresAt": "1970-01-01T00:00:00.001Z", "resetTime": "2025-07-26T15:14:21Z"},
    )
    api_key = read_store(_store_of(tmp_path, record), now_ms=NOW_MS).records[0].api_key
    assert api_key.created_at == 1753542861123
    assert api_key.last_used == 1753542861999
    assert api_key.meta == CopilotMeta(token="t", expires_at=1, reset_time=1753542861000)


def test_big_counters_stay_exact(tmp_path: Path) -> None:
    record = _record(
        "a", _key(1), usageCount=9007199254740993, meta={"token": "t", "expiresAt": 1, "chatQuota": 2**63 - 1}
    )
    api_key = read_store(_store_of(tmp_path, record), now_ms=NOW_MS).records[0].api_key
    assert api_key.usage_count == 9007199254740993
    assert api_key.meta is not None
    assert api_key.meta.chat_quota == 2**63 - 1


def test_integral_float_is_accepted(tmp_path: Path) -> None:
    _write_file(
        tmp_path,
        "tokens",
        "a",
        b'{"key":"a","value":{"id":"a","name":"n","key":"k","createdAt":1.753542861e12,"usageCount":3.0}}',
    )
    api_key = read_store(tmp_path, now_ms=NOW_MS).records[0].api_key
    assert (api_key.created_at, api_key.usage_count) == (1753542861000, 3)


def test_names_keys_and_ids_are_kept_verbatim(tmp_path: Path) -> None:
    name = "  a very long name \t" * 200
    key = "ghu_" + "x" * 5000
    write_datum(tmp_path, "tokens", "not a uuid / at all", _record("not a uuid / at all", key, name=name))
    api_key = read_store(tmp_path, now_ms=NOW_MS).records[0].api_key
    assert (api_key.id, api_key.name, api_key.key) == ("not a uuid / at all", name, key)


@pytest.mark.parametrize(
    ("meta", "problem"),
    [
        ("nope", "meta is not an object"),
        ({}, "meta has no token"),
        ({"token": 5, "expiresAt": 1}, "meta token is not a string"),
        ({"token": "t"}, "meta has no expiresAt"),
        ({"token": "t", "expiresAt": 1, "chatQuota": "50"}, "meta chatQuota is not an integer: '50'"),
        ({"token": "t", "expiresAt": 1, "resetTime": "tomorrow"}, "meta resetTime is not a date: 'tomorrow'"),
    ],
)
def test_malformed_meta_is_dropped_with_a_warning(tmp_path: Path, meta: object, problem: str) -> None:
    path = write_datum(tmp_path, "tokens", "a", _record("a", _key(1), meta=meta))
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert [r.api_key.meta for r in store.records] == [None]
    assert store.warnings == [f"tokens/{path.name}: meta ignored ({problem})"]
    assert store.skipped == []


def test_meta_null_is_no_meta(tmp_path: Path) -> None:
    store = read_store(_store_of(tmp_path, _record("a", _key(1), meta=None)), now_ms=NOW_MS)
    assert store.records[0].api_key.meta is None
    assert store.warnings == []


def test_file_name_that_is_not_the_key_digest_is_accepted(tmp_path: Path) -> None:
    path = write_datum(tmp_path, "tokens", "a", _record("a", _key(1)))
    path.rename(path.with_name("renamed.json"))
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert [(r.file, r.api_key.id) for r in store.records] == [("tokens/renamed.json", "a")]


def test_datum_key_differing_from_id_keeps_the_id(tmp_path: Path) -> None:
    path = write_datum(tmp_path, "tokens", "old-id", _record("a", _key(1)))
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert [r.api_key.id for r in store.records] == ["a"]
    assert store.warnings == [f"tokens/{path.name}: datum key 'old-id' differs from record id 'a'; using the id"]


def test_duplicate_id_keeps_the_canonical_file(tmp_path: Path) -> None:
    path = write_datum(tmp_path, "tokens", "a", _record("a", _key(1)))
    (tmp_path / "tokens" / "0-copy").write_bytes(path.read_bytes())
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert [r.file for r in store.records] == [f"tokens/{path.name}"]
    assert store.skipped == [Skipped("tokens/0-copy", f"duplicate id a (kept tokens/{path.name})")]


def test_missing_created_at_falls_back_to_the_file_mtime(tmp_path: Path) -> None:
    record = _record("a", _key(1))
    del record["createdAt"]
    path = write_datum(tmp_path, "tokens", "a", record)
    os.utime(path, ns=(T0 * 1_000_000, T0 * 1_000_000 + 999_999))
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert store.records[0].api_key.created_at == T0
    assert store.warnings == [f"tokens/{path.name}: record has no createdAt; using the file's mtime {iso_ms(T0)}"]


def test_lone_surrogate_in_name_is_replaced(tmp_path: Path) -> None:
    # What JSON.stringify writes for a name whose emoji was cut in half.
    _write_file(tmp_path, "tokens", "a", b'{"key":"a","value":{"id":"a","name":"key \\ud83d","key":"k","createdAt":1}}')
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert store.records[0].api_key.name == "key \ufffd"
    assert store.warnings == ["tokens/a: name has a lone surrogate (a cut emoji?); replaced with U+FFFD"]


@pytest.mark.parametrize(
    ("content", "selected", "reason"),
    [
        (b'{"key":"selected-token-id","value":null}', None, None),
        (b'{"key":"selected-token-id","value":""}', None, None),
        (b'{"key":"selected-token-id","value":42}', None, "selected-token-id is not a string"),
        (b'{"key":"something-else","value":"a"}', None, "not the selected-token-id datum (key 'something-else')"),
        (b'{"key":"selected-token-id","value":"a"}', "a", None),
    ],
)
def test_selected_token_shapes(tmp_path: Path, content: bytes, selected: str | None, reason: str | None) -> None:
    _write_file(tmp_path, "selected-token", "f", content)
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert store.selected_id == selected
    assert store.skipped == ([] if reason is None else [Skipped("selected-token/f", reason)])


def test_second_selected_datum_is_reported(tmp_path: Path) -> None:
    path = write_datum(tmp_path, "selected-token", "selected-token-id", "a")
    (tmp_path / "selected-token" / "zz-copy").write_bytes(b'{"key":"selected-token-id","value":"b"}')
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert store.selected_id == "a"
    assert store.skipped == [
        Skipped("selected-token/zz-copy", f"another selected-token-id datum is in selected-token/{path.name}")
    ]


def test_iso_ms_matches_javascript() -> None:
    assert iso_ms(1753542860999) == "2025-07-26T15:14:20.999Z"
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(10**20) == str(10**20)


# --- times that are not whole milliseconds ---------------------------------------------------------

# 2025-07-26T15:16:40.000Z
T1 = 1_753_543_000_000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (T1 + 0.4, T1),
        (T1 + 0.5, T1 + 1),  # halves round up
        (T1 + 0.6, T1 + 1),
        ("1753543000000.7", T1 + 1),  # epoch ms written as a string by hand
        ("1.7535430000004e12", T1),
        ("2025-07-26T15:16:40.1234567Z", T1 + 123),
        ("2025-07-26T15:16:40.1225Z", T1 + 123),  # half up, not half even
        ("2025-07-26T15:16:40.1235Z", T1 + 124),
        ("2025-07-26T15:16:40.1224999999Z", T1 + 122),  # beyond datetime's microseconds
        ("2025-07-26T15:16:40.9995Z", T1 + 1000),
        ("2025-07-26T17:16:40.0001+02:00", T1),
        ("20250726T151640,5006Z", T1 + 501),
    ],
)
def test_fractional_created_at_is_rounded_with_a_warning(tmp_path: Path, raw: object, expected: int) -> None:
    path = write_datum(tmp_path, "tokens", "a", _record("a", _key(1), T0, createdAt=raw))
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert [r.api_key.created_at for r in store.records] == [expected]
    assert store.warnings == [f"tokens/{path.name}: record createdAt {raw!r} rounded to whole milliseconds: {expected}"]
    assert store.skipped == []


@pytest.mark.parametrize("raw", ["1753543000000", "2025-07-26T15:16:40.000000Z", "2025-07-26T15:16:40.000Z", T1 * 1.0])
def test_whole_milliseconds_in_any_shape_are_not_warned_about(tmp_path: Path, raw: object) -> None:
    store = read_store(_store_of(tmp_path, _record("a", _key(1), T0, createdAt=raw)), now_ms=NOW_MS)
    assert [r.api_key.created_at for r in store.records] == [T1]
    assert store.warnings == []


def test_every_time_field_is_rounded_and_named(tmp_path: Path) -> None:
    meta = {"token": "t", "expiresAt": T1 + 10.5, "resetTime": "2025-07-26T15:16:40.0204Z", "chatQuota": 5}
    record = _record("a", _key(1), T1 + 0.25, lastUsed=T1 + 99.999, meta=meta)
    path = write_datum(tmp_path, "tokens", "a", record)
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert [r.api_key for r in store.records] == [
        ApiKey(
            id="a",
            name="name a",
            key=_key(1),
            created_at=T1,
            last_used=T1 + 100,
            meta=CopilotMeta(token="t", expires_at=T1 + 11, reset_time=T1 + 20, chat_quota=5),
        )
    ]
    rel = f"tokens/{path.name}"
    assert store.warnings == [
        f"{rel}: record createdAt 1753543000000.25 rounded to whole milliseconds: {T1}",
        f"{rel}: record lastUsed 1753543000099.999 rounded to whole milliseconds: {T1 + 100}",
        f"{rel}: meta expiresAt 1753543000010.5 rounded to whole milliseconds: {T1 + 11}",
        f"{rel}: meta resetTime '2025-07-26T15:16:40.0204Z' rounded to whole milliseconds: {T1 + 20}",
    ]


def test_rounding_in_ignored_meta_is_not_reported(tmp_path: Path) -> None:
    path = write_datum(tmp_path, "tokens", "a", _record("a", _key(1), meta={"token": 5, "expiresAt": T1 + 0.5}))
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert store.warnings == [f"tokens/{path.name}: meta ignored (meta token is not a string)"]


# --- entries that are not plain files, files too large, names that are not text --------------------


def _never_hangs(call: Callable[[], LegacyStore]) -> LegacyStore:
    """``call()`` in a daemon thread: a read that blocks (on a FIFO) fails the test instead of the run."""
    result: list[LegacyStore] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(120)
    assert result, "reading the store blocked (or raised)"
    return result[0]


def test_special_entries_are_one_skipped_file_each(tmp_path: Path) -> None:
    good = write_datum(tmp_path, "tokens", "a", _record("a", _key(1)))
    tokens = tmp_path / "tokens"
    os.symlink("loop", tokens / "loop")
    os.symlink("nowhere", tokens / "dangling")
    os.mkfifo(tokens / "fifo")
    (tokens / hashlib.sha256(b"b").hexdigest()).mkdir()  # a folder named like a token file
    linked = write_datum(tmp_path / "elsewhere", "tokens", "c", _record("c", _key(3)))
    os.symlink(linked, tokens / "link-to-c")  # a symlink to a datum is read like the datum
    write_datum(tmp_path, "selected-token", "selected-token-id", "a")
    os.symlink("self", tmp_path / "selected-token" / "self")

    store = _never_hangs(lambda: read_store(tmp_path, now_ms=NOW_MS))

    assert [(r.file, r.api_key.id) for r in store.records] == [(f"tokens/{good.name}", "a"), ("tokens/link-to-c", "c")]
    assert store.selected_id == "a"
    assert store.skipped == [
        Skipped("selected-token/self", "symlink loop"),
        Skipped(f"tokens/{hashlib.sha256(b'b').hexdigest()}", "not a regular file (directory)"),
        Skipped("tokens/dangling", "dangling symlink"),
        Skipped("tokens/fifo", "not a regular file (FIFO)"),
        Skipped("tokens/loop", "symlink loop"),
    ]


def test_a_fifo_swapped_in_after_the_listing_is_not_waited_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_datum(tmp_path, "tokens", "a", _record("a", _key(1)))
    fifo = tmp_path / "tokens" / "swapped"
    os.mkfifo(fifo)
    regular = os.stat(tmp_path / "tokens" / hashlib.sha256(b"a").hexdigest())
    real_stat = os.stat

    def stale_stat(path: str, *args: Any, **kwargs: Any) -> os.stat_result:
        # What the first look saw before the file was replaced by a FIFO.
        return regular if str(path) == str(fifo) else real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stale_stat)
    store = _never_hangs(lambda: read_store(tmp_path, now_ms=NOW_MS))
    assert [r.api_key.id for r in store.records] == ["a"]
    assert store.skipped == [Skipped("tokens/swapped", "not a regular file (FIFO)")]


def _padded(rid: str, n: int, size: int) -> dict[str, object]:
    """A record whose datum file is exactly ``size`` bytes."""
    record = _record(rid, _key(n), name="")
    base = len(orjson.dumps({"key": rid, "value": record}))
    return {**record, "name": "x" * (size - base)}


def test_files_over_the_size_cap_are_skipped_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cap = reader_module.MAX_DATUM_BYTES
    at_cap = write_datum(tmp_path, "tokens", "a", _padded("a", 1, cap))
    over = write_datum(tmp_path, "tokens", "b", _padded("b", 2, cap + 1))
    assert (at_cap.stat().st_size, over.stat().st_size) == (cap, cap + 1)
    huge = tmp_path / "tokens" / "huge"
    with huge.open("wb") as fh:
        fh.truncate(64 * cap)  # sparse: costs no disk
    read_bytes: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        read_bytes.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counting_read)
    store = read_store(tmp_path, now_ms=NOW_MS)

    assert [r.api_key.id for r in store.records] == ["a"]
    assert store.skipped == [
        Skipped(f"tokens/{over.name}", f"too large (the cap is {cap} bytes): {cap + 1} bytes"),
        Skipped("tokens/huge", f"too large (the cap is {cap} bytes): {64 * cap} bytes"),
    ]
    assert sum(read_bytes) == cap  # only the file at the cap was read


def test_a_file_growing_past_the_cap_while_read_stops_at_cap_plus_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = reader_module.MAX_DATUM_BYTES
    grown = write_datum(tmp_path, "tokens", "a", _padded("a", 1, 3 * cap))
    small = os.stat_result((0o100644, 0, 0, 1, 0, 0, 100, 0, 0, 0))
    real_fstat, real_read = os.fstat, os.read
    read_bytes: list[int] = []

    def counting_read(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        read_bytes.append(len(data))
        return data

    # The size the file had when it was stat'ed, before the legacy service appended to it.
    monkeypatch.setattr(reader_module, "_check_regular", lambda info: None)
    monkeypatch.setattr(os, "fstat", lambda fd: small if fd > 2 else real_fstat(fd))
    monkeypatch.setattr(os, "read", counting_read)
    store = read_store(tmp_path, now_ms=NOW_MS)
    assert store.skipped == [
        Skipped(f"tokens/{grown.name}", f"too large (the cap is {cap} bytes): it grew while being read")
    ]
    assert sum(read_bytes) == cap + 1


def test_read_at_most_stops_at_the_limit_and_at_the_end() -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"x" * 100)
        assert reader_module.read_at_most(read_end, 10) == b"x" * 10
        os.close(write_end)
        assert reader_module.read_at_most(read_end, 1000) == b"x" * 90
    finally:
        os.close(read_end)


def test_file_names_are_escaped_everywhere(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    (tokens / "a\nb").write_bytes(orjson.dumps({"key": "a", "value": _record("a", _key(1), T1 + 0.5)}))
    (tokens / "\x1b[31mred").write_bytes(b"{")
    (tokens / "back\\slash\u202e").write_bytes(b"")
    os.close(os.open(os.fsencode(tokens) + b"/not-utf8-\xff", os.O_CREAT | os.O_WRONLY))
    (tokens / "\u540d\u524d \U0001f511").write_bytes(b"[]")  # printable Unicode stays as it is
    os.symlink("a\tb", tokens / "loop\r")
    os.symlink("loop\r", tokens / "a\tb")

    store = read_store(tmp_path, now_ms=NOW_MS)

    assert [r.file for r in store.records] == ["tokens/a\\nb"]
    assert store.warnings == [f"tokens/a\\nb: record createdAt {T1 + 0.5!r} rounded to whole milliseconds: {T1 + 1}"]
    assert store.skipped == [
        Skipped("tokens/\\x1b[31mred", "invalid JSON (truncated?)"),
        Skipped("tokens/a\\tb", "symlink loop"),
        Skipped("tokens/back\\\\slash\\u202e", "empty file"),
        Skipped("tokens/loop\\r", "symlink loop"),
        Skipped("tokens/not-utf8-\\xff", "empty file"),
        Skipped("tokens/\u540d\u524d \U0001f511", "not a node-persist datum"),
    ]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("65ab3b96d3f2", "65ab3b96d3f2"),
        ("a\nb", "a\\nb"),
        ("\x1b[31m", "\\x1b[31m"),
        ("\x00\x7f", "\\x00\\x7f"),
        ("tab\there\r", "tab\\there\\r"),
        ("back\\slash", "back\\\\slash"),
        (os.fsdecode(b"\xff\xfe"), "\\xff\\xfe"),
        ("\u0085\u2028\u202e\u00a0", "\\u0085\\u2028\\u202e\\u00a0"),
        ("\U000e0001", "\\U000e0001"),
        ("Sch\u00f6n \u540d\u524d \U0001f511", "Sch\u00f6n \u540d\u524d \U0001f511"),
    ],
)
def test_printable(name: str, shown: str) -> None:
    assert printable(name) == shown


def test_signature_survives_special_entries(tmp_path: Path) -> None:
    write_datum(tmp_path, "tokens", "a", _record("a", _key(1)))
    before = store_signature(tmp_path)
    os.symlink("loop", tmp_path / "tokens" / "loop")
    with_loop = store_signature(tmp_path)
    assert with_loop != before
    os.symlink("nowhere", tmp_path / "tokens" / "dangling")
    os.mkfifo(tmp_path / "tokens" / "fifo")
    assert store_signature(tmp_path) not in (before, with_loop)


# --- store_signature -------------------------------------------------------------------------------


def test_signature_is_stable_and_sees_changes(tmp_path: Path) -> None:
    assert store_signature(tmp_path) == store_signature(tmp_path)
    empty = store_signature(tmp_path)
    path = write_datum(tmp_path, "tokens", "a", _record("a", _key(1)))
    added = store_signature(tmp_path)
    assert added != empty
    assert store_signature(tmp_path) == added

    stat = path.stat()
    path.write_bytes(path.read_bytes().replace(b'"usageCount":0', b'"usageCount":1'))  # same size, in place
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    rewritten = store_signature(tmp_path)
    assert rewritten != added

    write_datum(tmp_path, "selected-token", "selected-token-id", "a")
    assert store_signature(tmp_path) != rewritten


# --- plan ----------------------------------------------------------------------------------------


def test_selected_record_survives_its_duplicates(tmp_path: Path) -> None:
    token = _key(1)
    meta = {"token": "t-old", "expiresAt": 5}
    _store_of(
        tmp_path,
        _record("old", token, T0, usageCount=2**62, lastUsed=T0 + 50, meta=meta),
        _record("mid", token, T0 + 10, usageCount=2**62 - 1),
        _record("new", token, T0 + 20, usageCount=1, lastUsed=T0 + 30, isDefault=True),
        selected="mid",
    )
    plan = _plan(tmp_path)
    assert plan.rows == [
        _row_of(
            "mid",
            token,
            T0 + 10,
            usage_count=2**63 - 1,  # 2**62 + (2**62 - 1) + 1 does not fit; capped
            last_used=T0 + 50,
            is_default=True,
            meta=CopilotMeta(token="t-old", expires_at=5),
        )
    ]
    assert plan.default_id == "mid"
    assert plan.merged == [Merged("mid", ["old", "new"], mask_secret(token))]
    assert plan.warnings == [
        "isDefault flag ignored on new: selected-token names mid",
        "summed usageCount of mid exceeds the 64-bit range; capped at 9223372036854775807",
    ]


def test_newest_survives_without_a_default_and_ties_go_to_the_larger_id(tmp_path: Path) -> None:
    token = _key(2)
    _store_of(
        tmp_path,
        _record("b", token, T0, usageCount=3, meta={"token": "newest-with-meta", "expiresAt": 9}),
        _record("c", token, T0, usageCount=4, lastUsed=None),
        _record("a", token, T0 - 1, usageCount=5, lastUsed=T0, meta={"token": "older", "expiresAt": 8}),
    )
    plan = _plan(tmp_path)
    assert plan.rows == [
        _row_of("c", token, T0, usage_count=12, last_used=T0, meta=CopilotMeta(token="newest-with-meta", expires_at=9))
    ]
    assert plan.merged == [Merged("c", ["a", "b"], "gho_000000...00002")]
    assert plan.default_id is None


def test_several_flagged_records_pick_the_newest(tmp_path: Path) -> None:
    _store_of(
        tmp_path,
        _record("a", _key(1), T0, isDefault=True),
        _record("b", _key(2), T0 + 1, isDefault=True),
        _record("c", _key(3), T0 + 2, isDefault="yes"),
    )
    plan = _plan(tmp_path)
    assert plan.default_id == "b"
    assert [(row.id, row.is_default) for row in plan.rows] == [("a", False), ("b", True), ("c", False)]
    assert plan.warnings == ["several records flagged isDefault (a, b); the newest, b, wins"]


def test_dangling_selection_falls_back_to_the_flag(tmp_path: Path) -> None:
    _store_of(tmp_path, _record("a", _key(1), isDefault=True), _record("b", _key(2)), selected="gone")
    plan = _plan(tmp_path)
    assert plan.dangling_default == "gone"
    assert plan.default_id == "a"
    assert [row.id for row in plan.rows if row.is_default] == ["a"]


def test_plan_passes_skips_and_warnings_through(tmp_path: Path) -> None:
    _write_file(tmp_path, "tokens", "bad", b"{")
    path = write_datum(tmp_path, "tokens", "a", _record("a", _key(1), meta=[]))
    plan = _plan(tmp_path)
    assert plan.skipped == [Skipped("tokens/bad", "invalid JSON (truncated?)")]
    assert plan.warnings == [f"tokens/{path.name}: meta ignored (meta is not an object)"]


# --- masking -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "masked"),
    [
        ("gho_RG5H8DYy1Q1i9A_OC_5tZKnjwSJNW61HWlZk", "gho_RG5H8D...HWlZk"),
        ("abcdefghijklmnopqrst", "abcdefghij...pqrst"),
        ("abcdefghijklmnopqrs", "abcd...rs"),
        ("abcdefghi", "abcd...hi"),
        ("abcdefgh", "***"),
        ("", "***"),
    ],
)
def test_mask_secret(secret: str, masked: str) -> None:
    assert mask_secret(secret) == masked
