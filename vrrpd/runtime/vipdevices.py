"""VIPs on another interface than their instance's (keepalived's ``dev``), and every VIP's address options.

keepalived installs each VIP on its own interface (``virtual_ipaddress { A/len dev X label L scope S brd B
no_track }``): added there on becoming MASTER, removed from there on leaving it, announced there (gratuitous
ARP / unsolicited NA from that interface's MAC), and watched there (a deleted VIP is put back unless
``no_track``). The link of that interface is tracked like a weight-0 ``track_interface``
(`InstanceConfig.tracked_interfaces`, followed by the daemon's tracking); that is not this module's.

Owns: `VipDevice`, one such other interface (its ifindex and MAC as last read, its GARP and NA sockets,
opened on the first announcement and again after the interface is re-created); `VipDevices`, the daemon's
devices by name, shared by the instances naming them; `VipTransport`, the `Transport` of an instance with
VIP options — adverts through its interface as before, each VIP added, removed and announced on its own
device with its label, scope and broadcast. It makes no protocol decision: what is added or removed when
is the router's.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Protocol, TypeVar

from vrrpd import logs
from vrrpd.config import InstanceConfig, VipConfig
from vrrpd.kernel.garp import GarpSender
from vrrpd.kernel.ndisc import NaSender
from vrrpd.kernel.netlink import InterfaceNotFound, LinkInfo, Netlink
from vrrpd.kernel.rtnl import AddrOptions

log = logs.get_logger("vrrpd.runtime.vipdevices")

_Vip = TypeVar("_Vip", bound=IPv4Interface | IPv6Interface)


class _Base(Protocol):
    """The instance's own transport (`runtime.interface.Interface` or `XmitBaseTransport`)."""

    ifindex: int

    async def send_vrrp(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None: ...
    def send_vrrp_now(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None: ...
    def send_garp(self, vip: IPv4Address | IPv6Address, count: int) -> None: ...


def options_of(vip: VipConfig) -> AddrOptions | None:
    """What RTM_NEWADDR carries for `vip` besides the address; None when nothing."""
    if vip.label is None and vip.scope is None and vip.brd is None:
        return None
    return AddrOptions(label=vip.label, scope=vip.scope, brd=vip.brd)


class VipDevice:
    """Another interface some VIPs live on (a VIP's ``dev``)."""

    def __init__(self, name: str, netlink: Netlink) -> None:
        self.name = name
        self._netlink = netlink
        self.link: LinkInfo | None = None  # None while the interface does not exist
        self._garp: GarpSender | None = None
        self._nd: NaSender | None = None

    @property
    def ifindex(self) -> int | None:
        """The interface's index as last read; None while it does not exist."""
        return self.link.ifindex if self.link is not None else None

    async def refresh(self) -> LinkInfo | None:
        """Read the interface again (it may be new under the same name: the sockets follow it)."""
        try:
            link = await self._netlink.link(self.name)
        except InterfaceNotFound:
            link = None
        if (
            link is None
            or self.link is None
            or link.ifindex != self.link.ifindex
            or link.mac != self.link.mac
        ):
            self._close_sockets()
        self.link = link
        return link

    def gone(self) -> None:
        """RTM_DELLINK: the interface is gone, and its addresses with it."""
        self.link = None
        self._close_sockets()

    async def add_vips(self, vips: Sequence[_Vip], options: Mapping[_Vip, AddrOptions]) -> dict[_Vip, int]:
        """Install VIPs here in batches; errno per VIP (ENODEV for all while the interface is missing:
        keepalived's "Not adding address ... since interface doesn't exist")."""
        if self.link is None and await self.refresh() is None:
            return dict.fromkeys(vips, errno.ENODEV)
        assert self.link is not None
        return await self._netlink.add_addresses(self.link.ifindex, vips, options)

    async def remove_vips(self, vips: Sequence[_Vip]) -> dict[_Vip, int]:
        """Remove VIPs from here; a missing interface took them with it (ENODEV is counted as gone)."""
        if self.link is None:
            return dict.fromkeys(vips, errno.ENOENT)
        return await self._netlink.remove_addresses(self.link.ifindex, vips)

    def send_garp(self, vip: IPv4Address | IPv6Address, count: int) -> None:
        """Announce `vip` from this interface's MAC: gratuitous ARP, unsolicited NA for IPv6."""
        link = self.link
        if link is None:
            raise OSError(errno.ENODEV, f"{self.name}: no such interface")
        if isinstance(vip, IPv6Address):
            if self._nd is None:
                self._nd = NaSender.open(link.name, link.ifindex, link.mac)
            self._nd.send(vip, count)
        else:
            if self._garp is None:
                self._garp = GarpSender.open(link.name, link.ifindex, link.mac)
            self._garp.send(vip, count)

    def _close_sockets(self) -> None:
        if self._garp is not None:
            self._garp.close()
            self._garp = None
        if self._nd is not None:
            self._nd.close()
            self._nd = None

    def close(self) -> None:
        """Close the sockets."""
        self._close_sockets()


class VipDevices:
    """The daemon's `VipDevice`s by interface name, each read once and shared by its instances."""

    def __init__(self, netlink: Netlink) -> None:
        self._netlink = netlink
        self.devices: dict[str, VipDevice] = {}

    async def get(self, name: str) -> VipDevice:
        """The device `name` (read now if new or missing so far; its `link` is None if the interface does
        not exist)."""
        device = self.devices.get(name)
        if device is None:
            device = self.devices[name] = VipDevice(name, self._netlink)
        if device.link is None:
            await device.refresh()
        return device

    def by_ifindex(self, ifindex: int) -> VipDevice | None:
        """The device with that index, if one is known."""
        return next((d for d in self.devices.values() if d.ifindex == ifindex), None)

    async def link_changed(self, name: str, ifindex: int, removed: bool) -> None:
        """A link event: a device deleted is forgotten until it comes back; one (re-)created is read."""
        device = self.devices.get(name)
        if device is None:
            return
        if removed:
            if device.ifindex == ifindex:
                device.gone()
        elif device.ifindex != ifindex:
            await device.refresh()

    def close(self) -> None:
        """Close every device's sockets."""
        for device in self.devices.values():
            device.close()


class VipTransport:
    """An instance's `Transport` when some of its VIPs have options: adverts through `base` (its interface,
    or its virtual MAC interface) as before; each VIP added, removed and announced on its own device —
    `base`'s for a VIP without ``dev`` — with its label, scope and broadcast.

    `config_of` gives the instance's configuration as it is now (a reload changes it). A VIP is removed
    from where it was added, even if a reload moved it since.
    """

    def __init__(
        self, base: _Base, netlink: Netlink, config_of: Callable[[], InstanceConfig], devices: VipDevices
    ) -> None:
        self.base = base
        self._netlink = netlink
        self.config_of = config_of
        self._devices = devices
        self._installed: dict[IPv4Interface | IPv6Interface, VipDevice | None] = {}

    @property
    def ifindex(self) -> int:
        """Where the VIPs without ``dev`` live (the instance's interface or virtual MAC interface)."""
        return self.base.ifindex

    @ifindex.setter
    def ifindex(self, value: int) -> None:
        self.base.ifindex = value

    def _entry(self, vip: IPv4Interface | IPv6Interface) -> VipConfig | None:
        return next((v for v in self.config_of().vip_entries if v.address == vip), None)

    def _dev(self, vip: IPv4Interface | IPv6Interface) -> str | None:
        """The other interface `vip` lives on, or None for `base`."""
        entry = self._entry(vip)
        return self.config_of().vip_dev(entry) if entry is not None else None

    def watches(self, ifindex: int, vip: IPv4Interface | IPv6Interface) -> bool:
        """Whether a change of `vip` on the interface `ifindex` concerns this instance: it is one of our
        VIPs that lives there. Its deletion is put right only without ``no_track`` (`restores`)."""
        dev = self._dev(vip)
        if dev is None:
            return self.base.ifindex == ifindex
        device = self._devices.devices.get(dev)
        return device is not None and device.ifindex == ifindex

    def restores(self, vip: IPv4Interface | IPv6Interface) -> bool:
        """keepalived (keepalived_netlink.c, address_is_ours): a deleted ``no_track`` VIP is left deleted."""
        entry = self._entry(vip)
        return entry is None or not entry.no_track

    async def send_vrrp(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        """Transport: adverts go out as without options."""
        await self.base.send_vrrp(payload, dst, src)

    def send_vrrp_now(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        """Transport: adverts go out as without options."""
        self.base.send_vrrp_now(payload, dst, src)

    def send_garp(self, vip: IPv4Address | IPv6Address, count: int) -> None:
        """Transport: announce `vip` on the device it lives on."""
        config = self.config_of()
        entry = next((v for v in config.vip_entries if v.address.ip == vip), None)
        dev = config.vip_dev(entry) if entry is not None else None
        if dev is None:
            self.base.send_garp(vip, count)
            return
        device = self._devices.devices.get(dev)
        if device is None:
            raise OSError(errno.ENODEV, f"{dev}: no such interface")
        device.send_garp(vip, count)

    async def add_vips(self, vips: Sequence[_Vip]) -> dict[_Vip, int]:
        """Transport: install VIPs, each on its device with its options; errno per VIP."""
        results: dict[_Vip, int] = {}
        for device, group in (await self._by_device(vips)).items():
            options = {
                v: o for v in group for e in [self._entry(v)] if e is not None for o in [options_of(e)] if o
            }
            if device is None:
                done = await self._netlink.add_addresses(self.base.ifindex, group, options)
            else:
                done = await device.add_vips(group, options)
            for vip, code in done.items():
                if code in (0, errno.EEXIST):
                    self._installed[vip] = device
            results.update(done)
        return results

    async def remove_vips(self, vips: Sequence[_Vip]) -> dict[_Vip, int]:
        """Transport: remove VIPs from where they were added (else where they belong); errno per VIP."""
        groups: dict[VipDevice | None, list[_Vip]] = {}
        for vip in vips:
            if vip in self._installed:
                device = self._installed.pop(vip)
            else:
                dev = self._dev(vip)
                device = self._devices.devices.get(dev) if dev is not None else None
                if dev is not None and device is None:
                    continue  # an interface never seen: nothing of ours can be on it
            groups.setdefault(device, []).append(vip)
        results: dict[_Vip, int] = {}
        for device, group in groups.items():
            if device is None:
                results.update(await self._netlink.remove_addresses(self.base.ifindex, group))
            else:
                results.update(await device.remove_vips(group))
        return results

    async def _by_device(self, vips: Sequence[_Vip]) -> dict[VipDevice | None, list[_Vip]]:
        groups: dict[VipDevice | None, list[_Vip]] = {}
        for vip in vips:
            dev = self._dev(vip)
            device = await self._devices.get(dev) if dev is not None else None
            groups.setdefault(device, []).append(vip)
        return groups
