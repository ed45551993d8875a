"""`Instance` with `version = 3`: what it hands the transport is a VRRPv3 message whose checksum covers
the instance's source and each destination (RFC 5798 §5.2.8) — one payload per unicast peer — sent to the
family's group otherwise. A fake transport records the bytes; the codec decodes them as a receiver would.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any

from tests.support.aio import run
from tests.support.fakes import instance_config
from vrrpd.protocol.packet import VRRP_MULTICAST, VRRP_MULTICAST_V6, Advertisement, DropReason, decode_vrrp3
from vrrpd.runtime.instance import Instance

PRIMARY = IPv4Address("192.0.2.11")
LINK_LOCAL = IPv6Address("fe80::11")
PEERS = [IPv4Address("192.0.2.12"), IPv4Address("192.0.2.13")]


class Wire:
    """Records (destination, payload) of every advert sent."""

    ifindex = 1

    def __init__(self) -> None:
        self.sent: list[tuple[IPv4Address | IPv6Address, bytes]] = []

    async def send_vrrp(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        self.sent.append((dst, payload))

    def send_vrrp_now(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        self.sent.append((dst, payload))

    def send_garp(self, vip: IPv4Address | IPv6Address, count: int) -> None:
        pass

    async def add_vips(
        self, vips: Sequence[IPv4Interface | IPv6Interface]
    ) -> dict[IPv4Interface | IPv6Interface, int]:
        return dict.fromkeys(vips, 0)

    async def remove_vips(
        self, vips: Sequence[IPv4Interface | IPv6Interface]
    ) -> dict[IPv4Interface | IPv6Interface, int]:
        return dict.fromkeys(vips, errno.EADDRNOTAVAIL)


def owner(wire: Wire, primary: IPv4Address | IPv6Address, **keys: Any) -> list[tuple[Any, Advertisement]]:
    """Start an address owner (MASTER at once), stop it, and decode every advert it sent."""
    decoded: list[tuple[Any, Advertisement]] = []

    async def body() -> None:
        config = instance_config(version=3, advert_int=0.1, **keys)
        inst = Instance(config, primary, wire, lambda *a: None, asyncio.get_running_loop())
        inst.start()
        await inst.drain(1.0)
        await inst.stop(1.0)

    run(body())
    for dst, payload in wire.sent:
        adv = decode_vrrp3(payload, source=primary, destination=dst)
        assert isinstance(adv, Advertisement), (dst, adv)
        decoded.append((dst, adv))
    return decoded


def test_v3_multicast_advert_checksums_over_the_ipv4_group() -> None:
    sent = owner(Wire(), PRIMARY)
    assert [dst for dst, _ in sent] == [VRRP_MULTICAST, VRRP_MULTICAST]  # the advert, then priority 0
    assert [(a.version, a.advert_int, a.priority) for _, a in sent] == [(3, 10, 255), (3, 10, 0)]


def test_v3_unicast_peers_each_get_their_own_checksum() -> None:
    wire = Wire()
    sent = owner(wire, PRIMARY, unicast_peer=[str(p) for p in PEERS])
    assert [dst for dst, _ in sent][:2] == PEERS
    first, second = wire.sent[0][1], wire.sent[1][1]
    assert first[:6] == second[:6] and first[8:] == second[8:]
    assert first[6:8] != second[6:8]  # only the checksum differs: it covers the destination
    # One peer's payload is not valid for the other.
    assert decode_vrrp3(first, source=PRIMARY, destination=PEERS[1]) is DropReason.BAD_CHECKSUM


def test_v3_adverts_after_a_source_change_checksum_over_the_new_source() -> None:
    """The primary address changed (§5.2.1): the next adverts are encoded again, not taken from the cache."""
    wire, moved = Wire(), IPv4Address("192.0.2.21")

    async def body() -> None:
        loop = asyncio.get_running_loop()
        inst = Instance(instance_config(version=3, advert_int=0.1), PRIMARY, wire, lambda *a: None, loop)
        inst.start()
        inst.source_changed(moved)
        deadline = inst.router.deadline
        assert deadline is not None
        real_time = loop.time
        loop.time = lambda: deadline  # type: ignore[method-assign]
        try:
            inst._on_timer()  # the next period's advert
        finally:
            loop.time = real_time  # type: ignore[method-assign]
        await inst.drain(1.0)
        await inst.stop(1.0)

    run(body())
    (first_dst, first), (dst, steady), *_ = wire.sent
    assert isinstance(decode_vrrp3(first, source=PRIMARY, destination=first_dst), Advertisement)
    assert isinstance(decode_vrrp3(steady, source=moved, destination=dst), Advertisement)


def test_v3_ipv6_advert_goes_to_ff02_12_from_the_link_local_address() -> None:
    sent = owner(Wire(), LINK_LOCAL, virtual_ipaddress=["2001:db8::100/64"])
    assert {dst for dst, _ in sent} == {VRRP_MULTICAST_V6}
    assert sent[0][1].addresses == (IPv6Address("2001:db8::100"),)


def test_a_v3_address_list_mismatch_is_reported_as_a_conflict() -> None:
    # RFC 5798 §7.1: processed (no drop), yet the operator sees the foreign address list.
    from vrrpd.protocol.conflicts import ConflictKind
    from vrrpd.protocol.packet import Received

    async def body() -> None:
        config = instance_config(version=3, advert_int=0.1, priority=100)
        inst = Instance(config, PRIMARY, Wire(), lambda *a: None, asyncio.get_running_loop())
        inst.start()
        foreign = Advertisement(
            vrid=51, priority=200, addresses=(IPv4Address("192.0.2.200"),), advert_int=10, version=3
        )
        inst.receive(Received(foreign, IPv4Address("192.0.2.12"), VRRP_MULTICAST, 255))
        assert [c.kind for c in inst.conflicts.active()] == [ConflictKind.VIP_MISMATCH]
        assert inst.counters.drops == {}  # not a drop
        await inst.stop(1.0)

    run(body())
