"""`VipTransport` (keepalived's per-VIP dev and options) with a fake netlink: each VIP goes to its own device
with its options, comes off where it was put, is announced there, and only its own device's events concern
the instance (a no_track VIP's deletion not at all)."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv6Address
from typing import Any, cast

import msgspec

from vrrpd.config import Config, InstanceConfig, parse_config
from vrrpd.kernel.netlink import InterfaceNotFound, LinkInfo, Netlink
from vrrpd.kernel.rtnl import AddrOptions
from vrrpd.runtime.daemon import Daemon
from vrrpd.runtime.vipdevices import VipDevices, VipTransport

LAN1 = IPv4Interface("198.51.100.10/24")
LAN2 = IPv4Interface("203.0.113.10/24")
OWN = IPv4Interface("192.0.2.100/24")
PLAIN = IPv4Interface("192.0.2.101/24")


def instance(extra: str = "") -> InstanceConfig:
    text = f"""
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
virtual_ipaddress = [
  {{ address = "{OWN}", label = "eth0:vip", scope = "host" }},
  {{ address = "{LAN1}", dev = "lan1", brd = "198.51.100.255" }},
  {{ address = "{LAN2}", dev = "lan2", no_track = true }},
  "{PLAIN}",
]
{extra}
"""
    return parse_config(text, "t.toml", env={}).vrrp_instance[0]


class FakeNetlink:
    """Interfaces by name (index, MAC); records what is added where, with which options."""

    def __init__(self, links: Mapping[str, int]) -> None:
        self.links = dict(links)
        self.added: list[tuple[int, list[Any], dict[Any, AddrOptions]]] = []
        self.removed: list[tuple[int, list[Any]]] = []

    async def link(self, name: str) -> LinkInfo:
        if name not in self.links:
            raise InterfaceNotFound(name)
        return LinkInfo(self.links[name], name, "02:00:00:00:01:01", True, None)

    async def add_addresses(
        self, ifindex: int, addrs: Sequence[Any], options: Mapping[Any, AddrOptions] | None = None
    ) -> dict[Any, int]:
        self.added.append((ifindex, list(addrs), dict(options or {})))
        return dict.fromkeys(addrs, 0)

    async def remove_addresses(self, ifindex: int, addrs: Sequence[Any]) -> dict[Any, int]:
        self.removed.append((ifindex, list(addrs)))
        return dict.fromkeys(addrs, 0)


class FakeBase:
    def __init__(self) -> None:
        self.ifindex = 2
        self.garps: list[IPv4Address | IPv6Address] = []

    async def send_vrrp(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        raise AssertionError("not sent here")

    def send_vrrp_now(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        raise AssertionError("not sent here")

    def send_garp(self, vip: IPv4Address | IPv6Address, count: int) -> None:
        self.garps.append(vip)


def transport(config: InstanceConfig, links: Mapping[str, int]) -> tuple[VipTransport, FakeNetlink, FakeBase]:
    netlink = FakeNetlink(links)
    base = FakeBase()
    devices = VipDevices(cast(Netlink, netlink))
    return VipTransport(base, cast(Netlink, netlink), lambda: config, devices), netlink, base


def test_each_vip_goes_to_its_device_with_its_options() -> None:
    cfg = instance()
    vt, netlink, _ = transport(cfg, {"lan1": 7, "lan2": 8})
    results = asyncio.run(vt.add_vips([OWN, LAN1, LAN2, PLAIN]))
    assert results == {OWN: 0, LAN1: 0, LAN2: 0, PLAIN: 0}
    assert netlink.added == [
        (2, [OWN, PLAIN], {OWN: AddrOptions(label="eth0:vip", scope="host")}),
        (7, [LAN1], {LAN1: AddrOptions(brd=IPv4Address("198.51.100.255"))}),
        (8, [LAN2], {}),
    ]


def test_a_vip_comes_off_where_it_was_put_even_after_a_reload_moved_it() -> None:
    cfg = instance()
    current = [cfg]
    netlink = FakeNetlink({"lan1": 7, "lan2": 8, "lan3": 9})
    devices = VipDevices(cast(Netlink, netlink))
    vt = VipTransport(FakeBase(), cast(Netlink, netlink), lambda: current[0], devices)
    asyncio.run(vt.add_vips([LAN1]))
    moved = cfg.virtual_ipaddress[1]
    current[0] = msgspec.structs.replace(
        cfg, virtual_ipaddress=(cfg.virtual_ipaddress[0], msgspec.structs.replace(moved, dev="lan3"))
    )
    asyncio.run(vt.remove_vips([LAN1]))
    assert netlink.removed == [(7, [LAN1])]


def test_a_missing_device_refuses_its_vip_with_enodev() -> None:
    vt, netlink, _ = transport(instance(), {"lan2": 8})
    results = asyncio.run(vt.add_vips([LAN1, LAN2]))
    assert results == {LAN1: errno.ENODEV, LAN2: 0}
    assert [ifindex for ifindex, _, _ in netlink.added] == [8]


def test_announcements_leave_from_the_vips_device() -> None:
    vt, _, base = transport(instance(), {"lan1": 7, "lan2": 8})
    asyncio.run(vt.add_vips([LAN1]))
    sent: list[tuple[str, IPv4Address | IPv6Address]] = []
    device = vt._devices.devices["lan1"]
    device.send_garp = lambda vip, count: sent.append((device.name, vip))  # type: ignore[method-assign]
    vt.send_garp(OWN.ip, 1)
    vt.send_garp(LAN1.ip, 1)
    assert base.garps == [OWN.ip] and sent == [("lan1", LAN1.ip)]


def test_only_events_on_the_vips_own_device_concern_it_and_no_track_is_not_restored() -> None:
    vt, _, _ = transport(instance(), {"lan1": 7, "lan2": 8})
    asyncio.run(vt.add_vips([LAN1, LAN2]))
    assert vt.watches(7, LAN1) and not vt.watches(2, LAN1)  # lives on lan1, not on eth0
    assert vt.watches(2, OWN) and not vt.watches(7, OWN)
    assert vt.watches(8, LAN2) and not vt.restores(LAN2)  # keepalived leaves a no_track VIP deleted
    assert vt.restores(LAN1) and vt.restores(OWN)


def test_a_vip_whose_dev_does_not_exist_is_dropped_as_keepalived_drops_it() -> None:
    cfg = instance()
    daemon = Daemon(cast(Config, None))
    daemon._netlink = cast(Netlink, FakeNetlink({"lan2": 8}))
    kept = asyncio.run(daemon.present_vips(cfg))
    assert kept.vips == (OWN, LAN2, PLAIN)  # lan1 does not exist: its VIP is not installed, nor advertised
    assert kept.tracked_interfaces == ()  # nor is lan1 tracked (lan2's VIP is no_track)
    netlink = cast(FakeNetlink, daemon._netlink)
    netlink.links["lan1"] = 7  # created since: a reload's configuration keeps it
    assert asyncio.run(daemon.present_vips(cfg)).vips == cfg.vips
