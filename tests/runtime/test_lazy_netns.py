"""Lazy reading with the doorbell, on real sockets (issue 17's risks, each with its test).

Every daemon here runs without CAP_BPF and CAP_SYS_ADMIN (`WITHOUT_BPF`): the kernel refuses the eBPF
swallower (tests/runtime/test_ebpf_netns.py), and the daemon says so once and reads lazily — the fallback.

A daemon whose interface is read lazily (`runtime.interface._update_mode`, logged as `interface_reading`)
drains its VRRP socket once per period; the doorbell socket (`kernel.doorbell`) wakes it at once for what
is not a routine repeat. Here:

* a lazy backup takes over within the bound when its master dies (link cut), and within Skew_Time of a
  priority-0 advert (graceful handover) — IPv4 and IPv6;
* a lazy master answers a priority-0 advert on its VRID at once (the doorbell's latency, measured on the
  wire: median of several);
* a backup whose receive queue overflows (a tiny SO_RCVBUF, a flood of adverts for another VRID) never
  declares its master down on what it could not read — and takes over once the master really is gone;
* a flood of non-routine adverts (all urgent to the doorbell) is rate-limited: no false takeover, the
  flood's sender rate-limited by admission, the failover still within the bound.
"""

from __future__ import annotations

import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemons import (
    VIP,
    WITHOUT_BPF,
    adverts,
    became_master,
    config_text,
    handover_gap,
    log_events,
    start_vrrpd,
    stop_all,
    wait_for,
    wait_holder,
)
from tests.support.hostile import (
    HolderProbe,
    HolderSampler,
    Injector,
    daemon_status,
    proc_figures,
    vrrp_frame,
)
from vrrpd.protocol.fsm import master_down_interval, skew_time
from vrrpd.testing.lab import Lab, Process
from vrrpd.testing.plugin import LabFactory

pytestmark = pytest.mark.netns

SLACK = 0.020  # the failover goal's bound: protocol figure + 20 ms
VIP6 = "2001:db8::100"
BACKUP_PERIOD = skew_time(100) - 0.1  # the lazy drain period of a priority-100 backup at 1 s
# A daemon whose receive buffer is the kernel's minimum (≈ 4 KiB charged: a handful of datagrams) and that
# never falls back to per-datagram reading: only `Router.adverts_lost` stands between drops and a takeover.
TINY_BUFFER = """
import socket, sys
from vrrpd.kernel import vrrp_socket
from vrrpd.runtime import interface
def tiny(sock: socket.socket, size: int) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
vrrp_socket.ensure_rcvbuf = tiny
interface.LAZY_BACKOFF = 0.0
from vrrpd.cli.main import main
sys.exit(main(["run", "--config", sys.argv[1]]))
"""


def reading(proc: Process, family: int = 4) -> float | str | None:
    """The daemon's last `interface_reading` for `family`: its lazy period, None (per datagram), or
    "unknown" when it logged none."""
    found: float | str | None = "unknown"
    for e in log_events(proc):
        if e.get("event") == "interface_reading" and e.get("family") == family:
            found = e.get("lazy")
    return found


def _lazy(proc: Process, period: float, family: int = 4) -> bool:
    got = reading(proc, family)
    return isinstance(got, float) and abs(got - period) < 0.01


def _drops(lab: Lab, node: str) -> dict[str, int]:
    status = daemon_status(Path(lab.log_dir) / f"{node}.sock") or {}
    total: dict[str, int] = {}
    for iface in status.get("interfaces", []):
        for reason, count in (iface.get("drops") or {}).items():
            total[reason] = total.get(reason, 0) + int(count)
    return total


def _pair(lab: Lab, **keys: Any) -> list[Process]:
    return [
        start_vrrpd(lab, n, config_text(lab, n, priority=p, **keys), wrapper=WITHOUT_BPF)
        for n, p in zip(lab.nodes, (150, 100), strict=True)
    ]


@pytest.mark.parametrize("family", [4, 6])
def test_lazy_backup_takes_over_within_the_bound(vrrp_lab: LabFactory, family: int) -> None:
    lab: Lab = vrrp_lab(nodes=2, ipv6=family == 6)
    keys: dict[str, Any] = {"version": 3, "virtual_ipaddress": [f"{VIP6}/64"]} if family == 6 else {}
    vip = VIP6 if family == 6 else VIP
    procs = _pair(lab, **keys)
    try:
        wait_holder(lab, "n1", vip=vip)
        assert wait_for(lambda: _lazy(procs[1], BACKUP_PERIOD, family), 5), reading(procs[1], family)
        # The fallback is said once, with the kernel's reason.
        modes = [e for e in log_events(procs[1]) if e.get("event") == "receive_mode"]
        assert [(e["mode"], "not permitted" in e["reason"]) for e in modes] == [("lazy", True)], modes
        # A master alone on its interface hears nothing: read per datagram, no periodic drain.
        assert wait_for(lambda: reading(procs[0], family) is None, 5), reading(procs[0], family)
        # Graceful: n1's priority-0 advert; n2 takes over after its Skew_Time.
        cap = lab.capture()
        time.sleep(2.2)
        procs[0].send_signal(signal.SIGTERM)
        assert procs[0].wait(timeout=5) == 0
        wait_holder(lab, "n2", timeout=5, vip=vip)
        time.sleep(0.2)
        events = cap.stop()
        n1, n2 = (lab.ip(n) for n in lab.nodes) if family == 4 else (None, None)
        zero = [e for e in adverts(events, n1) if e.priority == 0]
        assert len(zero) == 1
        first_new = next(e for e in adverts(events, n2) if e.priority == 100 and e.time > zero[0].time)
        gap = first_new.time - zero[0].time
        bound = skew_time(100)
        assert bound - 0.005 <= gap <= bound + SLACK, f"handover {gap * 1e3:.1f} ms, bound {bound * 1e3:.1f}"
        # Back to n1 (it preempts), then cut its link: n2 takes over after Master_Down_Interval.
        procs[0] = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=150, **keys), "-2", WITHOUT_BPF)
        wait_holder(lab, "n1", vip=vip)
        assert wait_for(lambda: _lazy(procs[1], BACKUP_PERIOD, family), 5), reading(procs[1], family)
        cap = lab.capture()
        time.sleep(2.5)
        lab.cut_link("n1")
        assert wait_for(lambda: "n2" in lab.holders(vip), 10)
        time.sleep(0.3)
        events = cap.stop()
        if family == 4:
            last_old, first_new = handover_gap(events, lab.ip("n1"), lab.ip("n2"))
        else:
            ours = adverts(events)
            first_new = next(e for e in ours if e.priority == 100)
            last_old = [e for e in ours if e.priority == 150 and e.time < first_new.time][-1]
        gap = first_new.time - last_old.time
        bound = master_down_interval(1, 100)
        assert bound - 0.005 <= gap <= bound + SLACK, f"failover {gap * 1e3:.1f} ms, bound {bound * 1e3:.1f}"
        lab.restore_link("n1")
    finally:
        stop_all(procs)


def test_lazy_master_answers_a_priority_zero_advert_at_once(vrrp_lab: LabFactory) -> None:
    """n1 is master of VRID 51 and backup of VRID 52 (n2's): its interface is read lazily for 52, and the
    doorbell passes every advert for 51. A priority-0 advert for 51 (a third router leaving) is answered
    with n1's advert at once (§6.4.3): the time from one to the other on the wire is the doorbell's
    latency plus the handling."""
    lab: Lab = vrrp_lab(nodes=2)
    second = "\n[[vrrp_instance]]\n" + "\n".join(
        [
            'name = "VI_2"',
            'interface = "eth0"',
            "virtual_router_id = 52",
            "advert_int = 1",
            'virtual_ipaddress = ["192.0.2.101/24"]',
            "garp_master_delay = 0",
        ]
    )
    procs = [
        start_vrrpd(
            lab, "n1", config_text(lab, "n1", priority=150) + second + "\npriority = 100\n", "", WITHOUT_BPF
        ),
        start_vrrpd(
            lab, "n2", config_text(lab, "n2", priority=100) + second + "\npriority = 150\n", "", WITHOUT_BPF
        ),
    ]
    try:
        wait_holder(lab, "n1")
        wait_holder(lab, "n2", vip="192.0.2.101")
        assert wait_for(lambda: _lazy(procs[0], BACKUP_PERIOD), 5), reading(procs[0])
        frame = vrrp_frame("192.0.2.77", priority=0)
        cap = lab.capture()
        time.sleep(0.3)
        with Injector(lab) as inj:
            for _ in range(12):
                inj.send(frame)
                time.sleep(0.35)  # more than the answers' rate limit (fsm.ANSWER_MIN_GAP)
        events = cap.stop()
        assert _lazy(procs[0], BACKUP_PERIOD)
    finally:
        stop_all(procs)
    ours = adverts(events, lab.ip("n1"))
    latencies = []
    for zero in adverts(events, "192.0.2.77"):
        answer = next((e for e in ours if e.time >= zero.time), None)
        assert answer is not None
        latencies.append(answer.time - zero.time)
    assert len(latencies) == 12
    median = statistics.median(latencies)
    print(
        f"priority-0 answer latency (lazy interface, doorbell): median {median * 1e3:.2f} ms, "
        f"max {max(latencies) * 1e3:.2f} ms"
    )
    # A periodic drain alone would answer after ~BACKUP_PERIOD / 2 on average.
    assert median < 0.005, [round(x * 1e3, 2) for x in latencies]


def test_backup_whose_queue_overflows_never_declares_its_master_down(vrrp_lab: LabFactory) -> None:
    lab: Lab = vrrp_lab(nodes=2)
    n1 = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=150), wrapper=WITHOUT_BPF)
    path = Path(lab.log_dir) / "n2.toml"
    path.write_text(config_text(lab, "n2", priority=100))
    n2 = lab.spawn(
        "n2",
        [*WITHOUT_BPF, sys.executable, "-c", TINY_BUFFER, str(path)],
        env={"VRRPD_LOG_FORMAT": "json"},
        log_path=Path(lab.log_dir) / "n2-vrrpd.log",
    )
    probe = HolderProbe(lab)
    try:
        wait_holder(lab, "n1")
        assert wait_for(lambda: _lazy(n2, BACKUP_PERIOD), 5), reading(n2)
        # Adverts for a VRID n2 does not run: routine to the doorbell, so they only fill the main queue —
        # a few milliseconds of them overflow it, and most of n1's adverts are dropped by the kernel.
        flood = [vrrp_frame("192.0.2.77", vrid=77, priority=p) for p in range(1, 9)]
        sampler = HolderSampler(probe, VIP).start()
        with Injector(lab) as inj:
            inj.flood(flood, rate=3000, seconds=3 * master_down_interval(1, 100))
        holders = sampler.stop()
        assert _drops(lab, "n2").get("receive_queue_overflow", 0) > 0, _drops(lab, "n2")
        assert all(h == ("n1",) for _, h in holders), [h for _, h in holders if h != ("n1",)]
        assert not became_master(n2)
        assert n2.poll() is None and _lazy(n2, BACKUP_PERIOD)  # lazy throughout (no back-off here)
        # The master really goes: n2 takes over (the drops have stopped, so its timer runs out).
        lab.cut_link("n1")
        assert wait_for(lambda: "n2" in lab.holders(VIP), master_down_interval(1, 100) + 2)
        lab.restore_link("n1")
    finally:
        probe.close()
        stop_all([n1, n2])


def test_a_flood_of_urgent_adverts_is_rate_limited(vrrp_lab: LabFactory) -> None:
    lab: Lab = vrrp_lab(nodes=2)
    procs = _pair(lab)
    probe = HolderProbe(lab)
    try:
        wait_holder(lab, "n1")
        assert wait_for(lambda: _lazy(procs[1], BACKUP_PERIOD), 5), reading(procs[1])
        # Lower-priority adverts on n2's VRID from a third router, every one different: none is a routine
        # repeat, so every one passes the doorbell's filter.
        flood = [vrrp_frame("192.0.2.77", priority=p) for p in range(1, 100)]
        sampler = HolderSampler(probe, VIP).start()
        cpu0 = proc_figures(procs[1].pid).cpu_seconds
        with Injector(lab) as inj:
            result = inj.flood(flood, rate=4000, seconds=4.0)
        cpu = proc_figures(procs[1].pid).cpu_seconds - cpu0
        holders = sampler.stop()
        print(f"flood of {result.rate:.0f} urgent adverts/s, {result.seconds:.1f} s: backup CPU {cpu:.2f} s")
        assert all(h == ("n1",) for _, h in holders), [h for _, h in holders if h != ("n1",)]
        assert not became_master(procs[1])
        assert _drops(lab, "n2").get("rate_limited", 0) > 0  # admission saw the flood, in order
        assert _lazy(procs[1], BACKUP_PERIOD)  # the doorbell absorbed it: no overflow, no back-off
        # Still prompt: cutting n1 now gives the usual failover.
        cap = lab.capture()
        time.sleep(1.5)
        lab.cut_link("n1")
        assert wait_for(lambda: "n2" in lab.holders(VIP), 10)
        time.sleep(0.3)
        events = cap.stop()
        last_old, first_new = handover_gap(events, lab.ip("n1"), lab.ip("n2"))
        gap = first_new.time - last_old.time
        bound = master_down_interval(1, 100)
        assert bound - 0.005 <= gap <= bound + SLACK, f"failover {gap * 1e3:.1f} ms, bound {bound * 1e3:.1f}"
        lab.restore_link("n1")
    finally:
        probe.close()
        stop_all(procs)
