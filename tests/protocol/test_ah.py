"""vrrpd/protocol/ah.py: keepalived's `auth_type AH` adverts, held to packets keepalived 2.2.7 sent.

tests/data/ah/keepalived-2.2.7.txt holds ten datagrams captured from a real keepalived (its header says
how): a multicast instance (VRID 51, "s3cret") and a unicast one (VRID 52, "longerpassword", which
keepalived truncates to 8 bytes). Each must verify with our code, and our `wrap` of the same VRRP message,
sequence number and Identification must give exactly keepalived's bytes.
"""

from __future__ import annotations

import hmac
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrrpd.protocol import ah
from vrrpd.protocol.packet import (
    AUTH_AH,
    AUTH_PASS,
    VRRP_MULTICAST,
    Advertisement,
    DropReason,
    Received,
    decode_ipv4,
    encode,
    validate_advert,
)

CAPTURE = Path(__file__).parent.parent / "data" / "ah" / "keepalived-2.2.7.txt"
SOURCE = IPv4Address("192.0.2.1")
PEER = IPv4Address("192.0.2.2")
KEYS = {51: ah.ah_key("s3cret"), 52: ah.ah_key("longerpassword")}
UNICAST = {51: False, 52: True}


def captured() -> list[bytes]:
    lines = CAPTURE.read_text().splitlines()
    return [bytes.fromhex(line) for line in lines if line and not line.startswith("#")]


def _vrid(datagram: bytes) -> int:
    vrid = ah.vrid_of(datagram)
    assert vrid is not None
    return vrid


def test_the_capture_is_what_its_header_says() -> None:
    packets = captured()
    assert len(packets) == 10
    assert {_vrid(p) for p in packets} == {51, 52}
    assert all(p[9] == ah.AH_PROTOCOL for p in packets)


@pytest.mark.parametrize("index", range(10))
def test_keepalived_adverts_verify_and_decode(index: int) -> None:
    datagram = captured()[index]
    vrid = _vrid(datagram)
    opened = ah.open_ah(datagram, KEYS[vrid], unicast=UNICAST[vrid])
    assert isinstance(opened, ah.Opened), opened
    received = decode_ipv4(opened.datagram)
    assert isinstance(received, Received), received
    assert received.ah
    adv = received.advert
    assert (adv.vrid, adv.auth_type, adv.auth_data) == (vrid, AUTH_AH, bytes(8))
    assert received.source == SOURCE
    assert received.destination == (PEER if UNICAST[vrid] else VRRP_MULTICAST)
    # Our §7.1 checks accept it for a router configured as keepalived's peer would be.
    verdict = validate_advert(
        received,
        vrid=vrid,
        advert_int=1,
        addresses=adv.addresses,
        own_addresses=(PEER,),
        auth_type=AUTH_AH,
        unicast_peers=(SOURCE,) if UNICAST[vrid] else (),
    )
    assert verdict is None


@pytest.mark.parametrize("index", range(10))
def test_our_wrap_gives_keepalived_bytes(index: int) -> None:
    datagram = captured()[index]
    vrid = _vrid(datagram)
    opened = ah.open_ah(datagram, KEYS[vrid], unicast=UNICAST[vrid])
    assert isinstance(opened, ah.Opened)
    received = decode_ipv4(opened.datagram)
    assert isinstance(received, Received)
    ident = int.from_bytes(datagram[4:6], "big")
    ours = ah.wrap(
        encode(received.advert),
        source=SOURCE,
        destination=IPv4Address(datagram[16:20]),
        key=KEYS[vrid],
        seq=opened.seq,
        ident=ident,
        unicast=UNICAST[vrid],
    )
    assert ours == datagram


def test_sequence_numbers_count_from_one_per_instance() -> None:
    seqs: dict[int, list[int]] = {51: [], 52: []}
    for datagram in captured():
        opened = ah.open_ah(datagram, KEYS[_vrid(datagram)], unicast=UNICAST[_vrid(datagram)])
        assert isinstance(opened, ah.Opened)
        seqs[_vrid(datagram)].append(opened.seq)
    counter = ah.SequenceCounter()
    expected = [counter.next() for _ in range(5)]
    assert seqs == {51: expected, 52: expected} and expected == [1, 2, 3, 4, 5]


def test_the_icv_is_hmac_md5_96_over_the_masked_datagram() -> None:
    # Independently of `ah._masked`: keepalived's multicast ICV keeps the TTL (only TOS, flags/fragment
    # and checksum are zeroed), its unicast one zeroes the TTL too.
    for datagram in captured():
        vrid = _vrid(datagram)
        m = bytearray(datagram)
        m[1] = 0
        m[6:8] = m[10:12] = b"\0\0"
        if UNICAST[vrid]:
            m[8] = 0
        m[32:44] = bytes(12)
        assert hmac.new(KEYS[vrid], bytes(m), "md5").digest()[:12] == datagram[32:44]


def test_wrong_password_is_a_bad_icv() -> None:
    datagram = captured()[0]
    assert ah.open_ah(datagram, ah.ah_key("s3cre7")) is DropReason.AH_BAD_ICV


def test_the_unicast_icv_does_not_verify_in_multicast_mode_nor_the_reverse() -> None:
    packets = captured()
    multicast = next(p for p in packets if _vrid(p) == 51)
    unicast = next(p for p in packets if _vrid(p) == 52)
    assert ah.open_ah(multicast, KEYS[51], unicast=True) is DropReason.AH_BAD_ICV
    assert ah.open_ah(unicast, KEYS[52], unicast=False) is DropReason.AH_BAD_ICV


@pytest.mark.parametrize(
    ("offset", "value"),
    [(1, 0x00), (6, 0x40), (10, 0x12)],  # TOS, the DF flag, the header checksum: mutable, not covered
)
def test_mutable_fields_do_not_break_the_icv(offset: int, value: int) -> None:
    datagram = bytearray(captured()[0])
    datagram[offset] = value
    assert isinstance(ah.open_ah(bytes(datagram), KEYS[51]), ah.Opened)


@pytest.mark.parametrize(
    ("offset", "name"),
    [(4, "identification"), (8, "ttl"), (19, "destination"), (36, "icv"), (45, "priority"), (52, "vip")],
)
def test_covered_fields_do_break_it(offset: int, name: str) -> None:
    datagram = bytearray(captured()[0])
    datagram[offset] ^= 0x01
    assert ah.open_ah(bytes(datagram), KEYS[51]) is DropReason.AH_BAD_ICV, name


def test_spi_must_be_the_source() -> None:
    vrrp = encode(Advertisement(vrid=51, priority=100, addresses=(), auth_type=AUTH_AH))
    datagram = bytearray(
        ah.wrap(vrrp, source=SOURCE, destination=VRRP_MULTICAST, key=KEYS[51], seq=1, ident=1)
    )
    datagram[24:28] = PEER.packed  # a valid ICV over the wrong SPI: re-signed below
    m = bytearray(datagram)
    m[1] = 0
    m[6:8] = m[10:12] = b"\0\0"
    m[32:44] = bytes(12)
    datagram[32:44] = hmac.new(KEYS[51], bytes(m), "md5").digest()[:12]
    assert ah.open_ah(bytes(datagram), KEYS[51]) is DropReason.AH_BAD_SPI


def test_malformed_headers_are_typed_drops() -> None:
    datagram = captured()[0]
    assert ah.open_ah(b"", KEYS[51]) is DropReason.TRUNCATED
    assert ah.open_ah(datagram[:30], KEYS[51]) is DropReason.LENGTH_MISMATCH
    assert ah.open_ah(b"\x60" + datagram[1:], KEYS[51]) is DropReason.NOT_IPV4
    assert ah.open_ah(datagram[:9] + b"\x70" + datagram[10:], KEYS[51]) is DropReason.NOT_VRRP
    assert ah.open_ah(datagram[:20] + b"\x06" + datagram[21:], KEYS[51]) is DropReason.AH_NOT_VRRP
    assert ah.open_ah(datagram[:21] + b"\x05" + datagram[22:], KEYS[51]) is DropReason.AH_BAD_HEADER
    short = bytearray(datagram[:40])
    short[2:4] = (40).to_bytes(2, "big")
    assert ah.open_ah(bytes(short), KEYS[51]) is DropReason.TRUNCATED


def test_an_unopened_ah_datagram_does_not_decode_as_vrrp() -> None:
    # The AH sits where the VRRP header would be: next header 112 = 0x70 reads as version 7.
    assert decode_ipv4(captured()[0]) is DropReason.BAD_VERSION


def test_replays_are_dropped_and_the_counter_is_shared_with_sending() -> None:
    packets = [p for p in captured() if _vrid(p) == 51]
    counter = ah.SequenceCounter()
    assert isinstance(ah.verify(packets[0], KEYS[51], counter), ah.Opened)
    assert ah.verify(packets[0], KEYS[51], counter) is DropReason.AH_REPLAY
    assert isinstance(ah.verify(packets[2], KEYS[51], counter), ah.Opened)
    assert ah.verify(packets[1], KEYS[51], counter) is DropReason.AH_REPLAY  # older than the last
    assert counter.seq == 3
    assert counter.next() == 4  # keepalived: what we send continues from what we accepted


def test_a_restarted_master_wins_back_through_resynchronisation() -> None:
    # keepalived's rules end to end: a backup that heard 1000 drops a restarted master's 1; the backup,
    # master meanwhile, sends 1001, which the restarted master accepts (above its 1) and, hearing lower
    # priority, continues past; its next advert is above the backup's counter again.
    backup, restarted = ah.SequenceCounter(seq=1000), ah.SequenceCounter()
    assert not backup.accept(restarted.next())
    sent = backup.next()
    assert sent == 1001 and restarted.accept(sent)
    restarted.lower_priority_heard(sent)
    assert backup.accept(restarted.next(), backup=True)


def test_the_counter_stops_at_the_cycle_and_restarts_on_becoming_master() -> None:
    counter = ah.SequenceCounter(seq=ah.SEQ_MAX)
    assert counter.next() == ah.SEQ_MAX + 1
    assert not counter.cycle
    assert counter.next() == ah.SEQ_MAX + 1 and counter.cycle
    counter.higher_priority_heard()
    assert not counter.cycle
    counter.next()
    counter.became_master()
    assert (counter.seq, counter.cycle) == (0, False)
    counter.became_master()  # no cycle: nothing to reset
    assert counter.next() == 1
    wrapped = ah.SequenceCounter(seq=0xFFFFFFFF)
    wrapped.lower_priority_heard(0xFFFFFFFF)
    assert wrapped.seq == 0


def test_identification_skips_zero() -> None:
    ident = ah.Identification(value=0xFFFE)
    assert [ident.next(), ident.next(), ident.next()] == [0xFFFF, 1, 2]


def test_keys_are_truncated_and_padded_as_keepalived() -> None:
    assert ah.ah_key("longerpassword") == b"longerpa"
    assert ah.ah_key("pw") == b"pw\0\0\0\0\0\0"


def test_wrap_refuses_misuse() -> None:
    with pytest.raises(ValueError, match="key"):
        ah.wrap(b"", source=SOURCE, destination=PEER, key=b"short", seq=1, ident=1)
    with pytest.raises(ValueError, match="identification"):
        ah.wrap(b"", source=SOURCE, destination=PEER, key=KEYS[51], seq=1, ident=0)
    with pytest.raises(ValueError, match="sequence"):
        ah.wrap(b"", source=SOURCE, destination=PEER, key=KEYS[51], seq=-1, ident=1)


def _received(ah_flag: bool, auth_type: int) -> Received:
    adv = Advertisement(vrid=1, priority=100, addresses=(), auth_type=auth_type)
    return Received(advert=adv, source=PEER, destination=VRRP_MULTICAST, ttl=255, ah=ah_flag)


def test_auth_type_2_without_a_verified_ah_is_a_mismatch_and_the_reverse() -> None:
    def check(received: Received, auth_type: int) -> DropReason | None:
        return validate_advert(
            received, vrid=1, advert_int=1, addresses=(), own_addresses=(SOURCE,), auth_type=auth_type
        )

    assert check(_received(False, AUTH_AH), AUTH_AH) is DropReason.AUTH_TYPE_MISMATCH  # forged field
    assert check(_received(True, AUTH_AH), AUTH_PASS) is DropReason.AUTH_TYPE_MISMATCH
    assert check(_received(False, AUTH_PASS), AUTH_AH) is DropReason.AUTH_TYPE_MISMATCH
    assert check(_received(True, AUTH_AH), AUTH_AH) is None


addresses = st.lists(st.integers(0, 2**32 - 1).map(IPv4Address), max_size=20)


@given(
    vrid=st.integers(1, 255),
    priority=st.integers(0, 255),
    vips=addresses,
    advert_int=st.integers(1, 255),
    source=st.integers(1, 2**32 - 1).map(IPv4Address),
    destination=st.integers(1, 2**32 - 1).map(IPv4Address),
    password=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=8),
    seq=st.integers(0, 2**32 - 1),
    ident=st.integers(1, 0xFFFF),
    unicast=st.booleans(),
    flip=st.integers(0, 10_000),
)
def test_round_trip(
    *,
    vrid: int,
    priority: int,
    vips: list[IPv4Address],
    advert_int: int,
    source: IPv4Address,
    destination: IPv4Address,
    password: str,
    seq: int,
    ident: int,
    unicast: bool,
    flip: int,
) -> None:
    """Whatever we wrap opens with the same key and mode to the same advert and sequence number; one flipped
    bit anywhere outside the mutable fields is a drop, never an accepted or a raised packet."""
    advert = Advertisement(
        vrid=vrid, priority=priority, addresses=tuple(vips), advert_int=advert_int, auth_type=AUTH_AH
    )
    key = ah.ah_key(password)
    datagram = ah.wrap(
        encode(advert), source=source, destination=destination, key=key, seq=seq, ident=ident, unicast=unicast
    )
    opened = ah.open_ah(datagram, key, unicast=unicast)
    assert isinstance(opened, ah.Opened) and opened.seq == seq
    received = decode_ipv4(opened.datagram)
    assert isinstance(received, Received)
    assert received.ah and received.source == source and received.destination == destination
    assert received.advert == Advertisement(
        vrid=vrid,
        priority=priority,
        addresses=tuple(vips),
        advert_int=advert_int,
        auth_type=AUTH_AH,
        checksum=received.advert.checksum,
    )
    bit = flip % (len(datagram) * 8)
    mutable = {1, 6, 7, 10, 11} | ({8} if unicast else set())
    if bit // 8 not in mutable:
        broken = bytearray(datagram)
        broken[bit // 8] ^= 1 << (bit % 8)
        result = ah.open_ah(bytes(broken), key, unicast=unicast)
        assert isinstance(result, DropReason)
