"""An IPv6 (VRRPv3) instance's VIP on another interface (``dev lan1``), against keepalived 2.2.7.

The IPv6 counterpart of `test_vip_options_interop_netns`: both nodes read the same keepalived.conf (n1's
priority 150, n2's 100), vrrpd runs n1's through `vrrpd import-keepalived`. The instance advertises on
eth0 and holds 2001:db8::100/64 there and 2001:db8:1::10/64 on `lan1`, a second segment the client shares.

What is held to keepalived: the VIP is on lan1 only on the master, and ``ip -o -6 addr`` shows vrrpd's as
keepalived's; the client's neighbour entry follows it (announced by an unsolicited Neighbor Advertisement on
lan1, from lan1's MAC); cutting the master's lan1 faults it (keepalived tracks a VIP's interface) and the
VIP moves, and back. Every wait is bounded; daemons and links go with the lab.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.test_vip_options_interop_netns import second_interfaces
from tests.support.daemons import wait_for
from tests.support.keepalived import Cluster, packet_complaints, two_node_cluster
from vrrpd.compat.keepalived.importer import convert
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory

pytestmark = [pytest.mark.netns, pytest.mark.interop]

VIP = "2001:db8::100"
VIP_LAN1 = "2001:db8:1::10"
CLIENT_LAN1 = "2001:db8:1::200"


def keepalived_conf(node: str, priority: int) -> str:
    return f"""global_defs {{
    router_id {node}
}}
vrrp_instance VI_O6 {{
    state BACKUP
    interface eth0
    virtual_router_id 76
    priority {priority}
    advert_int 1
    garp_master_delay 0
    virtual_ipaddress {{
        {VIP}/64
        {VIP_LAN1}/64 dev lan1
    }}
}}
"""


def vip_lines(lab: Lab, node: str, dev: str) -> list[str]:
    """``ip -o -6 addr show dev DEV`` of a node without its link-local address, reduced to what a VIP's
    options decide (address, scope, flags), not the index nor lifetimes."""
    out = lab.run(node, ["ip", "-o", "-6", "addr", "show", "dev", dev, "scope", "global"]).stdout
    lines = []
    for line in out.splitlines():
        kept = " ".join(line.split()[3:]).split("\\")[0].strip()
        lines.append(re.sub(r"\s+", " ", kept))
    return lines


def client_neigh(lab: Lab) -> str | None:
    return lab.arp(lab.client, VIP_LAN1)


@pytest.fixture
def cluster(vrrp_lab: LabFactory) -> Iterator[Cluster]:
    with two_node_cluster(vrrp_lab, [VIP, VIP_LAN1], ipv6=True) as c:
        second_interfaces(c.lab)
        c.lab.run(c.lab.client, ["ip", "-6", "addr", "add", f"{CLIENT_LAN1}/64", "dev", "lan1", "nodad"])
        yield c


def test_an_ipv6_vip_on_another_interface_as_keepalived(cluster: Cluster, tmp_path: Path) -> None:
    lab = cluster.lab
    conf = tmp_path / "keepalived.conf"
    conf.write_text(keepalived_conf("n1", 150))
    converted = convert(conf)
    assert converted.complete and converted.toml, [str(f) for f in converted.findings]
    assert 'dev = "lan1"' in converted.toml
    ours = cluster.vrrpd("n1", text=converted.toml)
    cluster.wait_holder(VIP_LAN1, "n1", timeout=15.0)
    assert lab.holders(VIP) == ["n1"]
    vrrpd_lan1 = vip_lines(lab, "n1", "lan1")
    assert len(vrrpd_lan1) == 1 and vrrpd_lan1[0].startswith(f"{VIP_LAN1}/64 scope global"), vrrpd_lan1

    theirs = cluster.keepalived("n2", text=keepalived_conf("n2", 100))
    cluster.wait_running(theirs)
    # The client reaches the VIP on lan1 at n1's lan1 MAC (its neighbour entry).
    lab.run(lab.client, ["ping", "-6", "-c", "1", "-W", "2", VIP_LAN1])
    assert client_neigh(lab) == lab.node_mac("n1", "lan1")
    assert vip_lines(lab, "n2", "lan1") == []  # a backup holds none of them

    # n1's lan1 loses carrier: the VIP's interface is tracked, so vrrpd faults and keepalived on n2 takes
    # both VIPs; `ip -o -6 addr` shows keepalived's as vrrpd's was; its NA on lan1 moves the client.
    lab.run(lab.switch, ["ip", "link", "set", "qn1", "down"])
    cluster.wait_holder(VIP_LAN1, "n2", timeout=10.0)
    assert wait_for(lambda: lab.holders(VIP) == ["n2"], 5.0)
    assert cluster.status(ours)["instances"][0]["state"] == "FAULT"
    assert vip_lines(lab, "n2", "lan1") == vrrpd_lan1
    assert wait_for(lambda: client_neigh(lab) == lab.node_mac("n2", "lan1"), 5.0)

    # Back: vrrpd (150) preempts; its unsolicited NA on lan1 moves the client's entry back.
    lab.run(lab.switch, ["ip", "link", "set", "qn1", "up"])
    cluster.wait_holder(VIP_LAN1, "n1", timeout=10.0)
    assert wait_for(lambda: lab.holders(VIP) == ["n1"], 5.0)
    assert vip_lines(lab, "n1", "lan1") == vrrpd_lan1 and vip_lines(lab, "n2", "lan1") == []
    assert wait_for(lambda: client_neigh(lab) == lab.node_mac("n1", "lan1"), 5.0)
    assert ours.poll() is None and theirs.poll() is None
    assert packet_complaints(theirs) == []
