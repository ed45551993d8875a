"""A VIP that another instance's interface holds (``dev``) is never that instance's advert source.

One node: VI_A advertises on eth0 and holds 198.51.100.10/24 on lan1 (``dev``); VI_B advertises on lan1
from lan1's own address, 198.51.100.1. When that address is deleted, the kernel deletes its secondaries
with it (no promote_secondaries), VI_A puts its VIP back — now lan1's only, primary, address — and VI_B must
not take a floating VIP as its RFC 3768 §5.2.1 source (it would advertise from an address that moves with
another router): it is in FAULT until lan1 has an address of its own again. Every wait is bounded.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.daemons import start_vrrpd, wait_for
from vrrpd.testing.plugin import LabFactory

pytestmark = pytest.mark.netns

OWN = "198.51.100.1"
VIP_LAN1 = "198.51.100.10"


def states(log: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in log.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == "state_change":
                out[event["instance"]] = event["new"]
    return out


def test_a_vip_on_another_instances_interface_is_not_its_source(vrrp_lab: LabFactory) -> None:
    lab = vrrp_lab(nodes=1)
    lab.run("n1", ["ip", "link", "add", "lan1", "type", "veth", "peer", "name", "lan1p"])
    for dev in ("lan1", "lan1p"):
        lab.run("n1", ["ip", "link", "set", dev, "up"])
    lab.run("n1", ["ip", "addr", "add", f"{OWN}/24", "dev", "lan1"])
    text = f"""[global]
router_id = "n1"
control_socket = "{lab.log_dir}/n1.sock"

[[vrrp_instance]]
name = "VI_A"
interface = "eth0"
virtual_router_id = 61
priority = 100
version = 3
advert_int = 0.1
virtual_ipaddress = ["192.0.2.100/24", {{ address = "{VIP_LAN1}/24", dev = "lan1" }}]

[[vrrp_instance]]
name = "VI_B"
interface = "lan1"
virtual_router_id = 62
priority = 100
version = 3
advert_int = 0.1
virtual_ipaddress = ["203.0.113.100/24"]
"""
    proc = start_vrrpd(lab, "n1", text)
    try:
        assert wait_for(lambda: states(proc.log_text()) == {"VI_A": "MASTER", "VI_B": "MASTER"}, 10.0), (
            proc.log_text()
        )
        assert lab.holders(VIP_LAN1) == ["n1"]
        lab.run("n1", ["ip", "addr", "del", f"{OWN}/24", "dev", "lan1"])
        assert wait_for(lambda: states(proc.log_text()).get("VI_B") == "FAULT", 5.0), proc.log_text()
        assert wait_for(lambda: lab.holders(VIP_LAN1) == ["n1"], 5.0)  # VI_A put its VIP back
        time.sleep(0.5)  # VI_B's address follower has seen the restored VIP by now
        assert states(proc.log_text())["VI_B"] == "FAULT", proc.log_text()
        assert f'"source": "{VIP_LAN1}"' not in proc.log_text()
        lab.run("n1", ["ip", "addr", "add", "198.51.100.2/24", "dev", "lan1"])
        assert wait_for(lambda: states(proc.log_text())["VI_B"] == "MASTER", 5.0), proc.log_text()
        assert proc.poll() is None
    finally:
        proc.stop(10.0)
