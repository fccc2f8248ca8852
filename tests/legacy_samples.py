"""The legacy node-persist stores committed with the tests (``bench/node_persist.py`` writes new ones)."""

from __future__ import annotations

from pathlib import Path

# Committed with the tests, byte for byte as the real node-persist wrote them, so a bare clone has them.
SAMPLES = Path(__file__).resolve().parent / "fixtures" / "legacy-storage"


def samples_dir() -> Path:
    """The folder of sample stores written by the real node-persist 4.0.4 (see its README.md)."""
    return SAMPLES
