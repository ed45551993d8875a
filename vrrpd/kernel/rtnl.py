"""A small rtnetlink client in the standard library, with pyroute2 loaded only for what it does not speak.

`kernel.netlink` asks the kernel for an interface (RTM_GETLINK by name or index), its addresses
(RTM_GETADDR dumps) and follows link and address events; that is all a daemon does before its first
advert and in its steady state. Importing pyroute2 for it costs ~70 ms of start-up and ~11 MiB resident
(its package imports every family it supports), so `LazyIPRoute` answers those requests itself, over a
plain NETLINK_ROUTE socket, in pyroute2's shapes (``await link("get", ifname=…)`` → ``[msg]``,
``await addr("dump", family=…, index=…)`` → an async iterator, messages as mappings with pyroute2's
field and NLA names), and hands everything else — creating macvlans, routes, rules, labelled addresses —
to a pyroute2 `AsyncIPRoute` made on first use. Either way a refusal is `NetlinkError` (``.code`` is the
errno), this module's own: pyroute2's is translated.

Must not: keep state beyond its sockets, decide what a message means (that is `kernel.netlink`'s).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Interface
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # imported where used: `vrrpd.runtime.prestart` talks to the kernel before asyncio is
    import asyncio  # imported (issue 17), with `request`

# <linux/rtnetlink.h> multicast groups (the legacy bit masks bind() takes)
RTMGRP_LINK: Final = 0x1
RTMGRP_IPV4_IFADDR: Final = 0x10
RTMGRP_IPV6_IFADDR: Final = 0x100
# <linux/netlink.h>, <linux/rtnetlink.h>
NLMSG_NOOP: Final = 1
NLMSG_ERROR: Final = 2
NLMSG_DONE: Final = 3
NLM_F_REQUEST: Final = 0x1
NLM_F_MULTI: Final = 0x2
NLM_F_DUMP: Final = 0x300  # NLM_F_ROOT | NLM_F_MATCH
RTM_NEWLINK: Final = 16
RTM_DELLINK: Final = 17
RTM_GETLINK: Final = 18
RTM_NEWADDR: Final = 20
RTM_DELADDR: Final = 21
RTM_GETADDR: Final = 22
SOL_NETLINK: Final = 270
NETLINK_GET_STRICT_CHK: Final = 12  # the kernel filters a dump by the header's fields (Linux 4.20)
NETLINK_CAP_ACK: Final = 10
NLM_F_ACK: Final = 0x4
NLM_F_EXCL: Final = 0x200
NLM_F_CREATE: Final = 0x400
IFA_ADDRESS: Final = 1
IFA_LOCAL: Final = 2
IFA_LABEL: Final = 3
IFA_BROADCAST: Final = 4
IFA_FLAGS: Final = 8
# IPv6 VIPs skip duplicate address detection, as keepalived adds them: usable at once (a tentative address
# cannot be a source), and a VIP that moves between nodes must not end "dadfailed" after a brief overlap.
IFA_F_NODAD: Final = 0x02
IFA_F_SECONDARY: Final = 0x01
IFF_UP: Final = 0x1
IFF_RUNNING: Final = 0x40
SCOPES: Final = {"global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}  # ifa_scope, rtm_scope

_NLMSGHDR: Final = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFOMSG: Final = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG: Final = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_NLATTR: Final = struct.Struct("=HH")  # len, type
_ERRNO: Final = struct.Struct("=i")
_RTA_IN_ADDR: Final = struct.Struct("=HH4s")  # rta_len, rta_type, an IPv4 address
_RTA_IN6_ADDR: Final = struct.Struct("=HH16s")  # rta_len, rta_type, an IPv6 address
_RTA_U32: Final = struct.Struct("=HHI")  # rta_len, rta_type, a 32-bit value
_RTA_HEADER: Final = struct.Struct("=HH")  # rta_len, rta_type (a variable-length payload follows)
_U32: Final = struct.Struct("=I")
# NLA types decoded, by pyroute2's names (<linux/if_link.h>, <linux/if_addr.h>); others are skipped.
_IFLA: Final = {1: "IFLA_ADDRESS", 3: "IFLA_IFNAME"}
_IFA: Final = {1: "IFA_ADDRESS", 2: "IFA_LOCAL", 3: "IFA_LABEL", 8: "IFA_FLAGS"}
_IFLA_IFNAME: Final = 3
# A datagram holds whole messages: a dump part is at most 32 KiB, a link message a few KiB.
RECV_SIZE: Final = 65536
# The event socket's buffer, as pyroute2 sets it: a burst of address events (hundreds of VIPs at once)
# must fit, and an overflow is reported (ENOBUFS) rather than silent.
MONITOR_RCVBUF: Final = 1 << 20


class NetlinkError(Exception):
    """The kernel refused a request: ``code`` is the errno (pyroute2's NetlinkError, translated)."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(code, message or os.strerror(code))
        self.code = code


def _nlas(data: bytes, offset: int, end: int, names: dict[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    while offset + _NLATTR.size <= end:
        length, kind = _NLATTR.unpack_from(data, offset)
        if length < _NLATTR.size or offset + length > end:
            break
        name = names.get(kind & 0x3FFF)  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
        if name is not None:
            out[name] = data[offset + _NLATTR.size : offset + length]
        offset += (length + 3) & ~3
    return out


def _link(data: bytes, offset: int, end: int) -> dict[str, Any]:
    family, link_type, index, flags, change = _IFINFOMSG.unpack_from(data, offset)
    msg: dict[str, Any] = {"family": family, "ifi_type": link_type, "index": index, "flags": flags}
    msg["change"] = change
    for name, raw in _nlas(data, offset + _IFINFOMSG.size, end, _IFLA).items():
        if name == "IFLA_IFNAME":
            msg[name] = raw.split(b"\0", 1)[0].decode(errors="replace")
        else:
            msg[name] = ":".join(f"{b:02x}" for b in raw)
    return msg


def _addr(data: bytes, offset: int, end: int) -> dict[str, Any]:
    family, prefixlen, flags, scope, index = _IFADDRMSG.unpack_from(data, offset)
    msg: dict[str, Any] = {"family": family, "prefixlen": prefixlen, "flags": flags, "scope": scope}
    msg["index"] = index
    for name, raw in _nlas(data, offset + _IFADDRMSG.size, end, _IFA).items():
        if name in ("IFA_ADDRESS", "IFA_LOCAL") and family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(ValueError):  # a length that does not match the family
                msg[name] = socket.inet_ntop(family, raw)
        elif name == "IFA_LABEL":
            msg[name] = raw.split(b"\0", 1)[0].decode(errors="replace")
        elif name == "IFA_FLAGS" and len(raw) == _U32.size:
            msg[name] = _U32.unpack(raw)[0]
    return msg


_DECODERS: Final = {
    RTM_NEWLINK: (_IFINFOMSG.size, _link),
    RTM_DELLINK: (_IFINFOMSG.size, _link),
    RTM_NEWADDR: (_IFADDRMSG.size, _addr),
    RTM_DELADDR: (_IFADDRMSG.size, _addr),
}


def decode(data: bytes) -> list[dict[str, Any]]:
    """Every message of a datagram as a mapping in pyroute2's names: the fixed header's fields
    (``index``, ``flags``, ``family``, ``prefixlen``…), the NLAs decoded (``IFLA_IFNAME``,
    ``IFLA_ADDRESS`` as "aa:bb:…", ``IFA_LOCAL`` as text…) and ``header`` (``type``, ``flags``,
    ``sequence_number``; ``error`` for NLMSG_ERROR, whose errno is positive, 0 for an ACK).

    Link and address messages are decoded; others carry only their header. Stops at a truncated message.
    """
    out: list[dict[str, Any]] = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, flags, seq, pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            break
        body = offset + _NLMSGHDR.size
        end = offset + length
        header = {"length": length, "type": kind, "flags": flags, "sequence_number": seq, "pid": pid}
        msg: dict[str, Any] = {}
        decoder = _DECODERS.get(kind)
        if decoder is not None and end - body >= decoder[0]:
            msg = decoder[1](data, body, end)
        elif kind == NLMSG_ERROR and end - body >= _ERRNO.size:
            header["error"] = -_ERRNO.unpack_from(data, body)[0]
        msg["header"] = header
        out.append(msg)
        offset += (length + 3) & ~3
    return out


# Reading decoded messages (`decode`'s and pyroute2's shapes alike): shared by `vrrpd.kernel.netlink` and the
# blocking start of `vrrpd.runtime.prestart`, so both judge a link and an address the same way.


def link_usable(msg: Any) -> bool:
    """An RTM_NEWLINK message's link is usable: administratively up and running. IFF_RUNNING mirrors
    operstate UP (or UNKNOWN for drivers without carrier, e.g. dummy), so a veth whose peer went down, or
    an unplugged NIC, is not usable. keepalived: IF_ISUP()."""
    flags = int(msg["flags"])
    return bool(flags & IFF_UP) and bool(flags & IFF_RUNNING)


def address_of(msg: Any) -> IPv4Interface:
    """An IPv4 RTM_NEWADDR message's address: IFA_LOCAL is the interface's own address; IFA_ADDRESS differs
    from it only on point-to-point links."""
    local = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")
    return IPv4Interface(f"{local}/{msg['prefixlen']}")


def address6_of(msg: Any) -> IPv6Interface:
    """An IPv6 RTM_NEWADDR message's address: IFA_ADDRESS; IFA_LOCAL appears only with a point-to-point
    peer."""
    local = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")
    return IPv6Interface(f"{local}/{msg['prefixlen']}")


def address_flags(msg: Any) -> int:
    """An RTM_NEWADDR message's flags: IFA_FLAGS (32 bits) supersedes ifa_flags (8 bits) when sent."""
    flags = msg.get("IFA_FLAGS")
    return int(flags if flags is not None else msg["flags"])


def is_secondary(msg: Any) -> bool:
    """The address is secondary: a later one in a subnet the interface already has an address in."""
    return bool(address_flags(msg) & IFA_F_SECONDARY)


def encode_get_link(seq: int, *, ifname: str | None = None, index: int = 0) -> bytes:
    """RTM_GETLINK for one interface, by name (IFLA_IFNAME) or by index, as `ip link show dev` asks."""
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0)
    if ifname is not None:
        name = ifname.encode() + b"\0"
        nla = _NLATTR.pack(_NLATTR.size + len(name), _IFLA_IFNAME) + name
        body += nla + b"\0" * (-len(nla) % 4)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST, seq, 0) + body


def encode_dump_addr(seq: int, family: int, index: int = 0) -> bytes:
    """RTM_GETADDR dump of one family; with strict checking the kernel keeps only ``index``'s."""
    body = _IFADDRMSG.pack(family, 0, 0, 0, index)
    flags = NLM_F_REQUEST | NLM_F_DUMP
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETADDR, flags, seq, 0) + body


@dataclass(frozen=True, slots=True)
class AddrOptions:
    """keepalived's per-VIP options that go into RTM_NEWADDR: the label (IFA_LABEL, IPv4), the scope
    (ifa_scope, a name of `SCOPES`) and the broadcast address (IFA_BROADCAST, IPv4)."""

    label: str | None = None
    scope: str | None = None
    brd: IPv4Address | None = None


NO_OPTIONS: Final = AddrOptions()


def encode_addr_request(
    kind: int, seq: int, ifindex: int, addr: IPv4Interface | IPv6Interface, options: AddrOptions = NO_OPTIONS
) -> bytes:
    """One RTM_NEWADDR / RTM_DELADDR request, as `ip addr add|del ADDR/LEN dev IF` sends it.

    IPv4: IFA_LOCAL and IFA_ADDRESS both carry the address (what iproute2 and pyroute2 send; no
    IFA_BROADCAST unless asked with `brd`, so neither do we). IPv6: IFA_LOCAL only (as keepalived), and a
    new address carries IFA_F_NODAD, in IFA_FLAGS and in ifa_flags. NEWADDR is CREATE|EXCL: an existing
    address is EEXIST. A new address carries its `options` as keepalived's netlink_ipaddress does:
    ifa_scope, IFA_BROADCAST and IFA_LABEL (NUL-terminated); a removal needs none of them (the kernel
    finds the address by IFA_LOCAL and prefix).
    """
    flags = NLM_F_REQUEST | NLM_F_ACK
    if kind == RTM_NEWADDR:
        flags |= NLM_F_CREATE | NLM_F_EXCL
    ip = addr.ip.packed
    prefixlen = addr.network.prefixlen
    if isinstance(addr, IPv6Interface):
        nodad = IFA_F_NODAD if kind == RTM_NEWADDR else 0
        body = _IFADDRMSG.pack(socket.AF_INET6, prefixlen, nodad, 0, ifindex) + _RTA_IN6_ADDR.pack(
            _RTA_IN6_ADDR.size, IFA_LOCAL, ip
        )
        if nodad:
            body += _RTA_U32.pack(_RTA_U32.size, IFA_FLAGS, nodad)
    else:
        new = kind == RTM_NEWADDR
        scope = SCOPES[options.scope] if new and options.scope is not None else 0
        body = (
            _IFADDRMSG.pack(socket.AF_INET, prefixlen, 0, scope, ifindex)
            + _RTA_IN_ADDR.pack(_RTA_IN_ADDR.size, IFA_LOCAL, ip)
            + _RTA_IN_ADDR.pack(_RTA_IN_ADDR.size, IFA_ADDRESS, ip)
        )
        if new and options.brd is not None:
            body += _RTA_IN_ADDR.pack(_RTA_IN_ADDR.size, IFA_BROADCAST, options.brd.packed)
        if new and options.label is not None:
            label = options.label.encode() + b"\0"
            size = _RTA_HEADER.size + len(label)
            body += _RTA_HEADER.pack(size, IFA_LABEL) + label + b"\0" * (-size % 4)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags, seq, 0) + body


def decode_acks(data: bytes) -> list[tuple[int, int]]:
    """(sequence number, errno) of every NLMSG_ERROR message in a datagram; errno 0 is an ACK."""
    acks: list[tuple[int, int]] = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            break  # truncated or garbage: nothing after it can be trusted
        if kind == NLMSG_ERROR and length >= _NLMSGHDR.size + _ERRNO.size:
            (error,) = _ERRNO.unpack_from(data, offset + _NLMSGHDR.size)
            acks.append((seq, -error))
        offset += (length + 3) & ~3
    return acks


def request(sock: socket.socket, data: bytes, seqs: int = 1, timeout: float = 1.0) -> list[dict[str, Any]]:
    """Send `data` (`seqs` requests) on a blocking netlink socket and read until each is answered: the
    replies, as `decode` gives them. For `vrrpd.runtime.prestart`, which runs before any event loop exists.
    Raises OSError (TimeoutError after `timeout` without a reply)."""
    sock.settimeout(timeout)
    sock.sendall(data)
    out: list[dict[str, Any]] = []
    while seqs:
        for msg in decode(sock.recv(RECV_SIZE)):
            out.append(msg)
            header = msg["header"]
            # A dump's parts are NLM_F_MULTI up to its NLMSG_DONE; an ACK or error is NLMSG_ERROR; any
            # other single message (RTM_GETLINK's RTM_NEWLINK) is the whole reply.
            if header["type"] in (NLMSG_DONE, NLMSG_ERROR) or not header["flags"] & NLM_F_MULTI:
                seqs -= 1
    return out


class _Socket:
    """A non-blocking NETLINK_ROUTE socket read through the event loop; `close()` ends a pending read."""

    def __init__(self, groups: int = 0) -> None:
        sock = socket.socket(
            socket.AF_NETLINK,
            socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
            socket.NETLINK_ROUTE,
        )
        try:
            if groups:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, MONITOR_RCVBUF)
            else:
                with contextlib.suppress(OSError):  # older kernels: dumps filtered here instead
                    sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
            sock.bind((0, groups))
        except BaseException:
            sock.close()
            raise
        self.socket = sock
        self._waiter: asyncio.Future[None] | None = None

    @property
    def closed(self) -> bool:
        return self.socket.fileno() < 0

    async def recv(self) -> bytes:
        """The next datagram; b"" once closed. OSError as the kernel reports it (ENOBUFS: events lost)."""
        while not self.closed:
            try:
                return self.socket.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                pass
            import asyncio  # noqa: PLC0415 - see the top

            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            fd = self.socket.fileno()
            loop.add_reader(fd, _wake, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if not self.closed:
                    loop.remove_reader(fd)
        return b""

    def close(self) -> None:
        if self.closed:
            return
        waiter = self._waiter
        if waiter is not None:
            import asyncio  # noqa: PLC0415 - see the top

            with contextlib.suppress(RuntimeError):  # no loop any more: nothing is waiting
                asyncio.get_running_loop().remove_reader(self.socket.fileno())
            _wake(waiter)
        self.socket.close()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _aiter(items: Iterable[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for item in items:
        yield item


class LazyIPRoute:
    """pyroute2's `AsyncIPRoute` for what `kernel.netlink` asks: interfaces and address dumps and, once
    `bind` subscribed it to groups, their events (`get`), over its own socket; anything else through a
    pyroute2 `AsyncIPRoute` made on first use (the import is then paid once, by the first such call)."""

    def __init__(self) -> None:
        import asyncio  # noqa: PLC0415 - see the top

        self._sock: _Socket | None = None
        self._lock = asyncio.Lock()  # one request in flight on the socket: replies are read in order
        self._seq = 0
        self._pyroute2: Any = None

    @property
    def socket(self) -> socket.socket:
        """The native socket (opened on first use)."""
        return self._native().socket

    def _native(self) -> _Socket:
        if self._sock is None:
            self._sock = _Socket()
        return self._sock

    async def bind(self, groups: int) -> None:
        """Subscribe to the multicast groups (RTMGRP_* bits): `get()` then returns their messages."""
        if self._sock is not None:
            raise RuntimeError("bind() must come before any request")
        self._sock = _Socket(groups)

    async def get(self) -> AsyncIterator[dict[str, Any]]:
        """The messages of the next datagram on a bound socket; nothing once the socket is closed."""
        for msg in decode(await self._native().recv()):
            yield msg

    async def link(self, command: str, **kwargs: Any) -> Any:
        """``link("get", ifname=…)`` or ``(…, index=…)`` here: ``[msg]``, NetlinkError(ENODEV) if there
        is none; other commands through pyroute2."""
        if command == "get" and len(kwargs) == 1 and ("ifname" in kwargs or "index" in kwargs):
            seq = self._next_seq()
            request = encode_get_link(seq, ifname=kwargs.get("ifname"), index=kwargs.get("index", 0))
            return await self._request(request, seq, dump=False)
        return await self._forward("link", command, **kwargs)

    async def addr(self, command: str, **kwargs: Any) -> Any:
        """``addr("dump", family=…, index=…)`` here: an async iterator of the interface's addresses of that
        family; other commands through pyroute2."""
        family = kwargs.get("family", socket.AF_UNSPEC)
        index = kwargs.get("index", 0)
        if command == "dump" and set(kwargs) <= {"family", "index"}:
            seq = self._next_seq()
            found = await self._request(encode_dump_addr(seq, family, index), seq, dump=True)
            return _aiter(m for m in found if not index or m.get("index") == index)
        return await self._forward("addr", command, **kwargs)

    async def route(self, command: str, **kwargs: Any) -> Any:
        return await self._forward("route", command, **kwargs)

    async def rule(self, command: str, **kwargs: Any) -> Any:
        return await self._forward("rule", command, **kwargs)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        if self._pyroute2 is not None:
            self._pyroute2.close()
            self._pyroute2 = None

    def _next_seq(self) -> int:
        self._seq = self._seq % 0xFFFFFFFF + 1
        return self._seq

    async def _request(self, request: bytes, seq: int, *, dump: bool) -> list[dict[str, Any]]:
        """Send one request and collect its reply: every message up to NLMSG_DONE for a dump, else the
        first. Messages of other sequence numbers (a reply to a request that was abandoned) are skipped."""
        async with self._lock:
            sock = self._native()
            sock.socket.send(request)
            found: list[dict[str, Any]] = []
            while True:
                data = await sock.recv()
                if not data:
                    raise NetlinkError(errno.EBADF, "netlink socket closed")
                for msg in decode(data):
                    header = msg["header"]
                    if header["sequence_number"] != seq or header["type"] == NLMSG_NOOP:
                        continue
                    if header["type"] == NLMSG_ERROR:
                        if header.get("error"):
                            raise NetlinkError(header["error"])
                        return found  # an ACK
                    if header["type"] == NLMSG_DONE:
                        return found
                    found.append(msg)
                    if not dump:
                        return found

    async def _forward(self, method: str, command: str, **kwargs: Any) -> Any:
        if self._pyroute2 is None:
            self._pyroute2 = pyroute2_iproute()
        try:
            return await getattr(self._pyroute2, method)(command, **kwargs)
        except Exception as exc:
            code = _pyroute2_error(exc)
            if code is None:
                raise
            raise NetlinkError(code, str(exc)) from exc


def pyroute2_iproute() -> Any:
    """A new pyroute2 `AsyncIPRoute` (importing pyroute2 on the first call)."""
    from pyroute2 import AsyncIPRoute  # noqa: PLC0415 - ~70 ms and ~11 MiB: only when needed

    return AsyncIPRoute()


def _pyroute2_error(exc: Exception) -> int | None:
    """The errno of a pyroute2 NetlinkError, else None."""
    from pyroute2.netlink.exceptions import NetlinkError as Pyroute2Error  # noqa: PLC0415 - loaded already

    return int(exc.code or errno.EIO) if isinstance(exc, Pyroute2Error) else None
