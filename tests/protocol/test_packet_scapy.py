"""Scapy's independent VRRP layer as the oracle for vrrpd/protocol/packet.py.

Both directions: our `encode()` bytes dissected by scapy give the same fields and scapy's own checksum, and
datagrams built by scapy decode with our `decode_ipv4` to the same fields. Scapy is imported only here (it
takes about a second); vrrpd itself never depends on it.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, IPOption, IPOption_Router_Alert
from scapy.layers.vrrp import VRRP, VRRPv3
from scapy.packet import NoPayload

from vrrpd.protocol.packet import (
    AUTH_DATA_LEN,
    AUTH_NONE,
    AUTH_PASS,
    Advertisement,
    DropReason,
    Received,
    decode_ipv4,
    decode_vrrp,
    encode,
    pad_password,
    validate_advert,
)

ORACLE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ipv4_addresses = st.integers(0, 2**32 - 1).map(IPv4Address)
auth = st.one_of(
    st.tuples(st.just(AUTH_NONE), st.binary(min_size=AUTH_DATA_LEN, max_size=AUTH_DATA_LEN)),
    st.tuples(st.just(AUTH_PASS), st.binary(max_size=AUTH_DATA_LEN).map(pad_password)),
)


@st.composite
def adverts(draw: st.DrawFn) -> Advertisement:
    auth_type, auth_data = draw(auth)
    return Advertisement(
        vrid=draw(st.integers(1, 255)),
        priority=draw(st.integers(0, 255)),
        addresses=tuple(draw(st.lists(ipv4_addresses, max_size=20))),
        advert_int=draw(st.integers(0, 255)),
        auth_type=auth_type,
        auth_data=auth_data,
    )


def scapy_vrrp(adv: Advertisement) -> VRRP:
    auth1, auth2 = struct.unpack("!II", adv.auth_data)
    return VRRP(
        vrid=adv.vrid,
        priority=adv.priority,
        addrlist=[str(a) for a in adv.addresses],
        authtype=adv.auth_type,
        adv=adv.advert_int,
        auth1=auth1,
        auth2=auth2,
    )


def scapy_ip(
    vrrp: VRRP | VRRPv3, *, src: str = "192.0.2.2", ttl: int = 255, options: list[IPOption] | None = None
) -> bytes:
    return bytes(IP(src=src, dst="224.0.0.18", ttl=ttl, proto=112, options=options or []) / vrrp)


@ORACLE
@given(adverts())
def test_scapy_dissects_our_encoding(adv: Advertisement) -> None:
    wire = encode(adv)
    pkt = VRRP(wire)
    assert isinstance(pkt, VRRP)
    assert isinstance(pkt.payload, NoPayload)  # scapy consumed exactly our bytes
    assert pkt.version == 2
    assert pkt.type == 1
    assert pkt.vrid == adv.vrid
    assert pkt.priority == adv.priority
    assert pkt.ipcount == len(adv.addresses)
    assert pkt.authtype == adv.auth_type
    assert pkt.adv == adv.advert_int
    assert [IPv4Address(a) for a in pkt.addrlist] == list(adv.addresses)
    assert struct.pack("!II", pkt.auth1, pkt.auth2) == adv.auth_data
    assert pkt.chksum == struct.unpack_from("!H", wire, 6)[0]


@ORACLE
@given(adverts())
def test_scapy_recomputed_checksum_equals_ours(adv: Advertisement) -> None:
    wire = encode(adv)
    pkt = VRRP(wire)
    pkt.chksum = None  # make scapy compute it again in post_build
    assert bytes(pkt) == wire


@ORACLE
@given(adverts())
def test_scapy_built_message_equals_our_encoding(adv: Advertisement) -> None:
    assert bytes(scapy_vrrp(adv)) == encode(adv)


@ORACLE
@given(adverts(), ipv4_addresses)
def test_we_decode_scapy_built_datagrams(adv: Advertisement, src: IPv4Address) -> None:
    datagram = scapy_ip(scapy_vrrp(adv), src=str(src))
    got = decode_ipv4(datagram)
    assert isinstance(got, Received)
    assert got.source == src
    assert got.destination == IPv4Address("224.0.0.18")
    assert got.ttl == 255
    assert got.advert.vrid == adv.vrid
    assert got.advert.priority == adv.priority
    assert got.advert.addresses == adv.addresses
    assert got.advert.advert_int == adv.advert_int
    assert got.advert.auth_type == adv.auth_type
    assert got.advert.auth_data == adv.auth_data
    assert got.advert.version == 2
    assert got.advert.type == 1
    assert got.advert.checksum == IP(datagram)[VRRP].chksum


@ORACLE
@given(adverts())
def test_we_decode_scapy_datagrams_with_router_alert_option(adv: Advertisement) -> None:
    datagram = scapy_ip(scapy_vrrp(adv), options=[IPOption_Router_Alert()])
    assert datagram[0] == 0x46  # IHL 6
    got = decode_ipv4(datagram)
    assert isinstance(got, Received)
    assert encode(got.advert) == encode(adv)


def test_scapy_ttl_64_dropped() -> None:
    assert decode_ipv4(scapy_ip(VRRP(addrlist=["192.0.2.100"]), ttl=64)) is DropReason.TTL_NOT_255


def test_scapy_vrrpv3_is_bad_version_for_a_v2_router() -> None:
    # decode_ipv4 decodes both versions (test_packet_v3_scapy.py); a v2 virtual router drops v3 adverts.
    vips = (IPv4Address("192.0.2.100"), IPv4Address("192.0.2.101"))
    got = decode_ipv4(scapy_ip(VRRPv3(vrid=51, addrlist=[str(v) for v in vips])))
    assert isinstance(got, Received)
    verdict = validate_advert(
        got, vrid=51, advert_int=1, addresses=vips, own_addresses=(IPv4Address("192.0.2.1"),), version=2
    )
    assert verdict is DropReason.BAD_VERSION


def test_scapy_short_vrrpv3_is_bad_version_not_truncated() -> None:
    # A VRRPv3 advert for one IPv4 address is 12 bytes: shorter than a v2 header plus auth data. The bare v2
    # decoder must say "wrong version", not "truncated".
    message = bytes(scapy_ip(VRRPv3(vrid=51, addrlist=["192.0.2.100"])))[20:]
    assert len(message) == 12
    assert decode_vrrp(message) is DropReason.BAD_VERSION


def test_scapy_wrong_checksum_dropped() -> None:
    datagram = scapy_ip(VRRP(addrlist=["192.0.2.100"], chksum=0xBEEF))
    assert decode_ipv4(datagram) is DropReason.BAD_CHECKSUM


def test_scapy_count_larger_than_list_is_truncated() -> None:
    # scapy lets the count lie and still checksums what it built, so only the length rule can catch it.
    message = bytes(VRRP(ipcount=3, addrlist=["192.0.2.100"]))
    assert decode_vrrp(message) is DropReason.TRUNCATED


def test_scapy_count_smaller_than_list_is_length_mismatch() -> None:
    message = bytes(VRRP(ipcount=1, addrlist=["192.0.2.100", "192.0.2.101"]))
    assert decode_vrrp(message) is DropReason.LENGTH_MISMATCH


def test_scapy_non_vrrp_protocol_dropped() -> None:
    datagram = bytes(IP(src="192.0.2.2", dst="224.0.0.18", ttl=255, proto=17) / VRRP())
    assert decode_ipv4(datagram) is DropReason.NOT_VRRP
