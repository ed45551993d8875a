"""Mixed clusters: vrrpd and keepalived 2.2.7 sharing a VRID in the namespace lab (issue 4).

Users replace keepalived node by node, so a vrrpd node must elect, fail over and hand over with a
keepalived node exactly as two keepalived nodes would. One 4-node lab serves the whole module; each test
runs two independent virtual routers side by side so that both directions run at once:

    pair A, VRID 51, VIP 192.0.2.100:  n1 (.11) vrrpd      n2 (.12) keepalived
    pair B, VRID 52, VIP 192.0.2.101:  n3 (.13) keepalived  n4 (.14) vrrpd

so in pair A vrrpd has the lower address and in pair B the higher one. Timings come from the bridge
capture's kernel timestamps. Every wait is bounded; every daemon is stopped and the lab restored after
each test (`tests.support.keepalived.Cluster`); the lab is always torn down.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.support.daemons import start_listener, wait_for
from tests.support.keepalived import (
    Cluster,
    Spec,
    TcpCheck,
    dump_instances,
    field_names,
    json_events,
    keepalived_argv,
    keepalived_text,
    log_lines,
    missing_tools,
    packet_complaints,
    pcap_capture,
    started_at,
    takeover_gap,
    tshark_fields,
    tshark_layers,
    vrid_adverts,
    wait_holders,
    zero_priority_gap,
)
from vrrpd.compat.keepalived.importer import convert
from vrrpd.protocol.fsm import master_down_interval, skew_time
from vrrpd.protocol.packet import AUTH_PASS, VRRP_MULTICAST, Advertisement, Received
from vrrpd.runtime.instance import Instance
from vrrpd.testing.lab import Lab, Process, unavailable_reason

pytestmark = [pytest.mark.netns, pytest.mark.interop]

SLACK = 0.020  # the bound: protocol figure + 20 ms, for vrrpd and keepalived alike
EARLY = 0.005  # kernel timestamps on one bridge: nothing may come sooner than the protocol allows
VIP_A, VIP_B = "192.0.2.100", "192.0.2.101"
A = Spec(vips=(f"{VIP_A}/24",), name="VI_A", vrid=51)
B = Spec(vips=(f"{VIP_B}/24",), name="VI_B", vrid=52)
IP = {"n1": "192.0.2.11", "n2": "192.0.2.12", "n3": "192.0.2.13", "n4": "192.0.2.14"}

# Filled by the timing test, printed at the end of the module (run with -s to see it).
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    missing = missing_tools()
    if missing:
        pytest.skip(f"interop needs {', '.join(missing)} (scripts/install-system-deps installs them)")
    with Lab(nodes=4, prefix="vka") as lab:
        yield lab
    if TIMINGS:
        print("\n".join(f"  {k}: {v * 1000:.1f} ms" for k, v in sorted(TIMINGS.items())))


@pytest.fixture
def cluster(lab: Lab) -> Iterator[Cluster]:
    c = Cluster(lab, [VIP_A, VIP_B])
    try:
        yield c
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------------
# Election


def test_higher_priority_wins_either_way_and_the_wire_matches_keepalived(
    cluster: Cluster, tmp_path: Path
) -> None:
    """vrrpd higher (A) and keepalived higher (B), equal auth_pass on both: one master each.

    The same capture shows tshark dissecting vrrpd's adverts exactly like keepalived's, and neither
    side complaining about the other's packets.
    """
    pcap = tmp_path / "election.pcap"
    dump = pcap_capture(cluster, pcap)
    a, b = replace(A, auth_pass="s3cret"), replace(B, auth_pass="s3cret")
    v1 = cluster.vrrpd("n1", replace(a, priority=150))
    k2 = cluster.keepalived("n2", a)
    k3 = cluster.keepalived("n3", replace(b, priority=150))
    v4 = cluster.vrrpd("n4", b)
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"})
    settled = time.time()
    time.sleep(2.5)  # steady state: still one master each, the backups silent
    assert cluster.lab.holders(VIP_A) == ["n1"] and cluster.lab.holders(VIP_B) == ["n3"]
    dump.terminate()
    dump.wait()

    packets = tshark_fields(
        pcap,
        [
            "frame.time_epoch",
            "ip.src",
            "ip.dst",
            "ip.ttl",
            "ip.checksum.status",
            "vrrp.version",
            "vrrp.type",
            "vrrp.virt_rtr_id",
            "vrrp.prio",
            "vrrp.addr_count",
            "vrrp.auth_type",
            "vrrp.adver_int",
            "vrrp.checksum.status",
            "vrrp.ip_addr",
            "vrrp.auth_string",
        ],
    )
    steady = [p for p in packets if float(p["frame.time_epoch"]) > settled + 0.1]
    by_src = {src: [p for p in steady if p["ip.src"] == src] for src in IP.values()}
    assert by_src[IP["n2"]] == [] and by_src[IP["n4"]] == [], "backups must not advertise"
    vrrpd_adv, ka_adv = by_src[IP["n1"]], by_src[IP["n3"]]
    assert vrrpd_adv and ka_adv
    for adv, vrid, vip in ((vrrpd_adv[-1], "51", VIP_A), (ka_adv[-1], "52", VIP_B)):
        expected = {
            "ip.dst": "224.0.0.18",
            "ip.ttl": "255",
            "ip.checksum.status": "1",  # tshark's checksum status: 0 bad, 1 good, 2 unverified
            "vrrp.version": "2",
            "vrrp.type": "1",
            "vrrp.virt_rtr_id": vrid,
            "vrrp.prio": "150",
            "vrrp.addr_count": "1",
            "vrrp.auth_type": "1",
            "vrrp.adver_int": "1",
            "vrrp.checksum.status": "1",
            "vrrp.ip_addr": vip,
            "vrrp.auth_string": "s3cret",
        }
        assert {k: adv[k] for k in expected} == expected
    # Same dissection shape: every field tshark shows for keepalived's advert, it shows for vrrpd's.
    layers = tshark_layers(pcap)
    shape = {
        layer["ip"]["ip.src"]: field_names(layer["vrrp"])
        for layer in layers
        if "vrrp" in layer and "ip" in layer
    }
    assert shape[IP["n1"]] == shape[IP["n3"]], shape[IP["n1"]] ^ shape[IP["n3"]]
    # Neither side complains about the other's packets.
    assert packet_complaints(k2) == [] and packet_complaints(k3) == []
    assert json_events(v1, "advert_dropped") == [] and json_events(v4, "advert_dropped") == []


def test_equal_priority_masters_after_partition_heal_higher_address_wins(cluster: Cluster) -> None:
    """Both pairs start split (n1 and n3 detached from the bridge, carrier up): four masters.

    Healing makes each pair's lower address step down — vrrpd (n1) to keepalived in pair A,
    keepalived (n3) to vrrpd in pair B — exactly as §6.4.3 says, whichever side runs what.
    """
    lab = cluster.lab
    lab.partition("n1")
    lab.partition("n3")
    cluster.vrrpd("n1", A)
    cluster.keepalived("n2", A)
    cluster.keepalived("n3", B)
    cluster.vrrpd("n4", B)
    split = wait_for(
        lambda: sorted(lab.holders(VIP_A)) == ["n1", "n2"] and sorted(lab.holders(VIP_B)) == ["n3", "n4"], 10
    )
    assert split, (lab.holders(VIP_A), lab.holders(VIP_B))
    assert lab.has_carrier("n1") and lab.has_carrier("n3")
    lab.heal("n1")
    lab.heal("n3")
    wait_holders(cluster, {VIP_A: "n2", VIP_B: "n4"}, timeout=4)
    time.sleep(1.5)
    assert lab.holders(VIP_A) == ["n2"] and lab.holders(VIP_B) == ["n4"]


def test_address_owner_takes_over_at_once_either_way(cluster: Cluster) -> None:
    """A priority-255 owner joining a running master takes over with its first advert."""
    cluster.keepalived("n2", A)
    cluster.vrrpd("n4", B)
    wait_holders(cluster, {VIP_A: "n2", VIP_B: "n4"})
    cap = cluster.lab.capture()
    cluster.vrrpd("n1", replace(A, priority=255))
    # keepalived's owner is normally configured "state MASTER" (it becomes master at start-up).
    cluster.keepalived("n3", replace(B, priority=255, keepalived_state="MASTER"))
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"}, timeout=5)
    time.sleep(0.5)
    events = cap.stop()
    for vrid, owner, old in ((51, "n1", "n2"), (52, "n3", "n4")):
        first = vrid_adverts(events, vrid, IP[owner])
        assert first and first[0].priority == 255
        late = [e for e in vrid_adverts(events, vrid, IP[old]) if e.time > first[0].time + 0.05]
        assert late == [], f"{old} kept advertising after the owner's first advert"


# ---------------------------------------------------------------------------------------------------
# Failover and handover timing


def test_failover_on_link_cut_and_sigterm_handover_timing_either_way(cluster: Cluster) -> None:
    """Link cut: the backup takes over one Master_Down_Interval after the last advert. SIGTERM: the
    master's priority-0 advert makes the backup take over after Skew_Time. vrrpd (pair B's backup) and
    keepalived (pair A's backup) are measured in the same capture against the same bound."""
    lab = cluster.lab
    v1 = cluster.vrrpd("n1", replace(A, priority=150))
    k2 = cluster.keepalived("n2", A)
    k3 = cluster.keepalived("n3", replace(B, priority=150))
    cluster.vrrpd("n4", B)
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"})

    cap = lab.capture()
    time.sleep(1.3)
    lab.cut_link("n1")
    lab.cut_link("n3")
    wait_holders(cluster, {VIP_A: "n2", VIP_B: "n4"}, timeout=8)
    time.sleep(0.2)
    events = cap.stop()
    mdi = master_down_interval(1, 100)
    failover = {
        "failover keepalived backup (after vrrpd master's link cut)": takeover_gap(
            events, 51, IP["n1"], IP["n2"], 0
        ),
        "failover vrrpd backup (after keepalived master's link cut)": takeover_gap(
            events, 52, IP["n3"], IP["n4"], 0
        ),
    }
    TIMINGS.update(failover)
    TIMINGS["failover bound (Master_Down_Interval)"] = mdi

    # Links back: the 150s preempt the 100s again, in both directions.
    lab.restore_link("n1")
    lab.restore_link("n3")
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"}, timeout=8)
    time.sleep(1.2)

    cap = lab.capture()
    time.sleep(0.3)
    v1.send_signal(signal.SIGTERM)
    k3.send_signal(signal.SIGTERM)
    wait_holders(cluster, {VIP_A: "n2", VIP_B: "n4"}, timeout=5)
    time.sleep(0.2)
    events = cap.stop()
    skew = skew_time(100)
    handover = {
        "handover keepalived backup (after vrrpd master's SIGTERM)": zero_priority_gap(
            events, 51, IP["n1"], IP["n2"]
        ),
        "handover vrrpd backup (after keepalived master's SIGTERM)": zero_priority_gap(
            events, 52, IP["n3"], IP["n4"]
        ),
    }
    TIMINGS.update(handover)
    TIMINGS["handover bound (Skew_Time)"] = skew

    assert packet_complaints(k2) == [] and packet_complaints(k3) == []
    for name, gap in failover.items():
        assert mdi - EARLY <= gap <= mdi + SLACK, f"{name}: {gap * 1000:.1f} ms, bound {mdi * 1000:.1f} ms"
    for name, gap in handover.items():
        assert skew - EARLY <= gap <= skew + SLACK, f"{name}: {gap * 1000:.1f} ms, bound {skew * 1000:.1f} ms"


# ---------------------------------------------------------------------------------------------------
# Preemption


def test_preempt_delay_either_way(cluster: Cluster) -> None:
    """A higher-priority backup with preempt_delay D keeps accepting a lower master's adverts for D after
    the first one it hears, then ignores them and preempts one Master_Down_Interval after the last one
    it accepted — vrrpd (A) and keepalived (B) alike, measured on the capture."""
    cluster.keepalived("n2", A)
    cluster.vrrpd("n4", B)
    wait_holders(cluster, {VIP_A: "n2", VIP_B: "n4"})
    delay = 2.5  # not a multiple of advert_int: no advert lands on the end of the delay
    cap = cluster.lab.capture()
    spawned = time.time()
    v1 = cluster.vrrpd("n1", replace(A, priority=150, preempt_delay=delay))
    cluster.keepalived("n3", replace(B, priority=150, preempt_delay=delay))
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"}, timeout=15)
    events = cap.stop()
    mdi = master_down_interval(1, 150)
    # When each joiner could first hear the lower master: vrrpd logs it; keepalived (C) is up at once.
    ready = {51: started_at(v1), 52: spawned}
    for vrid, who, joiner, lower in ((51, "vrrpd", "n1", "n2"), (52, "keepalived", "n3", "n4")):
        takeover = vrid_adverts(events, vrid, IP[joiner])[0].time
        heard = [e.time for e in vrid_adverts(events, vrid, IP[lower]) if ready[vrid] < e.time < takeover]
        # The timer that fired was restarted by the last advert the joiner accepted: MDI before takeover.
        # Adverts are 1 s apart, so 0.1 s identifies it unambiguously even on a loaded machine.
        accepted = [t for t in heard if abs(takeover - mdi - t) <= 0.1]
        assert accepted, f"{who}: no lower advert {mdi:.3f} s before its takeover ({takeover}): {heard}"
        held = accepted[0] - heard[0]
        # It accepted adverts for D after the first one it heard (the last one before D ran out).
        assert delay - 1.0 - SLACK <= held <= delay + SLACK, f"{who}: accepted adverts for {held:.3f} s"
        TIMINGS[f"preempt_delay {delay:g} s: accepted lower adverts for, {who}"] = held
        TIMINGS[f"preempt_delay {delay:g} s: last accepted advert to takeover, {who}"] = (
            takeover - accepted[0]
        )


def test_nopreempt_either_way(cluster: Cluster) -> None:
    """A higher-priority backup with nopreempt (keepalived: with state BACKUP) leaves the running lower
    master alone, and still takes over when that master goes."""
    k2 = cluster.keepalived("n2", A)
    v4 = cluster.vrrpd("n4", B)
    wait_holders(cluster, {VIP_A: "n2", VIP_B: "n4"})
    v1 = cluster.vrrpd("n1", replace(A, priority=150, preempt=False))
    k3 = cluster.keepalived("n3", replace(B, priority=150, preempt=False))
    cluster.wait_running(v1, k3)
    time.sleep(master_down_interval(1, 150) + 1.5)
    assert cluster.lab.holders(VIP_A) == ["n2"] and cluster.lab.holders(VIP_B) == ["n4"]
    k2.terminate()
    v4.terminate()
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"}, timeout=5)


# ---------------------------------------------------------------------------------------------------
# Mismatches: each side drops the other's adverts, so both become master


def test_auth_and_interval_mismatch_are_dropped_by_both(cluster: Cluster) -> None:
    """Different auth_pass (A) and different advert_int (B): the two sides ignore each other.

    Both become master — RFC 2338's simple password is a misconfiguration guard, not security, and a
    split like this is what it produces (docs/migrating-from-keepalived.md). vrrpd logs and counts
    the drops (`advert_dropped`, rate-limited); keepalived logs its own complaint.
    """
    v1 = cluster.vrrpd("n1", replace(A, priority=150, auth_pass="alpha"))
    k2 = cluster.keepalived("n2", replace(A, auth_pass="bravo"))
    k3 = cluster.keepalived("n3", replace(B, priority=250, advert_int=2))
    v4 = cluster.vrrpd("n4", replace(B, priority=250))
    lab = cluster.lab
    split = wait_for(
        lambda: sorted(lab.holders(VIP_A)) == ["n1", "n2"] and sorted(lab.holders(VIP_B)) == ["n3", "n4"], 12
    )
    assert split, (lab.holders(VIP_A), lab.holders(VIP_B))
    time.sleep(2.2)  # both sides advertising: each drops the other's
    assert sorted(lab.holders(VIP_A)) == ["n1", "n2"] and sorted(lab.holders(VIP_B)) == ["n3", "n4"]

    def drops(proc: Process, reason: str) -> list[dict[str, Any]]:
        return [e for e in json_events(proc, "advert_dropped") if e.get("reason") == reason]

    assert drops(v1, "auth_mismatch"), v1.log_text()[-2000:]
    assert drops(v4, "interval_mismatch"), v4.log_text()[-2000:]
    # ...and counts every one of them (the log line is rate-limited, the counter is not).
    for proc, reason in ((v1, "auth_mismatch"), (v4, "interval_mismatch")):
        (inst,) = cluster.status(proc)["instances"]
        assert inst["counters"]["drops"].get(reason, 0) >= 1, inst["counters"]
    assert any("passwd" in line or "auth" in line for line in packet_complaints(k2)), log_lines(k2)[-20:]
    assert any("interval mismatch" in line for line in packet_complaints(k3)), log_lines(k3)[-20:]


def test_advert_dropped_lines_name_their_reason() -> None:
    """An operator greps `advert_dropped` lines for reason=auth_mismatch, as for `packet_dropped`."""
    from tests.support.fakes import FakeTransport, instance_config

    async def main() -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        inst = Instance(
            instance_config(priority=100, auth_pass="alpha"),
            IPv4Address("192.0.2.11"),
            FakeTransport(),
            lambda *a: None,
            loop,
        )
        inst.start()
        with structlog.testing.capture_logs() as logs:
            wrong = Advertisement(
                51, 100, (IPv4Address("192.0.2.100"),), auth_type=AUTH_PASS, auth_data=b"bravo\0\0\0"
            )
            inst.receive(Received(wrong, IPv4Address("192.0.2.12"), VRRP_MULTICAST, 255))
            await inst.drain(1.0)
            await inst.stop(1.0)
        return [dict(e) for e in logs]

    logs = [e for e in asyncio.run(main()) if e["event"] == "advert_dropped"]
    assert logs and logs[0].get("reason") == "auth_mismatch", logs


# ---------------------------------------------------------------------------------------------------
# Unicast


def test_unicast_peers_elect_and_hand_over_either_way(cluster: Cluster) -> None:
    """unicast_src_ip/unicast_peer on both sides: election, then a SIGTERM handover, no multicast."""
    a = replace(A, unicast_src_ip=IP["n1"], unicast_peer=(IP["n2"],))
    b = replace(B, unicast_src_ip=IP["n3"], unicast_peer=(IP["n4"],))
    cap = cluster.lab.capture()
    v1 = cluster.vrrpd("n1", replace(a, priority=150))
    k2 = cluster.keepalived("n2", replace(A, unicast_src_ip=IP["n2"], unicast_peer=(IP["n1"],)))
    k3 = cluster.keepalived("n3", replace(b, priority=150))
    cluster.vrrpd("n4", replace(B, unicast_src_ip=IP["n4"], unicast_peer=(IP["n3"],)))
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"})
    time.sleep(1.5)
    assert cluster.lab.holders(VIP_A) == ["n1"] and cluster.lab.holders(VIP_B) == ["n3"]
    v1.terminate()
    k3.terminate()
    wait_holders(cluster, {VIP_A: "n2", VIP_B: "n4"}, timeout=5)
    events = cap.stop()
    multicast = [e for e in events if getattr(e, "dst_ip", None) == "224.0.0.18"]
    assert multicast == [], multicast[:3]
    assert packet_complaints(k2) == [] and packet_complaints(k3) == []


# ---------------------------------------------------------------------------------------------------
# Notify


def test_notify_gets_the_same_arguments_from_both(cluster: Cluster) -> None:
    """The same transitions (start, master, link cut, link back, stop) give the notify program the
    same argument lists from keepalived (n1) and vrrpd (n3): INSTANCE name STATE priority."""
    lab = cluster.lab
    outputs = {}
    scripts = {}
    for node in ("n1", "n3"):
        outputs[node] = Path(lab.log_dir) / f"notify-{node}.out"
        scripts[node] = Path(lab.log_dir) / f"notify-{node}.sh"
        scripts[node].write_text(f'#!/bin/sh\necho "$@" >> {outputs[node]}\n')
        scripts[node].chmod(0o755)
    k1 = cluster.keepalived("n1", replace(A, name="VI_1", notify=str(scripts["n1"])))
    v3 = cluster.vrrpd("n3", replace(B, name="VI_1", notify=str(scripts["n3"])))
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"})
    lab.cut_link("n1")
    lab.cut_link("n3")
    assert wait_for(lambda: lab.holders(VIP_A) == [] and lab.holders(VIP_B) == [], 5)
    time.sleep(0.5)
    lab.restore_link("n1")
    lab.restore_link("n3")
    wait_holders(cluster, {VIP_A: "n1", VIP_B: "n3"}, timeout=8)
    k1.terminate()
    v3.terminate()
    k1.wait()
    v3.wait()
    expected = [
        f"INSTANCE VI_1 {state} 100" for state in ("BACKUP", "MASTER", "FAULT", "BACKUP", "MASTER", "STOP")
    ]

    def lines(node: str) -> list[str]:
        return outputs[node].read_text().splitlines() if outputs[node].exists() else []

    assert wait_for(lambda: len(lines("n1")) >= len(expected) and len(lines("n3")) >= len(expected), 3)
    assert lines("n1") == expected, "keepalived"
    assert lines("n3") == lines("n1"), "vrrpd differs from keepalived"


# ---------------------------------------------------------------------------------------------------
# The importer reads keepalived.conf as keepalived itself does


FIXTURES = Path(__file__).parents[1] / "data" / "keepalived"


def test_keepalived_reads_the_fixtures_as_the_importer_does(cluster: Cluster) -> None:
    """keepalived's own --dump-conf of each fixture (quirks included: auth_pass cut to 8, state MASTER
    clearing preempt_delay/nopreempt, "; fall 2" ignored, @main lines, $PARAMS, includes) gives the
    values `import-keepalived` converted."""
    lab = cluster.lab
    cases = {
        "n1": ("ipfailover.conf", "n1"),
        "n2": ("ipfailover-legacy.conf", "n2"),
        "n3": ("includes/keepalived.conf", "main"),
    }
    copy = Path(lab.log_dir) / "fixtures"
    shutil.copytree(FIXTURES, copy, dirs_exist_ok=True)
    procs = {}
    for node, (name, config_id) in cases.items():
        base = Path(lab.log_dir) / f"{node}-dump"
        argv = [*keepalived_argv(copy / name, base, config_id), "--dump-conf"]
        procs[node] = cluster.spawn(node, argv, f"{node}-dump.log")
    assert wait_for(lambda: all("< Interfaces >" in p.log_text() for p in procs.values()), 10)
    for node, (name, config_id) in cases.items():
        dump = dump_instances(log_lines(procs[node]))
        conversion = convert(FIXTURES / name, config_id=config_id)
        assert conversion.complete, [str(f) for f in conversion.lost]
        converted = tomllib.loads(conversion.toml)["vrrp_instance"]
        assert sorted(dump) == sorted(i["name"] for i in converted), name
        for inst in converted:
            ka = dump[inst["name"]]
            assert ka["Virtual Router ID"] == str(inst["virtual_router_id"])
            assert ka["Priority"] == str(inst["priority"])
            assert ka["Advert interval"] == f"{inst['advert_int']} sec"
            assert ka["Preempt"] == ("enabled" if inst["preempt"] else "disabled")
            delay = inst.get("preempt_delay", 0)
            assert ka.get("Preempt delay", "0 secs") == f"{delay:g} secs", (name, inst["name"])
            assert ka.get("Password") == inst.get("auth_pass")
            assert [v.split("/")[0] for v in ka["vips"]] == [
                v.split("/")[0] for v in inst["virtual_ipaddress"]
            ]
            assert ka["peers"] == inst.get("unicast_peer", [])
            weights = [int(s.rsplit(" ", 1)[1]) for s in ka["scripts"]]
            check = inst.get("check")
            assert weights == ([-check["weight"]] if check else []), (name, inst["name"], ka["scripts"])


# ---------------------------------------------------------------------------------------------------
# Migration: replace keepalived node by node with vrrpd running the converted configuration


def test_rolling_migration_with_converted_configs_keeps_the_election(cluster: Cluster) -> None:
    """Three keepalived nodes (priorities 150/100/50, auth, an ipfailover-style TCP check) become three
    vrrpd nodes running `vrrpd import-keepalived`'s output, backups first, the master last — the
    procedure of docs/migrating-from-keepalived.md. The master stays n1 throughout, except during its
    own restart, when the next in line (already vrrpd) holds the VIP until n1 preempts it back."""
    lab = cluster.lab
    port = 9736
    for node in ("n1", "n2", "n3"):
        cluster.procs.append(start_listener(lab, node, port))
    specs = {
        node: replace(A, priority=prio, auth_pass="migr8", check=TcpCheck(IP[node], port, interval=1))
        for node, prio in (("n1", 150), ("n2", 100), ("n3", 50))
    }
    running = {node: cluster.keepalived(node, spec) for node, spec in specs.items()}
    cluster.wait_holder(VIP_A, "n1")

    def convert(node: str) -> str:
        conf = Path(lab.log_dir) / f"{node}-migrate-keepalived.conf"
        conf.write_text(keepalived_text(node, specs[node]))
        proc = subprocess.run(
            [sys.executable, "-m", "vrrpd", "import-keepalived", str(conf)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    for node in ("n3", "n2"):  # backups first, lowest priority first: the VIP never moves
        samples: list[list[str]] = []
        running[node].terminate()
        running[node].wait()
        running[node] = cluster.vrrpd(node, text=convert(node))
        cluster.wait_running(running[node])
        deadline = time.monotonic() + master_down_interval(1, 50) + 0.5
        while time.monotonic() < deadline:  # bounded: one Master_Down_Interval of samples
            samples.append(lab.holders(VIP_A))
            time.sleep(0.1)
        assert all(s == ["n1"] for s in samples), f"VIP moved while replacing {node}: {samples}"
        assert running[node].poll() is None, running[node].log_text()

    cap = lab.capture()
    running["n1"].terminate()  # the master last: its priority 0 hands over to n2 (vrrpd) at once
    running["n1"].wait()
    cluster.wait_holder(VIP_A, "n2", timeout=3)
    running["n1"] = cluster.vrrpd("n1", text=convert("n1"))
    cluster.wait_holder(VIP_A, "n1", timeout=8)  # and n1, now vrrpd, preempts it back
    events = cap.stop()
    gap = zero_priority_gap(events, 51, IP["n1"], IP["n2"])
    assert gap <= skew_time(100) + SLACK, gap
    time.sleep(1.5)
    assert lab.holders(VIP_A) == ["n1"]
    assert all(json_events(p, "advert_dropped") == [] for p in running.values())
    assert all(packet_complaints(p) == [] for p in cluster.procs if "keepalived" in p.argv[0])
