"""A fake interface for running `vrrpd.runtime.instance.Instance` without namespaces, and its config.

`FakeTransport` records adverts, addresses and GARPs instead of sending them; `run` starts one
instance on it inside a fresh event loop, hands it to a test body and stops it (every wait bounded).
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any

from vrrpd.config import InstanceConfig, from_dict
from vrrpd.runtime.instance import Instance

STATUS_CONFIG = """
[global]
router_id = "node-a"
control_socket = "/run/vrrpd/a.sock"

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 255
virtual_ipaddress = ["192.0.2.100/24"]
"""


class FakeTransport:
    ifindex = 1

    def __init__(self) -> None:
        self.adverts = 0
        self.addresses: set[IPv4Interface | IPv6Interface] = set()
        self.garps: list[tuple[IPv4Address | IPv6Address, int]] = []

    async def send_vrrp(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        self.adverts += 1

    def send_vrrp_now(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        self.adverts += 1

    def send_garp(self, vip: IPv4Address | IPv6Address, count: int) -> None:
        self.garps.append((vip, count))

    async def add_vip(self, vip: IPv4Interface | IPv6Interface, label: str | None) -> bool:
        self.addresses.add(vip)
        return True

    async def remove_vip(self, vip: IPv4Interface | IPv6Interface) -> bool:
        self.addresses.discard(vip)
        return True

    async def add_vips(
        self, vips: Sequence[IPv4Interface | IPv6Interface]
    ) -> dict[IPv4Interface | IPv6Interface, int]:
        return {v: 0 if await self.add_vip(v, None) else errno.EEXIST for v in vips}

    async def remove_vips(
        self, vips: Sequence[IPv4Interface | IPv6Interface]
    ) -> dict[IPv4Interface | IPv6Interface, int]:
        return {v: 0 if await self.remove_vip(v) else errno.EADDRNOTAVAIL for v in vips}


def instance_config(**keys: Any) -> InstanceConfig:
    data: dict[str, Any] = {
        "name": "VI_1",
        "interface": "eth0",
        "virtual_router_id": 51,
        "priority": 255,
        "virtual_ipaddress": ["192.0.2.100/24"],
        "garp_master_delay": 0,
    } | keys
    return from_dict(InstanceConfig, data)


def run(body: Callable[[Instance, FakeTransport], Awaitable[None]], **keys: Any) -> None:
    async def main() -> None:
        transport = FakeTransport()
        notes: list[tuple[str, str, int]] = []
        inst = Instance(
            instance_config(**keys),
            IPv4Address("192.0.2.11"),
            transport,
            lambda *a: notes.append(a),
            asyncio.get_running_loop(),
        )
        inst.start()
        await inst.drain(1.0)
        try:
            await body(inst, transport)
        finally:
            await inst.stop(1.0)

    asyncio.run(main())
