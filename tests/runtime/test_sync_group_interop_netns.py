"""vrrp_sync_group on a real segment, with keepalived 2.2.7 on the other node (issue 14 item 7).

Both nodes run the group G of VI_1 (VRID 81) and VI_2 (VRID 82); vrrpd (n1) has the higher priority.
Only VI_1 tracks a script (weight 0) that fails while a flag file exists. When it fails, vrrpd's whole
group goes to FAULT — VI_2 too, though nothing is wrong with it — so keepalived takes both VIPs; when it
passes again, vrrpd takes both back. The group's notify program is called with `GROUP G STATE 0` on both
nodes, as keepalived calls it. Every wait is bounded; the lab is torn down after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemons import wait_for
from tests.support.keepalived import Cluster, packet_complaints, two_node_cluster
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory

pytestmark = [pytest.mark.netns, pytest.mark.interop]

VIP1, VIP2 = "192.0.2.101", "192.0.2.102"


@pytest.fixture
def cluster(vrrp_lab: LabFactory) -> Iterator[Cluster]:
    with two_node_cluster(vrrp_lab, [VIP1, VIP2]) as c:
        yield c


def program(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def vrrpd_text(lab: Lab, check: Path, notify: Path) -> str:
    instances = []
    for name, vrid, vip in (("VI_1", 81, VIP1), ("VI_2", 82, VIP2)):
        instances += [
            "[[vrrp_instance]]",
            f'name = "{name}"',
            'interface = "eth0"',
            f"virtual_router_id = {vrid}",
            "priority = 150",
            "garp_master_delay = 0",
            f'virtual_ipaddress = ["{vip}/24"]',
            *(['track_script = ["chk_flag"]'] if name == "VI_1" else []),
            "",
        ]
    return "\n".join(
        [
            "[global]",
            'router_id = "n1"',
            f'control_socket = "{lab.log_dir}/n1-sync.sock"',
            "",
            "[[vrrp_script]]",
            'name = "chk_flag"',
            f'script = "{check}"',
            "interval = 1",
            "",
            *instances,
            "[[vrrp_sync_group]]",
            'name = "G"',
            'group = ["VI_1", "VI_2"]',
            f'notify = "{notify}"',
            "",
        ]
    )


def keepalived_text(notify: Path) -> str:
    blocks = []
    for name, vrid, vip in (("VI_1", 81, VIP1), ("VI_2", 82, VIP2)):
        blocks += [
            f"vrrp_instance {name} {{",
            "    state BACKUP",
            "    interface eth0",
            f"    virtual_router_id {vrid}",
            "    priority 100",
            "    advert_int 1",
            "    garp_master_delay 0",
            "    virtual_ipaddress {",
            f"        {vip}/24",
            "    }",
            "}",
        ]
    group = [
        "vrrp_sync_group G {",
        "    group {",
        "        VI_1",
        "        VI_2",
        "    }",
        f'    notify "{notify}"',
        "}",
    ]
    return "\n".join(["global_defs {", "    router_id n2", "}", *blocks, *group, ""])


def test_one_failing_member_moves_the_whole_group_to_keepalived_and_back(cluster: Cluster) -> None:
    lab = cluster.lab
    log = Path(lab.log_dir)
    flag = log / "vi1-broken"
    check = program(log / "chk-flag.sh", f"test ! -e {flag}")
    ours_out, theirs_out = log / "group-n1.out", log / "group-n2.out"
    ours_notify = program(log / "notify-n1.sh", f'echo "$@" >> {ours_out}')
    theirs_notify = program(log / "notify-n2.sh", f'echo "$@" >> {theirs_out}')

    def held_by(node: str) -> bool:
        return lab.holders(VIP1) == [node] and lab.holders(VIP2) == [node]

    ours = cluster.vrrpd("n1", text=vrrpd_text(lab, check, ours_notify))
    assert wait_for(lambda: held_by("n1"), 15.0), (
        lab.holders(VIP1),
        lab.holders(VIP2),
        ours.log_text()[-2000:],
    )
    assert wait_for(lambda: lines(ours_out)[-1:] == ["GROUP G MASTER 0"], 5.0), lines(ours_out)
    theirs = cluster.keepalived("n2", text=keepalived_text(theirs_notify))
    cluster.wait_running(theirs)
    assert wait_for(lambda: lines(theirs_out) == ["GROUP G BACKUP 0"], 5.0), lines(theirs_out)

    flag.touch()  # VI_1's check fails on n1: the group goes to FAULT, VI_2 with it
    assert wait_for(lambda: held_by("n2"), 10.0), (lab.holders(VIP1), lab.holders(VIP2))
    assert wait_for(lambda: lines(ours_out)[-1:] == ["GROUP G FAULT 0"], 5.0), lines(ours_out)
    assert wait_for(lambda: lines(theirs_out)[-1:] == ["GROUP G MASTER 0"], 5.0), lines(theirs_out)
    states = {i["name"]: i["state"] for i in cluster.status(ours)["instances"]}
    assert states == {"VI_1": "FAULT", "VI_2": "FAULT"}

    flag.unlink()  # passes again: the group comes back and preempts keepalived as a whole
    assert wait_for(lambda: held_by("n1"), 15.0), (lab.holders(VIP1), lab.holders(VIP2))
    assert wait_for(lambda: lines(ours_out)[-1:] == ["GROUP G MASTER 0"], 5.0), lines(ours_out)
    assert wait_for(lambda: lines(theirs_out)[-1:] == ["GROUP G BACKUP 0"], 5.0), lines(theirs_out)
    assert theirs.poll() is None and ours.poll() is None
    assert packet_complaints(theirs) == []
