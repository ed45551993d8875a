"""Reload policy (`vrrpd.config.diff.plan`) and live reconfiguration of a running `Instance` (fake
transport)."""

from __future__ import annotations

from ipaddress import IPv4Interface
from typing import Any

import pytest

from tests.support.fakes import FakeTransport, instance_config, run
from vrrpd.config import Config, parse_config
from vrrpd.config.diff import Change, plan
from vrrpd.protocol import fsm
from vrrpd.runtime.instance import Instance

BASE = """
[global]
router_id = "a"

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 100
virtual_ipaddress = ["192.0.2.100/24"]

[[vrrp_instance]]
name = "VI_2"
interface = "eth0"
virtual_router_id = 52
priority = 100
virtual_ipaddress = ["192.0.2.101/24"]
"""


def cfg(text: str = BASE) -> Config:
    return parse_config(text, "test.toml", env={})


def changes(old: str, new: str) -> dict[str, Any]:
    p = plan(cfg(old), cfg(new))
    return {x.name: (x.change, x.fields) for x in p.instances} | {"global": p.global_fields}


def test_identical_files_change_nothing() -> None:
    assert changes(BASE, BASE) == {
        "VI_1": (Change.UNCHANGED, ()),
        "VI_2": (Change.UNCHANGED, ()),
        "global": (),
    }


def test_priority_vips_timers_auth_are_live() -> None:
    new = BASE.replace(
        'priority = 100\nvirtual_ipaddress = ["192.0.2.101/24"]',
        'priority = 120\nvirtual_ipaddress = ["192.0.2.101/24", "192.0.2.102/24"]\n'
        'advert_int = 2\nauth_pass = "pw"',
    )
    got = changes(BASE, new)
    assert got["VI_1"] == (Change.UNCHANGED, ())
    assert got["VI_2"] == (Change.LIVE, ("priority", "advert_int", "virtual_ipaddress", "auth_pass"))


def test_rename_is_live_not_a_handover() -> None:
    got = changes(BASE, BASE.replace('name = "VI_2"', 'name = "web"'))
    assert got["web"] == (Change.LIVE, ("name",))


def test_owner_priority_and_source_address_need_a_restart() -> None:
    p = plan(
        cfg(),
        cfg(
            BASE.replace(
                'priority = 100\nvirtual_ipaddress = ["192.0.2.101/24"]',
                'priority = 255\nvirtual_ipaddress = ["192.0.2.101/24"]',
            )
        ),
    )
    vi2 = next(x for x in p.instances if x.name == "VI_2")
    assert vi2.change is Change.RESTART and "255" in vi2.reason
    unicast = BASE + 'unicast_peer = ["192.0.2.12"]\n'
    moved = unicast + 'unicast_src_ip = "192.0.2.11"\n'
    assert changes(unicast, moved)["VI_2"] == (Change.RESTART, ("unicast_src_ip",))


def test_vrid_or_interface_change_is_remove_plus_add() -> None:
    got = changes(BASE, BASE.replace("virtual_router_id = 52", "virtual_router_id = 53"))
    assert got["VI_2"] in ((Change.ADDED, ()), (Change.REMOVED, ()))
    p = plan(cfg(), cfg(BASE.replace("virtual_router_id = 52", "virtual_router_id = 53")))
    assert [(x.key, x.change) for x in p.instances if x.name == "VI_2"] == [
        (("eth0", 53, 4), Change.ADDED),
        (("eth0", 52, 4), Change.REMOVED),
    ]
    assert p.summary() == {"unchanged": ["VI_1"], "added": ["VI_2"], "removed": ["VI_2"]}


def test_global_changes_are_listed() -> None:
    new = BASE.replace('router_id = "a"', 'router_id = "b"\nmetrics_listen = "127.0.0.1:9650"')
    assert changes(BASE, new)["global"] == ("router_id", "metrics_listen")


# -- a running instance, reconfigured ----------------------------------------------------------------


def test_vip_list_change_on_a_master_moves_only_the_difference() -> None:
    async def body(inst: Instance, t: FakeTransport) -> None:
        assert inst.router.state is fsm.State.MASTER and inst.counters.transitions == 1
        b, c = (IPv4Interface(f"192.0.2.{n}/24") for n in (101, 102))
        inst.reconfigure(instance_config(virtual_ipaddress=[str(b), str(c)]))
        await inst.drain(1.0)
        assert t.addresses == set()  # the VIP no longer listed is gone before any other is added
        inst.install_vips()
        await inst.drain(1.0)
        assert t.addresses == {b, c} and inst.vips_held == (b, c)
        assert {vip for vip, _ in t.garps[-2:]} == {b.ip, c.ip}
        assert inst.router.state is fsm.State.MASTER and inst.counters.transitions == 1
        assert inst.router.config.vip_addresses == (b.ip, c.ip)

    run(body)


def test_priority_change_is_a_set_priority_without_transition() -> None:
    async def body(inst: Instance, t: FakeTransport) -> None:
        assert inst.router.state is fsm.State.BACKUP
        inst.reconfigure(instance_config(priority=120))
        assert inst.router.priority == 120 and inst.router.config.priority == 120
        assert inst.router.state is fsm.State.BACKUP and inst.counters.transitions == 1

    run(body, priority=100)


def test_check_weight_and_removal_land_in_the_right_state() -> None:
    check = {"tcp_port": 80, "weight": 30}

    async def body(inst: Instance, t: FakeTransport) -> None:
        inst.health_changed(False, "refused")
        assert inst.router.priority == 70
        inst.reconfigure(instance_config(priority=100, check=check | {"weight": 0}))
        assert inst.router.state is fsm.State.FAULT  # weight 0: a failing check is a fault
        inst.reconfigure(instance_config(priority=100))  # check removed: the fault goes with it
        state: fsm.State = inst.router.state
        assert state is fsm.State.BACKUP and inst.router.priority == 100

    run(body, priority=100, check=check)


def test_turning_garp_refresh_off_while_master_stops_it_at_once() -> None:
    async def body(inst: Instance, t: FakeTransport) -> None:
        before = inst.router.deadline  # the refresh, half an advert interval after becoming master
        inst.reconfigure(instance_config(garp_master_refresh=0, preempt_delay=2))
        assert inst.router.config.garp_master_refresh == 0
        assert inst.router.config.preempt_delay == 2  # everything else is live too
        assert inst.router.state is fsm.State.MASTER
        # Only the Adver_Timer is left (a refresh timer kept with period 0 would fire continuously).
        assert before is not None and inst.router.deadline == pytest.approx(before + 0.5, abs=1e-9)

    run(body, garp_master_refresh=0.5)
