"""use_vmac (RFC 3768 §7.3 virtual MAC) on a real segment, with keepalived 2.2.7 on the other node.

Both nodes run VRID 73 with `use_vmac`: the master holds the VIP on a macvlan `vrrp.73` whose MAC is
00-00-5E-00-01-49, and its adverts and gratuitous ARPs leave from that MAC. The client's ARP entry for
the VIP is the virtual MAC whichever implementation is master, so a failover changes nothing in it:
vrrpd master, then keepalived (vrrpd stopped: its macvlan is gone), then vrrpd again (preempting).
Every wait is bounded; daemons are stopped and the lab torn down after the test.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemons import toml_value, wait_for
from tests.support.keepalived import (
    Cluster,
    packet_complaints,
    pcap_capture,
    stop,
    two_node_cluster,
)
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory

pytestmark = [pytest.mark.netns, pytest.mark.interop]

VIP = "192.0.2.100"
VRID = 73
VMAC = "00:00:5e:00:01:49"  # 73 = 0x49
VMAC_IF = f"vrrp.{VRID}"


@pytest.fixture
def cluster(vrrp_lab: LabFactory) -> Iterator[Cluster]:
    with two_node_cluster(vrrp_lab, [VIP]) as c:
        try:
            yield c
        finally:
            c.close()  # the daemons stop first (closing again on the way out is harmless)
            for node in c.lab.nodes:  # a killed daemon would leave its macvlan behind
                c.lab.run(node, ["ip", "link", "del", VMAC_IF], check=False)


def vrrpd_text(lab: Lab, node: str, **extra: Any) -> str:
    keys = {
        "name": "VI_M",
        "interface": "eth0",
        "virtual_router_id": VRID,
        "priority": 150,
        "garp_master_delay": 0,
        "virtual_ipaddress": [f"{VIP}/24"],
        "use_vmac": True,
    } | extra
    head = ["[global]", f'router_id = "{node}"', f'control_socket = "{lab.log_dir}/{node}-vmac.sock"', ""]
    return (
        "\n".join([*head, "[[vrrp_instance]]", *(f"{k} = {toml_value(v)}" for k, v in keys.items())]) + "\n"
    )


KEEPALIVED = """global_defs {
    router_id n2
}
vrrp_instance VI_M {
    state BACKUP
    interface eth0
    virtual_router_id 73
    priority 100
    advert_int 1
    garp_master_delay 0
    use_vmac
    virtual_ipaddress {
        192.0.2.100/24
    }
}
"""


def link_of(lab: Lab, node: str) -> dict[str, Any] | None:
    out = lab.run(node, ["ip", "-j", "-d", "addr", "show", "dev", VMAC_IF], check=False)
    if out.returncode != 0:
        return None
    (link,) = json.loads(out.stdout)
    return link  # type: ignore[no-any-return]


def holds_on_vmac(lab: Lab, node: str) -> bool:
    link = link_of(lab, node)
    return link is not None and any(a.get("local") == VIP for a in link.get("addr_info", []))


def client_sees(lab: Lab) -> str | None:
    """The client's ARP entry for the VIP after a ping (None if it cannot reach it)."""
    lab.run(lab.client, ["ping", "-c", "1", "-W", "1", VIP], check=False)
    out = lab.run(lab.client, ["ip", "-j", "neigh", "show", VIP]).stdout
    entries = [e for e in json.loads(out or "[]") if e.get("lladdr")]
    return entries[0]["lladdr"] if entries else None


def test_the_vip_answers_from_the_virtual_mac_whichever_implementation_is_master(
    cluster: Cluster, tmp_path: Path
) -> None:
    lab = cluster.lab
    capture = pcap_capture(cluster, tmp_path / "vmac.pcap")
    ours = cluster.vrrpd("n1", text=vrrpd_text(lab, "n1"))
    assert wait_for(lambda: holds_on_vmac(lab, "n1"), 15.0), ours.log_text()[-2000:]
    link = link_of(lab, "n1")
    assert link is not None
    assert link["address"] == VMAC
    assert link["linkinfo"]["info_kind"] == "macvlan"
    assert link["linkinfo"]["info_data"]["mode"] == "private"
    assert lab.holders(VIP) == ["n1"]
    # The node's own interface must not answer ARP for the VIP with its own MAC.
    assert lab.run("n1", ["sysctl", "-n", "net.ipv4.conf.eth0.arp_ignore"]).stdout.strip() == "1"
    assert lab.run("n1", ["sysctl", "-n", "net.ipv4.conf.eth0.arp_announce"]).stdout.strip() == "2"
    assert wait_for(lambda: client_sees(lab) == VMAC, 5.0), client_sees(lab)

    # keepalived leaves arp_announce alone: a reply from the VIP then asks "tell <VIP>" from eth0's own MAC
    # and the client's cache loses the virtual MAC (vrrpd sets it on the interface below its macvlan).
    lab.run("n2", ["sysctl", "-qw", "net.ipv4.conf.eth0.arp_announce=2"])
    theirs = cluster.keepalived("n2", text=KEEPALIVED)
    cluster.wait_running(theirs)
    assert not wait_for(lambda: holds_on_vmac(lab, "n2"), 4.5)  # keepalived stays backup

    ours.send_signal(signal.SIGTERM)
    assert ours.wait(timeout=15.0) == 0
    assert link_of(lab, "n1") is None  # vrrpd removed its macvlan
    assert lab.run("n1", ["sysctl", "-n", "net.ipv4.conf.eth0.arp_ignore"]).stdout.strip() == "0"
    assert wait_for(lambda: holds_on_vmac(lab, "n2"), 10.0)
    assert wait_for(lambda: client_sees(lab) == VMAC, 5.0), client_sees(lab)

    back = cluster.vrrpd("n1", text=vrrpd_text(lab, "n1"))
    assert wait_for(lambda: holds_on_vmac(lab, "n1") and not holds_on_vmac(lab, "n2"), 15.0)
    assert wait_for(lambda: client_sees(lab) == VMAC, 5.0), client_sees(lab)
    assert back.poll() is None and theirs.poll() is None
    assert packet_complaints(theirs) == []

    stop([capture])
    # Every advert of VRID 73 on the wire, vrrpd's and keepalived's, left from the virtual MAC.
    out = lab.run(
        lab.switch,
        [
            "tshark",
            "-r",
            str(tmp_path / "vmac.pcap"),
            "-n",
            "-Y",
            f"vrrp.virt_rtr_id == {VRID}",
            "-T",
            "fields",
            "-e",
            "eth.src",
            "-e",
            "ip.src",
        ],
        timeout=60,
    ).stdout.split("\n")
    sources = {tuple(line.split("\t")) for line in out if line}
    assert sources == {(VMAC, "192.0.2.11"), (VMAC, "192.0.2.12")}, sources


def test_vmac_xmit_base_sends_adverts_from_the_interface_and_answers_arp_from_the_virtual_mac(
    cluster: Cluster, tmp_path: Path
) -> None:
    """With vmac_xmit_base (as keepalived's): adverts leave eth0 with its own MAC, the VIP still lives on the
    macvlan and the client's ARP entry is the virtual MAC; keepalived (same settings) stays backup."""
    lab = cluster.lab
    capture = pcap_capture(cluster, tmp_path / "xmit.pcap")
    ours = cluster.vrrpd("n1", text=vrrpd_text(lab, "n1", vmac_xmit_base=True))
    assert wait_for(lambda: holds_on_vmac(lab, "n1"), 15.0), ours.log_text()[-2000:]
    assert wait_for(lambda: client_sees(lab) == VMAC, 5.0), client_sees(lab)
    lab.run("n2", ["sysctl", "-qw", "net.ipv4.conf.eth0.arp_announce=2"])
    theirs = cluster.keepalived(
        "n2", text=KEEPALIVED.replace("    use_vmac\n", "    use_vmac\n    vmac_xmit_base\n")
    )
    cluster.wait_running(theirs)
    assert not wait_for(lambda: holds_on_vmac(lab, "n2"), 4.5)  # keepalived hears vrrpd on eth0: backup
    assert packet_complaints(theirs) == []
    stop([capture])
    out = lab.run(
        lab.switch,
        [
            "tshark",
            "-r",
            str(tmp_path / "xmit.pcap"),
            "-n",
            "-Y",
            f"vrrp.virt_rtr_id == {VRID}",
            "-T",
            "fields",
            "-e",
            "eth.src",
            "-e",
            "ip.src",
        ],
        timeout=60,
    ).stdout.split("\n")
    sources = {tuple(line.split("\t")) for line in out if line}
    n1_mac = json.loads(lab.run("n1", ["ip", "-j", "link", "show", "eth0"]).stdout)[0]["address"]
    assert sources == {(n1_mac, "192.0.2.11")}, sources


@pytest.mark.parametrize("impl", ["vrrpd", "keepalived"])
def test_a_deleted_virtual_mac_interface_is_created_again_and_the_vip_comes_back(
    cluster: Cluster, impl: str
) -> None:
    """Someone deletes the master's macvlan (the VIP goes with it): keepalived creates it again at once
    ("Success creating VMAC interface"), re-elects and puts the VIP back; vrrpd must do the same rather
    than stay in FAULT with the VIP lost. Run against both on the same single node."""
    lab = cluster.lab
    if impl == "vrrpd":
        proc = cluster.vrrpd("n1", text=vrrpd_text(lab, "n1"))
    else:
        # keepalived leaves arp_announce alone (see the first test): set as vrrpd sets it.
        lab.run("n1", ["sysctl", "-qw", "net.ipv4.conf.eth0.arp_announce=2"])
        proc = cluster.keepalived("n1", text=KEEPALIVED.replace("priority 100", "priority 150"))
    assert wait_for(lambda: holds_on_vmac(lab, "n1"), 15.0), proc.log_text()[-2000:]
    first = link_of(lab, "n1")
    assert first is not None
    lab.run("n1", ["ip", "link", "del", VMAC_IF])
    # Back within a Master_Down_Interval or so (3 × 1 s + skew) after the new macvlan is up.
    assert wait_for(lambda: holds_on_vmac(lab, "n1"), 8.0), proc.log_text()[-3000:]
    again = link_of(lab, "n1")
    assert again is not None and again["ifindex"] != first["ifindex"]  # a new macvlan, not the old one
    assert again["address"] == VMAC and again["linkinfo"]["info_data"]["mode"] == "private"
    assert lab.holders(VIP) == ["n1"]
    assert wait_for(lambda: client_sees(lab) == VMAC, 5.0), client_sees(lab)
    assert proc.poll() is None
