"""Helpers for tests that need legacy node-persist stores: the in-repo samples and a writer for new ones."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

# Committed with the tests, byte for byte as the real node-persist wrote them, so a bare clone has them.
SAMPLES = Path(__file__).resolve().parent / "fixtures" / "legacy-storage"


def samples_dir() -> Path:
    """The folder of sample stores written by the real node-persist 4.0.4 (see its README.md)."""
    return SAMPLES


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
