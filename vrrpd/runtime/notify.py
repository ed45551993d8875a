"""keepalived-compatible state-change notifications: the notify script and the notify FIFO.

This module owns delivering "instance X is now STATE at priority P" to the outside world, in
order, without ever blocking or failing the daemon:

* `Notifier` runs the configured program as keepalived's ``notify`` does —
  ``path INSTANCE <name> <STATE> <priority>`` — one call at a time, in the order the state
  changes happened, each bounded by a timeout (killed and reaped when it expires), and never lets a
  hung program delay a newer state (it is killed, the states it held up skipped and logged);
* `NotifyFifo` writes keepalived's ``vrrp_notify_fifo`` line ``INSTANCE "<name>" <STATE> <prio>``
  to a FIFO without blocking, dropping (and counting) lines nobody is there to read;
* `FifoScript` runs keepalived's ``notify_fifo_script``, the FIFO's long-running reader.

Failures are logged (``notify_failed``, ``notify_fifo_dropped``), never raised: a broken hook
must not stop a failover. Which states exist and when to notify is the caller's business.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import errno
import os
import signal
import stat
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from vrrpd.logs import get_logger

if TYPE_CHECKING:
    # vrrpd.runtime.programs is imported where a program runs: a daemon without notify programs or
    # checks does not hold it (issue 17).
    from vrrpd.runtime.programs import Credentials, RunOutcome

__all__ = ["FIFO_SCRIPT_GRACE", "SUPERSEDE_AFTER", "FifoScript", "Notifier", "NotifyFifo"]

_log = get_logger(__name__)

_Call = tuple[str, str, int]
_PR_SET_PDEATHSIG = 1  # prctl(2)

# How long a running program may hold up a newer state before it is killed: long enough for any sane
# hook (they take milliseconds), short enough that a hung one delays failover news by no more.
SUPERSEDE_AFTER = 1.0

_FIFO_REASONS = {
    errno.ENXIO: "no reader",
    errno.EPIPE: "reader went away",
    errno.EAGAIN: "pipe full",
    errno.ENOENT: "no such FIFO",
}


_NOTHING: collections.deque[_Call] = collections.deque(maxlen=0)  # what an unconfigured Notifier queues


class Notifier:
    """Ordered, bounded delivery of keepalived-style notify calls to the program at ``path``.

    ``path=None`` (nothing configured) makes every method a no-op. Calls run one at a time in the order
    they were made. A late notification is worse than a dropped one, so nothing waits behind a program
    that hangs: when a newer call is waiting and the running program has had `SUPERSEDE_AFTER`
    seconds (or its shorter timeout), it is killed (``notify_superseded``), and after any call that ended
    without exiting on its own (timed out or superseded) only the newest waiting call of each instance
    is kept: the older ones are skipped and named in one ``notify_skipped`` line. So the newest state
    starts at most ``SUPERSEDE_AFTER`` seconds after it happened, and states are never delivered out
    of order. At most ``max_pending`` calls wait; past that the *oldest* waiting call is dropped.
    """

    def __init__(
        self,
        path: str | Sequence[str] | None,
        timeout: float,
        *,
        states: Mapping[str, Sequence[str]] | None = None,
        credentials: Credentials | None = None,
        max_pending: int = 256,
        kind: str = "INSTANCE",
    ) -> None:
        """``path``: keepalived's ``notify`` (a program, or a program with arguments), called with
        ``INSTANCE <name> <STATE> <priority>`` appended. ``states``: keepalived's ``notify_master``,
        ``notify_backup``, ``notify_fault``, ``notify_stop`` by state name ("MASTER"...), each run as
        written and before ``notify``, as keepalived does. ``credentials``: who runs them. ``kind``:
        the first argument, INSTANCE or (for a vrrp_sync_group, priority 0) GROUP."""
        self.kind = kind
        if timeout <= 0:
            raise ValueError(f"notify timeout must be > 0 seconds, got {timeout!r}")
        command = [path] if isinstance(path, str) else list(path) if path is not None else []
        self.states = {state: list(argv) for state, argv in (states or {}).items() if argv}
        self.command = command
        self.credentials = credentials
        # Nothing configured at all: every method is a no-op.
        self.path = (
            (command[0] if command else next(iter(self.states.values()))[0])
            if command or self.states
            else None
        )
        self.timeout = timeout
        self.max_pending = max_pending
        self.skipped = 0  # calls never run because a newer state overtook them
        # One shared, always empty queue when nothing is configured (a deque allocates ~0.7 KiB at once, and
        # the daemon makes one Notifier per instance, most with nothing to run): nothing reads or adds to it.
        self._pending: collections.deque[_Call] = collections.deque() if self.path is not None else _NOTHING
        # Created lazily (the daemon makes one Notifier per instance, most with nothing configured).
        self._wake: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._abort: asyncio.Event | None = None  # set to kill the running program
        self._started_at = 0.0  # loop time the running program started
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the worker task on the running loop (calls queued before are run first)."""
        if self.path is None or (self._worker is not None and not self._worker.done()):
            return
        self._worker = asyncio.get_running_loop().create_task(self._work(), name=f"notify:{self.path}")

    @property
    def alive(self) -> bool:
        """False when the worker ended other than by `close` (a bug); never started counts as alive."""
        return self._worker is None or not self._worker.done()

    def notify(self, instance: str, state: str, priority: int) -> None:
        """Queue ``path INSTANCE instance state priority``; returns at once."""
        if self.path is None:
            return
        if len(self._pending) >= self.max_pending:
            dropped = self._pending.popleft()
            _log.warning("notify_dropped", instance=dropped[0], state=dropped[1], reason="queue full")
        self._pending.append((instance, state, priority))
        self._events()[0].set()
        abort = self._abort
        if abort is not None and not abort.is_set():
            # A program is running and a newer state now waits behind it: give it its grace, no more.
            self._supersede_later(abort)

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 - bounded, logs, never raises
        """Wait until every queued call has run, for at most ``timeout`` seconds (shutdown:
        deliver the STOP notification, but do not hang the exit on a slow hook)."""
        if self.path is None:
            return
        _wake, idle = self._events()
        try:
            async with asyncio.timeout(timeout):
                while self._pending or self._abort is not None:
                    idle.clear()
                    await idle.wait()
        except TimeoutError:
            _log.warning("notify_drain_timeout", pending=len(self._pending), waited=timeout)

    async def close(self) -> None:
        """Stop the worker; a running call is killed and reaped, queued calls are discarded."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        worker.cancel()
        await asyncio.wait([worker])
        if self._pending:
            _log.warning("notify_discarded", pending=len(self._pending))

    def _events(self) -> tuple[asyncio.Event, asyncio.Event]:
        if self._wake is None or self._idle is None:
            self._wake, self._idle = asyncio.Event(), asyncio.Event()
        return self._wake, self._idle

    async def _work(self) -> None:
        assert self.path is not None  # start() needs a path
        wake, idle = self._events()
        loop = asyncio.get_running_loop()
        while True:  # ends by cancellation in close()
            if not self._pending:
                idle.set()
                wake.clear()
                await wake.wait()
                continue
            instance, state, priority = self._pending.popleft()
            abort = self._abort = asyncio.Event()
            self._started_at = loop.time()
            if self._pending:  # already something newer waiting
                self._supersede_later(abort)
            try:
                outcome = await self._run(instance, state, priority, abort)
            finally:
                self._abort = None
            if outcome.ok:
                continue
            event = "notify_superseded" if outcome.aborted else "notify_failed"
            _log.warning(
                event,
                instance=instance,
                state=state,
                priority=priority,
                path=self.path,
                rc=outcome.rc,
                reason=outcome.reason,
            )
            if outcome.timed_out or outcome.aborted:
                self._skip_overtaken()

    async def _run(self, instance: str, state: str, priority: int, abort: asyncio.Event) -> RunOutcome:
        """The state's own program (notify_master...), then ``notify``: the first failure is the outcome."""
        from vrrpd.runtime.programs import RunOutcome, run_program  # noqa: PLC0415 - see the imports

        programs = []
        if state in self.states:
            programs.append(self.states[state])
        if self.command:
            programs.append([*self.command, self.kind, instance, state, str(priority)])
        outcome = RunOutcome(0, "nothing to run")
        for argv in programs:
            result = await run_program(argv, self.timeout, abort=abort, credentials=self.credentials)
            if not result.ok:
                return result
            outcome = result
        return outcome

    def _supersede_later(self, abort: asyncio.Event) -> None:
        # A timeout no longer than the grace ends the program first anyway. A handle that fires after its
        # program ended sets an Event nobody waits on any more: harmless.
        if self.timeout > SUPERSEDE_AFTER:
            loop = asyncio.get_running_loop()
            loop.call_at(max(loop.time(), self._started_at + SUPERSEDE_AFTER), abort.set)

    def _skip_overtaken(self) -> None:
        """After a program that did not exit on its own: keep only each instance's newest waiting call."""
        newest = {instance: n for n, (instance, _s, _p) in enumerate(self._pending)}
        kept = [call for n, call in enumerate(self._pending) if newest[call[0]] == n]
        skipped = [call for n, call in enumerate(self._pending) if newest[call[0]] != n]
        if not skipped:
            return
        self._pending = collections.deque(kept)
        self.skipped += len(skipped)
        for instance in dict.fromkeys(call[0] for call in skipped):
            _log.warning(
                "notify_skipped",
                instance=instance,
                skipped=[f"{s} {p}" for i, s, p in skipped if i == instance],
                delivering=next(f"{s} {p}" for i, s, p in kept if i == instance),
                reason="the previous program did not finish in time; only the newest state is delivered",
            )


class NotifyFifo:
    """Write keepalived's notify-FIFO lines to ``path`` without ever blocking the loop.

    The FIFO is opened O_RDWR|O_NONBLOCK on first use and kept open, as keepalived does: holding the
    read side too means a consumer that restarts misses nothing (the pipe keeps the lines meanwhile)
    and opening never fails for want of a reader. A full pipe makes the write fail (EAGAIN): that line
    is dropped and counted in ``dropped``. Lines are shorter than PIPE_BUF, so a write is all or nothing.
    This class does not create the FIFO (the daemon does, when it is missing).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.written = 0
        self.dropped = 0
        self._fd: int | None = None

    def write(self, instance: str, state: str, priority: int, kind: str = "INSTANCE") -> bool:
        """Write one line; True if it went into the pipe, False if it was dropped. ``kind`` is GROUP for
        a vrrp_sync_group (its priority is 0, as keepalived writes it)."""
        line = f'{kind} "{instance}" {state} {priority}\n'.encode()
        try:
            if self._fd is None:
                self._fd = self._open()
            os.write(self._fd, line)
        except OSError as exc:
            if exc.errno != errno.EAGAIN:  # a full pipe keeps its reader; anything else reopens
                self.close()
            self.dropped += 1
            reason = _FIFO_REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
            _log.warning("notify_fifo_dropped", path=self.path, instance=instance, reason=reason)
            return False
        self.written += 1
        return True

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _open(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            # Writing at offset 0 of a regular file would silently clobber it.
            os.close(fd)
            raise OSError(errno.EINVAL, f"{self.path} is not a FIFO")
        return fd


# How long the FIFO's reader has after SIGTERM before its process group is killed (keepalived: 1 s).
FIFO_SCRIPT_GRACE = 1.0


def _parent_death_signal() -> Callable[[], None]:
    """A child-side hook asking the kernel for SIGTERM when vrrpd dies, as keepalived's FIFO script gets.

    The reader outlives every state change; a vrrpd killed with SIGKILL (OOM, a pod's hard stop) could
    not stop it, and a restarted vrrpd would start a second reader on the same FIFO. prctl(2)
    PR_SET_PDEATHSIG runs after the user switch (subprocess calls the hook after setuid), which would
    otherwise clear it. The libc function is resolved here, before fork: the hook itself only calls it.
    """
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    term = int(signal.SIGTERM)

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, term, 0, 0, 0)

    return hook


class FifoScript:
    """keepalived's ``notify_fifo_script``: ``argv + [fifo]``, started once and left running.

    As keepalived's ``fifo_open`` does it: started when the FIFO exists, with its path as the last
    argument, stdio on /dev/null, in a process group of its own, as ``credentials``; no timeout. When it
    exits it is not started again (keepalived logs "notify fifo script terminated"; here
    ``notify_fifo_script_exited``, with its status). `stop` sends SIGTERM to its process group and SIGKILL
    after `FIFO_SCRIPT_GRACE` seconds, as keepalived's ``script_killall`` does at shutdown.
    """

    def __init__(self, argv: Sequence[str], fifo: str, credentials: Credentials | None = None) -> None:
        self.argv = [*argv, fifo]
        self.credentials = credentials
        self.returncode: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._waiter: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        """The running reader's pid, None before `start` or once it has exited."""
        return self._proc.pid if self._proc is not None and self.returncode is None else None

    async def start(self) -> None:
        """Start the program; a failure to start is logged (``notify_fifo_script_failed``), not raised."""
        from vrrpd.runtime.programs import MINIMAL_ENV  # noqa: PLC0415 - see the imports

        switch: dict[str, object] = {}
        if self.credentials is not None and os.geteuid() == 0:
            switch = {"user": self.credentials.uid, "group": self.credentials.gid, "extra_groups": []}
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                env=MINIMAL_ENV,
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
                **switch,  # type: ignore[arg-type]
            )
        except OSError as exc:
            _log.error("notify_fifo_script_failed", program=self.argv[0], error=exc.strerror or str(exc))
            return
        _log.info("notify_fifo_script_started", program=self.argv[0], pid=self._proc.pid)
        self._waiter = asyncio.get_running_loop().create_task(
            self._wait(self._proc), name="notify-fifo-script"
        )

    async def _wait(self, proc: asyncio.subprocess.Process) -> None:
        self.returncode = await proc.wait()
        if not self._stopping:  # on its own: nobody reads the FIFO any more (vrrpd still writes it)
            _log.warning("notify_fifo_script_exited", program=self.argv[0], returncode=self.returncode)

    async def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after the grace period; returns once it is reaped."""
        proc, waiter = self._proc, self._waiter
        if proc is None or waiter is None:
            return
        self._stopping = True
        if self.returncode is None:
            self._signal(proc.pid, signal.SIGTERM)
            done, _ = await asyncio.wait({waiter}, timeout=FIFO_SCRIPT_GRACE)
            if not done:
                self._signal(proc.pid, signal.SIGKILL)
        await asyncio.shield(waiter)

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)  # its own group (start_new_session): whatever it started goes too
