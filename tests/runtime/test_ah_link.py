"""vrrpd/runtime/ah.py without namespaces: AH instances' transports and the AH receive path, on fakes.

Real `Instance`s and routers; the AH socket and the interface are fakes recording what they are given.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address
from typing import Any, cast

from tests.support.fakes import FakeTransport, instance_config
from vrrpd.protocol import ah
from vrrpd.protocol.fsm import State
from vrrpd.protocol.packet import (
    AUTH_AH,
    VRRP_MULTICAST,
    Advertisement,
    DropReason,
    Received,
    decode_ipv4,
    encode,
)
from vrrpd.runtime.ah import AhLink, AhReceiver, unwrap
from vrrpd.runtime.instance import Instance
from vrrpd.runtime.interface import Interface

N1, N2 = IPv4Address("192.0.2.11"), IPv4Address("192.0.2.12")


class FakeAhSocket:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, IPv4Address]] = []

    def send_now(self, datagram: bytes, dst: IPv4Address) -> None:
        self.sent.append((datagram, dst))

    async def send(self, datagram: bytes, dst: IPv4Address) -> None:
        self.sent.append((datagram, dst))


class FakeInterface:
    name = "eth0"

    def __init__(self) -> None:
        self.drops: collections.Counter[str] = collections.Counter()
        self.routers: dict[int, Instance] = {}
        self.delivered: list[bytes] = []

    def instance(self, family: int, vrid: int) -> Instance | None:
        return self.routers.get(vrid)

    def datagram(self, datagram: bytes, now: float | None = None) -> None:
        self.delivered.append(datagram)


def receiver(iface: FakeInterface) -> tuple[AhReceiver, FakeAhSocket]:
    sock = FakeAhSocket()
    return AhReceiver(cast(Interface, iface), cast(Any, sock)), sock


def node(
    loop: asyncio.AbstractEventLoop, recv: AhReceiver, primary: IPv4Address, **keys: Any
) -> tuple[Instance, AhLink]:
    link = recv.link(FakeTransport(), unicast=False)
    cfg = instance_config(auth_type="AH", auth_pass="s3cret", **keys)
    inst = Instance(cfg, primary, link, lambda *a: None, loop)
    link.bind(inst)
    return inst, link


def advert(priority: int) -> bytes:
    vip = IPv4Address("192.0.2.100")
    return encode(Advertisement(vrid=51, priority=priority, addresses=(vip,), auth_type=AUTH_AH))


def run(body: Callable[[asyncio.AbstractEventLoop], Awaitable[None]]) -> None:
    async def main() -> None:
        await body(asyncio.get_running_loop())

    asyncio.run(main())


def test_adverts_go_out_wrapped_and_open_on_the_other_node() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        iface1, iface2 = FakeInterface(), FakeInterface()
        (recv1, sock1), (recv2, _) = receiver(iface1), receiver(iface2)
        inst1, link1 = node(loop, recv1, N1, priority=255)
        inst2, link2 = node(loop, recv2, N2, priority=100)
        link1.send_vrrp_now(advert(255), VRRP_MULTICAST, N1)
        await link1.send_vrrp(advert(255), VRRP_MULTICAST, N1)
        (first, dst), (second, _) = sock1.sent
        assert dst == VRRP_MULTICAST and first[9] == ah.AH_PROTOCOL and first[12:16] == N1.packed
        assert first[4:6] != second[4:6]  # a fresh Identification each time
        assert link1.counter.seq == 2
        recv2.datagram(first, 1.0)
        recv2.datagram(first, 1.1)  # replayed
        recv2.datagram(second, 1.2)
        assert len(iface2.delivered) == 2 and inst2.counters.drops == {"ah_replay": 1}
        received = decode_ipv4(iface2.delivered[0])
        assert isinstance(received, Received) and received.ah and received.advert.auth_type == AUTH_AH
        # One counter per instance for both directions: what it sends continues from what it accepted.
        assert link2.counter.next() == 3
        assert unwrap(link1) is link1.inner and unwrap(link1.inner) is link1.inner
        assert inst1 is link1.instance

    run(body)


def test_a_master_hearing_lower_priority_continues_past_its_number() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        iface1, iface2 = FakeInterface(), FakeInterface()
        (recv1, _), (recv2, sock2) = receiver(iface1), receiver(iface2)
        inst1, link1 = node(loop, recv1, N1, priority=255)
        inst1.start()  # the owner: MASTER at once
        await inst1.drain(1.0)
        assert inst1.router.state is State.MASTER
        _, link2 = node(loop, recv2, N2, priority=100)
        link2.counter.seq = 41
        link2.send_vrrp_now(advert(100), VRRP_MULTICAST, N2)
        recv1.datagram(sock2.sent[0][0], 1.0)
        assert link1.counter.seq == 43  # 42 heard, + 1 (keepalived "Syncing seq_num")
        await inst1.stop(1.0)

    run(body)


def test_the_receive_path_counts_what_it_refuses() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        iface1, iface2 = FakeInterface(), FakeInterface()
        (recv1, sock1), (recv2, _) = receiver(iface1), receiver(iface2)
        _, link1 = node(loop, recv1, N1, priority=100)
        link1.send_vrrp_now(advert(100), VRRP_MULTICAST, N1)
        datagram = sock1.sent[0][0]
        # No instance with VRID 51 on the receiving interface: counted per interface.
        recv2.datagram(datagram, 1.0)
        assert iface2.drops == {"unknown_vrid": 1}
        # An instance without AH has VRID 51: keepalived's "Received AH header but auth type not AH".
        plain = Instance(instance_config(virtual_router_id=51), N2, FakeTransport(), lambda *a: None, loop)
        iface2.routers[51] = plain
        recv2.datagram(datagram, 1.1)
        assert plain.counters.drops == {DropReason.AUTH_TYPE_MISMATCH.value: 1}
        # Another password: counted on the AH instance.
        other_cfg = instance_config(auth_type="AH", auth_pass="other", priority=100)
        other_link = recv2.link(FakeTransport(), unicast=False)
        other = Instance(other_cfg, N2, other_link, lambda *a: None, loop)
        other_link.bind(other)
        recv2.datagram(datagram, 1.2)
        recv2.datagram(datagram[:21], 1.3)  # too short to hold a VRID
        assert other.counters.drops == {"ah_bad_icv": 1} and iface2.delivered == []
        assert iface2.drops["truncated"] == 1
        other_link.detach()
        recv2.datagram(datagram, 1.4)
        assert plain.counters.drops[DropReason.AUTH_TYPE_MISMATCH.value] == 2

    run(body)


def test_unicast_peers_get_one_advert_under_one_sequence_number() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        recv, sock = receiver(FakeInterface())
        link = recv.link(FakeTransport(), unicast=True)
        peers = ["192.0.2.12", "192.0.2.13"]
        cfg = instance_config(auth_type="AH", auth_pass="s3cret", priority=100, unicast_peer=peers)
        link.bind(Instance(cfg, N1, link, lambda *a: None, loop))
        p2, p3 = map(IPv4Address, peers)
        for dst in (p2, p3, p2, p3):  # two rounds of the same advert, as the instance sends them
            link.send_vrrp_now(advert(100), dst, N1)
        link.send_vrrp_now(advert(90), p3, N1)  # another message: a new advert even to a peer not yet served
        numbers = [(ah.open_ah(d, link.key, unicast=True), d[4:6], dst) for d, dst in sock.sent]
        seqs = [o.seq for o, _, _ in numbers if isinstance(o, ah.Opened)]
        assert seqs == [1, 1, 2, 2, 3]
        assert numbers[0][1] == numbers[1][1] != numbers[2][1]  # the Identification goes with it
        assert [dst for _, _, dst in numbers] == [p2, p3, p2, p3, p3]

    run(body)
