"""keepalived's `auth_type AH` (RFC 2338 §5.3.6.3) between vrrpd and keepalived 2.2.7 in the namespace lab.

Two pairs run side by side so that both directions run at once, as in test_interop_keepalived.py:

    pair A, VRID 51, VIP 192.0.2.100:  n1 (.11) vrrpd      n2 (.12) keepalived
    pair B, VRID 52, VIP 192.0.2.101:  n3 (.13) keepalived  n4 (.14) vrrpd

Every advert is IP protocol 51: the captures are of that protocol, and the AH's ICV is checked here with
the standard library's HMAC (not our codec) over keepalived's ICV input. Every wait is bounded; daemons
are stopped and the lab restored after each test; the lab is always torn down.
"""

from __future__ import annotations

import hmac
import os
import struct
import time
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemons import wait_for
from tests.support.hostile import delete_interface, recreate_interface
from tests.support.keepalived import (
    Cluster,
    Spec,
    json_events,
    log_lines,
    missing_tools,
    pcap_capture,
    stop,
    wait_holders,
)
from vrrpd.testing.lab import Lab, Process, unavailable_reason

pytestmark = [pytest.mark.netns, pytest.mark.interop]

VIP_A, VIP_B = "192.0.2.100", "192.0.2.101"
A = Spec(vips=(f"{VIP_A}/24",), name="VI_A", vrid=51, auth_pass="s3cret", auth_type="AH")
B = Spec(vips=(f"{VIP_B}/24",), name="VI_B", vrid=52, auth_pass="s3cret", auth_type="AH")
IP = {"n1": "192.0.2.11", "n2": "192.0.2.12", "n3": "192.0.2.13", "n4": "192.0.2.14"}
KEY = b"s3cret\0\0"
# What keepalived logs when it refuses an AH advert (vrrp.c vrrp_in_chk_ipsecah / vrrp_check_packet).
AH_COMPLAINTS = ("IPSEC", "AH header", "auth type", "auth, expecting")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    missing = missing_tools()
    if missing:
        pytest.skip(f"interop needs {', '.join(missing)} (scripts/install-system-deps installs them)")
    with Lab(nodes=4, prefix=os.environ.get("VRRPD_LAB_PREFIX", "vah")) as lab:
        yield lab


@pytest.fixture
def cluster(lab: Lab) -> Iterator[Cluster]:
    c = Cluster(lab, [VIP_A, VIP_B])
    try:
        yield c
    finally:
        c.close()


def ah_complaints(proc: Process) -> list[str]:
    """keepalived's lines refusing an AH advert."""
    return [line for line in log_lines(proc) if any(c in line for c in AH_COMPLAINTS)]


def drops(cluster: Cluster, proc: Process) -> dict[str, int]:
    """A vrrpd's per-instance drop counters (its only instance)."""
    (inst,) = cluster.status(proc)["instances"]
    counted: dict[str, int] = inst["counters"]["drops"]
    return counted


def pcap_datagrams(path: Path) -> list[tuple[float, bytes]]:
    """The IPv4 datagrams of a tcpdump capture (Ethernet), with their timestamps."""
    data = path.read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4, "expected a microsecond pcap"
    out, off = [], 24
    while off + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", data, off)
        out.append((sec + usec / 1e6, data[off + 16 + 14 : off + 16 + incl]))
        off += 16 + incl
    return out


def keepalived_icv(datagram: bytes, key: bytes, unicast: bool = False) -> bytes:
    """The ICV keepalived computes for an AH advert: HMAC-MD5-96 over the datagram with TOS,
    flags/fragment, header checksum and the ICV zeroed, the TTL too in unicast mode only."""
    m = bytearray(datagram)
    m[1] = 0
    m[6:8] = m[10:12] = b"\0\0"
    if unicast:
        m[8] = 0
    m[32:44] = bytes(12)
    return hmac.new(key, bytes(m), "md5").digest()[:12]


def test_election_either_way_and_keepalived_takes_our_adverts(cluster: Cluster, tmp_path: Path) -> None:
    """vrrpd higher (A) and keepalived higher (B): one master each, neither side refuses an advert, and
    vrrpd's adverts are keepalived's AH: protocol 51, SPI = source, sequence numbers from 1 up, the ICV
    keepalived computes, VRRP Auth Type 2 with zero authentication data."""
    capture = pcap_capture(cluster, tmp_path / "ah.pcap", protocol=51)
    v1 = cluster.vrrpd("n1", replace(A, priority=150))
    k2 = cluster.keepalived("n2", A)
    k3 = cluster.keepalived("n3", replace(B, priority=150))
    v4 = cluster.vrrpd("n4", B)
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"})
    time.sleep(3.2)  # a few adverts each way
    assert cluster.lab.holders(VIP_A) == ["n1"] and cluster.lab.holders(VIP_B) == ["n3"]
    stop([capture])

    assert ah_complaints(k2) == [] and ah_complaints(k3) == [], (log_lines(k2)[-20:], log_lines(k3)[-20:])
    for proc in (v1, v4):
        counted = drops(cluster, proc)
        assert not {r for r in counted if r.startswith("ah_") or "auth" in r}, counted
    (backup,) = cluster.status(v4)["instances"]
    assert backup["state"] == "BACKUP" and backup["counters"]["adverts_received"] >= 3, backup

    ours = [d for _, d in pcap_datagrams(tmp_path / "ah.pcap") if d[12:16] == IPv4Address(IP["n1"]).packed]
    assert len(ours) >= 3
    seqs = []
    for d in ours:
        assert d[9] == 51 and d[8] == 255 and d[1] == 0xC0
        next_header, payload_len, _r, spi, seq = struct.unpack_from("!BBHII", d, 20)
        assert (next_header, payload_len, spi) == (112, 4, int(IPv4Address(IP["n1"])))
        assert d[32:44] == keepalived_icv(d, KEY)
        vrrp = d[44:]
        assert (vrrp[0], vrrp[1], vrrp[4]) == (0x21, 51, 2)  # v2 advert, VRID 51, Auth Type 2
        assert vrrp[-8:] == bytes(8)
        assert d[4:6] != b"\0\0"  # the Identification we chose (the ICV covers it)
        seqs.append(seq)
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[0] <= 3, seqs


def test_failover_on_link_cut_and_back_either_way(cluster: Cluster) -> None:
    """Cut the masters' links: the backups take over; restore them: the 150s win back — which needs each
    side to accept the other's sequence numbers after they counted apart (keepalived's shared counter)."""
    lab = cluster.lab
    v1 = cluster.vrrpd("n1", replace(A, priority=150))
    k2 = cluster.keepalived("n2", A)
    k3 = cluster.keepalived("n3", replace(B, priority=150))
    v4 = cluster.vrrpd("n4", B)
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"})
    time.sleep(1.5)
    lab.cut_link("n1")
    lab.cut_link("n3")
    wait_holders(cluster, {VIP_A: "n2", VIP_B: "n4"}, timeout=8)
    time.sleep(2.0)
    lab.restore_link("n1")
    lab.restore_link("n3")
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"}, timeout=10)
    time.sleep(2.2)
    assert lab.holders(VIP_A) == ["n1"] and lab.holders(VIP_B) == ["n3"]
    for proc in (v1, v4):
        bad = {r: n for r, n in drops(cluster, proc).items() if r in ("ah_bad_icv", "ah_bad_spi")}
        assert not bad, bad
    for proc in (k2, k3):
        assert not [line for line in ah_complaints(proc) if "HMAC" in line or "SPI" in line], log_lines(proc)


def test_restarted_masters_win_back(cluster: Cluster) -> None:
    """A restarted master counts from 1 again. It starts as a backup, hears the other side's adverts
    (their numbers are above its fresh counter, which takes them), and its own adverts as master then
    continue from there: accepted, so it wins back. Both ways: vrrpd restarted against keepalived (A),
    keepalived restarted against vrrpd (B)."""
    v1 = cluster.vrrpd("n1", replace(A, priority=150))
    k2 = cluster.keepalived("n2", A)
    k3 = cluster.keepalived("n3", replace(B, priority=150))
    v4 = cluster.vrrpd("n4", B)
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"})
    time.sleep(4.0)  # the counters climb
    stop([v1, k3])
    wait_holders(cluster, {VIP_A: "n2", VIP_B: "n4"}, timeout=8)
    time.sleep(2.0)
    v1 = cluster.vrrpd("n1", replace(A, priority=150))
    k3 = cluster.keepalived("n3", replace(B, priority=150))
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"}, timeout=15)
    time.sleep(2.2)
    assert cluster.lab.holders(VIP_A) == ["n1"] and cluster.lab.holders(VIP_B) == ["n3"]
    (backup,) = cluster.status(v4)["instances"]
    assert backup["state"] == "BACKUP", backup
    for proc in (v1, v4):
        bad = {r: n for r, n in drops(cluster, proc).items() if r in ("ah_bad_icv", "ah_bad_spi")}
        assert not bad, bad
    for proc in (k2, k3):
        assert not [line for line in ah_complaints(proc) if "HMAC" in line or "SPI" in line], log_lines(proc)


def test_split_brain_heals_through_sequence_resynchronisation(cluster: Cluster) -> None:
    """The case keepalived's "Syncing seq_num" exists for: the higher-priority router restarted while cut
    off (partitioned, carrier up), so it is master with a small counter while the other side, master too,
    has counted far above it. On healing, the lower-priority master's adverts are accepted (above the
    small counter) and the higher one, hearing lower priority, continues past their number: its next
    advert is accepted and the lower one steps down. Without that the two would drop each other's
    adverts as replays — one of them for good. vrrpd restarted (A: vrrpd must resynchronise), keepalived
    restarted (B: keepalived does, vrrpd must accept)."""
    lab = cluster.lab
    v1 = cluster.vrrpd("n1", replace(A, priority=150))
    cluster.keepalived("n2", A)
    k3 = cluster.keepalived("n3", replace(B, priority=150))
    v4 = cluster.vrrpd("n4", B)
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"})
    lab.partition("n1")
    lab.partition("n3")
    stop([v1, k3])
    time.sleep(6.0)  # n2 and n4 take over and count on
    v1 = cluster.vrrpd("n1", replace(A, priority=150))
    k3 = cluster.keepalived("n3", replace(B, priority=150))
    ok = wait_for(lambda: lab.holders(VIP_A) == ["n1", "n2"] and lab.holders(VIP_B) == ["n3", "n4"], 15)
    assert ok, (lab.holders(VIP_A), lab.holders(VIP_B))  # split brain: each side master alone
    time.sleep(1.0)
    lab.heal("n1")
    lab.heal("n3")
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"}, timeout=10)
    time.sleep(2.2)
    assert lab.holders(VIP_A) == ["n1"] and lab.holders(VIP_B) == ["n3"]
    assert any("Syncing seq_num" in line for line in log_lines(k3)), log_lines(k3)[-30:]
    (backup,) = cluster.status(v4)["instances"]
    assert backup["state"] == "BACKUP", backup


def test_wrong_password_is_rejected_by_both(cluster: Cluster, tmp_path: Path) -> None:
    """Different passwords, vrrpd higher (A) and keepalived higher (B): the two sides drop each other's
    adverts (the ICV does not match) and both become master. vrrpd counts and logs ah_bad_icv; keepalived
    logs its "invalid IPSEC HMAC-MD5 value"."""
    path = tmp_path / "wrong.pcap"
    capture = pcap_capture(cluster, path, protocol=51)
    v1 = cluster.vrrpd("n1", replace(A, priority=150, auth_pass="alpha"))
    k2 = cluster.keepalived("n2", replace(A, auth_pass="bravo"))
    k3 = cluster.keepalived("n3", replace(B, priority=150, auth_pass="alpha"))
    v4 = cluster.vrrpd("n4", replace(B, auth_pass="bravo"))
    lab = cluster.lab
    split = wait_for(
        lambda: sorted(lab.holders(VIP_A)) == ["n1", "n2"] and sorted(lab.holders(VIP_B)) == ["n3", "n4"], 12
    )
    assert split, (lab.holders(VIP_A), lab.holders(VIP_B))
    time.sleep(2.2)  # both sides advertising: each drops the other's
    assert sorted(lab.holders(VIP_A)) == ["n1", "n2"] and sorted(lab.holders(VIP_B)) == ["n3", "n4"]

    def logged(proc: Process, reason: str) -> list[dict[str, Any]]:
        return [e for e in json_events(proc, "advert_dropped") if e.get("reason") == reason]

    def refused_twice() -> bool:
        return all(drops(cluster, p).get("ah_bad_icv", 0) >= 2 for p in (v1, v4))

    # Every advert of the other side is refused, not just the first (the log line is rate-limited). The
    # measure is what the keepalived master actually sent: in some runs it sends only a few (2 in 8 s on the
    # wire, its advert timer apparently put off by each of our refused adverts it reads), so the count of
    # its adverts in the capture, all sent after our daemon started, is what each vrrpd must have refused.
    wait_for(refused_twice, 5)
    stop([capture])
    time.sleep(0.1)  # the last captured advert handled
    sent = {
        node: sum(1 for _, d in pcap_datagrams(path) if d[12:16] == IPv4Address(IP[node]).packed)
        for node in ("n2", "n3")
    }
    refused = {node: drops(cluster, p).get("ah_bad_icv", 0) for node, p in (("n1", v1), ("n4", v4))}
    assert sent["n2"] >= 1 and sent["n3"] >= 1, sent
    assert refused["n1"] >= sent["n2"] and refused["n4"] >= sent["n3"], (refused, sent)
    for proc in (v1, v4):
        assert logged(proc, "ah_bad_icv"), proc.log_text()[-2000:]
    for proc in (k2, k3):
        assert any("HMAC-MD5" in line for line in ah_complaints(proc)), log_lines(proc)[-20:]


def test_unicast_peers_elect_either_way(cluster: Cluster, tmp_path: Path) -> None:
    """keepalived's AH with unicast_peer (its ICV leaves the TTL out): vrrpd higher (A) and keepalived
    higher (B) elect as with multicast; vrrpd's adverts go to the peer with keepalived's unicast ICV."""

    def pair(spec: Spec, me: str, peer: str, **keys: Any) -> Spec:
        return replace(spec, unicast_src_ip=IP[me], unicast_peer=(IP[peer],), **keys)

    capture = pcap_capture(cluster, tmp_path / "ah-unicast.pcap", protocol=51)
    v1 = cluster.vrrpd("n1", pair(A, "n1", "n2", priority=150))
    k2 = cluster.keepalived("n2", pair(A, "n2", "n1"))
    k3 = cluster.keepalived("n3", pair(B, "n3", "n4", priority=150))
    v4 = cluster.vrrpd("n4", pair(B, "n4", "n3"))
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"})
    time.sleep(3.2)
    assert cluster.lab.holders(VIP_A) == ["n1"] and cluster.lab.holders(VIP_B) == ["n3"]
    stop([capture])
    assert ah_complaints(k2) == [] and ah_complaints(k3) == [], (log_lines(k2)[-20:], log_lines(k3)[-20:])
    for proc in (v1, v4):
        counted = drops(cluster, proc)
        assert not {r for r in counted if r.startswith("ah_") or "auth" in r}, counted
    (backup,) = cluster.status(v4)["instances"]
    assert backup["state"] == "BACKUP" and backup["counters"]["adverts_received"] >= 3, backup
    ours = [
        d for _, d in pcap_datagrams(tmp_path / "ah-unicast.pcap") if d[12:16] == IPv4Address(IP["n1"]).packed
    ]
    assert len(ours) >= 3
    for d in ours:
        assert d[16:20] == IPv4Address(IP["n2"]).packed and d[9] == 51
        assert d[32:44] == keepalived_icv(d, KEY, unicast=True) != keepalived_icv(d, KEY)


def test_the_ah_socket_follows_an_interface_deleted_and_recreated(cluster: Cluster) -> None:
    """eth0 deleted and created again (a new ifindex) under a running vrrpd: its AH socket is opened on
    the new interface with the others. vrrpd master (A) wins back from keepalived; vrrpd backup (B) keeps
    hearing keepalived's adverts (else it would become master beside it)."""
    lab = cluster.lab
    v1 = cluster.vrrpd("n1", replace(A, priority=150))
    cluster.keepalived("n2", A)
    cluster.keepalived("n3", replace(B, priority=150))
    v4 = cluster.vrrpd("n4", B)
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"})
    delete_interface(lab, "n1")
    delete_interface(lab, "n4")
    wait_holders(cluster, {VIP_A: "n2", VIP_B: "n3"}, timeout=8)
    time.sleep(1.0)
    recreate_interface(lab, "n1")
    recreate_interface(lab, "n4")
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"}, timeout=12)
    heard = cluster.status(v4)["instances"][0]["counters"]["adverts_received"]
    time.sleep(4.5)  # past a Master_Down_Interval: n4 must still be a backup, hearing n3
    assert lab.holders(VIP_A) == ["n1"] and lab.holders(VIP_B) == ["n3"]
    (backup,) = cluster.status(v4)["instances"]
    assert backup["state"] == "BACKUP" and backup["counters"]["adverts_received"] >= heard + 3, backup
    assert v1.poll() is None and "Traceback" not in v1.log_text() + v4.log_text()


def test_sigterm_hands_over_with_a_priority_0_advert_either_way(cluster: Cluster) -> None:
    """SIGTERM on the master: its priority-0 AH advert (RFC 3768 §6.4.3) makes the other implementation
    take over after Skew_Time (0.61 s at priority 100), well before a Master_Down_Interval (3.61 s)."""
    v1 = cluster.vrrpd("n1", replace(A, priority=150))
    cluster.keepalived("n2", A)
    k3 = cluster.keepalived("n3", replace(B, priority=150))
    cluster.vrrpd("n4", B)
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"})
    time.sleep(1.5)
    started = time.monotonic()
    v1.terminate()
    k3.terminate()
    wait_holders(cluster, {VIP_A: "n2", VIP_B: "n4"}, timeout=8)
    took = time.monotonic() - started
    assert took < 2.5, f"took {took:.2f} s: no priority-0 advert was taken (Master_Down_Interval is 3.61 s)"
