"""Soak: three real daemons in a namespace lab, a random fault every few seconds, a 100 ms holder sample.

    .venv/bin/python fuzz/soak.py --minutes 10                    # the campaign (as root); --seed N to vary
    .venv/bin/python fuzz/soak.py --minutes 1 --json report.json  # what tests/runtime/test_soak.py runs in CI

Nodes n1/n2/n3 (priorities 150/100/50) hold VIP 192.0.2.100 for VRID 51. Faults, one at a time, each
healed before the next: carrier cut (1-6 s), partition (1-6 s), SIGKILL then restart (0-3 s later),
SIGTERM then restart, the VIP deleted by hand on its holder, the interface deleted and recreated, and a
2 s burst of hostile adverts (5,000 pkt/s) from the client. n3 is never killed, so its process lives for
the whole run and carries the leak figures (RSS, descriptors, threads, and asyncio tasks from
`vrrpd status --json`).

Every 100 ms the holders are sampled over rtnetlink. A stretch of samples with zero or several holders is
judged against what RFC 3768 allows for the faults around it:

* zero holders: at most Master_Down_Interval at the lowest priority (3.80 s) + slack — a master that
  vanishes is replaced one Master_Down_Interval after its last advert;
* several holders: at most the slack (a VIP moving: the new master's advert goes out before its VIP, the
  old one drops its VIP on hearing it) — except by design during a partition (each side has a master
  until it heals, then one advert interval) and while a SIGKILLed daemon is dead (nothing is left to
  remove its VIP until it restarts and removes it first thing): those are reported separately.

"Beyond bound" is the sum, over stretches, of the time past what was allowed (the whole stretch if no
fault explains it). Goals: 0 s beyond bound, RSS growth < 1 MB, no descriptor or thread growth, no
crash, no stale VIP or stray process at the end. Exit status 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if not __package__:  # run as `python fuzz/soak.py`: the repository root holds the `tests` helpers
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.daemons import VIP, config_text, log_events, start_vrrpd
from tests.support.hostile import (
    HolderProbe,
    HolderSampler,
    Injector,
    ProcFigures,
    Stretch,
    bad_stretches,
    daemon_status,
    delete_interface,
    namespace_commands,
    proc_figures,
    recreate_interface,
    vrrp_frame,
    wait_single,
)
from vrrpd.protocol.fsm import master_down_interval
from vrrpd.testing.lab import Lab, LabError, Process

PRIORITIES = {"n1": 150, "n2": 100, "n3": 50}
KILLABLE = ("n1", "n2")  # n3's process lives for the whole soak: the leak figures are its
SLACK = 0.5  # one 100 ms sampling step, a netlink round trip, a busy 2-core machine
STARTUP = 6.0  # `python -m vrrpd run` on that machine
MDI_MAX = master_down_interval(1, min(PRIORITIES.values()))
FAULTS = ("cut", "partition", "kill", "term", "vip_delete", "iface", "hostile")


@dataclass
class Fault:
    kind: str
    node: str
    start: float
    end: float = 0.0
    restarted_at: float = 0.0  # kill/term: when the new daemon logged "started"


@dataclass
class Report:
    seconds: float = 0.0
    samples: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    bad_stretches: int = 0
    zero_holder_seconds: float = 0.0
    multi_holder_seconds: float = 0.0
    by_design_seconds: float = 0.0  # partitions and dead daemons' VIPs
    beyond_bound_seconds: float = 0.0
    worst: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, dict[str, float]] = field(default_factory=dict)
    crashed: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    final_holders: list[str] = field(default_factory=list)
    sampler_errors: int = 0

    @property
    def ok(self) -> bool:
        n3 = self.figures.get("n3", {})
        return (
            self.beyond_bound_seconds == 0
            and not self.crashed
            and not self.leftovers
            and self.final_holders == []
            and n3.get("rss_growth_kb", 0) < 1024
            and n3.get("fd_growth", 0) <= 0
            and n3.get("thread_growth", 0) <= 0
        )


class Soak:
    def __init__(self, lab: Lab, seed: int, log: Callable[[str], None]) -> None:
        self.lab = lab
        self.rng = random.Random(seed)
        self.log = log
        self.procs: dict[str, Process] = {}
        self.faults: list[Fault] = []
        self.restarts = 0
        self.probe = HolderProbe(lab)
        self.sampler = HolderSampler(self.probe, VIP)
        # Priority 254 and each one rule broken (the cluster has no auth_pass: a password is a mismatch).
        self.hostile = [
            vrrp_frame("192.0.2.200", ttl=254),
            vrrp_frame("192.0.2.200", vrid=52),
            vrrp_frame("192.0.2.200", auth_type=1, password=b"guess123"),
            vrrp_frame("192.0.2.200", advert_int=2),
            vrrp_frame("192.0.2.200", addresses=("192.0.2.101",)),
            vrrp_frame("192.0.2.200", version=3),
        ]

    # -- daemons ----------------------------------------------------------------------------------------

    def start(self, node: str) -> Process:
        self.restarts += 1
        tag = "" if node not in self.procs else f"-r{self.restarts}"
        proc = start_vrrpd(self.lab, node, config_text(self.lab, node, priority=PRIORITIES[node]), tag=tag)
        self.procs[node] = proc
        return proc

    def tasks(self, node: str) -> int | None:
        """The daemon's asyncio task count from `vrrpd status --json` (None if it does not answer)."""
        status = daemon_status(Path(self.lab.log_dir) / f"{node}.sock")
        return None if status is None else int(status["daemon"]["asyncio_tasks"])

    def wait_started(self, proc: Process) -> float:
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:
            if any(e.get("event") == "started" for e in log_events(proc)):
                return time.monotonic()
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{proc!r} did not start: {proc.log_text()[-1500:]}")

    def holder(self) -> str | None:
        holders = self.probe.holders(VIP)
        return holders[0] if len(holders) == 1 else None

    # -- faults -----------------------------------------------------------------------------------------

    def inject(self, kind: str) -> Fault:
        rng, lab = self.rng, self.lab
        node = self.holder() or rng.choice(list(PRIORITIES))
        if kind in ("kill", "term") and node not in KILLABLE:
            node = rng.choice(KILLABLE)
        if kind in ("cut", "partition", "iface") and rng.random() < 0.3:
            node = rng.choice(list(PRIORITIES))  # sometimes a backup
        fault = Fault(kind, node, time.monotonic())
        self.faults.append(fault)
        match kind:
            case "cut":
                lab.cut_link(node)
                time.sleep(rng.uniform(1.0, 6.0))
                lab.restore_link(node)
            case "partition":
                lab.partition(node)
                time.sleep(rng.uniform(1.0, 6.0))
                lab.heal(node)
            case "kill" | "term":
                proc = self.procs[node]
                proc.send_signal(signal.SIGKILL if kind == "kill" else signal.SIGTERM)
                proc.wait(10.0)
                time.sleep(rng.uniform(0.0, 3.0))
                fault.restarted_at = self.wait_started(self.start(node))
            case "vip_delete":
                holder = self.holder()
                if holder is not None:
                    fault.node = holder
                    lab.run(holder, ["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"], check=False)
            case "iface":
                delete_interface(lab, node)
                time.sleep(rng.uniform(0.5, 3.0))
                recreate_interface(lab, node)
            case "hostile":
                with Injector(lab) as inj:
                    inj.flood(self.hostile, rate=5000, seconds=2.0)
        fault.end = time.monotonic()
        return fault

    # -- judging ----------------------------------------------------------------------------------------

    def allowance(self, stretch: Stretch) -> tuple[float, bool]:
        """(seconds this stretch may last, whether it is by design), from the faults around its start."""
        allowed, by_design = 0.0, False
        for f in self.faults:
            if not f.start - SLACK <= stretch.start <= f.end + MDI_MAX + STARTUP:
                continue
            if stretch.holders == 0:
                allowed = max(allowed, MDI_MAX + SLACK)
            elif f.kind == "partition":
                by_design = True
                allowed = max(allowed, f.end - stretch.start + 1.0 + SLACK)
            elif f.kind == "kill" and f.restarted_at:
                by_design = True  # the dead daemon's VIP stays until its successor removes it
                allowed = max(allowed, f.restarted_at - stretch.start + SLACK)
            else:
                allowed = max(allowed, SLACK)
        return allowed, by_design


def run_soak(seconds: float, seed: int, log_dir: Path | None, log: Callable[[str], None] = print) -> Report:
    """Run one soak of `seconds` (plus convergence and teardown) and return its report."""
    report = Report()
    with Lab(nodes=3, prefix="vrb", log_dir=log_dir) as lab:
        soak = Soak(lab, seed, log)
        try:
            _run(soak, seconds, report)
        finally:
            soak.sampler.stop()
            soak.probe.close()
            for proc in soak.procs.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc in soak.procs.values():
                try:
                    proc.wait(10.0)
                except LabError:  # still running: the lab teardown kills it anyway
                    proc.kill()
    return report


def _run(soak: Soak, seconds: float, report: Report) -> None:
    lab, log = soak.lab, soak.log
    for node in PRIORITIES:
        soak.start(node)
    if wait_single(soak.probe, VIP, "n1", STARTUP + master_down_interval(1, 150)) is None:
        raise RuntimeError(f"no election: holders {soak.probe.holders(VIP)}")
    soak.sampler.start()
    warmup = min(20.0, seconds / 6)
    time.sleep(warmup)  # lazy imports and first allocations are not leaks
    pids = {n: p.pid for n, p in soak.procs.items()}
    before = {n: proc_figures(pid) for n, pid in pids.items()}
    tasks_before = {n: soak.tasks(n) for n in pids}
    t0 = time.monotonic()
    end = t0 + seconds - warmup
    while time.monotonic() < end:
        kind = soak.rng.choice(FAULTS)
        fault = soak.inject(kind)
        report.faults[kind] = report.faults.get(kind, 0) + 1
        log(f"{fault.start - t0:7.1f}s {kind:10} {fault.node}  holders now {soak.probe.holders(VIP)}")
        time.sleep(soak.rng.uniform(2.0, 5.0))
    # Quiet: everyone alive and linked, n1 must end up the one holder within the protocol bound.
    if wait_single(soak.probe, VIP, "n1", master_down_interval(1, 150) + STARTUP) is None:
        log(f"did not converge: holders {soak.probe.holders(VIP)}")
    time.sleep(2.0)
    samples = soak.sampler.stop()
    report.seconds = round(time.monotonic() - t0 + warmup, 1)
    report.samples = len(samples)
    report.sampler_errors = soak.sampler.errors
    for node, pid in pids.items():
        proc = soak.procs[node]
        if proc.pid != pid or proc.poll() is not None:
            continue  # restarted during the soak: its figures start over
        after = proc_figures(pid)
        report.figures[node] = _growth(before[node], after)
        tasks_after, tasks_start = soak.tasks(node), tasks_before[node]
        if tasks_start is not None and tasks_after is not None:
            report.figures[node] |= {"tasks": tasks_after, "task_growth": tasks_after - tasks_start}
    for stretch in bad_stretches(samples):
        allowed, by_design = soak.allowance(stretch)
        report.bad_stretches += 1
        if stretch.holders == 0:
            report.zero_holder_seconds += stretch.seconds
        else:
            report.multi_holder_seconds += stretch.seconds
        if by_design:
            report.by_design_seconds += stretch.seconds
        beyond = max(0.0, stretch.seconds - allowed)
        report.beyond_bound_seconds += beyond
        if beyond > 0:
            report.worst.append(
                {
                    **dataclasses.asdict(stretch),
                    "at": round(stretch.start - t0, 1),
                    "allowed": round(allowed, 2),
                }
            )
    for name in ("zero_holder_seconds", "multi_holder_seconds", "by_design_seconds", "beyond_bound_seconds"):
        setattr(report, name, round(getattr(report, name), 2))
    holders = soak.probe.holders(VIP)
    if holders != ["n1"]:
        report.leftovers.append(f"holders at the end {holders}")
    for node, proc in soak.procs.items():
        text = proc.log_text()
        if proc.poll() is not None or "Traceback" in text or '"action_failed"' in text:
            report.crashed.append(node)
    for node in PRIORITIES:
        proc = soak.procs[node]
        proc.terminate()
        proc.wait(10.0)
    report.final_holders = soak.probe.holders(VIP)
    for node in PRIORITIES:
        stray = [c for c in namespace_commands(lab, node) if "vrrpd" in c or "sleep" in c]
        report.leftovers += [f"{node}: {c}" for c in stray]


def _growth(before: ProcFigures, after: ProcFigures) -> dict[str, float]:
    return {
        "rss_kb_before": before.rss_kb,
        "rss_kb_after": after.rss_kb,
        "rss_growth_kb": after.rss_kb - before.rss_kb,
        "fds_before": before.fds,
        "fd_growth": after.fds - before.fds,
        "threads": after.threads,
        "thread_growth": after.threads - before.threads,
        "cpu_seconds": round(after.cpu_seconds - before.cpu_seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="vrrpd soak: random faults against a 3-node lab")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="FILE", help="also write the report here")
    parser.add_argument("--log-dir", metavar="DIR", help="keep the daemons' logs here (default: removed)")
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= 120:
        parser.error("--minutes must be in (0, 120]")
    report = run_soak(args.minutes * 60, args.seed, Path(args.log_dir) if args.log_dir else None)
    doc = {**dataclasses.asdict(report), "ok": report.ok}
    text = json.dumps(doc, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
