"""The virtual MAC interface of `use_vmac`: RFC 3768 §7.3's 00-00-5E-00-01-{VRID} on a macvlan (for IPv6,
RFC 5798 §7.3's 00-00-5E-00-02-{VRID}).

Owns creating the macvlan on the instance's interface (private mode, as keepalived's vrrp_vmac.c), the
sysctls keepalived sets for it, and undoing both. With a virtual MAC the VIPs live on the macvlan, so
its gratuitous ARPs and the ARP replies to clients carry the virtual MAC, and a failover moves no MAC
in the clients' caches — what other VRRP routers (FRRouting, hardware) do.

The sysctls, keepalived's (vrrp_if_config.c): on the macvlan arp_ignore=1 (answer ARP only for its own
addresses), accept_local=1, rp_filter=0, promote_secondaries=1 and IPv6 off (no MLD or neighbour
discovery from the virtual MAC on a backup); on the interface below arp_ignore=1 and arp_filter=1, so
that it does not answer ARP for the VIPs with its own MAC. Beyond keepalived, arp_announce=2 there too:
a reply from a VIP leaves through the interface below (its route comes first), and without it the ARP
request that reply needs would say "tell <VIP>" from the interface's own MAC — and the client would
replace the virtual MAC in its cache with it (measured in the lab). The lower interface's values are
restored when its last macvlan goes. And `net.ipv4.igmp_link_local_mcast_reports` = 0 while a macvlan exists
(keepalived's `disable_local_igmp`): every node of the VRID has the same virtual MAC, and a backup's
IGMP report for 224.0.0.18 sent from it would teach the switches that the virtual MAC lives behind the
backup. Switches flood 224.0.0.x anyway (RFC 4541 §2.1.2), so nothing needs those reports.

IPv6 (VRRPv3), as keepalived's vrrp_vmac.c: the macvlan carries the IPv6 virtual MAC, keeps IPv6 on, and
generates no link-local address of its own (addr_gen_mode none: a link-local derived from the virtual MAC
would be the same on every node of the VRID, RFC 5798 §7.4); it gets the interface below's link-local
address instead (or, without one, the EUI-64 address of the interface below's MAC), so adverts sent from
it leave from a non-VIP link-local address with the virtual MAC, and the Neighbor Advertisements for the
VIPs carry the virtual MAC. None of the IPv4 sysctls above are set for it (keepalived sets them for IPv4
instances only).

Must not: decide when the VIPs move (the instance does) or send anything itself.
"""

from __future__ import annotations

import collections
import contextlib
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Interface
from pathlib import Path
from typing import Final

from vrrpd import logs
from vrrpd.kernel.netlink import LinkInfo, Netlink
from vrrpd.kernel.rtnl import NetlinkError

log = logs.get_logger("vrrpd.vmac")

_PROC: Final = Path("/proc/sys/net")
_VMAC_SYSCTLS: Final = {"arp_ignore": "1", "accept_local": "1", "rp_filter": "0", "promote_secondaries": "1"}
_LOWER_SYSCTLS: Final = {"arp_ignore": "1", "arp_filter": "1", "arp_announce": "2"}
_IGMP_REPORTS: Final = _PROC / "ipv4" / "igmp_link_local_mcast_reports"


def virtual_mac(vrid: int, family: int = 4) -> str:
    """The virtual router MAC address: 00-00-5E-00-01-{VRID} for IPv4 (RFC 3768 §7.3, RFC 5798 §7.3),
    00-00-5E-00-02-{VRID} for IPv6 (RFC 5798 §7.3)."""
    if not 1 <= vrid <= 255:
        raise ValueError(f"vrid {vrid} out of range 1..255")
    return f"00:00:5e:00:{1 if family == 4 else 2:02x}:{vrid:02x}"


def eui64_link_local(mac: str) -> IPv6Address:
    """The link-local address SLAAC derives from `mac` (RFC 4291 Appendix A: fe80::, then the MAC with the
    universal/local bit flipped and ff:fe in the middle)."""
    b = bytes.fromhex(mac.replace(":", ""))
    iid = bytes([b[0] ^ 0x02, b[1], b[2], 0xFF, 0xFE, b[3], b[4], b[5]])
    return IPv6Address(b"\xfe\x80" + bytes(6) + iid)


def _conf(ifname: str, key: str, family: str = "ipv4") -> Path:
    return _PROC / family / "conf" / ifname / key


def _write(path: Path, value: str) -> str | None:
    """Write a sysctl; its previous value (None when it cannot be read or written)."""
    try:
        old = path.read_text().strip()
        if old != value:
            path.write_text(value)
    except OSError as exc:
        log.warning("vmac_sysctl_failed", sysctl=str(path), value=value, error=exc.strerror or str(exc))
        return None
    return old


@dataclass
class Vmacs:
    """The macvlans this daemon created, and the sysctls to put back when they go."""

    netlink: Netlink
    links: dict[str, LinkInfo] = field(default_factory=dict)  # by macvlan name
    _lower_of: dict[str, str] = field(default_factory=dict)  # macvlan name -> lower interface name
    _saved_lower: dict[str, dict[str, str]] = field(default_factory=dict)  # lower name -> sysctl -> value
    _saved_igmp: str | None = None
    _ipv4: set[str] = field(default_factory=set)  # the macvlans of IPv4 instances

    async def open(self, name: str, lower: LinkInfo, vrid: int, family: int = 4) -> LinkInfo:
        """Create (or take over) the macvlan `name` on `lower` for `vrid` and `family`, configured and up.

        Raises ValueError if `name` is another kind of interface, OSError if the kernel refuses (no
        macvlan support, not CAP_NET_ADMIN).
        """
        if family == 6:
            return await self._open6(name, lower, vrid)
        if not self._ipv4:
            self._saved_igmp = _write(_IGMP_REPORTS, "0")
        try:
            link = await self.netlink.macvlan(name, lower.ifindex, virtual_mac(vrid))
        except NetlinkError as exc:  # e.g. EOPNOTSUPP without the macvlan module, EPERM
            raise OSError(exc.code, f"the kernel refused the macvlan: {exc}") from exc
        self._ipv4.add(name)
        for key, value in _VMAC_SYSCTLS.items():
            _write(_conf(name, key), value)
        if _conf(name, "disable_ipv6", "ipv6").exists():
            _write(_conf(name, "disable_ipv6", "ipv6"), "1")
        if lower.name not in self._saved_lower:
            saved = {key: _write(_conf(lower.name, key), value) for key, value in _LOWER_SYSCTLS.items()}
            self._saved_lower[lower.name] = {k: v for k, v in saved.items() if v is not None}
        self.links[name] = link
        self._lower_of[name] = lower.name
        log.info("vmac_opened", interface=name, lower=lower.name, mac=link.mac, ifindex=link.ifindex)
        return link

    async def _open6(self, name: str, lower: LinkInfo, vrid: int) -> LinkInfo:
        """The IPv6 macvlan: the IPv6 virtual MAC, no link-local of its own, the interface below's."""
        try:
            link = await self.netlink.macvlan(name, lower.ifindex, virtual_mac(vrid, 6))
        except NetlinkError as exc:
            raise OSError(exc.code, f"the kernel refused the macvlan: {exc}") from exc
        self.links[name] = link
        self._lower_of[name] = lower.name
        # No address generated from the virtual MAC, now or when the link comes up again (RFC 5798 §7.4).
        _write(_conf(name, "addr_gen_mode", "ipv6"), "1")
        _write(_conf(name, "disable_ipv6", "ipv6"), "0")
        want = lower.link_local or eui64_link_local(lower.mac)
        try:
            for address in await self.netlink.addresses6(link.ifindex):
                if address.ip.is_link_local and address.ip != want:
                    await self.netlink.remove_address(link.ifindex, address)
            await self.netlink.add_address(link.ifindex, IPv6Interface(f"{want}/64"), None)
            link = await self.netlink.link(name)
        except (NetlinkError, OSError) as exc:
            raise OSError(
                getattr(exc, "code", None), f"cannot give {name} a link-local address: {exc}"
            ) from exc
        self.links[name] = link
        log.info(
            "vmac_opened",
            interface=name,
            lower=lower.name,
            mac=link.mac,
            ifindex=link.ifindex,
            link_local=str(link.link_local),
        )
        return link

    def lower_of(self, name: str) -> str | None:
        """The interface below the macvlan `name`, if this daemon created it and has not closed it."""
        return self._lower_of.get(name)

    async def close(self, name: str) -> None:
        """Delete the macvlan `name` and restore what only it needed (idempotent)."""
        link = self.links.pop(name, None)
        lower = self._lower_of.pop(name, None)
        if link is None:
            return
        with contextlib.suppress(OSError, NetlinkError):  # gone already, or netlink is closing
            await self.netlink.delete_link(link.ifindex)
        log.info("vmac_closed", interface=name)
        self._ipv4.discard(name)
        if lower is not None and lower not in collections.Counter(self._lower_of.values()):
            for key, value in self._saved_lower.pop(lower, {}).items():
                _write(_conf(lower, key), value)
        if not self._ipv4 and self._saved_igmp is not None:
            _write(_IGMP_REPORTS, self._saved_igmp)
            self._saved_igmp = None

    async def close_all(self) -> None:
        """Delete every macvlan this daemon created (at shutdown)."""
        for name in list(self.links):
            await self.close(name)
