"""``vrrpd cleanup``: remove a configuration's VIPs (and an nftables table) after the daemon is gone.

For a node that lost its daemon for good (SIGKILL, OOM, a pod that will not come back): the VIPs it
held stay on the interface until removed. This replaces the ipfailover image's privileged removal job
and serves systemd hosts alike. The node's own (primary) address and the addresses of an address owner
(priority 255) are never removed; nothing but the listed VIPs and the named table is touched.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import TYPE_CHECKING

from vrrpd.config import Config
from vrrpd.kernel import firewall

if TYPE_CHECKING:
    from vrrpd.kernel.netlink import Netlink

__all__ = ["cleanup"]


def cleanup(config: Config, firewall_table: str | None, out: Callable[[str], None] = print) -> int:
    """Remove this node's VIPs of ``config``, then the table ``inet <firewall_table>`` if given."""
    from vrrpd.kernel.netlink import InterfaceNotFound, Netlink  # noqa: PLC0415 - pyroute2 is heavy

    async def remove_vips() -> int:
        removed = 0
        async with Netlink(subscribe=False) as netlink:
            for inst in config.vrrp_instance:
                if inst.is_owner:
                    out(f"{inst.name}: skipped: priority 255, its addresses are the host's own")
                    continue
                try:
                    link = await netlink.link(inst.interface)
                except InterfaceNotFound:
                    out(f"{inst.name}: skipped: no interface {inst.interface} on this host")
                    continue
                found: list[IPv4Interface | IPv6Interface] = [*await netlink.addresses(link.ifindex)]
                found += await netlink.addresses6(link.ifindex)
                present: dict[IPv4Address | IPv6Address, IPv4Interface | IPv6Interface] = {
                    a.ip: a for a in found
                }
                for entry in inst.vip_entries:
                    vip, dev = entry.address, inst.vip_dev(entry)
                    if dev is not None:  # a VIP on another interface (keepalived's dev)
                        removed += await _remove_from(netlink, inst.name, dev, vip, out)
                    elif vip.ip in present and vip.ip != link.primary:
                        await netlink.remove_address(link.ifindex, present[vip.ip])
                        out(f"{inst.name}: removed {present[vip.ip]} from {inst.interface}")
                        removed += 1
        return removed

    removed = asyncio.run(remove_vips())
    # The Accept_Mode filter of an instance with accept = false (RFC 5798 §6.4.3) goes with its VIPs.
    for inst in config.vrrp_instance:
        if inst.accept or inst.is_owner:
            continue
        table = firewall.accept_filter_table(inst.name)
        try:
            if firewall.remove(table):
                out(f"{inst.name}: removed nftables table inet {table}")
        except firewall.FirewallError as exc:
            print(f"vrrpd: {exc}", file=sys.stderr)
            return 1
    if firewall_table is not None:
        try:
            gone = firewall.remove(firewall_table)
        except firewall.FirewallError as exc:
            print(f"vrrpd: {exc}", file=sys.stderr)
            return 1
        if gone:
            out(f"removed nftables table inet {firewall_table}")
    out(f"cleanup done: {removed} VIP(s) removed")
    return 0


async def _remove_from(
    netlink: Netlink, name: str, dev: str, vip: IPv4Interface | IPv6Interface, out: Callable[[str], None]
) -> int:
    """Remove `vip` from the interface `dev` if it is there; 1 if it was."""
    from vrrpd.kernel.netlink import InterfaceNotFound  # noqa: PLC0415 - pyroute2 is heavy

    try:
        link = await netlink.link(dev)
    except InterfaceNotFound:
        return 0
    found = await (netlink.addresses(link.ifindex) if vip.version == 4 else netlink.addresses6(link.ifindex))
    if vip.ip not in {a.ip for a in found}:
        return 0
    await netlink.remove_address(link.ifindex, vip)
    out(f"{name}: removed {vip} from {dev}")
    return 1
