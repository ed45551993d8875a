"""Health checks that never block the event loop, and the bounded program runner they share.

This module owns:

* the probes — `tcp_probe` and `script_probe`, async callables whose answer is a `ProbeResult`
  (truthy when healthy, with a one-line ``detail`` an operator can read);
* `run_program`, the one place that spawns an external program: no shell, a minimal environment,
  stdio on /dev/null, a hard timeout, and when it ends (exit, timeout, abort or cancellation) its whole
  process group killed and the child reaped, so no zombie and no stray grandchild outlive a check or a
  notify script;
* `HealthChecker`, the rise/fall debouncer that runs a probe every ``interval`` seconds in its own
  task and reports only flips.

It must not know about VRRP: what a flip does to a priority or a state is the daemon's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from vrrpd.logs import get_logger
from vrrpd.protocol.tracking import ScriptCounter

__all__ = [
    "MINIMAL_ENV",
    "Credentials",
    "HealthChecker",
    "Probe",
    "ProbeResult",
    "RunOutcome",
    "ScriptRunner",
    "run_program",
    "script_probe",
    "tcp_probe",
]

_log = get_logger(__name__)

# Scripts run as root from a daemon: they get a fixed PATH and nothing inherited from our
# environment, so a stray variable (LD_PRELOAD, credentials, proxies) never leaks into them.
MINIMAL_ENV: dict[str, str] = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}

# After SIGKILL a process dies at once unless stuck in the kernel (D state); do not wait forever.
_REAP_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The answer of one probe run: ``ok`` plus a human-readable ``detail``.

    Truthy exactly when ``ok``, so ``if await tcp_probe(...)`` reads as a plain bool.
    """

    ok: bool
    detail: str

    def __bool__(self) -> bool:
        return self.ok


# A probe may answer a bare bool (tests, trivial checks) or a ProbeResult carrying a detail.
Probe = Callable[[], Awaitable[bool | ProbeResult]]


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


# The probes take `timeout` (ruff ASYNC109 would have callers wrap them in asyncio.timeout):
# expiry is an answer here — unhealthy, program killed and reaped — not an exception to unwind.
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


async def script_probe(
    path: str,
    timeout: float,  # noqa: ASYNC109
    *,
    args: Sequence[str] = (),
) -> ProbeResult:
    """Run the script at ``path`` (optionally with ``args``); exit status 0 means healthy.

    Details read "script exit 3", "script timed out after 1.0s", "script not found".
    """
    outcome = await run_program([path, *args], timeout)
    return ProbeResult(outcome.ok, f"script {outcome.reason}")


def tcp_target(host: IPv4Address | IPv6Address, port: int, interface: str | None = None) -> str:
    """``host:port`` as operators write it: "192.0.2.11:9736", "[2001:db8::11]:9736", and a link-local
    address with its interface, "[fe80::1%eth0]:9736"."""
    if host.version == 4:
        return f"{host}:{port}"
    scope = f"%{interface}" if interface is not None and host.is_link_local else ""
    return f"[{host}{scope}]:{port}"


async def tcp_probe(
    host: IPv4Address | IPv6Address,
    port: int,
    timeout: float,  # noqa: ASYNC109 - the bound is the probe's own, reported as its outcome
    interface: str | None = None,
) -> ProbeResult:
    """Healthy when a TCP connection to ``host:port`` completes within ``timeout`` seconds.

    IPv4 or IPv6; an IPv6 link-local ``host`` is reached through ``interface`` (its scope). The connection
    is closed again at once (FIN, not RST). Refused, timed out and unreachable all come back unhealthy,
    e.g. "tcp 192.0.2.11:9736 refused", "tcp [2001:db8::11]:9736 refused".
    """
    where = f"tcp {tcp_target(host, port, interface)}"
    address = str(host)
    if host.version == 6 and host.is_link_local and interface is not None:
        address = f"{host}%{interface}"  # getaddrinfo turns the zone into the socket's scope id
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(address, port)
    except TimeoutError:
        return ProbeResult(False, f"{where} timed out after {timeout}s")
    except ConnectionRefusedError:
        return ProbeResult(False, f"{where} refused")
    except OSError as exc:
        return ProbeResult(False, f"{where} {(exc.strerror or str(exc)).lower()}")
    writer.close()
    # The service answered; a slow or failed close must not turn that into a failure.
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(timeout):
            await writer.wait_closed()
    return ProbeResult(True, f"{where} connected")


class HealthChecker:
    """Run ``probe`` every ``interval`` seconds and debounce it with rise/fall counters.

    The state flips down after ``fall`` consecutive failures and back up after ``rise``
    consecutive successes; ``on_change(up, detail)`` is called on a flip and only then, with the
    detail of the probe run that caused it. The first probe runs as soon as `start` is called;
    runs never overlap (a probe slower than ``interval`` delays the next one, ticks are not
    queued up).

    Initial state — default ``initial_up=False``: the check starts *down* and needs ``rise``
    successes before it is up, so a node never claims a virtual IP for a service nobody has
    seen working. That is the behaviour of the ipfailover image we replace (an instance does
    not become master until its check has passed) and of keepalived's ``init_fail``. The cost
    is a start-up delay of about ``rise * interval``. Pass ``initial_up=True`` for keepalived's
    own default (a script is assumed good until ``fall`` failures say otherwise).
    ``initial_up=None`` is *undecided*: not yet run is neither up nor down. The first verdict is
    always reported — up after ``rise`` successes, down at the first failure (nothing has been seen
    working yet) — so the caller can wait for it instead of acting on a guess.

    ``last_run`` is the loop clock (monotonic) at the start of the latest completed probe run.
    """

    def __init__(
        self,
        probe: Probe,
        interval: float,
        rise: int,
        fall: int,
        on_change: Callable[[bool, str], None],
        *,
        initial_up: bool | None = False,
        name: str = "",
        target: str = "",
    ) -> None:
        if interval <= 0:
            raise ValueError(f"health check interval must be > 0 seconds, got {interval!r}")
        if rise < 1 or fall < 1:
            raise ValueError(f"health check rise and fall must be >= 1, got {rise!r}/{fall!r}")
        self._probe = probe
        self.interval = interval
        self.rise = rise
        self.fall = fall
        self._on_change = on_change
        self.name = name
        self.target = target  # what the probe reaches, as status shows it ("" when the caller did not say)
        self.up: bool | None = initial_up  # None: undecided, no verdict reported yet
        self.last_result: bool | None = None
        self.last_detail: str = ""
        self.last_run: float | None = None
        self._successes = 0
        self._failures = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def died(self) -> bool:
        """True if the probing task ended on its own (a bug: it loops until `stop`)."""
        return self._task is not None and self._task.done()

    def start(self) -> None:
        """Start probing in a task of the running loop; the first probe runs immediately."""
        if self._task is not None and not self._task.done():
            raise RuntimeError(f"health check {self.name!r} already started")
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"healthcheck:{self.name}")

    async def stop(self) -> None:
        """Stop probing; a probe in flight is cancelled (a running script is killed and reaped)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        # asyncio.wait, unlike awaiting the task, does not swallow our own caller's cancellation.
        await asyncio.wait([task])

    def record(self, ok: bool, detail: str, now: float) -> None:
        """Account one probe result taken at ``now``; call ``on_change`` if the state flips.

        Public so the counting rules can be driven without a loop; the task calls it too.
        """
        self.last_result, self.last_detail, self.last_run = ok, detail, now
        if ok:
            self._successes, self._failures = self._successes + 1, 0
            flipped = self.up is not True and self._successes >= self.rise
        else:
            self._successes, self._failures = 0, self._failures + 1
            flipped = self.up is None or (self.up and self._failures >= self.fall)
        if not flipped:
            return
        self.up = ok
        try:
            self._on_change(ok, detail)
        except Exception:
            # A faulty callback must not kill the probing task and freeze the check's state.
            _log.exception("health_check_callback_failed", check=self.name, up=ok)

    async def _probe_once(self) -> tuple[bool, str]:
        try:
            result = await self._probe()
        except Exception as exc:
            # A probe is supposed to answer, not raise; treat a bug as a failed run and say so.
            _log.exception("health_check_probe_error", check=self.name)
            return False, f"probe error: {exc!r}"
        if isinstance(result, ProbeResult):
            return result.ok, result.detail
        return bool(result), "probe passed" if result else "probe failed"

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:  # ends by cancellation in stop()
            started = loop.time()
            ok, detail = await self._probe_once()
            self.record(ok, detail, started)
            await asyncio.sleep(max(0.0, started + self.interval - loop.time()))


class ScriptRunner:
    """One keepalived ``vrrp_script``: run ``argv`` every ``interval`` seconds (at most ``timeout`` each)
    and debounce the results with keepalived's own counter (`vrrpd.protocol.tracking.ScriptCounter`).

    ``on_change(name, status)`` is called when the status changes — the first result always does —
    with True (OK) or False (failed). The first run is at once; runs never overlap. One runner per
    script, however many instances track it (keepalived runs a shared script once).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        counter: ScriptCounter,
        on_change: Callable[[str, bool], None],
        *,
        interval: float,
        timeout: float,
        credentials: Credentials | None = None,
    ) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError(f"script {name!r}: interval and timeout must be > 0")
        self.name = name
        self.argv = list(argv)
        self.interval = interval
        self.timeout = timeout
        self.counter = counter
        self.credentials = credentials
        self._on_change = on_change
        self.last_detail = ""
        self.last_run: float | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def status(self) -> bool | None:
        """None until the first result, then OK (True) or failed (False)."""
        return self.counter.status

    def start(self) -> None:
        """Start running in a task of the running loop; the first run is immediate."""
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"vrrp_script:{self.name}")

    async def stop(self) -> None:
        """Stop; a run in flight is killed and reaped."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task])

    def record(self, ok: bool, detail: str, now: float) -> None:
        """Account one run's result; public so the rules can be driven without a loop."""
        self.last_detail, self.last_run = detail, now
        changed = self.counter.record(ok)
        if changed is None:
            return
        _log.info("vrrp_script_changed", script=self.name, ok=changed, detail=detail)
        try:
            self._on_change(self.name, changed)
        except Exception:
            _log.exception("vrrp_script_callback_failed", script=self.name)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:  # ends by cancellation in stop()
            started = loop.time()
            outcome = await run_program(self.argv, self.timeout, credentials=self.credentials)
            self.record(outcome.ok, f"script {outcome.reason}", started)
            await asyncio.sleep(max(0.0, started + self.interval - loop.time()))
