"""Raw IPv4 sockets for IP protocol 51 (IPsec AH) on one interface: keepalived's `auth_type AH` adverts.

Owns: opening the two sockets and moving whole IPv4 datagrams in and out. An AH advert is not protocol 112,
so the VRRP socket (`vrrpd.kernel.vrrp_socket`) never sees it: this is its twin for protocol 51, read by the
same `DatagramReader`.

* Receive: unbound, device-bound, joined to 224.0.0.18 on the interface (unicast AH adverts to our
  address arrive too), own multicast not looped back, stamped like the VRRP socket.
* Send: IP_HDRINCL, as keepalived (`if_setsockopt_hdrincl`). The AH's ICV covers the IPv4 header — its
  Identification, TTL, length, addresses — so the caller builds the whole datagram (`vrrpd.protocol.ah.wrap`)
  and the kernel only fills in the header checksum (and would replace an Identification of 0, which
  `ah.Identification` never hands out). The kernel still routes it: the multicast interface is set, the
  socket is bound to the device, and it drops anything it would receive.

Must not: build or check AH or VRRP (that is `vrrpd.protocol.ah`), or decide anything.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import struct
from ipaddress import IPv4Address
from typing import Final

from vrrpd.kernel.vrrp_socket import DatagramReader, attach_drop_all, enable_timestamps, recv_stamped
from vrrpd.protocol.packet import AH_PROTOCOL, VRRP_MULTICAST

_RECV_SIZE: Final = 65535
_IP_MULTICAST_ALL: Final = 49  # <linux/in.h>; not exported by the socket module on 3.11
_IP_MREQN: Final = struct.Struct("=4s4si")  # struct ip_mreqn: multiaddr, address, ifindex


def _mreqn(ifindex: int) -> bytes:
    """224.0.0.18 on the interface `ifindex` (struct ip_mreqn, any local address)."""
    return _IP_MREQN.pack(VRRP_MULTICAST.packed, bytes(4), ifindex)


class AhSocket(DatagramReader):
    """One interface's AH transport: reads full IPv4 datagrams of protocol 51, sends whole datagrams."""

    def __init__(self, rx: socket.socket, tx: socket.socket, ifname: str, ifindex: int) -> None:
        super().__init__(rx, functools.partial(rx.recv, _RECV_SIZE), functools.partial(recv_stamped, rx))
        self._tx = tx
        self.ifname = ifname
        self.ifindex = ifindex

    @classmethod
    def open(cls, ifname: str, ifindex: int, multicast: bool = True) -> AhSocket:
        """Open both sockets on `ifname`. Raises OSError (EPERM without CAP_NET_RAW, ENODEV)."""
        rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, AH_PROTOCOL)
        tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, AH_PROTOCOL)
        try:
            for sock in (rx, tx):
                sock.setblocking(False)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
                # Our own adverts must not come back (keepalived does the same on its VRRP sockets).
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
                sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
            attach_drop_all(tx)
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            # With IP_HDRINCL the header's source is ours; this only picks the interface for 224.0.0.18.
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, _mreqn(ifindex))
            enable_timestamps(rx)
            if multicast:
                rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, _mreqn(ifindex))
        except BaseException:
            rx.close()
            tx.close()
            raise
        return cls(rx, tx, ifname, ifindex)

    def send_now(self, datagram: bytes, dst: IPv4Address) -> None:
        """Send one whole IPv4 datagram (header included) with a non-blocking `sendto`.

        Raises BlockingIOError when the socket buffer is full, OSError for any other failure.
        """
        self._tx.sendto(datagram, (str(dst), 0))

    async def send(self, datagram: bytes, dst: IPv4Address) -> None:
        """Send one whole IPv4 datagram; failures are raised as OSError for the caller to count."""
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(self._tx, datagram, (str(dst), 0))

    def close(self) -> None:
        """Stop reading and close both sockets."""
        self.stop_reading()
        self._rx.close()
        self._tx.close()

    def __repr__(self) -> str:
        return f"AhSocket({self.ifname!r}, ifindex={self.ifindex})"
