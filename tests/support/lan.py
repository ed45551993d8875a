"""A simulated LAN in virtual time: several `vrrpd.protocol.fsm.Router`s for one VRID on one fake Ethernet
segment.

Test helper only (h11's tests/helpers.py pairs two connections the same way). It owns the things the daemon
would own — the clock, the wire and the interface addresses — and nothing of the protocol:

* time: one event queue ordered by time. The next event is the earlier of the first scheduled delivery and
  the earliest router `deadline`; at equal times deliveries go first, then timers in the order the routers
  were added. `run_until(t)` processes every event up to and including `t`, then sets `now = t`. Commands
  (`start`, `crash`, `partition`, ...) act at `now`.
* the wire: every `SendAdvert` becomes a `vrrpd.protocol.packet.Received` (source = the sender's primary
  address, destination the VRRP group of its family, TTL 255) delivered `latency` seconds later to every
  other router that is running, whose link is up and that is in the same segment (`partition`). Per-link
  loss is drawn from a seeded RNG.
  Reachability is checked again at delivery, so a packet in flight when the cable is cut is lost.
* the interfaces: VIP holders, from `AddVips` / `RemoveVips`. A crash takes the host (and its VIPs) away.

After every call into a router it checks the invariants the state machine promises every caller: the
deadline is in the future, a MASTER or BACKUP has a timer and an INIT or FAULT one has none, a router holds
the VIPs exactly while it is MASTER (never added twice, never removed when not held), and no advertisement
on this LAN (same VRID, interval and addresses everywhere) is ever dropped.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any

from vrrpd.protocol.fsm import (
    Action,
    AddVips,
    Dropped,
    Fault,
    RemoveVips,
    Router,
    RouterConfig,
    SendAdvert,
    State,
    StateChanged,
)
from vrrpd.protocol.packet import PRIORITY_OWNER, VRRP_TTL, IPAddress, Received, multicast_group

VRID = 51
VIPS = (IPv4Interface("192.0.2.254/24"),)
VIPS6 = (IPv6Interface("2001:db8::254/64"),)
LATENCY = 0.001


def address(host: int, family: int = 4) -> IPAddress:
    """The primary address of host number `host` on the test segment, 192.0.2.`host`."""
    return IPv4Address(f"192.0.2.{host}") if family == 4 else IPv6Address(f"fe80::{host:x}")


@dataclass(frozen=True, slots=True)
class Traced:
    """One action a router returned, and when."""

    time: float
    node: str
    action: Action


@dataclass(slots=True)
class Node:
    """One host on the LAN: its configuration, its router process and the state of its cable."""

    name: str
    config: RouterConfig
    router: Router
    running: bool = True  # False after `crash`: the host is gone, with its VIPs
    link_up: bool = True
    check_ok: bool = True
    segment: int = 0

    @property
    def address(self) -> IPAddress:
        return self.config.primary_address

    @property
    def state(self) -> State:
        """The router's state; a crashed host counts as INIT."""
        return self.router.state if self.running else State.INIT

    @property
    def priority(self) -> int:
        return self.router.priority

    @property
    def owner(self) -> bool:
        return self.config.priority == PRIORITY_OWNER

    @property
    def participating(self) -> bool:
        """Running, started, cable plugged in and checks passing: this host takes part in the election."""
        return self.running and self.link_up and self.check_ok and self.router.state is not State.INIT


@dataclass(slots=True)
class Lan:
    """The simulated segment. See the module docstring."""

    latency: float = LATENCY
    seed: int = 0
    advert_int: float = 1
    version: int = 2  # 3: VRRPv3 (RFC 5798), advert_int in centisecond steps
    family: int = 4  # 6: IPv6 (version 3 only), primary addresses fe80::`host`
    now: float = 0.0
    nodes: dict[str, Node] = field(default_factory=dict)
    trace: list[Traced] = field(default_factory=list)
    holders: set[str] = field(default_factory=set)
    holder_log: list[tuple[float, frozenset[str]]] = field(default_factory=list)
    delivered: int = 0
    lost: int = 0
    _loss: dict[tuple[str | None, str | None], float] = field(default_factory=dict)
    _queue: list[tuple[float, int, str, Received]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    # -- building --------------------------------------------------------------------------------------------

    def add(self, name: str, priority: int, host: int, *, preempt: bool = True, **overrides: Any) -> Node:
        """Add a host (not started) with primary address 192.0.2.`host` (fe80::`host` in an IPv6 LAN)."""
        assert name not in self.nodes
        fields: dict[str, Any] = {
            "vrid": VRID,
            "priority": priority,
            "primary_address": address(host, self.family),
            "vips": VIPS if self.family == 4 else VIPS6,
            "advert_int": self.advert_int,
            "version": self.version,
            "preempt": preempt,
            "garp_master_delay": 0.0,
        }
        cfg = RouterConfig(**(fields | overrides))
        node = Node(name, cfg, Router(cfg))
        self.nodes[name] = node
        return node

    # -- commands, at `now` ----------------------------------------------------------------------------------

    def start(self, *names: str) -> None:
        """Start the routers (all of them when no name is given)."""
        for name in names or tuple(self.nodes):
            node = self.nodes[name]
            self._call(node, node.router.start(self.now))

    def shutdown(self, name: str) -> None:
        """Graceful stop: the router sends priority 0 if it is master."""
        node = self.nodes[name]
        if node.running:
            self._call(node, node.router.shutdown(self.now))

    def crash(self, name: str) -> None:
        """The host vanishes: no advert, no RemoveVips; its addresses disappear with it."""
        node = self.nodes[name]
        if node.running:
            node.running = False
            self._set_holder(name, held=False)

    def restart(self, name: str) -> None:
        """Bring a host back: a crashed one as a fresh process, a stopped one by starting it again."""
        node = self.nodes[name]
        if not node.running:
            node.router = Router(node.config)
            node.running = True
            if not node.link_up:
                self._call(node, node.router.set_fault(self.now, Fault.INTERFACE, True))
            if not node.check_ok:
                self._call(node, node.router.set_fault(self.now, Fault.CHECK, True))
        if node.router.state is State.INIT:
            self._call(node, node.router.start(self.now))

    def cut(self, name: str) -> None:
        """Unplug the host's cable: the router sees its interface go down, and nothing is delivered."""
        self._link(name, up=False)

    def restore(self, name: str) -> None:
        self._link(name, up=True)

    def fail_check(self, name: str) -> None:
        self._check(name, ok=False)

    def pass_check(self, name: str) -> None:
        self._check(name, ok=True)

    def set_priority(self, name: str, priority: int) -> None:
        node = self.nodes[name]
        if node.running:
            self._call(node, node.router.set_priority(self.now, priority))

    def partition(self, *groups: Iterable[str]) -> None:
        """Split the segment: hosts in different groups no longer hear each other. Unlisted hosts: group 0."""
        for node in self.nodes.values():
            node.segment = 0
        for number, group in enumerate(groups, start=1):
            for name in group:
                self.nodes[name].segment = number

    def heal(self) -> None:
        self.partition()

    def set_loss(self, probability: float, src: str | None = None, dst: str | None = None) -> None:
        """Lose packets from `src` to `dst` (None: any) with this probability; 0 removes the rule."""
        if probability:
            self._loss[(src, dst)] = probability
        else:
            self._loss.pop((src, dst), None)

    def clear_loss(self) -> None:
        self._loss.clear()

    @property
    def lossy(self) -> bool:
        return bool(self._loss)

    # -- time ------------------------------------------------------------------------------------------------

    def run_until(self, t: float) -> None:
        """Process every delivery and timer due up to and including `t`, then set `now` to `t`."""
        assert t >= self.now, (t, self.now)
        while True:
            delivery = self._queue[0][0] if self._queue else math.inf
            timer, node = self._next_timer()
            nxt = min(delivery, timer)
            if nxt > t:
                break
            self.now = nxt
            if delivery <= timer:
                _, _, dst, received = heapq.heappop(self._queue)
                self._deliver(self.nodes[dst], received)
            else:
                assert node is not None
                self._call(node, node.router.on_timer(self.now))
        self.now = t

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    # -- views -----------------------------------------------------------------------------------------------

    def state(self, name: str) -> State:
        return self.nodes[name].state

    def states(self) -> dict[str, State]:
        return {name: node.state for name, node in self.nodes.items()}

    def masters(self) -> list[str]:
        return [name for name, node in self.nodes.items() if node.state is State.MASTER]

    def components(self) -> list[list[Node]]:
        """The participating hosts, grouped by who can hear whom (one list per segment, in add order)."""
        by_segment: dict[int, list[Node]] = {}
        for node in self.nodes.values():
            if node.participating:
                by_segment.setdefault(node.segment, []).append(node)
        return list(by_segment.values())

    def actions(
        self, node: str | None = None, kind: type[Any] | None = None, since: float = -math.inf
    ) -> list[Traced]:
        """The traced actions, filtered by host, action type and time."""
        return [
            t
            for t in self.trace
            if (node is None or t.node == node)
            and (kind is None or isinstance(t.action, kind))
            and t.time >= since
        ]

    def adverts(self, node: str | None = None, since: float = -math.inf) -> list[tuple[float, str, int]]:
        """(time, sender, priority) of every advert sent."""
        out = []
        for t in self.actions(node, SendAdvert, since):
            assert isinstance(t.action, SendAdvert)
            out.append((t.time, t.node, t.action.advert.priority))
        return out

    def transitions(
        self, node: str | None = None, since: float = -math.inf
    ) -> list[tuple[float, str, State]]:
        """(time, host, new state) of every state change."""
        out = []
        for t in self.actions(node, StateChanged, since):
            assert isinstance(t.action, StateChanged)
            out.append((t.time, t.node, t.action.new))
        return out

    def dual_holding(self, since: float) -> tuple[float, float] | None:
        """The last span in [since, now] during which two hosts that can hear each other held the VIPs.

        Uses the current partition, so call it before changing the topology. Returns (start, end) with
        end = `now` if it is still going on, or None if there was no such span.
        """
        segment = {name: node.segment for name, node in self.nodes.items() if node.running and node.link_up}
        # The holder set in force at `since`, then every change after it.
        log = [(t, h) for t, h in self.holder_log if t <= since][-1:]
        log = [(since, log[0][1] if log else frozenset())] + [(t, h) for t, h in self.holder_log if t > since]
        last: tuple[float, float] | None = None
        began: float | None = None
        for t, holders in log:
            segments = [segment[h] for h in holders if h in segment]
            dual = len(segments) != len(set(segments))
            if dual and began is None:
                began = t
            elif not dual and began is not None:
                last, began = (began, t), None
        if began is not None:
            last = (began, self.now)
        return last

    # -- internals -------------------------------------------------------------------------------------------

    def _next_timer(self) -> tuple[float, Node | None]:
        best, who = math.inf, None
        for node in self.nodes.values():
            deadline = node.router.deadline if node.running else None
            if deadline is not None and deadline < best:
                best, who = deadline, node
        return best, who

    def _link(self, name: str, *, up: bool) -> None:
        node = self.nodes[name]
        if node.link_up == up:
            return
        node.link_up = up
        if node.running:
            self._call(node, node.router.set_fault(self.now, Fault.INTERFACE, not up))

    def _check(self, name: str, *, ok: bool) -> None:
        node = self.nodes[name]
        if node.check_ok == ok:
            return
        node.check_ok = ok
        if node.running:
            self._call(node, node.router.set_fault(self.now, Fault.CHECK, not ok))

    def _reachable(self, src: Node, dst: Node) -> bool:
        return src is not dst and dst.running and dst.link_up and src.segment == dst.segment

    def _broadcast(self, src: Node, received: Received) -> None:
        if not src.link_up:
            return
        for dst in self.nodes.values():
            if not self._reachable(src, dst):
                continue
            p = max(
                self._loss.get(key, 0.0)
                for key in ((src.name, dst.name), (src.name, None), (None, dst.name), (None, None))
            )
            if p and self._rng.random() < p:
                self.lost += 1
                continue
            heapq.heappush(self._queue, (self.now + self.latency, next(self._seq), dst.name, received))

    def _deliver(self, dst: Node, received: Received) -> None:
        src = next(n for n in self.nodes.values() if n.address == received.source)
        if not self._reachable(src, dst):
            self.lost += 1
            return
        self.delivered += 1
        due = dst.router.deadline
        self._call(dst, dst.router.receive(self.now, received), due_now=due == self.now)

    def _set_holder(self, name: str, *, held: bool) -> None:
        before = set(self.holders)
        if held:
            self.holders.add(name)
        else:
            self.holders.discard(name)
        if self.holders != before:
            self.holder_log.append((self.now, frozenset(self.holders)))

    def _call(self, node: Node, actions: list[Action], due_now: bool = False) -> None:
        """Carry out what a router asked for, then check the invariants every caller relies on.

        `due_now`: the router's timer was already due at this instant before the call (an advert delivered
        at the very time of its expiry; deliveries go first at a tie). It may still be, since `on_timer`
        runs next at the same `now`; a deadline the call itself set must lie in the future."""
        for action in actions:
            self.trace.append(Traced(self.now, node.name, action))
            if isinstance(action, SendAdvert):
                group = multicast_group(node.config.family)
                received = Received(action.advert, node.address, group, VRRP_TTL)
                self._broadcast(node, received)
            elif isinstance(action, AddVips):
                assert node.name not in self.holders, f"{node.name}: AddVips while holding the VIPs"
                self._set_holder(node.name, held=True)
            elif isinstance(action, RemoveVips):
                assert node.name in self.holders, f"{node.name}: RemoveVips while not holding the VIPs"
                self._set_holder(node.name, held=False)
            elif isinstance(action, Dropped):
                raise AssertionError(f"{node.name} dropped a LAN advert: {action}")
        router = node.router
        deadline = router.deadline
        assert deadline is None or deadline > self.now or (due_now and deadline == self.now), (
            node.name,
            deadline,
            self.now,
        )
        timed = router.state in (State.MASTER, State.BACKUP)
        assert timed == (deadline is not None), (node.name, router.state, deadline)
        assert (node.name in self.holders) == (router.state is State.MASTER), (node.name, router.state)
