"""rtnetlink adapter: interface facts, VIP add/remove, virtual routes and rules, and link/address events.

Owns: the two `kernel.rtnl.LazyIPRoute` sockets (pyroute2's `AsyncIPRoute` interface; pyroute2 itself is
imported only for macvlans, routes, rules and labelled addresses): one for requests, one subscribed to
RTNLGRP_LINK | RTNLGRP_IPV4_IFADDR | RTNLGRP_IPV6_IFADDR; and the translation of netlink messages into
small typed values;
plus one raw NETLINK_ROUTE socket for bulk VIP changes (`add_addresses` / `remove_addresses`), which
packs RTM_NEWADDR / RTM_DELADDR itself: pyroute2 builds each message in Python, too slow for hundreds of
VIPs (docs/benchmarks.md, "Bulk VIPs").

Must not: use the synchronous `IPRoute` (it would block the event loop), decide what an event means
for a virtual router (the daemon maps LinkChanged(up=False) to FAULT, AddressRemoved of a VIP to a
re-add or a log line), or cache anything beyond the last link state seen (to suppress repeats).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from types import TracebackType
from typing import Any, Final, Literal, TypeVar

from vrrpd import logs
from vrrpd.config import RouteConfig, RuleConfig
from vrrpd.kernel.rtnl import (
    IFA_F_NODAD,
    NO_OPTIONS,
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_LINK,
    SCOPES,
    AddrOptions,
    LazyIPRoute,
    NetlinkError,
    address6_of,
    address_flags,
    address_of,
    decode_acks,
    encode_addr_request,
    is_secondary,
    link_usable,
)

log = logs.get_logger("vrrpd.kernel.netlink")

# <linux/rtnetlink.h>, <linux/if.h>, <linux/if_addr.h>
RTM_NEWLINK: Final = 16
RTM_DELLINK: Final = 17
RTM_NEWADDR: Final = 20
RTM_DELADDR: Final = 21
IFA_F_DADFAILED: Final = 0x08
IFA_F_TENTATIVE: Final = 0x40
# <linux/netlink.h>, <linux/if_addr.h>
NLM_F_REQUEST: Final = 0x1
SOL_NETLINK: Final = 270
NETLINK_CAP_ACK: Final = 10

# Requests per datagram: the kernel handles a datagram's messages in order and queues one ACK each
# before sendmsg returns, so a batch's ACKs (~100 kB of socket memory for 128) must fit the receive buffer.
BATCH_SIZE: Final = 128
# How long one batch may wait for its ACKs before the per-address pyroute2 path takes over.
BATCH_TIMEOUT: Final = 2.0

# A broken monitor socket is reopened this many times in a row (no message in between) before
# events() gives up and raises.
_MAX_REOPEN: Final = 3


# An IPv4 or an IPv6 VIP: the batch methods answer in the type they were given.
_Vip = TypeVar("_Vip", bound=IPv4Interface | IPv6Interface)
Address = IPv4Interface | IPv6Interface

# RTPROT_KEEPALIVED: what keepalived marks its virtual routes and rules with. vrrpd uses the same value so
# that `ip route show proto keepalived` and existing tooling keep finding them after a migration.
RTPROT_VRRP: Final = 18
_ROUTE_TYPES: Final = {"unicast": 1, "blackhole": 6, "unreachable": 7, "prohibit": 8}
_RULE_ACTIONS: Final = {"table": 1, "blackhole": 6, "unreachable": 7, "prohibit": 8}  # FR_ACT_*


_MACVLAN_MODE_PRIVATE: Final = 1  # <linux/if_link.h> MACVLAN_MODE_PRIVATE


class InterfaceNotFound(LookupError):
    """No interface by that name or index in this network namespace."""


@dataclass(frozen=True, slots=True)
class LinkInfo:
    ifindex: int
    name: str
    mac: str  # "aa:bb:cc:dd:ee:ff"
    up: bool  # administratively up *and* carrier/operstate usable (IFF_UP and IFF_RUNNING)
    primary: IPv4Address | None  # first non-secondary IPv4 address: the VRRP source (§5.2.1)
    # The IPv6 link-local address: the VRRPv3 source for IPv6 (RFC 5798 §5.1.2.1). Still tentative (DAD
    # under way) counts: the IPv6 socket binds it with IPV6_FREEBIND. One that failed DAD does not.
    link_local: IPv6Address | None = None


@dataclass(frozen=True, slots=True)
class LinkChanged:
    ifindex: int
    name: str
    up: bool
    removed: bool = False  # RTM_DELLINK: the interface is gone (then up is False)


@dataclass(frozen=True, slots=True)
class AddressAdded:
    ifindex: int
    addr: Address


@dataclass(frozen=True, slots=True)
class AddressRemoved:
    ifindex: int
    addr: Address


@dataclass(frozen=True, slots=True)
class EventsLost:
    """The monitor socket failed (e.g. ENOBUFS) and was reopened: events may be missing.

    The caller must log it and re-read what it tracks with link() / addresses().
    """

    reason: str


NetEvent = LinkChanged | AddressAdded | AddressRemoved | EventsLost


class Netlink:
    """Async context manager; one instance per daemon.

    With subscribe=True (the default) the event socket is bound on entry, *before* the caller takes
    its snapshot with link(), so no change between snapshot and events() is lost.
    """

    def __init__(self, subscribe: bool = True) -> None:
        self._subscribe = subscribe
        self._ipr: Any = None
        self._mon: Any = None
        self._link_up: dict[int, bool] = {}
        self._batch: socket.socket | None = None
        self._batch_lock = asyncio.Lock()
        self._seq = 0

    async def __aenter__(self) -> Netlink:
        self._ipr = LazyIPRoute()
        if self._subscribe:
            try:
                self._mon = await self._open_monitor()
            except BaseException:
                self._ipr.close()
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for sock in (self._mon, self._ipr):
            if sock is not None:
                sock.close()
        self._mon = self._ipr = None
        self._close_batch()

    def _close_batch(self) -> None:
        if self._batch is not None:
            self._batch.close()
            self._batch = None

    @staticmethod
    async def _open_monitor() -> Any:
        mon = LazyIPRoute()
        try:
            await mon.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
        except BaseException:
            mon.close()
            raise
        return mon

    def _requests(self) -> Any:
        if self._ipr is None:
            raise RuntimeError("Netlink used outside 'async with'")
        return self._ipr

    async def link(self, ifname: str) -> LinkInfo:
        """Current facts about `ifname`; InterfaceNotFound if it does not exist."""
        ipr = self._requests()
        try:
            (msg,) = await ipr.link("get", ifname=ifname)
        except NetlinkError as e:
            if e.code == errno.ENODEV:
                raise InterfaceNotFound(ifname) from e
            raise
        ifindex = int(msg["index"])
        primary: IPv4Address | None = None
        async for amsg in await ipr.addr("dump", family=socket.AF_INET, index=ifindex):
            if not is_secondary(amsg):
                primary = address_of(amsg).ip
                break
        link_local: IPv6Address | None = None
        async for amsg in await ipr.addr("dump", family=socket.AF_INET6, index=ifindex):
            address = address6_of(amsg).ip
            if address.is_link_local and not address_flags(amsg) & IFA_F_DADFAILED and link_local is None:
                link_local = address
        up = link_usable(msg)
        self._link_up[ifindex] = up
        return LinkInfo(
            ifindex=ifindex,
            name=str(msg.get("IFLA_IFNAME")),
            mac=str(msg.get("IFLA_ADDRESS") or "00:00:00:00:00:00"),
            up=up,
            primary=primary,
            link_local=link_local,
        )

    async def route_device(self, destination: IPv4Address) -> str | None:
        """The interface the kernel routes ``destination`` through (``ip route get``); None if unreachable."""
        ipr = self._requests()
        try:
            reply = await ipr.route("get", dst=str(destination))  # a list, like link("get")
        except NetlinkError as e:
            if e.code in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                return None
            raise
        for msg in reply:
            oif = msg.get("RTA_OIF")
            if oif is not None:
                return socket.if_indextoname(int(oif))
        return None

    async def macvlan(self, name: str, lower: int, mac: str) -> LinkInfo:
        """A private-mode macvlan `name` on the interface `lower` with the address `mac`, up.

        An existing macvlan of that name (a previous run) is reused when it matches and replaced when
        it does not (keepalived does the same); any other interface of that name is a `ValueError`.
        """
        ipr = self._requests()
        try:
            (msg,) = await ipr.link("get", ifname=name)
        except NetlinkError as e:
            if e.code != errno.ENODEV:
                raise
            msg = None
        if msg is not None:
            kind = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
            if kind != "macvlan":
                raise ValueError(f"interface {name} exists and is not a macvlan (it is {kind or 'a device'})")
            mode = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "IFLA_MACVLAN_MODE")
            same = msg.get("IFLA_LINK") == lower and str(msg.get("IFLA_ADDRESS")) == mac
            if not (same and mode in (_MACVLAN_MODE_PRIVATE, "private")):
                await ipr.link("del", index=int(msg["index"]))
                msg = None
        if msg is None:
            await ipr.link(
                "add", ifname=name, kind="macvlan", link=lower, macvlan_mode="private", address=mac
            )
        (msg,) = await ipr.link("get", ifname=name)
        await ipr.link("set", index=int(msg["index"]), state="up")
        return await self.link(name)

    async def delete_link(self, ifindex: int) -> bool:
        """Delete an interface we created; False if it was already gone."""
        try:
            await self._requests().link("del", index=ifindex)
        except NetlinkError as e:
            if e.code == errno.ENODEV:
                return False
            raise
        return True

    async def addresses(self, ifindex: int, primary_only: bool = False) -> list[IPv4Interface]:
        """Every IPv4 address on the interface (only the primary ones if asked), as the kernel lists them.

        A netlink error comes back as OSError (e.g. ENODEV: the interface has just gone).
        """
        ipr = self._requests()
        try:
            return [
                address_of(msg)
                async for msg in await ipr.addr("dump", family=socket.AF_INET, index=ifindex)
                if not (primary_only and is_secondary(msg))
            ]
        except NetlinkError as e:
            raise OSError(e.code, str(e)) from e

    async def addresses6(self, ifindex: int) -> list[IPv6Interface]:
        """Every IPv6 address on the interface (link-local included), as the kernel lists them."""
        ipr = self._requests()
        return [
            address6_of(msg) async for msg in await ipr.addr("dump", family=socket.AF_INET6, index=ifindex)
        ]

    async def add_address(
        self, ifindex: int, addr: Address, label: str | None = None, options: AddrOptions = NO_OPTIONS
    ) -> bool:
        """Add a VIP with its configured prefix; False if exactly that address/prefix was there.

        An IPv6 VIP is added with IFA_F_NODAD (see the constant) and without a label (IPv4 only). An IPv4
        one with `options` (its label, scope and broadcast; `label` is the label alone).

        The kernel makes the first address of a subnet the primary (the default source for that
        subnet) and every later one in the same subnet secondary (IFA_F_SECONDARY). The VIP is added
        after the node's own address, so it becomes secondary and never the VRRP source; keepalived
        does the same. Note: deleting a primary also deletes its secondaries unless
        net.ipv4.conf.<if>.promote_secondaries=1; that shows up here as AddressRemoved events.
        """
        kwargs: dict[str, Any] = {
            "index": ifindex,
            "address": str(addr.ip),
            "prefixlen": addr.network.prefixlen,
        }
        if isinstance(addr, IPv6Interface):
            kwargs["flags"] = IFA_F_NODAD
        else:
            label = options.label if label is None else label
            if label is not None:
                kwargs["label"] = label
            if options.scope is not None:
                kwargs["scope"] = SCOPES[options.scope]
            if options.brd is not None:
                kwargs["broadcast"] = str(options.brd)
        try:
            await self._requests().addr("add", **kwargs)
        except NetlinkError as e:
            if e.code == errno.EEXIST:
                return False
            raise
        return True

    async def remove_address(self, ifindex: int, addr: Address) -> bool:
        """Remove a VIP; False if it was not there (EADDRNOTAVAIL / ENOENT are not errors)."""
        try:
            await self._requests().addr(
                "del", index=ifindex, address=str(addr.ip), prefixlen=addr.network.prefixlen
            )
        except NetlinkError as e:
            if e.code in (errno.EADDRNOTAVAIL, errno.ENOENT):
                return False
            raise
        return True

    async def _ifindex(self, name: str) -> int:
        (msg,) = await self._requests().link("get", ifname=name)
        return int(msg["index"])

    async def route(self, command: Literal["add", "del"], route: RouteConfig) -> int:
        """Add or delete one virtual route; the errno (0 done, EEXIST / ESRCH: already so)."""
        kwargs: dict[str, Any] = {
            "dst": str(route.to.network_address),
            "dst_len": route.to.prefixlen,
            "type": _ROUTE_TYPES[route.type],
            "proto": RTPROT_VRRP,
            "table": route.table or 254,
        }
        if route.via is not None:
            kwargs["gateway"] = str(route.via)
        if route.src is not None:
            kwargs["prefsrc"] = str(route.src)
        if route.metric is not None:
            kwargs["priority"] = route.metric
        if route.scope is not None:
            kwargs["scope"] = SCOPES[route.scope]
        try:
            if route.dev is not None:
                kwargs["oif"] = await self._ifindex(route.dev)
            await self._requests().route(command, **kwargs)
        except NetlinkError as e:
            return int(e.code or errno.EIO)
        return 0

    async def rule(self, command: Literal["add", "del"], rule: RuleConfig) -> int:
        """Add or delete one virtual rule; the errno (0 done, EEXIST / ENOENT: already so)."""
        kwargs: dict[str, Any] = {
            "family": socket.AF_INET,
            "action": _RULE_ACTIONS[rule.type],
            "protocol": RTPROT_VRRP,
        }
        if rule.from_ is not None:
            kwargs |= {"src": str(rule.from_.network_address), "src_len": rule.from_.prefixlen}
        if rule.to is not None:
            kwargs |= {"dst": str(rule.to.network_address), "dst_len": rule.to.prefixlen}
        if rule.table is not None:
            kwargs["table"] = rule.table
        if rule.priority is not None:
            kwargs["priority"] = rule.priority
        if rule.iif is not None:
            kwargs["iifname"] = rule.iif
        if rule.oif is not None:
            kwargs["oifname"] = rule.oif
        if rule.fwmark is not None:
            kwargs["fwmark"] = rule.fwmark
        try:
            await self._requests().rule(command, **kwargs)
        except NetlinkError as e:
            return int(e.code or errno.EIO)
        return 0

    async def add_addresses(
        self, ifindex: int, addrs: Sequence[_Vip], options: Mapping[_Vip, AddrOptions] | None = None
    ) -> dict[_Vip, int]:
        """Add many VIPs (see add_address), each with its `options` if it has any, in batched requests:
        errno per address.

        0 is added, EEXIST was already there (exactly that address/prefix), anything else a failure.
        """
        return await self._bulk(RTM_NEWADDR, ifindex, addrs, options or {})

    async def remove_addresses(self, ifindex: int, addrs: Sequence[_Vip]) -> dict[_Vip, int]:
        """Remove many VIPs in batched requests: errno per address.

        0 is removed, EADDRNOTAVAIL (or ENOENT) was not there, anything else a failure.
        """
        return await self._bulk(RTM_DELADDR, ifindex, addrs, {})

    async def _bulk(
        self, kind: int, ifindex: int, addrs: Sequence[_Vip], options: Mapping[_Vip, AddrOptions]
    ) -> dict[_Vip, int]:
        self._requests()
        todo = list(dict.fromkeys(addrs))
        results: dict[_Vip, int] = {}
        async with self._batch_lock:
            try:
                for start in range(0, len(todo), BATCH_SIZE):
                    batch = todo[start : start + BATCH_SIZE]
                    await self._send_batch(kind, ifindex, batch, results, options)
            except (OSError, TimeoutError) as e:
                # Unanswered requests may still be applied later; the pyroute2 path is idempotent.
                self._close_batch()
                rest = [a for a in todo if a not in results]
                log.warning("netlink_batch_failed", error=str(e) or type(e).__name__, fallback=len(rest))
                codes = await asyncio.gather(*(self._one(kind, ifindex, a, options.get(a)) for a in rest))
                results.update(zip(rest, codes, strict=True))
        return results

    async def _one(self, kind: int, ifindex: int, addr: Address, options: AddrOptions | None = None) -> int:
        """The per-address pyroute2 path, as an errno."""
        try:
            if kind == RTM_NEWADDR:
                added = await (
                    self.add_address(ifindex, addr)
                    if options is None
                    else self.add_address(ifindex, addr, options=options)
                )
                return 0 if added else errno.EEXIST
            return 0 if await self.remove_address(ifindex, addr) else errno.EADDRNOTAVAIL
        except NetlinkError as e:
            return int(e.code or errno.EIO)
        except OSError as e:
            return e.errno or errno.EIO

    def _batch_socket(self) -> socket.socket:
        if self._batch is None:
            sock = socket.socket(
                socket.AF_NETLINK,
                socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                socket.NETLINK_ROUTE,
            )
            try:
                sock.bind((0, 0))
                with contextlib.suppress(OSError):  # ACKs without a copy of the request: smaller
                    sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            except BaseException:
                sock.close()
                raise
            self._batch = sock
        return self._batch

    async def _send_batch(
        self,
        kind: int,
        ifindex: int,
        addrs: list[_Vip],
        results: dict[_Vip, int],
        options: Mapping[_Vip, AddrOptions],
    ) -> None:
        sock = self._batch_socket()
        loop = asyncio.get_running_loop()
        pending: dict[int, _Vip] = {}
        chunks: list[bytes] = []
        for addr in addrs:
            self._seq = self._seq % 0xFFFFFFFF + 1
            pending[self._seq] = addr
            chunks.append(encode_addr_request(kind, self._seq, ifindex, addr, options.get(addr, NO_OPTIONS)))
        async with asyncio.timeout(BATCH_TIMEOUT):
            await loop.sock_sendall(sock, b"".join(chunks))
            while pending:
                try:
                    data = sock.recv(65536)  # the ACKs are usually queued already: no loop round trip
                except BlockingIOError:
                    data = await loop.sock_recv(sock, 65536)
                for seq, code in decode_acks(data):
                    addr_done = pending.pop(seq, None)
                    if addr_done is not None:
                        results[addr_done] = code

    async def events(self) -> AsyncGenerator[NetEvent, None]:
        """Link and address (IPv4 and IPv6) changes, forever. LinkChanged only when `up` actually changes.

        Needs subscribe=True. Only one consumer at a time.
        """
        if self._mon is None:
            raise RuntimeError("Netlink(subscribe=True) inside 'async with' is needed for events()")
        failures = 0
        while self._mon is not None:
            got = False
            try:
                async for msg in self._mon.get():
                    got, failures = True, 0
                    event = self._decode(msg)
                    if event is not None:
                        yield event
            except (OSError, NetlinkError) as e:
                # ENOBUFS: the kernel dropped notifications; pyroute2's socket is unusable after it.
                failures += 1
                if failures > _MAX_REOPEN:
                    raise
                code = e.code if isinstance(e, NetlinkError) else e.errno
                reason = errno.errorcode.get(code or 0, str(e))
                self._mon.close()
                self._mon = await self._open_monitor()
                yield EventsLost(reason=reason)
                continue
            if not got:
                return  # pyroute2 hands out an empty batch once the socket is closed

    def _decode(self, msg: Any) -> NetEvent | None:
        kind = msg["header"]["type"]
        if kind in (RTM_NEWLINK, RTM_DELLINK):
            ifindex = int(msg["index"])
            removed = kind == RTM_DELLINK
            up = not removed and link_usable(msg)
            if removed:
                self._link_up.pop(ifindex, None)
            elif self._link_up.get(ifindex) == up:
                return None  # MTU, stats, promiscuity... not a state change
            else:
                self._link_up[ifindex] = up
            return LinkChanged(ifindex, str(msg.get("IFLA_IFNAME")), up, removed)
        if kind in (RTM_NEWADDR, RTM_DELADDR) and msg["family"] in (socket.AF_INET, socket.AF_INET6):
            cls = AddressAdded if kind == RTM_NEWADDR else AddressRemoved
            addr: Address = address_of(msg) if msg["family"] == socket.AF_INET else address6_of(msg)
            return cls(int(msg["index"]), addr)
        return None
