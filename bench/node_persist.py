"""Writing legacy node-persist stores, datum by datum, for the benchmark's import phase and the legacy tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson


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
