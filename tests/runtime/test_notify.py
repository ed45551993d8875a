"""Notify: keepalived's exact argument list, strict ordering, a hanging hook killed without holding
up the next one, failures logged never raised; the notify FIFO with and without a reader."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
import structlog

from tests.support.aio import run
from vrrpd.runtime import notify
from vrrpd.runtime.notify import SUPERSEDE_AFTER, FifoScript, Notifier, NotifyFifo
from vrrpd.testing.lab import wait_until


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


def test_a_hung_program_never_delays_the_newest_state(tmp_path: Path) -> None:
    # Three flaps while the BACKUP hook hangs (notify_timeout 10 s): the calls queued behind it used to
    # wait 10 s each, delivering the final MASTER ~30 s late. Now the hung run is killed once a newer
    # state waits and its grace is over, the overtaken states are skipped (and named), order is kept.
    script, out = recording_script(tmp_path, '[ "$3" = BACKUP ] && exec sleep 30')

    async def main() -> float:
        notifier = Notifier(script, 10.0)
        notifier.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        for state in ("BACKUP", "MASTER") * 3:
            notifier.notify("VI_1", state, 100)
            await asyncio.sleep(0.01)
        while not calls(out) and loop.time() - started < 5.0:  # noqa: ASYNC110 - a file, not an event
            await asyncio.sleep(0.01)
        elapsed = loop.time() - started
        await notifier.drain(5.0)
        await notifier.close()
        return elapsed

    with structlog.testing.capture_logs() as logs:
        elapsed = run(main(), timeout=20.0)
    assert [c[3] for c in calls(out)] == ["MASTER"]  # the hook records after the hanging branch
    assert elapsed < SUPERSEDE_AFTER + 1.0, elapsed
    [superseded] = [e for e in logs if e["event"] == "notify_superseded"]
    assert superseded["state"] == "BACKUP" and superseded["rc"] is None
    [skipped] = [e for e in logs if e["event"] == "notify_skipped"]
    assert skipped["instance"] == "VI_1"
    assert skipped["skipped"] == ["MASTER 100", "BACKUP 100", "MASTER 100", "BACKUP 100"]
    assert skipped["delivering"] == "MASTER 100"


def test_a_slow_program_without_a_newer_state_keeps_its_whole_timeout(tmp_path: Path) -> None:
    # Superseding is only for a program that holds up a newer state; alone, it may use its timeout.
    script, out = recording_script(tmp_path, "sleep 1.5")

    async def main() -> None:
        notifier = Notifier(script, 5.0)
        notifier.start()
        notifier.notify("VI_1", "MASTER", 100)
        await notifier.drain(5.0)
        await notifier.close()

    with structlog.testing.capture_logs() as logs:
        run(main())
    assert [c[3] for c in calls(out)] == ["MASTER"]
    assert logs == []


def test_each_instance_keeps_its_newest_state_after_a_hung_program(tmp_path: Path) -> None:
    script, out = recording_script(tmp_path, '[ "$3" = FAULT ] && exec sleep 30')

    async def main() -> None:
        notifier = Notifier(script, 0.3)
        notifier.start()
        notifier.notify("VI_1", "FAULT", 0)
        for name, state in (("VI_1", "BACKUP"), ("VI_2", "BACKUP"), ("VI_1", "MASTER"), ("VI_2", "MASTER")):
            notifier.notify(name, state, 100)
        await notifier.drain(5.0)
        await notifier.close()

    with structlog.testing.capture_logs() as logs:
        run(main())
    assert [(c[2], c[3]) for c in calls(out)] == [("VI_1", "MASTER"), ("VI_2", "MASTER")]
    skipped = {e["instance"]: e["skipped"] for e in logs if e["event"] == "notify_skipped"}
    assert skipped == {"VI_1": ["BACKUP 100"], "VI_2": ["BACKUP 100"]}


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


# --- notify_fifo_script ---------------------------------------------------------------------------


def fifo_reader(tmp_path: Path, body: str) -> str:
    """A FIFO reader program: records its arguments, then runs `body` ("$2" is the FIFO's path)."""
    path = tmp_path / "reader.sh"
    path.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/args"\n{body}\n')
    path.chmod(0o755)
    return str(path)


async def until(predicate: Callable[[], bool], polls: int = 250) -> bool:
    """Poll a condition a child process brings about (bounded: `polls` polls 0.02 s apart)."""
    for _ in range(polls):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


def test_fifo_script_reads_the_fifo_given_as_its_last_argument_and_stops_with_the_daemon(
    tmp_path: Path,
) -> None:
    fifo_path = tmp_path / "notify.fifo"
    os.mkfifo(fifo_path)
    lines = tmp_path / "lines"
    reader = fifo_reader(tmp_path, f'exec cat "$2" >> "{lines}"')

    async def main() -> tuple[int | None, int | None]:
        fifo = NotifyFifo(str(fifo_path))
        script = FifoScript([reader, "--tag"], str(fifo_path))
        await script.start()
        pid = script.pid
        assert fifo.write("VI_1", "MASTER", 100)
        assert await until(lambda: lines.exists() and "MASTER" in lines.read_text())
        await script.stop()
        fifo.close()
        return pid, script.returncode

    with structlog.testing.capture_logs() as logs:
        pid, returncode = run(main())
    assert (tmp_path / "args").read_text() == f"--tag {fifo_path}\n"
    assert lines.read_text() == 'INSTANCE "VI_1" MASTER 100\n'
    assert pid is not None and returncode is not None  # reaped: SIGTERM ended it
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert [e["event"] for e in logs] == ["notify_fifo_script_started"]


def test_fifo_script_that_exits_is_logged_and_not_started_again(tmp_path: Path) -> None:
    fifo_path = tmp_path / "notify.fifo"
    os.mkfifo(fifo_path)
    reader = fifo_reader(tmp_path, "exit 3")

    async def main() -> FifoScript:
        script = FifoScript([reader], str(fifo_path))
        await script.start()
        assert await until(lambda: script.returncode is not None)
        await asyncio.sleep(0.2)  # nothing restarts it meanwhile
        await script.stop()
        return script

    with structlog.testing.capture_logs() as logs:
        script = run(main())
    assert script.returncode == 3 and script.pid is None
    assert [(e["event"], e.get("returncode")) for e in logs] == [
        ("notify_fifo_script_started", None),
        ("notify_fifo_script_exited", 3),
    ]


def test_fifo_script_ignoring_sigterm_is_killed_with_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "FIFO_SCRIPT_GRACE", 0.3)
    fifo_path = tmp_path / "notify.fifo"
    os.mkfifo(fifo_path)
    child_pid = tmp_path / "child.pid"
    reader = fifo_reader(tmp_path, f"trap '' TERM\nsleep 30 &\necho $! > {child_pid}\nwait")

    async def main() -> tuple[float, int | None]:
        script = FifoScript([reader], str(fifo_path))
        await script.start()
        assert await until(lambda: child_pid.exists() and child_pid.read_text().strip() != "")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await script.stop()
        return loop.time() - started, script.returncode

    took, returncode = run(main())
    assert 0.3 <= took < 2.0, took  # the grace period, then SIGKILL
    assert returncode == -9
    child = int(child_pid.read_text())
    assert wait_until(lambda: _gone(child), 2.0), Path(f"/proc/{child}/stat").read_text()


def _gone(pid: int) -> bool:
    """No such process, or a zombie (killed, waiting for init to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_notifier_without_programs_looks_up_no_script_user(monkeypatch: pytest.MonkeyPatch) -> None:
    # No getpwnam("keepalived_script") per instance when nothing would run: it loads the host's NSS
    # modules (0.3 MiB) into the daemon. With a notify program the user is looked up as before.
    from tests.support.fakes import STATUS_CONFIG
    from vrrpd.config import parse_config
    from vrrpd.runtime.daemon import Daemon

    looked_up: list[str] = []

    def getpwnam(name: str) -> object:
        looked_up.append(name)
        raise KeyError(name)

    monkeypatch.setattr("vrrpd.config.programs.pwd.getpwnam", getpwnam)
    daemon = Daemon(parse_config(STATUS_CONFIG, "vrrpd.toml", env={}))
    (cfg,) = daemon.config.vrrp_instance
    assert daemon._notifier(cfg).credentials is None and looked_up == []
    with_program = msgspec.structs.replace(cfg, notify=("/bin/true",))
    assert daemon._notifier(with_program).credentials is None  # no such user here: ourselves
    assert looked_up == ["keepalived_script"]
