"""The virtual MAC interface of `use_vmac`: RFC 3768 §7.3's 00-00-5E-00-01-{VRID} on a macvlan.

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

Must not: decide when the VIPs move (the instance does) or send anything itself.
"""

from __future__ import annotations

import collections
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pyroute2.netlink.exceptions import NetlinkError

from vrrpd import logs
from vrrpd.kernel.netlink import LinkInfo, Netlink

log = logs.get_logger("vrrpd.vmac")

_PROC: Final = Path("/proc/sys/net")
_VMAC_SYSCTLS: Final = {"arp_ignore": "1", "accept_local": "1", "rp_filter": "0", "promote_secondaries": "1"}
_LOWER_SYSCTLS: Final = {"arp_ignore": "1", "arp_filter": "1", "arp_announce": "2"}
_IGMP_REPORTS: Final = _PROC / "ipv4" / "igmp_link_local_mcast_reports"


def virtual_mac(vrid: int) -> str:
    """RFC 3768 §7.3: the virtual router MAC address 00-00-5E-00-01-{VRID}."""
    if not 1 <= vrid <= 255:
        raise ValueError(f"vrid {vrid} out of range 1..255")
    return f"00:00:5e:00:01:{vrid:02x}"


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

    async def open(self, name: str, lower: LinkInfo, vrid: int) -> LinkInfo:
        """Create (or take over) the macvlan `name` on `lower` for `vrid`, configured and up.

        Raises ValueError if `name` is another kind of interface, OSError if the kernel refuses (no
        macvlan support, not CAP_NET_ADMIN).
        """
        if not self.links:
            self._saved_igmp = _write(_IGMP_REPORTS, "0")
        try:
            link = await self.netlink.macvlan(name, lower.ifindex, virtual_mac(vrid))
        except NetlinkError as exc:  # e.g. EOPNOTSUPP without the macvlan module, EPERM
            raise OSError(exc.code, f"the kernel refused the macvlan: {exc}") from exc
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

    async def close(self, name: str) -> None:
        """Delete the macvlan `name` and restore what only it needed (idempotent)."""
        link = self.links.pop(name, None)
        lower = self._lower_of.pop(name, None)
        if link is None:
            return
        with contextlib.suppress(OSError, NetlinkError):  # gone already, or netlink is closing
            await self.netlink.delete_link(link.ifindex)
        log.info("vmac_closed", interface=name)
        if lower is not None and lower not in collections.Counter(self._lower_of.values()):
            for key, value in self._saved_lower.pop(lower, {}).items():
                _write(_conf(lower, key), value)
        if not self.links and self._saved_igmp is not None:
            _write(_IGMP_REPORTS, self._saved_igmp)
            self._saved_igmp = None

    async def close_all(self) -> None:
        """Delete every macvlan this daemon created (at shutdown)."""
        for name in list(self.links):
            await self.close(name)
