"""One running virtual router: the sans-I/O `Router` plus the I/O that carries out its actions.

Owns, per instance: the single timer re-armed after every call into the router (aioquic's pattern), the
ordered action worker (an advert is sent before VIPs are installed, GARPs after), the health check's effect
(FAULT or a lower priority), notify calls, and the counters that status and metrics report. It does not
own sockets or netlink handles: the interface (`vrrpd.daemon`) lends them.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from typing import Protocol

from vrrpd import fsm, logs
from vrrpd.config import InstanceConfig
from vrrpd.packet import PRIORITY_OWNER, VRRP_MULTICAST, DropReason, Received, encode

log = logs.get_logger("vrrpd.instance")


class Transport(Protocol):
    """What an instance needs from its interface; `vrrpd.daemon.Interface` implements it."""

    ifindex: int

    async def send_vrrp(self, payload: bytes, dst: IPv4Address) -> None: ...
    def send_garp(self, vip: IPv4Address, count: int) -> None: ...
    async def add_vip(self, vip: IPv4Interface, label: str | None) -> bool: ...
    async def remove_vip(self, vip: IPv4Interface) -> bool: ...


@dataclass
class Counters:
    """Monotonic counters for status and metrics."""

    adverts_sent: int = 0
    adverts_received: int = 0
    send_errors: int = 0
    netlink_errors: int = 0
    garps_sent: int = 0
    transitions: int = 0
    vips_restored: int = 0
    drops: collections.Counter[str] = field(default_factory=collections.Counter)


@dataclass
class LastTransition:
    """The most recent state change, for status."""

    old: str
    new: str
    reason: str
    wall_time: float


def effective_priority(base: int, weight: int, check_up: bool) -> int:
    """keepalived's weight semantics: a failing check lowers the priority by `weight`, clamped to 1..254.

    The address owner (255) never changes priority (config validation refuses a weight for it).
    """
    if base == PRIORITY_OWNER or check_up or weight == 0:
        return base
    return max(1, min(254, base - weight))


class Instance:
    """A configured VRRP instance bound to an interface, running its `fsm.Router`."""

    def __init__(
        self,
        config: InstanceConfig,
        primary: IPv4Address,
        transport: Transport,
        notify: Callable[[str, str, int], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.config = config
        self.name = config.name
        self.transport = transport
        self._notify = notify
        self._loop = loop
        self.router = fsm.Router(
            fsm.RouterConfig(
                vrid=config.virtual_router_id,
                priority=config.priority,
                primary_address=primary,
                vips=config.vips,
                advert_int=config.advert_int,
                preempt=config.preempt,
                preempt_delay=config.preempt_delay,
                auth_pass=config.auth_pass,
                unicast_peers=tuple(config.unicast_peer),
                garp_master_repeat=config.garp_master_repeat,
                garp_master_delay=config.garp_master_delay,
                garp_master_refresh=config.garp_master_refresh,
            )
        )
        self.counters = Counters()
        self.last_transition: LastTransition | None = None
        self.check_up: bool | None = None
        self.check_detail = ""
        self._timer: asyncio.TimerHandle | None = None
        self._queue: asyncio.Queue[list[fsm.Action]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._vips_held = False

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker and the router (§6.4.1 Startup)."""
        self._worker = self._loop.create_task(self._work(), name=f"instance-{self.name}")
        self._feed(self.router.start(self._loop.time()))

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109 - a bound on the handover, not a cancel
        """Shutdown event: priority-0 advert and VIPs removed (when MASTER), then the worker ends."""
        self._cancel_timer()
        self._feed(self.router.shutdown(self._loop.time()), rearm=False)
        self._queue.put_nowait([])  # sentinel: the worker exits after draining what came before
        if self._worker is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), timeout)
            except TimeoutError:
                self._worker.cancel()
                log.warning("instance_stop_timeout", instance=self.name, timeout=timeout)

    # -- inputs ------------------------------------------------------------------------------------------

    def receive(self, received: Received) -> None:
        """An advertisement for our VRID arrived on our interface."""
        self.counters.adverts_received += 1
        self._feed(self.router.receive(self._loop.time(), received))

    def link_changed(self, up: bool) -> None:
        """Interface tracking: carrier lost → FAULT; back → BACKUP and a normal election."""
        self._feed(self.router.set_fault(self._loop.time(), fsm.Fault.INTERFACE, not up))

    def check_changed(self, up: bool, detail: str) -> None:
        """A health check flipped. weight 0 → FAULT (ipfailover); else priority − weight (keepalived)."""
        self.check_up, self.check_detail = up, detail
        log.info("check_changed", instance=self.name, vrid=self.router.config.vrid, up=up, detail=detail)
        weight = self.config.check.weight if self.config.check else 0
        now = self._loop.time()
        if weight == 0:
            self._feed(self.router.set_fault(now, fsm.Fault.CHECK, not up))
        else:
            prio = effective_priority(self.config.priority, weight, up)
            self._feed(self.router.set_priority(now, prio))

    def vip_removed(self, vip: IPv4Interface) -> None:
        """Someone deleted one of our VIPs while we are MASTER: put it back and tell the operator."""
        if self.router.state is not fsm.State.MASTER or vip not in self.config.vips:
            return
        self.counters.vips_restored += 1
        log.warning("vip_restored", instance=self.name, vrid=self.router.config.vrid, vip=str(vip))
        self._queue.put_nowait([fsm.AddVips((vip,)), fsm.SendGarp((vip.ip,), 1)])

    def count_drop(self, reason: DropReason) -> None:
        """A packet for this instance failed a §7.1 check before reaching the router."""
        self.counters.drops[reason.value] += 1

    # -- the timer ---------------------------------------------------------------------------------------

    def _feed(self, actions: list[fsm.Action], rearm: bool = True) -> None:
        if actions:
            self._queue.put_nowait(actions)
        if rearm:
            self._rearm()

    def _rearm(self) -> None:
        deadline = self.router.deadline
        if self._timer is not None and deadline is not None and self._timer.when() == deadline:
            return
        self._cancel_timer()
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._feed(self.router.on_timer(self._loop.time()))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- carrying out actions ------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            actions = await self._queue.get()
            if not actions and self.router.state is fsm.State.INIT:
                return
            for action in actions:
                try:
                    await self._execute(action)
                except Exception:  # one failed action must not stop the instance
                    log.exception("action_failed", instance=self.name, action=type(action).__name__)

    async def _execute(self, action: fsm.Action) -> None:
        match action:
            case fsm.SendAdvert(advert=advert):
                await self._send_advert(encode(advert))
            case fsm.AddVips(vips=vips):
                await self._each(vips, lambda v: self.transport.add_vip(v, None))
                self._vips_held = True
            case fsm.RemoveVips(vips=vips):
                await self._each(vips, self.transport.remove_vip)
                self._vips_held = False
            case fsm.SendGarp(addresses=addresses, count=count):
                for addr in addresses:
                    try:
                        self.transport.send_garp(addr, count)
                        self.counters.garps_sent += count
                    except OSError as exc:
                        self.counters.send_errors += 1
                        log.warning("garp_failed", instance=self.name, vip=str(addr), error=str(exc))
            case fsm.StateChanged():
                self._state_changed(action)
            case fsm.Dropped(reason=reason, source=source):
                self.counters.drops[reason.value] += 1
                _drop_log.hit(f"{self.name}:{reason.value}", source=str(source), instance=self.name)

    async def _send_advert(self, payload: bytes) -> None:
        peers: Iterable[IPv4Address] = self.config.unicast_peer or (VRRP_MULTICAST,)
        for dst in peers:
            try:
                await self.transport.send_vrrp(payload, dst)
                self.counters.adverts_sent += 1
            except OSError as exc:
                self.counters.send_errors += 1
                _drop_log.hit(f"{self.name}:send", error=str(exc), instance=self.name, event="send_failed")

    async def _each(
        self, vips: tuple[IPv4Interface, ...], op: Callable[[IPv4Interface], Awaitable[bool]]
    ) -> None:
        # All VIPs in flight at once: 1,000 sequential netlink round trips would take far longer.
        results = await asyncio.gather(*(op(v) for v in vips), return_exceptions=True)
        for vip, result in zip(vips, results, strict=True):
            if isinstance(result, BaseException):
                self.counters.netlink_errors += 1
                log.error("vip_update_failed", instance=self.name, vip=str(vip), error=str(result))

    def _state_changed(self, change: fsm.StateChanged) -> None:
        self.counters.transitions += 1
        self.last_transition = LastTransition(
            change.old.value, change.new.value, change.reason.value, time.time()
        )
        log.info(
            "state_change",
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

    def __init__(self) -> None:
        self._limited = logs.RateLimitedLog(logs.get_logger("vrrpd.drops"), "advert_dropped")

    def hit(self, key: str, **fields: object) -> None:
        self._limited.hit(key, time.monotonic(), **fields)


_drop_log = _DropLog()
