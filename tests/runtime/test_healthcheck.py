"""Health checks: the TCP and script probes against loopback and tiny scripts, the bounded
program runner (timeout kills and reaps), and the rise/fall debouncer with scripted results."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import stat
import time
from collections.abc import Awaitable, Callable, Iterator
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from tests.support.aio import run
from vrrpd.runtime.healthcheck import (
    HealthChecker,
    ProbeResult,
    run_program,
    script_probe,
    tcp_probe,
    tcp_target,
)

LOOPBACK = IPv4Address("127.0.0.1")


def make_script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def free_port() -> int:
    # Bind, read the port, close: nothing listens there afterwards, so connects are refused.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def gone(pid: int) -> bool:
    """True if ``pid`` is neither running nor a zombie of ours."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def not_running(pid: int) -> bool:
    """True if ``pid`` is dead (exited or a zombie waiting for whoever its parent is now)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return True
    return fields[0] in {"Z", "X"}


# --- tcp_probe ---------------------------------------------------------------------------------


def test_tcp_probe_up_against_listener() -> None:
    async def main() -> ProbeResult:
        accepted = asyncio.Event()

        async def on_client(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            accepted.set()
            w.close()

        server = await asyncio.start_server(on_client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            result = await tcp_probe(LOOPBACK, port, 1.0)
            await asyncio.wait_for(accepted.wait(), 1.0)
        assert result.detail == f"tcp 127.0.0.1:{port} connected"
        return result

    result = run(main())
    assert result
    assert result.ok is True


def test_tcp_probe_down_on_closed_port() -> None:
    port = free_port()
    result = run(tcp_probe(LOOPBACK, port, 1.0))
    assert not result
    assert result.detail == f"tcp 127.0.0.1:{port} refused"


def test_tcp_probe_times_out_when_syn_is_dropped() -> None:
    # A listener with backlog 0 that never accepts: once its accept queue is full, Linux drops
    # further SYNs, so the next connect hangs in SYN_SENT — a loopback-only "black hole".
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        try:
            for f in fillers:
                f.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    f.connect(("127.0.0.1", port))
            result = run(tcp_probe(LOOPBACK, port, 0.2))
        finally:
            for f in fillers:
                f.close()
    assert not result
    assert result.detail == f"tcp 127.0.0.1:{port} timed out after 0.2s"


# --- script_probe / run_program --------------------------------------------------------------


def test_script_probe_exit_status(tmp_path: Path) -> None:
    ok = make_script(tmp_path, "ok.sh", "exit 0")
    bad = make_script(tmp_path, "bad.sh", "exit 3")
    assert run(script_probe(ok, 1.0)) == ProbeResult(True, "script exit 0")
    assert run(script_probe(bad, 1.0)) == ProbeResult(False, "script exit 3")


def test_script_probe_passes_args(tmp_path: Path) -> None:
    script = make_script(tmp_path, "args.sh", '[ "$1" = "haproxy" ] && [ "$#" -eq 1 ]')
    assert run(script_probe(script, 1.0, args=["haproxy"]))
    assert not run(script_probe(script, 1.0, args=["nginx"]))


def test_script_probe_missing_or_not_executable_is_false(tmp_path: Path) -> None:
    assert run(script_probe(str(tmp_path / "nope.sh"), 1.0)) == ProbeResult(False, "script not found")
    plain = tmp_path / "plain.sh"
    plain.write_text("#!/bin/sh\nexit 0\n")
    plain.chmod(stat.S_IRUSR | stat.S_IWUSR)
    # No x bit at all: exec fails with EACCES even for root.
    assert run(script_probe(str(plain), 1.0)) == ProbeResult(False, "script not executable")


def test_script_runs_with_minimal_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRRPD_TEST_SECRET", "leak")
    out = tmp_path / "env.txt"
    script = make_script(tmp_path, "env.sh", f'env > "{out}"; [ -t 0 ] && exit 9; exit 0')
    assert run(script_probe(script, 1.0))
    env = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert env["PATH"] == "/usr/sbin:/usr/bin:/sbin:/bin"
    assert "VRRPD_TEST_SECRET" not in env
    assert "HOME" not in env


def test_hanging_script_is_killed_and_reaped(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    child_pidfile = tmp_path / "child"
    # The shell forks a grandchild (not exec): the kill must take the whole process group.
    script = make_script(
        tmp_path, "hang.sh", f'echo $$ > "{pidfile}"; sleep 30 & echo $! > "{child_pidfile}"; wait'
    )

    async def main() -> tuple[ProbeResult, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        result = await script_probe(script, 0.3)
        return result, loop.time() - started

    result, elapsed = run(main())
    assert result == ProbeResult(False, "script timed out after 0.3s")
    assert elapsed < 2.0
    assert gone(int(pidfile.read_text())), "script process left behind (zombie or running)"
    # The grandchild is re-parented away from us, so only check that it no longer runs.
    child = int(child_pidfile.read_text())
    for _ in range(100):  # killed by the same SIGKILL; give the kernel a moment, bounded
        if not_running(child):
            break
        run(asyncio.sleep(0.01))
    assert not_running(child)


def test_cancelled_program_is_killed_and_reaped(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = make_script(tmp_path, "hang.sh", f'echo $$ > "{pidfile}"; exec sleep 30')

    async def main() -> None:
        task = asyncio.create_task(run_program([script], 30.0))
        for _ in range(200):  # wait (bounded) until the script has written its pid
            if pidfile.exists() and pidfile.read_text().strip():
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert gone(int(pidfile.read_text()))


def wait_not_running(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not not_running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_background_child_does_not_outlive_its_program(tmp_path: Path) -> None:
    # A check (or notify hook) that starts `sleep 300 &` and exits 0 used to leave one orphan per run.
    # The program leads its own process group; the group is killed once the program is done.
    pidfile = tmp_path / "child.pid"
    script = tmp_path / "bg.sh"
    script.write_text(f'#!/bin/sh\nsleep 300 &\necho $! > "{pidfile}"\nexit 0\n')
    script.chmod(0o755)
    outcome = asyncio.run(run_program([str(script)], 5.0))
    assert outcome.ok
    child = int(pidfile.read_text())
    try:
        assert wait_not_running(child), f"background child {child} outlived its program"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_a_check_that_backgrounds_a_child_leaves_no_orphans(tmp_path: Path) -> None:
    pids = tmp_path / "children.pid"
    script = tmp_path / "check.sh"
    script.write_text(f'#!/bin/sh\nsleep 300 &\necho $! >> "{pids}"\nexit 0\n')
    script.chmod(0o755)

    async def main() -> None:
        check = HealthChecker(
            lambda: script_probe(str(script), 1.0), 0.05, 1, 1, lambda up, detail: None, name="bg"
        )
        check.start()
        for _ in range(500):  # bounded (10 s); 3 runs take ~0.2 s on an idle machine
            await asyncio.sleep(0.02)
            if pids.exists() and len(pids.read_text().split()) >= 3:
                break
        await check.stop()

    asyncio.run(main())
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) >= 3
    try:
        assert [p for p in children if not wait_not_running(p)] == []
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_run_program_reports_signal(tmp_path: Path) -> None:
    script = make_script(tmp_path, "kill.sh", "kill -TERM $$")
    outcome = run(run_program([script], 1.0))
    assert (outcome.rc, outcome.reason, outcome.ok) == (-15, "killed by SIGTERM", False)


# --- HealthChecker: the rise/fall rules, driven by record() -----------------------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[bool, str]] = []

    def __call__(self, up: bool, detail: str) -> None:
        self.calls.append((up, detail))


async def never_called() -> bool:
    raise AssertionError("probe must not run in record() tests")


def feed(check: HealthChecker, results: str) -> None:
    """Record "+"/"-" results at now = 0, 1, 2, ... continuing across calls."""
    start = 0 if check.last_run is None else int(check.last_run) + 1
    for i, c in enumerate(results, start):
        check.record(c == "+", f"run {i} {c}", float(i))


def test_initial_down_needs_rise_successes() -> None:
    rec = Recorder()
    check = HealthChecker(never_called, 1.0, rise=3, fall=2, on_change=rec)
    assert check.up is False  # the documented default
    assert check.last_result is None and check.last_run is None
    feed(check, "++-++")  # the failure resets the success streak: 2 in a row so far
    assert rec.calls == []
    feed(check, "+")
    assert rec.calls == [(True, "run 5 +")]
    assert check.up is True
    assert (check.last_result, check.last_detail, check.last_run) == (True, "run 5 +", 5.0)
    feed(check, "+-+")
    assert rec.calls == [(True, "run 5 +")]  # one failure < fall=2: no flip


def test_initial_up_needs_fall_failures_then_rise() -> None:
    rec = Recorder()
    check = HealthChecker(never_called, 1.0, rise=2, fall=3, on_change=rec, initial_up=True)
    assert check.up is True
    feed(check, "--+--")
    assert rec.calls == []  # streak broken by the success: 2 failures in a row so far
    feed(check, "-")
    assert rec.calls == [(False, "run 5 -")]
    feed(check, "--")
    assert rec.calls == [(False, "run 5 -")]  # already down: further failures say nothing
    feed(check, "+-++")
    assert rec.calls == [(False, "run 5 -"), (True, "run 11 +")]


def test_rise_and_fall_of_one_flip_on_every_change() -> None:
    rec = Recorder()
    check = HealthChecker(never_called, 1.0, rise=1, fall=1, on_change=rec)
    feed(check, "-++-+")
    assert [up for up, _ in rec.calls] == [True, False, True]


@pytest.mark.parametrize(("interval", "rise", "fall"), [(0.0, 1, 1), (-1.0, 1, 1), (1.0, 0, 1), (1.0, 1, 0)])
def test_bad_parameters_are_refused(interval: float, rise: int, fall: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        HealthChecker(never_called, interval, rise, fall, Recorder())


# --- HealthChecker: the task ---------------------------------------------------------------------


def scripted(
    results: list[bool | ProbeResult],
) -> tuple[Callable[[], Awaitable[bool | ProbeResult]], asyncio.Event]:
    """A probe answering ``results`` in order, then setting the returned event and failing the
    test if it is called again past the script."""
    it: Iterator[bool | ProbeResult] = iter(results)
    done = asyncio.Event()

    async def probe() -> bool | ProbeResult:
        try:
            return next(it)
        except StopIteration:
            done.set()
            return False

    return probe, done


def test_task_runs_scripted_sequence() -> None:
    rec = Recorder()

    async def main() -> HealthChecker:
        probe, done = scripted(
            [True, True, False, True, True, True, ProbeResult(False, "script exit 3"), False]
        )
        check = HealthChecker(probe, 0.005, rise=3, fall=2, on_change=rec)
        check.start()
        await asyncio.wait_for(done.wait(), 5.0)
        await check.stop()
        return check

    check = run(main())
    # ++ -(reset) +++ → up at the 3rd success; "script exit 3", then the bare False → down.
    assert rec.calls == [(True, "probe passed"), (False, "probe failed")]
    assert check.up is False


def test_first_probe_runs_immediately_and_stop_cancels() -> None:
    async def main() -> HealthChecker:
        ran = asyncio.Event()

        async def probe() -> bool:
            ran.set()
            return True

        check = HealthChecker(probe, 60.0, rise=1, fall=1, on_change=Recorder())
        loop = asyncio.get_running_loop()
        before = loop.time()
        check.start()
        await asyncio.wait_for(ran.wait(), 0.5)
        await asyncio.sleep(0)  # let the task record the result
        await check.stop()
        assert check.last_run is not None and check.last_run >= before
        with pytest.raises(RuntimeError):  # start twice is a bug...
            check.start()
            check.start()
        await check.stop()  # ...and stop is idempotent
        await check.stop()
        return check

    check = run(main())
    assert check.up is True
    assert check.last_result is True


def test_probe_exception_counts_as_failure_and_callback_errors_are_contained() -> None:
    calls: list[bool] = []

    def on_change(up: bool, _detail: str) -> None:
        calls.append(up)
        raise RuntimeError("callback bug")

    async def main() -> HealthChecker:
        results: Iterator[bool | Exception] = iter([True, RuntimeError("probe bug")])
        done = asyncio.Event()

        async def probe() -> bool:
            item = next(results, None)
            if item is None:
                done.set()
                return False
            if isinstance(item, Exception):
                raise item
            return item

        check = HealthChecker(probe, 0.005, rise=1, fall=1, on_change=on_change)
        check.start()
        await asyncio.wait_for(done.wait(), 5.0)
        await check.stop()
        return check

    check = run(main())
    assert calls == [True, False]  # the task survived the raising callback
    assert check.last_result is False


def test_health_check_with_tcp_probe_follows_the_service() -> None:
    async def main() -> list[tuple[bool, str]]:
        changes: list[tuple[bool, str]] = []
        changed = asyncio.Event()

        def on_change(up: bool, detail: str) -> None:
            changes.append((up, detail))
            changed.set()

        async def on_client(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.close()

        server = await asyncio.start_server(on_client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        check = HealthChecker(
            functools.partial(tcp_probe, LOOPBACK, port, 0.5), 0.01, rise=2, fall=2, on_change=on_change
        )
        check.start()
        await asyncio.wait_for(changed.wait(), 5.0)
        changed.clear()
        server.close()
        await server.wait_closed()
        await asyncio.wait_for(changed.wait(), 5.0)
        await check.stop()
        return changes

    changes = run(main())
    assert [up for up, _ in changes] == [True, False]
    assert changes[0][1].endswith(" connected")
    assert changes[1][1].endswith(" refused")


def test_undecided_reports_its_first_verdict_either_way() -> None:
    """initial_up=None: not yet run is neither up nor down; the first failure or `rise` successes decide."""
    rec = Recorder()
    check = HealthChecker(never_called, 1.0, rise=2, fall=3, on_change=rec, initial_up=None)
    assert check.up is None
    feed(check, "+")
    assert rec.calls == [] and check.up is None  # one success of two: still undecided
    feed(check, "-")
    assert rec.calls == [(False, "run 1 -")] and check.up is False  # nothing seen working: down at once
    feed(check, "++")
    assert rec.calls == [(False, "run 1 -"), (True, "run 3 +")]
    rec2 = Recorder()
    check2 = HealthChecker(never_called, 1.0, rise=2, fall=3, on_change=rec2, initial_up=None)
    feed(check2, "++")
    assert rec2.calls == [(True, "run 1 +")]
    feed(check2, "--")
    assert rec2.calls == [(True, "run 1 +")]  # decided up: `fall` failures now, as usual


def test_tcp_probe_over_ipv6() -> None:
    """An IPv6 target (issue 16): connected, then refused once the listener is gone; the detail brackets
    the address as operators write it."""

    async def body() -> None:
        server = await asyncio.start_server(lambda r, w: w.close(), "::1", 0)
        port = server.sockets[0].getsockname()[1]
        ok = await tcp_probe(IPv6Address("::1"), port, 1.0)
        server.close()
        await server.wait_closed()
        refused = await tcp_probe(IPv6Address("::1"), port, 1.0)
        assert (ok.ok, ok.detail) == (True, f"tcp [::1]:{port} connected")
        assert (refused.ok, refused.detail) == (False, f"tcp [::1]:{port} refused")

    asyncio.run(body())


def test_tcp_target_names_a_link_local_address_with_its_interface() -> None:
    assert tcp_target(IPv4Address("192.0.2.11"), 80) == "192.0.2.11:80"
    assert tcp_target(IPv6Address("2001:db8::11"), 80, "eth0") == "[2001:db8::11]:80"
    assert tcp_target(IPv6Address("fe80::1"), 80, "eth0") == "[fe80::1%eth0]:80"
