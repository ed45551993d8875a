"""VRRPv3 over IPv6 on real interfaces (issue 16): an interface with only IPv6 instances runs without any
IPv4 address; the IPv6 sockets follow the link-local address (RFC 5798 §5.1.2.1) when it is replaced, and
its loss is a FAULT of the IPv6 instances only; an IPv4 and an IPv6 virtual router share one VRID on one
interface (RFC 5798 §1: they are separate routers).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.daemons import start_vrrpd, stop_all, toml_value, wait_for, wait_holder
from tests.support.hostile import daemon_status
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory
from vrrpd.testing.sniff import VrrpEvent

pytestmark = pytest.mark.netns

VIP4 = "192.0.2.100"
VIP6 = "2001:db8::100"
NEW_LINK_LOCAL = "fe80::99"


def _config(lab: Lab, node: str, instances: list[dict[str, Any]]) -> str:
    lines = ["[global]", f'router_id = "{node}"', f'control_socket = "{lab.log_dir}/{node}.sock"', ""]
    for keys in instances:
        base: dict[str, Any] = {"interface": "eth0", "virtual_router_id": 51, "version": 3, "advert_int": 0.2}
        lines += ["[[vrrp_instance]]", *(f"{k} = {toml_value(v)}" for k, v in (base | keys).items()), ""]
    return "\n".join(lines)


def _v6(priority: int, **keys: Any) -> dict[str, Any]:
    return {"name": "VI_6", "priority": priority, "virtual_ipaddress": [f"{VIP6}/64"]} | keys


def _v4(priority: int, **keys: Any) -> dict[str, Any]:
    return {"name": "VI_4", "priority": priority, "virtual_ipaddress": [f"{VIP4}/24"]} | keys


def _status(lab: Lab, node: str) -> dict[str, Any]:
    status = daemon_status(lab.log_dir / f"{node}.sock")
    assert status is not None, f"{node} does not answer status"
    return status


def _instance(lab: Lab, node: str, name: str) -> dict[str, Any]:
    return next(i for i in _status(lab, node)["instances"] if i["name"] == name)


def _link_locals(lab: Lab, node: str) -> list[str]:
    out = lab.run(node, ["ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"]).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines()]


def test_an_interface_with_only_ipv6_instances_needs_no_ipv4_address(vrrp_lab: LabFactory) -> None:
    lab: Lab = vrrp_lab(nodes=2, prefix="v6o", ipv6=True)
    for node in lab.nodes:
        lab.run(node, ["ip", "-4", "addr", "flush", "dev", "eth0"])
    procs = [
        start_vrrpd(lab, "n1", _config(lab, "n1", [_v6(150)])),
        start_vrrpd(lab, "n2", _config(lab, "n2", [_v6(100)])),
    ]
    try:
        assert wait_holder(lab, "n1", vip=VIP6) == "n1"
        iface = _status(lab, "n1")["interfaces"][0]
        assert iface["source"] is None and iface["source6"] in _link_locals(lab, "n1"), iface
        assert _instance(lab, "n1", "VI_6")["family"] == 6
        assert lab.ping(VIP6, count=1, timeout=1.0)
        procs[0].stop()
        assert wait_holder(lab, "n2", vip=VIP6, timeout=5) == "n2"
    finally:
        stop_all(procs)


def test_link_local_replaced_then_gone_faults_only_the_ipv6_router_of_a_shared_vrid(
    vrrp_lab: LabFactory,
) -> None:
    lab: Lab = vrrp_lab(nodes=2, prefix="v6l", ipv6=True)
    procs = [
        start_vrrpd(lab, "n1", _config(lab, "n1", [_v4(150), _v6(150)])),
        start_vrrpd(lab, "n2", _config(lab, "n2", [_v4(100), _v6(100)])),
    ]
    try:
        # One VRID, two virtual routers: both elect n1, each on its own family's adverts.
        assert wait_holder(lab, "n1", vip=VIP6) == "n1"
        assert wait_holder(lab, "n1", vip=VIP4) == "n1"
        assert {i["name"]: i["state"] for i in _status(lab, "n2")["instances"]} == {
            "VI_4": "BACKUP",
            "VI_6": "BACKUP",
        }
        old = _link_locals(lab, "n1")
        assert len(old) == 1, old
        # Replaced: the IPv6 adverts leave from the new link-local address (RFC 5798 §5.1.2.1).
        lab.run("n1", ["ip", "-6", "addr", "add", f"{NEW_LINK_LOCAL}/64", "dev", "eth0"])
        lab.run("n1", ["ip", "-6", "addr", "del", f"{old[0]}/64", "dev", "eth0"])
        assert wait_for(lambda: _status(lab, "n1")["interfaces"][0]["source6"] == NEW_LINK_LOCAL, 5.0)
        cap = lab.capture()
        time.sleep(1.0)
        events = cap.stop()
        sources = {
            e.src_ip for e in events if isinstance(e, VrrpEvent) and e.version == 3 and ":" in e.src_ip
        }
        assert sources == {NEW_LINK_LOCAL}, sources  # the master's; the backup is silent
        assert lab.holders(VIP6) == ["n1"] and lab.holders(VIP4) == ["n1"]
        assert _instance(lab, "n1", "VI_6")["state"] == "MASTER"
        # Gone, none left: the IPv6 router goes FAULT (no_address) and n2 takes its VIP; the IPv4 router
        # of the same VRID keeps advertising and holding its own.
        lab.run("n1", ["ip", "-6", "addr", "del", f"{NEW_LINK_LOCAL}/64", "dev", "eth0"])
        assert wait_holder(lab, "n2", vip=VIP6, timeout=5) == "n2"
        v6 = _instance(lab, "n1", "VI_6")
        assert v6["state"] == "FAULT" and v6["faults"] == ["no_address"], v6
        v4 = _instance(lab, "n1", "VI_4")
        assert v4["state"] == "MASTER" and v4["faults"] == [], v4
        assert lab.holders(VIP4) == ["n1"]
        # Back: the IPv6 router leaves FAULT and, with the higher priority, takes its VIP again.
        lab.run("n1", ["ip", "-6", "addr", "add", f"{old[0]}/64", "dev", "eth0"])
        assert wait_holder(lab, "n1", vip=VIP6, timeout=5) == "n1"
        assert _instance(lab, "n1", "VI_6")["faults"] == []
        assert _status(lab, "n1")["interfaces"][0]["source6"] == old[0]
    finally:
        stop_all(procs)
