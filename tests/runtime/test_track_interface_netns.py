"""track_interface with a weight (issue 14 item 6), on a real segment against keepalived 2.2.7.

vrrpd (n1, priority 150) tracks a second interface `trk0` of its node with weight -100: while trk0 has
no carrier its priority is 50, below keepalived's 100 (n2), and keepalived preempts; when trk0 is back
vrrpd's 150 preempts keepalived in turn. keepalived's own arithmetic on the other node is what moves the
VIP, so both implementations have to agree on the advertised priorities. Every wait is bounded.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.keepalived import Cluster, packet_complaints, two_node_cluster
from vrrpd.testing.plugin import LabFactory

pytestmark = [pytest.mark.netns, pytest.mark.interop]

VIP = "192.0.2.100"


@pytest.fixture
def cluster(vrrp_lab: LabFactory) -> Iterator[Cluster]:
    with two_node_cluster(vrrp_lab, [VIP]) as c:
        yield c


KEEPALIVED = """global_defs {
    router_id n2
}
vrrp_instance VI_T {
    state BACKUP
    interface eth0
    virtual_router_id 74
    priority 100
    advert_int 1
    garp_master_delay 0
    virtual_ipaddress {
        192.0.2.100/24
    }
}
"""


def test_a_tracked_interface_losing_carrier_lowers_the_priority_below_keepalived(cluster: Cluster) -> None:
    lab = cluster.lab
    lab.run("n1", ["ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1"])
    lab.run("n1", ["ip", "link", "set", "trk0", "up"])
    lab.run("n1", ["ip", "link", "set", "trk1", "up"])
    toml = "\n".join(
        [
            "[global]",
            'router_id = "n1"',
            f'control_socket = "{lab.log_dir}/n1-trk.sock"',
            "",
            "[[vrrp_instance]]",
            'name = "VI_T"',
            'interface = "eth0"',
            "virtual_router_id = 74",
            "priority = 150",
            "garp_master_delay = 0",
            f'virtual_ipaddress = ["{VIP}/24"]',
            'track_interface = [{ name = "trk0", weight = -100 }]',
            "",
        ]
    )
    ours = cluster.vrrpd("n1", text=toml)
    cluster.wait_holder(VIP, "n1", timeout=15.0)
    theirs = cluster.keepalived("n2", text=KEEPALIVED)
    cluster.wait_running(theirs)

    lab.run("n1", ["ip", "link", "set", "trk1", "down"])  # trk0 loses carrier: 150 - 100 = 50 < 100
    cluster.wait_holder(VIP, "n2", timeout=10.0)
    inst = cluster.status(ours)["instances"][0]
    assert inst["state"] == "BACKUP" and inst["priority"] == {"base": 150, "effective": 50}, inst

    lab.run("n1", ["ip", "link", "set", "trk1", "up"])  # back to 150: vrrpd preempts keepalived
    cluster.wait_holder(VIP, "n1", timeout=10.0)
    assert cluster.status(ours)["instances"][0]["priority"]["effective"] == 150
    assert ours.poll() is None and theirs.poll() is None
    assert packet_complaints(theirs) == []
