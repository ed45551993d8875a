"""The CLI front: exit statuses and the one-line error contract (no daemon, no network)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from vrrpd import __version__
from vrrpd.cli.main import main
from vrrpd.config import Config

VALID = """
[global]
router_id = "node-a"

[[vrrp_instance]]
name = "VI_1"
interface = "lo"
virtual_router_id = 51
virtual_ipaddress = ["192.0.2.100/24"]
auth_pass = "hunter2"
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own VRRPD_* variables must not leak into these tests.
    for name in list(os.environ):
        if name.startswith("VRRPD_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vrrpd.toml"
    path.write_text(text)
    return path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"vrrpd {__version__}\n"


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID)
    assert main(["check-config", "--config", str(path)]) == 0  # "lo" exists everywhere
    out, err = capsys.readouterr()
    assert err == ""
    assert "instance VI_1: interface lo, vrid 51, priority 100" in out
    assert "192.0.2.100/24" in out
    assert "hunter2" not in out


def test_check_config_without_interface_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID.replace('"lo"', '"vrrpd-none0"'))
    assert main(["check-config", "--config", str(path), "--no-interface-check"]) == 0
    assert "vrrpd-none0" in capsys.readouterr().out


def test_check_config_config_from_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VRRPD_CONFIG", str(write(tmp_path, VALID)))
    assert main(["check-config"]) == 0
    assert "instance VI_1" in capsys.readouterr().out


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vrrpd: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (VALID.replace("51", "300"), "vrrp_instance[0].virtual_router_id = 300: must be an integer 1..255"),
        (VALID.replace('"lo"', '"vrrpd-none0"'), "no such network interface"),
        (VALID.replace("[global]", "[global]\nlog_format = = 1"), "3: TOML syntax error at column 14"),
    ],
)
def test_check_config_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    assert main(["check-config", "--config", str(path)]) == 2
    line = one_error_line(capsys)
    assert re.match(rf"vrrpd: {re.escape(str(path))}:\d+: ", line)  # file:line: key ...
    assert expected in line


def test_check_config_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.toml"
    assert main(["check-config", "--config", str(path)]) == 2
    assert one_error_line(capsys) == f"vrrpd: {path}: cannot read file: No such file or directory"


def test_bad_environment_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VRRPD_LOG_FORMAT", "xml")
    assert main(["check-config", "--config", str(write(tmp_path, VALID))]) == 2
    assert one_error_line(capsys).startswith("vrrpd: VRRPD_LOG_FORMAT: global.log_format")


def test_run_config_error_exits_before_the_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID.replace('"lo"', '"vrrpd-none0"'))
    assert main(["run", "--config", str(path)]) == 2
    assert "no such network interface" in one_error_line(capsys)


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_deeply_nested_toml_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # 400 nested inline tables used to end in a RecursionError traceback and exit 1, so systemd's
    # RestartPreventExitStatus=2 did not apply and the unit restarted forever.
    path = write(tmp_path, VALID + "x = " + "{a = " * 400 + "1" + "}" * 400 + "\n")
    assert main([command, "--config", str(path)]) == 2
    assert one_error_line(capsys) == f"vrrpd: {path}: nested deeper than 16 levels of arrays and tables"


def test_misspelled_password_key_is_not_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID.replace("auth_pass", "auth_pas"))
    assert main(["check-config", "--config", str(path)]) == 2
    line = one_error_line(capsys)
    assert "hunter2" not in line
    assert 'vrrp_instance[0].auth_pas = <hidden>: unknown key; did you mean "auth_pass"?' in line


@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["check-config", "--bogus"], ["lab", "--nodes", "1"], ["lab", "--nodes", "x"]],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: vrrpd" in err
    assert "Traceback" not in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "check-config" in capsys.readouterr().out


def test_run_hands_the_checked_config_to_the_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Config] = []

    def fake_run(config: Config) -> int:
        seen.append(config)
        return 7

    # A stand-in module: the real daemon needs root and a network.
    monkeypatch.setitem(sys.modules, "vrrpd.runtime.daemon", SimpleNamespace(run=fake_run))
    assert main(["run", "--config", str(write(tmp_path, VALID))]) == 7
    assert [inst.name for inst in seen[0].vrrp_instance] == ["VI_1"]


def test_lab_passes_the_node_count(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake_lab(nodes: int) -> int:
        calls.append(nodes)
        return 0

    monkeypatch.setitem(sys.modules, "vrrpd.testing.demo", SimpleNamespace(main=fake_lab))
    assert main(["lab", "--nodes", "4"]) == 0
    assert main(["lab"]) == 0
    assert calls == [4, 3]
