"""The one place that spawns an external program: `run_program`, shared by the script probe
(`vrrpd.runtime.healthcheck`) and notify scripts (`vrrpd.runtime.notify`).

No shell, a minimal environment, stdio on /dev/null, a hard timeout, and when it ends (exit, timeout,
abort or cancellation) its whole process group killed and the child reaped, so no zombie and no stray
grandchild outlive a check or a notify script.

A module of its own, imported on first use, so a daemon with neither checks nor notify programs does not
hold it, nor the health checks (issue 17: peak RSS).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from vrrpd.logs import get_logger

__all__ = ["MINIMAL_ENV", "Credentials", "RunOutcome", "run_program"]

_log = get_logger("vrrpd.runtime.healthcheck")  # where these lines were logged from before the split

# Scripts run as root from a daemon: they get a fixed PATH and nothing inherited from our
# environment, so a stray variable (LD_PRELOAD, credentials, proxies) never leaks into them.
MINIMAL_ENV: dict[str, str] = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}

# After SIGKILL a process dies at once unless stuck in the kernel (D state); do not wait forever.
_REAP_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How an external program ended: ``rc`` is its exit status, or None if it never exited on
    its own (not started, timed out); ``reason`` is a short phrase such as "exit 3"."""

    rc: int | None
    reason: str
    # Ended by us rather than on its own: ``timeout`` expired, or ``abort`` was set (superseded).
    timed_out: bool = False
    aborted: bool = False

    @property
    def ok(self) -> bool:
        return self.rc == 0


def _describe_rc(rc: int) -> str:
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit {rc}"


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    # The child leads its own session (start_new_session), so its pid is its process group:
    # killing the group also takes down grandchildren such as a shell script's `sleep`.
    _kill_leftovers(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def _kill_leftovers(pgid: int) -> None:
    """SIGKILL what is left of a program's process group: children it started in the background.

    Also after a normal exit: a check that runs `sleep 300 &` and exits 0 would otherwise leave one
    orphan per interval. The kernel does not hand out a pid while a process group still uses it as its
    id, so this reaches only that group's members (ESRCH, suppressed, once none is left). A child that
    calls setsid() itself leaves the group and is not reached; only a cgroup (systemd's KillMode) is.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _kill_and_reap(proc: asyncio.subprocess.Process) -> None:
    _kill_group(proc)
    try:
        async with asyncio.timeout(_REAP_TIMEOUT):
            await proc.wait()
    except TimeoutError:
        _log.error("child_not_reaped", pid=proc.pid, waited=_REAP_TIMEOUT)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who runs a program (keepalived's script_user / a vrrp_script's user): uid and gid, no
    supplementary groups. Applied only when vrrpd runs as root; a daemon running as someone else
    cannot switch and runs programs as itself."""

    uid: int
    gid: int


async def run_program(
    argv: Sequence[str],
    timeout: float,  # noqa: ASYNC109
    *,
    abort: asyncio.Event | None = None,
    credentials: Credentials | None = None,
) -> RunOutcome:
    """Run ``argv`` (no shell) with `MINIMAL_ENV` and stdio on /dev/null, for at most ``timeout``
    seconds, in a process group of its own that is killed when the program ends (no orphans).
    Never raises for the program's own failures: a missing or non-executable file, a non-zero exit
    and a timeout all come back as a `RunOutcome`. Setting ``abort`` kills it early (``aborted``).
    Cancellation kills and reaps the program before propagating. With ``credentials`` (and vrrpd
    running as root) the program runs as that uid:gid with no supplementary groups, as keepalived's."""
    switch: dict[str, object] = {}
    if credentials is not None and os.geteuid() == 0:
        switch = {"user": credentials.uid, "group": credentials.gid, "extra_groups": []}
    spawn = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=MINIMAL_ENV,
            start_new_session=True,
            **switch,  # type: ignore[arg-type]
        )
    )
    try:
        # Shielded: cancelled (check stopped, daemon stopping) while the program is being started, it
        # would otherwise run on unseen — and so would whatever it starts in the background.
        proc = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        await _kill_spawned(spawn)
        raise
    except FileNotFoundError:
        return RunOutcome(None, "not found")
    except PermissionError:
        return RunOutcome(None, "not executable")
    except OSError as exc:
        return RunOutcome(None, f"cannot execute: {exc.strerror or exc}")
    started = asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout(timeout):
            rc = await _exit_or_abort(proc, abort)
    except TimeoutError:
        await _kill_and_reap(proc)
        return RunOutcome(None, f"timed out after {timeout}s", timed_out=True)
    except BaseException:
        # Cancelled (daemon stopping): the program must not outlive us as an orphan.
        await _kill_and_reap(proc)
        raise
    if rc is None:
        await _kill_and_reap(proc)
        ran = asyncio.get_running_loop().time() - started
        return RunOutcome(None, f"superseded after {ran:.1f}s", aborted=True)
    _kill_leftovers(proc.pid)
    return RunOutcome(rc, _describe_rc(rc))


async def _kill_spawned(spawn: asyncio.Future[asyncio.subprocess.Process]) -> None:
    """Kill and reap the program a cancelled `run_program` was starting (if it started at all)."""
    try:
        proc = await spawn
    except Exception:  # it never started: nothing to kill
        return
    await _kill_and_reap(proc)


async def _exit_or_abort(proc: asyncio.subprocess.Process, abort: asyncio.Event | None) -> int | None:
    """The program's exit status, or None as soon as ``abort`` is set (the program still runs)."""
    if abort is None:
        return await proc.wait()
    exited = asyncio.ensure_future(proc.wait())
    aborted = asyncio.ensure_future(abort.wait())
    try:
        await asyncio.wait((exited, aborted), return_when=asyncio.FIRST_COMPLETED)
    finally:
        aborted.cancel()
        exited.cancel()  # no-op once done; otherwise the caller kills and reaps the program
    return exited.result() if exited.done() and not exited.cancelled() else None
