"""`vrrpd.protocol.admission.SenderAdmission`: the per-sender budget in front of the decoder (unit tests, no
namespaces).

The namespace proof — a 10,000 pkt/s flood leaves the master alone — is tests/runtime/test_hostile_wire.py.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from tests.support.hostile import vrrp_frame
from vrrpd.protocol.admission import SenderAdmission


def _key(src: str, vrid: int = 51) -> bytes:
    return SenderAdmission.key(vrrp_frame(src, vrid=vrid)[14:])  # the IPv4 datagram a raw socket delivers


def test_key_is_source_and_vrid_without_decoding() -> None:
    assert _key("192.0.2.200", 51) == IPv4Address("192.0.2.200").packed + bytes([51])
    assert _key("192.0.2.200", 52) != _key("192.0.2.200", 51)
    assert SenderAdmission.key(b"") == b""  # garbage of any length gets a key, never an exception
    assert SenderAdmission.key(b"\x4f" + bytes(13)) == bytes(2)  # IHL 60 > length: source bytes only


def test_a_legitimate_sender_is_never_limited() -> None:
    adm = SenderAdmission()
    key = _key("192.0.2.11")
    now = 0.0
    # One advert per second plus the most answers a master sends (10/s), for a minute.
    for _ in range(60 * 11):
        assert adm.admit(key, now)
        now += 1 / 11


def test_a_flooding_sender_gets_its_rate_and_others_are_untouched() -> None:
    adm = SenderAdmission(rate=25, burst=50)
    rogue, master = _key("192.0.2.200"), _key("192.0.2.11")
    admitted = 0
    for i in range(10_000):  # 10,000 pkt/s for one second
        now = i / 10_000
        admitted += adm.admit(rogue, now)
        if i % 1000 == 0:
            assert adm.admit(master, now)
    assert 50 <= admitted <= 50 + 25 + 1  # the burst, then the rate


def test_a_spoofed_source_flood_is_bounded_and_spares_known_senders() -> None:
    adm = SenderAdmission(max_keys=64, idle=10.0)
    master = _key("192.0.2.11")
    assert adm.admit(master, 0.0)
    admitted = 0
    for i in range(20_000):
        now = i / 10_000
        spoofed = (0x0A000000 + i).to_bytes(4, "big") + bytes([51])
        admitted += adm.admit(spoofed, now)
        if i % 5_000 == 0:
            assert adm.admit(master, now)
    assert len(adm._buckets) <= 64 + 1  # bounded whatever the sources: the table plus the shared bucket
    assert admitted <= 64 + 50 + 25 * 2 + 1  # one per new key until full, then the shared bucket


def test_forgotten_after_idle_when_the_table_is_full() -> None:
    adm = SenderAdmission(max_keys=2, idle=5.0)
    assert adm.admit(b"a", 0.0)
    assert adm.admit(b"b", 0.0)
    assert adm.admit(b"c", 1.0)  # full: shares the overflow bucket
    assert SenderAdmission.OVERFLOW in adm._buckets or len(adm._buckets) == 2
    assert adm.admit(b"d", 10.0)  # a and b went quiet: purged, d gets its own bucket
    assert b"d" in adm._buckets
