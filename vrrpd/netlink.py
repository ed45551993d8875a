"""rtnetlink adapter: interface facts, VIP add/remove, and link/address events, via AsyncIPRoute.

Owns: the two pyroute2 `AsyncIPRoute` sockets (one for requests, one subscribed to
RTNLGRP_LINK | RTNLGRP_IPV4_IFADDR) and the translation of netlink messages into small typed values.

Must not: use the synchronous `IPRoute` (it would block the event loop), decide what an event means
for a virtual router (the daemon maps LinkChanged(up=False) to FAULT, AddressRemoved of a VIP to a
re-add or a log line), or cache anything beyond the last link state seen (to suppress repeats).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from types import TracebackType
from typing import Any, Final

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_LINK

# <linux/rtnetlink.h>, <linux/if.h>, <linux/if_addr.h>
RTM_NEWLINK: Final = 16
RTM_DELLINK: Final = 17
RTM_NEWADDR: Final = 20
RTM_DELADDR: Final = 21
IFF_UP: Final = 0x1
IFF_RUNNING: Final = 0x40
IFA_F_SECONDARY: Final = 0x01

# A broken monitor socket is reopened this many times in a row (no message in between) before
# events() gives up and raises.
_MAX_REOPEN: Final = 3


class InterfaceNotFound(LookupError):
    """No interface by that name or index in this network namespace."""


@dataclass(frozen=True, slots=True)
class LinkInfo:
    ifindex: int
    name: str
    mac: str  # "aa:bb:cc:dd:ee:ff"
    up: bool  # administratively up *and* carrier/operstate usable (IFF_UP and IFF_RUNNING)
    primary: IPv4Address | None  # first non-secondary IPv4 address: the VRRP source (§5.2.1)


@dataclass(frozen=True, slots=True)
class LinkChanged:
    ifindex: int
    name: str
    up: bool
    removed: bool = False  # RTM_DELLINK: the interface is gone (then up is False)


@dataclass(frozen=True, slots=True)
class AddressAdded:
    ifindex: int
    addr: IPv4Interface


@dataclass(frozen=True, slots=True)
class AddressRemoved:
    ifindex: int
    addr: IPv4Interface


@dataclass(frozen=True, slots=True)
class EventsLost:
    """The monitor socket failed (e.g. ENOBUFS) and was reopened: events may be missing.

    The caller must log it and re-read what it tracks with link() / addresses().
    """

    reason: str


NetEvent = LinkChanged | AddressAdded | AddressRemoved | EventsLost


def _link_usable(msg: Any) -> bool:
    # IFF_RUNNING mirrors operstate UP (or UNKNOWN for drivers without carrier, e.g. dummy), so a
    # veth whose peer went down, or an unplugged NIC, is not usable. keepalived: IF_ISUP().
    flags = int(msg["flags"])
    return bool(flags & IFF_UP) and bool(flags & IFF_RUNNING)


def _address(msg: Any) -> IPv4Interface:
    # IFA_LOCAL is the interface's own address; IFA_ADDRESS differs from it only on point-to-point links.
    local = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")
    return IPv4Interface(f"{local}/{msg['prefixlen']}")


def _is_secondary(msg: Any) -> bool:
    flags = msg.get("IFA_FLAGS")
    return bool((flags if flags is not None else msg["flags"]) & IFA_F_SECONDARY)


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

    async def __aenter__(self) -> Netlink:
        self._ipr = AsyncIPRoute()
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

    @staticmethod
    async def _open_monitor() -> Any:
        mon = AsyncIPRoute()
        try:
            await mon.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR)
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
            if not _is_secondary(amsg):
                primary = _address(amsg).ip
                break
        up = _link_usable(msg)
        self._link_up[ifindex] = up
        return LinkInfo(
            ifindex=ifindex,
            name=str(msg.get("IFLA_IFNAME")),
            mac=str(msg.get("IFLA_ADDRESS") or "00:00:00:00:00:00"),
            up=up,
            primary=primary,
        )

    async def addresses(self, ifindex: int) -> list[IPv4Interface]:
        """Every IPv4 address on the interface, primary ones first as the kernel lists them."""
        ipr = self._requests()
        return [_address(msg) async for msg in await ipr.addr("dump", family=socket.AF_INET, index=ifindex)]

    async def add_address(self, ifindex: int, addr: IPv4Interface, label: str | None = None) -> bool:
        """Add a VIP with its configured prefix; False if exactly that address/prefix was there.

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
        if label is not None:
            kwargs["label"] = label
        try:
            await self._requests().addr("add", **kwargs)
        except NetlinkError as e:
            if e.code == errno.EEXIST:
                return False
            raise
        return True

    async def remove_address(self, ifindex: int, addr: IPv4Interface) -> bool:
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

    async def events(self) -> AsyncGenerator[NetEvent, None]:
        """Link and IPv4 address changes, forever. LinkChanged only when `up` actually changes.

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
            up = not removed and _link_usable(msg)
            if removed:
                self._link_up.pop(ifindex, None)
            elif self._link_up.get(ifindex) == up:
                return None  # MTU, stats, promiscuity... not a state change
            else:
                self._link_up[ifindex] = up
            return LinkChanged(ifindex, str(msg.get("IFLA_IFNAME")), up, removed)
        if kind in (RTM_NEWADDR, RTM_DELADDR) and msg["family"] == socket.AF_INET:
            cls = AddressAdded if kind == RTM_NEWADDR else AddressRemoved
            return cls(int(msg["index"]), _address(msg))
        return None
