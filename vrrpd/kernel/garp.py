"""Gratuitous ARP for virtual IPs, sent through an AF_PACKET socket on one interface.

Owns: building the Ethernet/ARP frame and writing it to the wire without blocking.

Must not: decide when or how often to announce (RFC 3768 §6.4.2 / keepalived `garp_master_*` timing
belongs to the caller), or touch addresses. Like keepalived without `use_vmac`, the source is the
interface's own MAC, so the frame tells neighbours which port the VIP lives behind now.
"""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address
from typing import Final

ETH_P_ARP: Final = 0x0806
ETH_P_IP: Final = 0x0800
ARPHRD_ETHER: Final = 1
ARPOP_REQUEST: Final = 1
BROADCAST_MAC: Final = b"\xff" * 6
ZERO_MAC: Final = b"\x00" * 6
MIN_FRAME: Final = 60  # 802.3 minimum frame without FCS; the kernel does not pad AF_PACKET frames

_ETH_HDR: Final = struct.Struct("!6s6sH")
_ARP: Final = struct.Struct("!HHBBH6s4s6s4s")


def parse_mac(mac: str) -> bytes:
    """'aa:bb:cc:dd:ee:ff' -> 6 bytes; ValueError otherwise."""
    raw = bytes.fromhex(mac.replace(":", ""))
    if len(raw) != 6:
        raise ValueError(f"not a 48-bit MAC address: {mac!r}")
    return raw


def garp_frame(mac: bytes, vip: IPv4Address) -> bytes:
    """The frame keepalived sends: broadcast ARP request "who-has VIP tell VIP" from `mac`."""
    eth = _ETH_HDR.pack(BROADCAST_MAC, mac, ETH_P_ARP)
    arp = _ARP.pack(ARPHRD_ETHER, ETH_P_IP, 6, 4, ARPOP_REQUEST, mac, vip.packed, ZERO_MAC, vip.packed)
    return (eth + arp).ljust(MIN_FRAME, b"\x00")


def open_send_only(ifname: str) -> socket.socket:
    """A non-blocking AF_PACKET socket bound to `ifname` for writing whole frames.

    Protocol 0: the socket is never registered for receive, so traffic on the interface does not pile
    up in a buffer nobody reads (keepalived opens ETH_P_RARP for the same reason). Raises OSError
    (EPERM without CAP_NET_RAW, ENODEV).
    """
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.setblocking(False)
        sock.bind((ifname, 0))
    except BaseException:
        sock.close()
        raise
    return sock


class GarpSender:
    """Send-only AF_PACKET socket bound to one interface."""

    def __init__(self, sock: socket.socket, ifname: str, ifindex: int, mac: bytes) -> None:
        self._sock = sock
        self.ifname = ifname
        self.ifindex = ifindex
        self.mac = mac

    @classmethod
    def open(cls, ifname: str, ifindex: int, mac: str) -> GarpSender:
        """Raises OSError (EPERM without CAP_NET_RAW, ENODEV) or ValueError for a bad MAC."""
        raw_mac = parse_mac(mac)
        return cls(open_send_only(ifname), ifname, ifindex, raw_mac)

    def send(self, vip: IPv4Address, count: int = 1) -> None:
        """Write `count` gratuitous ARPs for `vip` now.

        Never blocks: a full buffer is BlockingIOError and a down link ENETDOWN, both OSError,
        raised for the caller to count. Frames already written stay written.
        """
        frame = garp_frame(self.mac, vip)
        # skb->protocol comes from the address; the bound device also defines ifindex.
        addr = (self.ifname, ETH_P_ARP)
        for _ in range(count):
            self._sock.sendto(frame, addr)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def __repr__(self) -> str:
        return f"GarpSender({self.ifname!r}, ifindex={self.ifindex})"
