"""A backup read lazily (`kernel.vrrp_socket` `set_lazy`, `runtime.interface` `_update_mode`), without
namespaces: what the router and the instance do so that reading late is never acting wrongly.

- `fsm.Router.adverts_lost` (virtual time): after the receive queue overflowed, the Master_Down_Timer runs
  at least a Master_Down_Interval from the overflow — never a takeover on adverts that were not read.
- `Instance._on_timer` drains the interface before acting: an advert queued but unread moves the deadline,
  and there is no takeover.
- State changes reach the interface, which reprograms its doorbell at once (a steady advert: batched).
- The interface's reading mode: lazy with a doorbell (masters included), per datagram without one and for
  LAZY_BACKOFF after a drain that saw drops, which every instance hears (`adverts_lost`).
"""

from __future__ import annotations

import asyncio
import types
from ipaddress import IPv4Address, IPv4Interface
from typing import cast

import pytest

from tests.support.aio import run
from tests.support.fakes import FakeTransport, instance_config
from tests.support.hostile import vrrp_frame
from vrrpd.kernel.bpf import Steady
from vrrpd.kernel.netlink import LinkInfo
from vrrpd.protocol import fsm
from vrrpd.protocol.packet import Advertisement, Received
from vrrpd.runtime import interface
from vrrpd.runtime.instance import Instance
from vrrpd.runtime.interface import Interface

ME = IPv4Address("192.0.2.11")
MASTER = IPv4Address("192.0.2.12")
VIP = IPv4Interface("192.0.2.100/24")


def _advert(priority: int = 150) -> Received:
    return Received(
        advert=Advertisement(vrid=51, priority=priority, addresses=(VIP.ip,)),
        source=MASTER,
        destination=IPv4Address("224.0.0.18"),
        ttl=255,
    )


def _backup() -> fsm.Router:
    r = fsm.Router(fsm.RouterConfig(vrid=51, priority=100, primary_address=ME, vips=(VIP,)))
    r.start(0.0)
    assert r.receive(1.0, _advert()) == []
    return r


def test_lost_adverts_push_the_master_down_timer_to_a_full_interval() -> None:
    r = _backup()
    mdi = r.master_down_interval
    assert r.deadline == 1.0 + mdi
    assert r.adverts_lost(2.5) == []
    assert r.deadline == 2.5 + mdi  # as if an advert had arrived when the overflow was seen
    assert r.on_timer(1.0 + mdi) == []
    assert r.deadline == 2.5 + mdi
    assert r.adverts_lost(2.0) == [] and r.deadline == 2.5 + mdi  # never earlier
    r.on_timer(2.5 + mdi)
    assert r.state is fsm.State.MASTER  # the master really is gone: a takeover, a little later
    assert r.adverts_lost(9.0) == [] and r.state is fsm.State.MASTER  # nothing for a master


def test_lost_adverts_after_priority_zero_still_delay_no_more_than_an_interval() -> None:
    r = _backup()
    r.receive(2.0, _advert(priority=0))
    assert r.deadline == 2.0 + r.skew_time
    r.adverts_lost(2.1)
    assert r.deadline == 2.1 + r.master_down_interval


class Reader:
    """Stands in for the interface: `drain` delivers what was "queued" to the instance."""

    def __init__(self) -> None:
        self.queued: list[tuple[Received, float]] = []
        self.inst: Instance | None = None
        self.drains = 0
        self.changes = 0

    def drain(self) -> None:
        self.drains += 1
        assert self.inst is not None
        while self.queued:
            received, at = self.queued.pop(0)
            self.inst.receive(received, at)

    def state_changed(self) -> None:
        self.changes += 1

    def catch_up(self, instance: object) -> None:
        pass

    def defer(self, instance: object, deadline: float) -> bool:
        return False

    def release(self, instance: object) -> None:
        pass


def test_an_unread_advert_is_drained_before_the_deadline_and_prevents_the_takeover() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        inst = Instance(instance_config(priority=100), ME, FakeTransport(), lambda *a: None, loop)
        reader = Reader()
        reader.inst, inst.reader = inst, reader
        inst.start()
        assert reader.changes == 1 and inst.state is fsm.State.BACKUP
        inst.receive(_advert(), loop.time())
        # The master's next advert arrived just before the deadline, but sits in the socket unread.
        inst.router._master_down_at = loop.time() + 0.05  # the deadline comes soon (a shortcut)
        inst._rearm()
        reader.queued.append((_advert(), loop.time() + 0.04))
        await asyncio.sleep(0.1)
        assert reader.drains >= 1
        assert inst.router.master_address == MASTER  # no takeover: the drained advert moved the deadline
        assert inst.router.deadline is not None and inst.router.deadline > loop.time() + 3
        # Nothing queued any more: the next deadline is a takeover, and the interface hears of it.
        inst.router._master_down_at = loop.time() + 0.02
        inst._rearm()
        await asyncio.sleep(0.08)
        assert inst.router.state.value == "MASTER" and reader.changes == 2
        await inst.stop(1.0)

    run(body())


# -- the interface: doorbell programming and the reading mode (fakes for the sockets) ---------------------


class FakeSock:
    """The main socket: records the mode asked for; `drain` returns what `queued` says."""

    def __init__(self) -> None:
        self.modes: list[float | None] = []
        self.queued = 0
        self.drains = 0

    def set_lazy(self, period: float | None, expected: int = 0, drained: object = None) -> bool:
        if not self.modes or self.modes[-1] != period:
            self.modes.append(period)
        return period is not None

    def drain(self) -> int:
        self.drains += 1
        n, self.queued = self.queued, 0
        return n


class FakeBell:
    def __init__(self) -> None:
        self.programs: list[dict[int, Steady | None]] = []
        self.started = False

    def program(self, vrids: dict[int, Steady | None]) -> bool:
        self.programs.append(dict(vrids))
        return True

    def start(self, loop: object, ring: object) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False


class FakeInst:
    def __init__(self, state: fsm.State) -> None:
        self.router = types.SimpleNamespace(state=state, master_adver_int=1.0, skew_time=0.6)
        self.lost: list[float] = []

    def adverts_lost(self, now: float) -> None:
        self.lost.append(now)


def _iface(loop: asyncio.AbstractEventLoop, **states: fsm.State) -> tuple[Interface, FakeSock, FakeBell]:
    link = LinkInfo(2, "eth0", "02:00:00:00:00:01", True, ME)
    iface = Interface(link, None)  # type: ignore[arg-type]  # netlink: not used here
    sock, bell = FakeSock(), FakeBell()
    iface.sock, iface.bells = sock, {4: bell}  # type: ignore[assignment,dict-item]
    iface.routers[4] = {int(v[1:]): FakeInst(s) for v, s in states.items()}  # type: ignore[misc]
    iface._reader_loop = loop
    return iface, sock, bell


def _lost(iface: Interface) -> list[list[float]]:
    return [cast(FakeInst, i).lost for i in iface.routers[4].values()]


def _steady(priority: int = 150) -> tuple[bytes, Steady]:
    datagram = vrrp_frame(str(MASTER), priority=priority)[14:]
    return datagram, Steady.of(datagram)


def test_a_backups_steady_advert_reaches_the_doorbell_once_batched() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        iface, _sock, bell = _iface(loop, v51=fsm.State.BACKUP, v52=fsm.State.BACKUP, v53=fsm.State.MASTER)
        datagram, steady = _steady()
        iface._follow(4, 51, datagram)
        iface._follow(4, 52, datagram)
        iface._follow(4, 51, datagram)  # the same again: nothing new
        await asyncio.sleep(0)
        assert bell.programs == []  # batched: a steady advert only saves wake-ups, it may wait
        await asyncio.sleep(interface.PROGRAM_BATCH + 0.05)
        assert bell.programs == [{51: steady, 52: steady, 53: None}]  # a master's VRID: all urgent

    run(body())


def test_a_state_change_reprograms_at_once_and_forgets_the_steady_advert() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        iface, sock, bell = _iface(loop, v51=fsm.State.BACKUP, v52=fsm.State.BACKUP)
        datagram, steady = _steady()
        iface._follow(4, 51, datagram)
        iface._follow(4, 52, datagram)
        iface.routers[4][51].router.state = fsm.State.MASTER
        iface.state_changed()
        iface.state_changed()  # several changes in one callback: one program
        await asyncio.sleep(0)
        assert bell.programs == [{51: None, 52: steady}]
        assert 51 not in iface._steady[4]  # a later BACKUP waits for its new master's advert
        await asyncio.sleep(interface.PROGRAM_BATCH + 0.05)
        assert len(bell.programs) == 1  # the batched program was folded into it
        assert sock.modes == [0.5] and bell.started  # lazy with a master too: the doorbell covers it

    run(body())


def test_a_drain_that_saw_drops_tells_every_backup_and_reads_per_datagram_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(interface, "LAZY_BACKOFF", 0.1)

    async def body() -> None:
        loop = asyncio.get_running_loop()
        iface, sock, bell = _iface(loop, v51=fsm.State.BACKUP, v52=fsm.State.BACKUP)
        iface._update_mode()
        assert sock.modes == [0.5] and bell.started
        iface._drained(4, 7.0, False)
        assert _lost(iface) == [[], []]
        iface._drained(4, 8.0, True)
        assert _lost(iface) == [[8.0], [8.0]]
        assert iface.drops["receive_queue_overflow"] == 1
        await asyncio.sleep(0)
        assert sock.modes == [0.5, None] and not bell.started  # per datagram: the doorbell is idle
        await asyncio.sleep(0.15)
        assert sock.modes == [0.5, None, 0.5] and bell.started  # the back-off is over

    run(body())


def test_a_ring_drains_the_main_socket_and_again_if_the_original_was_not_queued_yet() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        iface, sock, _bell = _iface(loop, v51=fsm.State.BACKUP)
        sock.queued = 3
        iface._ring(4)
        await asyncio.sleep(interface.RING_RETRY * 5)
        assert sock.drains == 1  # the urgent advert was there: one drain
        iface._ring(4)  # the copy came first: nothing queued yet
        await asyncio.sleep(interface.RING_RETRY * 5)
        assert sock.drains == 3

    run(body())


def test_without_a_doorbell_the_socket_is_read_per_datagram() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        iface, sock, _bell = _iface(loop, v51=fsm.State.BACKUP)
        iface.bells = {}
        iface._update_mode()
        assert sock.modes == [None]

    run(body())
