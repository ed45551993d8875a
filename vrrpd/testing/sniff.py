"""Packet capture for the lab: a tcpdump-free sniffer and the typed events it records.

This module owns three things: the event dataclasses (`VrrpEvent`, `ArpEvent`, `IcmpEvent`, `NaEvent`), the
byte-level parser that turns one Ethernet frame into at most one event (`parse_frame`), and a tiny
program, run inside the lab's switch namespace as

    ip netns exec <sw> python -m vrrpd.testing.sniff --iface br0 --out FILE

that opens an AF_PACKET socket on the bridge, takes the kernel receive timestamp of every frame
(SO_TIMESTAMPNS, CLOCK_REALTIME) and appends one JSON line per interesting frame to FILE. FILE is
created only once the socket is bound, so its existence means "ready".

It must stay dependency-free: no scapy, and no vrrpd.protocol.packet (the product's own codec must be checked
by an independent reader, not by itself). Only the standard library.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import socket
import struct
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Literal

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
IPPROTO_ICMP = 1
IPPROTO_VRRP = 112
IPPROTO_ICMPV6 = 58
ND_NEIGHBOR_ADVERT = 136
# Not exported by Python's socket module; these are the asm-generic values (x86, arm, riscv...).
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
SO_TIMESTAMPNS = 35


@dataclass(frozen=True)
class VrrpEvent:
    """One VRRP advertisement seen on the bridge (IPv4 protocol 112, or IPv6 next header 112).

    `advert_int` is the field as sent: seconds in version 2, centiseconds (12 bits) in version 3, which
    has no authentication (`auth_type` 0). `ttl` is the IPv6 hop limit for IPv6.
    """

    time: float
    src_mac: str
    dst_mac: str
    src_ip: str
    dst_ip: str
    ttl: int
    version: int
    type: int
    vrid: int
    priority: int
    auth_type: int
    advert_int: int
    addresses: tuple[str, ...]
    kind: Literal["vrrp"] = "vrrp"


@dataclass(frozen=True)
class ArpEvent:
    """One ARP frame; `gratuitous` when the sender announces its own address (spa == tpa)."""

    time: float
    src_mac: str
    dst_mac: str
    op: int  # 1 request, 2 reply
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str
    gratuitous: bool
    kind: Literal["arp"] = "arp"


@dataclass(frozen=True)
class IcmpEvent:
    """One ICMP echo request (type 8) or echo reply (type 0)."""

    time: float
    src_mac: str
    dst_mac: str
    src: str
    dst: str
    type: int
    id: int
    seq: int
    kind: Literal["icmp"] = "icmp"

    @property
    def is_request(self) -> bool:
        return self.type == 8


@dataclass(frozen=True)
class NaEvent:
    """One ICMPv6 Neighbor Advertisement (RFC 4861 §4.4): "`target` is at `lladdr`"."""

    time: float
    src_mac: str
    dst_mac: str
    src: str
    dst: str
    hop_limit: int
    target: str
    router: bool
    solicited: bool
    override: bool
    lladdr: str | None  # the Target Link-Layer Address option, if present
    kind: Literal["na"] = "na"

    @property
    def unsolicited(self) -> bool:
        return not self.solicited


Event = VrrpEvent | ArpEvent | IcmpEvent | NaEvent


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _ip(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(raw))


def parse_frame(frame: bytes, when: float) -> Event | None:
    """Decode an Ethernet frame into an event, or None if it is not VRRP, ARP or ICMP echo.

    Truncated or malformed frames are ignored rather than raised: a sniffer must survive any input.
    """
    if len(frame) < 14:
        return None
    dst_mac, src_mac = _mac(frame[0:6]), _mac(frame[6:12])
    (ethertype,) = struct.unpack_from("!H", frame, 12)
    offset = 14
    if ethertype == ETH_P_8021Q and len(frame) >= 18:  # one VLAN tag is skipped
        (ethertype,) = struct.unpack_from("!H", frame, 16)
        offset = 18
    if ethertype == ETH_P_ARP:
        return _parse_arp(frame[offset:], when, src_mac, dst_mac)
    if ethertype == ETH_P_IP:
        return _parse_ipv4(frame[offset:], when, src_mac, dst_mac)
    if ethertype == ETH_P_IPV6:
        return _parse_ipv6(frame[offset:], when, src_mac, dst_mac)
    return None


def _vrrp(
    payload: bytes, *, when: float, src_mac: str, dst_mac: str, src: str, dst: str, ttl: int
) -> Event | None:
    """The VRRP message after either IP header; addresses are 4 or 16 bytes by the IP version."""
    if len(payload) < 8:
        return None
    vt, vrid, prio, count = struct.unpack_from("!BBBB", payload, 0)
    size = 16 if ":" in src else 4
    if len(payload) < 8 + size * count:
        return None
    if vt >> 4 == 3:  # RFC 5798 §5.2: 4 reserved bits, 12-bit Max Adver Int in centiseconds, no auth
        auth, adver = 0, struct.unpack_from("!H", payload, 4)[0] & 0x0FFF
    else:
        auth, adver = payload[4], payload[5]
    ip = (lambda raw: str(ipaddress.IPv6Address(raw))) if size == 16 else _ip
    addrs = tuple(ip(payload[8 + size * i : 8 + size * (i + 1)]) for i in range(count))
    return VrrpEvent(
        time=when,
        src_mac=src_mac,
        dst_mac=dst_mac,
        src_ip=src,
        dst_ip=dst,
        ttl=ttl,
        version=vt >> 4,
        type=vt & 0x0F,
        vrid=vrid,
        priority=prio,
        auth_type=auth,
        advert_int=adver,
        addresses=addrs,
    )


def _parse_ipv6(body: bytes, when: float, src_mac: str, dst_mac: str) -> Event | None:
    # Only packets without extension headers: VRRP, NA and echo never carry one (MLD reports, which
    # carry hop-by-hop options, are not events).
    if len(body) < 40 or body[0] >> 4 != 6:
        return None
    next_header, hop_limit = body[6], body[7]
    src, dst = str(ipaddress.IPv6Address(body[8:24])), str(ipaddress.IPv6Address(body[24:40]))
    payload = body[40:]
    if next_header == IPPROTO_VRRP:
        return _vrrp(payload, when=when, src_mac=src_mac, dst_mac=dst_mac, src=src, dst=dst, ttl=hop_limit)
    if next_header != IPPROTO_ICMPV6 or len(payload) < 8:
        return None
    if payload[0] == ND_NEIGHBOR_ADVERT and len(payload) >= 24:
        (flags,) = struct.unpack_from("!I", payload, 4)
        lladdr = None
        offset = 24
        while offset + 8 <= len(payload):  # options: type, length in units of 8 bytes
            opt_type, opt_len = payload[offset], payload[offset + 1]
            if opt_len == 0:
                break
            if opt_type == 2 and opt_len == 1:  # Target Link-Layer Address
                lladdr = _mac(payload[offset + 2 : offset + 8])
            offset += 8 * opt_len
        return NaEvent(
            time=when,
            src_mac=src_mac,
            dst_mac=dst_mac,
            src=src,
            dst=dst,
            hop_limit=hop_limit,
            target=str(ipaddress.IPv6Address(payload[8:24])),
            router=bool(flags & 0x80000000),
            solicited=bool(flags & 0x40000000),
            override=bool(flags & 0x20000000),
            lladdr=lladdr,
        )
    if payload[0] in (128, 129):  # ICMPv6 echo request / reply, reported as IPv4's 8 / 0
        ident, seq = struct.unpack_from("!HH", payload, 4)
        return IcmpEvent(
            time=when,
            src_mac=src_mac,
            dst_mac=dst_mac,
            src=src,
            dst=dst,
            type=8 if payload[0] == 128 else 0,
            id=ident,
            seq=seq,
        )
    return None


def _parse_arp(body: bytes, when: float, src_mac: str, dst_mac: str) -> ArpEvent | None:
    if len(body) < 28:
        return None
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", body, 0)
    if (htype, ptype, hlen, plen) != (1, ETH_P_IP, 6, 4):
        return None
    sha, spa, tha, tpa = struct.unpack_from("!6s4s6s4s", body, 8)
    return ArpEvent(
        time=when,
        src_mac=src_mac,
        dst_mac=dst_mac,
        op=op,
        sender_mac=_mac(sha),
        sender_ip=_ip(spa),
        target_mac=_mac(tha),
        target_ip=_ip(tpa),
        gratuitous=spa == tpa,
    )


def _parse_ipv4(body: bytes, when: float, src_mac: str, dst_mac: str) -> Event | None:
    if len(body) < 20 or body[0] >> 4 != 4:
        return None
    ihl = (body[0] & 0x0F) * 4
    ttl, proto = body[8], body[9]
    src, dst = _ip(body[12:16]), _ip(body[16:20])
    (frag,) = struct.unpack_from("!H", body, 6)
    if ihl < 20 or frag & 0x1FFF:  # later fragments carry no header to read
        return None
    payload = body[ihl:]
    if proto == IPPROTO_VRRP:
        return _vrrp(payload, when=when, src_mac=src_mac, dst_mac=dst_mac, src=src, dst=dst, ttl=ttl)
    if proto == IPPROTO_ICMP and len(payload) >= 8 and payload[0] in (0, 8):
        icmp_type = payload[0]
        ident, seq = struct.unpack_from("!HH", payload, 4)
        return IcmpEvent(
            time=when,
            src_mac=src_mac,
            dst_mac=dst_mac,
            src=src,
            dst=dst,
            type=icmp_type,
            id=ident,
            seq=seq,
        )
    return None


def event_to_json(event: Event) -> str:
    return json.dumps(asdict(event), separators=(",", ":"))


def event_from_json(line: str) -> Event:
    data: dict[str, Any] = json.loads(line)
    kind = data.get("kind")
    if kind == "vrrp":
        data["addresses"] = tuple(data["addresses"])
        return VrrpEvent(**data)
    if kind == "arp":
        return ArpEvent(**data)
    if kind == "icmp":
        return IcmpEvent(**data)
    if kind == "na":
        return NaEvent(**data)
    raise ValueError(f"unknown event kind {kind!r}")


def read_events(path: Path) -> list[Event]:
    """Events written so far to a capture file, sorted by kernel timestamp.

    A last line still being written (no newline yet) is left for the next read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")[:-1]  # the part after the last newline is incomplete
    events = [event_from_json(line) for line in lines if line]
    return sorted(events, key=lambda e: e.time)


def _open_socket(iface: str) -> socket.socket:
    # Protocol 0 at creation receives nothing; bind() then enables ETH_P_ALL on br0 only, so no
    # frame from another interface can slip in between socket() and bind().
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind((iface, ETH_P_ALL))
    # Promiscuous mode makes the bridge pass up unicast frames it forwards port-to-port.
    ifindex = socket.if_nametoindex(iface)
    mreq = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    return sock


def _receive(sock: socket.socket) -> tuple[bytes, float, int]:
    data, ancdata, _flags, addr = sock.recvmsg(65535, socket.CMSG_SPACE(16))
    when = time.time()  # fallback only; the kernel stamp below is the one that counts
    for level, ctype, cdata in ancdata:
        if level == socket.SOL_SOCKET and ctype == SO_TIMESTAMPNS and len(cdata) >= 16:
            sec, nsec = struct.unpack_from("qq", cdata)
            when = sec + nsec / 1e9
    return data, when, addr[2]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iface", default="br0")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    stopping = False

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sock = _open_socket(args.iface)
    sock.settimeout(0.1)  # bounds how long a stop request waits
    drain_left = 100_000  # after a stop request, bounded even under a flood
    with args.out.open("w", encoding="utf-8", buffering=1) as out:  # created now: "ready"
        while drain_left > 0:
            if stopping:
                sock.setblocking(False)  # take what the kernel already queued, then leave
                drain_left -= 1
            try:
                data, when, pkttype = _receive(sock)
            except (TimeoutError, BlockingIOError):
                if stopping:
                    break
                continue
            if pkttype == socket.PACKET_OUTGOING:
                continue
            event = parse_frame(data, when)
            if event is not None:
                out.write(event_to_json(event) + "\n")
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
