"""RFC 3768 wire rules checked on a real segment: what two `vrrpd run` daemons put on the bridge.

One lab (n1 the address owner, priority 255; n2 a backup, priority 100), one capture from before either
daemon starts until both have stopped, with a SIGTERM handover from n1 to n2 in the middle, so every rule is
seen from both nodes, as master and as backup:

* every advert either daemon sends: IPv4 protocol 112 (the sniffer decodes nothing else as VRRP), TTL 255,
  to 224.0.0.18 (MAC 01:00:5e:00:00:12), from the sender's primary address and its own MAC (§5.1, §5.2,
  §7.2); a backup sends none;
* ARP for a VIP is answered by the master only, with its physical MAC (§6.4.2, §6.4.3, §8.2 deviation);
* the master accepts packets to the VIP and answers them itself, forwarding nothing; a backup the client is
  pointed at by hand does not accept them (§6.4.2, §6.4.3, §8.4);
* each new master broadcasts a gratuitous ARP request for the VIP from its MAC (§8.2).
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.support.daemons import VIP, adverts, config_text, start_vrrpd, stop_all, wait_holder
from vrrpd.testing.plugin import LabFactory
from vrrpd.testing.sniff import ArpEvent, Event, IcmpEvent

pytestmark = pytest.mark.netns

VRRP_GROUP = "224.0.0.18"
VRRP_GROUP_MAC = "01:00:5e:00:00:12"
BROADCAST = "ff:ff:ff:ff:ff:ff"
VIRTUAL_MAC = "00:00:5e:00:01:33"  # 00-00-5E-00-01-{VRID 51}: not used (deviation, §7.3)


def arp_replies(events: list[Event], since: float, until: float) -> list[ArpEvent]:
    """ARP replies (op 2) announcing the VIP captured in [since, until)."""
    return [
        e
        for e in events
        if isinstance(e, ArpEvent) and e.op == 2 and e.sender_ip == VIP and since <= e.time < until
    ]


def garps(events: list[Event]) -> list[ArpEvent]:
    return [e for e in events if isinstance(e, ArpEvent) and e.gratuitous and e.sender_ip == VIP]


def echo(events: list[Event], reply: bool) -> list[IcmpEvent]:
    """Echo replies from the VIP, or echo requests to it."""
    return [
        e
        for e in events
        if isinstance(e, IcmpEvent) and e.is_request is not reply and (e.src if reply else e.dst) == VIP
    ]


def test_adverts_arp_and_vip_delivery_on_the_wire_from_master_and_backup(vrrp_lab: LabFactory) -> None:
    lab = vrrp_lab(nodes=2, prefix="vwc")
    mac = {n: lab.node_mac(n) for n in ("n1", "n2")}
    ip = {n: lab.ip(n) for n in ("n1", "n2")}
    cap = lab.capture()
    p1 = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=255))
    wait_holder(lab, "n1", timeout=5)
    p2 = start_vrrpd(lab, "n2", config_text(lab, "n2", priority=100))
    time.sleep(1.5)  # n2 settles as backup; n1 keeps advertising

    # n1 master: the client resolves the VIP afresh and reaches it.
    lab.flush_client_arp()
    assert lab.ping(VIP, count=3, timeout=1.0), "the master must accept packets to the VIP (§6.4.3)"
    assert lab.client_arp(VIP) == mac["n1"]
    # Pointed at the backup by hand, the client gets nothing: n2 neither accepts nor forwards them (§6.4.2).
    lab.run("cl", ["ip", "neigh", "replace", VIP, "lladdr", mac["n2"], "dev", "eth0", "nud", "permanent"])
    assert not lab.ping(VIP, count=1, timeout=1.0), "a backup must not accept packets to the VIP"
    lab.run("cl", ["ip", "neigh", "del", VIP, "dev", "eth0"])

    # Handover: n1 sends priority 0 and stops; n2 becomes master.
    p1.send_signal(signal.SIGTERM)
    assert p1.wait(timeout=5) == 0
    wait_holder(lab, "n2", timeout=5)
    lab.flush_client_arp()
    assert lab.ping(VIP, count=3, timeout=1.0), "the new master must accept packets to the VIP"
    assert lab.client_arp(VIP) == mac["n2"]
    time.sleep(1.2)  # a couple of adverts from n2
    stop_all([p2])
    events = cap.stop()

    # --- adverts: §5.1, §5.2.1–5.2.4, §7.2 ------------------------------------------------------------
    sent = adverts(events)
    by = {n: [e for e in sent if e.src_ip == ip[n]] for n in ("n1", "n2")}
    assert by["n1"] and by["n2"], "both daemons advertised while master"
    assert len(sent) == len(by["n1"]) + len(by["n2"]), {e.src_ip for e in sent}  # never the VIP as source
    for n in ("n1", "n2"):
        for adv in by[n]:
            assert (adv.src_mac, adv.dst_ip, adv.dst_mac, adv.ttl) == (
                mac[n],
                VRRP_GROUP,
                VRRP_GROUP_MAC,
                255,
            ), adv
            assert (adv.version, adv.type, adv.advert_int, adv.addresses) == (2, 1, 1, (VIP,)), adv
    zero = [e for e in by["n1"] if e.priority == 0]
    assert len(zero) == 1, "one priority-0 advert at n1's shutdown"
    handover = zero[0].time
    # A backup sends no adverts: n2 only after n1 left, n1 none after its priority 0.
    assert all(e.time > handover for e in by["n2"])
    assert all(e.time <= handover for e in by["n1"])
    assert {e.priority for e in by["n1"]} == {255, 0} and {e.priority for e in by["n2"]} == {100, 0}

    # --- ARP answers: only the master, with its own MAC (§6.4.2, §6.4.3, §8.2) ---------------------
    for n, since, until in (("n1", 0.0, handover), ("n2", handover, float("inf"))):
        replies = arp_replies(events, since, until)
        assert replies, f"{n} answered the client's ARP for the VIP"
        assert {(e.src_mac, e.sender_mac) for e in replies} == {(mac[n], mac[n])}, replies
    assert VIRTUAL_MAC not in {e.sender_mac for e in events if isinstance(e, ArpEvent)}

    # --- packets to the VIP: delivered by the master itself, never forwarded (§6.4.3, §8.4) ----------
    replies_icmp = echo(events, reply=True)
    assert {e.src_mac for e in replies_icmp if e.time < handover} == {mac["n1"]}
    assert {e.src_mac for e in replies_icmp if e.time > handover} == {mac["n2"]}
    requests = echo(events, reply=False)
    assert requests and all(e.src_mac not in mac.values() for e in requests), "no node re-sent a request"
    pinned = [e for e in requests if e.dst_mac == mac["n2"] and e.time < handover]
    assert pinned, "the request pointed at the backup was on the wire"
    assert not [e for e in replies_icmp if e.time < handover and e.src_mac == mac["n2"]]

    # --- gratuitous ARP on becoming master (§8.2) ------------------------------------------------------
    g = garps(events)
    for n, first_advert in (("n1", by["n1"][0].time), ("n2", by["n2"][0].time)):
        mine = [e for e in g if e.sender_mac == mac[n]]
        assert mine, f"{n} broadcast a gratuitous ARP on becoming master"
        assert all(abs(e.time - first_advert) < 0.5 for e in mine[:1])
        for frame in mine:
            assert (frame.dst_mac, frame.src_mac, frame.op, frame.target_ip) == (BROADCAST, mac[n], 1, VIP), (
                frame
            )
    assert all(e.time > handover for e in g if e.sender_mac == mac["n2"]), "no GARP from a backup"
