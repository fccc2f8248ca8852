"""Helpers for tests that need legacy node-persist stores: the shared samples and a writer for new ones."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import orjson

SAMPLES_ENV = "PROXYD_LEGACY_SAMPLES"


def samples_dir() -> Path:
    """The folder of sample stores written by the real node-persist (``$PROXYD_LEGACY_SAMPLES`` overrides)."""
    override = os.environ.get(SAMPLES_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "legacy-storage"


def write_datum(storage_dir: Path, folder: str, key: str, value: object, ttl: int | float | bool | None = None) -> Path:
    """Write one datum the way node-persist 4 does: ``sha256(key)`` file name, ``JSON.stringify`` output.

    ``ttl=None`` leaves the field out, as node-persist does for items stored without a ttl.
    """
    target = storage_dir / folder
    target.mkdir(parents=True, exist_ok=True)
    datum: dict[str, object] = {"key": key, "value": value}
    if ttl is not None:
        datum["ttl"] = ttl
    path = target / hashlib.sha256(key.encode()).hexdigest()
    # orjson's compact output is byte-for-byte what JSON.stringify writes for these values.
    path.write_bytes(orjson.dumps(datum))
    return path
