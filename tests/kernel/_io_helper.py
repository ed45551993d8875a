"""Scenario runner for tests/kernel/test_io_adapters.py, executed inside a namespace via `ip netns exec`.

Each subcommand drives one adapter and prints JSON lines on stdout ({"ready": ...} first when the
test must act after it). Every wait is bounded by --timeout so a lost packet ends in an error line,
never a hang. Owns no assertions: the test decides what the results mean.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import subprocess
import sys
import time
from dataclasses import asdict
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from vrrpd.kernel.garp import GarpSender
from vrrpd.kernel.netlink import Netlink
from vrrpd.kernel.vrrp_socket import VrrpSocket

ETH_P_ARP = 0x0806


def emit(**fields: Any) -> None:
    print(json.dumps(fields, default=str), flush=True)


def ip_header(data: bytes) -> dict[str, Any]:
    ver_ihl, tos, total, _id, _frag, ttl, proto, _csum, src, dst = struct.unpack_from("!BBHHHBBH4s4s", data)
    ihl = (ver_ihl & 0x0F) * 4
    return {
        "version": ver_ihl >> 4,
        "tos": tos,
        "total_length": total,
        "length": len(data),
        "ttl": ttl,
        "proto": proto,
        "src": str(IPv4Address(src)),
        "dst": str(IPv4Address(dst)),
        "payload": data[ihl:].hex(),
    }


async def vrrp_recv(args: argparse.Namespace) -> None:
    sock = VrrpSocket.open(args.ifname, socket.if_nametoindex(args.ifname), IPv4Address(args.src))
    try:
        emit(ready=True)
        for _ in range(args.count):
            data, src = await asyncio.wait_for(sock.recv(), args.timeout)
            emit(packet=ip_header(data), from_addr=str(src))
    except TimeoutError:
        emit(timeout=True)
    finally:
        sock.close()


async def vrrp_send(args: argparse.Namespace) -> None:
    sock = VrrpSocket.open(args.ifname, socket.if_nametoindex(args.ifname), IPv4Address(args.src))
    try:
        for dst in args.dst:
            await sock.send(bytes.fromhex(args.payload), IPv4Address(dst))
        # Whatever arrives on our own socket now would be our own packet looped back.
        own = 0
        deadline = time.monotonic() + args.listen
        while (left := deadline - time.monotonic()) > 0 and own < 10:
            try:
                await asyncio.wait_for(sock.recv(), left)
                own += 1
            except TimeoutError:
                break
        emit(sent=len(args.dst), own_received=own)
    finally:
        sock.close()


async def send_errors(args: argparse.Namespace) -> None:
    """Sends on a down interface: each must surface as OSError, and the loop must survive."""
    async with Netlink(subscribe=False) as nl:
        link = await nl.link(args.ifname)
    sock = VrrpSocket.open(args.ifname, link.ifindex, IPv4Address(args.src))
    garp = GarpSender.open(args.ifname, link.ifindex, link.mac)
    errors: dict[str, Any] = {}
    try:
        try:
            await sock.send(b"\x21\x01", IPv4Address("224.0.0.18"))
            errors["vrrp"] = None
        except OSError as e:
            errors["vrrp"] = e.errno
        try:
            garp.send(IPv4Address(args.src))
            errors["garp"] = None
        except OSError as e:
            errors["garp"] = e.errno
        await asyncio.sleep(0)  # the loop is still alive
        emit(errors=errors, link_up=link.up)
    finally:
        sock.close()
        garp.close()


async def netlink_addr(args: argparse.Namespace) -> None:
    vip = IPv4Interface(args.vip)
    async with Netlink(subscribe=False) as nl:
        before = await nl.link(args.ifname)
        added = [await nl.add_address(before.ifindex, vip, label=args.label) for _ in range(2)]
        listed = await nl.addresses(before.ifindex)
        after = await nl.link(args.ifname)
        removed = [await nl.remove_address(before.ifindex, vip) for _ in range(2)]
        final = await nl.addresses(before.ifindex)
        missing: str | None = None
        try:
            await nl.link("vio-nope0")
        except LookupError as e:
            missing = type(e).__name__
        emit(
            before=asdict(before),
            added=added,
            listed=[str(a) for a in listed],
            after=asdict(after),
            removed=removed,
            final=[str(a) for a in final],
            missing=missing,
        )


async def netlink_events(args: argparse.Namespace) -> None:
    async with Netlink() as nl:
        link = await nl.link(args.ifname)
        emit(ready=True, link=asdict(link))
        stream = nl.events()
        deadline = time.monotonic() + args.timeout
        for _ in range(args.max):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                event = await asyncio.wait_for(anext(stream), left)
            except TimeoutError:
                break
            emit(event=type(event).__name__, at=time.monotonic(), **asdict(event))
        await stream.aclose()
        emit(done=True)


async def netlink_overflow(args: argparse.Namespace) -> None:
    """Overflow the event socket on purpose: events() must say so, reopen, and keep going."""
    async with Netlink() as nl:
        nl._mon.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # test-only poke
        # Block the loop (so nothing drains the socket) while the kernel sends ~100 notifications.
        script = f"for i in $(seq 1 100); do ip addr add 203.0.113.$i/32 dev {args.ifname}; done"
        subprocess.run(script, shell=True, check=True, timeout=args.timeout)  # noqa: ASYNC221
        stream = nl.events()
        first = await asyncio.wait_for(anext(stream), args.timeout)
        subprocess.run(["ip", "addr", "del", "203.0.113.1/32", "dev", args.ifname], check=True)  # noqa: ASYNC221
        after = await asyncio.wait_for(anext(stream), args.timeout)
        await stream.aclose()
        emit(first=[type(first).__name__, asdict(first)], after=[type(after).__name__, asdict(after)])


async def garp_send(args: argparse.Namespace) -> None:
    async with Netlink(subscribe=False) as nl:
        link = await nl.link(args.ifname)
    garp = GarpSender.open(args.ifname, link.ifindex, link.mac)
    try:
        garp.send(IPv4Address(args.vip), count=args.count)
    finally:
        garp.close()
    emit(sent=args.count, mac=link.mac)


async def sniff_arp(args: argparse.Namespace) -> None:
    """Frames from the wire whose ARP sender IP is the VIP (the kernel's own ARP is skipped)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    sock.setblocking(False)
    sock.bind((args.ifname, ETH_P_ARP))
    loop = asyncio.get_running_loop()
    vip = IPv4Address(args.vip).packed
    frames: list[str] = []
    try:
        emit(ready=True)
        deadline = time.monotonic() + args.timeout
        for _ in range(100):  # bounded even if the link is flooded with other ARP
            left = deadline - time.monotonic()
            if left <= 0 or len(frames) >= args.count:
                break
            try:
                frame = await asyncio.wait_for(loop.sock_recv(sock, 2048), left)
            except TimeoutError:
                break
            if frame[28:32] == vip:
                frames.append(frame.hex())
        emit(frames=frames)
    finally:
        sock.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=4.0)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("vrrp-recv")
    p.add_argument("ifname")
    p.add_argument("src")
    p.add_argument("--count", type=int, default=1)
    p = sub.add_parser("vrrp-send")
    p.add_argument("ifname")
    p.add_argument("src")
    p.add_argument("payload")
    p.add_argument("dst", nargs="+")
    p.add_argument("--listen", type=float, default=0.5)
    p = sub.add_parser("send-errors")
    p.add_argument("ifname")
    p.add_argument("src")
    p = sub.add_parser("netlink-addr")
    p.add_argument("ifname")
    p.add_argument("vip")
    p.add_argument("--label")
    p = sub.add_parser("netlink-events")
    p.add_argument("ifname")
    p.add_argument("--max", type=int, default=20)
    p = sub.add_parser("netlink-overflow")
    p.add_argument("ifname")
    p = sub.add_parser("garp-send")
    p.add_argument("ifname")
    p.add_argument("vip")
    p.add_argument("--count", type=int, default=2)
    p = sub.add_parser("sniff-arp")
    p.add_argument("ifname")
    p.add_argument("vip")
    p.add_argument("--count", type=int, default=2)
    args = parser.parse_args()
    scenario = {
        "vrrp-recv": vrrp_recv,
        "vrrp-send": vrrp_send,
        "send-errors": send_errors,
        "netlink-addr": netlink_addr,
        "netlink-events": netlink_events,
        "netlink-overflow": netlink_overflow,
        "garp-send": garp_send,
        "sniff-arp": sniff_arp,
    }[args.cmd]
    # Hard ceiling on the whole run, whatever the scenario does.
    asyncio.run(asyncio.wait_for(scenario(args), args.timeout + 5))
    return 0


if __name__ == "__main__":
    sys.exit(main())
