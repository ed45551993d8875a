"""track_file with a weight (issue 14 item 6) against keepalived 2.2.7: one keepalived.conf, two nodes.

n1 runs keepalived on the file, n2 runs vrrpd on `vrrpd import-keepalived`'s conversion of the same file
(its ``@n1``/``@n2`` lines resolved by node name). Each node tracks its own file with weight -1: writing a
number into a node's file lowers (or, negative, raises) its priority by that much, and the master moves —
once by vrrpd's arithmetic, once by keepalived's, both read from files the kernel tells them changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.keepalived import Cluster, packet_complaints, two_node_cluster
from vrrpd.compat.keepalived.importer import convert
from vrrpd.testing.plugin import LabFactory

pytestmark = [pytest.mark.netns, pytest.mark.interop]

VIP = "192.0.2.111"
# Master_Down_Interval (3 s + skew) after the change, plus a loaded machine.
MOVE = 15.0

CONF = """
track_file tf {
    @n1 file FILES/n1.value
    @n2 file FILES/n2.value
    weight -1
    init_file 0 overwrite
}

vrrp_instance VI_F {
    interface eth0
    virtual_router_id 62
    @n1 priority 100
    @n2 priority 150
    advert_int 1
    virtual_ipaddress {
        VIP/24
    }
    track_file {
        tf
    }
}
"""


@pytest.fixture
def cluster(vrrp_lab: LabFactory) -> Iterator[Cluster]:
    with two_node_cluster(vrrp_lab, [VIP]) as c:
        yield c


def test_a_tracked_file_s_value_moves_the_master_on_both_implementations(cluster: Cluster) -> None:
    files = Path(cluster.lab.log_dir) / "files"
    files.mkdir()
    text = CONF.replace("FILES", str(files)).replace("VIP", VIP)
    conf = files.parent / "keepalived-track-file.conf"
    conf.write_text(text)
    conversion = convert(conf, config_id="n2")
    assert conversion.complete, [str(f) for f in conversion.findings]
    assert "[[vrrp_track_file]]" in conversion.toml

    theirs = cluster.keepalived("n1", text=text)
    ours = cluster.vrrpd("n2", text=conversion.toml)
    cluster.wait_holder(VIP, "n2", timeout=MOVE)  # 150 > 100 (init_file wrote 0 to both files)

    (files / "n2.value").write_text("60\n")  # vrrpd: 150 - 60 = 90 < 100: keepalived preempts
    cluster.wait_holder(VIP, "n1", timeout=MOVE)
    assert cluster.status(ours)["instances"][0]["priority"] == {"base": 150, "effective": 90}

    (files / "n1.value").write_text("30\n")  # keepalived: 100 - 30 = 70 < 90: vrrpd preempts
    cluster.wait_holder(VIP, "n2", timeout=MOVE)

    (files / "n1.value").write_text("-100\n")  # keepalived: 100 + 100 = 200 > 90: keepalived preempts
    cluster.wait_holder(VIP, "n1", timeout=MOVE)
    assert ours.poll() is None and theirs.poll() is None
    assert packet_complaints(theirs) == []


PROCESS_CONF = """
vrrp_track_process tp {
    process sleep PARAM
    weight 30
}

vrrp_instance VI_P {
    interface eth0
    virtual_router_id 63
    @n1 priority 100
    @n2 priority 90
    advert_int 1
    virtual_ipaddress {
        VIP/24
    }
    @n2 track_process {
    @n2     tp
    @n2 }
}
"""


def test_a_tracked_process_moves_the_master_against_keepalived(cluster: Cluster, tmp_path: Path) -> None:
    """vrrpd's node tracks a process with weight 30 (keepalived's proc connector, which its own
    track_process needs, is not served in a network namespace: only the vrrpd node tracks one)."""
    param = f"{4000 + (tmp_path.stat().st_ino % 1000)}.25"  # a command line no other test runs
    text = PROCESS_CONF.replace("PARAM", param).replace("VIP", VIP)
    conf = Path(cluster.lab.log_dir) / "keepalived-track-process.conf"
    conf.write_text(text)
    conversion = convert(conf, config_id="n2")
    assert conversion.complete, [str(f) for f in conversion.findings]
    assert "[[vrrp_track_process]]" in conversion.toml

    theirs = cluster.keepalived("n1", text=text)
    ours = cluster.vrrpd("n2", text=conversion.toml)
    cluster.wait_holder(VIP, "n1", timeout=MOVE)  # no such process: 90 < 100

    sleeper = cluster.spawn("n2", ["sleep", param], log_name="tracked-sleep.log")
    cluster.wait_holder(VIP, "n2", timeout=MOVE)  # 90 + 30 = 120 > 100: vrrpd preempts
    assert cluster.status(ours)["instances"][0]["priority"] == {"base": 90, "effective": 120}

    sleeper.kill()
    cluster.wait_holder(VIP, "n1", timeout=MOVE)  # 90 again: keepalived preempts
    assert ours.poll() is None and theirs.poll() is None
    assert packet_complaints(theirs) == []
