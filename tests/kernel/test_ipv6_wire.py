"""The IPv6 wire pieces without namespaces: unsolicited NA frames (scapy as the oracle), IPv6 address
requests (pyroute2's parser as the oracle), and the header `Vrrp6Socket` rebuilds from ancillary data.

The same pieces on a real veth pair are in tests/kernel/test_ipv6_io_netns.py.
"""

from __future__ import annotations

import socket
import struct
import sys
from collections.abc import Callable, Iterator
from ipaddress import IPv6Address, IPv6Interface
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6, in6_chksum
from scapy.layers.l2 import Ether

from vrrpd.kernel.ndisc import ALL_NODES_MAC, NA_FLAG_OVERRIDE, NaSender, forwarding, na_frame
from vrrpd.kernel.rtnl import (
    IFA_F_NODAD,
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_EXCL,
    NLM_F_REQUEST,
    RTM_DELADDR,
    RTM_NEWADDR,
    encode_addr_request,
)
from vrrpd.kernel.vrrp_socket6 import Vrrp6Socket
from vrrpd.protocol.packet import VRRP_MULTICAST_V6

MAC = bytes.fromhex("020000000001")
checksum6 = cast(Callable[[int, Any, bytes], int], in6_chksum)  # scapy's upper-layer checksum (untyped)
ipv6_addresses = st.integers(0, 2**128 - 1).map(IPv6Address)


# --- unsolicited Neighbor Advertisement ----------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(vip=ipv6_addresses, mac=st.binary(min_size=6, max_size=6), router=st.booleans())
def test_na_frame_is_what_scapy_builds(vip: IPv6Address, mac: bytes, router: bool) -> None:
    """Byte for byte the frame scapy builds for "VIP is at MAC", checksum included."""
    mac_text = ":".join(f"{b:02x}" for b in mac)
    expected = (
        Ether(dst="33:33:00:00:00:01", src=mac_text)
        / IPv6(src=str(vip), dst="ff02::1", hlim=255)
        / ICMPv6ND_NA(R=int(router), S=0, O=1, tgt=str(vip))
        / ICMPv6NDOptDstLLAddr(lladdr=mac_text)
    )
    assert na_frame(mac, vip, router) == bytes(expected)


def test_na_frame_fields_and_checksum_verify() -> None:
    vip = IPv6Address("2001:db8::100")
    frame = na_frame(MAC, vip)
    parsed = Ether(frame)
    assert frame[:6] == ALL_NODES_MAC  # RFC 2464 §7 mapping of ff02::1
    assert parsed[IPv6].hlim == 255  # RFC 4861 §7.1.2: receivers drop any other hop limit
    assert (parsed[IPv6].src, parsed[IPv6].dst) == (str(vip), "ff02::1")
    na = parsed[ICMPv6ND_NA]
    assert (na.R, na.S, na.O, na.tgt) == (0, 0, 1, str(vip))
    assert parsed[ICMPv6NDOptDstLLAddr].lladdr == "02:00:00:00:00:01"
    # The checksum verifies: summing the message with its checksum over the pseudo-header gives zero.
    icmp = bytes(parsed[IPv6].payload)
    assert checksum6(58, parsed[IPv6], icmp) == 0
    # A wrong checksum would not: the oracle can fail.
    assert checksum6(58, parsed[IPv6], icmp[:2] + b"\x00\x00" + icmp[4:]) != 0


def test_na_router_flag_is_only_set_when_asked() -> None:
    vip = IPv6Address("2001:db8::100")
    (plain,) = struct.unpack_from("!I", na_frame(MAC, vip, router=False), 14 + 40 + 4)
    (routing,) = struct.unpack_from("!I", na_frame(MAC, vip, router=True), 14 + 40 + 4)
    assert plain == NA_FLAG_OVERRIDE
    assert routing == NA_FLAG_OVERRIDE | 0x80000000


def test_forwarding_reads_the_interface_sysctl(tmp_path: Path) -> None:
    (tmp_path / "eth0").mkdir()
    (tmp_path / "eth1").mkdir()
    (tmp_path / "eth0" / "forwarding").write_text("1\n")
    (tmp_path / "eth1" / "forwarding").write_text("0\n")
    assert forwarding("eth0", tmp_path) is True
    assert forwarding("eth1", tmp_path) is False
    assert forwarding("gone0", tmp_path) is False  # unreadable: not a router


class _RecordingSocket:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Any]] = []

    def sendto(self, frame: bytes, addr: Any) -> int:
        self.sent.append((frame, addr))
        return len(frame)

    def close(self) -> None:
        pass


def test_na_sender_writes_count_frames_to_the_interface() -> None:
    sock = _RecordingSocket()
    sender = NaSender(cast(socket.socket, sock), "eth0", 2, MAC)
    sender.send(IPv6Address("2001:db8::100"), count=3, router=False)
    assert len(sock.sent) == 3
    assert {addr for _, addr in sock.sent} == {("eth0", 0x86DD)}
    assert {frame for frame, _ in sock.sent} == {na_frame(MAC, IPv6Address("2001:db8::100"))}


def test_na_sender_rejects_a_bad_mac() -> None:
    with pytest.raises(ValueError, match="MAC"):
        NaSender.open("eth0", 2, "02:00:00")


# --- IPv6 address requests -----------------------------------------------------------------------


def parse(data: bytes) -> Any:
    msg = ifaddrmsg(data)
    msg.decode()
    return msg


@pytest.mark.parametrize("vip", ["2001:db8::100/64", "2001:db8:1::7/128", "fe80::100/64"])
def test_ipv6_new_address_request_asks_for_nodad(vip: str) -> None:
    addr = IPv6Interface(vip)
    data = encode_addr_request(RTM_NEWADDR, 77, 3, addr)
    assert len(data) % 4 == 0
    msg = parse(data)
    assert msg["header"]["length"] == len(data)
    assert msg["header"]["flags"] == NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    assert (msg["family"], msg["prefixlen"], msg["index"]) == (socket.AF_INET6, addr.network.prefixlen, 3)
    assert msg.get("IFA_LOCAL") == str(addr.ip)
    assert msg["flags"] == IFA_F_NODAD
    assert msg.get("IFA_FLAGS") == IFA_F_NODAD
    assert [name for name, _ in msg["attrs"]] == ["IFA_LOCAL", "IFA_FLAGS"]


def test_ipv6_delete_request_carries_no_flags() -> None:
    addr = IPv6Interface("2001:db8::100/64")
    msg = parse(encode_addr_request(RTM_DELADDR, 78, 3, addr))
    assert msg["header"]["flags"] == NLM_F_REQUEST | NLM_F_ACK
    assert msg["family"] == socket.AF_INET6
    assert msg["flags"] == 0
    assert [name for name, _ in msg["attrs"]] == ["IFA_LOCAL"]
    assert msg.get("IFA_LOCAL") == str(addr.ip)


# --- the rebuilt IPv6 header ---------------------------------------------------------------------


def _cmsg_int(value: int) -> bytes:
    return value.to_bytes(4, sys.byteorder)


class _StubRx:
    """Stands in for the raw socket: `recvmsg` answers with queued (data, ancillary, address)."""

    def __init__(self, *answers: tuple[bytes, list[tuple[int, int, bytes]], tuple[Any, ...]]) -> None:
        self.answers = list(answers)

    def recvmsg(self, bufsize: int, ancbufsize: int) -> tuple[bytes, list[tuple[int, int, bytes]], int, Any]:
        assert ancbufsize >= socket.CMSG_SPACE(4) + socket.CMSG_SPACE(20)
        if not self.answers:
            raise BlockingIOError
        data, anc, addr = self.answers.pop(0)
        return data, anc, 0, addr

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        pass


def _socket6(rx: _StubRx) -> Vrrp6Socket:
    return Vrrp6Socket(
        cast(socket.socket, rx), cast(socket.socket, _StubRx()), "eth0", 2, IPv6Address("fe80::1")
    )


@pytest.fixture
def payload() -> Iterator[bytes]:
    yield bytes.fromhex("3133640100640000") + IPv6Address("2001:db8::100").packed


def test_header_is_rebuilt_from_ancillary_data(payload: bytes) -> None:
    src, dst = IPv6Address("fe80::ff:fe00:2"), VRRP_MULTICAST_V6
    pktinfo = dst.packed + struct.pack("@I", 2)
    anc = [
        (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, _cmsg_int(255)),
        (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo),
    ]
    # Python may hand the source with a %scope suffix: it is not part of the address.
    sock = _socket6(_StubRx((payload, anc, (f"{src}%eth0", 0, 0, 2))))
    datagram = sock._recv_one()
    version_class_flow, length, next_header, hop_limit = struct.unpack_from("!IHBB", datagram)
    assert version_class_flow == 6 << 28
    assert (length, next_header, hop_limit) == (len(payload), 112, 255)
    assert IPv6Address(datagram[8:24]) == src
    assert IPv6Address(datagram[24:40]) == dst
    assert datagram[40:] == payload
    # Scapy reads it as the IPv6 packet it stands for.
    assert IPv6(datagram).hlim == 255
    with pytest.raises(BlockingIOError):
        sock._recv_one()


def test_missing_ancillary_data_reads_as_hop_limit_zero(payload: bytes) -> None:
    """No IPV6_HOPLIMIT must not read as 255: hop limit 0 fails the §7.1 check downstream."""
    sock = _socket6(_StubRx((payload, [], ("2001:db8::12", 0, 0, 0))))
    datagram = sock._recv_one()
    assert datagram[7] == 0
    assert datagram[24:40] == bytes(16)
    assert IPv6Address(datagram[8:24]) == IPv6Address("2001:db8::12")


def test_the_source_must_be_link_local() -> None:
    with pytest.raises(ValueError, match="link-local"):
        Vrrp6Socket.open("eth0", 2, IPv6Address("2001:db8::1"))
