"""Link-cut failover and graceful handover, for every pairing of old master and new master.

One lab per pairing: n1 and n2 run one instance each (VRID 51, priority 100 on both so Master_Down_Interval
and Skew_Time are the same whichever takes over, nopreempt so nobody takes the VIP back). Each event is
cut (or stopped) on the current master, so the roles alternate: in the mixed lab (vrrpd on n1, keepalived
on n2) half the events are vrrpd taking over from keepalived and half the reverse.

`version=3, advert_int=0.1` runs the same events with VRRPv3 over IPv4 at 100 ms adverts (issue 16): the
bounds are then RFC 5798's, which scale Skew_Time with the interval.

Every figure comes from one capture on the bridge (kernel timestamps), relative to:
- link cut: the old master's last advert → the new master's first advert (bound: Master_Down_Interval),
  its first gratuitous ARP for the VIP, the first echo reply from the VIP the client gets;
- handover (SIGTERM): the old master's priority-0 advert → the same three (bound: Skew_Time); and the old
  master's own promptness, SIGTERM sent → its priority-0 advert.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks import daemons
from benchmarks.daemons import Daemon, Impl, Instance
from benchmarks.labtools import LAB_PREFIX, start_pinger, wait_holder
from vrrpd.protocol.fsm import master_down_interval, skew_time
from vrrpd.testing.lab import Lab, LabError
from vrrpd.testing.sniff import ArpEvent, Event, IcmpEvent, VrrpEvent

VIP = "192.0.2.100"
VRID = 51
PRIORITY = 100
MDI = master_down_interval(1, PRIORITY)
SKEW = skew_time(PRIORITY)


@dataclass(frozen=True)
class Profile:
    """The protocol settings of one run: VRRPv2 at 1 s (the default), or VRRPv3 at any interval."""

    version: int = 2
    advert_int: float = 1.0

    @property
    def skew(self) -> float:
        # RFC 3768 §6.1: (256 - Priority) / 256; RFC 5798 §6.1 scales it with Master_Adver_Interval.
        return SKEW * (self.advert_int if self.version == 3 else 1)

    @property
    def mdi(self) -> float:
        return 3 * self.advert_int + self.skew


V2 = Profile()
PING_INTERVAL = 0.005  # the "first reply" figure is quantised to this
SETTLE = 1.3  # after a node is (back) in BACKUP: at least one advert of the master reaches it


@dataclass(frozen=True)
class Takeover:
    """One failover or handover, seconds from its reference (old master's last advert, or its p0)."""

    kind: str  # "cut" | "handover"
    old_impl: Impl
    new_impl: Impl
    bound: float  # Master_Down_Interval (cut) or Skew_Time (handover)
    first_advert: float | None
    first_garp: float | None
    first_reply: float | None
    signal_to_p0: float | None = None  # handover only: SIGTERM sent → priority-0 advert on the wire
    # Absolute times for the timeline plot: reference, and the events around it.
    t_ref: float = 0.0
    t_trigger: float = 0.0  # link cut / SIGTERM sent (time.time())
    version: int = 2
    advert_int: float = 1.0


@dataclass(frozen=True)
class Window:
    kind: str
    old: str
    new: str
    t_trigger: float
    t_end: float


def _instance(profile: Profile = V2) -> Instance:
    return Instance(
        "VI_1",
        VRID,
        PRIORITY,
        (f"{VIP}/24",),
        preempt=False,
        advert_int=profile.advert_int,
        version=profile.version,
    )


@dataclass(frozen=True)
class Timeline:
    """What the bridge saw around one link-cut failover, seconds from the old master's last advert."""

    old_impl: Impl
    new_impl: Impl
    bound: float
    cut: float
    old_adverts: tuple[float, ...]
    new_adverts: tuple[float, ...]
    garps: tuple[float, ...]
    requests: tuple[float, ...]
    replies: tuple[float, ...]


def run_pairing(
    impls: tuple[Impl, Impl], cuts: int, handovers: int, profile: Profile = V2
) -> tuple[list[Takeover], list[Timeline]]:
    """Run `cuts` link cuts then `handovers` SIGTERM handovers in one lab; n1 runs impls[0], n2 impls[1].

    Returns every takeover, and the timeline of the first link cut in each direction (for the plot).
    """
    with Lab(nodes=2, prefix=LAB_PREFIX) as lab:
        capture = lab.capture()
        impl_of = dict(zip(lab.nodes, impls, strict=True))
        running: dict[str, Daemon] = {}
        for node in lab.nodes:
            running[node] = daemons.start(lab, impl_of[node], node, [_instance(profile)])
        if wait_holder(lab, VIP, timeout=20.0) is None:
            raise LabError(f"no election in {impls}: holders {lab.holders(VIP)}")
        for node in lab.nodes:  # the backup is armed and hears the master
            if not running[node].wait_state_count("BACKUP", 1, timeout=10.0):
                raise LabError(f"{node} ({impl_of[node]}) never logged BACKUP")
        time.sleep(SETTLE)
        lab.ping(VIP, count=3, timeout=1.0)  # the client resolves the VIP before the first event
        windows: list[Window] = []
        for _ in range(cuts):
            windows.append(_cut_once(lab, running, profile))
        for index in range(handovers):
            windows.append(_handover_once(lab, running, impl_of, index, profile))
        for daemon in running.values():
            daemon.stop()
        events = capture.stop()
    macs = {n: f"02:00:00:00:00:{i:02x}" for i, n in enumerate(lab.nodes, start=1)}  # Lab's fixed MACs
    ips = {n: lab.ip(n) for n in lab.nodes}
    results = [_reduce(w, events, impl_of, ips, macs, profile=profile) for w in windows]
    timelines: dict[tuple[Impl, Impl], Timeline] = {}
    for w, r in zip(windows, results, strict=True):
        key = (r.old_impl, r.new_impl)
        if w.kind == "cut" and r.first_advert is not None and key not in timelines:
            timelines[key] = _timeline(w, r, events, ips, macs)
    return results, list(timelines.values())


def _timeline(
    w: Window, r: Takeover, events: Sequence[Event], ips: dict[str, str], macs: dict[str, str]
) -> Timeline:
    lo, hi = r.t_ref - 2.5, r.t_ref + r.bound + 0.4

    def rel(kind: type, test: object) -> tuple[float, ...]:
        assert callable(test)
        return tuple(
            e.time - r.t_ref for e in events if lo <= e.time <= hi and isinstance(e, kind) and test(e)
        )

    return Timeline(
        r.old_impl,
        r.new_impl,
        r.bound,
        w.t_trigger - r.t_ref,
        rel(VrrpEvent, lambda e: e.vrid == VRID and e.src_ip == ips[w.old]),
        rel(VrrpEvent, lambda e: e.vrid == VRID and e.src_ip == ips[w.new]),
        rel(ArpEvent, lambda e: e.gratuitous and e.sender_ip == VIP and e.sender_mac == macs[w.new]),
        rel(IcmpEvent, lambda e: e.type == 8 and e.dst == VIP),
        rel(IcmpEvent, lambda e: e.type == 0 and e.src == VIP),
    )


def _cut_once(lab: Lab, running: dict[str, Daemon], profile: Profile = V2) -> Window:
    master = wait_holder(lab, VIP, timeout=15.0)
    if master is None:
        raise LabError(f"no single holder before a cut: {lab.holders(VIP)}")
    backup = next(n for n in lab.nodes if n != master)
    pinger = start_pinger(lab, VIP, seconds=profile.mdi + 6.0, interval=PING_INTERVAL)
    time.sleep(1.0)  # the pinger is running and the master has sent at least one more advert
    faults = running[master].count_state("FAULT")
    backups = running[master].count_state("BACKUP")
    t_cut = time.time()
    lab.cut_link(master)
    if wait_holder(lab, VIP, timeout=profile.mdi + 8.0, expected=backup) is None:
        raise LabError(f"{backup} did not take over after the cut: {lab.holders(VIP)}")
    time.sleep(0.5)  # the GARPs and a few echo replies reach the capture
    pinger.kill()
    pinger.wait(5.0)
    t_end = time.time()
    running[master].wait_state_count("FAULT", faults + 1, timeout=5.0)
    lab.restore_link(master)
    # Back in BACKUP after the link returns (vrrpd: RECOVERED; keepalived: leaves FAULT).
    if not running[master].wait_state_count("BACKUP", backups + 1, timeout=10.0):
        raise LabError(f"{master} did not return to BACKUP after the link came back")
    time.sleep(SETTLE)
    return Window("cut", master, backup, t_cut, t_end)


def _handover_once(
    lab: Lab, running: dict[str, Daemon], impl_of: dict[str, Impl], index: int, profile: Profile = V2
) -> Window:
    master = wait_holder(lab, VIP, timeout=15.0)
    if master is None:
        raise LabError(f"no single holder before a handover: {lab.holders(VIP)}")
    backup = next(n for n in lab.nodes if n != master)
    pinger = start_pinger(lab, VIP, seconds=8.0, interval=PING_INTERVAL)
    time.sleep(1.0)
    t_term = time.time()
    running[master].process.terminate()
    if wait_holder(lab, VIP, timeout=10.0, expected=backup) is None:
        raise LabError(f"{backup} did not take over after SIGTERM: {lab.holders(VIP)}")
    running[master].stop()
    time.sleep(0.5)
    pinger.kill()
    pinger.wait(5.0)
    t_end = time.time()
    # Restart the stopped node; it comes up BACKUP (nopreempt) and the next handover is the other way.
    restarted = daemons.start(lab, impl_of[master], master, [_instance(profile)], tag=f"-r{index}")
    running[master] = restarted
    if not restarted.wait_state_count("BACKUP", 1, timeout=20.0):
        raise LabError(f"{master} ({impl_of[master]}) did not come back in BACKUP")
    time.sleep(SETTLE)
    return Window("handover", master, backup, t_term, t_end)


def _reduce(
    w: Window,
    events: Sequence[Event],
    impl_of: dict[str, Impl],
    ips: dict[str, str],
    macs: dict[str, str],
    *,
    profile: Profile = V2,
) -> Takeover:
    inside = [e for e in events if w.t_trigger - 5.0 <= e.time <= w.t_end]
    adverts = [e for e in inside if isinstance(e, VrrpEvent) and e.vrid == VRID]
    new_first = next((e.time for e in adverts if e.src_ip == ips[w.new] and e.time > w.t_trigger), None)
    old = [e for e in adverts if e.src_ip == ips[w.old] and (new_first is None or e.time < new_first)]
    signal_to_p0 = None
    if w.kind == "cut":
        ref = old[-1].time if old else None
        bound = profile.mdi
    else:
        p0 = [e for e in old if e.priority == 0 and e.time >= w.t_trigger]
        ref = p0[0].time if p0 else None
        bound = profile.skew
        signal_to_p0 = None if ref is None else ref - w.t_trigger
    if ref is None:
        return Takeover(
            w.kind,
            impl_of[w.old],
            impl_of[w.new],
            bound,
            None,
            None,
            None,
            None,
            0.0,
            w.t_trigger,
            profile.version,
            profile.advert_int,
        )
    garp = next(
        (
            e.time
            for e in inside
            if isinstance(e, ArpEvent)
            and e.gratuitous
            and e.sender_ip == VIP
            and e.sender_mac == macs[w.new]
            and e.time > ref
        ),
        None,
    )
    reply = next(
        (
            e.time
            for e in inside
            if isinstance(e, IcmpEvent)
            and e.type == 0
            and e.src == VIP
            and e.src_mac == macs[w.new]
            and e.time > ref
        ),
        None,
    )

    def rel(t: float | None) -> float | None:
        return None if t is None or ref is None else t - ref

    return Takeover(
        w.kind,
        impl_of[w.old],
        impl_of[w.new],
        bound,
        rel(new_first),
        rel(garp),
        rel(reply),
        signal_to_p0,
        ref,
        w.t_trigger,
        profile.version,
        profile.advert_int,
    )
