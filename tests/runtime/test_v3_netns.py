"""`vrrpd run` with `version = 3` between vrrpd daemons in namespaces: election and graceful handover at a
0.1 s interval, over IPv4 multicast, IPv4 unicast (a v3 checksum per peer: it covers the destination) and
IPv6 (ff02::12, link-local source). The handover is measured on the wire against RFC 5798's Skew_Time.
Interop with keepalived is tests/runtime/test_interop_keepalived.py's (issue 16, wire side).
"""

from __future__ import annotations

import itertools
import signal
import sys
import time
from typing import Any

import pytest

from tests.support.daemons import adverts, config_text, start_vrrpd, stop_all, wait_for, wait_holder
from vrrpd.protocol.fsm import skew_time
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory

pytestmark = pytest.mark.netns

SLACK = 0.020
VIP6 = "2001:db8::100"


@pytest.mark.parametrize("mode", ["multicast", "unicast", "ipv6"])
def test_v3_election_and_handover_at_a_tenth_of_a_second(vrrp_lab: LabFactory, mode: str) -> None:
    lab: Lab = vrrp_lab(nodes=2, prefix="v3", ipv6=mode == "ipv6")
    vip = VIP6 if mode == "ipv6" else "192.0.2.100"
    keys: dict[str, Any] = {"version": 3, "advert_int": 0.1}
    if mode == "ipv6":
        keys["virtual_ipaddress"] = [f"{VIP6}/64"]
    procs = []
    for node, priority in (("n1", 150), ("n2", 100)):
        extra = dict(keys)
        if mode == "unicast":
            extra["unicast_peer"] = [lab.ip(other) for other in lab.nodes if other != node]
        procs.append(start_vrrpd(lab, node, config_text(lab, node, priority=priority, **extra)))
    try:
        assert wait_holder(lab, "n1", vip=vip) == "n1"
        cap = lab.capture()
        time.sleep(0.5)
        procs[0].send_signal(signal.SIGTERM)
        assert procs[0].wait(timeout=5) == 0
        wait_holder(lab, "n2", timeout=5, vip=vip)
        time.sleep(0.3)
        events = cap.stop()
    finally:
        stop_all(procs)
    v3 = [e for e in adverts(events) if e.version == 3]
    assert v3, "no VRRPv3 advert captured"
    assert all(e.version == 3 for e in adverts(events)), "a v2 advert on a v3 segment"
    zero = [e for e in v3 if e.priority == 0]
    assert len(zero) == 1, "exactly one priority-0 advert on shutdown (§6.4.3)"
    first_new = next(e for e in v3 if e.priority == 100 and e.time > zero[0].time)
    gap = first_new.time - zero[0].time
    bound = skew_time(100, 0.1, version=3)  # (256 - 100) * 0.1 / 256 = 60.9 ms
    assert bound - 0.005 <= gap <= bound + SLACK, (
        f"handover took {gap * 1000:.1f} ms, bound {bound * 1000:.1f}"
    )
    steady = [e for e in v3 if e.priority == 150]
    assert len(steady) >= 3
    periods = [b.time - a.time for a, b in itertools.pairwise(steady)]
    assert all(0.08 <= p <= 0.12 for p in periods), periods


@pytest.mark.parametrize("family", [4, 6])
def test_accept_mode_off_drops_packets_to_the_vips_but_they_still_resolve(
    vrrp_lab: LabFactory, family: int
) -> None:
    """RFC 5798 §6.4.3: a non-owner master with Accept_Mode off must not accept packets addressed to the
    VIPs; with it on (the default) it does. ARP / Neighbor Discovery for them still work (§6.1)."""
    lab: Lab = vrrp_lab(nodes=2, prefix="v3a", ipv6=family == 6)
    vip = VIP6 if family == 6 else "192.0.2.100"
    keys: dict[str, Any] = {"version": 3, "advert_int": 0.1}
    if family == 6:
        keys["virtual_ipaddress"] = [f"{VIP6}/64"]
    procs = [
        start_vrrpd(lab, "n1", config_text(lab, "n1", priority=150, accept=False, **keys)),
        start_vrrpd(lab, "n2", config_text(lab, "n2", priority=100, **keys)),
    ]
    try:
        assert wait_holder(lab, "n1", vip=vip) == "n1"
        assert wait_for(lambda: not lab.ping(vip, count=1, timeout=0.5), 5.0)  # the filter is in place
        assert not lab.ping(vip, count=3, timeout=0.5)
        if family == 4:
            assert lab.client_arp(vip) == lab.node_mac("n1")  # still resolves to the master
        # Accept_Mode on (n2, the default): once it is master, the VIP answers.
        procs[0].send_signal(signal.SIGTERM)
        assert procs[0].wait(timeout=5) == 0
        wait_holder(lab, "n2", timeout=5, vip=vip)
        assert wait_for(lambda: lab.ping(vip, count=1, timeout=0.5), 5.0)
        # The stopped master's filter went with its VIPs.
        assert "vrrpd_noaccept" not in lab.run("n1", ["nft", "list", "tables"], check=False).stdout
        # A SIGKILLed master leaves it behind; `vrrpd cleanup` removes it with the VIPs.
        procs[0] = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=150, accept=False, **keys), "-2")
        wait_holder(lab, "n1", vip=vip)
        assert wait_for(lambda: "vrrpd_noaccept" in lab.run("n1", ["nft", "list", "tables"]).stdout, 5.0)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=5)
        config = f"{lab.log_dir}/n1-2.toml"
        lab.run("n1", [sys.executable, "-m", "vrrpd", "cleanup", "--config", config])
        assert "vrrpd_noaccept" not in lab.run("n1", ["nft", "list", "tables"], check=False).stdout
    finally:
        stop_all(procs)
