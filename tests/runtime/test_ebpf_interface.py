"""The interface's side of the eBPF swallower, with a fake map: arming, taking, counting, disarming.

The kernel's side (which datagrams the program drops) is tests/kernel/test_bpf_netns.py; real daemons are
tests/runtime/test_ebpf_netns.py.
"""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address

from tests.support.aio import run
from tests.support.fakes import FakeTransport, instance_config
from tests.support.hostile import vrrp_frame
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


def test_one_backups_prewake_catches_them_all_up_and_moves_their_timers_past_it() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        iface = Interface(LinkInfo(2, "eth0", "02:00:00:00:00:01", True, ME), None)  # type: ignore[arg-type]
        swallower = FakeSwallower()
        iface.swallowers = {4: swallower}  # type: ignore[dict-item]
        insts = {}
        for vrid in (51, 52, 53):
            inst = Instance(
                instance_config(priority=100, virtual_router_id=vrid),
                ME,
                FakeTransport(),
                lambda *a: None,
                loop,
            )
            inst.reader = iface
            iface.routers[4][vrid] = inst
            inst.start()
            iface.datagram(vrrp_frame(str(MASTER), priority=150, vrid=vrid)[14:], loop.time())
            insts[vrid] = inst
        assert set(swallower.armed) == {51, 52, 53}
        timers: dict[int, asyncio.TimerHandle] = {}
        for vrid, inst in insts.items():
            assert isinstance(inst._timer, asyncio.TimerHandle)  # a backup's own timer
            timers[vrid] = inst._timer

        await asyncio.sleep(0.05)
        now = loop.time()
        swallower.swallow(51, 2, now)
        swallower.swallow(52, 2, now)  # 53's master went silent: nothing swallowed for it
        insts[51]._prewake()  # 51's pre-wake (the earliest): a sweep of the interface
        for vrid in (51, 52):
            inst = insts[vrid]
            assert inst.counters.adverts_received == 3
            deadline = inst.router.deadline
            assert deadline is not None and deadline >= now + inst.router.master_down_interval - 1e-6
            timer = inst._timer
            assert timer is not None and timer.when() == deadline - PREWAKE  # moved on, not kept early
        assert timers[52].cancelled()
        assert insts[53]._timer is timers[53] and not timers[53].cancelled()  # keeps its own: a takeover
        assert insts[53].counters.adverts_received == 1
        for inst in insts.values():
            await inst.stop(1.0)
        iface.close()

    run(body())
