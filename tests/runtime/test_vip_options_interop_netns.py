"""VIPs with keepalived's per-address options (issue 14 item 6) on real segments, against keepalived 2.2.7.

Both nodes read the same keepalived.conf (n1's priority 150, n2's 100); vrrpd runs n1's through
`vrrpd import-keepalived`. Besides the VRRP segment (eth0) each node has a second interface `lan1` on a
second bridge that the client shares, and a local `lan2`. The instance holds

* 192.0.2.100/24 on eth0 (its interface),
* 198.51.100.10/24 ``dev lan1 label lan1:vip scope link`` — another interface, tracked (keepalived
  tracks a VIP's interface unless ``no_track``),
* 203.0.113.10/24 ``dev lan2 no_track`` — another interface, not tracked.

What is held to keepalived: the VIPs are present only on the master, on their own interfaces, and ``ip -o
addr`` shows vrrpd's exactly as keepalived's (label, scope, prefix, broadcast); cutting the master's lan1
faults it and the VIPs move; the client's ARP entry follows the VIP on lan1 (announced there, from lan1's
MAC); lan2 losing carrier faults nobody. Every wait is bounded; daemons and links go with the lab.
"""

from __future__ import annotations

import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemons import wait_for
from tests.support.keepalived import Cluster, packet_complaints, two_node_cluster
from vrrpd.compat.keepalived.importer import convert
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory

pytestmark = [pytest.mark.netns, pytest.mark.interop]

VIP = "192.0.2.100"
VIP_LAN1 = "198.51.100.10"
VIP_LAN2 = "203.0.113.10"
CLIENT_LAN1 = "198.51.100.200"


def keepalived_conf(node: str, priority: int) -> str:
    return f"""global_defs {{
    router_id {node}
}}
vrrp_instance VI_O {{
    state BACKUP
    interface eth0
    virtual_router_id 75
    priority {priority}
    advert_int 1
    garp_master_delay 0
    virtual_ipaddress {{
        {VIP}/24
        {VIP_LAN1}/24 dev lan1 label lan1:vip scope link
        {VIP_LAN2}/24 dev lan2 no_track
    }}
}}
"""


def second_interfaces(lab: Lab) -> None:
    """lan1 on every node and the client, bridged in the switch (br1); lan2 a veth pair inside each node."""
    sw = lab.ns(lab.switch)
    lab.run(
        lab.switch, ["ip", "link", "add", "br1", "type", "bridge", "stp_state", "0", "forward_delay", "0"]
    )
    lab.run(lab.switch, ["ip", "link", "set", "br1", "up"])
    for member in [*lab.nodes, lab.client]:
        port = f"q{member}"
        lab.run(member, ["ip", "link", "add", "lan1", "type", "veth", "peer", "name", port, "netns", sw])
        lab.run(lab.switch, ["ip", "link", "set", port, "master", "br1", "up"])
        lab.run(member, ["ip", "link", "set", "lan1", "up"])
    lab.run(lab.client, ["ip", "addr", "add", f"{CLIENT_LAN1}/24", "dev", "lan1"])
    for node in lab.nodes:
        lab.run(node, ["ip", "link", "add", "lan2", "type", "veth", "peer", "name", "lan2p"])
        lab.run(node, ["ip", "link", "set", "lan2p", "up"])
        lab.run(node, ["ip", "link", "set", "lan2", "up"])


def vip_lines(lab: Lab, node: str, dev: str) -> list[str]:
    """``ip -o addr show dev DEV`` of a node, reduced to what a VIP's options decide: the address, its
    broadcast, scope and label (not the index, nor lifetimes)."""
    out = lab.run(node, ["ip", "-o", "-4", "addr", "show", "dev", dev]).stdout
    lines = []
    for line in out.splitlines():
        words = line.split()[3:]  # "4: lan1    inet" dropped: the address onwards
        kept = " ".join(words).split("\\")[0].strip()  # the "valid_lft ..." part follows a backslash
        lines.append(re.sub(r"\s+", " ", kept))
    return lines


def holders(lab: Lab, ip: str) -> list[str]:
    return lab.holders(ip)


@pytest.fixture
def cluster(vrrp_lab: LabFactory) -> Iterator[Cluster]:
    with two_node_cluster(vrrp_lab, [VIP, VIP_LAN1, VIP_LAN2]) as c:
        second_interfaces(c.lab)
        yield c


def test_vips_on_other_interfaces_with_label_and_scope_as_keepalived(
    cluster: Cluster, tmp_path: Path
) -> None:
    lab = cluster.lab
    conf = tmp_path / "keepalived.conf"
    conf.write_text(keepalived_conf("n1", 150))
    converted = convert(conf)
    assert converted.complete and converted.toml, [str(f) for f in converted.findings]
    assert 'dev = "lan1", label = "lan1:vip", scope = "link"' in converted.toml
    ours = cluster.vrrpd("n1", text=converted.toml)
    cluster.wait_holder(VIP_LAN1, "n1", timeout=15.0)
    assert holders(lab, VIP) == ["n1"] and holders(lab, VIP_LAN2) == ["n1"]
    vrrpd_lan1 = vip_lines(lab, "n1", "lan1")
    assert vrrpd_lan1 == [f"{VIP_LAN1}/24 scope link lan1:vip"], vrrpd_lan1
    vrrpd_lan2 = vip_lines(lab, "n1", "lan2")
    assert vrrpd_lan2 == [f"{VIP_LAN2}/24 scope global lan2"], vrrpd_lan2

    theirs = cluster.keepalived("n2", text=keepalived_conf("n2", 100))
    cluster.wait_running(theirs)
    # The client reaches the VIP on lan1 at n1's lan1 MAC (its ARP entry, which a GARP updates later).
    lab.run(lab.client, ["ping", "-c", "1", "-W", "2", VIP_LAN1])
    assert lab.client_arp(VIP_LAN1) == lab.node_mac("n1", "lan1")
    assert vip_lines(lab, "n2", "lan1") == []  # a backup holds none of them

    # lan2's carrier goes: its VIP is no_track, so nothing happens (keepalived would not fault either).
    lab.run("n1", ["ip", "link", "set", "lan2p", "down"])
    time.sleep(3.5)  # more than a Master_Down_Interval: a fault would have moved the VIPs by now
    assert holders(lab, VIP_LAN1) == ["n1"], "a no_track VIP's interface faulted the instance"
    assert cluster.status(ours)["instances"][0]["state"] == "MASTER"
    lab.run("n1", ["ip", "link", "set", "lan2p", "up"])

    # n1's lan1 loses carrier: keepalived's rule (the VIP's interface is tracked) faults vrrpd; the
    # keepalived on n2 takes every VIP, on the same interfaces, shown by `ip -o addr` as vrrpd's were.
    lab.run(lab.switch, ["ip", "link", "set", "qn1", "down"])
    cluster.wait_holder(VIP_LAN1, "n2", timeout=10.0)
    assert wait_for(lambda: holders(lab, VIP) == ["n2"] and holders(lab, VIP_LAN2) == ["n2"], 5.0)
    assert cluster.status(ours)["instances"][0]["state"] == "FAULT"
    assert vip_lines(lab, "n2", "lan1") == vrrpd_lan1
    assert vip_lines(lab, "n2", "lan2") == vrrpd_lan2
    assert wait_for(lambda: lab.client_arp(VIP_LAN1) == lab.node_mac("n2", "lan1"), 5.0)

    # Back: vrrpd (150) preempts keepalived; the client's entry follows vrrpd's GARP on lan1.
    lab.run(lab.switch, ["ip", "link", "set", "qn1", "up"])
    cluster.wait_holder(VIP_LAN1, "n1", timeout=10.0)
    assert wait_for(lambda: holders(lab, VIP_LAN2) == ["n1"], 5.0)
    assert vip_lines(lab, "n1", "lan1") == vrrpd_lan1
    assert wait_for(lambda: lab.client_arp(VIP_LAN1) == lab.node_mac("n1", "lan1"), 5.0)

    # Deleted behind its back: the tracked VIP is put back on lan1; the no_track one is left deleted.
    lab.run("n1", ["ip", "addr", "del", f"{VIP_LAN1}/24", "dev", "lan1"])
    lab.run("n1", ["ip", "addr", "del", f"{VIP_LAN2}/24", "dev", "lan2"])
    assert wait_for(lambda: vip_lines(lab, "n1", "lan1") == vrrpd_lan1, 5.0)
    time.sleep(1.0)
    assert holders(lab, VIP_LAN2) == [], "a deleted no_track VIP was put back"
    assert ours.poll() is None and theirs.poll() is None
    assert packet_complaints(theirs) == []

    # A SIGKILLed master leaves its VIPs behind, on their own interfaces: `vrrpd cleanup` finds them there.
    ours.send_signal(signal.SIGKILL)
    ours.wait(timeout=5)
    assert vip_lines(lab, "n1", "lan1") == vrrpd_lan1
    config = tmp_path / "n1.toml"
    config.write_text(converted.toml)
    lab.run("n1", [sys.executable, "-m", "vrrpd", "cleanup", "--config", str(config)])
    assert vip_lines(lab, "n1", "lan1") == [] and "n1" not in holders(lab, VIP)
