"""vrrpd.kernel.rtnl: the standard-library rtnetlink client answers as pyroute2 would.

Messages are encoded by pyroute2 (the oracle) and decoded here, and the requests built here are parsed by
pyroute2; the request path runs against a scripted socket. The kernel round trips (links, address dumps,
events, the ENOBUFS overflow) are in tests/kernel/test_io_adapters.py, in a namespace.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from typing import Any

import pytest
from pyroute2.netlink import nlmsg
from pyroute2.netlink.exceptions import NetlinkError as Pyroute2Error
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from vrrpd.kernel import rtnl
from vrrpd.kernel.rtnl import (
    NLM_F_DUMP,
    NLM_F_MULTI,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    RTM_DELADDR,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_NEWADDR,
    RTM_NEWLINK,
    LazyIPRoute,
    NetlinkError,
    decode,
    encode_dump_addr,
    encode_get_link,
)


def _encode(msg: Any, kind: int, seq: int = 1, flags: int = 0) -> bytes:
    msg["header"]["type"] = kind
    msg["header"]["sequence_number"] = seq
    msg["header"]["flags"] = flags
    msg.encode()
    return bytes(msg.data)


def link_msg(index: int, name: str, flags: int, mac: str = "02:00:5e:00:01:07", **extra: Any) -> Any:
    msg = ifinfmsg()
    msg["index"] = index
    msg["flags"] = flags
    msg["attrs"] = [["IFLA_IFNAME", name], ["IFLA_ADDRESS", mac], ["IFLA_MTU", 1500], *extra.items()]
    return msg


def addr_msg(index: int, family: int, address: str, prefixlen: int, flags: int = 0, **nlas: Any) -> Any:
    msg = ifaddrmsg()
    msg["family"] = family
    msg["prefixlen"] = prefixlen
    msg["flags"] = flags & 0xFF
    msg["scope"] = 0
    msg["index"] = index
    msg["attrs"] = [["IFA_ADDRESS", address], *([k, v] for k, v in nlas.items())]
    return msg


def error_msg(seq: int, code: int) -> bytes:
    body = struct.pack("=i", -code) + struct.pack("=IHHII", 16, RTM_GETLINK, 0, seq, 0)
    return struct.pack("=IHHII", 16 + len(body), NLMSG_ERROR, 0, seq, 0) + body


def done_msg(seq: int) -> bytes:
    return struct.pack("=IHHIIi", 20, NLMSG_DONE, NLM_F_MULTI, seq, 0, 0)


# --- decoding -------------------------------------------------------------------------------------


def test_link_message_decodes_to_pyroute2s_names() -> None:
    data = _encode(link_msg(7, "eth0", 0x11043), RTM_NEWLINK, seq=9)
    (msg,) = decode(data)
    assert msg["header"]["type"] == RTM_NEWLINK
    assert msg["header"]["sequence_number"] == 9
    assert (msg["index"], msg["flags"]) == (7, 0x11043)
    assert msg.get("IFLA_IFNAME") == "eth0"
    assert msg.get("IFLA_ADDRESS") == "02:00:5e:00:01:07"
    assert msg.get("IFLA_OPERSTATE") is None  # not decoded: kernel.netlink does not read it


@pytest.mark.parametrize(
    ("family", "address", "prefixlen"),
    [
        (socket.AF_INET, "192.0.2.10", 24),
        (socket.AF_INET6, "fe80::1", 64),
        (socket.AF_INET6, "2001:db8::7", 128),
    ],
)
def test_address_message_decodes_as_pyroute2_does(family: int, address: str, prefixlen: int) -> None:
    ours_and_theirs = addr_msg(3, family, address, prefixlen, IFA_LOCAL=address, IFA_FLAGS=0x281)
    data = _encode(ours_and_theirs, RTM_DELADDR)
    (msg,) = decode(data)
    theirs = ifaddrmsg(data)
    theirs.decode()
    for field in ("family", "prefixlen", "flags", "scope", "index"):
        assert msg[field] == theirs[field], field
    for nla in ("IFA_ADDRESS", "IFA_LOCAL", "IFA_FLAGS"):
        assert msg.get(nla) == theirs.get(nla), nla
    assert msg["header"]["type"] == RTM_DELADDR


def test_several_messages_in_one_datagram_and_a_truncated_tail() -> None:
    first = _encode(addr_msg(2, socket.AF_INET, "192.0.2.1", 24), RTM_NEWADDR)
    second = _encode(addr_msg(2, socket.AF_INET, "192.0.2.2", 24), RTM_NEWADDR)
    msgs = decode(first + second + second[:20])
    assert [m.get("IFA_ADDRESS") for m in msgs] == ["192.0.2.1", "192.0.2.2"]


def test_error_message_carries_a_positive_errno_and_ack_zero() -> None:
    (refused,) = decode(error_msg(5, errno.ENODEV))
    (acked,) = decode(error_msg(6, 0))
    assert refused["header"]["error"] == errno.ENODEV
    assert acked["header"]["error"] == 0


# --- requests -------------------------------------------------------------------------------------


def test_get_link_request_parses_in_pyroute2() -> None:
    data = encode_get_link(77, ifname="eth0")
    msg = ifinfmsg(data)
    msg.decode()
    assert len(data) % 4 == 0
    assert (msg["header"]["type"], msg["header"]["flags"]) == (RTM_GETLINK, NLM_F_REQUEST)
    assert msg["header"]["sequence_number"] == 77
    assert msg.get("IFLA_IFNAME") == "eth0"
    assert msg["index"] == 0
    by_index = ifinfmsg(encode_get_link(78, index=12))
    by_index.decode()
    assert by_index["index"] == 12 and by_index.get("IFLA_IFNAME") is None


def test_dump_addr_request_parses_in_pyroute2() -> None:
    msg = ifaddrmsg(encode_dump_addr(3, socket.AF_INET6, 4))
    msg.decode()
    assert (msg["header"]["type"], msg["header"]["flags"]) == (RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP)
    assert (msg["family"], msg["index"], msg["prefixlen"]) == (socket.AF_INET6, 4, 0)


class ScriptedSocket:
    """Stands in for rtnl._Socket: records what is sent, answers from a script (one datagram per recv)."""

    def __init__(self, answer: Any) -> None:
        self.sent: list[bytes] = []
        self.answer = answer  # (seq) -> list of datagrams
        self.pending: list[bytes] = []
        self.socket = self

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        seq = nlmsg(data)
        seq.decode()
        self.pending += self.answer(seq["header"]["sequence_number"])
        return len(data)

    async def recv(self) -> bytes:
        return self.pending.pop(0) if self.pending else b""

    def close(self) -> None:
        self.pending.clear()


def _scripted(answer: Any) -> tuple[LazyIPRoute, ScriptedSocket]:
    ipr = LazyIPRoute()
    sock = ScriptedSocket(answer)
    ipr._sock = sock  # type: ignore[assignment]
    return ipr, sock


def test_link_get_returns_the_one_message_and_enodev_is_a_netlink_error() -> None:
    def answer(seq: int) -> list[bytes]:
        stale = _encode(link_msg(1, "lo", 0x49), RTM_NEWLINK, seq=seq - 1)  # a reply nobody waits for
        if seq == 2:
            return [error_msg(seq, errno.ENODEV)]
        return [stale + _encode(link_msg(7, "eth0", 0x11043), RTM_NEWLINK, seq=seq)]

    async def scenario() -> tuple[list[Any], int]:
        ipr, _sock = _scripted(answer)
        found = await ipr.link("get", ifname="eth0")
        with pytest.raises(NetlinkError) as missing:
            await ipr.link("get", ifname="nope0")
        return found, missing.value.code

    (found, code) = asyncio.run(scenario())
    assert [m["index"] for m in found] == [7]
    assert code == errno.ENODEV


def test_addr_dump_collects_every_part_up_to_done_and_keeps_the_index_asked() -> None:
    def answer(seq: int) -> list[bytes]:
        flags = NLM_F_MULTI
        part1 = _encode(addr_msg(4, socket.AF_INET, "192.0.2.1", 24), RTM_NEWADDR, seq, flags)
        other = _encode(addr_msg(5, socket.AF_INET, "198.51.100.1", 24), RTM_NEWADDR, seq, flags)
        part2 = _encode(addr_msg(4, socket.AF_INET, "192.0.2.100", 32, 0x80), RTM_NEWADDR, seq, flags)
        return [part1 + other, part2 + done_msg(seq)]

    async def scenario() -> list[Any]:
        ipr, sock = _scripted(answer)
        got = [m async for m in await ipr.addr("dump", family=socket.AF_INET, index=4)]
        assert len(sock.sent) == 1
        return got

    got = asyncio.run(scenario())
    assert [(m["index"], m.get("IFA_ADDRESS"), m["prefixlen"]) for m in got] == [
        (4, "192.0.2.1", 24),
        (4, "192.0.2.100", 32),
    ]


class FakePyroute2:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.closed = False

    def __getattr__(self, method: str) -> Any:
        async def call(command: str, **kwargs: Any) -> Any:
            self.calls.append((method, command, kwargs))
            if kwargs.get("fail"):
                raise Pyroute2Error(errno.EEXIST)
            return ["done"]

        return call

    def close(self) -> None:
        self.closed = True


def test_other_requests_go_to_pyroute2_made_on_first_use_and_its_errors_are_translated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[FakePyroute2] = []

    def factory() -> FakePyroute2:
        made.append(FakePyroute2())
        return made[-1]

    monkeypatch.setattr(rtnl, "pyroute2_iproute", factory)

    async def scenario() -> int:
        ipr = LazyIPRoute()
        assert made == []  # nothing loaded for a socket that only reads
        assert await ipr.addr("add", index=3, address="192.0.2.9", prefixlen=32, label="eth0:v") == ["done"]
        assert await ipr.route("del", dst="198.51.100.0", dst_len=24) == ["done"]
        assert await ipr.link("set", index=3, state="up") == ["done"]
        with pytest.raises(NetlinkError) as refused:
            await ipr.rule("add", fail=True)
        ipr.close()
        return refused.value.code

    assert asyncio.run(scenario()) == errno.EEXIST
    assert len(made) == 1 and made[0].closed
    assert [(m, c) for m, c, _ in made[0].calls] == [
        ("addr", "add"),
        ("route", "del"),
        ("link", "set"),
        ("rule", "add"),
    ]


def test_close_ends_a_pending_read_with_nothing() -> None:
    async def scenario() -> list[Any]:
        ipr = LazyIPRoute()
        await ipr.bind(groups=0)  # no group: nothing arrives unless asked
        reader = asyncio.ensure_future(_collect(ipr))
        await asyncio.sleep(0)  # the reader is now waiting on the socket
        ipr.close()
        return await asyncio.wait_for(reader, 5.0)

    assert asyncio.run(scenario()) == []


async def _collect(ipr: LazyIPRoute) -> list[Any]:
    return [m async for m in ipr.get()]
