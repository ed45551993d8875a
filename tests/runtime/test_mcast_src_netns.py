"""mcast_src_ip (issue 14) on a real segment against keepalived 2.2.7.

Both nodes run priority 100 with a configured source that reverses the order of their own addresses:
vrrpd on n1 (.11) sends from 192.0.2.50, keepalived on n2 (.12) from 192.0.2.40. Partitioned, both become
master; healed, §6.4.3's tie-break ("the sending address ... greater than the local address") must use the
configured sources on both sides — n1 keeps the VIP (by the interfaces' own addresses n2 would). Then both
sources are deleted from the interfaces: keepalived writes mcast_src_ip into its own IP header and goes on
sending from it, and so must vrrpd, with no FAULT. Every wait is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pytest

from tests.support.daemons import start_vrrpd, wait_for
from tests.support.hostile import daemon_status
from tests.support.keepalived import Cluster, packet_complaints, two_node_cluster
from vrrpd.testing.plugin import LabFactory
from vrrpd.testing.sniff import VrrpEvent

pytestmark = [pytest.mark.netns, pytest.mark.interop]

VIP = "192.0.2.100"
SRC = {"n1": "192.0.2.50", "n2": "192.0.2.40"}
VRID = 61

KEEPALIVED = f"""global_defs {{
    router_id n2
}}
vrrp_instance VI_S {{
    state BACKUP
    interface eth0
    virtual_router_id {VRID}
    priority 100
    advert_int 1
    garp_master_delay 0
    mcast_src_ip {SRC["n2"]}
    virtual_ipaddress {{
        {VIP}/24
    }}
}}
"""


@pytest.fixture
def cluster(vrrp_lab: LabFactory) -> Iterator[Cluster]:
    with two_node_cluster(vrrp_lab, [VIP]) as c:
        yield c


def _sources(events: Sequence[object], after: float = 0.0) -> dict[str, int]:
    """How many adverts of our VRID each source address sent (after `after`, capture clock)."""
    counts: dict[str, int] = {}
    for e in events:
        if isinstance(e, VrrpEvent) and e.vrid == VRID and e.time >= after and e.priority > 0:
            counts[e.src_ip] = counts.get(e.src_ip, 0) + 1
    return counts


def test_the_configured_source_sends_and_breaks_the_tie_on_both_implementations(cluster: Cluster) -> None:
    lab = cluster.lab
    assert lab.ip("n1") < lab.ip("n2") and SRC["n1"] > SRC["n2"]  # the sources reverse the order
    for node in ("n1", "n2"):
        lab.run(node, ["ip", "addr", "add", f"{SRC[node]}/24", "dev", "eth0"])
        lab.partition(node)
    toml = "\n".join(
        [
            "[global]",
            'router_id = "n1"',
            f'control_socket = "{lab.log_dir}/n1-src.sock"',
            "",
            "[[vrrp_instance]]",
            'name = "VI_S"',
            'interface = "eth0"',
            f"virtual_router_id = {VRID}",
            "priority = 100",
            "garp_master_delay = 0",
            f'mcast_src_ip = "{SRC["n1"]}"',
            f'virtual_ipaddress = ["{VIP}/24"]',
            "",
        ]
    )
    ours = cluster.vrrpd("n1", text=toml)
    theirs = cluster.keepalived("n2", text=KEEPALIVED)
    # Alone on their ports, both become master.
    assert wait_for(lambda: set(lab.holders(VIP)) == {"n1", "n2"}, 15.0), lab.holders(VIP)
    cap = lab.capture()
    try:
        for node in ("n1", "n2"):
            lab.heal(node)
        cluster.wait_holder(VIP, "n1", timeout=10.0)
        time.sleep(3.0)  # n2 must stay backup: it heard the greater source
        assert lab.holders(VIP) == ["n1"]
        inst = cluster.status(ours)["instances"][0]
        assert inst["state"] == "MASTER" and inst["faults"] == [], inst

        # The sources go from both interfaces: vrrpd goes on sending from its own, as keepalived does.
        deleted = time.time()  # the capture's clock (kernel timestamps, CLOCK_REALTIME)
        for node in ("n1", "n2"):
            lab.run(node, ["ip", "addr", "del", f"{SRC[node]}/24", "dev", "eth0"])
        time.sleep(3.5)
        assert lab.holders(VIP) == ["n1"]
        inst = cluster.status(ours)["instances"][0]
        assert inst["state"] == "MASTER" and inst["faults"] == [], inst
        # vrrpd steps down (priority 0): keepalived takes over, still sending from its deleted source.
        ours.terminate()
        ours.wait(10.0)
        cluster.wait_holder(VIP, "n2", timeout=10.0)
        time.sleep(2.5)
    finally:
        events = cap.stop()
    assert lab.ip("n1") not in _sources(events) and lab.ip("n2") not in _sources(events), _sources(events)
    after = _sources(events, after=deleted + 0.5)
    assert after.get(SRC["n1"], 0) >= 2 and after.get(SRC["n2"], 0) >= 2, after
    assert theirs.poll() is None
    assert packet_complaints(theirs) == []


def test_an_ipv6_mcast_src_ip_not_on_the_interface_is_a_fault_until_it_is(vrrp_lab: LabFactory) -> None:
    """IPv6: keepalived's sends from a missing source fail (the kernel checks IPV6_PKTINFO's address);
    vrrpd is in FAULT (no_address) instead, and advertises from it once it is added (RFC 5798 §5.1.2.1:
    a link-local one)."""
    lab = vrrp_lab(nodes=1, ipv6=True)
    src, vip = "fe80::99", "2001:db8::100"
    text = "\n".join(
        [
            "[global]",
            'router_id = "n1"',
            f'control_socket = "{lab.log_dir}/n1.sock"',
            "",
            "[[vrrp_instance]]",
            'name = "VI_6"',
            'interface = "eth0"',
            "virtual_router_id = 51",
            "version = 3",
            "priority = 150",
            f'mcast_src_ip = "{src}"',
            f'virtual_ipaddress = ["{vip}/64"]',
            "",
        ]
    )
    proc = start_vrrpd(lab, "n1", text)
    try:

        def instance() -> dict[str, object]:
            status = daemon_status(lab.log_dir / "n1.sock")
            return {} if status is None else dict(status["instances"][0])

        assert wait_for(lambda: instance().get("state") == "FAULT", 10.0), proc.log_text()[-2000:]
        assert "no_address" in str(instance()["faults"])
        assert lab.holders(vip) == []
        cap = lab.capture()
        lab.run("n1", ["ip", "-6", "addr", "add", f"{src}/64", "dev", "eth0"])
        assert wait_for(lambda: lab.holders(vip) == ["n1"], 10.0), instance()
        time.sleep(1.5)
        events = cap.stop()
    finally:
        proc.stop(10.0)
    sources = {e.src_ip for e in events if isinstance(e, VrrpEvent) and e.vrid == 51 and e.priority > 0}
    assert sources == {src}, sources


def test_an_mcast_src_ip_the_interface_lacks_beside_an_instance_on_the_own_address(
    vrrp_lab: LabFactory,
) -> None:
    """Only the second instance sends from anywhere (mcast_src_ip, not an address of the host): the
    socket, bound to the first one's (the primary), is made transparent for it; each keeps its source."""
    lab = vrrp_lab(nodes=1)
    anywhere = "198.51.100.7"
    text = "\n".join(
        [
            "[global]",
            'router_id = "n1"',
            f'control_socket = "{lab.log_dir}/n1-mixed.sock"',
            *(
                f'\n[[vrrp_instance]]\nname = "{name}"\ninterface = "eth0"\nvirtual_router_id = {vrid}\n'
                f'priority = 200\ngarp_master_delay = 0\nvirtual_ipaddress = ["{vip}/24"]\n{extra}'
                for name, vrid, vip, extra in (
                    ("VI_A", 63, "192.0.2.101", ""),
                    ("VI_B", 64, "192.0.2.102", f'mcast_src_ip = "{anywhere}"\n'),
                )
            ),
        ]
    )
    proc = start_vrrpd(lab, "n1", text)
    try:
        assert wait_for(lambda: lab.holders("192.0.2.101") == lab.holders("192.0.2.102") == ["n1"], 10.0), (
            proc.log_text()[-2000:]
        )
        cap = lab.capture()
        time.sleep(2.2)
        events = cap.stop()
    finally:
        proc.stop(10.0)
    sources = {(e.vrid, e.src_ip) for e in events if isinstance(e, VrrpEvent) and e.priority > 0}
    assert sources == {(63, lab.ip("n1")), (64, anywhere)}, sources
