"""The IPv6 adapters on a real segment: the VRRPv3 socket (ff02::12, MLD, hop limit, link-local source,
kernel checksum, rebuilt header), unsolicited Neighbor Advertisements, and IPv6 VIPs through netlink.

A two-node `Lab(ipv6=True)`; the async side runs in tests/kernel/_io6_helper.py under `ip netns exec`,
one process per namespace, printing JSON lines; every read here is bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

import pytest

from tests.support.scenario import STEP, Helper
from vrrpd.protocol.packet import internet_checksum
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory

pytestmark = pytest.mark.netns

HELPER = Path(__file__).with_name("_io6_helper.py")
ROOT = str(Path(__file__).resolve().parents[2])
# A VRRPv3 advert with a zero checksum: VRID 52, priority 100, 1 s (100 cs), one address.
PAYLOAD = "3134640100640000" + IPv6Address("2001:db8::100").packed.hex()
VIP = "2001:db8::100"


@contextmanager
def helper(lab: Lab, node: str, *args: str) -> Iterator[Helper]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab.ns(node), sys.executable, str(HELPER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    h = Helper(proc)
    try:
        yield h
    finally:
        h.close()


def run_helper(lab: Lab, node: str, *args: str) -> dict[str, Any]:
    with helper(lab, node, *args) as h:
        return h.line(STEP + 5)


@pytest.fixture
def lab(vrrp_lab: LabFactory) -> Lab:
    return vrrp_lab(nodes=2, ipv6=True)


def link_local(lab: Lab, node: str) -> str:
    out = lab.run(node, ["ip", "-j", "-6", "addr", "show", "dev", "eth0"]).stdout
    (address,) = [a["local"] for a in json.loads(out)[0]["addr_info"] if a.get("scope") == "link"]
    return str(address)


def pseudo_header_sum_is_zero(datagram: bytes) -> bool:
    """The VRRP checksum verifies over the IPv6 pseudo-header (RFC 5798 §5.2.8, RFC 8200 §8.1)."""
    payload = datagram[40:]
    pseudo = datagram[8:40] + len(payload).to_bytes(4, "big") + bytes(3) + bytes([112])
    return internet_checksum(pseudo + payload) == 0


# --- the VRRPv3 socket ---------------------------------------------------------------------------


def test_adverts_carry_rfc5798_header_and_do_not_loop(lab: Lab) -> None:
    n1_ll, n2_ll = link_local(lab, "n1"), link_local(lab, "n2")
    with helper(lab, "n2", "recv6", "eth0", "--count", "3") as rx:
        assert rx.line()["ready"] is True
        # To the group, to n2's global address, to n2's link-local address; then the default (the group).
        sent = run_helper(lab, "n1", "send6", "eth0", PAYLOAD, "ff02::12", lab.ip6("n2"), n2_ll)
        assert sent["sent"] == 4
        assert sent["own_received"] == 0  # IPV6_MULTICAST_LOOP off
        assert sent["src"] == n1_ll
        got = [rx.line() for _ in range(3)]
    for msg, dst in zip(got, ("ff02::12", lab.ip6("n2"), n2_ll), strict=True):
        datagram = bytes.fromhex(msg["datagram"])
        assert msg["from_addr"] == n1_ll
        assert datagram[0] >> 4 == 6
        assert int.from_bytes(datagram[4:6], "big") == len(PAYLOAD) // 2
        assert datagram[6] == 112
        assert datagram[7] == 255  # RFC 5798 §5.1.2.3: hop limit 255
        assert IPv6Address(datagram[8:24]) == IPv6Address(n1_ll)  # §5.1.2.1: the link-local address
        assert IPv6Address(datagram[24:40]) == IPv6Address(dst)
        # The kernel wrote the checksum (IPV6_CHECKSUM): it was zero when sent, and it verifies.
        body = datagram[40:]
        assert body[:6] + body[8:] == bytes.fromhex(PAYLOAD)[:6] + bytes.fromhex(PAYLOAD)[8:]
        assert body[6:8] != b"\x00\x00"
        assert pseudo_header_sum_is_zero(datagram)


def test_membership_of_ff02_12_is_announced_with_mld(lab: Lab) -> None:
    with helper(lab, "n2", "--timeout", "6", "mld-sniff", "eth0", "--count", "10") as sniff:
        assert sniff.line()["ready"] is True
        assert run_helper(lab, "n1", "join-leave", "eth0", "--hold", "0.3") == {"done": True}
        ours = sniff.line(STEP + 6)["records"]
    n1_ll = link_local(lab, "n1")
    records = ours
    # MLDv2 (RFC 3810 §5.2.12): CHANGE_TO_EXCLUDE (4) on join, CHANGE_TO_INCLUDE (3) on leave.
    assert [r[0] for r in ours][:1] == [4], records
    assert 3 in [r[0] for r in ours], records
    assert all(r[2] == n1_ll and r[3] == 1 for r in ours)  # from the link-local address, hop limit 1


# --- unsolicited Neighbor Advertisement ----------------------------------------------------------


def test_unsolicited_na_overrides_the_neighbour_entry(lab: Lab) -> None:
    stale = "02:00:00:00:00:99"
    lab.run("n2", ["ip", "-6", "neigh", "replace", VIP, "lladdr", stale, "dev", "eth0", "nud", "stale"])
    assert lab.arp("n2", VIP) == stale
    out = run_helper(lab, "n1", "na-send", "eth0", VIP, "--count", "2")
    assert out["mac"] == lab.node_mac("n1")

    def moved() -> bool:
        return lab.arp("n2", VIP) == str(out["mac"])

    assert _wait(moved, 3.0), lab.arp("n2", VIP)


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


# --- IPv6 VIPs through netlink -------------------------------------------------------------------


def test_ipv6_vips_are_added_without_dad_and_removed(lab: Lab) -> None:
    vips = [f"{VIP}/64", "2001:db8::101/128", "2001:db8::102/64"]
    with helper(lab, "n1", "netlink6", "eth0", *vips) as h:
        first = h.line(STEP + 5)
        assert first["link"]["link_local"] == link_local(lab, "n1")
        assert first["added"] == [True, False]  # EEXIST the second time: not an error
        assert vips[0] in first["listed"]
        assert ["AddressAdded", vips[0]] in first["events"]
        assert first["batch_added"] == {vips[1]: 0, vips[2]: 0}
        out = lab.run("n1", ["ip", "-j", "-6", "addr", "show", "dev", "eth0"]).stdout
        infos = {f"{a['local']}/{a['prefixlen']}": a for a in json.loads(out)[0]["addr_info"]}
        for vip in vips:
            assert infos[vip].get("nodad") is True, infos[vip]  # IFA_F_NODAD, both paths
            assert not infos[vip].get("tentative"), infos[vip]
        h.tell()
        second = h.line(STEP + 5)
    assert second["removed"] == [True, False]
    assert second["batch_removed"] == {vips[1]: 0, vips[2]: 0}
    assert lab.addresses6("n1") == [f"{lab.ip6('n1')}/64"]


def test_socket_opens_while_the_link_local_address_is_tentative(lab: Lab) -> None:
    """At boot the link-local address is tentative for a second or two: the socket must open anyway."""
    lab.run("n1", ["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=1", "net.ipv6.conf.eth0.dad_transmits=5"])
    lab.run("n1", ["ip", "link", "set", "eth0", "down"])
    lab.run("n1", ["ip", "link", "set", "eth0", "up"])  # the link-local address comes back, tentative
    out = lab.run("n1", ["ip", "-j", "-6", "addr", "show", "dev", "eth0"]).stdout
    (info,) = [a for a in json.loads(out)[0]["addr_info"] if a.get("scope") == "link"]
    assert info.get("tentative") is True, info
    opened = run_helper(lab, "n1", "recv6", "eth0", "--count", "0")
    assert opened == {"ready": True, "src": info["local"]}
