"""Rules of the package layout that a reader relies on, checked so they stay true."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "proxyd"
ERRORS = PACKAGE / "errors.py"


def _exception_names() -> set[str]:
    """Builtin exceptions and every class proxyd/errors.py defines."""
    names = {
        name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
    }
    tree = ast.parse(ERRORS.read_text())
    return names | {node.name for node in tree.body if isinstance(node, ast.ClassDef)}


def test_every_exception_class_is_defined_in_errors_py() -> None:
    exceptions = _exception_names()
    elsewhere = []
    for module in sorted(PACKAGE.rglob("*.py")):
        if module == ERRORS:
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {base.id if isinstance(base, ast.Name) else getattr(base, "attr", "") for base in node.bases}
            if bases & exceptions:
                elsewhere.append(f"{module.relative_to(ROOT)}: {node.name}")
    assert elsewhere == []
