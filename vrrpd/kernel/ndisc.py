"""Unsolicited Neighbor Advertisements for IPv6 virtual addresses, through an AF_PACKET socket.

The IPv6 twin of `vrrpd.kernel.garp`: where a new IPv4 master sends gratuitous ARP, a new IPv6 master
sends, for every IPv6 VIP, an unsolicited Neighbor Advertisement (RFC 4861 §4.4, §7.2.6) to all nodes
(ff02::1) with the Override flag set, so neighbours repoint their cache entry for the VIP to this
interface (RFC 5798 §6.4.1, §6.4.2).

Owns: building the Ethernet/IPv6/ICMPv6 frame (checksum included) and writing it without blocking.

Must not: decide when or how often to announce (the caller's timing, as for GARP), or touch addresses.

As keepalived (vrrp_ndisc.c): the source address is the VIP itself, the source MAC and the Target
Link-Layer Address option carry the MAC of the interface the sender is opened on (with `use_vmac`, the
macvlan's: the IPv6 virtual MAC of RFC 5798 §7.3), hop limit 255 (RFC 4861
§7.1.2 makes receivers drop anything else), and the Router flag is set only when the interface forwards
IPv6 — RFC 5798 asks for it unconditionally, but a VIP on a host that does not route would then be
taken by its neighbours for a router (RFC 4861 §7.2.5 IsRouter).
"""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv6Address
from pathlib import Path
from typing import Final

from vrrpd.kernel.garp import open_send_only, parse_mac
from vrrpd.protocol.packet import internet_checksum

ETH_P_IPV6: Final = 0x86DD
IPPROTO_ICMPV6: Final = 58
ND_NEIGHBOR_ADVERT: Final = 136  # RFC 4861 §4.4
ND_OPT_TARGET_LINKADDR: Final = 2
NA_FLAG_ROUTER: Final = 0x80000000
NA_FLAG_OVERRIDE: Final = 0x20000000
ND_HOP_LIMIT: Final = 255
ALL_NODES: Final = IPv6Address("ff02::1")
ALL_NODES_MAC: Final = b"\x33\x33\x00\x00\x00\x01"  # RFC 2464 §7: 33:33 + the group's low 32 bits

_ETH_HDR: Final = struct.Struct("!6s6sH")
_IPV6_HDR: Final = struct.Struct("!IHBB16s16s")
_NA: Final = struct.Struct("!BBHI16sBB6s")  # type, code, checksum, flags, target, option type/len, MAC
_PSEUDO: Final = struct.Struct("!16s16sI3xB")  # RFC 8200 §8.1 upper-layer pseudo-header


def na_frame(mac: bytes, vip: IPv6Address, router: bool = False) -> bytes:
    """The frame keepalived sends: "VIP is at MAC", Override set, from VIP to ff02::1, hop limit 255."""
    flags = NA_FLAG_OVERRIDE | (NA_FLAG_ROUTER if router else 0)
    icmp = _NA.pack(ND_NEIGHBOR_ADVERT, 0, 0, flags, vip.packed, ND_OPT_TARGET_LINKADDR, 1, mac)
    pseudo = _PSEUDO.pack(vip.packed, ALL_NODES.packed, len(icmp), IPPROTO_ICMPV6)
    checksum = internet_checksum(pseudo + icmp)
    icmp = icmp[:2] + struct.pack("!H", checksum) + icmp[4:]
    ip6 = _IPV6_HDR.pack(6 << 28, len(icmp), IPPROTO_ICMPV6, ND_HOP_LIMIT, vip.packed, ALL_NODES.packed)
    return _ETH_HDR.pack(ALL_NODES_MAC, mac, ETH_P_IPV6) + ip6 + icmp


def forwarding(ifname: str, proc: Path = Path("/proc/sys/net/ipv6/conf")) -> bool:
    """Whether `ifname` forwards IPv6 (net.ipv6.conf.<if>.forwarding): the NA's Router flag.

    An unreadable value (no IPv6, interface gone) reads as not forwarding.
    """
    try:
        return (proc / ifname / "forwarding").read_text().strip() not in ("", "0")
    except OSError:
        return False


class NaSender:
    """Send-only AF_PACKET socket bound to one interface, for unsolicited Neighbor Advertisements."""

    def __init__(self, sock: socket.socket, ifname: str, ifindex: int, mac: bytes) -> None:
        self._sock = sock
        self.ifname = ifname
        self.ifindex = ifindex
        self.mac = mac

    @classmethod
    def open(cls, ifname: str, ifindex: int, mac: str) -> NaSender:
        """Raises OSError (EPERM without CAP_NET_RAW, ENODEV) or ValueError for a bad MAC."""
        raw_mac = parse_mac(mac)
        return cls(open_send_only(ifname), ifname, ifindex, raw_mac)

    def send(self, vip: IPv6Address, count: int = 1, router: bool | None = None) -> None:
        """Write `count` unsolicited NAs for `vip` now; `router` None reads the interface's forwarding.

        Never blocks: a full buffer is BlockingIOError and a down link ENETDOWN, both OSError, raised
        for the caller to count. Frames already written stay written.
        """
        if router is None:
            router = forwarding(self.ifname)
        frame = na_frame(self.mac, vip, router)
        addr = (self.ifname, ETH_P_IPV6)
        for _ in range(count):
            self._sock.sendto(frame, addr)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def __repr__(self) -> str:
        return f"NaSender({self.ifname!r}, ifindex={self.ifindex})"
