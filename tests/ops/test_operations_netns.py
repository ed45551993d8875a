"""Operating vrrpd (issue 6) on a real network: status, metrics, probes, reload, conflicts, FIFO, GARP.

Real daemons in namespaces (`vrrpd.testing.lab.Lab`, prefix "vop"); status and metrics are read the way an
operator or Prometheus would — `vrrpd status` and an HTTP client run inside the node's namespace — and the
reload's effect on traffic is measured on the lab's bridge. Every wait is bounded; labs are always torn down.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemons import log_events, stop_all, toml_value, wait_for, wait_holder
from vrrpd.testing.lab import Lab, Process
from vrrpd.testing.plugin import LabFactory
from vrrpd.testing.sniff import ArpEvent, IcmpEvent, VrrpEvent

pytestmark = pytest.mark.netns

VIP1, VIP2, VIP3 = "192.0.2.100", "192.0.2.101", "192.0.2.102"
FOREIGN_VIP = "192.0.2.150"
METRICS = "127.0.0.1:9650"  # each namespace has its own loopback


# -- helpers ---------------------------------------------------------------------------------------


def instance(name: str, vrid: int, priority: int, vips: list[str], **keys: Any) -> dict[str, Any]:
    return {
        "name": name,
        "interface": "eth0",
        "virtual_router_id": vrid,
        "priority": priority,
        "advert_int": 1,
        "virtual_ipaddress": [f"{v}/24" for v in vips],
        "garp_master_delay": 0,
    } | keys


def conf(lab: Lab, node: str, instances: list[dict[str, Any]], **global_keys: Any) -> str:
    g = {"router_id": node, "control_socket": sock(lab, node)} | global_keys
    lines = ["[global]", *(f"{k} = {toml_value(v)}" for k, v in g.items())]
    for inst in instances:
        lines += [
            "",
            "[[vrrp_instance]]",
            *(f"{k} = {toml_value(v)}" for k, v in inst.items() if k != "check"),
        ]
        if "check" in inst:
            lines += [
                "",
                "[vrrp_instance.check]",
                *(f"{k} = {toml_value(v)}" for k, v in inst["check"].items()),
            ]
    return "\n".join(lines) + "\n"


def sock(lab: Lab, node: str) -> str:
    return f"{lab.log_dir}/{node}.sock"


def config_path(lab: Lab, node: str) -> Path:
    return Path(lab.log_dir) / f"{node}.toml"


def start(lab: Lab, node: str, text: str) -> Process:
    """Start `vrrpd run` on the node's config file (rewritten in place by reload tests)."""
    path = config_path(lab, node)
    path.write_text(text)
    return lab.spawn(
        node,
        [sys.executable, "-m", "vrrpd", "run", "--config", str(path)],
        env={"VRRPD_LOG_FORMAT": "json"},
        log_path=Path(lab.log_dir) / f"{node}-vrrpd.log",
    )


def vrrpd(lab: Lab, node: str, *args: str) -> tuple[int, str, str]:
    proc = lab.run(node, [sys.executable, "-m", "vrrpd", *args], check=False, timeout=20)
    return proc.returncode, proc.stdout, proc.stderr


def status(lab: Lab, node: str, path: str | None = None) -> dict[str, Any]:
    rc, out, err = vrrpd(lab, node, "status", "--json", "--socket", path or sock(lab, node))
    assert rc == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def inst_status(data: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [i for i in data["instances"] if i["name"] == name]
    assert found, f"no instance {name} in status: {[i['name'] for i in data['instances']]}"
    return found[0]


_HTTP_GET = """
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen("http://%s" + sys.argv[1], timeout=5)
    code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
sys.stdout.write(str(code) + "\\n" + body.decode())
"""


def http_get(lab: Lab, node: str, path: str, listen: str = METRICS) -> tuple[int, str]:
    """GET with urllib inside the node's namespace (a real HTTP client, as a probe or Prometheus)."""
    proc = lab.run(node, [sys.executable, "-c", _HTTP_GET % listen, path], timeout=20)
    code, _, body = proc.stdout.partition("\n")
    return int(code), body


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        series = head[len(name) :]
        if series and not series.startswith("{"):
            continue  # a longer metric name with the same prefix
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            return float(value)
    return None


def events_named(proc: Process, name: str) -> list[dict[str, Any]]:
    return [e for e in log_events(proc) if e.get("event") == name]


def _reloaded(proc: Process, count: int) -> Callable[[], bool]:
    return lambda: len(events_named(proc, "reloaded")) >= count


# -- status, metrics, probes, the control socket ---------------------------------------------------


def test_status_metrics_and_probes_from_running_daemons(vrrp_lab: LabFactory) -> None:
    lab = vrrp_lab(nodes=2, prefix="vop")
    # n1's socket is in /tmp (world-searchable) so that another user can reach it for the SO_PEERCRED
    # check below; n2's in a directory that does not exist yet.
    n1_sock = f"/tmp/{lab.prefix}-{lab.id}-n1.sock"
    n2_sock = f"{lab.log_dir}/run/vrrpd/n2.sock"
    # A stale socket file left by a killed daemon is replaced at start.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(n1_sock)
    stale.close()
    check = {"tcp_port": 9, "host": "192.0.2.200", "interval": 0.5, "timeout": 0.3, "weight": 60}
    try:
        _status_metrics_and_probes(lab, n1_sock, n2_sock, check)
    finally:
        Path(n1_sock).unlink(missing_ok=True)


def _status_metrics_and_probes(lab: Lab, n1_sock: str, n2_sock: str, check: dict[str, Any]) -> None:
    n1_conf = conf(
        lab, "n1", [instance("VI_1", 51, 150, [VIP1])], metrics_listen=METRICS, control_socket=n1_sock
    )
    n2_insts = [instance("VI_1", 51, 100, [VIP1]), instance("VI_2", 52, 100, [VIP2], check=check)]
    procs = [start(lab, "n1", n1_conf), start(lab, "n2", conf(lab, "n2", n2_insts, control_socket=n2_sock))]
    wait_holder(lab, "n1", vip=VIP1)

    def settled() -> bool:
        # What the assertions below read: a few adverts sent, and VI_2's check has run once on n2.
        sent = inst_status(status(lab, "n1", n1_sock), "VI_1")["counters"]["adverts_sent"]
        check = inst_status(status(lab, "n2", n2_sock), "VI_2")["check"]
        return bool(sent >= 2 and check["last_run_at"] is not None)

    assert wait_for(settled, timeout=10, step=0.1)

    # The socket: 0600, its directory created 0755; a missing one is one line and exit 1.
    mode = os.stat(n1_sock).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(os.stat(Path(n2_sock).parent).st_mode) == 0o755
    rc, out, err = vrrpd(lab, "n1", "status", "--socket", f"{lab.log_dir}/nobody.sock")
    assert rc == 1 and out == ""
    assert (
        err.strip()
        == f"vrrpd: cannot reach the daemon at {lab.log_dir}/nobody.sock: No such file or directory"
    )

    # Human table (found through --config) and JSON.
    rc, out, err = vrrpd(lab, "n1", "status", "--config", str(config_path(lab, "n1")))
    assert rc == 0, err
    print(out)
    row = next(line for line in out.splitlines() if line.startswith("VI_1"))
    assert "MASTER" in row and "192.0.2.11" in row and f"{VIP1}/24" in row and "BACKUP->MASTER" in row
    s1 = status(lab, "n1", n1_sock)
    assert s1["schema_version"] == 1 and s1["daemon"]["router_id"] == "n1" and s1["daemon"]["ready"]
    vi1 = inst_status(s1, "VI_1")
    assert vi1["state"] == "MASTER" and vi1["priority"] == {"base": 150, "effective": 150}
    assert vi1["vips_held"] == [f"{VIP1}/24"] and vi1["master"] == "192.0.2.11"
    assert (
        vi1["last_transition"]["to"] == "MASTER" and vi1["last_transition"]["reason"] == "master_down_timer"
    )
    assert vi1["counters"]["adverts_sent"] >= 2 and vi1["counters"]["transitions"] == 2
    # VI_2 on n2: the check (nothing listens on the client's port 9) is down and lowers the priority.
    s2 = status(lab, "n2", n2_sock)
    vi2 = inst_status(s2, "VI_2")
    assert vi2["priority"] == {"base": 100, "effective": 40}
    assert vi2["check"]["up"] is False and vi2["check"]["last_result"] is False
    assert vi2["check"]["target"] == "192.0.2.200:9" and vi2["check"]["last_run_at"] is not None
    assert inst_status(s2, "VI_1")["state"] == "BACKUP" and inst_status(s2, "VI_1")["master"] == "192.0.2.11"

    # Prometheus and the probes, through a real HTTP client in n1's namespace.
    code, body = http_get(lab, "n1", "/metrics")
    assert code == 200
    lbl = {"vrrp_instance": "VI_1", "interface": "eth0", "vrid": "51"}
    assert metric(body, "vrrpd_instance_state", state="MASTER", **lbl) == 1.0
    assert metric(body, "vrrpd_instance_state", state="BACKUP", **lbl) == 0.0
    assert metric(body, "vrrpd_instance_priority", **lbl) == 150.0
    assert (metric(body, "vrrpd_instance_adverts_sent_total", **lbl) or 0) >= 2
    assert metric(body, "vrrpd_instance_transitions_total", **lbl) == 2.0
    assert metric(body, "vrrpd_instance_drops_total", reason="address_mismatch", **lbl) == 0.0
    assert metric(body, "vrrpd_instance_vips_held", **lbl) == 1.0
    assert metric(body, "vrrpd_instance_conflicts_active", kind="vip_mismatch", **lbl) == 0.0
    assert metric(body, "process_resident_memory_bytes") is not None
    assert http_get(lab, "n1", "/healthz") == (200, "ok\n")
    code, body = http_get(lab, "n1", "/readyz")
    assert code == 200 and "VI_1 MASTER" in body
    assert http_get(lab, "n1", "/nope")[0] == 404

    # SO_PEERCRED: even with the file opened up to everyone, another user is refused by the daemon.
    os.chmod(n1_sock, 0o666)
    probe = (
        "import os,sys\n"
        "from vrrpd.ops.control import request, CommandError\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "try: request(sys.argv[1], 'status')\n"
        "except CommandError as e: print('refused:', e)\n"
    )
    out = lab.run("n1", [sys.executable, "-c", probe, n1_sock]).stdout
    assert out.strip() == "refused: permission denied for uid 65534"

    stop_all(procs)
    assert not Path(n1_sock).exists() and not Path(n2_sock).exists()  # unlinked at exit
    assert events_named(procs[0], "control_socket_stale_removed")


# -- reload ----------------------------------------------------------------------------------------


def _pair_configs(lab: Lab, node: str, round_: int) -> str:
    """VI_1 never changes; VI_2 changes every round (priority, GARP settings, preempt_delay)."""
    base = {"n1": 150, "n2": 100}[node]
    vi2_prio = base - 10 * (round_ % 2)
    return conf(
        lab,
        node,
        [
            instance("VI_1", 51, base, [VIP1]),
            instance(
                "VI_2",
                52,
                vi2_prio,
                [VIP2],
                garp_master_repeat=3 + round_ % 3,
                preempt_delay=float(round_ % 2),
            ),
        ],
    )


def test_ten_reloads_lose_no_echo_reply_on_the_unchanged_instance(vrrp_lab: LabFactory) -> None:
    lab = vrrp_lab(nodes=2, prefix="vop")
    procs = [start(lab, n, _pair_configs(lab, n, 0)) for n in ("n1", "n2")]
    wait_holder(lab, "n1", vip=VIP1)
    wait_holder(lab, "n1", vip=VIP2)
    assert lab.ping(VIP1, count=3, timeout=1.0)  # the client has resolved the VIP before we measure
    before = {n: len(events_named(p, "state_change")) for n, p in zip(("n1", "n2"), procs, strict=True)}
    cap = lab.capture()
    pinger = lab.spawn(lab.client, [sys.executable, "-m", "vrrpd.testing.demo", "pinger", VIP1, "30", "0.02"])
    time.sleep(0.5)
    reloads = 10
    for round_ in range(1, reloads + 1):
        for node, proc in zip(("n1", "n2"), procs, strict=True):
            config_path(lab, node).write_text(_pair_configs(lab, node, round_))
            if round_ % 2:
                proc.send_signal(signal.SIGHUP)  # what `systemctl reload` does (ExecReload=kill -HUP)
            else:
                rc, out, err = vrrpd(lab, node, "reload", "--socket", sock(lab, node))
                assert rc == 0 and out.startswith("reloaded; "), err
        for proc in procs:
            assert wait_for(_reloaded(proc, round_), 10), f"round {round_}"
        time.sleep(0.3)
    pinger.kill()
    time.sleep(0.5)  # the last replies reach the capture
    events = cap.stop()

    requests = {e.seq for e in events if isinstance(e, IcmpEvent) and e.type == 8 and e.dst == VIP1}
    replies = {e.seq for e in events if isinstance(e, IcmpEvent) and e.type == 0 and e.src == VIP1}
    lost = sorted(requests - replies)
    print(f"reload measurement: {reloads} reloads, {len(requests)} echo requests, {len(lost)} lost: {lost}")
    assert len(requests) > 200 and lost == []

    # No transition at all, on either node, for either instance; VI_1 never missed an advert.
    for node, proc in zip(("n1", "n2"), procs, strict=True):
        assert len(events_named(proc, "state_change")) == before[node], node
        assert len(events_named(proc, "reload_failed")) == 0
    n1_adverts = [
        e.time for e in events if isinstance(e, VrrpEvent) and e.vrid == 51 and e.src_ip == lab.ip("n1")
    ]
    gaps = [b - a for a, b in itertools.pairwise(n1_adverts)]
    assert gaps and max(gaps) < 1.05, f"advert gaps of VI_1 during reloads: {max(gaps):.3f}s"
    s1 = status(lab, "n1")
    assert s1["daemon"]["reloads"]["succeeded"] == reloads and s1["daemon"]["reloads"]["last_ok"] is True
    assert inst_status(s1, "VI_2")["priority"]["base"] == 150 - 10 * (reloads % 2)
    assert "VI_1" in s1["daemon"]["reloads"]["last_changes"]["unchanged"]
    reconfigured = events_named(procs[0], "instance_reconfigured")
    assert len(reconfigured) == reloads and all(e["instance"] == "VI_2" for e in reconfigured)
    stop_all(procs)


def test_reload_invalid_priority_vips_removed_added_and_restarted(vrrp_lab: LabFactory) -> None:
    lab = vrrp_lab(nodes=2, prefix="vop")
    n1_insts = [instance("VI_1", 51, 150, [VIP1]), instance("VI_2", 52, 150, [VIP2])]
    n2_insts = [instance("VI_1", 51, 100, [VIP1]), instance("VI_2", 52, 100, [VIP2])]
    p1 = start(lab, "n1", conf(lab, "n1", n1_insts))
    p2 = start(lab, "n2", conf(lab, "n2", n2_insts))
    wait_holder(lab, "n1", vip=VIP1)
    wait_holder(lab, "n1", vip=VIP2)

    # 1. An invalid file changes nothing: one line from `vrrpd reload`, a logged error, status says so.
    good = config_path(lab, "n1").read_text()
    config_path(lab, "n1").write_text(good.replace("virtual_router_id = 52", "virtual_router_id = 300"))
    rc, out, err = vrrpd(lab, "n1", "reload", "--socket", sock(lab, "n1"))
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "virtual_router_id = 300" in err, err
    assert "Traceback" not in err
    p1.send_signal(signal.SIGHUP)
    assert wait_for(lambda: len(events_named(p1, "reload_failed")) == 2, 5)
    s1 = status(lab, "n1")
    assert s1["daemon"]["reloads"]["failed"] == 2 and s1["daemon"]["reloads"]["last_ok"] is False
    assert [i["state"] for i in s1["instances"]] == ["MASTER", "MASTER"]
    rc, out, _ = vrrpd(lab, "n1", "status", "--socket", sock(lab, "n1"))
    assert "last reload failed" in out and "virtual_router_id = 300" in out

    # 2. A priority change is a set-priority: n2's VI_1 rises above n1 and preempts by the normal rules.
    n2_insts[0] = instance("VI_1", 51, 200, [VIP1])
    config_path(lab, "n2").write_text(conf(lab, "n2", n2_insts))
    assert vrrpd(lab, "n2", "reload", "--socket", sock(lab, "n2"))[0] == 0
    wait_holder(lab, "n2", vip=VIP1, timeout=8)
    assert inst_status(status(lab, "n2"), "VI_1")["priority"] == {"base": 200, "effective": 200}

    # 3. A VIP added to VI_2 on both nodes: the master installs it, no transition; removed again, likewise.
    n1_insts[1] = instance("VI_2", 52, 150, [VIP2, VIP3])
    n2_insts[1] = instance("VI_2", 52, 100, [VIP2, VIP3])
    transitions = inst_status(status(lab, "n1"), "VI_2")["counters"]["transitions"]
    for node, insts in (("n1", n1_insts), ("n2", n2_insts)):
        config_path(lab, node).write_text(conf(lab, node, insts))
        assert vrrpd(lab, node, "reload", "--socket", sock(lab, node))[0] == 0
    wait_holder(lab, "n1", vip=VIP3, timeout=3)
    assert lab.ping(VIP3, count=3, timeout=1.0)
    n1_insts[1] = instance("VI_2", 52, 150, [VIP2])
    n2_insts[1] = instance("VI_2", 52, 100, [VIP2])
    for node, insts in (("n1", n1_insts), ("n2", n2_insts)):
        config_path(lab, node).write_text(conf(lab, node, insts))
        assert vrrpd(lab, node, "reload", "--socket", sock(lab, node))[0] == 0
    assert wait_for(lambda: lab.holders(VIP3) == [], 3)
    vi2 = inst_status(status(lab, "n1"), "VI_2")
    assert vi2["state"] == "MASTER" and vi2["counters"]["transitions"] == transitions
    assert vi2["vips_held"] == [f"{VIP2}/24"]

    # 4. VI_2 removed from n1: a graceful priority-0 handover, n2 takes over within Skew_Time.
    cap = lab.capture()
    config_path(lab, "n1").write_text(conf(lab, "n1", [n1_insts[0]]))
    rc, out, _ = vrrpd(lab, "n1", "reload", "--socket", sock(lab, "n1"))
    assert rc == 0 and "removed: VI_2" in out
    wait_holder(lab, "n2", vip=VIP2, timeout=3)
    time.sleep(0.2)
    events = cap.stop()
    zero = [e for e in events if isinstance(e, VrrpEvent) and e.vrid == 52 and e.priority == 0]
    assert len(zero) == 1 and zero[0].src_ip == lab.ip("n1")

    # 5. Added back with priority 255 (address owner): a new instance, master at once.
    n1_insts[1] = instance("VI_2", 52, 255, [VIP2])
    config_path(lab, "n1").write_text(conf(lab, "n1", n1_insts))
    rc, out, _ = vrrpd(lab, "n1", "reload", "--socket", sock(lab, "n1"))
    assert rc == 0 and "added: VI_2" in out
    wait_holder(lab, "n1", vip=VIP2, timeout=3)

    # 6. 255 -> 150 cannot be a set-priority: the instance restarts (and wins again, preempting n2's 100).
    n1_insts[1] = instance("VI_2", 52, 150, [VIP2])
    config_path(lab, "n1").write_text(conf(lab, "n1", n1_insts))
    rc, out, _ = vrrpd(lab, "n1", "reload", "--socket", sock(lab, "n1"))
    assert rc == 0 and "restart: VI_2(priority)" in out
    wait_holder(lab, "n1", vip=VIP2, timeout=10)
    # VI_1 on n1 (BACKUP since step 2) was untouched by all of this.
    assert inst_status(status(lab, "n1"), "VI_1")["counters"]["transitions"] == 3  # INIT->B->M->B
    stop_all([p1, p2])


# -- conflicts -------------------------------------------------------------------------------------


def test_vrid_conflict_with_another_cluster_shows_in_status_metrics_and_logs(vrrp_lab: LabFactory) -> None:
    lab = vrrp_lab(nodes=4, prefix="vop")
    ours = [
        start(lab, "n1", conf(lab, "n1", [instance("VI_1", 51, 150, [VIP1])], metrics_listen=METRICS)),
        start(lab, "n2", conf(lab, "n2", [instance("VI_1", 51, 100, [VIP1])])),
    ]
    wait_holder(lab, "n1", vip=VIP1)
    # Another cluster on the same segment picked the same VRID for another VIP.
    # (Its backup starts once its master runs, so that only n3 ever advertises for it.)
    theirs = [start(lab, "n3", conf(lab, "n3", [instance("VI_X", 51, 150, [FOREIGN_VIP])]))]
    wait_holder(lab, "n3", vip=FOREIGN_VIP)
    theirs.append(start(lab, "n4", conf(lab, "n4", [instance("VI_X", 51, 100, [FOREIGN_VIP])])))
    foreign = lab.ip("n3")

    def kinds(node: str) -> set[tuple[str, str]]:
        return {(c["kind"], c["source"]) for c in inst_status(status(lab, node), "VI_1")["conflicts"]}

    assert wait_for(lambda: {("vip_mismatch", foreign), ("second_master", foreign)} <= kinds("n1"), 8), kinds(
        "n1"
    )
    vi1 = inst_status(status(lab, "n1"), "VI_1")
    mismatch = next(c for c in vi1["conflicts"] if c["kind"] == "vip_mismatch")
    assert FOREIGN_VIP in mismatch["detail"] and VIP1 in mismatch["detail"]
    assert vi1["counters"]["drops"]["address_mismatch"] >= 1
    # The backup of our cluster sees two masters advertising (its own overlap window, so wait for it too).
    both = {("second_master", foreign), ("vip_mismatch", foreign)}
    assert wait_for(lambda: both <= kinds("n2"), 8), kinds("n2")
    _, out, _ = vrrpd(lab, "n1", "status", "--socket", sock(lab, "n1"))
    assert f"CONFLICT vip_mismatch from {foreign}" in out
    code, body = http_get(lab, "n1", "/metrics")
    assert code == 200
    lbl = {"vrrp_instance": "VI_1", "interface": "eth0", "vrid": "51"}
    assert metric(body, "vrrpd_instance_conflicts_active", kind="vip_mismatch", **lbl) == 1.0
    assert metric(body, "vrrpd_instance_conflicts_detected_total", kind="second_master", **lbl) == 1.0
    warnings = events_named(ours[0], "vrid_conflict")
    assert {(w["kind"], w["source"]) for w in warnings} == {
        ("vip_mismatch", foreign),
        ("second_master", foreign),
    }
    assert all(w["level"] == "warning" for w in warnings)  # one warning per episode, not per advert

    # The other cluster goes away: the conflict clears after 3 intervals + 1 s of silence.
    stop_all(theirs[1:])
    stop_all(theirs[:1])
    assert wait_for(lambda: kinds("n1") == set(), 8), kinds("n1")
    assert {e["kind"] for e in events_named(ours[0], "vrid_conflict_cleared")} == {
        "vip_mismatch",
        "second_master",
    }
    _, body = http_get(lab, "n1", "/metrics")
    assert metric(body, "vrrpd_instance_conflicts_active", kind="vip_mismatch", **lbl) == 0.0
    stop_all(ours)


# -- notify FIFO and GARP refresh ------------------------------------------------------------------

_FIFO_READER = """
import os, select, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
out = open(sys.argv[2], "ab", buffering=0)
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    if select.select([fd], [], [], 0.1)[0]:
        data = os.read(fd, 4096)
        if data:
            out.write(data)
        else:
            time.sleep(0.05)  # no writer at the moment
"""


def test_notify_fifo_lines_in_order(vrrp_lab: LabFactory) -> None:
    lab = vrrp_lab(nodes=2, prefix="vop")
    fifo, out = Path(lab.log_dir) / "notify.fifo", Path(lab.log_dir) / "fifo.out"
    os.mkfifo(fifo, 0o600)
    reader = lab.spawn("n1", [sys.executable, "-c", _FIFO_READER, str(fifo), str(out), "30"])
    time.sleep(0.5)  # the reader has the FIFO open
    made = Path(lab.log_dir) / "run" / "made.fifo"  # n2's does not exist: the daemon creates it
    p1 = start(lab, "n1", conf(lab, "n1", [instance("VI_1", 51, 150, [VIP1])], notify_fifo=str(fifo)))
    p2 = start(lab, "n2", conf(lab, "n2", [instance("VI_1", 51, 100, [VIP1])], notify_fifo=str(made)))
    wait_holder(lab, "n1", vip=VIP1)
    assert wait_for(made.exists, 3) and stat.S_ISFIFO(made.stat().st_mode)
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    stop_all([p1])
    wait_holder(lab, "n2", vip=VIP1, timeout=5)
    assert wait_for(lambda: out.exists() and out.read_text().count("\n") >= 3, 3)
    reader.kill()
    assert out.read_text().splitlines() == [
        'INSTANCE "VI_1" BACKUP 150',
        'INSTANCE "VI_1" MASTER 150',
        'INSTANCE "VI_1" STOP 150',
    ]
    assert fifo.exists()  # not ours: left in place
    stop_all([p2])
    assert not made.exists()  # ours: removed at exit


def test_garp_master_refresh_on_the_wire(vrrp_lab: LabFactory) -> None:
    lab = vrrp_lab(nodes=1, prefix="vop")
    cap = lab.capture()
    p1 = start(
        lab,
        "n1",
        conf(lab, "n1", [instance("VI_1", 51, 150, [VIP1], garp_master_repeat=1, garp_master_refresh=1)]),
    )
    wait_holder(lab, "n1", vip=VIP1)
    time.sleep(4.6)
    events = cap.stop()
    mac = lab.node_mac("n1")
    garps = [
        e.time
        for e in events
        if isinstance(e, ArpEvent) and e.gratuitous and e.sender_ip == VIP1 and e.sender_mac == mac
    ]
    # One on becoming master, then one per garp_master_refresh second while MASTER.
    assert len(garps) >= 5, garps
    gaps = [b - a for a, b in itertools.pairwise(garps)]
    assert all(0.95 <= g <= 1.05 for g in gaps), gaps
    stop_all([p1])
