"""The lab sniffer reads VRRPv3 (IPv4 and IPv6) and Neighbor Advertisements; frames built by scapy."""

from __future__ import annotations

from scapy.layers.inet import IP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import Ether
from scapy.layers.vrrp import VRRP, VRRPv3

from vrrpd.testing.sniff import IcmpEvent, NaEvent, VrrpEvent, event_from_json, event_to_json, parse_frame

SRC_MAC = "02:00:00:00:00:01"


def test_vrrp_v3_over_ipv6() -> None:
    frame = bytes(
        Ether(src=SRC_MAC, dst="33:33:00:00:00:12")
        / IPv6(src="fe80::ff:fe00:1", dst="ff02::12", hlim=255)
        / VRRPv3(vrid=52, priority=120, adv=10, ipcount=2, addrlist=["fe80::1", "2001:db8::100"])
    )
    event = parse_frame(frame, 1.5)
    assert isinstance(event, VrrpEvent)
    assert (event.src_ip, event.dst_ip, event.ttl) == ("fe80::ff:fe00:1", "ff02::12", 255)
    assert (event.version, event.vrid, event.priority, event.advert_int) == (3, 52, 120, 10)
    assert event.auth_type == 0
    assert event.addresses == ("fe80::1", "2001:db8::100")
    assert event_from_json(event_to_json(event)) == event


def test_vrrp_v3_over_ipv4_reads_centiseconds() -> None:
    # 4095 centiseconds: all 12 bits of Max Adver Int, none of the 4 reserved ones.
    frame = bytes(
        Ether(src=SRC_MAC, dst="01:00:5e:00:00:12")
        / IP(src="192.0.2.11", dst="224.0.0.18", ttl=255)
        / VRRPv3(vrid=51, priority=100, adv=4095, ipcount=1, addrlist=["192.0.2.100"])
    )
    event = parse_frame(frame, 0.0)
    assert isinstance(event, VrrpEvent)
    assert (event.version, event.advert_int, event.auth_type) == (3, 4095, 0)
    assert event.addresses == ("192.0.2.100",)


def test_vrrp_v2_fields_are_unchanged() -> None:
    frame = bytes(
        Ether(src=SRC_MAC)
        / IP(src="192.0.2.11", dst="224.0.0.18", ttl=255)
        / VRRP(
            vrid=51, priority=100, adv=3, authtype=1, ipcount=1, addrlist=["192.0.2.100"], auth1=0, auth2=0
        )
    )
    event = parse_frame(frame, 0.0)
    assert isinstance(event, VrrpEvent)
    assert (event.version, event.advert_int, event.auth_type) == (2, 3, 1)


def test_unsolicited_neighbor_advertisement() -> None:
    frame = bytes(
        Ether(src=SRC_MAC, dst="33:33:00:00:00:01")
        / IPv6(src="2001:db8::100", dst="ff02::1", hlim=255)
        / ICMPv6ND_NA(R=0, S=0, O=1, tgt="2001:db8::100")
        / ICMPv6NDOptDstLLAddr(lladdr=SRC_MAC)
    )
    event = parse_frame(frame, 2.0)
    assert isinstance(event, NaEvent)
    assert (event.target, event.lladdr, event.hop_limit) == ("2001:db8::100", SRC_MAC, 255)
    assert (event.router, event.solicited, event.override, event.unsolicited) == (False, False, True, True)
    assert event_from_json(event_to_json(event)) == event


def test_solicited_na_without_option() -> None:
    frame = bytes(
        Ether() / IPv6(src="2001:db8::b", dst="2001:db8::c") / ICMPv6ND_NA(R=1, S=1, O=0, tgt="2001:db8::b")
    )
    event = parse_frame(frame, 0.0)
    assert isinstance(event, NaEvent)
    assert (event.router, event.solicited, event.override, event.lladdr) == (True, True, False, None)


def test_icmpv6_echo_reply_reads_as_an_echo_reply() -> None:
    frame = bytes(Ether() / IPv6(src="2001:db8::100", dst="2001:db8::c8") / ICMPv6EchoReply(id=7, seq=3))
    event = parse_frame(frame, 0.0)
    assert isinstance(event, IcmpEvent)
    assert (event.type, event.id, event.seq, event.is_request) == (0, 7, 3, False)


def test_truncated_ipv6_frames_are_ignored() -> None:
    frame = bytes(
        Ether()
        / IPv6(src="fe80::1", dst="ff02::12")
        / VRRPv3(vrid=1, ipcount=2, addrlist=["fe80::1", "2001:db8::1"])
    )
    assert parse_frame(frame[:-1], 0.0) is None  # the second address is cut short
    assert parse_frame(frame[: 14 + 39], 0.0) is None  # not even an IPv6 header
