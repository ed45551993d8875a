"""systemd/vrrpd.service: its contract, `systemd-analyze verify`, and the notify protocol as a real daemon
speaks it from a lab namespace to a stand-in for systemd (an AF_UNIX datagram socket in tmp_path; path
sockets are reachable across network namespaces, abstract ones are not)."""

from __future__ import annotations

import configparser
import itertools
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.daemons import config_text, wait_holder
from vrrpd.testing.plugin import LabFactory

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "vrrpd.service"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_contract() -> None:
    service = unit()["Service"]
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert service["ExecStart"] == "/usr/local/bin/vrrpd run --config /etc/vrrpd/vrrpd.toml"
    # Reload exists (SIGHUP / control socket); `vrrpd reload` reports a refused file as a failed reload.
    assert service["ExecReload"] == "/usr/local/bin/vrrpd reload --config /etc/vrrpd/vrrpd.toml"
    assert service["WatchdogSec"] == "10s"
    caps = {"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_BPF"}  # CAP_BPF: the eBPF receive filter (optional)
    assert set(service["AmbientCapabilities"].split()) == caps
    assert set(service["CapabilityBoundingSet"].split()) == caps
    assert "bpf" in service["SystemCallFilter"].split()  # not in @system-service: EPERM without it
    assert service["DynamicUser"] == "yes"  # not root: these capabilities are all it has
    assert service["KillMode"] == "mixed" and service["RestartPreventExitStatus"] == "2"
    # Not systemd's default 1024: descriptor exhaustion made the TCP health check fail (FAULT).
    assert service["LimitNOFILE"] == "65536"
    for key in (
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelModules",
    ):
        assert key in service
    assert "AF_PACKET" in service["RestrictAddressFamilies"]  # gratuitous ARP
    assert "AF_NETLINK" in service["RestrictAddressFamilies"]  # addresses and link events
    assert "PrivateNetwork" not in service
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists that ExecStart's program exists: point it at this checkout's vrrpd for the check.
    vrrpd = Path(sys.executable).with_name("vrrpd")
    copy = tmp_path / "vrrpd.service"
    copy.write_text(UNIT.read_text().replace("/usr/local/bin/vrrpd", str(vrrpd)))
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "vrrpd.service" not in proc.stderr, proc.stderr  # no warning about our unit at all
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=30", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert security.returncode == 0, security.stdout[-500:]  # exposure <= 3.0 ("OK")


class Manager:
    """A stand-in for systemd's notify socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.path.chmod(0o777)
        self.received: list[tuple[float, str]] = []

    def collect(self, until: float) -> None:
        """Read datagrams until the monotonic time `until` (bounded)."""
        while (left := until - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                return
            self.received.append((time.monotonic(), data.decode()))

    def wait_for(self, prefix: str, timeout: float) -> tuple[float, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.received:
                if item[1].startswith(prefix):
                    return item
            self.collect(min(deadline, time.monotonic() + 0.2))
        raise AssertionError(f"no {prefix!r} within {timeout}s; got {[m for _, m in self.received]}")

    def close(self) -> None:
        self.sock.close()


@pytest.mark.netns
def test_real_daemon_notifies_ready_status_watchdog_reload_stopping(
    vrrp_lab: LabFactory, tmp_path: Path
) -> None:
    lab = vrrp_lab(nodes=1, prefix="vos")
    manager = Manager(tmp_path / "notify.sock")
    try:
        config = Path(lab.log_dir) / "n1.toml"
        config.write_text(config_text(lab, "n1", priority=150))
        proc = lab.spawn(
            "n1",
            [sys.executable, "-m", "vrrpd", "run", "--config", str(config)],
            env={"NOTIFY_SOCKET": str(manager.path), "WATCHDOG_USEC": "1000000", "VRRPD_LOG_FORMAT": "json"},
        )
        t_ready, ready = manager.wait_for("READY=1", timeout=15)
        # Every instance has left INIT by then; the summary is one line.
        status = ready.split("\n", 1)[1]
        assert status.startswith("STATUS=") and "INIT" not in status and "\n" not in status
        assert "1 BACKUP" in status or "1 MASTER" in status, status
        # WATCHDOG_USEC = 1 s: pings every half second.
        manager.collect(time.monotonic() + 2.2)
        pings = [t for t, m in manager.received if m == "WATCHDOG=1" and t > t_ready]
        assert len(pings) >= 3, manager.received
        assert all(b - a < 0.9 for a, b in itertools.pairwise(pings)), pings
        wait_holder(lab, "n1")
        manager.wait_for("STATUS=1 MASTER", timeout=5)  # the watchdog tick refreshes the summary
        # ExecReload's path: SIGHUP (or `vrrpd reload`) → RELOADING=1 ... READY=1 again.
        manager.received.clear()
        proc.send_signal(signal.SIGHUP)
        _, reloading = manager.wait_for("RELOADING=1", timeout=5)
        assert "MONOTONIC_USEC=" in reloading
        manager.wait_for("READY=1", timeout=5)
        proc.terminate()
        manager.wait_for("STOPPING=1", timeout=5)
        assert proc.wait(timeout=5) == 0
    finally:
        manager.close()
