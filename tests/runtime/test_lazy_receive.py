"""A backup read lazily (`kernel.vrrp_socket` `set_lazy`, `runtime.interface` `_update_mode`), without
namespaces: what the router and the instance do so that reading late is never acting wrongly.

- `fsm.Router.adverts_lost` (virtual time): after the receive queue overflowed, the Master_Down_Timer runs
  at least a Master_Down_Interval from the overflow — never a takeover on adverts that were not read.
- `Instance._on_timer` drains the interface before acting: an advert queued but unread moves the deadline,
  and there is no takeover.
- State changes reach the interface (a MASTER has its socket read per datagram).
"""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address, IPv4Interface

from tests.support.aio import run
from tests.support.fakes import FakeTransport, instance_config
from vrrpd.protocol import fsm
from vrrpd.protocol.packet import Advertisement, Received
from vrrpd.runtime.instance import Instance

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
