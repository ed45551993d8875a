"""Notify: keepalived's exact argument list, strict ordering, a hanging hook killed without holding
up the next one, failures logged never raised; the notify FIFO with and without a reader."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from tests.support.aio import run
from vrrpd.runtime.notify import Notifier, NotifyFifo


def recording_script(tmp_path: Path, body: str = "") -> tuple[str, Path]:
    """A notify hook that appends its argv (one argument per field, "|"-separated) to a file."""
    out = tmp_path / "calls.txt"
    path = tmp_path / "notify.sh"
    path.write_text(
        f'#!/bin/sh\n{body}\nout="{out}"\n'
        'line="$0"; for a in "$@"; do line="$line|$a"; done\necho "$line" >> "$out"\n'
    )
    path.chmod(0o755)
    return str(path), out


def calls(out: Path) -> list[list[str]]:
    return [line.split("|") for line in out.read_text().splitlines()] if out.exists() else []


def test_ordered_delivery_with_keepalived_arguments(tmp_path: Path) -> None:
    # A random-length sleep would reorder concurrent runs; ordered delivery must not care.
    script, out = recording_script(tmp_path, 'case "$3" in BACKUP) sleep 0.05;; esac')

    async def main() -> None:
        notifier = Notifier(script, 2.0)
        notifier.notify("VI_1", "BACKUP", 100)  # queued before start: still delivered first
        notifier.start()
        notifier.notify("VI_1", "MASTER", 100)
        notifier.notify("VI_2 with space", "FAULT", 0)
        notifier.notify("VI_1", "STOP", 100)
        await notifier.drain(5.0)
        await notifier.close()

    with structlog.testing.capture_logs() as logs:
        run(main())
    assert calls(out) == [
        [script, "INSTANCE", "VI_1", "BACKUP", "100"],
        [script, "INSTANCE", "VI_1", "MASTER", "100"],
        [script, "INSTANCE", "VI_2 with space", "FAULT", "0"],
        [script, "INSTANCE", "VI_1", "STOP", "100"],
    ]
    assert logs == []


def test_hanging_hook_is_killed_and_the_next_one_runs(tmp_path: Path) -> None:
    pidfile = tmp_path / "hung.pid"
    script, out = recording_script(
        tmp_path, f'[ "$3" = FAULT ] && {{ echo $$ > "{pidfile}"; exec sleep 30; }}'
    )

    async def main() -> float:
        notifier = Notifier(script, 0.2)
        notifier.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        for state in ("MASTER", "FAULT", "BACKUP"):
            notifier.notify("VI_1", state, 50)
        await notifier.drain(5.0)
        elapsed = loop.time() - started
        await notifier.close()
        return elapsed

    with structlog.testing.capture_logs() as logs:
        elapsed = run(main())
    assert [c[3] for c in calls(out)] == ["MASTER", "BACKUP"]
    assert elapsed < 2.0
    [failed] = [e for e in logs if e["event"] == "notify_failed"]
    assert failed["instance"] == "VI_1"
    assert failed["state"] == "FAULT"
    assert failed["rc"] is None
    assert failed["reason"] == "timed out after 0.2s"
    with pytest.raises(ProcessLookupError):  # neither running nor a zombie: reaped
        os.kill(int(pidfile.read_text()), 0)


def test_failures_are_logged_not_raised(tmp_path: Path) -> None:
    failing, _ = recording_script(tmp_path, "exit 7")

    async def main() -> None:
        for path in (failing, str(tmp_path / "missing.sh")):
            notifier = Notifier(path, 1.0)
            notifier.start()
            notifier.notify("VI_1", "MASTER", 100)
            await notifier.drain(5.0)
            await notifier.close()

    with structlog.testing.capture_logs() as logs:
        run(main())
    got = [(e["event"], e["state"], e["rc"], e["reason"]) for e in logs]
    assert got == [
        ("notify_failed", "MASTER", 7, "exit 7"),
        ("notify_failed", "MASTER", None, "not found"),
    ]


def test_no_path_is_a_no_op_and_drain_is_bounded(tmp_path: Path) -> None:
    script, out = recording_script(tmp_path)

    async def main() -> float:
        silent = Notifier(None, 1.0)
        silent.start()
        silent.notify("VI_1", "MASTER", 100)
        await silent.drain(1.0)
        await silent.close()
        # Never started: the call stays queued, and drain gives up after its timeout.
        stalled = Notifier(script, 1.0)
        stalled.notify("VI_1", "MASTER", 100)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await stalled.drain(0.05)
        return loop.time() - started

    with structlog.testing.capture_logs() as logs:
        waited = run(main())
    assert 0.04 <= waited < 1.0
    assert [e["event"] for e in logs] == ["notify_drain_timeout"]
    assert calls(out) == []


def test_queue_overflow_drops_the_oldest(tmp_path: Path) -> None:
    script, out = recording_script(tmp_path)

    async def main() -> None:
        notifier = Notifier(script, 1.0, max_pending=2)
        for state in ("BACKUP", "MASTER", "FAULT"):
            notifier.notify("VI_1", state, 100)
        notifier.start()
        await notifier.drain(5.0)
        await notifier.close()

    with structlog.testing.capture_logs() as logs:
        run(main())
    assert [c[3] for c in calls(out)] == ["MASTER", "FAULT"]  # the latest state survives
    assert [(e["event"], e["state"]) for e in logs] == [("notify_dropped", "BACKUP")]


# --- NotifyFifo --------------------------------------------------------------------------------


@contextlib.contextmanager
def reader(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        yield fd
    finally:
        os.close(fd)


def test_fifo_lines_with_a_reader(tmp_path: Path) -> None:
    path = tmp_path / "notify.fifo"
    os.mkfifo(path)
    fifo = NotifyFifo(str(path))
    with reader(path) as fd:
        assert fifo.write("VI_1", "MASTER", 100)
        assert fifo.write("VI_1", "BACKUP", 90)
        data = os.read(fd, 4096)
    fifo.close()
    assert data == b'INSTANCE "VI_1" MASTER 100\nINSTANCE "VI_1" BACKUP 90\n'
    assert (fifo.written, fifo.dropped) == (2, 0)


def test_fifo_keeps_lines_while_no_reader_is_attached(tmp_path: Path) -> None:
    # keepalived opens its notify FIFO read-write, so a consumer restarting misses nothing: the pipe
    # holds the lines until it comes back. Writing still never blocks.
    path = tmp_path / "notify.fifo"
    os.mkfifo(path)
    fifo = NotifyFifo(str(path))
    assert fifo.write("VI_1", "MASTER", 100)  # nobody reading yet: kept in the pipe
    with reader(path) as fd:
        assert fifo.write("VI_1", "BACKUP", 90)
        assert os.read(fd, 4096) == b'INSTANCE "VI_1" MASTER 100\nINSTANCE "VI_1" BACKUP 90\n'
    assert fifo.write("VI_1", "FAULT", 0)  # the reader went away: kept for the next one
    with reader(path) as fd:
        assert os.read(fd, 4096) == b'INSTANCE "VI_1" FAULT 0\n'
    fifo.close()
    assert (fifo.written, fifo.dropped) == (3, 0)


def test_fifo_full_pipe_drops_and_keeps_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "notify.fifo"
    os.mkfifo(path)
    fifo = NotifyFifo(str(path))
    with reader(path) as fd, structlog.testing.capture_logs():
        for _ in range(100_000):  # bounded: a pipe holds 64 KiB by default, ~2,500 lines
            if not fifo.write("VI_1", "MASTER", 100):
                break
        assert fifo.dropped == 1
        os.read(fd, 1 << 20)  # the reader catches up; the same fd still works
        assert fifo.write("VI_1", "BACKUP", 90)
    fifo.close()


def test_fifo_refuses_a_regular_file_and_a_missing_path(tmp_path: Path) -> None:
    regular = tmp_path / "not-a-fifo"
    regular.write_text("precious\n")
    with structlog.testing.capture_logs() as logs:
        assert not NotifyFifo(str(regular)).write("VI_1", "MASTER", 100)
        assert not NotifyFifo(str(tmp_path / "missing")).write("VI_1", "MASTER", 100)
    assert regular.read_text() == "precious\n"
    reasons = [e["reason"] for e in logs]
    assert reasons[0].endswith("is not a FIFO")
    assert reasons[1] == "no such FIFO"
