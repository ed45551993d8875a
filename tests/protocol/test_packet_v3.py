"""Unit tests for the VRRPv3 side of the codec (RFC 5798 §5, §7.1), each rule from both sides.

For every rule there is the packet that must pass and the packet that must be dropped with the right
`DropReason`; local misuse raises `ValueError`. The v2 rules are in test_packet.py, scapy as an independent
oracle in test_packet_v3_scapy.py.
"""

from __future__ import annotations

import dataclasses
import struct
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz.fuzz_decode import ipv4_acceptable, sent_as
from vrrpd.protocol.packet import (
    MAX_ADVER_INT_V3,
    PRIORITY_OWNER,
    VRRP_MULTICAST,
    VRRP_MULTICAST_V6,
    VRRP_PROTOCOL,
    Advertisement,
    DecodeCache,
    DropReason,
    IPAddress,
    Received,
    address_mismatch,
    decode_ipv4,
    decode_ipv6,
    decode_vrrp,
    decode_vrrp3,
    encode,
    internet_checksum,
    multicast_group,
    pseudo_header,
    validate_advert,
)

PEER4, ME4 = IPv4Address("192.0.2.2"), IPv4Address("192.0.2.1")
VIPS4 = (IPv4Address("192.0.2.100"), IPv4Address("192.0.2.101"))
PEER6, ME6 = IPv6Address("fe80::2"), IPv6Address("fe80::1")
GLOBAL6 = IPv6Address("2001:db8::2")
VIPS6 = (IPv6Address("fe80::100"), IPv6Address("2001:db8::100"))


def advert(addresses: tuple[IPAddress, ...] = VIPS4, **overrides: object) -> Advertisement:
    fields: dict[str, object] = {"vrid": 51, "priority": 100, "addresses": addresses, "advert_int": 100}
    fields.update(overrides)
    return Advertisement(version=3, **fields)  # type: ignore[arg-type]


def ipv4(
    payload: bytes, *, src: IPv4Address = PEER4, dst: IPv4Address = VRRP_MULTICAST, ttl: int = 255
) -> bytes:
    """An IPv4 datagram as a raw socket delivers it (header checksum right, RFC 791)."""
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), 0, 0, ttl, VRRP_PROTOCOL, 0, src.packed, dst.packed
    )
    header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
    return header + payload


def wire4(
    adv: Advertisement | None = None, *, src: IPv4Address = PEER4, dst: IPv4Address = VRRP_MULTICAST
) -> bytes:
    return encode(adv or advert(), source=src, destination=dst)


def wire6(
    adv: Advertisement | None = None, *, src: IPv6Address = PEER6, dst: IPv6Address = VRRP_MULTICAST_V6
) -> bytes:
    return encode(adv or advert(VIPS6), source=src, destination=dst)


def rechecksum(data: bytes, src: IPAddress, dst: IPAddress) -> bytes:
    """Recompute the v3 checksum after a hand edit, so only the edited rule can fail."""
    zeroed = data[:6] + b"\x00\x00" + data[8:]
    checksum = internet_checksum(pseudo_header(src, dst, len(zeroed)) + zeroed)
    return zeroed[:6] + struct.pack("!H", checksum) + zeroed[8:]


def decode6(
    payload: bytes, *, src: IPv6Address = PEER6, dst: IPv6Address = VRRP_MULTICAST_V6, hop_limit: int = 255
) -> Received | DropReason:
    return decode_ipv6(payload, source=src, destination=dst, hop_limit=hop_limit)


# --------------------------------------------------------------------------------------------------------
# Known-good vectors, computed by hand from RFC 5798 §5.1 and checked against scapy (test_packet_v3_scapy)
#
#   31        version 3, type 1           33  VRID 51     64  priority 100   01  count 1
#   00 0a     reserved 0, Max Adver Int 10 centiseconds (0.1 s)
#   05 cc     checksum over the IPv4 pseudo-header 192.0.2.1 > 224.0.0.18, zero, 112, length 12
#   c0000264  192.0.2.100
VECTOR4 = bytes.fromhex("31336401000a05ccc0000264")


def test_known_good_ipv4_vector_encodes_byte_for_byte() -> None:
    adv = advert((IPv4Address("192.0.2.100"),), advert_int=10)
    assert encode(adv, source=ME4, destination=VRRP_MULTICAST) == VECTOR4


def test_known_good_ipv4_vector_decodes() -> None:
    got = decode_ipv4(ipv4(VECTOR4, src=ME4))
    assert isinstance(got, Received)
    assert got.advert == advert((IPv4Address("192.0.2.100"),), advert_int=10, checksum=0x05CC)
    assert got.advert.centiseconds == 10


def test_pseudo_header_layouts() -> None:
    # RFC 768 style for IPv4 (12 bytes), RFC 2460 §8.1 for IPv6 (40 bytes).
    assert pseudo_header(ME4, VRRP_MULTICAST, 12) == ME4.packed + VRRP_MULTICAST.packed + bytes(
        [0, 112, 0, 12]
    )
    six = pseudo_header(ME6, VRRP_MULTICAST_V6, 40)
    assert six == ME6.packed + VRRP_MULTICAST_V6.packed + (40).to_bytes(4, "big") + bytes([0, 0, 0, 112])


def test_pseudo_header_of_mixed_families_is_misuse() -> None:
    with pytest.raises(ValueError, match="different families"):
        pseudo_header(ME4, VRRP_MULTICAST_V6, 12)


def test_multicast_groups() -> None:
    assert multicast_group(4) == IPv4Address("224.0.0.18")
    assert multicast_group(6) == IPv6Address("ff02::12")


# --------------------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize(
    "adv",
    [
        advert(),
        advert(advert_int=1),
        advert(advert_int=MAX_ADVER_INT_V3),
        advert(vrid=1, priority=0),
        advert(vrid=255, priority=255),
        advert(addresses=()),
        advert(tuple(IPv4Address(0x0A000000 + i) for i in range(255))),
    ],
)
def test_ipv4_round_trip(adv: Advertisement) -> None:
    wire = wire4(adv)
    assert len(wire) == 8 + 4 * len(adv.addresses)
    got = decode_ipv4(ipv4(wire))
    assert isinstance(got, Received)
    assert dataclasses.replace(got.advert, checksum=0) == adv
    assert encode(got.advert) == wire  # the decoded checksum is re-emitted verbatim


@pytest.mark.parametrize(
    "adv",
    [advert(VIPS6), advert(VIPS6[:1]), advert(tuple(IPv6Address(f"2001:db8::{i:x}") for i in range(1, 256)))],
)
def test_ipv6_round_trip(adv: Advertisement) -> None:
    wire = wire6(adv)
    assert len(wire) == 8 + 16 * len(adv.addresses)
    got = decode6(wire)
    assert isinstance(got, Received)
    assert dataclasses.replace(got.advert, checksum=0) == adv
    assert (got.source, got.destination, got.ttl) == (PEER6, VRRP_MULTICAST_V6, 255)
    assert encode(got.advert) == wire


ipv4s = st.integers(0, 2**32 - 1).map(IPv4Address)
ipv6s = st.integers(0, 2**128 - 1).map(IPv6Address)


@given(
    st.tuples(st.integers(1, 255), st.integers(0, 255), st.integers(0, MAX_ADVER_INT_V3)),
    st.lists(ipv4s, max_size=20),
    ipv4s,
    ipv4s,
)
def test_ipv4_round_trip_property(
    fields: tuple[int, int, int], vips: list[IPv4Address], src: IPv4Address, dst: IPv4Address
) -> None:
    vrid, priority, interval = fields
    adv = advert(tuple(vips), vrid=vrid, priority=priority, advert_int=interval)
    wire = encode(adv, source=src, destination=dst)
    got = decode_vrrp3(wire, source=src, destination=dst)
    assert isinstance(got, Advertisement)
    assert dataclasses.replace(got, checksum=0) == adv


@given(st.integers(1, 255), st.integers(0, MAX_ADVER_INT_V3), st.lists(ipv6s, max_size=8), ipv6s, ipv6s)
def test_ipv6_round_trip_property(
    vrid: int, interval: int, vips: list[IPv6Address], src: IPv6Address, dst: IPv6Address
) -> None:
    adv = advert(tuple(vips), vrid=vrid, advert_int=interval)
    wire = encode(adv, source=src, destination=dst)
    got = decode_vrrp3(wire, source=src, destination=dst)
    assert isinstance(got, Advertisement)
    assert dataclasses.replace(got, checksum=0) == adv


@given(st.binary(max_size=200), st.sampled_from([PEER6, GLOBAL6]), st.sampled_from([VRRP_MULTICAST_V6, ME6]))
def test_random_bytes_into_decode_ipv6_never_raise(data: bytes, src: IPv6Address, dst: IPv6Address) -> None:
    got = decode6(data, src=src, dst=dst)
    assert isinstance(got, Received | DropReason)
    if isinstance(got, Received):  # only a packet whose checksum verifies can pass
        assert internet_checksum(pseudo_header(src, dst, len(data)) + data) == 0


@given(st.binary(min_size=8, max_size=8 + 16 * 4), st.integers(0, 255))
def test_random_messages_with_valid_checksum(data: bytes, count: int) -> None:
    """The checksum forced right: version, type, length and VRID rules decide, exactly."""
    message = rechecksum(bytes([0x31, data[1], data[2], count]) + data[4:], PEER6, VRRP_MULTICAST_V6)
    got = decode6(message)
    ok = len(message) == 8 + 16 * count and data[1] != 0
    assert isinstance(got, Received) == ok


# --------------------------------------------------------------------------------------------------------
# §5.2: the header


def test_reserved_bits_are_sent_as_zero() -> None:
    # §5.2.6: "This field MUST be set to zero on transmission".
    assert wire4(advert(advert_int=MAX_ADVER_INT_V3))[4:6] == b"\x0f\xff"


def test_reserved_bits_are_ignored_on_reception() -> None:
    # §5.2.6: "... and ignored on reception" — but they are covered by the checksum like every bit.
    wire = bytearray(wire4(advert(advert_int=100)))
    wire[4] |= 0xF0
    got = decode_vrrp3(
        rechecksum(bytes(wire), PEER4, VRRP_MULTICAST), source=PEER4, destination=VRRP_MULTICAST
    )
    assert isinstance(got, Advertisement)
    assert got.advert_int == 100


def test_reserved_bits_changed_without_the_checksum_are_dropped() -> None:
    wire = bytearray(wire4())
    wire[4] |= 0x10
    assert decode_vrrp3(bytes(wire), source=PEER4, destination=VRRP_MULTICAST) is DropReason.BAD_CHECKSUM


@pytest.mark.parametrize(("field", "centiseconds"), [(1, 1), (10, 10), (100, 100), (4095, 4095)])
def test_max_adver_int_is_centiseconds(field: int, centiseconds: int) -> None:
    # §5.2.7: "a 12-bit field that indicates the time interval (in centiseconds)".
    assert advert(advert_int=field).centiseconds == centiseconds
    assert wire4(advert(advert_int=field))[4:6] == field.to_bytes(2, "big")


def test_v2_interval_is_whole_seconds() -> None:
    assert Advertisement(vrid=1, priority=100, addresses=(), advert_int=3).centiseconds == 300


@pytest.mark.parametrize("version", [0, 1, 2, 4, 15])
def test_decode_vrrp3_other_versions_are_bad_version(version: int) -> None:
    # §7.1: "MUST verify that the VRRP version is 3".
    forged = rechecksum(bytes([version << 4 | 1]) + wire4()[1:], PEER4, VRRP_MULTICAST)
    assert decode_vrrp3(forged, source=PEER4, destination=VRRP_MULTICAST) is DropReason.BAD_VERSION


@pytest.mark.parametrize("type_", [0, 2, 15])
def test_unknown_type_dropped(type_: int) -> None:
    # §5.2.2: "A packet with unknown type MUST be discarded."
    forged = rechecksum(bytes([0x30 | type_]) + wire6()[1:], PEER6, VRRP_MULTICAST_V6)
    assert decode6(forged) is DropReason.BAD_TYPE


def test_type_1_accepted() -> None:
    assert isinstance(decode6(wire6()), Received)


def test_vrid_zero_is_unknown_vrid() -> None:
    forged = rechecksum(wire6()[:1] + b"\x00" + wire6()[2:], PEER6, VRRP_MULTICAST_V6)
    assert decode6(forged) is DropReason.UNKNOWN_VRID


# --------------------------------------------------------------------------------------------------------
# §7.1: "MUST verify that the received packet contains the complete VRRP packet"


@pytest.mark.parametrize("length", [0, 1, 7])
def test_shorter_than_the_header_is_truncated(length: int) -> None:
    assert decode6(wire6()[:length] if length else b"") is DropReason.TRUNCATED


def test_header_only_with_count_zero_decodes() -> None:
    got = decode6(wire6(advert(())))
    assert isinstance(got, Received)
    assert got.advert.addresses == ()


@pytest.mark.parametrize("claimed", [3, 255])
def test_count_claiming_more_addresses_than_present_is_truncated(claimed: int) -> None:
    wire = wire6()
    forged = rechecksum(wire[:3] + bytes([claimed]) + wire[4:], PEER6, VRRP_MULTICAST_V6)
    assert decode6(forged) is DropReason.TRUNCATED


def test_count_claiming_fewer_addresses_is_length_mismatch() -> None:
    wire = wire6()
    forged = rechecksum(wire[:3] + b"\x01" + wire[4:], PEER6, VRRP_MULTICAST_V6)
    assert decode6(forged) is DropReason.LENGTH_MISMATCH


def test_ipv4_addresses_in_an_ipv6_packet_do_not_fit() -> None:
    # The family is the packet's: two IPv4 addresses (8 bytes) are half of one IPv6 address.
    forged = rechecksum(wire4()[:8] + b"".join(a.packed for a in VIPS4), PEER6, VRRP_MULTICAST_V6)
    assert decode6(forged) is DropReason.TRUNCATED


def test_trailing_bytes_are_length_mismatch() -> None:
    forged = rechecksum(wire4() + bytes(4), PEER4, VRRP_MULTICAST)
    assert decode_ipv4(ipv4(forged)) is DropReason.LENGTH_MISMATCH


# --------------------------------------------------------------------------------------------------------
# §5.2.8 / §7.1: the checksum, over the pseudo-header


@pytest.mark.parametrize("bit", range(8 * 24))
def test_every_single_bit_flip_of_an_ipv6_message_is_dropped(bit: int) -> None:
    wire = bytearray(wire6(advert(VIPS6[:1])))
    wire[bit // 8] ^= 1 << (bit % 8)
    assert isinstance(decode6(bytes(wire)), DropReason)


def test_checksum_covers_the_ipv6_source() -> None:
    wire = wire6(src=PEER6)
    assert isinstance(decode6(wire, src=PEER6), Received)
    assert decode6(wire, src=IPv6Address("fe80::3")) is DropReason.BAD_CHECKSUM


def test_checksum_covers_the_ipv6_destination() -> None:
    wire = wire6(dst=ME6)
    assert isinstance(decode6(wire, dst=ME6), Received)
    assert decode6(wire, dst=IPv6Address("fe80::3")) is DropReason.BAD_CHECKSUM


def test_checksum_covers_the_ipv4_source() -> None:
    wire = wire4(src=PEER4)
    assert isinstance(decode_ipv4(ipv4(wire, src=PEER4)), Received)
    assert decode_ipv4(ipv4(wire, src=IPv4Address("192.0.2.3"))) is DropReason.BAD_CHECKSUM


def test_a_v2_style_checksum_is_dropped() -> None:
    # Without the pseudo-header (keepalived's v3_checksum_as_v2, some vendors' reading of §5.2.8).
    message = wire4()[:6] + b"\x00\x00" + wire4()[8:]
    v2_style = message[:6] + struct.pack("!H", internet_checksum(message)) + message[8:]
    assert decode_ipv4(ipv4(v2_style)) is DropReason.BAD_CHECKSUM


def test_unicast_advert_with_the_rfc_checksum_accepted() -> None:
    wire = wire4(src=PEER4, dst=ME4)
    got = decode_ipv4(ipv4(wire, src=PEER4, dst=ME4))
    assert isinstance(got, Received)
    assert got.destination == ME4


def test_unicast_advert_with_keepalived_old_checksum_accepted() -> None:
    # Deviation (keepalived before 1.3.7, or `old_unicast_checksum`): the pseudo-header of a unicast
    # advert names 224.0.0.18 as destination. keepalived 2.2.7 accepts both forms; so do we.
    old = wire4(src=PEER4, dst=VRRP_MULTICAST)
    got = decode_ipv4(ipv4(old, src=PEER4, dst=ME4))
    assert isinstance(got, Received)
    assert got.destination == ME4


def test_old_unicast_checksum_is_not_an_ipv6_form() -> None:
    old = wire6(dst=VRRP_MULTICAST_V6)
    assert decode6(old, dst=ME6) is DropReason.BAD_CHECKSUM


def test_multicast_advert_with_a_unicast_checksum_dropped() -> None:
    wire = wire4(src=PEER4, dst=ME4)
    assert decode_ipv4(ipv4(wire, src=PEER4, dst=VRRP_MULTICAST)) is DropReason.BAD_CHECKSUM


# --------------------------------------------------------------------------------------------------------
# §5.1.1.3 / §5.1.2.3 / §7.1: TTL and Hop Limit 255; §5.1.2.1: link-local source


@pytest.mark.parametrize("ttl", [0, 1, 64, 254])
def test_ipv4_ttl_not_255_dropped(ttl: int) -> None:
    assert decode_ipv4(ipv4(wire4(), ttl=ttl)) is DropReason.TTL_NOT_255


@pytest.mark.parametrize("hop_limit", [0, 1, 64, 254])
def test_hop_limit_not_255_dropped(hop_limit: int) -> None:
    assert decode6(wire6(), hop_limit=hop_limit) is DropReason.HOP_LIMIT_NOT_255


def test_hop_limit_255_accepted() -> None:
    got = decode6(wire6(), hop_limit=255)
    assert isinstance(got, Received)
    assert got.ttl == 255


def test_unicast_ipv6_advert_hop_limit_is_not_judged_by_the_decoder() -> None:
    # Like IPv4: a unicast peer may be routed; validate_advert accepts it only from a configured peer.
    got = decode6(wire6(src=GLOBAL6, dst=ME6), src=GLOBAL6, dst=ME6, hop_limit=63)
    assert isinstance(got, Received)
    assert got.ttl == 63


@pytest.mark.parametrize("source", [GLOBAL6, IPv6Address("fd00::2"), IPv6Address("::1"), IPv6Address("::")])
def test_multicast_advert_from_a_non_link_local_source_dropped(source: IPv6Address) -> None:
    assert decode6(wire6(src=source), src=source) is DropReason.SOURCE_NOT_LINK_LOCAL


def test_multicast_advert_from_a_link_local_source_accepted() -> None:
    assert isinstance(decode6(wire6(src=PEER6), src=PEER6), Received)


# --------------------------------------------------------------------------------------------------------
# decode_ipv4 picks the version; decode_vrrp stays v2-only


def test_decode_ipv4_decodes_both_versions() -> None:
    v2 = Advertisement(vrid=51, priority=100, addresses=VIPS4)
    got2 = decode_ipv4(ipv4(encode(v2)))
    got3 = decode_ipv4(ipv4(wire4()))
    assert isinstance(got2, Received)
    assert isinstance(got3, Received)
    assert (got2.advert.version, got3.advert.version) == (2, 3)


def test_bare_v2_decoder_calls_a_v3_message_bad_version() -> None:
    assert decode_vrrp(wire4()) is DropReason.BAD_VERSION


def test_a_v2_layout_with_version_3_is_judged_as_v3() -> None:
    # 8 bytes of auth data more than the address count allows.
    forged = encode(Advertisement(vrid=51, priority=100, addresses=VIPS4, version=2))
    forged = rechecksum(bytes([0x31]) + forged[1:], PEER4, VRRP_MULTICAST)
    assert decode_ipv4(ipv4(forged)) is DropReason.LENGTH_MISMATCH


# --------------------------------------------------------------------------------------------------------
# validate_advert for a v3 virtual router


def received4(
    adv: Advertisement | None = None, *, src: IPv4Address = PEER4, dst: IPv4Address = VRRP_MULTICAST
) -> Received:
    return Received(advert=adv or advert(), source=src, destination=dst, ttl=255)


def received6(
    adv: Advertisement | None = None, *, src: IPv6Address = PEER6, dst: IPv6Address = VRRP_MULTICAST_V6
) -> Received:
    return Received(advert=adv or advert(VIPS6), source=src, destination=dst, ttl=255)


def check4(rx: Received, **overrides: object) -> DropReason | None:
    fields: dict[str, object] = {
        "vrid": 51,
        "advert_int": 100,
        "addresses": VIPS4,
        "own_addresses": (ME4,),
        "version": 3,
        "family": 4,
    }
    fields.update(overrides)
    return validate_advert(rx, **fields)  # type: ignore[arg-type]


def check6(rx: Received, **overrides: object) -> DropReason | None:
    fields: dict[str, object] = {"addresses": VIPS6, "own_addresses": (ME6,), "family": 6}
    return check4(rx, **(fields | overrides))


def test_matching_adverts_accepted() -> None:
    assert check4(received4()) is None
    assert check6(received6()) is None


def test_v2_advert_to_a_v3_router_is_bad_version() -> None:
    v2 = Advertisement(vrid=51, priority=100, addresses=VIPS4, advert_int=1)
    assert check4(received4(v2)) is DropReason.BAD_VERSION


def test_v3_advert_to_a_v2_router_is_bad_version() -> None:
    assert check4(received4(), version=2, advert_int=1) is DropReason.BAD_VERSION


def test_ipv4_advert_to_an_ipv6_router_is_wrong_family() -> None:
    assert check6(received4()) is DropReason.WRONG_FAMILY


def test_ipv6_advert_to_an_ipv4_router_is_wrong_family() -> None:
    assert check4(received6()) is DropReason.WRONG_FAMILY


def test_ipv6_own_packet_dropped() -> None:
    assert check6(received6(src=ME6)) is DropReason.OWN_PACKET


def test_ipv6_multicast_mode_needs_the_ipv6_group() -> None:
    assert check6(received6(dst=ME6)) is DropReason.BAD_DESTINATION
    assert check6(received6(dst=VRRP_MULTICAST_V6)) is None


def test_ipv6_unicast_peers() -> None:
    rx = received6(src=GLOBAL6, dst=ME6)
    assert check6(rx, unicast_peers=(GLOBAL6,)) is None
    assert check6(rx, unicast_peers=(PEER6,)) is DropReason.NOT_A_PEER


def test_vrid_mismatch_dropped() -> None:
    assert check6(received6(advert(VIPS6, vrid=52))) is DropReason.UNKNOWN_VRID


@pytest.mark.parametrize("theirs", [1, 99, 101, 4095])
def test_interval_mismatch_is_not_a_drop_in_v3(theirs: int) -> None:
    # RFC 5798 dropped RFC 3768's interval check: a backup adopts the master's interval (§6.4.2).
    assert check4(received4(advert(advert_int=theirs))) is None


@pytest.mark.parametrize("theirs", [(), VIPS4[:1], (*VIPS4, IPv4Address("192.0.2.102"))])
def test_address_mismatch_is_not_a_drop_in_v3(theirs: tuple[IPv4Address, ...]) -> None:
    # §7.1: "MAY verify ... If the above check fails, the receiver SHOULD log the event" — no discard.
    rx = received4(advert(theirs))
    assert check4(rx) is None
    assert address_mismatch(rx.advert, VIPS4)


def test_address_order_is_not_a_mismatch() -> None:
    assert not address_mismatch(advert(VIPS6[::-1]), VIPS6)
    assert address_mismatch(advert(VIPS6[:1] * 2), VIPS6)  # a multiset, not a set


def test_address_mismatch_across_families() -> None:
    assert address_mismatch(advert(VIPS4), VIPS6)


def test_v3_advert_from_the_owner_accepted() -> None:
    assert check4(received4(advert(priority=PRIORITY_OWNER))) is None


# --------------------------------------------------------------------------------------------------------
# DecodeCache over IPv6


def test_decode_cache_returns_the_same_object_for_a_repeat() -> None:
    cache, wire = DecodeCache(), wire6()
    first = cache.decode_ipv6(wire, {51}, source=PEER6, destination=VRRP_MULTICAST_V6, hop_limit=255)
    again = cache.decode_ipv6(wire, {51}, source=PEER6, destination=VRRP_MULTICAST_V6, hop_limit=255)
    assert isinstance(first, Received)
    assert again is first


def test_decode_cache_keys_on_everything_decoding_reads() -> None:
    cache, wire = DecodeCache(), wire6()
    first = cache.decode_ipv6(wire, {51}, source=PEER6, destination=VRRP_MULTICAST_V6, hop_limit=255)
    low = cache.decode_ipv6(wire, {51}, source=PEER6, destination=VRRP_MULTICAST_V6, hop_limit=64)
    other = cache.decode_ipv6(
        wire, {51}, source=IPv6Address("fe80::3"), destination=VRRP_MULTICAST_V6, hop_limit=255
    )
    assert isinstance(first, Received)
    assert low is DropReason.HOP_LIMIT_NOT_255
    assert other is DropReason.BAD_CHECKSUM


def test_decode_cache_forgets_vrids_it_does_not_run() -> None:
    cache, wire = DecodeCache(), wire6()
    first = cache.decode_ipv6(wire, {52}, source=PEER6, destination=VRRP_MULTICAST_V6, hop_limit=255)
    again = cache.decode_ipv6(wire, {52}, source=PEER6, destination=VRRP_MULTICAST_V6, hop_limit=255)
    assert first == again
    assert first is not again


# --------------------------------------------------------------------------------------------------------
# Local misuse raises


def test_v3_checksum_needs_the_addresses() -> None:
    with pytest.raises(ValueError, match="pass source and destination"):
        encode(advert())


def test_v3_with_a_checksum_set_encodes_without_the_addresses() -> None:
    assert encode(advert(checksum=0x1234))[6:8] == b"\x12\x34"


@pytest.mark.parametrize("interval", [-1, MAX_ADVER_INT_V3 + 1, 0xFFFF])
def test_v3_interval_out_of_range(interval: int) -> None:
    with pytest.raises(ValueError, match="advert_int"):
        wire4(advert(advert_int=interval))


def test_v3_has_no_authentication() -> None:
    with pytest.raises(ValueError, match="no authentication"):
        wire4(advert(auth_type=1))
    with pytest.raises(ValueError, match="no authentication"):
        wire4(advert(auth_data=b"secret\x00\x00"))


def test_v3_carries_one_family() -> None:
    with pytest.raises(ValueError, match="not both"):
        wire4(advert((VIPS4[0], VIPS6[0])))


def test_v3_source_must_be_of_the_addresses_family() -> None:
    with pytest.raises(ValueError, match="family"):
        encode(advert(VIPS6), source=ME4, destination=VRRP_MULTICAST)


def test_v2_carries_ipv4_only() -> None:
    with pytest.raises(ValueError, match="IPv4 addresses only"):
        encode(Advertisement(vrid=51, priority=100, addresses=VIPS6))


# --------------------------------------------------------------------------------------------------------
# Mutated v3 datagrams against the independent restatement of fuzz/fuzz_decode.py


@st.composite
def mutated_v3_datagrams(draw: st.DrawFn) -> bytes:
    vips = tuple(draw(st.lists(st.sampled_from(VIPS4), max_size=3)))
    dst = draw(st.sampled_from([VRRP_MULTICAST, ME4]))
    checksum_to = draw(st.sampled_from([dst, VRRP_MULTICAST]))  # the RFC form or keepalived's old one
    wire = bytearray(encode(advert(vips), source=PEER4, destination=checksum_to))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(wire) - 1))
        op = draw(st.sampled_from(["flip", "set", "truncate", "extend"]))
        if op == "flip":
            wire[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            wire[at] = draw(st.integers(0, 255))
        elif op == "truncate":
            del wire[at:]
        else:
            wire += draw(st.binary(min_size=1, max_size=8))
        if not wire:
            break
    message = bytes(wire)
    if len(message) >= 8 and draw(st.booleans()):
        message = rechecksum(message, PEER4, checksum_to)
    return ipv4(message, dst=dst, ttl=draw(st.sampled_from([255, 255, 64])))


@given(mutated_v3_datagrams())
def test_mutated_v3_datagrams_decode_exactly_when_the_restatement_accepts(datagram: bytes) -> None:
    got = decode_ipv4(datagram)
    assert isinstance(got, Received) == ipv4_acceptable(datagram)
    if isinstance(got, Received):
        # Every field re-encodes to its bytes, but the reserved bits, which are sent as zero (§5.2.6).
        assert encode(got.advert, source=got.source, destination=got.destination) == sent_as(datagram[20:])
