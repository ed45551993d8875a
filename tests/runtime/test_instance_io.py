"""`vrrpd.runtime.instance.Instance` against a fake transport: the advert sent from the callback, and its
timer.

No namespaces: the transport records what would go on the wire. Every wait is bounded
(`tests.support.aio.run`).
"""

from __future__ import annotations

import asyncio
import errno
import itertools
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any

from tests.support.aio import run
from tests.support.fakes import instance_config
from vrrpd.protocol import fsm
from vrrpd.protocol.packet import VRRP_MULTICAST, Advertisement, Received
from vrrpd.runtime.instance import PREWAKE, Instance

PRIMARY = IPv4Address("192.0.2.11")
PEERS = [IPv4Address("192.0.2.12"), IPv4Address("192.0.2.13"), IPv4Address("192.0.2.14")]


class Transport:
    """Records sends; `now_errors` makes the next non-blocking sends fail with these errors, in order."""

    ifindex = 1

    def __init__(self) -> None:
        self.sent: list[tuple[str, IPv4Address | IPv6Address]] = []  # ("now" | "queued", destination)
        self.now_errors: list[OSError] = []

    async def send_vrrp(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        self.sent.append(("queued", dst))

    def send_vrrp_now(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        if self.now_errors:
            raise self.now_errors.pop(0)
        self.sent.append(("now", dst))

    def send_garp(self, vip: IPv4Address | IPv6Address, count: int) -> None:
        pass

    async def add_vip(self, vip: IPv4Interface | IPv6Interface, label: str | None) -> bool:
        return True

    async def remove_vip(self, vip: IPv4Interface | IPv6Interface) -> bool:
        return True

    async def add_vips(
        self, vips: Sequence[IPv4Interface | IPv6Interface]
    ) -> dict[IPv4Interface | IPv6Interface, int]:
        return dict.fromkeys(vips, 0)

    async def remove_vips(
        self, vips: Sequence[IPv4Interface | IPv6Interface]
    ) -> dict[IPv4Interface | IPv6Interface, int]:
        return dict.fromkeys(vips, errno.EADDRNOTAVAIL)


def _instance(transport: Transport, **keys: Any) -> Instance:
    return Instance(instance_config(**keys), PRIMARY, transport, lambda *a: None, asyncio.get_running_loop())


def test_the_owner_s_first_advert_leaves_from_the_callback_before_the_worker_runs() -> None:
    async def body() -> None:
        t = Transport()
        inst = _instance(t)  # priority 255: MASTER at start
        inst.start()
        assert t.sent == [("now", VRRP_MULTICAST)]  # before any await: no hop through the worker
        assert inst.counters.adverts_sent == 1
        await inst.drain(1.0)
        assert inst.counters.transitions == 1  # StateChanged still carried out, after the advert
        await inst.stop(1.0)
        assert t.sent[-1] == ("now", VRRP_MULTICAST)  # the priority-0 advert too

    run(body())


def test_a_full_buffer_hands_the_remaining_destinations_to_the_worker() -> None:
    async def body() -> None:
        t = Transport()
        t.now_errors = [OSError(errno.ENETUNREACH, "unreachable"), BlockingIOError()]
        inst = _instance(t, unicast_peer=[str(p) for p in PEERS])
        inst.start()
        # First peer: a real error (counted); second: buffer full → it and the third go through the queue.
        assert t.sent == []
        assert inst.counters.send_errors == 1
        await inst.drain(1.0)
        assert t.sent == [("queued", PEERS[1]), ("queued", PEERS[2])]
        assert inst.counters.adverts_sent == 2
        # While an advert waits for the worker, a newer one must not overtake it.
        t.sent.clear()
        t.now_errors = [BlockingIOError()]
        inst._feed([fsm.SendAdvert(_advert(200))])
        inst._feed([fsm.SendAdvert(_advert(201))])
        assert t.sent == []  # the first one blocked; the second is queued behind it
        await inst.drain(1.0)
        assert t.sent == [("queued", p) for p in PEERS] * 2
        assert inst._adverts_queued == 0
        await inst.stop(1.0)

    run(body())


def _advert(priority: int) -> Advertisement:
    return Advertisement(vrid=51, priority=priority, addresses=(IPv4Address("192.0.2.100"),))


def test_a_backup_keeps_its_timer_until_an_advert_comes_close_to_it() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        t = Transport()
        inst = _instance(t, priority=100)
        inst.start()
        assert inst.router.state is fsm.State.BACKUP
        master = Received(_advert(150), PEERS[0], VRRP_MULTICAST, 255)
        timer = inst._timer
        assert isinstance(timer, asyncio.TimerHandle)  # a backup's own timer (`Ticker` is for masters)
        inst.receive(master)
        assert inst._timer is timer  # the deadline moved on; the earlier timer is kept
        # An advert that arrives within one interval of the armed timer re-arms it for the real deadline.
        deadline = inst.router.deadline
        assert deadline is not None
        real_time = loop.time
        loop.time = lambda: timer.when() - 0.5  # type: ignore[method-assign]
        try:
            inst.receive(master)
        finally:
            loop.time = real_time  # type: ignore[method-assign]
        assert inst._timer is not timer and timer.cancelled()
        assert inst._timer is not None
        assert inst.router.deadline is not None
        assert inst._timer.when() == inst.router.deadline - PREWAKE  # a backup still pre-wakes
        await inst.stop(1.0)

    run(body())


def test_a_master_arms_its_advert_timer_without_a_prewake() -> None:
    async def body() -> None:
        t = Transport()
        inst = _instance(t)  # the owner: MASTER
        inst.start()
        assert inst._timer is not None
        assert inst._timer.when() == inst.router.deadline  # one wake-up per advert, not two
        await inst.stop(1.0)

    run(body())


class Refusing(Transport):
    """Every VIP add refused (EPERM), as without CAP_NET_ADMIN, while `refuse` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse = True
        self.installed: set[IPv4Interface | IPv6Interface] = set()

    async def add_vips(
        self, vips: Sequence[IPv4Interface | IPv6Interface]
    ) -> dict[IPv4Interface | IPv6Interface, int]:
        if self.refuse:
            return dict.fromkeys(vips, errno.EPERM)
        self.installed.update(vips)
        return dict.fromkeys(vips, 0)

    async def remove_vips(
        self, vips: Sequence[IPv4Interface | IPv6Interface]
    ) -> dict[IPv4Interface | IPv6Interface, int]:
        gone = {v: 0 if v in self.installed else errno.EADDRNOTAVAIL for v in vips}
        self.installed.difference_update(vips)
        return gone


def test_one_of_our_vips_added_while_not_master_is_removed() -> None:
    async def body() -> None:
        t = Refusing()
        t.refuse = False
        inst = _instance(t, priority=100)
        inst.start()
        vip = IPv4Interface("192.0.2.100/24")
        t.installed.add(vip)  # added by hand on this backup
        inst.vip_added(vip)
        inst.vip_added(IPv4Interface("192.0.2.7/24"))  # not ours: left alone
        inst.vip_added(IPv4Interface(f"{PRIMARY}/24"))  # the interface's own address: left alone
        await inst.drain(1.0)
        assert t.installed == set() and inst.counters.vips_unexpected_removed == 1
        await inst.stop(1.0)

    run(body())


class GarpTimes(Transport):
    """Records when each gratuitous ARP left."""

    def __init__(self) -> None:
        super().__init__()
        self.garp_at: list[float] = []

    def send_garp(self, vip: IPv4Address | IPv6Address, count: int) -> None:
        self.garp_at.append(asyncio.get_running_loop().time())


def test_garp_interval_paces_the_gratuitous_arps() -> None:
    """keepalived's vrrp_garp_interval: the owner's start-up burst (5 per VIP) spaced by the interval."""

    async def body(interval: float) -> list[float]:
        t = GarpTimes()
        inst = _instance(t, garp_master_delay=0.0)  # priority 255: MASTER at start, one burst
        inst.garp_interval = interval
        inst.start()
        await inst.drain(5.0)
        await inst.stop(1.0)
        return t.garp_at

    paced = run(body(0.02))
    gaps = [b - a for a, b in itertools.pairwise(paced)]
    assert len(paced) >= 5 and min(gaps) >= 0.019
    unpaced = run(body(0.0))
    assert unpaced[-1] - unpaced[0] < 0.019 * (len(unpaced) - 1)


def test_gna_interval_paces_an_ipv6_instance_s_neighbor_advertisements() -> None:
    """keepalived's vrrp_gna_interval paces the unsolicited NAs of IPv6 VIPs; vrrp_garp_interval does not."""

    async def body(garp: float, gna: float) -> list[float]:
        t = GarpTimes()
        cfg = instance_config(virtual_ipaddress=["2001:db8::100/64"], version=3, garp_master_delay=0.0)
        inst = Instance(cfg, IPv6Address("fe80::11"), t, lambda *a: None, asyncio.get_running_loop())
        inst.garp_interval, inst.gna_interval = garp, gna
        inst.start()
        await inst.drain(5.0)
        await inst.stop(1.0)
        return t.garp_at

    paced = run(body(0.0, 0.02))
    gaps = [b - a for a, b in itertools.pairwise(paced)]
    assert len(paced) >= 5 and min(gaps) >= 0.019
    unpaced = run(body(0.02, 0.0))  # garp_interval is for ARP only
    assert len(unpaced) >= 5 and unpaced[-1] - unpaced[0] < 0.019 * (len(unpaced) - 1)


def _state(inst: Instance) -> fsm.State:
    """Read through a call, so that mypy does not narrow the state between two asserts."""
    return inst.router.state


def test_a_master_that_cannot_install_its_vips_goes_fault_then_retries(monkeypatch: Any) -> None:
    """The router's VIP_FAULT_ATTEMPTS refusals: FAULT with a priority-0 advert; after the delay a normal
    start again; once adds work the VIPs are held and the fault is gone."""
    monkeypatch.setattr(fsm, "VIP_FAULT_ATTEMPTS", 2)
    monkeypatch.setattr(fsm, "VIP_FAULT_RETRY", 0.5)

    async def until(predicate: Any, seconds: float) -> bool:
        for _ in range(int(seconds / 0.01)):
            if predicate():
                return True
            await asyncio.sleep(0.01)
        return bool(predicate())

    async def body() -> None:
        t = Refusing()
        inst = _instance(t)  # priority 255: MASTER at once, so the retries run without a backup's wait
        inst.start()
        # First attempt at once, the retry one advert_int later: FAULT, with a priority-0 advert.
        assert await until(lambda: _state(inst) is fsm.State.FAULT, 2.0)
        assert fsm.Fault.VIPS in inst.router.faults and inst.counters.netlink_errors == 2
        t.refuse = False
        # The delay passes: §6.4.1 Startup again, MASTER (owner), and now the VIPs are installed.
        assert await until(lambda: inst.vips_held == inst.config.vips, 2.0)
        assert _state(inst) is fsm.State.MASTER and inst.router.faults == set()
        await inst.stop(1.0)

    run(body())


def test_a_check_that_has_not_run_yet_holds_the_router_in_init() -> None:
    async def body() -> None:
        notes: list[tuple[str, str, int]] = []
        config = instance_config(priority=100, check={"script": "/bin/true", "weight": 0})
        inst = Instance(config, PRIMARY, Transport(), lambda *a: notes.append(a), asyncio.get_running_loop())
        inst.start()
        await inst.drain(1.0)
        assert _state(inst) is fsm.State.INIT and notes == []  # no FAULT for "not checked yet"
        inst.health_changed(True, "script exit 0")
        await inst.drain(1.0)
        assert _state(inst) is fsm.State.BACKUP and [n[1] for n in notes] == ["BACKUP"]
        await inst.stop(1.0)
        # A first verdict of "down" is a real failure: FAULT straight from INIT, once.
        notes.clear()
        inst = Instance(config, PRIMARY, Transport(), lambda *a: notes.append(a), asyncio.get_running_loop())
        inst.start()
        inst.health_changed(False, "script exit 1")
        await inst.drain(1.0)
        assert _state(inst) is fsm.State.FAULT and [n[1] for n in notes] == ["FAULT"]
        await inst.stop(1.0)

    run(body())


class _Recorder:
    """One sequence of everything a takeover does, in the order it happened."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def info(self, event: str, **fields: object) -> None:  # stands in for the module's logger
        self.events.append(f"log {event}")

    warning = error = info


class _OrderedTransport(Transport):
    def __init__(self, seen: list[str]) -> None:
        super().__init__()
        self.seen = seen

    def send_vrrp_now(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        self.seen.append("advert")

    def send_garp(self, vip: IPv4Address | IPv6Address, count: int) -> None:
        self.seen.append("garp")

    async def add_vips(
        self, vips: Sequence[IPv4Interface | IPv6Interface]
    ) -> dict[IPv4Interface | IPv6Interface, int]:
        self.seen.append("add_vips")
        return dict.fromkeys(vips, 0)


def test_a_takeover_sends_and_installs_before_logging_notifying_and_counting(monkeypatch: Any) -> None:
    """Becoming MASTER: the advert, the VIPs and the GARPs come before the state_change log line, the
    notify programs and the status counters (none of which another router or a client waits for)."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        recorder = _Recorder()
        monkeypatch.setattr("vrrpd.runtime.instance.log", recorder)
        seen = recorder.events
        t = _OrderedTransport(seen)
        inst = Instance(
            instance_config(priority=100),
            PRIMARY,
            t,
            lambda name, state, priority: seen.append(f"notify {state}"),
            loop,
        )
        inst.start()
        await inst.drain(1.0)
        assert inst.router.state is fsm.State.BACKUP
        seen.clear()
        transitions = inst.counters.transitions
        deadline = inst.router.deadline
        assert deadline is not None
        counted: list[int] = []
        original = Instance._state_changed

        def state_changed(self: Instance, change: fsm.StateChanged) -> None:
            counted.append(len(seen))  # where in the sequence status and metrics learn of it
            original(self, change)

        monkeypatch.setattr(Instance, "_state_changed", state_changed)
        real_time = loop.time
        loop.time = lambda: deadline  # type: ignore[method-assign]
        try:
            inst._on_timer()  # the Master_Down_Timer
        finally:
            loop.time = real_time  # type: ignore[method-assign]
        await inst.drain(1.0)
        assert _state(inst) is fsm.State.MASTER
        assert seen[0] == "advert"
        first_log = next(i for i, e in enumerate(seen) if e.startswith("log "))
        notify = seen.index("notify MASTER")
        last_wire = max(seen.index("add_vips"), *(i for i, e in enumerate(seen) if e == "garp"))
        assert last_wire < first_log and last_wire < notify and counted == [last_wire + 1]
        assert inst.counters.transitions == transitions + 1
        await inst.stop(1.0)

    run(body())
