"""One running virtual router: the sans-I/O `Router` plus the I/O that carries out its actions.

A thin adapter: every event (a received advert, a timer, the link, the health check's verdict, a reload,
a VIP deleted behind our back) goes to a `Router` entry point; the adapter carries out the actions it
returns and re-arms its single timer (aioquic's pattern). It makes no protocol decision.

Owns, per instance: that timer, the ordered action worker (an advert is sent before VIPs are installed,
GARPs after), which VIPs are actually installed (`vips_held`: what the kernel accepted), notify calls,
and the counters that status and metrics report. It does not own sockets or netlink handles: the
interface lends them. It also feeds every received advert to its `ConflictDetector` (another cluster on
our VRID).
"""

from __future__ import annotations

import asyncio
import bisect
import errno
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from vrrpd import logs
from vrrpd.config import InstanceConfig, RouteConfig, RuleConfig, VrrpScriptConfig
from vrrpd.kernel import firewall
from vrrpd.ops.view import Counters, LastTransition
from vrrpd.protocol import fsm
from vrrpd.protocol.conflicts import ConflictDetector, ConflictEvent
from vrrpd.protocol.packet import Advertisement, DropReason, IPAddress, Received, encode, multicast_group
from vrrpd.protocol.tracking import Status
from vrrpd.runtime.routerconfig import router_config

if TYPE_CHECKING:
    from vrrpd.runtime.healthcheck import HealthChecker  # imported by the daemon for a configured check
    from vrrpd.runtime.prestart import Started

log = logs.get_logger("vrrpd.runtime.instance")

# The kernel lets an ordinary process oversleep a timeout by up to 0.1% of it (timer slack: milliseconds on
# a Master_Down_Interval), which keepalived avoids with a timerfd. We wake this much early and then arm the
# exact deadline as a short timeout, which the kernel honours closely (the effect on failover is measured
# in docs/benchmarks.md, "timer pre-wake").
PREWAKE = 0.025
# Even that short timeout fires up to 1 ms late: the event loop waits in epoll, whose timeout is whole
# milliseconds rounded up. So a backup sleeps the last FINE seconds before a deadline with time.sleep
# (microseconds), blocking the loop that long — once per takeover or preemption, never in the steady state
# (the effect is measured in docs/benchmarks.md, VRRPv3 section).
FINE = 0.002
# time.sleep itself wakes 30–90 µs late (the kernel's timer slack, then the wake-up). A backup about to take
# over therefore sleeps only until POLL before its deadline and reads the clock until the deadline: at most
# POLL of spinning, once per takeover (issue 16: the takeover excess over Master_Down_Interval).
POLL = 150e-6
# A master's advert may leave this much early to share a wake-up with other masters' (`Ticker`): at most
# COALESCE, and at most COALESCE_SHARE of its own advertisement interval (a v3 router at 0.1 s: 25 ms). Each
# wake-up saved is an epoll return, a context switch and the loop's refill of cold caches, paid per group
# instead of per advert; the window must cover how far apart a daemon's instances start (hence their
# deadlines): 1,000 instances' elections end a few hundred ms apart. Early adverts are harmless: the period
# still runs from the expiry (`fsm.Router.on_timer`), so every backup still hears one advert per interval
# (only the first period after a takeover may be shorter) and its Master_Down_Timer, three intervals and
# more, never comes near. Measured in docs/benchmarks.md, "A master's CPU".
COALESCE = 0.250
COALESCE_SHARE = 0.25

# `fsm.State.MASTER` for the master's per-period path: on Python 3.11 an enum member read through its class
# goes through `EnumType.__getattr__` (about ten times a plain global's cost), once or twice per advert.
_MASTER = fsm.State.MASTER

# Route and rule results (errno) that leave them where they should be: already there / already gone.
_ROUTE_ADD_OK = frozenset({0, errno.EEXIST})
_ROUTE_DEL_OK = frozenset({0, errno.ESRCH, errno.ENOENT})
# Batch VIP results (errno per VIP) that leave the VIP where it should be: already there / already gone.
_ADD_OK = frozenset({0, errno.EEXIST})
_REMOVE_OK = frozenset({0, errno.EADDRNOTAVAIL, errno.ENOENT})


class Transport(Protocol):
    """What an instance needs from its interface; `vrrpd.runtime.interface.Interface` implements it."""

    ifindex: int

    # `src`: the instance's own source (`Instance.primary`, what a VRRPv3 checksum covers); instances of
    # one interface may have different ones (RFC 3768 §5.2.1 primary address, unicast_src_ip, mcast_src_ip).
    async def send_vrrp(self, payload: bytes, dst: IPAddress, src: IPAddress) -> None: ...
    def send_vrrp_now(self, payload: bytes, dst: IPAddress, src: IPAddress) -> None: ...
    def send_garp(self, vip: IPAddress, count: int) -> None: ...
    async def add_vips(self, vips: Sequence[fsm.IPInterface]) -> dict[fsm.IPInterface, int]: ...
    async def remove_vips(self, vips: Sequence[fsm.IPInterface]) -> dict[fsm.IPInterface, int]: ...


class Reader(Protocol):
    """The receive side of the interface an instance's adverts arrive on (`runtime.interface.Interface`)."""

    def drain(self) -> None:
        """Deliver every datagram queued but not yet read (the socket may be read lazily)."""

    def state_changed(self) -> None:
        """One of the interface's instances changed state (a master wants its adverts read at once)."""

    def catch_up(self, instance: Instance) -> None:
        """Take the routine repeats the kernel swallowed for `instance` (eBPF) as received."""

    def defer(self, instance: Instance, deadline: float) -> bool:
        """Whether the interface's own timer stands in for this backup's until `deadline` (eBPF: its
        master's repeats are swallowed and only their arrival moves the deadline on); then `resume` is
        called once the instance must arm its own timer again."""

    def release(self, instance: Instance) -> None:
        """As `catch_up`, and swallow no more of its repeats until it accepts an advert again."""


class SyncHook(Protocol):
    """The sync group an instance belongs to (`vrrpd.runtime.syncgroup.GroupLink` implements it)."""

    def after(self, instance: Instance, actions: list[fsm.Action]) -> None: ...


class Routing(Protocol):
    """Where an instance installs its virtual routes and rules (`vrrpd.kernel.netlink.Netlink`)."""

    async def route(self, command: Literal["add", "del"], route: RouteConfig) -> int: ...
    async def rule(self, command: Literal["add", "del"], rule: RuleConfig) -> int: ...


@dataclass(frozen=True, slots=True)
class _PendingAdvert:
    """The rest of an advert `_feed` began sending at once: the destinations a full buffer refused."""

    advert: Advertisement
    destinations: tuple[IPAddress, ...]


_Step = fsm.Action | _PendingAdvert
_Work = tuple[list[_Step], "asyncio.Future[None] | None"]


class _WorkQueue:
    """The worker's queue: `asyncio.Queue`'s ``put_nowait`` and ``get`` for its one consumer, unbounded.

    An `asyncio.Queue` is four deques and an event loop reference (~3 KiB an instance, 0.6 MiB of a
    daemon's 200 instances, which keepalived's memory is compared with); this is a list and, while the
    worker waits, one future. `get` returns at once when work is queued, and `put_nowait` wakes a waiting
    worker the way the Queue does (its future's result, so the worker runs at the loop's next turn).
    """

    __slots__ = ("_items", "_loop", "_waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._items: list[_Work] = []
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: _Work) -> None:
        self._items.append(item)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> _Work:
        while not self._items:
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        return self._items.pop(0)


class Ticking(Protocol):
    """What a `Ticker` runs: an `Instance`."""

    def _tick(self, early: float) -> None: ...


class _Slot:
    """One wake-up of a `Ticker`: the masters it runs, in the order they joined."""

    __slots__ = ("at", "members")

    def __init__(self, at: float) -> None:
        self.at = at
        self.members: dict[Ticking, float] = {}  # member → how early it may run (seconds)

    def when(self) -> float:
        """The loop time this wake-up is due at (as `asyncio.TimerHandle.when`)."""
        return self.at


class Ticker:
    """The masters' timers of one event loop, grouped into shared wake-ups.

    A master of many instances sends one advert per instance per interval (RFC 3768 §6.4.3); each on its
    own timer costs a loop wake-up (epoll, a context switch, the loop's bookkeeping) and a `TimerHandle`
    per advert. A master whose deadline falls at most its tolerance after an armed wake-up joins that one
    and runs with it, its `Router.on_timer` told how early it may run: its advert leaves up to COALESCE
    early. The Adver_Timer restarts from the previous expiry, not from the wake-up (`fsm._next_period`), so
    the period stays exact: the group wakes together every interval, and a lone master runs at its deadline
    as before. A backup's Master_Down_Timer never comes here (it is met to the microsecond, `_finish`).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: list[float] = []  # the armed wake-ups' times, sorted
        self._slots: dict[float, _Slot] = {}

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Ticker:
        """The loop's ticker, shared by every instance on it."""
        ticker = _tickers.get(loop)
        if ticker is None:
            ticker = _tickers[loop] = cls(loop)
        return ticker

    def arm(self, inst: Ticking, deadline: float, early: float) -> _Slot:
        """Run `inst._tick` at `deadline`, or up to `early` seconds before it with an armed wake-up."""
        due = self._due
        i = bisect.bisect_right(due, deadline)
        if i and deadline - due[i - 1] <= early:
            slot = self._slots[due[i - 1]]
        else:
            slot = self._slots[deadline] = _Slot(deadline)
            due.insert(i, deadline)
            self._loop.call_at(deadline, self._fire, slot)
        slot.members[inst] = early
        return slot

    def leave(self, inst: Ticking, slot: _Slot) -> None:
        """`inst` no longer runs with `slot` (its wake-up stays: another member may need it)."""
        slot.members.pop(inst, None)

    def _fire(self, slot: _Slot) -> None:
        # Closed before it runs: a member re-arming for its next period must not join it.
        del self._slots[slot.at]
        self._due.remove(slot.at)
        members = slot.members
        for inst in tuple(members):
            early = members.pop(inst, None)
            if early is None:  # left meanwhile (an earlier member's actions may stop another)
                continue
            try:
                inst._tick(early)
            except Exception:  # one member's failure must not silence the others (each had its own timer)
                log.exception("timer_failed", member=repr(inst))


_tickers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Ticker] = weakref.WeakKeyDictionary()


class Instance:
    """A configured VRRP instance bound to an interface, running its `fsm.Router`."""

    # Slots: thirty attributes outgrow the shared-key dict CPython gives an instance (~1.6 KiB each
    # then, 0.3 MiB of a daemon's 200 instances). A new attribute goes here too.
    __slots__ = (
        "_adverts_queued",
        "_armed_for",
        "_awaiting_check",
        "_conflict_timer",
        "_encoded_for",
        "_filtering",
        "_held",
        "_loop",
        "_notify",
        "_queue",
        "_routing",
        "_seen_state",
        "_sync_group",
        "_ticker",
        "_timer",
        "_transition_at",
        "_vip_retry",
        "_wire",
        "_worker",
        "checker",
        "config",
        "conflicts",
        "counters",
        "garp_interval",
        "gna_interval",
        "last_transition",
        "name",
        "prestarted",
        "primary",
        "reader",
        "router",
        "scripts",
        "sync",
        "transport",
    )

    def __init__(
        self,
        config: InstanceConfig,
        primary: IPAddress,
        transport: Transport,
        notify: Callable[[str, str, int], None],
        loop: asyncio.AbstractEventLoop,
        *,
        routing: Routing | None = None,
        scripts: Mapping[str, VrrpScriptConfig] | None = None,
        sync_group: bool = False,
    ) -> None:
        self.config = config
        # The vrrp_sync_group this instance belongs to (`vrrpd.runtime.syncgroup.GroupLink`), set by the
        # daemon before start; `sync_group` makes the router wait for it before becoming MASTER.
        self.sync: SyncHook | None = None
        # The interface that reads our adverts, set by the daemon: drained before a backup acts on its
        # timer, told of state changes.
        self.reader: Reader | None = None
        self._sync_group = sync_group
        self._routing = routing
        self.scripts: Mapping[str, VrrpScriptConfig] = scripts or {}
        self.garp_interval = 0.0  # [global] garp_interval, set by the daemon
        self.gna_interval = 0.0  # [global] gna_interval (IPv6: unsolicited NAs), set by the daemon
        self.name = config.name
        self.transport = transport
        self._notify = notify
        self._loop = loop
        self.primary = primary
        self.router = fsm.Router(router_config(config, primary, self.scripts, sync_group))
        self.counters = Counters()
        self.last_transition: LastTransition | None = None
        self.checker: HealthChecker | None = None  # set by the daemon; status reads its last probe
        self.conflicts = ConflictDetector(
            config.advert_int, config.is_owner, self.router.config.vip_addresses
        )
        self._timer: asyncio.TimerHandle | _Slot | None = None  # a master's: a wake-up of `_ticker`
        self._ticker = Ticker.of(loop)
        self._armed_for: float | None = None  # the router deadline the timer serves
        self._conflict_timer: asyncio.TimerHandle | None = None
        self._queue = _WorkQueue(loop)
        self._worker: asyncio.Task[None] | None = None
        self._held: set[fsm.IPInterface] = set()  # VIPs installed by this instance, as the worker last did
        self._filtering = False  # the Accept_Mode filter is installed (see `_accept_filter`)
        self._vip_retry: asyncio.TimerHandle | None = None  # re-adding VIPs the kernel refused
        self._seen_state = fsm.State.INIT
        self._encoded_for: dict[IPAddress, tuple[Advertisement, bytes]] = {}  # see `_encoded`
        # The last advert `_send_now` sent and its (payload, destination) pairs; the advert object itself
        # is the key (the router rebuilds it when anything it carries changes).
        self._wire: tuple[Advertisement, tuple[tuple[bytes, IPAddress], ...]] | None = None
        self._adverts_queued = 0  # adverts waiting for the worker: none may be overtaken (see `_feed`)
        self._awaiting_check = False  # the router starts at the health check's first verdict (`start`)
        # Set by the daemon: this instance's Startup was carried out before the daemon's imports (`start`).
        self.prestarted: Started | None = None
        self._transition_at: float | None = None  # time.time() of the transition `_state_changed` logs

    @property
    def key(self) -> tuple[str, int, int]:
        """(interface, VRID, address family): the virtual router's identity, which a reload matches
        instances by (RFC 5798 §1: an IPv4 and an IPv6 router may share a VRID)."""
        return (self.config.interface, self.config.virtual_router_id, self.config.family)

    @property
    def state(self) -> fsm.State:
        """The router's state."""
        return self.router.state

    @property
    def priority(self) -> int:
        """The router's effective priority."""
        return self.router.priority

    @property
    def master(self) -> IPAddress | None:
        """The master as far as the router knows."""
        return self.router.master_address

    @property
    def faults(self) -> frozenset[fsm.Fault]:
        """The router's active fault sources."""
        return frozenset(self.router.faults)

    @property
    def health(self) -> bool | None:
        """The health check's verdict as the router last heard it; None without a check."""
        return self.router.health

    @property
    def vips_held(self) -> tuple[fsm.IPInterface, ...]:
        """The VIPs this instance has installed (in configuration order)."""
        return tuple(v for v in self.config.vips if v in self._held)

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker and the router (§6.4.1 Startup); the router at the health check's first
        verdict when a check is configured and has not answered yet (`health_changed`).

        A check that has not run yet is not a failure: starting in FAULT would flap INIT → FAULT → BACKUP
        and notify FAULT at every start. Nor a success: a BACKUP could become the master of a service
        nobody has seen working. The first probe runs at once, so the wait is one probe (or `rise`).
        """
        self._worker = self._loop.create_task(self._work(), name=f"instance-{self.name}")
        started, self.prestarted = self.prestarted, None
        if started is not None:
            self._adopt(started)
            return
        if self.config.check is not None and self.router.health is None:
            self._awaiting_check = True
            log.info("waiting_for_check", instance=self.name, vrid=self.router.config.vrid)
            return
        self._feed(self.router.start(self._loop.time()))

    def _adopt(self, started: Started) -> None:
        """Take over the router `runtime.prestart` started (§6.4.1 carried out: advert, VIPs and GARPs of
        an address owner sent; a backup's Master_Down_Timer running) and do what is left: the state
        change's bookkeeping (its log line carries the transition's time), the router's next timer."""
        if started.router.config != self.router.config:
            raise RuntimeError(f"{self.name}: the prestarted router was made from another configuration")
        faults = set(self.router.faults)  # recorded before start (`link_changed`: the link went down since)
        self.router = started.router
        self._held.update(started.held)
        self.counters.adverts_sent += started.adverts_sent
        self.counters.garps_sent += started.garps_sent
        self.counters.send_errors += len(started.send_errors)
        for error in started.send_errors:
            log.warning("prestart_send_failed", instance=self.name, error=error)
        self._transition_at = started.at
        actions = list(started.pending)
        now = self._loop.time()
        if started.failed:
            self.counters.netlink_errors += len(started.failed)
            for vip, code in started.failed.items():
                error = f"[Errno {code}] {os.strerror(code)}"
                log.error("vip_update_failed", instance=self.name, vip=str(vip), error=error)
            actions += self.router.vips_refused(now, set(started.failed))
            if self.router.state is fsm.State.MASTER:  # retried once per interval, as `_execute` does
                self._vip_retry = self._loop.call_later(self.config.advert_int, self._retry_vips)
        elif self.router.state is fsm.State.MASTER and all(v in self._held for v in self.config.vips):
            actions += self.router.vips_installed(now)
        for fault in faults:
            actions += self.router.set_fault(now, fault, True)
        self._feed(actions)

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109 - a bound on the handover, not a cancel
        """Shutdown event: priority-0 advert and VIPs removed (when MASTER), then the worker ends."""
        self._cancel_timer()
        self._cancel_conflict_timer()
        if self._vip_retry is not None:
            self._vip_retry.cancel()
        self._awaiting_check = False
        self._feed(self.router.shutdown(self._loop.time()), rearm=False)
        self._queue.put_nowait(([], None))  # sentinel: the worker exits after draining what came before
        if self._worker is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), timeout)
            except TimeoutError:
                self._worker.cancel()
                log.warning("instance_stop_timeout", instance=self.name, timeout=timeout)

    # -- inputs ------------------------------------------------------------------------------------------

    def receive(self, received: Received, now: float | None = None) -> bool:
        """An advertisement for our VRID arrived on our interface; `now` is when it arrived (the kernel's
        timestamp or the reader's wake-up, `loop.time()` clock), the current time if omitted.

        True when the router took it without any action (the steady state): a repeat of the same bytes
        may then be handed to `repeat` instead.
        """
        self.counters.adverts_received += 1
        if now is None:
            now = self._loop.time()
        actions = self.router.receive(now, received)
        self._feed(actions)
        drop = None
        if actions:  # the steady state (a backup hearing its master) has none
            # A v3 address-list mismatch is not a drop (RFC 5798 §7.1 only logs it) but is the same conflict
            # for the operator: the detector hears it as the v2 drop it would have been.
            drop = next((a.reason for a in actions if isinstance(a, fsm.Dropped | fsm.Misconfigured)), None)
        self._conflict_events(self.conflicts.observe(now, received, drop))
        return not actions

    def repeat(self, received: Received, now: float) -> bool:
        """`received` (handed to `receive` before, which returned True) arrived again, byte for byte.

        The routine case (`fsm.Router.repeat`: a backup hearing its master) costs the timer reset, the
        counter and the conflict detector's run; False when it is not routine, and then nothing was done
        and the caller must call `receive`.
        """
        if self.sync is not None or self.router.repeat(now, received) is None:
            return False
        self.counters.adverts_received += 1
        self._conflict_events(self.conflicts.observe(now, received, None))
        self._rearm()  # `_feed([])`: no state change is possible here, and no sync group
        return True

    def repeated(self, received: Received, now: float) -> bool:
        """Repeats of `received` were swallowed by the kernel (`kernel.ebpf`), the last one arriving at `now`,
        and counted by the reader: taken as that last one (each earlier one only moved the
        Master_Down_Timer to where it moves it); by the full path when no longer routine. Whether it is
        still routine (True: no action)."""
        self.counters.adverts_received -= 1  # `repeat` and `receive` count it; the reader already did
        return self.repeat(received, now) or self.receive(received, now)

    def adverts_lost(self, now: float) -> None:
        """The interface's receive queue overflowed before `now` (see `fsm.Router.adverts_lost`)."""
        self._feed(self.router.adverts_lost(now))

    def link_changed(self, up: bool) -> None:
        """Interface tracking: carrier lost → FAULT; back → BACKUP and a normal election."""
        self._feed(self.router.set_fault(self._input_time(), fsm.Fault.INTERFACE, not up))

    def health_changed(self, up: bool, detail: str) -> None:
        """The health check's verdict: the router decides its effect (FAULT or a lower priority)."""
        log.info("check_changed", instance=self.name, vrid=self.router.config.vrid, up=up, detail=detail)
        now = self._input_time()
        self._feed(self.router.set_health(now, up))
        if self._awaiting_check:  # the first verdict, recorded: §6.4.1 Startup goes where it says
            self._awaiting_check = False
            self._feed(self.router.start(now))

    def tracked_changed(self, name: str, status: Status) -> None:
        """A tracked [[vrrp_script]] changed status: the router applies keepalived's weights."""
        vrid = self.router.config.vrid
        log.info("tracked_script_changed", instance=self.name, vrid=vrid, script=name, ok=status)
        self._feed(self.router.set_tracked(self._input_time(), name, status))

    # -- reload --------------------------------------------------------------------------------------------

    def reconfigure(
        self, config: InstanceConfig, scripts: Mapping[str, VrrpScriptConfig] | None = None
    ) -> None:
        """Apply a changed configuration without a transition (a reload; see `Router.reconfigure`).

        The caller has checked that the change needs no restart (same interface, VRID and source
        address; not across priority 255). Call `install_vips` once every instance's removals are done
        (a VIP may move between instances).
        """
        if self.reader is not None:
            self.reader.release(self)  # the repeats swallowed so far, under the old configuration
        self.config, self.name = config, config.name
        self._wire = None  # the unicast peers may have changed
        if scripts is not None:
            self.scripts = scripts
        wanted = router_config(config, self.primary, self.scripts, self._sync_group)
        actions = self.router.reconfigure(self._input_time(), wanted)
        new = self.router.config
        self.conflicts.reconfigure(new.advert_int, config.is_owner, new.vip_addresses)
        self._feed(actions)
        if self._awaiting_check and config.check is None:  # the awaited check was reloaded away
            self._awaiting_check = False
            self._feed(self.router.start(self._input_time()))

    def install_vips(self) -> None:
        """Report the configured VIPs not installed (after a reload, or a refusal): a master adds them."""
        missing = [v for v in self.config.vips if v not in self._held]
        if missing:
            self._feed(self.router.vips_missing(self._input_time(), missing))

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 - bounded wait for the worker
        """Wait until every action queued so far has been carried out (at most `timeout` seconds)."""
        if self._worker is None or self._worker.done():
            return
        done: asyncio.Future[None] = self._loop.create_future()
        self._queue.put_nowait(([], done))
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            log.warning("instance_drain_timeout", instance=self.name, timeout=timeout)

    def restores(self, vip: fsm.IPInterface) -> bool:
        """Whether `vip_removed(vip)` would put the address back (the router holds it)."""
        return self.router.holds(vip)

    def source_changed(self, primary: IPAddress) -> None:
        """The interface advertises from another address now (§5.2.1: its primary address changed)."""
        if primary.version != self.router.config.family:
            return  # the IPv4 source of an interface says nothing about an IPv6 router's link-local one
        self.primary = primary
        # A VRRPv3 checksum covers the source address (RFC 5798 §5.2.8): encode again from the new one.
        self._encoded_for.clear()
        self._wire = None
        self._feed(self.router.set_primary_address(self._input_time(), primary))

    def address_changed(self, present: bool, family: int = 4) -> None:
        """The interface lost its own address of `family` (FAULT: no source for adverts), or has one again.

        Only the router's own family counts: an IPv4 router advertises from the IPv4 primary address
        (§5.2.1), an IPv6 router from the link-local one (RFC 5798 §5.1.2.1)."""
        if family != self.router.config.family:
            return
        self._feed(self.router.set_fault(self._input_time(), fsm.Fault.NO_ADDRESS, not present))

    def vip_removed(self, vip: fsm.IPInterface) -> None:
        """Someone deleted an address on our interface: if it is one of a master's VIPs, it goes back."""
        actions = self.router.vip_deleted(self._input_time(), vip)
        if actions:
            self.counters.vips_restored += 1
            log.warning("vip_restored", instance=self.name, vrid=self.router.config.vrid, vip=str(vip))
            self._feed(actions)

    def vip_added(self, vip: fsm.IPInterface) -> None:
        """An address appeared on our interface: one of our VIPs, while we are not MASTER, is a duplicate of
        the master's (added by hand, or by another tool). Remove it and tell the operator.

        One we installed ourselves (its event can arrive after we left MASTER) is already being removed
        by that transition: not reported.
        """
        if vip in self._held:
            return
        actions = self.router.vip_added(self._input_time(), vip)
        if not actions:
            return
        self.counters.vips_unexpected_removed += 1
        log.warning(
            "vip_unexpected_removed",
            instance=self.name,
            vrid=self.router.config.vrid,
            vip=str(vip),
            state=self.router.state.value,
            detail="one of our VIPs was added while we are not MASTER: a duplicate of the master's",
        )
        self._feed(actions)

    def count_drop(self, reason: DropReason) -> None:
        """A packet for this instance failed a §7.1 check before reaching the router."""
        self.counters.drops[reason.value] += 1

    # -- the timer ---------------------------------------------------------------------------------------

    def feed_from_group(self, actions: list[fsm.Action]) -> None:
        """Carry out what this instance's sync group decided for it (not told back to the group)."""
        self._feed(actions, group=False)

    def _input_time(self) -> float:
        """The time for an input to the router, after the repeats the kernel swallowed were taken
        (`Reader.catch_up`): a swallowed backup's router is otherwise as of its last one taken, and an
        input that changes what it accepts (a priority we would now preempt with) must not be judged on a
        Master_Down_Timer that those repeats had moved on."""
        if self.reader is not None:
            self.reader.catch_up(self)
        return self._loop.time()

    def _feed(self, actions: list[fsm.Action], rearm: bool = True, group: bool = True) -> None:
        if len(actions) == 1 and type(actions[0]) is fsm.SendAdvert and not self._adverts_queued:
            # A master's period (§6.4.3): its advert alone, sent at once as below, nothing for the worker
            # unless a full buffer refused it.
            pending = self._send_now(actions[0].advert)
            if pending:
                self._adverts_queued += 1
                self._queue.put_nowait((pending, None))
        elif actions:
            # What goes on the wire or into the kernel first (the advert, VIPs, GARPs), then the state
            # change's bookkeeping (log, notify programs, counters and status): a takeover's advert and
            # addresses must not wait for a log line or a fork. keepalived logs first; nothing needs it.
            steps: list[_Step] = [a for a in actions if not isinstance(a, fsm.StateChanged)]
            steps += [a for a in actions if isinstance(a, fsm.StateChanged)]
            first = steps[0]
            if isinstance(first, fsm.SendAdvert) and not self._adverts_queued:
                # Sent here, from the timer or receive callback, rather than after a hop through the
                # worker queue: the other routers' timers wait for it (the FSM puts it first for that
                # reason). Only when no earlier advert is still queued, so adverts keep their order.
                steps = self._send_now(first.advert) + steps[1:]
            if steps:
                self._adverts_queued += sum(isinstance(a, fsm.SendAdvert | _PendingAdvert) for a in steps)
                self._queue.put_nowait((steps, None))
        state = self.router.state
        if state is not self._seen_state:
            # Told synchronously (the worker logs the change later): whether we advertise decides what
            # counts as a second master.
            self._seen_state = state
            self.conflicts.set_master(self._loop.time(), state is fsm.State.MASTER)
            if self.reader is not None:
                self.reader.state_changed()
        if rearm:
            self._rearm()
        if group and self.sync is not None:
            self.sync.after(self, actions)

    def _rearm(self) -> None:
        deadline = self.router.deadline
        timer, armed = self._timer, self._armed_for
        if timer is not None and (
            deadline == armed
            or (
                deadline is not None
                and armed is not None
                and deadline > armed
                and timer.when() - self._loop.time() > self.router.config.advert_int
            )
        ):
            # A later deadline (a backup hearing its master: every advert moves Master_Down on) keeps
            # the armed, earlier timer while the next advert is due before it fires; the advert that
            # comes closer re-arms it. Cheaper than re-creating the timer on every advert, and than
            # letting it fire early (a loop wake-up) every Master_Down_Interval.
            return
        self._cancel_timer()
        self._armed_for = deadline
        if deadline is None:
            return
        left = deadline - self._loop.time()
        # A master's timers (the advert period, GARP repeats) can take the kernel's slack of ~1 ms: it does
        # not drift the period (`fsm._next_period`), and a pre-wake would double its wake-ups.
        backup = self.router.state is not fsm.State.MASTER
        if backup and left > 2 * PREWAKE:
            reader = self.reader
            if reader is not None and self.sync is None and reader.defer(self, deadline):
                return  # a swallowed backup: the interface wakes for it (`Interface.defer`)
            self._timer = self._loop.call_at(deadline - PREWAKE, self._prewake)
        elif backup and left > FINE:
            self._timer = self._loop.call_at(deadline - FINE, self._finish)
        elif backup:
            self._timer = self._loop.call_at(deadline, self._on_timer)
        else:
            early = min(COALESCE, COALESCE_SHARE * self.router.config.advert_int)
            self._timer = self._ticker.arm(self, deadline, early)

    def _prewake(self) -> None:
        # The long wait is over; the last PREWAKE seconds are a short timeout the kernel honours closely.
        # The deadline may have moved later since this timer was armed: then this re-arms for it (a
        # pre-wake again when it is still far off).
        self._timer = self._armed_for = None
        if self.reader is not None and self.router.state is fsm.State.BACKUP:
            self.reader.catch_up(self)  # repeats the kernel swallowed move the Master_Down_Timer on
        self._rearm()

    def resume(self) -> None:
        """Arm this instance's own timer again: the interface no longer stands in for it (`Reader.defer`:
        its deadline is near, its VRID no longer swallowed, or the receive loop ended)."""
        self._cancel_timer()
        self._armed_for = None
        self._rearm()

    def _finish(self) -> None:
        # FINE before the deadline (or up to 1 ms after that, by epoll's rounding): sleep what is left, then
        # act at once. A deadline that moved meanwhile (later, or none) is simply re-armed.
        self._timer = self._armed_for = None
        router, clock = self.router, self._loop.time
        deadline = router.deadline
        if deadline is not None and 0 < deadline - clock() <= FINE:
            if router.state is fsm.State.BACKUP:
                # The Master_Down_Timer: a takeover, whose advert other routers wait for. Encoded now,
                # while there is time (`_encoded` keeps it), and the deadline met to the microsecond.
                self._prepare_takeover()
                if self.reader is not None:
                    # Read what is queued now (lazily read adverts included) rather than all of it at the
                    # deadline: the read there then finds little or nothing, on a warm path.
                    self.reader.drain()
                    self.reader.catch_up(self)
                    deadline = router.deadline
                    if deadline is None or deadline - clock() > FINE:
                        self._rearm()  # an advert moved the Master_Down_Timer on
                        return
                left = deadline - clock() - POLL
                if left > 0:
                    time.sleep(left)
                while clock() < deadline:  # bounded: at most POLL plus the sleep's own lateness
                    pass
            else:
                time.sleep(max(0.0, deadline - clock()))
        if deadline is not None and deadline <= clock():
            self._on_timer()
        else:
            self._rearm()

    def _prepare_takeover(self) -> None:
        """Encode the advert a takeover sends (`Router.advertisement`), so that `_send_now` finds it."""
        advert = self.router.advertisement()
        for dst in self._destinations():
            self._encoded(advert, dst)

    def _on_timer(self) -> None:
        self._timer = self._armed_for = None
        if self.reader is not None and self.router.state is fsm.State.BACKUP:
            # An advert queued but not read yet may move the Master_Down_Timer: read it first (the
            # deadline is then re-armed, and `on_timer` below does nothing when it is not due). Then the
            # repeats the kernel swallowed (eBPF): never a takeover without both.
            self.reader.drain()
            self.reader.catch_up(self)
        self._feed(self.router.on_timer(self._loop.time()))

    def _tick(self, early: float) -> None:
        """A master's wake-up (`Ticker`): its Adver_Timer runs if it expires at most `early` from now."""
        router = self.router
        if router.state is not _MASTER:  # left MASTER without re-arming: the plain path
            self._on_timer()
            return
        self._timer = self._armed_for = None
        actions = router.on_timer(self._loop.time(), early)
        if (
            len(actions) == 1
            and type(actions[0]) is fsm.SendAdvert
            and not self._adverts_queued
            and self.sync is None
            and router.state is _MASTER
        ):
            # The steady state (§6.4.3): the period's advert alone, and still MASTER. `_feed` without what
            # it cannot change: no state change to tell, nothing for the worker unless the buffer refused
            # it, and the next period's wake-up armed at once.
            pending = self._send_now(actions[0].advert)
            if pending:
                self._adverts_queued += 1
                self._queue.put_nowait((pending, None))
            deadline = router.deadline
            self._armed_for = deadline
            if deadline is not None:
                share = COALESCE_SHARE * router.config.advert_int
                self._timer = self._ticker.arm(self, deadline, share if share < COALESCE else COALESCE)
            return
        self._feed(actions)

    def _send_now(self, advert: Advertisement) -> list[_Step]:
        """Send `advert` with non-blocking sends; what a full socket buffer refused, for the worker."""
        wire = self._wire
        if wire is None or wire[0] is not advert:
            # The router hands back the same advert object every period (`Router.advertisement`): its
            # payloads per destination are looked up once, not hashed per send.
            wire = self._wire = (advert, tuple((self._encoded(advert, d), d) for d in self._destinations()))
        send, src = self.transport.send_vrrp_now, self.primary
        for n, (payload, dst) in enumerate(wire[1]):
            try:
                send(payload, dst, src)
            except BlockingIOError:
                return [_PendingAdvert(advert, tuple(d for _, d in wire[1][n:]))]
            except OSError as exc:
                self._send_failed(dst, exc)
            else:
                self.counters.adverts_sent += 1
        return []

    def _cancel_timer(self) -> None:
        timer = self._timer
        if timer is not None:
            if isinstance(timer, _Slot):
                self._ticker.leave(self, timer)
            else:
                timer.cancel()
            self._timer = self._armed_for = None

    # -- conflicts ---------------------------------------------------------------------------------------

    def _conflict_events(self, events: list[ConflictEvent]) -> None:
        for event in events:
            c = event.conflict
            fields = {
                "instance": self.name,
                "vrid": self.router.config.vrid,
                "interface": self.config.interface,
                "kind": c.kind.value,
                "source": str(c.source),
                "detail": c.detail,
            }
            if event.detected:
                log.warning("vrid_conflict", **fields)
            else:
                log.info("vrid_conflict_cleared", adverts=c.adverts, **fields)
        deadline = self.conflicts.deadline
        if self._conflict_timer is not None and (deadline is None or self._conflict_timer.when() != deadline):
            self._cancel_conflict_timer()
        if deadline is not None and self._conflict_timer is None:
            self._conflict_timer = self._loop.call_at(deadline, self._on_conflict_timer)

    def _on_conflict_timer(self) -> None:
        self._conflict_timer = None
        self._conflict_events(self.conflicts.expire(self._loop.time()))

    def _cancel_conflict_timer(self) -> None:
        if self._conflict_timer is not None:
            self._conflict_timer.cancel()
            self._conflict_timer = None

    # -- carrying out actions ------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            actions, done = await self._queue.get()
            for action in actions:
                try:
                    await self._execute(action)
                except Exception:  # one failed action must not stop the instance
                    log.exception("action_failed", instance=self.name, action=type(action).__name__)
            if done is not None:
                if not done.done():
                    done.set_result(None)
            elif not actions and self.router.state is fsm.State.INIT:
                return

    async def _execute(self, action: _Step) -> None:
        match action:
            case fsm.SendAdvert(advert=advert):
                self._adverts_queued -= 1
                await self._send_advert(advert, self._destinations())
            case _PendingAdvert(advert=advert, destinations=destinations):
                self._adverts_queued -= 1
                await self._send_advert(advert, destinations)
            case fsm.AddVips(vips=vips, accept=accept, routes=routes):
                failed = await self._each(vips, self.transport.add_vips, _ADD_OK)
                self._held.update(v for v in vips if v not in failed)
                if routes:
                    await self._routes(True)  # after the addresses: a route may name a VIP as its source
                if not accept:
                    await self._accept_filter()
                if failed:
                    # The router counts the refusals (FAULT after a few, so a backup takes over); while
                    # it is still MASTER, retry once per advertisement interval.
                    self._feed(self.router.vips_refused(self._input_time(), failed))
                    if self._vip_retry is None and self.router.state is fsm.State.MASTER:
                        self._vip_retry = self._loop.call_later(self.config.advert_int, self._retry_vips)
                elif all(v in self._held for v in self.config.vips):
                    self._feed(self.router.vips_installed(self._input_time()))
            case fsm.RemoveVips(vips=vips, routes=routes):
                if routes:
                    await self._routes(False)  # before the addresses they may depend on
                # Also whatever we still hold that is no longer configured (a reload shrank the list).
                stale = [v for v in self._held if v not in self.config.vips]
                targets = tuple(dict.fromkeys([*vips, *stale]))
                await self._each(targets, self.transport.remove_vips, _REMOVE_OK)
                self._held.difference_update(targets)
                if self._filtering:
                    await self._accept_filter()
            case fsm.SendGarp(addresses=addresses, count=count):
                # One round over every VIP, then the repeats (keepalived's order): the last of many
                # VIPs is announced after N frames, not N * count. A VIP whose send failed is skipped.
                unsent: set[IPAddress] = set()
                for _ in range(count):
                    for addr in addresses:
                        if addr in unsent:
                            continue
                        # keepalived's vrrp_garp_interval / vrrp_gna_interval: a pause between two gratuitous
                        # ARPs, or two unsolicited NAs (RFC 4861 §7.2.6) of an IPv6 instance.
                        pause = self.gna_interval if addr.version == 6 else self.garp_interval
                        if pause and self.counters.garps_sent:
                            await asyncio.sleep(pause)
                        try:
                            self.transport.send_garp(addr, 1)
                            self.counters.garps_sent += 1
                        except OSError as exc:
                            unsent.add(addr)
                            self.counters.send_errors += 1
                            log.warning("garp_failed", instance=self.name, vip=str(addr), error=str(exc))
            case fsm.StateChanged():
                self._state_changed(action)
            case fsm.Dropped(reason=reason, source=source):
                self.counters.drops[reason.value] += 1
                _drop_log.hit(
                    f"{self.name}:{reason.value}", reason=reason.value, source=str(source), instance=self.name
                )
            case fsm.Misconfigured(reason=reason, source=source):
                # RFC 5798 §7.1: logged (rate-limited), not dropped — the advert took part in the election.
                _misconfigured_log.hit(
                    f"{self.name}:{reason.value}", reason=reason.value, source=str(source), instance=self.name
                )

    def _destinations(self) -> tuple[IPAddress, ...]:
        """The unicast peers, or the VRRP group of the router's family (224.0.0.18, ff02::12)."""
        return self.config.unicast_peer or (multicast_group(self.router.config.family),)

    def _encoded(self, advert: Advertisement, dst: IPAddress) -> bytes:
        """`encode(advert)` for `dst`, computed once per distinct advert: a master sends the same one every
        period. Per destination, because a VRRPv3 checksum covers the source and destination addresses
        (RFC 5798 §5.2.8): each unicast peer gets its own."""
        cached = self._encoded_for.get(dst)
        if cached is None or cached[0] != advert:
            payload = encode(advert, source=self.primary, destination=dst)
            cached = self._encoded_for[dst] = (advert, payload)
        return cached[1]

    async def _send_advert(self, advert: Advertisement, peers: Iterable[IPAddress]) -> None:
        for dst in peers:
            try:
                await self.transport.send_vrrp(self._encoded(advert, dst), dst, self.primary)
                self.counters.adverts_sent += 1
            except OSError as exc:
                self._send_failed(dst, exc)

    def _send_failed(self, dst: IPAddress, exc: OSError) -> None:
        self.counters.send_errors += 1
        _send_log.hit(f"{self.name}:send", error=str(exc), instance=self.name, destination=str(dst))

    async def _each(
        self,
        vips: tuple[fsm.IPInterface, ...],
        op: Callable[[Sequence[fsm.IPInterface]], Awaitable[dict[fsm.IPInterface, int]]],
        ok: frozenset[int],
    ) -> set[fsm.IPInterface]:
        """Run the batch `op` on the VIPs; those it failed for (counted and logged).

        `ok` holds the errnos that leave the VIP where it should be (0, and EEXIST on add or
        EADDRNOTAVAIL / ENOENT on remove); a VIP missing from the result failed too.
        """
        if not vips:
            return set()
        try:
            results = await op(vips)
        except Exception as exc:  # the whole batch: every VIP failed
            results, reason = {}, str(exc)
        else:
            reason = "no result"
        failed: set[fsm.IPInterface] = set()
        for vip in vips:
            code = results.get(vip)
            if code is None or code not in ok:
                failed.add(vip)
                self.counters.netlink_errors += 1
                error = reason if code is None else f"[Errno {code}] {os.strerror(code)}"
                log.error("vip_update_failed", instance=self.name, vip=str(vip), error=error)
        return failed

    async def _routes(self, up: bool) -> None:
        """Install or remove the virtual routes and rules; a failure is counted and logged, not retried
        (as in keepalived: the next transition tries again)."""
        routing = self._routing
        if routing is None:
            return
        command: Literal["add", "del"] = "add" if up else "del"
        ok = _ROUTE_ADD_OK if up else _ROUTE_DEL_OK
        # Rules point into tables the routes fill: routes first in, rules first out.
        cfg = self.config
        work: list[tuple[str, RouteConfig | RuleConfig]] = [("route", r) for r in cfg.virtual_routes]
        rules: list[tuple[str, RouteConfig | RuleConfig]] = [("rule", r) for r in cfg.virtual_rules]
        work = work + rules if up else rules + work
        for kind, item in work:
            if isinstance(item, RouteConfig):
                code = await routing.route(command, item)
            else:
                code = await routing.rule(command, item)
            if code not in ok:
                self.counters.netlink_errors += 1
                log.error(
                    "virtual_route_failed",
                    instance=self.name,
                    kind=kind,
                    command=command,
                    entry=str(item),
                    error=f"[Errno {code}] {os.strerror(code)}",
                )

    async def _accept_filter(self) -> None:
        """RFC 5798 §6.4.3, Accept_Mode off: drop packets to the VIPs held now (none held: no filter).

        The router says when (`AddVips.accept`); the filter follows what is actually installed. A failure
        is logged and counted: the VIPs stay, accepting, rather than the master giving them up.
        """
        table = firewall.accept_filter_table(self.name)
        held = [v.ip for v in self.config.vips if v in self._held]
        try:
            if held:
                await asyncio.to_thread(firewall.install_accept_filter, table, held)
            else:
                await asyncio.to_thread(firewall.remove, table)
        except firewall.FirewallError as exc:
            self.counters.netlink_errors += 1
            log.warning("accept_filter_failed", instance=self.name, error=str(exc))
            return
        self._filtering = bool(held)

    def _retry_vips(self) -> None:
        self._vip_retry = None
        self.install_vips()  # a no-op unless MASTER and something configured is still missing

    def _state_changed(self, change: fsm.StateChanged) -> None:
        self.counters.transitions += 1
        at, self._transition_at = self._transition_at or time.time(), None
        self.last_transition = LastTransition(change.old.value, change.new.value, change.reason.value, at)
        log.info(
            "state_change",
            _at=at,  # the transition's time: `_adopt`'s happened before logging was set up
            instance=self.name,
            vrid=self.router.config.vrid,
            old=change.old.value,
            new=change.new.value,
            reason=change.reason.value,
            priority=change.priority,
            master=str(change.master) if change.master else None,
        )
        state = "STOP" if change.new is fsm.State.INIT else change.new.value
        self._notify(self.name, state, change.priority)


class _DropLog:
    """Adapter onto `vrrpd.logs.RateLimitedLog` that supplies the clock."""

    def __init__(self, event: str) -> None:
        self._limited = logs.RateLimitedLog(logs.get_logger("vrrpd.drops"), event)

    def hit(self, key: str, **fields: object) -> None:
        self._limited.hit(key, time.monotonic(), **fields)


_drop_log = _DropLog("advert_dropped")
# An event of its own rather than a field of the drop log's: `event` names the log call's own argument.
_send_log = _DropLog("send_failed")
_misconfigured_log = _DropLog("peer_misconfigured")
