"""A bare clone is all the code, tests and benchmark need: nothing refers to a folder beside the checkout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import proxyd.errors
from tests.legacy_samples import samples_dir

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("proxyd", "tests", "bench", "sql", "migrations", ".ci", "Makefile", "setup.cfg", "pyproject.toml")
# Generated or cached, never committed: a stale file there is no reference of the code's.
SKIPPED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "results"})
# `../shared`, `/work/shared`, the samples' old home, and `parents[2]` or higher (above the repository root).
ESCAPE = re.compile(rb"(?:\.\.|/work)/shared|shared/legacy-storage|parents\[\s*(?:[2-9]|\d{2,})\s*\]")


def _scanned_files() -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        top = ROOT / name
        if top.is_file():
            files.append(top)
            continue
        for path in sorted(top.rglob("*")):
            if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts):
                files.append(path)
    return files


@pytest.mark.parametrize(
    "text",
    [
        b'Path("../shared/legacy-storage")',
        b"cat /work/shared/DESIGN.md",
        b'root / "shared" / "legacy-storage" if False else "shared/legacy-storage"',
        b"Path(__file__).resolve().parents[2]",
        b"Path(__file__).parents[ 3 ]",
        b"here.parents[10]",
    ],
)
def test_escape_pattern_catches(text: bytes) -> None:
    assert ESCAPE.search(text)


@pytest.mark.parametrize("text", [b"Path(__file__).resolve().parents[1]", b"tests/fixtures/legacy-storage"])
def test_escape_pattern_allows(text: bytes) -> None:
    assert not ESCAPE.search(text)


def test_nothing_refers_outside_the_repository() -> None:
    files = [path for path in _scanned_files() if path != Path(__file__).resolve()]
    assert ROOT / "Makefile" in files
    assert any(path.suffix == ".py" for path in files if path.is_relative_to(ROOT / "bench"))
    offenders = []
    for path in files:
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            if ESCAPE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.decode(errors='replace').strip()}")
    assert offenders == []


def test_legacy_samples_live_in_the_repository() -> None:
    samples = samples_dir()
    assert samples.is_relative_to(ROOT)
    assert (samples / "README.md").is_file()
    assert (samples / "corrupt" / "tokens" / ".DS_Store").is_file()


def test_errors_docstring_names_the_real_module() -> None:
    doc = proxyd.errors.__doc__ or ""
    assert "proxyd.http.errors" not in doc and "proxyd/http/middleware.py" in doc
    assert (Path(proxyd.errors.__file__).parent / "http" / "middleware.py").exists()
