"""IPv4 instances of one interface with different sources (unicast_src_ip, mcast_src_ip, the interface's own
address), without namespaces: each instance's adverts leave from its own source through the interface's one
socket — a plain `sendto` from the address the socket is bound to, IP_PKTINFO for any other.

The raw sockets are stand-ins that record the system calls (the kernel side is
tests/runtime/test_unicast_sources_interop_netns.py, against keepalived).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from ipaddress import IPv4Address
from typing import Any

import pytest

from tests.support.aio import run
from tests.support.fakes import instance_config
from vrrpd.kernel.garp import GarpSender
from vrrpd.kernel.netlink import LinkInfo
from vrrpd.kernel.vrrp_socket import VrrpSocket
from vrrpd.protocol.packet import VRRP_MULTICAST, Advertisement, DropReason, decode_vrrp3
from vrrpd.runtime import interface
from vrrpd.runtime.instance import Instance
from vrrpd.runtime.interface import Interface

PRIMARY = IPv4Address("192.0.2.11")
SECOND = IPv4Address("192.0.2.12")
ANYWHERE = IPv4Address("198.51.100.7")  # an mcast_src_ip the interface does not hold
PEER_A, PEER_B = IPv4Address("192.0.2.21"), IPv4Address("192.0.2.22")
_IP_PKTINFO = 8


class FakeSocket:
    """A raw socket stand-in: records sends and socket options."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, tuple[str, int], Any]] = []  # (call, payload, sockaddr, cmsg)
        self.options: list[tuple[int, int, Any]] = []

    def sendto(self, payload: bytes, addr: tuple[str, int]) -> int:
        self.sent.append(("sendto", payload, addr, None))
        return len(payload)

    def sendmsg(self, buffers: Any, ancdata: Any, flags: int, addr: tuple[str, int]) -> int:
        payload = b"".join(buffers)
        self.sent.append(("sendmsg", payload, addr, list(ancdata)))
        return len(payload)

    def setsockopt(self, level: int, name: int, value: Any) -> None:
        self.options.append((level, name, value))

    def recv(self, size: int) -> bytes:
        raise BlockingIOError

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        pass


def _socket(src: IPv4Address) -> tuple[VrrpSocket, FakeSocket]:
    tx = FakeSocket()
    return VrrpSocket(FakeSocket(), tx, "eth0", 2, src), tx  # type: ignore[arg-type]


def _pktinfo(src: IPv4Address) -> list[tuple[int, int, bytes]]:
    return [(socket.IPPROTO_IP, _IP_PKTINFO, struct.pack("=I4s4s", 0, src.packed, bytes(4)))]


def test_a_send_from_the_socket_s_own_source_is_a_plain_sendto_another_carries_ip_pktinfo() -> None:
    sock, tx = _socket(PRIMARY)
    sock.send_now(b"a", VRRP_MULTICAST, PRIMARY)
    sock.send_now(b"b", VRRP_MULTICAST, SECOND)
    sock.send_now(b"c", PEER_A, SECOND)
    sock.send_now(b"d", PEER_A)  # no source: the socket's
    assert tx.sent == [
        ("sendto", b"a", ("224.0.0.18", 0), None),
        ("sendmsg", b"b", ("224.0.0.18", 0), _pktinfo(SECOND)),  # ipi_spec_dst: the datagram's source
        ("sendmsg", b"c", ("192.0.2.21", 0), _pktinfo(SECOND)),
        ("sendto", b"d", ("192.0.2.21", 0), None),
    ]

    async def body() -> None:  # the awaitable form (a full socket buffer's retry) does the same
        await sock.send(b"e", PEER_B, SECOND)
        await sock.send(b"f", PEER_B, PRIMARY)

    tx.sent.clear()
    run(body())
    assert [(call, cmsg) for call, _, _, cmsg in tx.sent] == [("sendmsg", _pktinfo(SECOND)), ("sendto", None)]


def _interface(monkeypatch: pytest.MonkeyPatch) -> tuple[Interface, list[FakeSocket]]:
    """An Interface whose raw sockets are stand-ins (no eBPF, no doorbell)."""
    opened: list[FakeSocket] = []

    def open_sock(ifname: str, ifindex: int, src: IPv4Address, any_source: bool = False) -> VrrpSocket:
        sock, tx = _socket(src)
        sock.any_source = any_source
        opened.append(tx)
        return sock

    monkeypatch.setattr(VrrpSocket, "open", open_sock)
    monkeypatch.setattr(GarpSender, "open", lambda *a: FakeSocket())
    monkeypatch.setattr(interface, "EBPF", False)
    monkeypatch.setattr(interface, "LAZY", False)
    link = LinkInfo(ifindex=2, name="eth0", mac="02:00:00:00:00:01", up=True, primary=PRIMARY)
    return Interface(link, netlink=None), opened  # type: ignore[arg-type]


def test_two_instances_on_one_interface_each_advertise_from_their_own_unicast_src_ip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bug: the second instance sent from the first one's source — a keepalived peer that lists it
    drops the adverts (two masters), and a VRRPv3 checksum covering the other source fails."""
    iface, opened = _interface(monkeypatch)
    keys = {"version": 3, "priority": 255}
    b = instance_config(
        name="VI_B",
        virtual_router_id=2,
        unicast_src_ip=str(SECOND),
        unicast_peer=[str(PEER_B)],
        virtual_ipaddress=["192.0.2.200/24"],
        **keys,
    )
    a = instance_config(
        name="VI_A", virtual_router_id=1, unicast_src_ip=str(PRIMARY), unicast_peer=[str(PEER_A)], **keys
    )
    src_a = iface.open_ipv4(PRIMARY, vrid=1)
    src_b = iface.open_ipv4(SECOND, vrid=2)
    assert (src_a, src_b) == (PRIMARY, SECOND)
    assert len(opened) == 1 and iface.src == PRIMARY  # one socket per interface, bound to the first
    tx = opened[0]

    async def body() -> None:
        loop = asyncio.get_running_loop()
        for cfg, src in ((a, src_a), (b, src_b)):
            inst = Instance(cfg, src, iface, lambda *_: None, loop)
            inst.start()  # priority 255: MASTER, its first advert sent at once
            await inst.stop(1.0)

    run(body())
    sent = {addr[0]: (call, payload, cmsg) for call, payload, addr, cmsg in tx.sent}
    call_a, payload_a, cmsg_a = sent[str(PEER_A)]
    call_b, payload_b, cmsg_b = sent[str(PEER_B)]
    assert (call_a, cmsg_a) == ("sendto", None)
    assert (call_b, cmsg_b) == ("sendmsg", _pktinfo(SECOND))
    # RFC 5798 §5.2.8: each checksum covers its own instance's source.
    assert isinstance(decode_vrrp3(payload_a, source=PRIMARY, destination=PEER_A), Advertisement)
    good = decode_vrrp3(payload_b, source=SECOND, destination=PEER_B)
    assert isinstance(good, Advertisement) and good.vrid == 2
    assert decode_vrrp3(payload_b, source=PRIMARY, destination=PEER_B) is DropReason.BAD_CHECKSUM


def test_sources_are_kept_per_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    """The interface's own address (also for an instance opened after a configured one), a second
    unicast_src_ip, and an mcast_src_ip joining later: the socket then may send from a non-local address."""
    iface, opened = _interface(monkeypatch)
    assert iface.open_ipv4(SECOND, vrid=1) == SECOND  # the socket binds the first instance's source
    assert iface.open_ipv4(None, vrid=2) == PRIMARY  # the interface's own primary address
    assert iface.open_ipv4(SECOND, vrid=3) is iface.src  # shares the socket's own: a plain sendto
    assert iface.sock is not None and not iface.sock.any_source
    assert iface.open_ipv4(ANYWHERE, any_source=True, vrid=4) == ANYWHERE
    assert iface.sock.any_source and len(opened) == 1
    assert {(lvl, name) for lvl, name, _ in opened[0].options} >= {
        (socket.IPPROTO_IP, 15),
        (socket.IPPROTO_IP, 19),
    }
    by_vrid = {v: iface.source_of(v) for v in (1, 2, 3, 4)}
    assert by_vrid[1] is by_vrid[3] and by_vrid[1] is not by_vrid[2]
    assert [(s.address, s.configured, s.anywhere) for s in iface.sources.values()] == [
        (SECOND, True, False),
        (PRIMARY, False, False),
        (ANYWHERE, True, True),
    ]
