"""The doorbell filter on real raw sockets: adverts injected on a lab segment, IPv4 and IPv6.

In n1's namespace two raw protocol-112 sockets listen on eth0: a reference socket without a filter, and the
doorbell with `doorbell_program` attached. The client injects adverts (scapy frames on an AF_PACKET
socket): the repeats of the steady advert reach the reference socket and not the doorbell; every urgent
kind reaches both.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import IPv6Address

import pytest

from tests.support.hostile import CLIENT_MAC, Injector, netns_call, vrrp_frame
from vrrpd.kernel import bpf
from vrrpd.kernel.bpf import Steady
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory

pytestmark = pytest.mark.netns

IP_MULTICAST_ALL = 49
IPV6_MULTICAST_ALL = 29
GROUP6_MAC = "33:33:00:00:00:12"
QUIET = 0.3  # nothing more arrives within this long: the socket has had all it will get


@pytest.fixture
def lab(vrrp_lab: LabFactory) -> Lab:
    return vrrp_lab(nodes=1, ipv6=True)


def _raw_socket(family: int) -> socket.socket:
    """A raw protocol-112 socket on eth0, joined to the VRRP group (opened inside the namespace)."""
    sock = socket.socket(family, socket.SOCK_RAW, 112)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
    ifindex = socket.if_nametoindex("eth0")
    if family == socket.AF_INET:
        sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        mreqn = struct.pack("=4s4si", bytes([224, 0, 0, 18]), bytes(4), ifindex)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)
        mreq = IPv6Address("ff02::12").packed + struct.pack("@I", ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    return sock


@contextmanager
def sockets(lab: Lab, family: int) -> Iterator[tuple[socket.socket, socket.socket]]:
    ref, bell = netns_call(lab.ns("n1"), lambda: (_raw_socket(family), _raw_socket(family)))
    try:
        yield ref, bell
    finally:
        ref.close()
        bell.close()


def received(sock: socket.socket, family: int) -> list[bytes]:
    """Everything the socket gets until it is quiet for QUIET, in the receive path's form (IPv6: a
    40-byte header with the source in front of the payload)."""
    out: list[bytes] = []
    while select.select([sock], [], [], QUIET)[0]:
        data, addr = sock.recvfrom(65535)
        if family == socket.AF_INET6:
            src = IPv6Address(addr[0].partition("%")[0]).packed
            data = struct.pack("!IHBB16s16s", 6 << 28, len(data), 112, 255, src, bytes(16)) + data
        out.append(data)
    return out


def frame4(src: str, vrid: int = 51, priority: int = 100, vip: str = "192.0.2.100") -> bytes:
    return vrrp_frame(src, vrid=vrid, priority=priority, addresses=(vip,))


def frame6(src: str, vrid: int = 51, priority: int = 100, vip: str = "2001:db8::100") -> bytes:
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.layers.vrrp import VRRPv3

    v3 = VRRPv3(vrid=vrid, priority=priority, adv=100, addrlist=[vip])
    return bytes(Ether(src=CLIENT_MAC, dst=GROUP6_MAC) / IPv6(src=src, dst="ff02::12", hlim=255, nh=112) / v3)


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_only_urgent_adverts_ring_the_doorbell(lab: Lab, family: int) -> None:
    v6 = family == socket.AF_INET6
    peer, other = ("fe80::c8", "fe80::c9") if v6 else (lab.ip("cl"), "192.0.2.201")
    build = frame6 if v6 else frame4
    vip2 = "2001:db8::101" if v6 else "192.0.2.101"
    routine = build(peer)
    urgent = {
        "priority 0": build(peer, priority=0),
        "another priority": build(peer, priority=101),
        "another source": build(other),
        "another address list": build(peer, vip=vip2),
        "a VRID we are master of": build(peer, vrid=52),
        "an unknown VRID": build(peer, vrid=53),
    }
    with Injector(lab) as wire, sockets(lab, family) as (ref, bell):
        wire.send(routine)
        (first,) = received(ref, family)
        received(bell, family)  # queued before any filter: not part of the test
        bpf.attach(bell, bpf.doorbell_program(family, {51: Steady.of(first), 52: None}))
        for name, frame in urgent.items():
            wire.send(routine, count=3)
            wire.send(frame)
            got = received(bell, family)
            assert len(got) == 1, name
            assert Steady.of(got[0]) == Steady.of(received(ref, family)[-1]), name
        wire.send(routine, count=5)
        assert received(bell, family) == []
        assert [Steady.of(d) for d in received(ref, family)] == [Steady.of(first)] * 5
        # The filter can be replaced at any time: with no steady state, repeats ring too.
        bpf.attach(bell, bpf.doorbell_program(family, {51: None}))
        wire.send(routine, count=2)
        assert len(received(bell, family)) == 2


def test_attaching_the_largest_program_costs_about_a_millisecond(lab: Lab) -> None:
    """Build + attach of a 255-VRID program on a raw socket, in CPU time (the machine may be busy)."""
    steady = {v: Steady(bytes([192, 0, 2, 11]), 40, (0x21000000 | v << 16, 1)) for v in range(1, 256)}
    with sockets(lab, socket.AF_INET) as (_ref, bell):
        start = time.process_time()
        for _ in range(20):
            bpf.attach(bell, bpf.doorbell_program(socket.AF_INET, steady))
        per_rebuild = (time.process_time() - start) / 20
    assert per_rebuild < 0.02, per_rebuild


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_the_ebpf_swallower_drops_only_armed_repeats_and_counts_them(lab: Lab, family: int) -> None:
    """`ebpf.Swallower` on the main socket: an armed VRID's repeats never queue (counted, last arrival
    stamped on the loop's clock); every urgent kind still arrives, and nothing is swallowed once disarmed."""
    from vrrpd.kernel import ebpf

    try:
        swallower = ebpf.Swallower.open(family)
    except ebpf.Unavailable as exc:
        pytest.skip(f"eBPF unavailable: {exc}")
    v6 = family == socket.AF_INET6
    peer, other = ("fe80::c8", "fe80::c9") if v6 else (lab.ip("cl"), "192.0.2.201")
    build = frame6 if v6 else frame4
    routine = build(peer)
    urgent = {
        "priority 0": build(peer, priority=0),
        "another priority": build(peer, priority=101),
        "another source": build(other),
        "another address list": build(peer, vip="2001:db8::101" if v6 else "192.0.2.101"),
        "another VRID": build(peer, vrid=52),
    }
    with Injector(lab) as wire, sockets(lab, family) as (main, _unused):
        swallower.attach(main)
        wire.send(routine)
        (first,) = received(main, family)
        swallower.arm(51, Steady.of(first))
        before = time.monotonic_ns()
        wire.send(routine, count=4)
        assert received(main, family) == []
        count, last = swallower.read(51)
        assert count == 4 and before < last < time.monotonic_ns()
        for name, frame in urgent.items():
            wire.send(routine)
            wire.send(frame)
            got = received(main, family)
            assert len(got) == 1 and Steady.of(got[0]) != Steady.of(first), name
        assert swallower.read(51)[0] == 4 + len(urgent)
        swallower.disarm(51)
        wire.send(routine, count=2)
        assert len(received(main, family)) == 2
        assert swallower.read(51)[0] == 4 + len(urgent)
    swallower.close()
