"""The instance adapter for VRRPv3 routers and its backup deadline timing, without namespaces.

- The last FINE seconds before a backup's deadline are slept, not left to the event loop (whose epoll
  timeout is rounded up to whole milliseconds): the router's timer runs at the deadline, not up to 1 ms after.
  The sleep ends POLL before the deadline and the rest is read off the clock (a sleep wakes tens of µs late),
  and the takeover's advert is encoded before the deadline.
- An IPv6 router ignores the interface's IPv4 address coming and going (it advertises from the link-local
  address), and puts back an IPv6 VIP deleted while it is master.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from ipaddress import IPv4Address, IPv6Address, IPv6Interface
from types import SimpleNamespace
from typing import Any

from tests.support.fakes import FakeTransport, instance_config
from vrrpd.protocol import fsm
from vrrpd.protocol.packet import VRRP_MULTICAST, Advertisement
from vrrpd.runtime.instance import FINE, POLL, PREWAKE, Instance

LINK_LOCAL = IPv6Address("fe80::ff:fe00:1")
VIP6 = IPv6Interface("2001:db8::100/64")


def _instance(
    loop: asyncio.AbstractEventLoop, family: int = 4, **keys: Any
) -> tuple[Instance, FakeTransport]:
    transport = FakeTransport()
    if family == 6:
        keys = {"virtual_ipaddress": [str(VIP6)], "version": 3, "advert_int": 0.1} | keys
    inst = Instance(
        instance_config(**keys),
        LINK_LOCAL if family == 6 else IPv4Address("192.0.2.11"),
        transport,
        lambda *a: None,
        loop,
    )
    return inst, transport


class _Router:
    """Stands in for the router: a backup with a fixed deadline, recording when its timer ran."""

    def __init__(self, deadline: float) -> None:
        self.deadline: float | None = deadline
        self.state = fsm.State.BACKUP
        self.fired: list[float] = []

        self.asked: list[int | None] = []  # `advertisement` queries
        self.config = SimpleNamespace(family=4)  # what the instance reads of it: the VRRP group's family

    def on_timer(self, now: float) -> list[fsm.Action]:
        self.fired.append(now)
        self.deadline = None
        return []

    def advertisement(self, priority: int | None = None) -> Advertisement:
        self.asked.append(priority)
        return Advertisement(vrid=51, priority=100, addresses=(IPv4Address("192.0.2.100"),))


def test_a_backup_deadline_within_prewake_is_armed_fine_before_it() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        inst, _ = _instance(loop, priority=100)
        deadline = loop.time() + PREWAKE
        inst.router = _Router(deadline)  # type: ignore[assignment]
        inst._rearm()
        assert inst._timer is not None
        assert abs(inst._timer.when() - (deadline - FINE)) < 1e-9
        inst._cancel_timer()

    asyncio.run(body())


def test_finish_sleeps_to_the_deadline_then_runs_the_timer() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        inst, _ = _instance(loop, priority=100)
        deadline = loop.time() + FINE / 2
        router = _Router(deadline)
        inst.router = router  # type: ignore[assignment]
        inst._finish()
        # Not a loop iteration later, and not before the deadline: at it.
        assert len(router.fired) == 1
        assert router.fired[0] >= deadline
        inst._cancel_timer()

    asyncio.run(body())


def test_finish_sleeps_until_poll_before_the_deadline_and_encodes_the_takeover_advert(
    monkeypatch: Any,
) -> None:
    """The sleep ends POLL before the deadline (it would wake late); the clock is read up to the deadline;
    the advert the takeover sends is encoded before it, so the takeover finds it ready."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        inst, _ = _instance(loop, priority=100)
        start = loop.time()
        deadline = start + FINE / 2
        router = _Router(deadline)
        inst.router = router  # type: ignore[assignment]
        slept: list[float] = []
        monkeypatch.setattr(time, "sleep", slept.append)  # the clock alone reaches the deadline
        inst._finish()
        assert len(slept) == 1 and start + slept[0] <= deadline - POLL
        assert len(router.fired) == 1 and router.fired[0] >= deadline
        assert router.asked == [None]  # the advert at the router's own priority
        advert = router.advertisement()
        assert inst._encoded_for[VRRP_MULTICAST][0] == advert
        inst._cancel_timer()

    asyncio.run(body())


def test_finish_does_not_poll_outside_backup(monkeypatch: Any) -> None:
    """A FAULT's timer sends nothing: a plain sleep, no spinning, no advert encoded."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        inst, _ = _instance(loop, priority=100)
        deadline = loop.time() + FINE / 2
        router = _Router(deadline)
        router.state = fsm.State.FAULT
        inst.router = router  # type: ignore[assignment]
        slept: list[float] = []
        monkeypatch.setattr(time, "sleep", slept.append)
        real_time = loop.time
        clock = iter(itertools.count())

        def fake_time() -> float:  # the clock jumps to the deadline after the sleep: no spin needed
            return real_time() if next(clock) < 2 else deadline

        monkeypatch.setattr(loop, "time", fake_time)
        inst._finish()
        assert len(slept) == 1 and slept[0] > deadline - real_time() - 1e-3
        assert router.fired == [deadline] and router.asked == []
        inst._cancel_timer()

    asyncio.run(body())


class _Reader:
    """The interface's receive side: `drain` delivers what was queued, here an advert moving the deadline."""

    def __init__(self, router: _Router, moves_to: float | None) -> None:
        self.router, self.moves_to, self.drains = router, moves_to, 0

    def drain(self) -> None:
        self.drains += 1
        if self.moves_to is not None:
            self.router.deadline = self.moves_to

    def state_changed(self) -> None:
        pass

    def catch_up(self, instance: object) -> None:
        pass

    def defer(self, instance: object, deadline: float) -> bool:
        return False

    def release(self, instance: object) -> None:
        pass


def test_finish_reads_the_queue_before_sleeping_and_rearms_when_an_advert_moved_the_deadline(
    monkeypatch: Any,
) -> None:
    """What is queued is read before the last sleep, not all at the deadline (a lazy reader may hold a
    period of adverts); an advert among it that moves Master_Down on cancels the sleep and re-arms."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        inst, _ = _instance(loop, priority=100)
        router = _Router(loop.time() + FINE / 2)
        inst.router = router  # type: ignore[assignment]
        reader = inst.reader = _Reader(router, moves_to=loop.time() + 1.0)
        slept: list[float] = []
        monkeypatch.setattr(time, "sleep", slept.append)
        inst._finish()
        assert reader.drains == 1 and not slept and not router.fired
        assert inst._timer is not None and inst._armed_for == router.deadline
        inst._cancel_timer()
        # Nothing moved it: read before the sleep, and once more at the deadline (`_on_timer`).
        router.deadline = loop.time() + FINE / 2
        reader.moves_to = None
        monkeypatch.undo()
        inst._finish()
        assert reader.drains == 3 and len(router.fired) == 1
        inst._cancel_timer()

    asyncio.run(body())


def test_finish_rearms_a_deadline_that_moved_later(monkeypatch: Any) -> None:
    """An advert read meanwhile moved Master_Down on: no sleep, no timer run, a new timer instead."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        inst, _ = _instance(loop, priority=100)
        router = _Router(loop.time() + 1.0)
        inst.router = router  # type: ignore[assignment]
        slept: list[float] = []
        monkeypatch.setattr(time, "sleep", slept.append)
        inst._finish()
        assert not slept and not router.fired
        assert inst._timer is not None and inst._armed_for == router.deadline
        inst._cancel_timer()

    asyncio.run(body())


def test_ipv6_router_ignores_the_ipv4_address_of_its_interface() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        inst, _ = _instance(loop, family=6, priority=100)
        inst.start()
        await inst.drain(1.0)
        assert inst.router.state is fsm.State.BACKUP
        inst.address_changed(False)  # the interface lost its IPv4 address
        await inst.drain(1.0)
        assert inst.router.state is fsm.State.BACKUP
        assert fsm.Fault.NO_ADDRESS not in inst.router.faults
        await inst.stop(1.0)

    asyncio.run(body())


def test_ipv4_router_still_faults_without_its_ipv4_address() -> None:
    """The other side of the rule: an IPv4 router has no source left, so FAULT."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        inst, _ = _instance(loop, priority=100)
        inst.start()
        await inst.drain(1.0)
        inst.address_changed(False)
        await inst.drain(1.0)
        assert inst.router.state is fsm.State.FAULT
        await inst.stop(1.0)

    asyncio.run(body())


def test_ipv6_master_puts_back_a_deleted_vip() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        inst, transport = _instance(loop, family=6, priority=255)  # the owner: MASTER at once
        inst.start()
        await inst.drain(1.0)
        assert inst.router.state is fsm.State.MASTER
        assert VIP6 in transport.addresses
        transport.addresses.discard(VIP6)  # someone ran `ip -6 addr del`
        garps = len(transport.garps)
        inst.vip_removed(VIP6)
        await inst.drain(1.0)
        assert VIP6 in transport.addresses
        assert inst.counters.vips_restored == 1
        # Announced again with an unsolicited NA (the transport's send_garp for an IPv6 address).
        assert (VIP6.ip, 1) in transport.garps[garps:]
        await inst.stop(1.0)

    asyncio.run(body())
