"""Importing a legacy node-persist store of 20,000 keys into SQLite with ``proxyd import-legacy``."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from bench.node_persist import write_datum
from proxyd.legacy.plan import plan_import
from proxyd.legacy.reader import read_store

from .procs import clean_env

_SUMMARY_LINES = ("records:", "inserted:", "skipped:", "default:")
T0 = 1_753_546_461_000  # July 2025, in epoch ms like the legacy files


@dataclass(frozen=True, slots=True)
class LegacyImport:
    keys: int
    generate_s: float
    read_plan_s: float  # read_store + plan_import, in process
    cli_available: bool
    import_s: float | None  # `proxyd import-legacy DIR`, wall clock including interpreter start-up
    imported_rows: int | None
    note: str


def _token_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _token_record(n: int) -> dict[str, object]:
    """Token record ``n`` as node-persist writes it: every third has been used, every fourth has meta."""
    record: dict[str, object] = {
        "id": _token_id(n),
        "name": f"key {n}",
        "key": f"gho_{n:036d}",
        "createdAt": T0 + n * 1000,
        "usageCount": n % 97,
    }
    if n % 3 == 0:
        record["lastUsed"] = T0 + n * 1000 + 500
    if n % 4 == 0:
        record["meta"] = {
            "token": f"tid={n:032x};exp=1756134861;sku=free_limited_copilot;"
            "proxy-ep=proxy.individual.githubcopilot.com",
            "expiresAt": 1756134861000,
            "resetTime": 1755270861000,
            "chatQuota": 50,
            "completionsQuota": 2000,
        }
    return record


def write_store(directory: Path, count: int) -> None:
    """``count`` token records, some with meta and usage, plus a selected key."""
    for n in range(count):
        write_datum(directory, "tokens", _token_id(n), _token_record(n))
    write_datum(directory, "selected-token", "selected-token-id", _token_id(count // 2))


def cli_has_import(proxyd: Sequence[str]) -> bool:
    done = subprocess.run([*proxyd, "--help"], capture_output=True, text=True, timeout=30, check=False)
    return "import-legacy" in done.stdout


def _count_rows(db_path: Path) -> int:
    with closing(sqlite3.connect(db_path)) as connection:
        row = connection.execute("SELECT COUNT(*) FROM api_keys").fetchone()
    return int(row[0])


def _run_import(proxyd: Sequence[str], store_dir: Path, db_path: Path) -> tuple[float, int, str]:
    env = clean_env({"DATABASE_URL": f"sqlite:///{db_path}"})
    migrate = subprocess.run(
        [*proxyd, "migrate", "apply"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if migrate.returncode != 0:
        raise RuntimeError(f"proxyd migrate apply failed: {migrate.stderr.strip()}")
    started = time.perf_counter()
    done = subprocess.run(
        [*proxyd, "import-legacy", str(store_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-500:]
        raise RuntimeError(f"proxyd import-legacy exited {done.returncode}: {output}")
    lines = done.stdout.strip().splitlines()
    summary = "; ".join(line for line in lines if line.startswith(_SUMMARY_LINES)) or (lines or [""])[-1]
    return elapsed, _count_rows(db_path), summary


def _measure(workdir: Path, count: int, proxyd: Sequence[str]) -> LegacyImport:
    store_dir = workdir / "legacy-store"
    started = time.perf_counter()
    write_store(store_dir, count)
    generate_s = time.perf_counter() - started

    started = time.perf_counter()
    plan = plan_import(read_store(store_dir))
    read_plan_s = time.perf_counter() - started
    if len(plan.rows) != count:
        raise RuntimeError(f"the plan has {len(plan.rows)} rows for {count} records: {plan.skipped[:3]}")

    if not cli_has_import(proxyd):
        return LegacyImport(
            count,
            generate_s,
            read_plan_s,
            False,
            None,
            None,
            "`proxyd import-legacy` is missing: only reading and planning are timed; "
            "the database write is not measured yet",
        )
    # A failed import is the phase failing (an error in the report, exit 1), not a figure to note.
    import_s, rows, summary = _run_import(proxyd, store_dir, workdir / "legacy.db")
    return LegacyImport(count, generate_s, read_plan_s, True, import_s, rows, summary[:300])


async def legacy_import(workdir: Path, count: int, proxyd: Sequence[str]) -> LegacyImport:
    return await asyncio.to_thread(_measure, workdir, count, proxyd)
