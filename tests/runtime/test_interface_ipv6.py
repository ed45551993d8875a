"""`Interface` with VRRPv3 over IPv6, without namespaces: the rebuilt-header datagrams are admitted per
IPv6 sender, decoded and dispatched; transport calls pick the IPv6 socket and NA sender by address family.

The sockets are stand-ins (the raw-socket behaviour is tests/kernel/test_ipv6_io_netns.py's).
"""

from __future__ import annotations

import asyncio
import collections
import struct
from ipaddress import IPv4Address, IPv6Address
from typing import Any, cast

import pytest

from vrrpd import logs
from vrrpd.kernel.ndisc import NaSender
from vrrpd.kernel.vrrp_socket6 import Vrrp6Socket
from vrrpd.protocol.admission import SenderAdmission
from vrrpd.protocol.packet import VRRP_MULTICAST_V6, Advertisement, DecodeCache, DropReason, Received, encode
from vrrpd.runtime.instance import Instance
from vrrpd.runtime.interface import Interface

PEER = IPv6Address("fe80::ff:fe00:2")
SRC4 = IPv4Address("192.0.2.11")
OTHER = IPv6Address("fe80::ff:fe00:3")
VIP = IPv6Address("2001:db8::100")


def _datagram(src: IPv6Address = PEER, vrid: int = 52, hop_limit: int = 255, corrupt: bool = False) -> bytes:
    """What `Vrrp6Socket` hands over: the rebuilt 40-byte header, then the VRRPv3 message."""
    advert = Advertisement(vrid=vrid, priority=200, addresses=(VIP,), advert_int=10, version=3)
    payload = encode(advert, source=src, destination=VRRP_MULTICAST_V6)
    if corrupt:
        payload = payload[:6] + b"\x00\x01" + payload[8:]
    header = struct.pack(
        "!IHBB16s16s", 6 << 28, len(payload), 112, hop_limit, src.packed, VRRP_MULTICAST_V6.packed
    )
    return header + payload


class FakeInstance:
    def __init__(self) -> None:
        self.received: list[Received] = []

    def receive(self, received: Received, now: float | None = None) -> None:
        self.received.append(received)


class Recorder:
    """Stands in for the sockets: records what the interface asks them to send."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def send_now(self, payload: bytes, dst: Any, *src: Any) -> None:
        self.calls.append(("send_now", payload, dst, *src))

    async def send(self, payload: bytes, dst: Any, *src: Any) -> None:
        self.calls.append(("send", payload, dst, *src))

    def close(self) -> None:
        self.calls.append(("close",))


class Announcer:
    """Stands in for the GARP or the NA sender (a synchronous `send`)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.calls: list[tuple[Any, ...]] = []

    def send(self, vip: Any, count: int = 1) -> None:
        self.calls.append((self.kind, vip, count))


def _interface(vrids: tuple[int, ...] = (52,)) -> tuple[Interface, dict[int, FakeInstance]]:
    # Interface.__init__ opens raw sockets (root): build one around stand-ins instead.
    iface = Interface.__new__(Interface)
    iface.name = "eth0"
    fakes = {v: FakeInstance() for v in vrids}
    iface.routers = {4: {}, 6: cast(dict[int, Instance], fakes)}
    iface.drops = collections.Counter()
    iface._drop_log = logs.RateLimitedLog(logs.get_logger("vrrpd.drops"), "packet_dropped")
    iface._admission = SenderAdmission()
    iface._decoder = DecodeCache()
    iface._routine = {}
    iface.swallowers, iface._armed = {}, {4: {}, 6: {}}  # no eBPF swallower (it needs a raw socket)
    iface._sweeps = {}
    return iface, fakes


def test_ipv6_datagram_is_decoded_and_dispatched() -> None:
    iface, fakes = _interface()
    iface.datagram(_datagram(), 1.0)
    iface.datagram(_datagram(), 2.0)
    first, second = fakes[52].received
    assert second is first  # a repeat comes from the decode cache
    assert (first.source, first.destination, first.ttl) == (PEER, VRRP_MULTICAST_V6, 255)
    assert first.advert.version == 3 and first.advert.addresses == (VIP,)
    assert not iface.drops


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (_datagram(hop_limit=64), DropReason.HOP_LIMIT_NOT_255),
        (_datagram(corrupt=True), DropReason.BAD_CHECKSUM),  # the rx socket lets bad checksums through
        (_datagram(src=IPv6Address("2001:db8::12")), DropReason.SOURCE_NOT_LINK_LOCAL),
        (_datagram(vrid=53), DropReason.UNKNOWN_VRID),
    ],
)
def test_ipv6_drops_are_counted_per_reason(datagram: bytes, reason: DropReason) -> None:
    iface, fakes = _interface()
    iface.datagram(datagram, 1.0)
    assert iface.drops == {reason.value: 1}
    assert not fakes[52].received


def test_admission_keys_ipv6_senders_apart() -> None:
    assert SenderAdmission.key(_datagram(PEER)) == PEER.packed + bytes([52])
    assert SenderAdmission.key(_datagram(OTHER)) != SenderAdmission.key(_datagram(PEER))
    iface, fakes = _interface()
    burst = int(iface._admission.burst)
    for _ in range(burst + 5):  # one instant: no refill
        iface.datagram(_datagram(PEER), 1.0)
    iface.datagram(_datagram(OTHER), 1.0)  # another sender still has its own budget
    assert iface.drops["rate_limited"] == 5
    assert len(fakes[52].received) == burst + 1


def test_allow_rate_lets_a_fast_v3_master_through() -> None:
    """advert_int 0.01 s: 100 adverts a second from one sender must all pass (default budget: 25/s)."""
    iface, _ = _interface()
    iface.allow_rate(100 * 1.5)
    for n in range(300):  # three seconds of a master at 0.01 s
        iface.datagram(_datagram(), 1.0 + n * 0.01)
    assert not iface.drops
    iface2, _ = _interface()
    for n in range(300):
        iface2.datagram(_datagram(), 1.0 + n * 0.01)
    assert iface2.drops["rate_limited"] > 0  # without it, the same master is throttled


def test_transport_picks_the_family_by_address() -> None:
    iface, _ = _interface()
    v4, v6, garp, nd = Recorder(), Recorder(), Announcer("garp"), Announcer("na")
    iface.sock = cast(Any, v4)
    iface.sock6 = cast(Vrrp6Socket, v6)
    iface.garp = cast(Any, garp)
    iface.nd = cast(NaSender, nd)

    async def body() -> None:
        await iface.send_vrrp(b"6", VRRP_MULTICAST_V6, PEER)
        await iface.send_vrrp(b"4", IPv4Address("224.0.0.18"), SRC4)

    asyncio.run(body())
    iface.send_vrrp_now(b"6now", VRRP_MULTICAST_V6, PEER)
    iface.send_garp(VIP, 3)
    iface.send_garp(IPv4Address("192.0.2.100"), 2)
    assert v6.calls == [("send", b"6", VRRP_MULTICAST_V6), ("send_now", b"6now", VRRP_MULTICAST_V6)]
    assert v4.calls == [("send", b"4", IPv4Address("224.0.0.18"), SRC4)]  # from the instance's source
    assert nd.calls == [("na", VIP, 3)]
    assert garp.calls == [("garp", IPv4Address("192.0.2.100"), 2)]


def test_ipv6_send_without_the_ipv6_socket_is_an_oserror() -> None:
    """Counted by the instance as a send error, never an AttributeError that kills it."""
    iface, _ = _interface()
    with pytest.raises(OSError, match="IPv6 is not open"):
        iface.send_vrrp_now(b"x", VRRP_MULTICAST_V6, PEER)
    with pytest.raises(OSError, match="IPv6 is not open"):
        iface.send_garp(VIP, 1)
    with pytest.raises(OSError, match="IPv6 is not open"):
        asyncio.run(iface.send_vrrp(b"x", VRRP_MULTICAST_V6, PEER))


def test_ipv4_send_on_an_ipv6_only_interface_is_an_oserror() -> None:
    """An interface with only IPv6 instances has no IPv4 socket: a stray IPv4 send is counted, not raised."""
    iface, _ = _interface()
    with pytest.raises(OSError, match="IPv4 is not open"):
        iface.send_vrrp_now(b"x", IPv4Address("224.0.0.18"), SRC4)
    with pytest.raises(OSError, match="IPv4 is not open"):
        iface.send_garp(IPv4Address("192.0.2.100"), 1)


def test_one_vrid_in_both_families_reaches_each_its_own_router() -> None:
    """RFC 5798 §1: an IPv4 and an IPv6 virtual router with the same VRID are separate routers."""
    iface, fakes6 = _interface()
    v4 = FakeInstance()
    iface.routers[4][52] = cast(Instance, v4)
    iface.datagram(_datagram(vrid=52), 1.0)
    ip4 = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0xC0, 0, 0, 0, 255, 112, 0, bytes([192, 0, 2, 12]), bytes([224, 0, 0, 18])
        )
    )
    payload = encode(
        Advertisement(
            vrid=52, priority=100, addresses=(IPv4Address("192.0.2.100"),), advert_int=100, version=3
        ),
        source=IPv4Address("192.0.2.12"),
        destination=IPv4Address("224.0.0.18"),
    )
    ip4[2:4] = (20 + len(payload)).to_bytes(2, "big")
    iface.datagram(bytes(ip4) + payload, 2.0)
    assert [r.advert.version for r in fakes6[52].received] == [3]
    assert fakes6[52].received[0].source == PEER
    assert [r.source for r in v4.received] == [IPv4Address("192.0.2.12")]
    both: list[object] = [v4, fakes6[52]]
    assert list(iface.instances) == both
    assert [iface.instance(4, 52), iface.instance(6, 52)] == both
    assert not iface.drops
