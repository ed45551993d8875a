"""Scapy's independent VRRPv3 layer as the oracle for the v3 side of vrrpd/protocol/packet.py.

Both directions, over IPv4 and IPv6: our `encode()` bytes dissected by scapy (under an IP / IPv6 header, as
the kernel sends them) give the same fields, and scapy's own pseudo-header checksum; datagrams built by
scapy decode with our `decode_ipv4` / `decode_ipv6` to the same fields. For IPv6 the decoder gets what a raw
AF_INET6 socket gives: the payload without the IPv6 header, and source, destination and hop limit beside it.
Scapy is imported only here; vrrpd never depends on it.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.vrrp import VRRPv3
from scapy.packet import NoPayload

from vrrpd.protocol.packet import (
    MAX_ADVER_INT_V3,
    VRRP_MULTICAST,
    VRRP_MULTICAST_V6,
    Advertisement,
    DropReason,
    IPAddress,
    Received,
    decode_ipv4,
    decode_ipv6,
    encode,
)

ORACLE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ipv4_addresses = st.integers(0, 2**32 - 1).map(IPv4Address)
ipv6_addresses = st.integers(0, 2**128 - 1).map(IPv6Address)
link_local = st.integers(0, 2**64 - 1).map(lambda low: IPv6Address((0xFE80 << 112) | low))


def adverts(addresses: st.SearchStrategy[IPAddress], max_size: int) -> st.SearchStrategy[Advertisement]:
    # At least one address: scapy's IP layer dissects an 8-byte message as VRRPv2 whatever its version
    # (its dispatch hook needs 9 bytes); the empty list is covered by test_packet_v3.py.
    return st.builds(
        lambda vrid, priority, interval, vips: Advertisement(
            vrid=vrid, priority=priority, addresses=tuple(vips), advert_int=interval, version=3
        ),
        st.integers(1, 255),
        st.integers(0, 255),
        st.integers(0, MAX_ADVER_INT_V3),
        st.lists(addresses, min_size=1, max_size=max_size),
    )


def scapy_v3(adv: Advertisement) -> VRRPv3:
    return VRRPv3(
        vrid=adv.vrid, priority=adv.priority, adv=adv.advert_int, addrlist=[str(a) for a in adv.addresses]
    )


def check_fields(pkt: VRRPv3, adv: Advertisement) -> None:
    assert isinstance(pkt.payload, NoPayload)  # scapy consumed exactly our bytes
    assert pkt.version == 3
    assert pkt.type == 1
    assert pkt.vrid == adv.vrid
    assert pkt.priority == adv.priority
    assert pkt.ipcount == len(adv.addresses)
    assert pkt.res == 0
    assert pkt.adv == adv.advert_int
    assert [type(a)(x) for a, x in zip(adv.addresses, pkt.addrlist, strict=True)] == list(adv.addresses)


# --------------------------------------------------------------------------------------------------------
# IPv4


@ORACLE
@given(
    adverts(ipv4_addresses, 20), ipv4_addresses, st.sampled_from([VRRP_MULTICAST, IPv4Address("192.0.2.1")])
)
def test_scapy_dissects_our_ipv4_encoding(adv: Advertisement, src: IPv4Address, dst: IPv4Address) -> None:
    wire = encode(adv, source=src, destination=dst)
    ip = IP(src=str(src), dst=str(dst), ttl=255, proto=112) / VRRPv3(wire)
    dissected = IP(bytes(ip))
    pkt = dissected[VRRPv3]
    check_fields(pkt, adv)
    assert pkt.chksum == int.from_bytes(wire[6:8], "big")
    pkt.chksum = None  # scapy recomputes it over its own IPv4 pseudo-header
    assert bytes(dissected)[20:] == wire


@ORACLE
@given(adverts(ipv4_addresses, 20), ipv4_addresses)
def test_scapy_built_ipv4_message_equals_our_encoding(adv: Advertisement, src: IPv4Address) -> None:
    built = IP(src=str(src), dst=str(VRRP_MULTICAST), ttl=255) / scapy_v3(adv)
    assert bytes(built)[20:] == encode(adv, source=src, destination=VRRP_MULTICAST)


@ORACLE
@given(adverts(ipv4_addresses, 20), ipv4_addresses)
def test_we_decode_scapy_built_ipv4_datagrams(adv: Advertisement, src: IPv4Address) -> None:
    datagram = bytes(IP(src=str(src), dst=str(VRRP_MULTICAST), ttl=255) / scapy_v3(adv))
    got = decode_ipv4(datagram)
    assert isinstance(got, Received)
    assert (got.source, got.destination, got.ttl) == (src, VRRP_MULTICAST, 255)
    assert got.advert.version == 3
    assert got.advert.vrid == adv.vrid
    assert got.advert.priority == adv.priority
    assert got.advert.advert_int == adv.advert_int
    assert got.advert.addresses == adv.addresses
    assert got.advert.checksum == IP(datagram)[VRRPv3].chksum


def test_scapy_ipv4_wrong_checksum_dropped() -> None:
    datagram = IP(src="192.0.2.2", dst="224.0.0.18", ttl=255) / VRRPv3(
        addrlist=["192.0.2.100"], chksum=0xBEEF
    )
    assert decode_ipv4(bytes(datagram)) is DropReason.BAD_CHECKSUM


def test_scapy_ipv4_ttl_64_dropped() -> None:
    datagram = IP(src="192.0.2.2", dst="224.0.0.18", ttl=64) / VRRPv3(addrlist=["192.0.2.100"])
    assert decode_ipv4(bytes(datagram)) is DropReason.TTL_NOT_255


# --------------------------------------------------------------------------------------------------------
# IPv6: the raw socket strips the IPv6 header; the decoder gets source, destination and hop limit


@ORACLE
@given(adverts(ipv6_addresses, 8), link_local, st.sampled_from([VRRP_MULTICAST_V6, IPv6Address("fe80::1")]))
def test_scapy_dissects_our_ipv6_encoding(adv: Advertisement, src: IPv6Address, dst: IPv6Address) -> None:
    wire = encode(adv, source=src, destination=dst)
    dissected = IPv6(bytes(IPv6(src=str(src), dst=str(dst), hlim=255, nh=112) / VRRPv3(wire)))
    pkt = dissected[VRRPv3]
    check_fields(pkt, adv)
    assert pkt.chksum == int.from_bytes(wire[6:8], "big")
    pkt.chksum = None  # scapy recomputes it over its own IPv6 pseudo-header
    assert bytes(dissected)[40:] == wire


@ORACLE
@given(adverts(ipv6_addresses, 8), link_local)
def test_we_decode_scapy_built_ipv6_packets(adv: Advertisement, src: IPv6Address) -> None:
    packet = bytes(IPv6(src=str(src), dst=str(VRRP_MULTICAST_V6), hlim=255) / scapy_v3(adv))
    header = IPv6(packet)
    got = decode_ipv6(
        packet[40:],
        source=IPv6Address(header.src),
        destination=IPv6Address(header.dst),
        hop_limit=header.hlim,
    )
    assert isinstance(got, Received)
    assert (got.source, got.destination, got.ttl) == (src, VRRP_MULTICAST_V6, 255)
    assert got.advert.vrid == adv.vrid
    assert got.advert.priority == adv.priority
    assert got.advert.advert_int == adv.advert_int
    assert got.advert.addresses == adv.addresses
    assert got.advert.checksum == header[VRRPv3].chksum


def _scapy6(
    *, src: str = "fe80::2", hlim: int = 255, chksum: int | None = None, ipcount: int | None = None
) -> tuple[bytes, IPv6]:
    vrrp = VRRPv3(addrlist=["2001:db8::100"], chksum=chksum, ipcount=ipcount)
    raw = bytes(IPv6(src=src, dst="ff02::12", hlim=hlim) / vrrp)
    return raw[40:], IPv6(raw)


def _decode(payload: bytes, header: IPv6) -> Received | DropReason:
    return decode_ipv6(
        payload, source=IPv6Address(header.src), destination=IPv6Address(header.dst), hop_limit=header.hlim
    )


def test_scapy_ipv6_wrong_checksum_dropped() -> None:
    assert _decode(*_scapy6(chksum=0xBEEF)) is DropReason.BAD_CHECKSUM


def test_scapy_ipv6_hop_limit_64_dropped() -> None:
    assert _decode(*_scapy6(hlim=64)) is DropReason.HOP_LIMIT_NOT_255


def test_scapy_ipv6_global_source_dropped() -> None:
    assert _decode(*_scapy6(src="2001:db8::2")) is DropReason.SOURCE_NOT_LINK_LOCAL


def test_scapy_ipv6_count_larger_than_list_is_truncated() -> None:
    # scapy lets the count lie and still checksums what it built, so only the length rule can catch it.
    assert _decode(*_scapy6(ipcount=2)) is DropReason.TRUNCATED
