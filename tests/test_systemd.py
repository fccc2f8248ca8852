"""proxyd under systemd: the unit verifies, and the notify protocol is spoken as systemd expects."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROXYD = Path(sys.executable).with_name("proxyd")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_verifies(tmp_path: Path) -> None:
    unit = (ROOT / "systemd" / "proxyd.service").read_text()
    # verify checks that executables exist: point them at this installation.
    unit = unit.replace("/opt/proxyd/bin/proxyd", str(PROXYD))
    (tmp_path / "proxyd.service").write_text(unit)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "proxyd.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = [line for line in result.stderr.splitlines() if "proxyd.service" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_unit_has_the_required_settings() -> None:
    unit = (ROOT / "systemd" / "proxyd.service").read_text()
    for setting in (
        "Type=notify",
        "ExecStartPre=/opt/proxyd/bin/proxyd migrate apply",
        "EnvironmentFile=-/etc/proxyd/proxyd.env",
        "DynamicUser=yes",
        "StateDirectory=proxyd",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=\n",
        "Restart=on-failure",
    ):
        assert setting in unit, setting


def test_example_environment_documents_every_variable() -> None:
    example = (ROOT / "systemd" / "proxyd.env.example").read_text()
    source = "\n".join(p.read_text() for p in (ROOT / "proxyd").rglob("*.py"))
    variables = set(re.findall(r'"((?:PROXYD|LOG)_[A-Z_]+|DATABASE_URL)"', source))
    assert variables, "no variables found"
    missing = sorted(v for v in variables if f"#{v}=" not in example)
    assert not missing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    yield sock, path
    sock.close()


def _receive_until(sock: socket.socket, wanted: str, seen: list[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        message = sock.recv(4096).decode()
        seen.extend(message.split("\n"))
        if wanted in seen:
            return
    raise AssertionError(f"{wanted} never arrived; got {seen}")


def test_notify_protocol(tmp_path: Path, notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    env = {
        **os.environ,
        "NOTIFY_SOCKET": path,
        "WATCHDOG_USEC": "200000",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'proxyd.db'}",
        "PROXYD_PORT": str(_free_port()),
    }
    env.pop("WATCHDOG_PID", None)
    process = subprocess.Popen(
        [str(PROXYD), "serve", "--migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    seen: list[str] = []
    try:
        _receive_until(sock, "READY=1", seen)
        seen.clear()
        _receive_until(sock, "WATCHDOG=1", seen)
        _receive_until(sock, "WATCHDOG=1", seen[:0])
        process.send_signal(signal.SIGTERM)
        _receive_until(sock, "STOPPING=1", seen)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate()[0].decode()
    assert "proxyd stopped" in output, output


def test_start_with_database_down_exits_with_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://proxyd:hunter2@127.0.0.1:{_free_port()}/proxyd",
        "PROXYD_DB_TIMEOUT": "2",
        "PROXYD_PORT": str(_free_port()),  # the port is bound first: a busy 3000 would be the one line
    }
    result = subprocess.run([str(PROXYD), "serve"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "connect failed" in lines[0], result.stderr
    assert "hunter2" not in result.stderr + result.stdout
