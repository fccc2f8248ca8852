"""CI runs the suite, the linters and a smoke run of the benchmark; the tools it runs are pinned."""

from __future__ import annotations

import configparser
import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.__main__ import parse_args
from bench.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CI_RUN = ROOT / ".ci" / "run"


def _ci_lines() -> list[str]:
    return [line.strip() for line in CI_RUN.read_text().splitlines()]


def test_ci_script_parses_and_is_executable() -> None:
    assert CI_RUN.stat().st_mode & 0o111
    subprocess.run(["bash", "-n", str(CI_RUN)], check=True, timeout=30)


def test_ci_runs_the_suite_then_the_checks_then_the_benchmark() -> None:
    lines = _ci_lines()
    steps = [lines.index(step) for step in ("export PROXYD_REQUIRE_ALL_DBS=1", "make test", "make check")]
    steps.append(lines.index("make bench-smoke"))
    assert steps == sorted(steps)
    assert "set -euo pipefail" in lines  # a failed step fails CI


@pytest.mark.parametrize(
    ("target", "commands"),
    [
        ("check", ["ruff check .", "ruff format --check .", "mypy"]),
        ("bench-smoke", ["-m bench --smoke"]),
    ],
)
def test_make_targets(target: str, commands: list[str]) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    # -n prints the commands without running them; the install step may be printed too.
    planned = subprocess.run(
        [make, "-n", "-s", target], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    ).stdout
    for command in commands:
        assert command in planned


def test_linters_are_pinned() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    dev = {line.split("==")[0]: line for line in config["options.extras_require"]["dev"].split() if line}
    assert "==" in dev["ruff"]
    assert "==" in dev["mypy"]


def test_smoke_settings_are_no_longer_than_quick() -> None:
    args = (Path("/tmp/out"), True, "python", "info", ("proxyd",))
    quick = Settings.for_run(*args)
    smoke = Settings.for_run(*args, smoke=True)
    assert (smoke.mode, quick.mode) == ("smoke", "quick")
    for field in dataclasses.fields(Settings):
        value = getattr(smoke, field.name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert value <= getattr(quick, field.name), field.name
    assert len(smoke.concurrencies) <= len(quick.concurrencies)


def test_smoke_and_quick_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_args(["--smoke"]).smoke
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--smoke", "--quick"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
