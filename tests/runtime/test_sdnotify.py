"""systemd notify: a fake NOTIFY_SOCKET (a path in tmp_path, and an abstract name) receives the
READY/STATUS/WATCHDOG/STOPPING datagrams; the watchdog interval is read from the environment."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from tests.support.aio import run
from vrrpd.runtime.sdnotify import SdNotifier, notify_address, watchdog_interval


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A stand-in for systemd: a bound AF_UNIX datagram socket and its NOTIFY_SOCKET value."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    yield sock, str(path)
    sock.close()


async def exchange(env: dict[str, str]) -> None:
    sd = await SdNotifier.from_env(env)
    assert sd is not None
    await sd.ready("2 instances: 1 MASTER, 1 BACKUP")
    await sd.status("1 MASTER, 1 BACKUP")
    await sd.watchdog()
    await sd.stopping()
    sd.close()


def received(sock: socket.socket, n: int) -> list[bytes]:
    return [sock.recv(4096) for _ in range(n)]


EXPECTED = [
    b"READY=1\nSTATUS=2 instances: 1 MASTER, 1 BACKUP",
    b"STATUS=1 MASTER, 1 BACKUP",
    b"WATCHDOG=1",
    b"STOPPING=1",
]


def test_path_socket_receives_the_protocol(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    run(exchange({"NOTIFY_SOCKET": path}))
    assert received(sock, 4) == EXPECTED


def test_abstract_socket_receives_the_protocol() -> None:
    name = f"vrrpd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        run(exchange({"NOTIFY_SOCKET": "@" + name}))
        assert received(sock, 4) == EXPECTED


def test_no_or_unusable_socket_gives_none(tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        assert run(SdNotifier.from_env({})) is None
        assert run(SdNotifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"})) is None
        assert run(SdNotifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "absent.sock")})) is None
    assert [e["event"] for e in logs] == ["sd_notify_unsupported_socket", "sd_notify_connect_failed"]


def test_send_failure_is_logged_not_raised(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager

    async def main() -> bool:
        sd = await SdNotifier.from_env({"NOTIFY_SOCKET": path})
        assert sd is not None
        sock.close()  # systemd went away
        os.unlink(path)
        await sd.status("one")  # the kernel refuses it; asyncio reports that asynchronously
        await sd.status("two")  # ...and it is logged here, without raising
        sd.close()
        return await sd.send("STATUS=three")  # a closed notifier says False

    with structlog.testing.capture_logs() as logs:
        ok = run(main())
    assert ok is False
    errors = [e["error"] for e in logs if e["event"] == "sd_notify_failed"]
    # Refused, then (the kernel dropped the dead peer) not connected, then closed by us.
    assert "ConnectionRefusedError" in errors[0]
    assert "TransportClosed" in errors[-1]


def test_notify_address_forms() -> None:
    assert notify_address({"NOTIFY_SOCKET": "/run/systemd/notify"}) == "/run/systemd/notify"
    assert notify_address({"NOTIFY_SOCKET": "@sd-notify"}) == "\0sd-notify"
    assert notify_address({"NOTIFY_SOCKET": "@"}) is None
    assert notify_address({}) is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(os.getpid())}, 0.5),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(env) == expected


def test_watchdog_interval_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 2.0
