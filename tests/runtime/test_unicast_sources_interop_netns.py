"""Two unicast instances on one interface, each with its own unicast_src_ip, against keepalived 2.2.7.

vrrpd on n1 runs VI_A from its primary address (.11) and VI_B from a second address on the same eth0 (.31);
keepalived on n2 lists exactly those addresses as its peers (`unicast_peer`, with `check_unicast_src`: an
advert from any other source is dropped, "not a unicast peer"). Before the fix both of vrrpd's instances
sent from the first one's source: keepalived dropped VI_B's adverts and became its master too (two
masters). Now the capture shows each VRID's adverts leaving from its own source and keepalived stays
BACKUP for both. A third instance, VI_C, names an address n1 lacks: FAULT (`no_address`) from the start. Then
VI_B's address is deleted: VI_B alone goes FAULT (VI_A is untouched), and leaves it when the address is back.
Every wait is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.daemons import wait_for
from tests.support.keepalived import Cluster, Spec, packet_complaints, two_node_cluster, vrrpd_text
from vrrpd.testing.plugin import LabFactory
from vrrpd.testing.sniff import VrrpEvent

pytestmark = [pytest.mark.netns, pytest.mark.interop]

VIP_A, VIP_B, VIP_C = "192.0.2.101", "192.0.2.102", "192.0.2.103"
SECOND = {"n1": "192.0.2.31", "n2": "192.0.2.32"}  # each node's second address on eth0: VI_B's source


def _keepalived(ours: dict[str, str], theirs: dict[str, str]) -> str:
    blocks = ["global_defs {\n    router_id n2\n}"]
    for name, vrid, vip in (("VI_A", 61, VIP_A), ("VI_B", 62, VIP_B)):
        blocks.append(
            f"""vrrp_instance {name} {{
    state BACKUP
    interface eth0
    virtual_router_id {vrid}
    priority 100
    advert_int 1
    garp_master_delay 0
    unicast_src_ip {theirs[name]}
    unicast_peer {{
        {ours[name]}
    }}
    check_unicast_src
    virtual_ipaddress {{
        {vip}/24 dev eth0
    }}
}}"""
        )
    return "\n".join(blocks) + "\n"


@pytest.fixture
def cluster(vrrp_lab: LabFactory) -> Iterator[Cluster]:
    with two_node_cluster(vrrp_lab, [VIP_A, VIP_B, VIP_C]) as c:
        yield c


def test_each_instance_advertises_from_its_own_unicast_src_ip(cluster: Cluster) -> None:
    lab = cluster.lab
    ours = {"VI_A": lab.ip("n1"), "VI_B": SECOND["n1"]}
    theirs = {"VI_A": lab.ip("n2"), "VI_B": SECOND["n2"]}
    for node in ("n1", "n2"):
        lab.run(node, ["ip", "addr", "add", f"{SECOND[node]}/24", "dev", "eth0"])
    specs = [
        Spec(
            (f"{vip}/24",),
            name=name,
            vrid=vrid,
            priority=200,
            unicast_src_ip=ours[name],
            unicast_peer=(theirs[name],),
        )
        for name, vrid, vip in (("VI_A", 61, VIP_A), ("VI_B", 62, VIP_B))
    ]
    # VI_C's unicast_src_ip is not on the interface at all: FAULT from the start (no bind checks it).
    missing = Spec(
        (f"{VIP_C}/24",), name="VI_C", vrid=63, unicast_src_ip="192.0.2.33", unicast_peer=("192.0.2.34",)
    )
    vrrpd = cluster.vrrpd("n1", text=vrrpd_text(lab, "n1", *specs, missing))

    def held() -> bool:
        return lab.holders(VIP_A) == ["n1"] and lab.holders(VIP_B) == ["n1"]

    assert wait_for(held, 12.0), (lab.holders(VIP_A), lab.holders(VIP_B), vrrpd.log_text()[-1500:])
    # keepalived joins as a backup: it stays one only if it accepts the adverts of both VRIDs (its
    # Master_Down_Interval at priority 100 is 3.6 s).
    cap = lab.capture()
    try:
        keepalived = cluster.keepalived("n2", text=_keepalived(ours, theirs))
        cluster.wait_running(keepalived)
        time.sleep(4.0)
        assert held(), (lab.holders(VIP_A), lab.holders(VIP_B), keepalived.log_text()[-1500:])
    finally:
        events = cap.stop()
    sources = {
        (e.vrid, e.src_ip, e.dst_ip) for e in events if isinstance(e, VrrpEvent) and e.vrid in (61, 62)
    }
    assert sources == {(61, ours["VI_A"], theirs["VI_A"]), (62, ours["VI_B"], theirs["VI_B"])}, sources
    log = keepalived.log_text()
    assert "not a unicast peer" not in log and "Entering MASTER" not in log, log[-2000:]
    assert packet_complaints(keepalived) == []
    sent_from = {i["name"]: i["source"] for i in cluster.status(vrrpd)["instances"]}
    assert sent_from == {**ours, "VI_C": "192.0.2.33"}, sent_from

    # VI_B's source goes: VI_B alone is in FAULT (it may send from no other address), VI_A stays master.
    def states() -> dict[str, tuple[str, list[str]]]:
        return {i["name"]: (i["state"], i["faults"]) for i in cluster.status(vrrpd)["instances"]}

    assert states()["VI_C"] == ("FAULT", ["no_address"]) and VIP_C not in str(lab.addresses("n1"))
    lab.run("n1", ["ip", "addr", "del", f"{SECOND['n1']}/24", "dev", "eth0"])
    assert wait_for(lambda: states()["VI_B"] == ("FAULT", ["no_address"]), 5.0), states()
    assert states()["VI_A"] == ("MASTER", []) and lab.holders(VIP_A) == ["n1"]
    assert VIP_B not in [a.split("/")[0] for a in lab.addresses("n1")]
    lab.run("n1", ["ip", "addr", "add", f"{SECOND['n1']}/24", "dev", "eth0"])
    assert wait_for(lambda: states()["VI_B"][1] == [] and states()["VI_B"][0] != "FAULT", 5.0), states()
    assert vrrpd.poll() is None and keepalived.poll() is None
