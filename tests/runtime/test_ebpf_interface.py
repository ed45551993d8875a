"""The interface's side of the eBPF swallower, with a fake map: arming, taking, counting, disarming.

The kernel's side (which datagrams the program drops) is tests/kernel/test_bpf_netns.py; real daemons are
tests/runtime/test_ebpf_netns.py.
"""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address

from tests.support.aio import run
from tests.support.fakes import FakeTransport, instance_config
from tests.support.hostile import vrrp3_frame, vrrp_frame
from vrrpd.kernel.bpf import Steady
from vrrpd.kernel.netlink import LinkInfo
from vrrpd.protocol import fsm
from vrrpd.runtime.instance import PREWAKE, Instance
from vrrpd.runtime.interface import Interface

ME = IPv4Address("192.0.2.11")
MASTER = IPv4Address("192.0.2.12")


class FakeSwallower:
    """The map as the interface sees it: armed entries, and the kernel's count and last arrival per VRID."""

    def __init__(self) -> None:
        self.armed: dict[int, Steady] = {}
        self.counts: dict[int, int] = {}
        self.last_ns: dict[int, int] = {}

    def arm(self, vrid: int, steady: Steady) -> None:
        self.armed[vrid] = steady

    def disarm(self, vrid: int) -> None:
        self.armed.pop(vrid, None)

    def read(self, vrid: int) -> tuple[int, int]:
        return self.counts.get(vrid, 0), self.last_ns.get(vrid, 0)

    def swallow(self, vrid: int, n: int, at: float) -> None:
        self.counts[vrid] = self.counts.get(vrid, 0) + n
        self.last_ns[vrid] = int(at * 1e9)

    def close(self) -> None:
        pass


def _datagram(priority: int = 150) -> bytes:
    return vrrp_frame(str(MASTER), priority=priority)[14:]  # the IPv4 datagram, as the raw socket reads it


def test_swallowed_repeats_are_counted_taken_before_the_deadline_and_disarmed_on_leaving_backup() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        iface = Interface(LinkInfo(2, "eth0", "02:00:00:00:00:01", True, ME), None)  # type: ignore[arg-type]
        swallower = FakeSwallower()
        iface.swallowers = {4: swallower}  # type: ignore[dict-item]
        inst = Instance(instance_config(priority=100), ME, FakeTransport(), lambda *a: None, loop)
        inst.reader = iface
        iface.routers[4][51] = inst
        inst.start()
        assert inst.state is fsm.State.BACKUP
        iface.datagram(_datagram(), loop.time())
        # Accepted without action: armed with what its repeats look like.
        assert swallower.armed == {51: Steady.of(_datagram())}
        assert inst.counters.adverts_received == 1
        first = inst.router.deadline
        assert first is not None

        await asyncio.sleep(0.02)
        swallower.swallow(51, 3, loop.time())
        iface.tally()  # status: counted, not yet taken
        assert inst.counters.adverts_received == 4 and inst.router.deadline == first
        iface.catch_up(inst)  # the timer: taken at the last one's arrival, not counted twice
        assert inst.counters.adverts_received == 4
        assert inst.router.deadline is not None and inst.router.deadline > first + 0.015
        iface.catch_up(inst)  # nothing new: nothing changes
        assert inst.counters.adverts_received == 4

        # Another advert of the VRID (the master leaving): the repeats before it first, then it; disarmed.
        swallower.swallow(51, 1, loop.time())
        iface.datagram(_datagram(priority=0), loop.time())
        assert inst.counters.adverts_received == 6
        assert swallower.armed == {}
        assert inst.router.deadline is not None and inst.router.deadline < loop.time() + 1  # Skew_Time

        # Armed again by the master's next advert; leaving BACKUP disarms, counting what was swallowed.
        iface.datagram(_datagram(), loop.time())
        assert 51 in swallower.armed
        swallower.swallow(51, 2, loop.time())
        await inst.stop(1.0)
        assert swallower.armed == {} and inst.counters.adverts_received == 9
        iface.close()

    run(body())


def test_one_timer_covers_the_swallowed_backups_and_a_silent_masters_backup_takes_over_on_time() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        iface = Interface(LinkInfo(2, "eth0", "02:00:00:00:00:01", True, ME), None)  # type: ignore[arg-type]
        swallower = FakeSwallower()
        iface.swallowers = {4: swallower}  # type: ignore[dict-item]
        reading = loop.create_task(iface.receive_loop())  # no sockets: only the reader's timers
        await asyncio.sleep(0)
        insts = {}
        for vrid in (51, 52, 53):
            # VRRPv3 at 0.1 s: a Master_Down_Interval of 0.361 s, so the test takes a fraction of a second.
            config = instance_config(priority=100, virtual_router_id=vrid, version=3, advert_int=0.1)
            inst = Instance(config, ME, FakeTransport(), lambda *a: None, loop)
            inst.reader = iface
            iface.routers[4][vrid] = inst
            inst.start()
            advert = vrrp3_frame(str(MASTER), priority=150, vrid=vrid, centiseconds=10)[14:]
            iface.datagram(advert, loop.time())
            insts[vrid] = inst
        assert set(swallower.armed) == {51, 52, 53}
        deadlines = {vrid: inst.router.deadline for vrid, inst in insts.items()}
        assert all(inst._timer is None for inst in insts.values())  # no backup's own timer: the interface's
        assert iface._sweeps[4].when() == min(d for d in deadlines.values() if d is not None) - PREWAKE
        down = deadlines[53]
        assert down is not None

        # 51's and 52's masters go on (the kernel swallows their adverts); 53's went silent.
        sweeps = 0
        wrapped = iface._sweep

        def counting(family: int) -> None:
            nonlocal sweeps
            sweeps += 1
            wrapped(family)

        iface._sweep = counting  # type: ignore[method-assign]
        iface._sweeps[4].cancel()
        iface._sweeps[4] = loop.call_at(iface._sweeps[4].when(), counting, 4)
        took_over = None
        for _ in range(400):  # bounded: 0.8 s at most
            await asyncio.sleep(0.002)
            now = loop.time()
            if now - swallower.last_ns.get(51, 0) * 1e-9 >= 0.1:
                swallower.swallow(51, 1, now)
                swallower.swallow(52, 1, now)
            if took_over is None and insts[53].state is fsm.State.MASTER:
                took_over = now
            if now > down + 0.4:
                break
        assert took_over is not None and down <= took_over < down + 0.05  # §6.4.2, at its deadline
        for vrid in (51, 52):
            inst = insts[vrid]
            assert inst.state is fsm.State.BACKUP and inst._timer is None
            # Their routers were not woken per repeat: the deadline moves only when the repeats are taken.
            assert inst.router.deadline == deadlines[vrid]
            iface.catch_up(inst)
            deadline = inst.router.deadline
            assert deadline is not None and deadline > loop.time() + 0.2
        assert 2 <= sweeps <= 6  # about one per Master_Down_Interval less an interval, not one per backup
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        for vrid in (51, 52):  # the receive loop ended: each backup has its own timer again
            timer = insts[vrid]._timer
            assert isinstance(timer, asyncio.TimerHandle) and not timer.cancelled()
        for inst in insts.values():
            await inst.stop(1.0)
        iface.close()

    run(body())


def test_an_input_that_makes_the_backup_preempt_first_takes_the_swallowed_repeats() -> None:
    """A tracked script lifts the backup above its master: from then on the master's adverts no longer move
    the Master_Down_Timer (§6.4.2, preempt). The repeats swallowed before the change did, so the router takes
    them first: the takeover comes Master_Down_Interval after the last one, not at the deadline its router had
    when the interface's timer took over."""

    async def body() -> None:
        from msgspec import convert

        from vrrpd.config.schema import VrrpScriptConfig

        loop = asyncio.get_running_loop()
        iface = Interface(LinkInfo(2, "eth0", "02:00:00:00:00:01", True, ME), None)  # type: ignore[arg-type]
        swallower = FakeSwallower()
        iface.swallowers = {4: swallower}  # type: ignore[dict-item]
        reading = loop.create_task(iface.receive_loop())
        await asyncio.sleep(0)
        config = instance_config(priority=100, version=3, advert_int=0.1, track_script=["chk"])
        scripts = {"chk": convert({"name": "chk", "script": ["/bin/true"], "weight": 100}, VrrpScriptConfig)}
        inst = Instance(config, ME, FakeTransport(), lambda *a: None, loop, scripts=scripts)
        inst.reader = iface
        iface.routers[4][51] = inst
        inst.start()
        iface.datagram(vrrp3_frame(str(MASTER), priority=150, centiseconds=10)[14:], loop.time())
        stale = inst.router.deadline
        assert stale is not None and inst._timer is None  # deferred to the interface
        last = 0.0
        for _ in range(4):  # the master goes on for 0.4 s, its repeats swallowed
            await asyncio.sleep(0.1)
            last = loop.time()
            swallower.swallow(51, 1, last)
        before = inst.router.master_down_interval
        inst.tracked_changed("chk", True)  # 100 + 100 > 150: we would now preempt
        assert inst.router.priority == 200 and inst.state is fsm.State.BACKUP
        deadline = inst.router.deadline
        assert deadline is not None and deadline > stale + 0.3
        assert abs(deadline - (last + before)) < 1e-3
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        await inst.stop(1.0)
        iface.close()

    run(body())


def test_adverts_a_backup_would_preempt_are_never_swallowed() -> None:
    """preempt_delay: a higher-priority backup accepts a lower-priority master's adverts for a while, then
    discards them. Taking only the last of several swallowed repeats would lose the ones inside the hold, so
    only adverts the router takes as a plain reset (`Router.takes_repeat`) arm the swallower."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        iface = Interface(LinkInfo(2, "eth0", "02:00:00:00:00:01", True, ME), None)  # type: ignore[arg-type]
        swallower = FakeSwallower()
        iface.swallowers = {4: swallower}  # type: ignore[dict-item]
        inst = Instance(
            instance_config(priority=200, preempt_delay=3), ME, FakeTransport(), lambda *a: None, loop
        )
        inst.reader = iface
        iface.routers[4][51] = inst
        inst.start()
        iface.datagram(_datagram(priority=150), loop.time())  # held: accepted without action
        assert inst.state is fsm.State.BACKUP and inst.counters.adverts_received == 1
        assert swallower.armed == {}
        iface.datagram(_datagram(priority=250), loop.time())  # a higher-priority master: a plain reset
        assert 51 in swallower.armed
        await inst.stop(1.0)
        iface.close()

    run(body())
