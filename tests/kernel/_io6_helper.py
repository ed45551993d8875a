"""Scenario runner for tests/kernel/test_ipv6_io_netns.py, run inside a lab namespace via `ip netns exec`.

Each subcommand drives one IPv6 adapter and prints JSON lines ({"ready": true} first when the test must
act after it). Every wait is bounded by --timeout. Owns no assertions: the test decides what results mean.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import sys
import time
from dataclasses import asdict
from ipaddress import IPv6Address, IPv6Interface
from typing import Any

from vrrpd.kernel.ndisc import NaSender
from vrrpd.kernel.netlink import AddressAdded, AddressRemoved, Netlink
from vrrpd.kernel.vrrp_socket6 import Vrrp6Socket

ETH_P_IPV6 = 0x86DD
MLD2_REPORT = 143


def emit(**fields: Any) -> None:
    print(json.dumps(fields, default=str), flush=True)


async def _open(ifname: str) -> Vrrp6Socket:
    async with Netlink(subscribe=False) as nl:
        link = await nl.link(ifname)
    assert link.link_local is not None, "no link-local address"
    return Vrrp6Socket.open(ifname, link.ifindex, link.link_local)


async def recv6(args: argparse.Namespace) -> None:
    sock = await _open(args.ifname)
    try:
        emit(ready=True, src=str(sock.src))
        for _ in range(args.count):
            data, src = await asyncio.wait_for(sock.recv(), args.timeout)
            emit(datagram=data.hex(), from_addr=str(src))
    except TimeoutError:
        emit(timeout=True)
    finally:
        sock.close()


async def send6(args: argparse.Namespace) -> None:
    sock = await _open(args.ifname)
    try:
        for dst in args.dst:
            await sock.send(bytes.fromhex(args.payload), IPv6Address(dst))
        sock.send_now(bytes.fromhex(args.payload))  # the default destination: ff02::12
        own = 0
        deadline = time.monotonic() + args.listen
        while (left := deadline - time.monotonic()) > 0 and own < 10:
            try:
                await asyncio.wait_for(sock.recv(), left)
                own += 1
            except TimeoutError:
                break
        emit(sent=len(args.dst) + 1, own_received=own, src=str(sock.src))
    finally:
        sock.close()


async def join_leave(args: argparse.Namespace) -> None:
    """Open (join ff02::12), hold, close (leave): the peer sees the MLD reports."""
    sock = await _open(args.ifname)
    await asyncio.sleep(args.hold)
    sock.close()
    emit(done=True)


async def mld_sniff(args: argparse.Namespace) -> None:
    """Records about `--group` in the MLDv2 reports seen on the wire: type, group, source, hop limit."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
    sock.setblocking(False)
    sock.bind((args.ifname, ETH_P_IPV6))
    loop = asyncio.get_running_loop()
    records: list[list[Any]] = []
    try:
        emit(ready=True)
        deadline = time.monotonic() + args.timeout
        for _ in range(500):
            left = deadline - time.monotonic()
            # Stop at the leave (CHANGE_TO_INCLUDE), or after --count records.
            if left <= 0 or len(records) >= args.count or any(r[0] == 3 for r in records):
                break
            try:
                frame = await asyncio.wait_for(loop.sock_recv(sock, 4096), left)
            except TimeoutError:
                break
            ip6 = frame[14:]
            # MLD reports carry a hop-by-hop header (router alert): next header 0, then ICMPv6 (58).
            if len(ip6) < 48 or ip6[6] != 0 or ip6[40] != 58:
                continue
            icmp = ip6[40 + (ip6[41] + 1) * 8 :]
            if len(icmp) < 8 or icmp[0] != MLD2_REPORT:
                continue
            (count,) = struct.unpack_from("!H", icmp, 6)
            offset = 8
            for _ in range(count):
                kind, aux, sources = struct.unpack_from("!BBH", icmp, offset)
                group = IPv6Address(icmp[offset + 4 : offset + 20])
                if str(group) == args.group:
                    records.append([kind, str(group), str(IPv6Address(ip6[8:24])), ip6[7]])
                offset += 20 + 16 * sources + 4 * aux
        emit(records=records)
    finally:
        sock.close()


async def na_send(args: argparse.Namespace) -> None:
    async with Netlink(subscribe=False) as nl:
        link = await nl.link(args.ifname)
    sender = NaSender.open(args.ifname, link.ifindex, link.mac)
    try:
        sender.send(IPv6Address(args.vip), count=args.count)
    finally:
        sender.close()
    emit(sent=args.count, mac=link.mac)


async def netlink6(args: argparse.Namespace) -> None:
    """link() facts, then add / list / remove IPv6 VIPs one by one and in a batch, with the events."""
    vips = [IPv6Interface(v) for v in args.vip]
    async with Netlink() as nl:
        link = await nl.link(args.ifname)
        stream = nl.events()
        added = [await nl.add_address(link.ifindex, vips[0]) for _ in range(2)]
        listed = [str(a) for a in await nl.addresses6(link.ifindex)]
        events: list[list[str]] = []
        deadline = time.monotonic() + args.timeout
        while (left := deadline - time.monotonic()) > 0 and len(events) < 10:
            try:
                event = await asyncio.wait_for(anext(stream), left)
            except TimeoutError:
                break
            if isinstance(event, AddressAdded | AddressRemoved):
                events.append([type(event).__name__, str(event.addr)])
                if str(event.addr) == str(vips[0]):
                    break
        batch_added = await nl.add_addresses(link.ifindex, vips[1:])
        emit(
            ready=True,
            link=asdict(link),
            added=added,
            listed=listed,
            events=events,
            batch_added={str(k): v for k, v in batch_added.items()},
        )
        # The test inspects `ip addr` now, then lets us go on.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        removed = [await nl.remove_address(link.ifindex, vips[0]) for _ in range(2)]
        batch_removed = await nl.remove_addresses(link.ifindex, vips[1:])
        await stream.aclose()
        emit(removed=removed, batch_removed={str(k): v for k, v in batch_removed.items()})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=4.0)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("recv6")
    p.add_argument("ifname")
    p.add_argument("--count", type=int, default=1)
    p = sub.add_parser("send6")
    p.add_argument("ifname")
    p.add_argument("payload")
    p.add_argument("dst", nargs="*")
    p.add_argument("--listen", type=float, default=0.5)
    p = sub.add_parser("join-leave")
    p.add_argument("ifname")
    p.add_argument("--hold", type=float, default=0.5)
    p = sub.add_parser("mld-sniff")
    p.add_argument("ifname")
    p.add_argument("--group", default="ff02::12")
    p.add_argument("--count", type=int, default=2)
    p = sub.add_parser("na-send")
    p.add_argument("ifname")
    p.add_argument("vip")
    p.add_argument("--count", type=int, default=2)
    p = sub.add_parser("netlink6")
    p.add_argument("ifname")
    p.add_argument("vip", nargs="+")
    args = parser.parse_args()
    scenario = {
        "recv6": recv6,
        "send6": send6,
        "join-leave": join_leave,
        "mld-sniff": mld_sniff,
        "na-send": na_send,
        "netlink6": netlink6,
    }[args.cmd]
    asyncio.run(asyncio.wait_for(scenario(args), args.timeout + 5))
    return 0


if __name__ == "__main__":
    sys.exit(main())
