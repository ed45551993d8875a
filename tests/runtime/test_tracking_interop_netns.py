"""Tracked scripts against keepalived 2.2.7 (issue 14 items 1 and 3): one keepalived.conf, two nodes.

n1 runs keepalived on the file, n2 runs vrrpd on `vrrpd import-keepalived`'s conversion of the same file
(its ``@n1``/``@n2`` lines resolved by node name, as keepalived's ``--config-id``). The file tracks a
vrrp_script with arguments (``/usr/bin/test -e FLAG``, no shell) and a positive weight: touching or
removing a node's flag file moves the master, both ways, by keepalived's arithmetic on both daemons.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.keepalived import Cluster, two_node_cluster
from vrrpd.compat.keepalived.importer import convert
from vrrpd.testing.plugin import LabFactory

VIP = "192.0.2.110"
# Master_Down_Interval (3 s + skew) after the change, plus a script interval and a loaded machine.
MOVE = 15.0

CONF = """
vrrp_script chk_up {
    @n1 script "/usr/bin/test -e FLAGS/n1.up"
    @n2 script "/usr/bin/test -e FLAGS/n2.up"
    interval 1
    weight 30
}

vrrp_instance VI_T {
    interface eth0
    virtual_router_id 61
    @n1 priority 100
    @n2 priority 90
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass track
    }
    virtual_ipaddress {
        VIP/24
    }
    track_script {
        chk_up
    }
}
"""


@pytest.fixture
def cluster(vrrp_lab: LabFactory) -> Iterator[Cluster]:
    with two_node_cluster(vrrp_lab, [VIP]) as c:
        yield c


@pytest.mark.netns
def test_weights_move_the_master_between_keepalived_and_vrrpd(cluster: Cluster) -> None:
    flags = Path(cluster.lab.log_dir) / "flags"
    flags.mkdir()
    text = CONF.replace("FLAGS", str(flags)).replace("VIP", VIP)
    conf = flags.parent / "keepalived.conf"
    conf.write_text(text)
    conversion = convert(conf, config_id="n2")
    assert conversion.complete, [str(f) for f in conversion.findings]
    assert '"/usr/bin/test", "-e"' in conversion.toml  # a command with arguments, no shell
    (flags / "n2.up").touch()  # n1 = 100 (flag absent), n2 = 90 + 30 = 120

    cluster.keepalived("n1", text=text)
    cluster.vrrpd("n2", text=conversion.toml)
    cluster.wait_holder(VIP, "n2", timeout=MOVE)

    (flags / "n2.up").unlink()  # n2 = 90 < n1 = 100: keepalived takes over (it preempts)
    cluster.wait_holder(VIP, "n1", timeout=MOVE)

    (flags / "n1.up").touch()  # n1 = 130
    (flags / "n2.up").touch()  # n2 = 120 < 130: keepalived stays master
    (flags / "n1.up").unlink()  # n1 = 100 < 120: vrrpd takes over again
    cluster.wait_holder(VIP, "n2", timeout=MOVE)
