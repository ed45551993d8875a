"""Virtual routes and rules follow the VIPs (keepalived's virtual_routes / virtual_rules), against fakes.

The order is keepalived's (vrrp_state_become_master / vrrp_restore_interface): VIPs, then routes, then
rules on becoming MASTER; rules, then routes, then VIPs on leaving it. A backup never installs them, a
failure is counted and logged without stopping the instance, and a reload that shrinks the VIP list does
not take the routes away from a running master. Every wait is bounded (`tests.support.aio.run`).
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any, Literal

from tests.support.aio import run
from tests.support.fakes import instance_config
from vrrpd.config import InstanceConfig, RouteConfig, RuleConfig
from vrrpd.protocol.packet import VRRP_MULTICAST, VRRP_TTL, Advertisement, Received
from vrrpd.runtime.instance import Instance

PRIMARY = IPv4Address("192.0.2.11")
ROUTES = [
    {"to": "198.51.100.0/24", "via": "192.0.2.1", "src": "192.0.2.100"},
    {"to": "203.0.113.0/24", "type": "blackhole"},
]
RULES = [{"from": "192.0.2.100", "table": 100}]


class Recorder:
    """Transport and Routing at once: one log of every kernel change, in order."""

    ifindex = 1

    def __init__(self, route_error: int = 0) -> None:
        self.log: list[str] = []
        self.route_error = route_error

    async def send_vrrp(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        pass

    def send_vrrp_now(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        pass

    def send_garp(self, vip: IPv4Address | IPv6Address, count: int) -> None:
        pass

    async def add_vip(self, vip: IPv4Interface | IPv6Interface, label: str | None) -> bool:
        return True

    async def remove_vip(self, vip: IPv4Interface | IPv6Interface) -> bool:
        return True

    async def add_vips(
        self, vips: Sequence[IPv4Interface | IPv6Interface]
    ) -> dict[IPv4Interface | IPv6Interface, int]:
        self.log += [f"addr add {v}" for v in vips]
        return dict.fromkeys(vips, 0)

    async def remove_vips(
        self, vips: Sequence[IPv4Interface | IPv6Interface]
    ) -> dict[IPv4Interface | IPv6Interface, int]:
        self.log += [f"addr del {v}" for v in vips]
        return dict.fromkeys(vips, 0)

    async def route(self, command: Literal["add", "del"], route: RouteConfig) -> int:
        self.log.append(f"route {command} {route}")
        return self.route_error

    async def rule(self, command: Literal["add", "del"], rule: RuleConfig) -> int:
        self.log.append(f"rule {command} {rule}")
        return 0


def config(**keys: Any) -> InstanceConfig:
    return instance_config(virtual_routes=ROUTES, virtual_rules=RULES, **keys)


def instance(rec: Recorder, cfg: InstanceConfig) -> Instance:
    return Instance(cfg, PRIMARY, rec, lambda *a: None, asyncio.get_running_loop(), routing=rec)


MASTER_IN = [
    "addr add 192.0.2.100/24",
    "route add 198.51.100.0/24 via 192.0.2.1 src 192.0.2.100",
    "route add blackhole 203.0.113.0/24",
    "rule add from 192.0.2.100/32 table 100",
]
MASTER_OUT = [
    "rule del from 192.0.2.100/32 table 100",
    "route del 198.51.100.0/24 via 192.0.2.1 src 192.0.2.100",
    "route del blackhole 203.0.113.0/24",
    "addr del 192.0.2.100/24",
]


def test_a_master_installs_routes_after_its_vips_and_removes_them_before() -> None:
    async def body() -> None:
        rec = Recorder()
        inst = instance(rec, config())  # priority 255: MASTER at start
        inst.start()
        await inst.drain(1.0)
        assert rec.log == MASTER_IN
        rec.log.clear()
        await inst.stop(1.0)
        assert rec.log == MASTER_OUT

    run(body())


def test_a_master_preempted_by_a_higher_priority_takes_its_routes_away() -> None:
    async def body() -> None:
        rec = Recorder()
        inst = instance(rec, config(priority=100))
        inst.start()
        await inst.drain(1.0)
        assert rec.log == []  # a backup holds no route
        inst._feed(inst.router.on_timer(inst.router.deadline or 0.0))  # Master_Down_Timer: MASTER
        await inst.drain(1.0)
        assert inst.router.state.value == "MASTER"
        assert rec.log == MASTER_IN
        rec.log.clear()
        higher = Advertisement(vrid=51, priority=200, addresses=(IPv4Address("192.0.2.100"),), advert_int=1)
        inst.receive(Received(higher, IPv4Address("192.0.2.12"), VRRP_MULTICAST, VRRP_TTL))
        await inst.drain(1.0)
        assert inst.router.state.value == "BACKUP"
        assert rec.log == MASTER_OUT
        await inst.stop(1.0)

    run(body())


def test_a_failed_route_is_counted_and_the_rest_still_goes_in() -> None:
    async def body() -> None:
        rec = Recorder(route_error=errno.ENETUNREACH)
        inst = instance(rec, config())
        inst.start()
        await inst.drain(1.0)
        assert rec.log == MASTER_IN
        assert inst.counters.netlink_errors == 2
        await inst.stop(1.0)

    run(body())


def test_already_there_and_already_gone_are_not_errors() -> None:
    async def body() -> None:
        rec = Recorder(route_error=errno.EEXIST)
        inst = instance(rec, config())
        inst.start()
        await inst.drain(1.0)
        assert inst.counters.netlink_errors == 0
        rec.route_error = errno.ESRCH
        await inst.stop(1.0)
        assert inst.counters.netlink_errors == 0

    run(body())


def test_a_reload_dropping_a_vip_keeps_the_routes_of_a_running_master() -> None:
    async def body() -> None:
        rec = Recorder()
        inst = instance(rec, config(virtual_ipaddress=["192.0.2.100/24", "192.0.2.101/24"]))
        inst.start()
        await inst.drain(1.0)
        rec.log.clear()
        inst.reconfigure(config(virtual_ipaddress=["192.0.2.100/24"]))
        await inst.drain(1.0)
        assert rec.log == ["addr del 192.0.2.101/24"]
        await inst.stop(1.0)

    run(body())


def test_an_instance_without_routes_never_calls_routing() -> None:
    async def body() -> None:
        rec = Recorder()
        inst = instance(rec, instance_config())
        inst.start()
        await inst.drain(1.0)
        await inst.stop(1.0)
        assert rec.log == ["addr add 192.0.2.100/24", "addr del 192.0.2.100/24"]

    run(body())
