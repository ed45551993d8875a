"""``vrrpd run --openshift`` on a real segment: the ipf-ha-geo-cache example scaled to the lab.

Pods are daemons started with the ipfailover image's environment only (no file). Each node serves the
watched port with a small TCP listener. Masters are predicted by `vrrpd.compat.openshift.spread` before
anything runs,
and the lab must elect exactly those; moves are checked against the same prediction. Timing of the
SIGTERM handover is measured on the wire (kernel timestamps on the bridge). Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from tests.support.daemons import adverts, log_events, start_listener, stop_all, wait_for
from vrrpd.compat.openshift import spread
from vrrpd.protocol.fsm import skew_time
from vrrpd.testing.lab import Lab, Process
from vrrpd.testing.plugin import LabFactory

pytestmark = pytest.mark.netns

SLACK = 0.030  # Skew_Time + 30 ms: four daemons and four listeners share two cores here
PORT = 9736
GEO_CACHE = {
    "OPENSHIFT_HA_CONFIG_NAME": "ipf-ha-geo-cache",
    "OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.101-104",  # the example's 10.245.2.101-104, on TEST-NET-1
    "OPENSHIFT_HA_VIP_GROUPS": "2",
    "OPENSHIFT_HA_MONITOR_PORT": str(PORT),
    "OPENSHIFT_HA_REPLICA_COUNT": "4",
    "OPENSHIFT_HA_VRRP_ID_OFFSET": "0",
    # Lab nodes have only eth0 and no default route: with the variable unset, the image (and vrrpd)
    # would find no interface.
    "OPENSHIFT_HA_NETWORK_INTERFACE": "eth0",
    "OPENSHIFT_HA_CHECK_INTERVAL": "0.5",
    # Pods start a fraction of a second apart here; a short delay lets a late, better node take its
    # groups quickly instead of after the image's five minutes.
    "OPENSHIFT_HA_PREEMPTION": "preempt_delay 1",
}
GROUPS = {1: ("192.0.2.101", "192.0.2.102"), 2: ("192.0.2.103", "192.0.2.104")}
TABLE = "vrrpd_ipf_ha_geo_cache"
# Namespaces carry the runner's prefix when it sets one (a shared machine), else this file's own.
PREFIX = os.environ.get("VRRPD_LAB_PREFIX", "vos")


def start_pod(lab: Lab, node: str, env: Mapping[str, str], tag: str = "") -> Process:
    """`vrrpd run --openshift` in `node`, configured by the environment alone (as in the container)."""
    full = {
        **env,
        "VRRPD_ROUTER_ID": node,
        "VRRPD_CONTROL_SOCKET": f"{lab.log_dir}/{node}{tag}.sock",  # the lab's nodes share one /run
        "VRRPD_LOG_FORMAT": "json",
        "VRRPD_METRICS_LISTEN": "127.0.0.1:9650",  # per namespace: every pod may use the same port
    }
    return lab.spawn(
        node,
        [sys.executable, "-m", "vrrpd", "run", "--openshift"],
        env=full,
        log_path=Path(lab.log_dir) / f"{node}{tag}-pod.log",
    )


def group_holder(lab: Lab, vips: Sequence[str]) -> str | None:
    """The one node holding every VIP of a group, or None (split, missing, or duplicated)."""
    holders = {tuple(lab.holders(vip)) for vip in vips}
    if len(holders) != 1:
        return None
    (nodes,) = holders
    return nodes[0] if len(nodes) == 1 else None


def wait_masters(
    lab: Lab, expected: Mapping[int, str], timeout: float, groups: Mapping[int, Sequence[str]]
) -> None:
    def ok() -> bool:
        return all(group_holder(lab, groups[vrid]) == node for vrid, node in expected.items())

    if not wait_for(ok, timeout, step=0.1):
        seen = {vrid: {vip: lab.holders(vip) for vip in groups[vrid]} for vrid in expected}
        raise AssertionError(f"expected masters {dict(expected)}, holders {seen}")


def http_get(lab: Lab, node: str, path: str) -> tuple[int, str]:
    """GET http://127.0.0.1:9650<path> from inside `node` (what the kubelet's probe does)."""
    code = (
        "import urllib.request, urllib.error, sys\n"
        "try:\n"
        f"    r = urllib.request.urlopen('http://127.0.0.1:9650{path}', timeout=3)\n"
        "    print(r.status, r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code, e.read().decode())\n"
    )
    out = lab.run(node, [sys.executable, "-c", code], timeout=10).stdout
    status, _, body = out.partition(" ")
    return int(status), body.strip()


def names_by_address(lab: Lab) -> dict[IPv4Address, str]:
    return {IPv4Address(lab.ip(n)): n for n in lab.nodes}


def test_geo_cache_example_spreads_fails_over_and_hands_over(vrrp_lab: LabFactory) -> None:
    lab = vrrp_lab(nodes=4, prefix=PREFIX)
    by_address = names_by_address(lab)
    table = spread.priorities(by_address, list(GROUPS), "rendezvous")
    predicted = {vrid: by_address[m] for vrid, m in spread.masters(table).items()}
    assert predicted[1] != predicted[2], "the prediction itself spreads the two groups"

    listeners = {n: start_listener(lab, n, PORT) for n in lab.nodes}
    pods = {n: start_pod(lab, n, GEO_CACHE) for n in lab.nodes}
    # Every VIP on exactly one node, each group's VIPs together, on the predicted (distinct) masters.
    wait_masters(lab, predicted, timeout=20, groups=GROUPS)
    time.sleep(1.5)  # several advert intervals: still the same, no flapping
    wait_masters(lab, predicted, timeout=0.5, groups=GROUPS)
    for node in lab.nodes:
        (chosen,) = [e for e in log_events(pods[node]) if e.get("event") == "openshift_interface"]
        assert (chosen["interface"], chosen["address"]) == ("eth0", lab.ip(node))
        assert http_get(lab, node, "/healthz")[0] == 200
        status, body = http_get(lab, node, "/readyz")
        assert status == 200 and "ipf_ha_geo_cache_VIP_1" in body, body
    assert lab.ping(GROUPS[1][0], count=3, timeout=1.0)

    # Close the watched port on group 1's master: only group 1 moves, to the predicted successor.
    m1 = predicted[1]
    alive = [a for a, n in by_address.items() if n != m1]
    after_fault = {vrid: by_address[m] for vrid, m in spread.masters(table, alive=alive).items()}
    assert after_fault[2] == predicted[2]
    listeners[m1].kill()
    seen_group2: set[str | None] = set()

    def moved() -> bool:
        seen_group2.add(group_holder(lab, GROUPS[2]))
        return group_holder(lab, GROUPS[1]) == after_fault[1]

    assert wait_for(moved, 8, step=0.1), {vip: lab.holders(vip) for vip in GROUPS[1]}
    assert seen_group2 == {predicted[2]}, f"group 2 must not move: seen {seen_group2}"
    faults = [e for e in log_events(pods[m1]) if e.get("event") == "state_change" and e.get("new") == "FAULT"]
    assert {e["instance"] for e in faults} == {"ipf_ha_geo_cache_VIP_1", "ipf_ha_geo_cache_VIP_2"}

    # Stop group 2's master like Kubernetes stops a pod (SIGTERM): handover within Skew_Time + slack.
    m2 = predicted[2]
    survivors = [a for a in alive if by_address[a] != m2]
    elected = spread.elect(table[2], alive=survivors)
    assert elected is not None
    successor = by_address[elected]
    cap = lab.capture()
    time.sleep(1.2)
    t0 = time.monotonic()
    pods[m2].send_signal(signal.SIGTERM)
    assert pods[m2].wait(timeout=5) == 0
    exit_seconds = time.monotonic() - t0
    wait_masters(lab, {2: successor}, timeout=5, groups=GROUPS)
    time.sleep(0.2)
    events = cap.stop()
    zero = [e for e in adverts(events, lab.ip(m2), vrid=2) if e.priority == 0]
    assert len(zero) == 1, "one priority-0 advert on SIGTERM (RFC 3768 §6.4.3)"
    first_new = next(e for e in adverts(events, lab.ip(successor), vrid=2) if e.time > zero[0].time)
    gap = first_new.time - zero[0].time
    bound = skew_time(table[2][IPv4Address(lab.ip(successor))])
    assert bound - 0.005 <= gap <= bound + SLACK, (
        f"handover took {gap * 1000:.1f} ms, Skew_Time {bound * 1000:.1f}"
    )
    assert exit_seconds < 1.5
    assert all(m2 not in lab.holders(vip) for vips in GROUPS.values() for vip in vips)
    stop_all([p for n, p in pods.items() if n != m2])
    assert all(lab.holders(vip) == [] for vips in GROUPS.values() for vip in vips)


def test_stale_vips_from_a_killed_pod_are_removed_at_start(vrrp_lab: LabFactory) -> None:
    lab = vrrp_lab(nodes=2, prefix=PREFIX)
    env = GEO_CACHE | {"OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.101-102", "OPENSHIFT_HA_VIP_GROUPS": "1"}
    vips = ("192.0.2.101", "192.0.2.102")
    by_address = names_by_address(lab)
    table = spread.priorities(by_address, [1], "rendezvous")
    master = by_address[spread.masters(table)[1]]
    other = next(n for n in lab.nodes if n != master)
    for node in lab.nodes:
        start_listener(lab, node, PORT)
    pods = {n: start_pod(lab, n, env) for n in lab.nodes}
    wait_masters(lab, {1: master}, timeout=20, groups={1: vips})
    pods[master].kill()  # SIGKILL, as when a node's kubelet kills a stuck pod: the VIPs stay behind
    pods[master].wait()
    assert wait_for(lambda: all(sorted(lab.holders(v)) == sorted(lab.nodes) for v in vips), 8), (
        "duplicate VIPs"
    )
    restarted = start_pod(lab, master, env, tag="-restart")
    # The new pod removes the stale VIPs before it joins the election: the duplicate is gone at once...
    assert wait_for(lambda: all(lab.holders(v) == [other] for v in vips), 4), {
        v: lab.holders(v) for v in vips
    }
    removed = [e for e in log_events(restarted) if e.get("event") == "stale_vip_removed"]
    assert sorted(e["vip"] for e in removed) == ["192.0.2.101/32", "192.0.2.102/32"]
    # ...and then, with the better priority, it takes the group back after the preempt delay.
    wait_masters(lab, {1: master}, timeout=12, groups={1: vips})
    stop_all([restarted, pods[other]])


def test_unicast_peers_exact_spread_and_firewall_table_lifecycle(vrrp_lab: LabFactory) -> None:
    lab = vrrp_lab(nodes=3, prefix=PREFIX)
    peers = ",".join(lab.ip(n) for n in lab.nodes)  # one list for every pod, self included
    env = GEO_CACHE | {
        "OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.101-103",
        "OPENSHIFT_HA_VIP_GROUPS": "3",
        "OPENSHIFT_HA_UNICAST_PEERS": peers,
        "OPENSHIFT_HA_USE_UNICAST": "true",
        "OPENSHIFT_HA_NFTABLES_RULE": "true",
    }
    groups = {1: ("192.0.2.101",), 2: ("192.0.2.102",), 3: ("192.0.2.103",)}
    by_address = names_by_address(lab)
    table = spread.priorities(by_address, list(groups), "rank")
    predicted = {vrid: by_address[m] for vrid, m in spread.masters(table).items()}
    assert sorted(predicted.values()) == lab.nodes  # exact: one group per node

    def table_present(node: str) -> bool:
        return lab.run(node, ["nft", "list", "table", "inet", TABLE], check=False).returncode == 0

    for node in lab.nodes:
        start_listener(lab, node, PORT)
    cap = lab.capture()
    pods = {n: start_pod(lab, n, env) for n in lab.nodes}
    wait_masters(lab, predicted, timeout=20, groups=groups)
    assert all(table_present(n) for n in lab.nodes)
    events = cap.stop()
    vrrp = [e for vrid in groups for e in adverts(events, vrid=vrid)]
    assert vrrp and all(e.dst_ip in {lab.ip(n) for n in lab.nodes} for e in vrrp), "unicast adverts only"

    # SIGTERM: the pod hands over and removes its table on the way out.
    first = predicted[1]
    pods[first].terminate()
    assert pods[first].wait(timeout=5) == 0
    assert not table_present(first)
    assert all(table_present(n) for n in lab.nodes if n != first)
    elected = spread.elect(table[1], alive=[a for a, n in by_address.items() if n != first])
    assert elected is not None
    successor = by_address[elected]
    wait_masters(lab, {1: successor}, timeout=6, groups=groups)

    # SIGKILL leaves VIPs and table behind; `vrrpd cleanup --openshift` (the removal job) takes both away.
    killed = predicted[3]
    held = [vip for vrid, vips in groups.items() for vip in vips if killed in lab.holders(vip)]
    assert held
    pods[killed].kill()
    pods[killed].wait()
    assert table_present(killed)
    argv = [
        "env",
        *(f"{k}={v}" for k, v in env.items()),
        sys.executable,
        "-m",
        "vrrpd",
        "cleanup",
        "--openshift",
    ]
    proc = lab.run(killed, argv, check=False, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert f"removed nftables table inet {TABLE}" in proc.stdout
    assert not table_present(killed)
    assert all(killed not in lab.holders(vip) for vip in held)
    stop_all([p for n, p in pods.items() if n not in (first, killed)])


def test_a_check_command_with_arguments_runs_as_the_images_keepalived_ran_it(
    vrrp_lab: LabFactory, tmp_path: Path
) -> None:
    # OPENSHIFT_HA_CHECK_SCRIPT with arguments and keepalived's quoting; the image tracked it through one
    # vrrp_script. Removing a node's flag file fails its check: its group moves, then comes back.
    lab = vrrp_lab(nodes=2, prefix=PREFIX)
    flags = {n: tmp_path / f"{n}-healthy" for n in lab.nodes}
    for flag in flags.values():
        flag.touch()
    vips = ("192.0.2.101",)
    env = GEO_CACHE | {
        "OPENSHIFT_HA_VIRTUAL_IPS": vips[0],
        "OPENSHIFT_HA_VIP_GROUPS": "1",
        "OPENSHIFT_HA_CHECK_INTERVAL": "1",
        "OPENSHIFT_HA_PREEMPTION": "preempt_delay 0",
    }
    by_address = names_by_address(lab)
    table = spread.priorities(by_address, [1], "rendezvous")
    master = by_address[spread.masters(table)[1]]
    other = next(n for n in lab.nodes if n != master)
    pods = {
        n: start_pod(lab, n, env | {"OPENSHIFT_HA_CHECK_SCRIPT": f"/bin/sh -c 'test -e $0' {flags[n]}"})
        for n in lab.nodes
    }
    wait_masters(lab, {1: master}, timeout=20, groups={1: vips})
    flags[master].unlink()
    wait_masters(lab, {1: other}, timeout=8, groups={1: vips})
    faults = [
        e for e in log_events(pods[master]) if e.get("event") == "state_change" and e.get("new") == "FAULT"
    ]
    assert [e["instance"] for e in faults if e["old"] == "MASTER"] == ["ipf_ha_geo_cache_VIP_1"]
    flags[master].touch()
    wait_masters(lab, {1: master}, timeout=8, groups={1: vips})
    stop_all(list(pods.values()))
