"""Batched VIP add/remove (`Netlink.add_addresses` / `remove_addresses`): encoding and a real namespace.

The encoding is checked against pyroute2's own parser; the namespace test installs 255 VIPs in one call
on a lab node's eth0 (TEST-NET addresses only) and compares with what `ip -4 addr` lists.
"""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import struct
import sys
import textwrap
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv6Interface
from typing import Any

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

from tests.support.fakes import FakeTransport, run
from vrrpd.kernel.netlink import (
    NLM_F_REQUEST,
    RTM_DELADDR,
    RTM_NEWADDR,
    Address,
    Netlink,
)
from vrrpd.kernel.rtnl import (
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_EXCL,
    NLMSG_ERROR,
    NetlinkError,
    decode_acks,
    encode_addr_request,
)
from vrrpd.protocol import fsm
from vrrpd.runtime.instance import Instance
from vrrpd.testing.plugin import LabFactory

# --- encoding ------------------------------------------------------------------------------------


def parse(data: bytes) -> Any:
    msg = ifaddrmsg(data)
    msg.decode()
    return msg


@pytest.mark.parametrize("kind", [RTM_NEWADDR, RTM_DELADDR])
@pytest.mark.parametrize("vip", ["192.0.2.100/24", "198.51.100.7/32", "203.0.113.9/31", "10.1.2.3/8"])
def test_request_round_trips_through_pyroute2(kind: int, vip: str) -> None:
    addr = IPv4Interface(vip)
    data = encode_addr_request(kind, 4242, 7, addr)
    assert len(data) % 4 == 0
    msg = parse(data)
    assert msg["header"]["length"] == len(data)
    assert msg["header"]["type"] == kind
    assert msg["header"]["sequence_number"] == 4242
    assert msg["header"]["pid"] == 0
    flags = NLM_F_REQUEST | NLM_F_ACK
    if kind == RTM_NEWADDR:
        flags |= NLM_F_CREATE | NLM_F_EXCL
    assert msg["header"]["flags"] == flags
    assert msg["family"] == socket.AF_INET
    assert msg["prefixlen"] == addr.network.prefixlen
    assert msg["index"] == 7
    assert msg["scope"] == 0 and msg["flags"] == 0
    assert msg.get("IFA_LOCAL") == msg.get("IFA_ADDRESS") == str(addr.ip)
    assert [name for name, _ in msg["attrs"]] == ["IFA_LOCAL", "IFA_ADDRESS"]


def ack(seq: int, error: int) -> bytes:
    # nlmsgerr with NETLINK_CAP_ACK: the error, then the request's header only.
    body = struct.pack("=i", -error) + struct.pack("=IHHII", 40, RTM_NEWADDR, 0, seq, 0)
    return struct.pack("=IHHII", 16 + len(body), NLMSG_ERROR, 0x100, seq, 1234) + body


def test_acks_decode_errno_per_sequence_number() -> None:
    data = ack(1, 0) + ack(2, errno.EEXIST) + ack(3, errno.EADDRNOTAVAIL)
    assert decode_acks(data) == [(1, 0), (2, errno.EEXIST), (3, errno.EADDRNOTAVAIL)]
    # Not an ACK (an RTM_NEWADDR notification) is skipped; a truncated tail ends the parse.
    other = encode_addr_request(RTM_NEWADDR, 9, 1, IPv4Interface("192.0.2.1/24"))
    assert decode_acks(other + ack(4, 0) + ack(5, 0)[:20]) == [(4, 0)]
    assert decode_acks(b"") == []


# --- a real interface ----------------------------------------------------------------------------

PRIMARY_IP = "192.0.2.11"  # the lab's n1
PRIMARY = f"{PRIMARY_IP}/24"
VIPS = (
    [f"203.0.113.{i}/24" for i in range(1, 201)]
    + [f"198.51.100.{i}/32" for i in range(1, 55)]
    + ["192.0.2.100/24"]  # same subnet as the primary: must become secondary
)

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from ipaddress import IPv4Interface
    from vrrpd.kernel.netlink import Netlink

    async def main():
        vips = [IPv4Interface(v) for v in json.loads(sys.argv[2])]
        async with Netlink(subscribe=False) as nl:
            ifindex = (await nl.link("eth0")).ifindex
            op = nl.add_addresses if sys.argv[1] == "add" else nl.remove_addresses
            t0 = time.perf_counter()
            result = await op(ifindex, vips)
            ms = (time.perf_counter() - t0) * 1000
            primary = str((await nl.link("eth0")).primary)
        codes = {str(v): c for v, c in result.items()}
        print(json.dumps({"codes": codes, "ms": ms, "primary": primary}))

    asyncio.run(main())
    """
)


@pytest.mark.netns
def test_batch_add_and_remove_255_vips(vrrp_lab: LabFactory) -> None:
    lab = vrrp_lab(nodes=1, prefix="vbk")

    def call(op: str) -> dict[str, Any]:
        out = lab.run("n1", [sys.executable, "-c", SCRIPT, op, json.dumps(VIPS)], timeout=30)
        result: dict[str, Any] = json.loads(out.stdout)
        assert set(result["codes"]) == set(VIPS)
        return result

    def listed() -> tuple[list[str], list[str]]:
        out = lab.run("n1", ["ip", "-4", "-j", "addr", "show", "dev", "eth0"])
        infos = json.loads(out.stdout)[0]["addr_info"]
        every = [f"{a['local']}/{a['prefixlen']}" for a in infos]
        secondary = [f"{a['local']}/{a['prefixlen']}" for a in infos if a.get("secondary")]
        return every, secondary

    first = call("add")
    assert set(first["codes"].values()) == {0}, first["codes"]
    assert first["primary"] == PRIMARY_IP
    every, secondary = listed()
    assert every[0] == PRIMARY  # still the interface's primary: the VRRP source
    assert sorted(every) == sorted([PRIMARY, *VIPS])
    assert "192.0.2.100/24" in secondary and PRIMARY not in secondary

    again = call("add")
    assert set(again["codes"].values()) == {errno.EEXIST}
    assert sorted(listed()[0]) == sorted([PRIMARY, *VIPS])

    removed = call("remove")
    # Deleting 203.0.113.1/24, the first (primary) of its subnet, takes that subnet's secondaries with it
    # (promote_secondaries is off): those are then already gone. Every /32 is a subnet of its own.
    assert removed["codes"]["203.0.113.1/24"] == 0
    assert set(removed["codes"].values()) <= {0, errno.EADDRNOTAVAIL}, removed["codes"]
    assert all(removed["codes"][v] == 0 for v in VIPS if v.endswith("/32") or v.startswith("192.0.2."))
    assert listed()[0] == [PRIMARY]

    twice = call("remove")
    assert set(twice["codes"].values()) <= {errno.EADDRNOTAVAIL, errno.ENOENT}, twice["codes"]
    assert listed()[0] == [PRIMARY]
    assert twice["primary"] == PRIMARY_IP


def test_batch_failure_falls_back_to_per_address_requests() -> None:
    """A batch that errors or times out: the addresses without an answer go through pyroute2 one by one."""
    done = IPv4Interface("192.0.2.100/24")
    rest = [IPv4Interface("192.0.2.101/24"), IPv4Interface("192.0.2.102/24")]
    calls: list[IPv4Interface] = []

    async def scenario() -> dict[IPv4Interface, int]:
        nl = Netlink(subscribe=False)
        nl._ipr = object()  # "inside async with", without a real socket

        async def send_batch(
            kind: int, ifindex: int, addrs: list[Any], results: dict[Any, int], options: Any
        ) -> None:
            results[done] = 0
            raise TimeoutError

        async def add_address(
            ifindex: int, addr: Address, label: str | None = None, options: Any = None
        ) -> bool:
            assert isinstance(addr, IPv4Interface)
            calls.append(addr)
            if addr == rest[1]:
                raise NetlinkError(errno.EPERM)
            return False

        nl._send_batch = send_batch  # type: ignore[method-assign]
        nl.add_address = add_address  # type: ignore[method-assign]
        return await nl.add_addresses(3, [done, *rest, rest[0]])

    result = asyncio.run(scenario())
    assert calls == rest  # each once, and not the one the batch had answered
    assert result == {done: 0, rest[0]: errno.EEXIST, rest[1]: errno.EPERM}


def test_garps_go_one_per_vip_first_then_the_repeats() -> None:
    """keepalived's order: every VIP announced once before any repeat, so the last VIP is not last by N×."""
    a, b, c = (IPv4Address(f"192.0.2.{i}") for i in (100, 101, 102))

    async def body(inst: Instance, transport: FakeTransport) -> None:
        transport.garps.clear()
        await inst._execute(fsm.SendGarp((a, b, c), 2))
        assert transport.garps == [(a, 1), (b, 1), (c, 1), (a, 1), (b, 1), (c, 1)]
        assert inst.counters.garps_sent >= 6

    run(body)


def test_batch_results_decide_what_is_held() -> None:
    """EEXIST on add is held (it is there); any other error is not, counts, and arms the retry."""
    ok, there, refused = (IPv4Interface(f"192.0.2.{i}/24") for i in (100, 101, 102))

    async def body(inst: Instance, transport: FakeTransport) -> None:
        async def add_vips(
            vips: Sequence[IPv4Interface | IPv6Interface],
        ) -> dict[IPv4Interface | IPv6Interface, int]:
            return {ok: 0, there: errno.EEXIST, refused: errno.EPERM}

        transport.add_vips = add_vips  # type: ignore[method-assign]
        inst._held.clear()
        errors = inst.counters.netlink_errors
        await inst._execute(fsm.AddVips((ok, there, refused)))
        assert inst._held == {ok, there}
        assert inst.counters.netlink_errors == errors + 1
        assert inst._vip_retry is not None

    run(body, virtual_ipaddress=["192.0.2.100/24", "192.0.2.101/24", "192.0.2.102/24"])
