"""Raw IPv6 sockets for VRRPv3 (next header 112) on one interface, driven by asyncio (RFC 5798 §5.1.2).

Owns: opening and configuring the two kernel sockets — membership of ff02::12 (the kernel then sends
the MLD reports), hop limit 255, traffic class, device binding, the link-local source — and moving
whole datagrams in and out with the reader of `vrrpd.kernel.vrrp_socket` (drain, linger, error pause).

Must not: parse or build VRRP payloads, judge hop limits or checksums, or decide anything about the
protocol (that is `vrrpd.protocol`).

An IPv6 raw socket delivers only the payload, never the IPv6 header. The fields §7.1 checks arrive as
ancillary data (IPV6_HOPLIMIT, IPV6_PKTINFO for the destination) and the source as the peer address;
the reader rebuilds a 40-byte IPv6 header from them in front of the payload, so the receive path
gets one datagram of the same shape as IPv4's and the codec decodes both the same way. Extension
headers, which the kernel consumes, are not in it.

Checksums: the *send* socket sets IPV6_CHECKSUM (offset 6, the VRRP checksum field), so the kernel
writes the checksum over the real pseudo-header, as keepalived has it. The *read* socket does not: with
IPV6_CHECKSUM set the kernel silently discards a datagram with a bad checksum, and a drop we cannot see
we cannot count; the codec checks the checksum instead (measured: our pseudo-header sum equals the
kernel's).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
from ipaddress import IPv6Address
from typing import Final

from vrrpd.kernel.vrrp_socket import VRRP_TOS, DatagramReader, attach_drop_all, enable_timestamps
from vrrpd.protocol.packet import VRRP_MULTICAST_V6, VRRP_PROTOCOL, VRRP_TTL

VRRP_HOP_LIMIT: Final = VRRP_TTL  # RFC 5798 §5.1.2.3: MUST be 255
VRRP_CHECKSUM_OFFSET: Final = 6  # RFC 5798 §5.2.8: the checksum field's offset in the VRRP header
_RECV_SIZE: Final = 65535

# <linux/in6.h>: not all exported by the `socket` module on 3.11.
_IPV6_CHECKSUM: Final = 7
_IPV6_MULTICAST_ALL: Final = 29
_IPV6_FREEBIND: Final = 78  # Linux 4.15
_IPV6_HDR: Final = struct.Struct("!IHBB16s16s")  # version|class|flow, payload length, next, hops, src, dst
_VERSION_6: Final = 6 << 28
# One int (IPV6_HOPLIMIT), one struct in6_pktinfo (16-byte address, int ifindex) and the arrival time (a
# struct timespec, SO_TIMESTAMPNS), with room to spare.
_CMSG_SPACE: Final = socket.CMSG_SPACE(4) + socket.CMSG_SPACE(20) + socket.CMSG_SPACE(16) + 64
_SO_TIMESTAMPNS: Final = 35
_TIMESPEC: Final = struct.Struct("@qq")
_NO_ADDRESS: Final = bytes(16)


def _scope(dst: IPv6Address, ifindex: int) -> int:
    """The sin6_scope_id for `dst`: the interface for link-scoped addresses, none for global ones."""
    return ifindex if dst.is_link_local or dst.is_multicast else 0


class Vrrp6Socket(DatagramReader):
    """One interface's VRRPv3-over-IPv6 transport: datagrams in (IPv6 header rebuilt), payloads out."""

    def __init__(
        self, rx: socket.socket, tx: socket.socket, ifname: str, ifindex: int, src: IPv6Address
    ) -> None:
        super().__init__(rx, self._recv_datagram, self._recv_stamped)
        self._tx = tx
        self.ifname = ifname
        self.ifindex = ifindex
        self.src = src
        self._group = (str(VRRP_MULTICAST_V6), 0, 0, ifindex)

    @classmethod
    def open(cls, ifname: str, ifindex: int, src: IPv6Address, multicast: bool = True) -> Vrrp6Socket:
        """Open both sockets on `ifname`; `src` must be the interface's link-local address (§5.1.2.1).

        Raises OSError: EPERM without CAP_NET_RAW, ENODEV, EAFNOSUPPORT/EACCES when IPv6 is disabled.
        `src` may still be tentative (see FREEBIND below). If the link-local address changes, close and
        open again.
        """
        if not src.is_link_local:
            raise ValueError(f"the VRRPv3 source must be a link-local address (RFC 5798 §5.1.2.1), not {src}")
        rx = socket.socket(socket.AF_INET6, socket.SOCK_RAW, VRRP_PROTOCOL)
        tx = socket.socket(socket.AF_INET6, socket.SOCK_RAW, VRRP_PROTOCOL)
        try:
            for sock in (rx, tx):
                sock.setblocking(False)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
                # Own advertisements must not come back to us (keepalived if_setsockopt_mcast_loop).
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
                # Only groups this socket joined, on this interface (keepalived if_setsockopt_mcast_all).
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_MULTICAST_ALL, 0)

            attach_drop_all(tx)
            # A link-local address is tentative while duplicate address detection runs (~1-2 s after
            # the link comes up, e.g. at boot), and a plain bind to it fails with EADDRNOTAVAIL until
            # then. FREEBIND lets the socket open at once; sends fail (counted by the caller) until
            # the kernel has a route, then leave with this source.
            tx.setsockopt(socket.IPPROTO_IPV6, _IPV6_FREEBIND, 1)
            tx.bind((str(src), 0, 0, ifindex))
            tx.setsockopt(socket.IPPROTO_IPV6, _IPV6_CHECKSUM, VRRP_CHECKSUM_OFFSET)
            tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, VRRP_HOP_LIMIT)
            tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, VRRP_HOP_LIMIT)
            tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, VRRP_TOS)
            tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)

            rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            enable_timestamps(rx)  # arrival times for lazy reading, as the IPv4 socket
            if multicast:
                # struct ipv6_mreq: group, interface index. The kernel sends the MLD report.
                mreq = VRRP_MULTICAST_V6.packed + struct.pack("@I", ifindex)
                rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        except BaseException:
            rx.close()
            tx.close()
            raise
        return cls(rx, tx, ifname, ifindex, src)

    def _recv_datagram(self) -> bytes:
        """One datagram: the rebuilt IPv6 header, then the VRRP message (BlockingIOError when none)."""
        return self._recv_stamped()[0]

    def _recv_stamped(self) -> tuple[bytes, float | None]:
        """One datagram as `_recv_datagram`, and its kernel arrival time (CLOCK_REALTIME; None without)."""
        data, ancdata, _flags, addr = self._rx.recvmsg(_RECV_SIZE, _CMSG_SPACE)
        hop_limit = 0  # absent ancillary data reads as hop limit 0: the codec drops it (§7.1)
        dst = _NO_ADDRESS
        stamp = None
        for level, kind, value in ancdata:
            if level == socket.IPPROTO_IPV6:
                if kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
                    hop_limit = int.from_bytes(value[:4], sys.byteorder)
                elif kind == socket.IPV6_PKTINFO and len(value) >= 16:
                    dst = value[:16]
            elif level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
                sec, nsec = _TIMESPEC.unpack_from(value)
                stamp = sec + nsec * 1e-9
        src = socket.inet_pton(socket.AF_INET6, addr[0].partition("%")[0])
        header = _IPV6_HDR.pack(_VERSION_6, len(data), VRRP_PROTOCOL, hop_limit & 0xFF, src, dst)
        return header + data, stamp

    async def recv(self) -> tuple[bytes, IPv6Address]:
        """Next datagram (IPv6 header rebuilt) and its source; one at a time, for tools and tests."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                datagram = self._recv_datagram()
            except BlockingIOError:
                fut = loop.create_future()
                loop.add_reader(self._rx.fileno(), fut.set_result, None)
                try:
                    await fut
                finally:
                    loop.remove_reader(self._rx.fileno())
                continue
            return datagram, IPv6Address(datagram[8:24])

    def send_now(self, payload: bytes, dst: IPv6Address = VRRP_MULTICAST_V6) -> None:
        """Send one VRRP payload at once with a non-blocking `sendto` (BlockingIOError when full)."""
        # `is` first: the group is the same object every period (an address compares in Python).
        if dst is VRRP_MULTICAST_V6 or dst == VRRP_MULTICAST_V6:
            addr = self._group
        else:
            addr = (str(dst), 0, 0, _scope(dst, self.ifindex))
        self._tx.sendto(payload, addr)

    async def send(self, payload: bytes, dst: IPv6Address = VRRP_MULTICAST_V6) -> None:
        """Send one VRRP payload; the kernel prepends the header (hop limit 255, class 0xc0, next 112)
        and fills in the checksum. Any failure is raised as OSError for the caller to count."""
        addr = self._group if dst == VRRP_MULTICAST_V6 else (str(dst), 0, 0, _scope(dst, self.ifindex))
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(self._tx, payload, addr)

    def close(self) -> None:
        """Stop reading and close both sockets (leaving ff02::12: the kernel sends the MLD done)."""
        self.stop_reading()
        self._rx.close()
        self._tx.close()

    def __repr__(self) -> str:
        return f"Vrrp6Socket({self.ifname!r}, ifindex={self.ifindex}, src={self.src})"
