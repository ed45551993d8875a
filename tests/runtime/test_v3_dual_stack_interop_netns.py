"""VRRPv3 over IPv6 beside keepalived 2.2.7 (issue 16): an IPv4 and an IPv6 virtual router with one VRID on
one interface (RFC 5798 §1: separate routers), and `use_vmac` for IPv6 — the macvlan with RFC 5798 §7.3's
IPv6 virtual MAC 00-00-5E-00-02-{VRID}, whose Neighbor Advertisements point the client's neighbour entry
for the VIP at the virtual MAC whichever implementation is master.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from tests.support.daemons import toml_value, wait_for
from tests.support.keepalived import Cluster, Spec, keepalived_text, packet_complaints, two_node_cluster
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory

pytestmark = [pytest.mark.netns, pytest.mark.interop]

VIP4 = "192.0.2.100"
VIP6 = "2001:db8::100"
VRID = 74
VMAC6 = "00:00:5e:00:02:4a"  # 74 = 0x4a
VMAC_IF = f"vrrp.{VRID}"


@pytest.fixture
def cluster(vrrp_lab: LabFactory) -> Iterator[Cluster]:
    with two_node_cluster(vrrp_lab, [VIP4, VIP6], ipv6=True) as c:
        try:
            yield c
        finally:
            c.close()
            for node in c.lab.nodes:  # a killed daemon would leave its macvlan behind
                c.lab.run(node, ["ip", "link", "del", VMAC_IF], check=False)


def _hold(lab: Lab, expected: dict[str, list[str]], timeout: float = 15.0) -> None:
    ok = wait_for(lambda: all(lab.holders(v) == n for v, n in expected.items()), timeout)
    assert ok, {v: lab.holders(v) for v in expected}


def test_one_vrid_for_ipv4_and_ipv6_elects_each_family_apart(cluster: Cluster) -> None:
    """vrrpd wins the IPv4 router of VRID 51, keepalived the IPv6 one; stopping keepalived leaves vrrpd
    both, and neither implementation complains about the other family's adverts."""
    lab = cluster.lab
    v4 = Spec(vips=(f"{VIP4}/24",), name="VI_4", version=3)
    v6 = Spec(vips=(f"{VIP6}/64",), name="VI_6", version=3)
    ours = cluster.vrrpd("n1", replace(v4, priority=150), v6)
    theirs = cluster.keepalived("n2", text=keepalived_text("n2", v4, replace(v6, priority=150)))
    _hold(lab, {VIP4: ["n1"], VIP6: ["n2"]})
    assert ours.poll() is None and theirs.poll() is None
    assert packet_complaints(theirs) == []
    theirs.send_signal(signal.SIGTERM)
    theirs.wait(timeout=15.0)
    _hold(lab, {VIP4: ["n1"], VIP6: ["n1"]})
    assert ours.poll() is None


def _vrrpd_vmac(lab: Lab, node: str, priority: int) -> str:
    keys: dict[str, Any] = {
        "name": "VI_M6",
        "interface": "eth0",
        "virtual_router_id": VRID,
        "version": 3,
        "priority": priority,
        "garp_master_delay": 0,
        "virtual_ipaddress": [f"{VIP6}/64"],
        "use_vmac": True,
    }
    head = ["[global]", f'router_id = "{node}"', f'control_socket = "{lab.log_dir}/{node}-vmac6.sock"', ""]
    body = [f"{k} = {toml_value(v)}" for k, v in keys.items()]
    return "\n".join([*head, "[[vrrp_instance]]", *body]) + "\n"


KEEPALIVED_VMAC6 = f"""global_defs {{
    router_id n2
}}
vrrp_instance VI_M6 {{
    state BACKUP
    interface eth0
    virtual_router_id {VRID}
    version 3
    priority 100
    advert_int 1
    garp_master_delay 0
    use_vmac
    virtual_ipaddress {{
        {VIP6}/64
    }}
}}
"""


def _link(lab: Lab, node: str) -> dict[str, Any] | None:
    out = lab.run(node, ["ip", "-j", "-d", "addr", "show", "dev", VMAC_IF], check=False)
    if out.returncode != 0:
        return None
    (link,) = json.loads(out.stdout)
    return link  # type: ignore[no-any-return]


def _holds_on_vmac(lab: Lab, node: str) -> bool:
    link = _link(lab, node)
    return link is not None and any(a.get("local") == VIP6 for a in link.get("addr_info", []))


def _client_sees(lab: Lab) -> str | None:
    """The client's neighbour entry for the VIP after a ping (None if it cannot reach it)."""
    lab.run(lab.client, ["ping", "-6", "-c", "1", "-W", "1", VIP6], check=False)
    out = lab.run(lab.client, ["ip", "-6", "-j", "neigh", "show", VIP6]).stdout
    entries = [e for e in json.loads(out or "[]") if e.get("lladdr")]
    return entries[0]["lladdr"] if entries else None


def _link_locals(lab: Lab, node: str, dev: str) -> list[str]:
    out = lab.run(node, ["ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "link"]).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines()]


def test_ipv6_use_vmac_answers_from_the_ipv6_virtual_mac_whichever_implementation_is_master(
    cluster: Cluster,
) -> None:
    lab = cluster.lab
    ours = cluster.vrrpd("n1", text=_vrrpd_vmac(lab, "n1", 150))
    assert wait_for(lambda: _holds_on_vmac(lab, "n1"), 15.0), ours.log_text()[-2000:]
    link = _link(lab, "n1")
    assert link is not None and link["address"] == VMAC6, link
    assert link["linkinfo"]["info_kind"] == "macvlan"
    # Its one link-local address is eth0's (keepalived's choice): no address derived from the virtual MAC,
    # which every node of the VRID would share (RFC 5798 §7.4).
    assert _link_locals(lab, "n1", VMAC_IF) == _link_locals(lab, "n1", "eth0")
    assert wait_for(lambda: _client_sees(lab) == VMAC6, 5.0), _client_sees(lab)

    theirs = cluster.keepalived("n2", text=KEEPALIVED_VMAC6)
    cluster.wait_running(theirs)
    assert not wait_for(lambda: _holds_on_vmac(lab, "n2"), 4.5)  # keepalived stays backup
    lab.run(lab.client, ["ip", "-6", "neigh", "flush", "all"], check=False)
    ours.send_signal(signal.SIGTERM)
    assert ours.wait(timeout=15.0) == 0
    assert _link(lab, "n1") is None  # vrrpd removed its macvlan
    assert wait_for(lambda: _holds_on_vmac(lab, "n2"), 10.0)
    assert wait_for(lambda: _client_sees(lab) == VMAC6, 5.0), _client_sees(lab)

    # vrrpd back with the higher priority: it preempts, and its unsolicited NA keeps the client on VMAC6.
    back = cluster.vrrpd("n1", text=_vrrpd_vmac(lab, "n1", 150))
    assert wait_for(lambda: _holds_on_vmac(lab, "n1") and not _holds_on_vmac(lab, "n2"), 15.0)
    assert wait_for(lambda: _client_sees(lab) == VMAC6, 5.0), _client_sees(lab)
    assert back.poll() is None and theirs.poll() is None
    assert packet_complaints(theirs) == []
