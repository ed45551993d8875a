"""A minimal ICMP echo ("ping") for the lab, so it never depends on iputils-ping being installed.

Run inside a namespace as `python -m vrrpd.testing.icmp DST --count N --timeout T`: it sends up to N
echo requests over a raw ICMP socket (root, which the lab has anyway), waits up to T seconds for each
matching reply, and exits 0 at the first reply, 1 if none came. DST may be IPv4 or IPv6 (ICMPv6 echo,
RFC 4443 §4: the kernel fills in the checksum of a raw ICMPv6 socket). Standard library only.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import time
from collections.abc import Sequence


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, payload: bytes = b"vrrpd-lab") -> bytes:
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    return struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload


def _is_reply(packet: bytes, dst: str, ident: int, seq: int) -> bool:
    # A raw IPv4 socket hands us the IP header too; every ICMP packet in the namespace arrives here.
    ihl = (packet[0] & 0x0F) * 4
    if len(packet) < ihl + 8 or socket.inet_ntoa(packet[12:16]) != dst:
        return False
    icmp_type, _code, _sum, r_ident, r_seq = struct.unpack_from("!BBHHH", packet, ihl)
    return icmp_type == 0 and (r_ident, r_seq) == (ident, seq)


ICMP6_ECHO_REQUEST = 128
ICMP6_ECHO_REPLY = 129


def echo6_request(ident: int, seq: int, payload: bytes = b"vrrpd-lab") -> bytes:
    return struct.pack("!BBHHH", ICMP6_ECHO_REQUEST, 0, 0, ident, seq) + payload


def _ping6(dst: str, count: int, timeout: float, ident: int) -> bool:
    # A raw ICMPv6 socket hands over the ICMPv6 message only; the source comes with recvfrom.
    want = socket.inet_pton(socket.AF_INET6, dst)
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
        for seq in range(1, count + 1):
            sock.sendto(echo6_request(ident, seq), (dst, 0))
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    packet, addr = sock.recvfrom(65535)
                except TimeoutError:
                    break
                if len(packet) < 8 or socket.inet_pton(socket.AF_INET6, addr[0].partition("%")[0]) != want:
                    continue
                icmp_type, _code, _sum, r_ident, r_seq = struct.unpack_from("!BBHHH", packet)
                if icmp_type == ICMP6_ECHO_REPLY and (r_ident, r_seq) == (ident, seq):
                    return True
    return False


def ping(dst: str, count: int = 1, timeout: float = 1.0) -> bool:
    ident = os.getpid() & 0xFFFF
    if ":" in dst:
        return _ping6(dst, count, timeout, ident)
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        for seq in range(1, count + 1):
            sock.sendto(echo_request(ident, seq), (dst, 0))
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    packet = sock.recv(65535)
                except TimeoutError:
                    break
                if _is_reply(packet, dst, ident, seq):
                    return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ICMP echo without iputils-ping")
    parser.add_argument("dst")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1.0)
    args = parser.parse_args(argv)
    try:
        return 0 if ping(args.dst, args.count, args.timeout) else 1
    except OSError as exc:  # e.g. "Network is unreachable": a plain "no" for the caller
        print(f"ping {args.dst}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
