"""Unit tests for the VRRPv2 codec (vrrpd/protocol/packet.py), each rule from both sides.

For every §7.1 rule there is the packet that must pass and the packet that must be dropped, and the drop
must carry the right `DropReason`. Local misuse must raise `ValueError`.
"""

from __future__ import annotations

import dataclasses
import struct
from ipaddress import IPv4Address
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrrpd.protocol.packet import (
    AUTH_DATA_LEN,
    AUTH_NONE,
    AUTH_PASS,
    MAX_ADDRESSES,
    PRIORITY_OWNER,
    VRRP_MULTICAST,
    VRRP_PROTOCOL,
    Advertisement,
    DecodeCache,
    DropReason,
    Received,
    decode_ipv4,
    decode_key,
    decode_vrrp,
    encode,
    internet_checksum,
    pad_password,
    validate_advert,
)

PEER = IPv4Address("192.0.2.2")
ME = IPv4Address("192.0.2.1")
VIP1 = IPv4Address("192.0.2.100")
VIP2 = IPv4Address("192.0.2.101")


def ipv4(
    payload: bytes,
    *,
    src: IPv4Address = PEER,
    dst: IPv4Address = VRRP_MULTICAST,
    ttl: int = 255,
    proto: int = VRRP_PROTOCOL,
    options: bytes = b"",
    version: int = 4,
    ihl: int | None = None,
    total_length: int | None = None,
) -> bytes:
    """An IPv4 datagram as a raw socket delivers it, with a correct header checksum (RFC 791)."""
    assert len(options) % 4 == 0, "options pad to a 32-bit boundary"
    words = 5 + len(options) // 4 if ihl is None else ihl
    length = 20 + len(options) + len(payload) if total_length is None else total_length
    first = (version << 4) | words
    header = struct.pack(
        "!BBHHHBBH4s4s", first, 0xC0, length, 0x1234, 0, ttl, proto, 0, src.packed, dst.packed
    )
    header += options
    header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
    return header + payload


def rechecksum(data: bytes) -> bytes:
    """Recompute the VRRP checksum after a hand edit, so only the edited rule can fail."""
    zeroed = data[:6] + b"\x00\x00" + data[8:]
    return zeroed[:6] + struct.pack("!H", internet_checksum(zeroed)) + zeroed[8:]


def advert(**overrides: object) -> Advertisement:
    fields: dict[str, object] = {"vrid": 51, "priority": 100, "addresses": (VIP1, VIP2)}
    fields.update(overrides)
    return Advertisement(**fields)  # type: ignore[arg-type]


def received(
    adv: Advertisement | None = None, *, src: IPv4Address = PEER, dst: IPv4Address = VRRP_MULTICAST
) -> Received:
    return Received(advert=adv or advert(), source=src, destination=dst, ttl=255)


# --------------------------------------------------------------------------------------------------------
# Round trip


@pytest.mark.parametrize(
    "adv",
    [
        advert(),
        advert(addresses=()),
        advert(vrid=1, priority=0, advert_int=0),
        advert(vrid=255, priority=255, advert_int=255),
        advert(addresses=tuple(IPv4Address(0x0A000000 + i) for i in range(MAX_ADDRESSES))),
        advert(auth_type=AUTH_PASS, auth_data=pad_password("secret")),
        advert(auth_type=AUTH_PASS, auth_data=pad_password("12345678")),
        advert(auth_type=7, auth_data=b"\xff" * AUTH_DATA_LEN),
    ],
)
def test_round_trip(adv: Advertisement) -> None:
    wire = encode(adv)
    assert len(wire) == 8 + 4 * len(adv.addresses) + AUTH_DATA_LEN
    decoded = decode_vrrp(wire)
    assert isinstance(decoded, Advertisement)
    assert dataclasses.replace(decoded, checksum=0) == adv
    assert decoded.checksum == struct.unpack_from("!H", wire, 6)[0]
    assert encode(decoded) == wire  # the decoded checksum is re-emitted unchanged


def test_round_trip_through_ipv4() -> None:
    wire = encode(advert())
    got = decode_ipv4(ipv4(wire, src=PEER, dst=VRRP_MULTICAST))
    assert isinstance(got, Received)
    assert got.source == PEER
    assert got.destination == VRRP_MULTICAST
    assert got.ttl == 255
    assert encode(got.advert) == wire


def test_addresses_keep_their_order() -> None:
    wire = encode(advert(addresses=(VIP2, VIP1)))
    decoded = decode_vrrp(wire)
    assert isinstance(decoded, Advertisement)
    assert decoded.addresses == (VIP2, VIP1)


def test_explicit_checksum_is_emitted_verbatim() -> None:
    """A non-zero `checksum` is trusted by encode (round-trips rely on it); a wrong one is then dropped."""
    wire = encode(advert(checksum=0x1234))
    assert wire[6:8] == b"\x12\x34"
    assert decode_vrrp(wire) is DropReason.BAD_CHECKSUM


# --------------------------------------------------------------------------------------------------------
# Checksum


def test_rfc1071_numeric_example() -> None:
    # RFC 1071 §3: 0001 + f203 + f4f5 + f6f7 = 2ddf0 -> ddf2 after the end-around carry; complement 220d.
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


def test_checksum_pads_odd_length_with_a_zero_byte() -> None:
    assert internet_checksum(b"\x01") == 0xFEFF
    assert internet_checksum(b"\x01\x02\x03") == internet_checksum(b"\x01\x02\x03\x00")


def test_checksum_of_nothing_and_of_all_ones() -> None:
    assert internet_checksum(b"") == 0xFFFF
    assert internet_checksum(b"\xff\xff") == 0x0000


# RFC 3768 §5.1 layout, written out by hand:
#   21        version 2, type 1           33  VRID 51     64  priority 100   01  count 1
#   00        auth type 0                 01  adver int 1  b8bd  checksum
#   c0a80164  192.168.1.100               00*8  auth data
# One's complement sum of the 16-bit words with the checksum field zero:
#   2133 + 6401 + 0001 + c0a8 + 0164 = 1_4741 -> 4741 + 1 = 4742;  ~4742 = b8bd.
KNOWN_GOOD = bytes.fromhex("21336401 0001b8bd c0a80164 00000000 00000000")

# Same layout, two addresses and a simple text password "secret" (RFC 2338 §5.3.6.1):
#   2101 + ff02 + 0101 + 0a00 + 0001 + 0a00 + 0002 + 7365 + 6372 + 6574 + 0000 = 2_7152
#   -> 7152 + 2 = 7154;  ~7154 = 8eab.
KNOWN_GOOD_AUTH = bytes.fromhex("2101ff02 01018eab 0a000001 0a000002 73656372 65740000")


def test_known_good_vector_encodes_byte_for_byte() -> None:
    adv = Advertisement(vrid=51, priority=100, addresses=(IPv4Address("192.168.1.100"),))
    assert encode(adv) == KNOWN_GOOD
    assert internet_checksum(KNOWN_GOOD) == 0


def test_known_good_vector_decodes() -> None:
    assert decode_vrrp(KNOWN_GOOD) == Advertisement(
        vrid=51, priority=100, addresses=(IPv4Address("192.168.1.100"),), checksum=0xB8BD
    )


def test_known_good_auth_vector() -> None:
    adv = Advertisement(
        vrid=1,
        priority=255,
        addresses=(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")),
        auth_type=AUTH_PASS,
        auth_data=pad_password("secret"),
    )
    assert encode(adv) == KNOWN_GOOD_AUTH
    assert decode_vrrp(KNOWN_GOOD_AUTH) == dataclasses.replace(adv, checksum=0x8EAB)


def test_bad_checksum_dropped_good_accepted() -> None:
    assert isinstance(decode_vrrp(KNOWN_GOOD), Advertisement)
    bad = KNOWN_GOOD[:7] + bytes([KNOWN_GOOD[7] ^ 0x01]) + KNOWN_GOOD[8:]
    assert decode_vrrp(bad) is DropReason.BAD_CHECKSUM


@pytest.mark.parametrize("bit", range(len(KNOWN_GOOD_AUTH) * 8))
def test_every_single_bit_flip_is_dropped(bit: int) -> None:
    """The Internet checksum detects every single-bit error; header flips may be caught earlier."""
    data = bytearray(KNOWN_GOOD_AUTH)
    data[bit // 8] ^= 0x80 >> (bit % 8)
    assert isinstance(decode_vrrp(bytes(data)), DropReason)


def test_both_zero_representations_of_the_checksum_verify() -> None:
    """One's complement has two zeros: 0x0000 and 0xffff both verify; each round-trips byte for byte."""
    # Pick auth data so the message sums to ffff with the checksum field zero: computed checksum is 0000.
    base = encode(advert(addresses=(), auth_data=bytes(AUTH_DATA_LEN)))
    partial = 0xFFFF - (~internet_checksum(base[:6] + b"\x00\x00" + base[8:]) & 0xFFFF)
    wire = base[:6] + b"\x00\x00" + base[8:14] + struct.pack("!H", partial)
    assert internet_checksum(wire) == 0
    other = wire[:6] + b"\xff\xff" + wire[8:]
    assert internet_checksum(other) == 0
    for data in (wire, other):
        decoded = decode_vrrp(data)
        assert isinstance(decoded, Advertisement)
        assert encode(decoded) == data


# --------------------------------------------------------------------------------------------------------
# decode_vrrp drop reasons


@pytest.mark.parametrize("length", range(16))
def test_shorter_than_header_and_auth_is_truncated(length: int) -> None:
    assert decode_vrrp(encode(advert(addresses=()))[:length]) is DropReason.TRUNCATED


def test_header_and_auth_only_decodes() -> None:
    wire = encode(advert(addresses=()))
    assert len(wire) == 16
    assert isinstance(decode_vrrp(wire), Advertisement)


@pytest.mark.parametrize("version", [0, 1, 3, 15])
def test_wrong_version_dropped(version: int) -> None:
    # The v2 layout with another version nibble (`encode` gives version 3 the v3 layout, so it is forged).
    forged = rechecksum(bytes([version << 4 | 1]) + encode(advert())[1:])
    assert decode_vrrp(forged) is DropReason.BAD_VERSION


def test_version_2_accepted() -> None:
    assert isinstance(decode_vrrp(encode(advert(version=2))), Advertisement)


@pytest.mark.parametrize("type_", [0, 2, 15])
def test_wrong_type_dropped(type_: int) -> None:
    assert decode_vrrp(encode(advert(type=type_))) is DropReason.BAD_TYPE


def test_type_1_accepted() -> None:
    assert isinstance(decode_vrrp(encode(advert(type=1))), Advertisement)


def test_vrrpv3_packet_is_bad_version() -> None:
    # RFC 5798 header: version 3, 12-bit interval in centiseconds; it must not be mistaken for v2.
    v3 = rechecksum(bytes.fromhex("3133640100640000c0a80164"))
    assert decode_vrrp(v3 + bytes(4)) is DropReason.BAD_VERSION


def test_short_vrrpv3_packet_is_bad_version_not_truncated() -> None:
    # A VRRPv3 advert for one IPv4 address is 12 bytes, shorter than a v2 header plus auth data. §7.1 lists
    # the version check before the length check; an operator mixing v2 and v3 should see "bad_version".
    v3 = rechecksum(bytes.fromhex("3133640100640000c0a80164"))
    assert decode_vrrp(v3) is DropReason.BAD_VERSION


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", DropReason.TRUNCATED),
        (b"\x21", DropReason.TRUNCATED),
        (b"\x31", DropReason.BAD_VERSION),
        (b"\x22", DropReason.BAD_TYPE),
        (b"\x31" + bytes(20), DropReason.BAD_VERSION),
    ],
)
def test_version_and_type_are_judged_before_length(data: bytes, reason: DropReason) -> None:
    assert decode_vrrp(data) is reason


@pytest.mark.parametrize("claimed", [3, 4, 255])
def test_count_claiming_more_addresses_than_present_is_truncated(claimed: int) -> None:
    wire = encode(advert())  # two addresses
    patched = rechecksum(wire[:3] + bytes([claimed]) + wire[4:])
    assert decode_vrrp(patched) is DropReason.TRUNCATED


def test_count_claiming_fewer_addresses_is_length_mismatch() -> None:
    wire = encode(advert())  # two addresses
    patched = rechecksum(wire[:3] + bytes([1]) + wire[4:])
    assert decode_vrrp(patched) is DropReason.LENGTH_MISMATCH


@pytest.mark.parametrize("extra", [b"\x00", b"\x00\x00", b"\x00" * 4, b"\xde\xad\xbe\xef"])
def test_trailing_bytes_are_length_mismatch(extra: bytes) -> None:
    # Two zero bytes keep the checksum valid, so the drop is the length rule, not the checksum.
    assert decode_vrrp(encode(advert()) + extra) is DropReason.LENGTH_MISMATCH


def test_vrid_zero_is_unknown_vrid() -> None:
    wire = rechecksum(encode(advert())[:1] + b"\x00" + encode(advert())[2:])
    assert decode_vrrp(wire) is DropReason.UNKNOWN_VRID
    assert isinstance(decode_vrrp(rechecksum(wire[:1] + b"\x01" + wire[2:])), Advertisement)


def test_priority_zero_decodes() -> None:
    """Priority 0 (§5.3.4, master leaving) is a valid advertisement, not a malformed one."""
    decoded = decode_vrrp(encode(advert(priority=0)))
    assert isinstance(decoded, Advertisement)
    assert decoded.priority == 0


# --------------------------------------------------------------------------------------------------------
# decode_ipv4 drop reasons


@pytest.mark.parametrize("length", [0, 1, 19])
def test_shorter_than_ip_header_is_truncated(length: int) -> None:
    assert decode_ipv4(ipv4(encode(advert()))[:length]) is DropReason.TRUNCATED


@pytest.mark.parametrize("ttl", [0, 1, 64, 254])
def test_ttl_not_255_dropped(ttl: int) -> None:
    assert decode_ipv4(ipv4(encode(advert()), ttl=ttl)) is DropReason.TTL_NOT_255


def test_ttl_255_accepted() -> None:
    assert isinstance(decode_ipv4(ipv4(encode(advert()), ttl=255)), Received)


def test_unicast_advert_ttl_is_not_judged_by_the_decoder() -> None:
    # keepalived unicast peers may sit behind a router; validate_advert admits them only from listed peers.
    got = decode_ipv4(ipv4(encode(advert()), dst=ME, ttl=64))
    assert isinstance(got, Received) and got.ttl == 64


def test_unicast_destination_with_low_ttl_still_dropped_in_multicast_mode() -> None:
    got = decode_ipv4(ipv4(encode(advert()), dst=ME, ttl=64))
    assert isinstance(got, Received)
    assert check(got) is DropReason.BAD_DESTINATION
    assert check(got, unicast_peers=(PEER,)) is None  # unicast mode: the listed peer is admitted
    assert check(got, unicast_peers=(VIP1,)) is DropReason.NOT_A_PEER


@pytest.mark.parametrize("proto", [0, 6, 17, 50, 52, 111, 113, 255])
def test_ip_protocol_not_112_dropped(proto: int) -> None:
    assert decode_ipv4(ipv4(encode(advert()), proto=proto)) is DropReason.NOT_VRRP


def test_ip_protocol_51_is_an_opened_ah_datagram() -> None:
    # `protocol.ah.open_ah` hands back a verified AH datagram without its AH and with protocol 51 kept:
    # decoded as authenticated (a raw socket for 112 never delivers protocol 51, and a datagram still
    # carrying its AH has it where the VRRP header should be).
    got = decode_ipv4(ipv4(encode(advert()), proto=51))
    assert isinstance(got, Received) and got.ah
    assert not cast(Received, decode_ipv4(ipv4(encode(advert()), proto=112))).ah
    assert decode_ipv4(ipv4(bytes([112, 4, 0, 0]) + bytes(20) + encode(advert()), proto=51)) is (
        DropReason.BAD_VERSION
    )


def test_ip_protocol_112_accepted() -> None:
    assert isinstance(decode_ipv4(ipv4(encode(advert()), proto=112)), Received)


@pytest.mark.parametrize("version", [0, 5, 6, 15])
def test_not_ipv4_dropped(version: int) -> None:
    assert decode_ipv4(ipv4(encode(advert()), version=version)) is DropReason.NOT_IPV4


@pytest.mark.parametrize("ihl", [0, 1, 4])
def test_ihl_below_five_is_bad_ip_header(ihl: int) -> None:
    assert decode_ipv4(ipv4(encode(advert()), ihl=ihl)) is DropReason.BAD_IP_HEADER


def test_ihl_beyond_the_datagram_is_bad_ip_header() -> None:
    # IHL 15 claims a 60-byte header; only 20 + 16 bytes arrived.
    datagram = ipv4(encode(advert(addresses=())), ihl=15)
    assert len(datagram) < 60
    assert decode_ipv4(datagram) is DropReason.BAD_IP_HEADER


@pytest.mark.parametrize(
    "options",
    [
        bytes.fromhex("94040000"),  # IHL 6: Router Alert (RFC 2113)
        bytes.fromhex("01010100"),  # IHL 6: NOP NOP NOP EOL
        bytes(40),  # IHL 15: the maximum header
    ],
)
def test_ip_options_are_skipped(options: bytes) -> None:
    wire = encode(advert())
    got = decode_ipv4(ipv4(wire, options=options))
    assert isinstance(got, Received)
    assert encode(got.advert) == wire
    assert got.source == PEER


@pytest.mark.parametrize("delta", [-1, 1, -4, 4, 1000])
def test_ip_total_length_disagreeing_is_length_mismatch(delta: int) -> None:
    wire = encode(advert())
    assert decode_ipv4(ipv4(wire, total_length=20 + len(wire) + delta)) is DropReason.LENGTH_MISMATCH


def test_ip_total_length_agreeing_accepted() -> None:
    wire = encode(advert())
    assert isinstance(decode_ipv4(ipv4(wire, total_length=20 + len(wire))), Received)


def test_ip_payload_drop_reasons_pass_through() -> None:
    wire = encode(advert())
    bad_sum = wire[:6] + bytes([wire[6] ^ 0xFF]) + wire[7:]
    assert decode_ipv4(ipv4(bad_sum)) is DropReason.BAD_CHECKSUM
    assert decode_ipv4(ipv4(encode(advert(version=4)))) is DropReason.BAD_VERSION
    assert decode_ipv4(ipv4(wire[:10])) is DropReason.TRUNCATED


def test_ip_header_checksum_is_not_judged() -> None:
    """The kernel verifies the IP header checksum before a raw socket sees the datagram."""
    datagram = bytearray(ipv4(encode(advert())))
    datagram[10] ^= 0xFF
    assert isinstance(decode_ipv4(bytes(datagram)), Received)


def test_unicast_destination_is_not_judged_by_decode_ipv4() -> None:
    got = decode_ipv4(ipv4(encode(advert()), dst=ME))
    assert isinstance(got, Received)
    assert got.destination == ME


# --------------------------------------------------------------------------------------------------------
# validate_advert (the §7.1 checks that need local configuration)


def check(rx: Received, **config: object) -> DropReason | None:
    base: dict[str, object] = {"vrid": 51, "advert_int": 1, "addresses": (VIP1, VIP2), "own_addresses": (ME,)}
    base.update(config)
    return validate_advert(rx, **base)  # type: ignore[arg-type]


def test_matching_advert_accepted() -> None:
    assert check(received()) is None


def test_own_packet_dropped() -> None:
    assert check(received(src=ME)) is DropReason.OWN_PACKET
    assert check(received(src=ME), own_addresses=(VIP1, ME)) is DropReason.OWN_PACKET
    assert check(received(src=PEER), own_addresses=(ME,)) is None


def test_own_packet_wins_over_later_checks() -> None:
    assert check(received(advert(vrid=7), src=ME)) is DropReason.OWN_PACKET


def test_unicast_peer_not_listed_dropped() -> None:
    stranger = IPv4Address("192.0.2.66")
    assert check(received(src=stranger, dst=ME), unicast_peers=(PEER,)) is DropReason.NOT_A_PEER


def test_unicast_peer_listed_accepted() -> None:
    assert check(received(src=PEER, dst=ME), unicast_peers=(PEER,)) is None
    other = IPv4Address("192.0.2.3")
    assert check(received(src=PEER, dst=ME), unicast_peers=(other, PEER)) is None


def test_unicast_mode_accepts_multicast_destination_from_a_peer() -> None:
    assert check(received(src=PEER, dst=VRRP_MULTICAST), unicast_peers=(PEER,)) is None


def test_multicast_mode_wrong_destination_dropped() -> None:
    assert check(received(dst=ME)) is DropReason.BAD_DESTINATION
    assert check(received(dst=IPv4Address("224.0.0.19"))) is DropReason.BAD_DESTINATION


def test_multicast_mode_vrrp_group_accepted() -> None:
    assert check(received(dst=IPv4Address("224.0.0.18"))) is None


def test_vrid_mismatch_dropped() -> None:
    assert check(received(advert(vrid=52))) is DropReason.UNKNOWN_VRID
    assert check(received(advert(vrid=52)), vrid=52) is None


@pytest.mark.parametrize(("theirs", "ours"), [(AUTH_PASS, AUTH_NONE), (AUTH_NONE, AUTH_PASS), (2, AUTH_NONE)])
def test_auth_type_mismatch_dropped(theirs: int, ours: int) -> None:
    rx = received(advert(auth_type=theirs, auth_data=pad_password("secret")))
    assert check(rx, auth_type=ours, auth_data=pad_password("secret")) is DropReason.AUTH_TYPE_MISMATCH


def test_password_mismatch_dropped() -> None:
    rx = received(advert(auth_type=AUTH_PASS, auth_data=pad_password("secret")))
    assert check(rx, auth_type=AUTH_PASS, auth_data=pad_password("Secret")) is DropReason.AUTH_MISMATCH
    assert check(rx, auth_type=AUTH_PASS, auth_data=pad_password("secret1")) is DropReason.AUTH_MISMATCH


def test_password_match_accepted() -> None:
    rx = received(advert(auth_type=AUTH_PASS, auth_data=pad_password("secret")))
    assert check(rx, auth_type=AUTH_PASS, auth_data=pad_password("secret")) is None


def test_auth_data_ignored_with_type_0() -> None:
    """§5.3.6: with auth type 0 the auth data is ignored on receipt, whatever it holds."""
    rx = received(advert(auth_type=AUTH_NONE, auth_data=b"garbage!"))
    assert check(rx, auth_type=AUTH_NONE) is None
    assert check(rx, auth_type=AUTH_NONE, auth_data=pad_password("other")) is None


def test_interval_mismatch_dropped() -> None:
    assert check(received(advert(advert_int=2))) is DropReason.INTERVAL_MISMATCH
    assert check(received(advert(advert_int=2)), advert_int=2) is None


def test_interval_mismatch_dropped_even_from_the_owner() -> None:
    assert check(received(advert(advert_int=3, priority=PRIORITY_OWNER))) is DropReason.INTERVAL_MISMATCH


@pytest.mark.parametrize(
    "theirs",
    [
        (VIP1,),
        (VIP1, VIP2, IPv4Address("192.0.2.102")),
        (VIP1, IPv4Address("192.0.2.102")),
        (),
        (VIP1, VIP1),
    ],
)
@pytest.mark.parametrize("priority", [0, 1, 100, 254])
def test_address_mismatch_dropped_unless_owner(theirs: tuple[IPv4Address, ...], priority: int) -> None:
    assert check(received(advert(addresses=theirs, priority=priority))) is DropReason.ADDRESS_MISMATCH


def test_address_mismatch_accepted_from_the_owner() -> None:
    """§7.1: drop on mismatch *unless* the priority is 255 (the sender owns the addresses)."""
    assert check(received(advert(addresses=(VIP1,), priority=PRIORITY_OWNER))) is None
    assert check(received(advert(addresses=(), priority=PRIORITY_OWNER))) is None


def test_same_addresses_in_a_different_order_accepted() -> None:
    assert check(received(advert(addresses=(VIP2, VIP1)))) is None
    assert check(received(advert(addresses=(VIP1, VIP2))), addresses=[VIP2, VIP1]) is None


# --------------------------------------------------------------------------------------------------------
# Local misuse raises ValueError


@pytest.mark.parametrize(
    "overrides",
    [
        {"vrid": 0},
        {"vrid": 256},
        {"vrid": -1},
        {"priority": 256},
        {"priority": -1},
        {"advert_int": 256},
        {"advert_int": -1},
        {"auth_type": 256},
        {"version": 16},
        {"type": 16},
        {"addresses": tuple(IPv4Address(0x0A000000 + i) for i in range(MAX_ADDRESSES + 1))},
        {"auth_data": bytes(AUTH_DATA_LEN - 1)},
        {"auth_data": bytes(AUTH_DATA_LEN + 1)},
        {"auth_data": b""},
    ],
)
def test_encode_misuse_raises(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # the message: next test
        encode(advert(**overrides))


@pytest.mark.parametrize("checksum", [-1, 0x10000])
def test_encode_checksum_out_of_range_raises_value_error(checksum: int) -> None:
    with pytest.raises(ValueError, match="checksum"):
        encode(advert(checksum=checksum))


def test_encode_misuse_message_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"vrid=256 out of range 1\.\.255"):
        encode(advert(vrid=256))


@pytest.mark.parametrize("overrides", [{"vrid": 1}, {"vrid": 255}, {"priority": 0}, {"priority": 255}])
def test_encode_edges_accepted(overrides: dict[str, object]) -> None:
    assert isinstance(decode_vrrp(encode(advert(**overrides))), Advertisement)


def test_pad_password() -> None:
    assert pad_password("secret") == b"secret\x00\x00"
    assert pad_password(b"secret") == b"secret\x00\x00"
    assert pad_password("") == bytes(AUTH_DATA_LEN)
    assert pad_password("12345678") == b"12345678"


def test_pad_password_nine_bytes_raises() -> None:
    with pytest.raises(ValueError, match="longer than 8"):
        pad_password("123456789")
    with pytest.raises(ValueError, match="longer than 8"):
        pad_password(b"123456789")


def test_pad_password_non_ascii_raises_value_error() -> None:
    with pytest.raises(ValueError):  # UnicodeEncodeError is a ValueError
        pad_password("pässwort")


# --------------------------------------------------------------------------------------------------------
# decode_key / DecodeCache: reusing the decoding of a repeated advert


def _renumbered(datagram: bytes, tos: int, ident: int, frag: int) -> bytes:
    """The same datagram as the kernel might send it next time: other TOS, Identification, flags."""
    header = datagram[:1] + bytes([tos]) + datagram[2:4] + struct.pack("!HH", ident, frag) + datagram[8:10]
    header += b"\x00\x00" + datagram[12:20]
    header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:20]
    return header + datagram[20:]


@given(st.binary(max_size=80), st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_decode_key_leaves_out_only_what_decoding_ignores(
    data: bytes, tos: int, ident: int, frag: int
) -> None:
    for datagram in (data, ipv4(encode(advert())), ipv4(encode(advert()), ttl=64)):
        if len(datagram) < 20:
            continue
        other = _renumbered(datagram, tos, ident, frag)
        assert decode_key(other) == decode_key(datagram)
        assert decode_ipv4(other) == decode_ipv4(datagram)


def test_decode_key_keeps_every_field_decoding_reads() -> None:
    base = ipv4(encode(advert()))
    for offset in (0, 2, 3, 8, 9, *range(12, len(base))):
        changed = base[:offset] + bytes([base[offset] ^ 1]) + base[offset + 1 :]
        assert decode_key(changed) != decode_key(base), offset


def test_decode_cache_returns_the_same_object_for_a_repeat() -> None:
    cache = DecodeCache()
    first = cache.decode(ipv4(encode(advert())), {51})
    again = cache.decode(_renumbered(ipv4(encode(advert())), 0, 0x4321, 0x4000), {51})
    assert isinstance(first, Received)
    assert again is first
    other = cache.decode(ipv4(encode(advert(priority=101))), {51})
    assert other is not first and other == decode_ipv4(ipv4(encode(advert(priority=101))))


def test_decode_cache_remembers_only_the_given_vrids_and_no_drops() -> None:
    cache = DecodeCache()
    foreign = ipv4(encode(advert(vrid=52)))
    assert cache.decode(foreign, {51}) is not cache.decode(foreign, {51})  # decoded afresh every time
    assert cache.decode(ipv4(b"\x21"), {51}) is DropReason.TRUNCATED


def test_decode_cache_is_bounded() -> None:
    cache = DecodeCache()
    datagrams = [ipv4(encode(advert(priority=p))) for p in range(1, 40)]
    first = cache.decode(datagrams[0], {51})
    for d in datagrams[1:18]:  # 2 per VRID + 16 = 18 entries fill it
        cache.decode(d, {51})
    assert cache.decode(datagrams[0], {51}) is first
    for d in datagrams[18:]:
        cache.decode(d, {51})
    assert len(cache._known) <= 18
    assert cache.decode(datagrams[0], {51}) is not first  # forgotten, decoded afresh
