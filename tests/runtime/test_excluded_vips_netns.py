"""Excluded VIPs (keepalived's eVIPs) on a real segment, against keepalived.

One instance with one advertised VIP and 300 excluded ones: the vrrpd master installs all 301, keepalived
(same configuration) stays backup because the advertised list matches, takes all 301 over when vrrpd hands
over, and gives them back when vrrpd returns with the higher priority. No address is ever on both nodes
once a transition has settled, and none is left behind by the daemon that stopped.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from tests.support.daemons import toml_value, wait_for
from tests.support.keepalived import Cluster, two_node_cluster
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory

pytestmark = [pytest.mark.netns, pytest.mark.interop]

VIP = "192.0.2.100/24"
EXCLUDED = [f"198.51.100.{i}/32" for i in range(1, 255)] + [f"203.0.113.{i}/32" for i in range(1, 47)]
ALL = {a.split("/")[0] for a in [VIP, *EXCLUDED]}


@pytest.fixture
def cluster(vrrp_lab: LabFactory) -> Iterator[Cluster]:
    with two_node_cluster(vrrp_lab, sorted(ALL), prefix="vex") as c:
        yield c


def vrrpd_text(lab: Lab, node: str, priority: int) -> str:
    keys = {
        "name": "VI_1",
        "interface": "eth0",
        "virtual_router_id": 61,
        "priority": priority,
        "garp_master_delay": 0,
        "virtual_ipaddress": [VIP],
        "virtual_ipaddress_excluded": EXCLUDED,
    }
    head = ["[global]", f'router_id = "{node}"', f'control_socket = "{lab.log_dir}/{node}-ex.sock"', ""]
    body = ["[[vrrp_instance]]", *(f"{k} = {toml_value(v)}" for k, v in keys.items())]
    return "\n".join([*head, *body]) + "\n"


def keepalived_text(node: str, priority: int) -> str:
    return "\n".join(
        [
            "global_defs {",
            f"    router_id {node}",
            "}",
            "vrrp_instance VI_1 {",
            "    state BACKUP",
            "    interface eth0",
            "    virtual_router_id 61",
            f"    priority {priority}",
            "    advert_int 1",
            "    garp_master_delay 0",
            "    virtual_ipaddress {",
            f"        {VIP}",
            "    }",
            "    virtual_ipaddress_excluded {",
            *(f"        {v}" for v in EXCLUDED),
            "    }",
            "}",
            "",
        ]
    )


def held(cluster: Cluster, node: str) -> set[str]:
    return {a.split("/")[0] for a in cluster.lab.addresses(node)} & ALL


def settled(cluster: Cluster, master: str, backup: str, timeout: float) -> bool:
    return wait_for(lambda: held(cluster, master) == ALL and not held(cluster, backup), timeout)


def test_excluded_vips_follow_the_election_with_keepalived(cluster: Cluster) -> None:
    lab = cluster.lab
    ours = cluster.vrrpd("n1", text=vrrpd_text(lab, "n1", 150))
    theirs = cluster.keepalived("n2", text=keepalived_text("n2", 100))
    assert settled(cluster, "n1", "n2", timeout=15.0), (len(held(cluster, "n1")), len(held(cluster, "n2")))
    # keepalived accepts adverts carrying the advertised address only: it stays backup past its
    # Master_Down_Interval (3.6 s) instead of taking the addresses too.
    assert not wait_for(lambda: bool(held(cluster, "n2")), timeout=4.5)
    inst = cluster.status(ours)["instances"][0]
    assert inst["state"] == "MASTER" and len(inst["vips_held"]) == 301
    assert inst["vips_excluded"] == EXCLUDED

    ours.send_signal(signal.SIGTERM)
    assert ours.wait(timeout=15.0) == 0
    assert settled(cluster, "n2", "n1", timeout=10.0), (len(held(cluster, "n1")), len(held(cluster, "n2")))

    back = cluster.vrrpd("n1", text=vrrpd_text(lab, "n1", 150))
    assert settled(cluster, "n1", "n2", timeout=15.0), (len(held(cluster, "n1")), len(held(cluster, "n2")))
    assert back.poll() is None and theirs.poll() is None
