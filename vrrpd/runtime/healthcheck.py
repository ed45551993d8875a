"""Health checks that never block the event loop.

This module owns:

* the probes — `tcp_probe` and `script_probe`, async callables whose answer is a `ProbeResult`
  (truthy when healthy, with a one-line ``detail`` an operator can read);
* `run_program` (from `vrrpd.runtime.programs`, re-exported here), the program runner the script
  probe and notify scripts share;
* `HealthChecker`, the rise/fall debouncer that runs a probe every ``interval`` seconds in its own
  task and reports only flips.

It must not know about VRRP: what a flip does to a priority or a state is the daemon's business.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from vrrpd.logs import get_logger
from vrrpd.protocol.tracking import ScriptCounter
from vrrpd.runtime.programs import MINIMAL_ENV, Credentials, RunOutcome, run_program

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


# The probes take `timeout` (ruff ASYNC109 would have callers wrap them in asyncio.timeout):
# expiry is an answer here — unhealthy, program killed and reaped — not an exception to unwind.
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
