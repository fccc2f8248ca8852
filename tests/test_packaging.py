"""A wheel holds every package of proxyd: setup.cfg lists them by hand."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_python_package_under_proxyd_is_listed_in_setup_cfg() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    listed = set(setup["options"]["packages"].split())
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "proxyd").rglob("__init__.py")}
    assert on_disk - listed == set()
