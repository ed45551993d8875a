"""Fail-safe mastership (issue 13): never advertise what is not served, never hide a fault.

Each test reproduces one case of the issue against real daemons in a namespace lab: it failed before the
fix and passes after. Holders are sampled over rtnetlink (`tests.support.hostile.HolderProbe`); the
figures the tests print are the ones docs/reliability.md reports.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.daemons import VIP, config_text, log_events, start_vrrpd, stop_all
from tests.support.hostile import (
    HolderProbe,
    HolderSampler,
    Injector,
    bad_stretches,
    daemon_status,
    netns_call,
    vrrp3_frame,
    wait_single,
)
from vrrpd.protocol.fsm import master_down_interval, skew_time
from vrrpd.testing.lab import Lab, Process, wait_until
from vrrpd.testing.plugin import LabFactory
from vrrpd.testing.sniff import VrrpEvent

pytestmark = pytest.mark.netns

STARTUP = 5.0  # `python -m vrrpd run` on a busy 2-core machine
SLACK = 0.5  # one 100 ms sampling step, a netlink round trip, a loaded machine
MDI_150 = master_down_interval(1, 150)
MDI_100 = master_down_interval(1, 100)


@pytest.fixture
def lab(vrrp_lab: LabFactory) -> Lab:
    return vrrp_lab(nodes=2)


@pytest.fixture
def probe(lab: Lab) -> Iterator[HolderProbe]:
    p = HolderProbe(lab)
    yield p
    p.close()


def _with_global(text: str, **keys: str) -> str:
    """`config_text` output with [global] keys added."""
    head, rest = text.split("[global]\n", 1)
    return head + "[global]\n" + "".join(f'{k} = "{v}"\n' for k, v in keys.items()) + rest


def _changes(proc: Process) -> list[dict[str, Any]]:
    return [e for e in log_events(proc) if e.get("event") == "state_change"]


def _events(proc: Process, name: str) -> list[dict[str, Any]]:
    return [e for e in log_events(proc) if e.get("event") == name]


def _wait_event(proc: Process, name: str, timeout: float) -> dict[str, Any] | None:
    found: list[dict[str, Any]] = []

    def seen() -> bool:
        found[:] = _events(proc, name)
        return bool(found)

    wait_until(seen, timeout, 0.05)
    return found[0] if found else None


def _no_crash(*procs: Process) -> None:
    for proc in procs:
        assert proc.poll() is None, proc.log_text()[-2000:]
        text = proc.log_text()
        assert "Traceback" not in text and '"action_failed"' not in text, text[-3000:]


def _spawn(lab: Lab, node: str, text: str, prefix: list[str], tag: str) -> Process:
    config = lab.log_dir / f"{node}{tag}.toml"
    config.write_text(text)
    return lab.spawn(
        node,
        [*prefix, sys.executable, "-m", "vrrpd", "run", "--config", str(config)],
        env={"VRRPD_LOG_FORMAT": "json"},
        log_path=lab.log_dir / f"{node}{tag}-vrrpd.log",
    )


def _spawn_hostile(lab: Lab, node: str, text: str, fault: list[str], tag: str) -> Process:
    config = lab.log_dir / f"{node}{tag}.toml"
    config.write_text(text)
    return lab.spawn(
        node,
        [sys.executable, "-m", "tests.support.hostile", *fault, "--", "run", "--config", str(config)],
        env={"VRRPD_LOG_FORMAT": "json"},
        log_path=lab.log_dir / f"{node}{tag}-vrrpd.log",
    )


def _http(lab: Lab, node: str, port: int, path: str) -> tuple[int, str]:
    def get() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return int(r.status), str(r.read().decode())
        except urllib.error.HTTPError as e:
            return int(e.code), str(e.read().decode())

    return netns_call(lab.ns(node), get)


# -- 1. a master without its VIPs ----------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="util-linux setpriv is not installed")
@pytest.mark.parametrize(("dropped", "named"), [("net_admin", "CAP_NET_ADMIN"), ("net_raw", "CAP_NET_RAW")])
def test_start_without_a_capability_is_refused_in_one_line(lab: Lab, dropped: str, named: str) -> None:
    """Root as Docker and containerd run it (NET_RAW but no NET_ADMIN): one line naming what is missing,
    exit 2, before anything touches the network."""
    drop = ["setpriv", f"--inh-caps=-{dropped}", f"--bounding-set=-{dropped}", "--"]
    proc = _spawn(lab, "n1", config_text(lab, "n1", priority=150), drop, tag=f"-no-{dropped}")
    assert wait_until(lambda: proc.poll() is not None, STARTUP + 5.0, 0.05), (
        f"still running without {named}: {proc.log_text()[-1500:]}"
    )
    assert proc.wait() == 2
    lines = proc.log_text().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vrrpd: ") and named in lines[0], lines
    assert lab.holders(VIP) == []


def test_master_that_cannot_install_its_vips_goes_fault_and_recovers(lab: Lab, probe: HolderProbe) -> None:
    """Every VIP add refused (as without CAP_NET_ADMIN): the master must step aside (priority 0, FAULT), say
    so in status, metrics and /readyz, retry, and take back over once adds work again."""
    flag = lab.log_dir / "refuse"
    flag.touch()
    text = _with_global(config_text(lab, "n1", priority=150), metrics_listen="127.0.0.1:9650")
    n1 = _spawn_hostile(lab, "n1", text, ["--refuse-vip-add-while", str(flag)], tag="-refuse")
    n2 = start_vrrpd(lab, "n2", config_text(lab, "n2", priority=100))
    master = None

    def became_master() -> bool:
        nonlocal master
        master = next((e for e in _changes(n1) if e["new"] == "MASTER"), None)
        return master is not None

    assert wait_until(became_master, STARTUP + MDI_150, 0.05), n1.log_text()[-2000:]
    t_master = time.monotonic()
    took = wait_single(probe, VIP, "n2", 10.0)
    assert took is not None, f"nobody serves the VIP: holders {probe.holders(VIP)}"
    fault_at = time.monotonic() - t_master
    faults = [e for e in _changes(n1) if e["new"] == "FAULT"]
    assert faults and faults[0]["old"] == "MASTER", _changes(n1)
    status = daemon_status(lab.log_dir / "n1.sock")
    assert status is not None
    (inst,) = status["instances"]
    assert inst["state"] == "FAULT" and "vip_install_failed" in inst["faults"], inst
    code, body = _http(lab, "n1", 9650, "/readyz")
    assert code == 503 and "vip_install_failed" in body, (code, body)
    code, metrics = _http(lab, "n1", 9650, "/metrics")
    assert re.search(r'vrrpd_instance_state\{[^}]*state="FAULT"[^}]*\} 1\.0', metrics), metrics
    assert re.search(r'vrrpd_instance_fault\{fault="vip_install_failed"[^}]*\} 1\.0', metrics), metrics
    # Adds work again: n1 retries, and being the higher priority takes back over.
    flag.unlink()
    t0 = time.monotonic()
    back = wait_single(probe, VIP, "n1", 60.0 + MDI_150 + 2.0)
    assert back is not None, f"n1 never recovered: holders {probe.holders(VIP)} {_changes(n1)}"
    recovered = time.monotonic() - t0
    status = daemon_status(lab.log_dir / "n1.sock")
    assert status is not None and status["instances"][0]["faults"] == []
    _no_crash(n1, n2)
    print(
        "vip install fault:",
        json.dumps({"to_fault_s": round(fault_at, 3), "recovery_s": round(recovered, 3)}),
    )
    stop_all([n1, n2])


# -- 3. the primary address removed or changed on the master ---------------------------------------------


@pytest.mark.parametrize("promote", [0, 1])
def test_primary_address_removed_then_readded_on_the_master(
    lab: Lab, probe: HolderProbe, promote: int
) -> None:
    """The master's own address goes (the kernel drops or promotes the VIP with it): the master must go
    FAULT (it cannot advertise) and never keep the VIP as the interface's only address; a backup takes
    over; a new address brings it back, advertising from that address."""
    for node in lab.nodes:
        lab.run(node, ["sysctl", "-qw", f"net.ipv4.conf.eth0.promote_secondaries={promote}"])
    n1 = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=150))
    n2 = start_vrrpd(lab, "n2", config_text(lab, "n2", priority=100))
    assert wait_single(probe, VIP, "n1", STARTUP + MDI_150) is not None
    sampler = HolderSampler(probe, VIP).start()
    t0 = time.monotonic()
    lab.run("n1", ["ip", "addr", "del", f"{lab.ip('n1')}/24", "dev", "eth0"])
    took = wait_single(probe, VIP, "n2", MDI_100 + 2.0)
    assert took is not None, f"no takeover: holders {probe.holders(VIP)}"
    time.sleep(2.0)  # n1 must not restore the VIP meanwhile
    assert probe.holders(VIP) == ["n2"], probe.holders(VIP)
    assert [e["new"] for e in _changes(n1)][-1] == "FAULT", _changes(n1)
    status = daemon_status(lab.log_dir / "n1.sock")
    assert status is not None and "no_address" in status["instances"][0]["faults"], status
    # A different address this time: the daemon must advertise from it (§5.2.1), not from the old one.
    new_ip = "192.0.2.31"
    cap = lab.capture()
    t1 = time.monotonic()
    lab.run("n1", ["ip", "addr", "add", f"{new_ip}/24", "dev", "eth0"])
    back = wait_single(probe, VIP, "n1", MDI_150 + 3.0)
    assert back is not None, f"n1 never came back: holders {probe.holders(VIP)} {_changes(n1)}"
    recovered = time.monotonic() - t1
    time.sleep(1.5)
    events = cap.stop()
    samples = sampler.stop()
    sources = {e.src_ip for e in events if isinstance(e, VrrpEvent)}
    assert new_ip in sources and lab.ip("n1") not in sources, sources
    many = [s.seconds for s in bad_stretches(samples) if s.holders > 1]
    assert max(many, default=0) <= SLACK, many
    status = daemon_status(lab.log_dir / "n1.sock")
    assert status is not None and status["interfaces"][0]["source"] == new_ip
    _no_crash(n1, n2)
    print("primary address:", json.dumps({"promote_secondaries": promote, "takeover_s": round(took, 3),
                                          "recovery_s": round(recovered, 3),
                                          "two_holder_max_s": round(max(many, default=0), 3),
                                          "fault_s": round(t1 - t0, 3)}))  # fmt: skip
    stop_all([n1, n2])


# -- 9. a second daemon on the same VIPs -------------------------------------------------------------------


def test_second_daemon_on_the_same_vrid_is_refused_and_the_vip_stays(lab: Lab, probe: HolderProbe) -> None:
    n1 = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=150))
    assert wait_single(probe, VIP, "n1", STARTUP + MDI_150) is not None
    sampler = HolderSampler(probe, VIP).start()
    # Same VIPs and VRID, another control socket: what a second unit or a container restart overlap gives.
    text = config_text(lab, "n1", priority=150).replace("n1.sock", "n1-second.sock")
    second = start_vrrpd(lab, "n1", text, tag="-second")
    assert wait_until(lambda: second.poll() is not None, STARTUP + 5.0, 0.05), second.log_text()[-2000:]
    rc = second.wait()
    time.sleep(1.0)
    samples = sampler.stop()
    assert rc != 0
    lines = second.log_text().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vrrpd: ") and "eth0" in lines[0] and "51" in lines[0], (
        lines
    )
    assert str(n1.pid) in lines[0], lines
    assert all(holders == ("n1",) for _, holders in samples), [h for _, h in samples if h != ("n1",)]
    _no_crash(n1)
    stop_all([n1])


# -- 10. a VIP added by hand on a backup ---------------------------------------------------------------------


def test_vip_added_by_hand_on_a_backup_is_removed_and_logged(lab: Lab, probe: HolderProbe) -> None:
    n1 = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=150))
    n2 = start_vrrpd(lab, "n2", config_text(lab, "n2", priority=100))
    assert wait_single(probe, VIP, "n1", STARTUP + MDI_150) is not None
    before = len(_changes(n2))
    for _ in range(2):
        t0 = time.monotonic()
        lab.run("n2", ["ip", "addr", "add", f"{VIP}/24", "dev", "eth0"])
        gone = wait_single(probe, VIP, "n1", 1.0)
        assert gone is not None, f"the duplicate stayed: holders {probe.holders(VIP)}"
        print("hand-added vip removed after", round(time.monotonic() - t0, 3), "s")
        time.sleep(0.3)
    removed = _events(n2, "vip_unexpected_removed")
    assert len(removed) == 2 and removed[0]["vip"] == f"{VIP}/24" and removed[0]["state"] == "BACKUP", removed
    status = daemon_status(lab.log_dir / "n2.sock")
    assert status is not None and status["instances"][0]["counters"]["vips_unexpected_removed"] == 2
    assert len(_changes(n2)) == before and _changes(n2)[-1]["new"] == "BACKUP"  # no flap
    _no_crash(n1, n2)
    stop_all([n1, n2])


# -- 12. start-up FAULT flap ------------------------------------------------------------------------------


def test_a_check_that_has_not_run_yet_is_not_a_failure(lab: Lab) -> None:
    notes = lab.log_dir / "notes"
    notify = lab.log_dir / "notify.sh"
    notify.write_text(f'#!/bin/sh\necho "$3 $2" >> {notes}\n')  # keepalived's argv: type name state prio
    check = lab.log_dir / "check.sh"
    check.write_text("#!/bin/sh\nexit 0\n")
    for script in (notify, check):
        script.chmod(0o755)
    checked = {"script": str(check), "interval": 1, "timeout": 0.5}
    n1 = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=150, notify=str(notify), check=checked))
    assert wait_single_node(lab, "n1", STARTUP + MDI_150 + 1.0)
    assert [(e["old"], e["new"]) for e in _changes(n1)] == [("INIT", "BACKUP"), ("BACKUP", "MASTER")]
    assert wait_until(lambda: notes.exists() and "MASTER" in notes.read_text(), 3.0, 0.05)
    assert "FAULT" not in notes.read_text(), notes.read_text()
    _no_crash(n1)
    stop_all([n1])


def wait_single_node(lab: Lab, node: str, timeout: float) -> bool:
    return wait_until(lambda: lab.holders(VIP) == [node], timeout, 0.1)


# -- 13. a VRRPv3 router on our VRID; a takeover after priority 0 ------------------------------------------


def test_a_vrrpv3_router_on_our_vrid_is_a_named_conflict(lab: Lab, probe: HolderProbe) -> None:
    n1 = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=150))
    assert wait_single(probe, VIP, "n1", STARTUP + MDI_150) is not None
    rogue = lab.ip("cl")
    with Injector(lab) as inj:
        inj.send(vrrp3_frame(rogue, vrid=51), count=3, gap=0.3)
        inj.send(vrrp3_frame(rogue, vrid=52), count=1)  # not ours: an interface drop only
    event = _wait_event(n1, "vrid_conflict", 3.0)
    assert event is not None, n1.log_text()[-2000:]
    assert event["kind"] == "version_mismatch" and event["source"] == rogue and event["vrid"] == 51, event
    assert "3" in str(event["detail"]), event
    status = daemon_status(lab.log_dir / "n1.sock")
    assert status is not None
    (inst,) = status["instances"]
    assert [(c["kind"], c["source"]) for c in inst["conflicts"]] == [("version_mismatch", rogue)], inst
    assert inst["counters"]["conflicts_detected"] == {"version_mismatch": 1}
    assert probe.holders(VIP) == ["n1"]  # reported, not obeyed
    _no_crash(n1)
    stop_all([n1])


def test_takeover_after_priority_zero_is_logged_apart_from_master_down(lab: Lab, probe: HolderProbe) -> None:
    n1 = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=150))
    n2 = start_vrrpd(lab, "n2", config_text(lab, "n2", priority=100))
    assert wait_single(probe, VIP, "n1", STARTUP + MDI_150) is not None
    t0 = time.monotonic()
    n1.terminate()
    assert n1.wait(5) == 0
    assert wait_single(probe, VIP, "n2", skew_time(100) + 1.0) is not None
    print("priority-0 handover:", round(time.monotonic() - t0, 3), "s")
    (took,) = [e for e in _changes(n2) if e["new"] == "MASTER"]
    assert took["reason"] == "master_priority_zero", took
    # A master that falls silent (its link cut): the Master_Down_Interval expiry, logged as such.
    n1 = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=150), tag="-again")
    assert wait_single(probe, VIP, "n1", STARTUP + MDI_150) is not None
    lab.cut_link("n1")
    assert wait_single(probe, VIP, "n2", MDI_100 + 1.0) is not None
    took = [e for e in _changes(n2) if e["new"] == "MASTER"][-1]
    assert took["reason"] == "master_down_timer", took
    _no_crash(n1, n2)
    stop_all([n1, n2])
