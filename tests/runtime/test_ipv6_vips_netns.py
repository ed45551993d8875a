"""An IPv6 (VRRPv3) master's VIPs on a real interface: added without duplicate address detection, put back
when deleted by hand, announced with unsolicited Neighbor Advertisements, and untouched when the
interface loses its IPv4 address (an IPv6 router advertises from its link-local address).

One node of a `Lab(ipv6=True)`, vrrpd as the address owner (priority 255: MASTER at once). Every wait is
bounded; the lab is always torn down.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.support.daemons import wait_for
from tests.support.keepalived import Cluster, Spec, json_events
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory
from vrrpd.testing.sniff import NaEvent

pytestmark = pytest.mark.netns

VIP = "2001:db8::100"
SPEC = Spec(vips=(f"{VIP}/64",), name="VI_6", vrid=71, priority=255, advert_int=0.1, version=3)


@pytest.fixture
def cluster(vrrp_lab: LabFactory) -> Iterator[Cluster]:
    c = Cluster(vrrp_lab(nodes=1, ipv6=True), [VIP])
    try:
        yield c
    finally:
        c.close()


def vip_flags(lab: Lab) -> dict[str, object] | None:
    out = lab.run("n1", ["ip", "-j", "-6", "addr", "show", "dev", "eth0"]).stdout
    for info in json.loads(out)[0]["addr_info"]:
        if info.get("local") == VIP:
            return dict(info)
    return None


def test_ipv6_vip_is_nodad_restored_and_announced(cluster: Cluster) -> None:
    lab = cluster.lab
    cap = lab.capture()
    proc = cluster.vrrpd("n1", SPEC)
    assert wait_for(lambda: lab.holders(VIP) == ["n1"], 10), lab.addresses6("n1")
    (iface,) = cluster.status(proc)["interfaces"]
    assert iface["source6"] == "fe80::ff:fe00:1"  # the link-local address of the lab's n1
    flags = vip_flags(lab)
    assert flags is not None and flags.get("nodad") is True and not flags.get("tentative"), flags

    # Someone deletes the VIP: the master puts it back (RFC 5798 §6.4.3: it must keep answering for it).
    t_del = time.time()
    lab.run("n1", ["ip", "-6", "addr", "del", f"{VIP}/64", "dev", "eth0"])
    assert wait_for(lambda: lab.holders(VIP) == ["n1"] and bool(json_events(proc, "vip_restored")), 5)

    # The interface loses its IPv4 address: the IPv6 router does not care (no FAULT, VIP kept).
    lab.run("n1", ["ip", "-4", "addr", "flush", "dev", "eth0"])
    time.sleep(0.5)
    assert lab.holders(VIP) == ["n1"]
    changes = [e for e in json_events(proc, "state_change") if e.get("instance") == "VI_6"]
    assert [e["new"] for e in changes] == ["MASTER"], changes

    time.sleep(0.2)
    events = cap.stop()
    nas = [e for e in events if isinstance(e, NaEvent) and e.target == VIP]
    mac = lab.node_mac("n1")
    # Announced on becoming master and again after the restore: Override set, to all nodes, hop limit 255.
    assert any(e.time < t_del for e in nas) and any(e.time > t_del for e in nas), nas
    for e in nas:
        assert (e.override, e.solicited, e.hop_limit, e.dst, e.lladdr) == (True, False, 255, "ff02::1", mac)
        assert e.src == VIP
