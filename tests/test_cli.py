"""The proxyd command line: arguments are checked before any configuration is read."""

from __future__ import annotations

import pytest

from proxyd.cli import build_parser, main


@pytest.mark.parametrize("value", ["0", "-1", "-5", "abc", "1.5"])
def test_migrate_count_must_be_positive(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["migrate", "rollback", "--count", value])
    assert exited.value.code == 2
    assert "--count" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # main() refuses before reading any configuration
        main(["migrate", "rollback", f"--count={value}"])
    assert exited.value.code == 2


def test_migrate_count_accepts_positive_numbers() -> None:
    assert build_parser().parse_args(["migrate", "rollback", "--count", "3"]).count == 3
    assert build_parser().parse_args(["migrate", "rollback"]).count == 1
