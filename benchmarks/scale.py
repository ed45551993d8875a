"""Cost at scale: CPU seconds, memory and receive-queue drops of a master and a backup running N instances.

One lab per variant, all at once, so every implementation sees the same machine load in the same
windows: n1 is master of every instance (priority 150), n2 backup (100). After n1 holds all N VIPs and a
settle time, CPU is sampled over `windows` consecutive windows of `seconds` each from /proc (the daemon's
whole process tree, `procstat.cpu_seconds`); memory is read at the end. A window's CPU figures of the
implementations are paired (same seconds of the same machine), so their ratio per window is the figure
the report takes the median of.

Instances are spread over `interfaces` segments (eth0 and `labtools.add_segments`), at most
`PER_INTERFACE` per segment because a VRID is unique per segment (1..255); VIPs are /32s from the RFC 2544
benchmarking block 198.19.<segment>.<vrid>. Lost adverts are looked for in three places: the kernel's
drop counter of the daemons' raw sockets (`procstat.socket_drops`, the criterion: it counts datagrams
refused because the receive queue was full, for either implementation); for vrrpd, its own per-interface
drop counters and its adverts sent (master) against adverts received (backup), from `vrrpd status`.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from benchmarks import daemons, procstat
from benchmarks.daemons import Daemon, Impl, Instance
from benchmarks.labtools import LAB_PREFIX, add_segments, count_addresses, wait_for
from vrrpd.ops.control import ControlError, request
from vrrpd.testing.lab import Lab, LabError

SETTLE = 3.0
PER_INTERFACE = 250  # VRIDs 1..250 on each segment
METRICS = "vrrpd+metrics"  # vrrpd with `metrics_listen` set: a variant, not an implementation


@dataclass(frozen=True)
class Scenario:
    """What one scale run sets up: N instances over some segments, at one protocol version and rate."""

    instances: int
    windows: int = 1
    interfaces: int = 1
    version: int = 2
    advert_int: float = 1.0
    metrics: bool = False  # also run vrrpd with metrics_listen (a third pair of daemons, for its memory)

    @property
    def variants(self) -> tuple[str, ...]:
        return (*daemons.IMPLS, *((METRICS,) if self.metrics else ()))


@dataclass(frozen=True)
class Window:
    """One measuring window of one variant: CPU seconds used and datagrams the kernel dropped in it."""

    seconds: float
    master_cpu: float
    backup_cpu: float
    master_drops: int = 0  # raw proto-112 socket drops (receive queue full) during the window
    backup_drops: int = 0
    sent: int | None = None  # vrrpd: the master's adverts_sent during the window (status counters)
    received: int | None = None  # vrrpd: the backup's adverts_received during the window


@dataclass(frozen=True)
class Cost:
    impl: str  # "vrrpd" | "keepalived" | METRICS
    instances: int
    windows: tuple[Window, ...]
    master_mem: procstat.Memory
    backup_mem: procstat.Memory
    version: int = 2
    advert_int: float = 1.0
    interfaces: int = 1
    backup_sockets: int = 0  # raw proto-112 sockets the backup holds (the drop check's coverage)
    drops_total: tuple[int, int] = (0, 0)  # (master, backup) socket drops since start, election included
    # vrrpd: the backup's own per-interface drop counters at the end (reason → count), summed over segments.
    daemon_drops: dict[str, int] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(w.seconds for w in self.windows) / len(self.windows) if self.windows else 0.0

    @property
    def master_cpu(self) -> float:
        """Median CPU seconds per window."""
        return _median([w.master_cpu for w in self.windows])

    @property
    def backup_cpu(self) -> float:
        return _median([w.backup_cpu for w in self.windows])

    @property
    def window_drops(self) -> int:
        """Socket drops of master and backup inside the measuring windows."""
        return sum(w.master_drops + w.backup_drops for w in self.windows)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def vip(segment: int, vrid: int) -> str:
    return f"198.19.{segment}.{vrid}/32"


def instances(sc: Scenario, priority: int, interfaces: list[str]) -> list[Instance]:
    """`sc.instances` instances, PER_INTERFACE to a segment in order, one VIP each."""
    if sc.instances > PER_INTERFACE * len(interfaces):
        raise ValueError(f"{sc.instances} instances need more than {len(interfaces)} segments")
    out = []
    for i in range(sc.instances):
        segment, vrid = divmod(i, PER_INTERFACE)
        out.append(
            Instance(
                f"VI_{i + 1}",
                vrid + 1,
                priority,
                (vip(segment, vrid + 1),),
                version=sc.version,
                advert_int=sc.advert_int,
                interface=interfaces[segment],
            )
        )
    return out


def _installed(lab: Lab, sc: Scenario) -> Callable[[], bool]:
    # Every VIP plus the node's own address on each segment.
    return lambda: count_addresses(lab, "n1", None) >= sc.instances + sc.interfaces


@dataclass
class _Setup:
    variant: str
    lab: Lab
    master: Daemon
    backup: Daemon

    @property
    def is_vrrpd(self) -> bool:
        return self.master.impl == "vrrpd"


def _status(lab: Lab, node: str) -> dict[str, Any] | None:
    try:
        answer = request(daemons.control_socket(lab, node), "status", timeout=10.0)
    except (ControlError, OSError):
        return None
    return answer if isinstance(answer, dict) else None


def _counter(status: Mapping[str, Any] | None, key: str) -> int | None:
    if status is None:
        return None
    return sum(int(i["counters"].get(key, 0)) for i in status.get("instances", []))


def _iface_drops(status: Mapping[str, Any] | None) -> dict[str, int]:
    total: dict[str, int] = {}
    for iface in (status or {}).get("interfaces", []):
        for reason, count in (iface.get("drops") or {}).items():
            total[reason] = total.get(reason, 0) + int(count)
    return total


def _scrape(lab: Lab, node: str) -> None:
    """One GET of the Prometheus endpoint, as a scraper would (the exposition code is then loaded)."""
    code = (
        "import urllib.request;"
        f"urllib.request.urlopen('http://{daemons.METRICS_LISTEN}/metrics', timeout=10).read()"
    )
    lab.run(node, [sys.executable, "-c", code], check=False, timeout=20.0)


def _start(stack: contextlib.ExitStack, sc: Scenario, variant: str) -> _Setup:
    lab = stack.enter_context(Lab(nodes=2, prefix=LAB_PREFIX))
    interfaces = add_segments(lab, sc.interfaces - 1) if sc.interfaces > 1 else ["eth0"]
    impl: Impl = "keepalived" if variant == "keepalived" else "vrrpd"
    metrics = variant == METRICS
    master = daemons.start(lab, impl, "n1", instances(sc, 150, interfaces), metrics=metrics)
    backup = daemons.start(lab, impl, "n2", instances(sc, 100, interfaces), metrics=metrics)
    return _Setup(variant, lab, master, backup)


def run(sc: Scenario, seconds: float) -> list[Cost]:
    """Every variant at once, `sc.instances` instances each; CPU over `sc.windows` windows of `seconds`."""
    with contextlib.ExitStack() as stack:
        setups = [_start(stack, sc, variant) for variant in sc.variants]
        for s in setups:
            if not wait_for(_installed(s.lab, sc), timeout=30.0 + sc.instances / 10, step=0.5):
                got = count_addresses(s.lab, "n1", None) - sc.interfaces
                raise LabError(f"{s.variant}: master did not install {sc.instances} VIPs ({got})")
            if s.master.process.poll() is not None or s.backup.process.poll() is not None:
                raise LabError(f"{s.variant}: a daemon exited")
        for s in setups:
            if s.variant == METRICS:
                _scrape(s.lab, "n1")
                _scrape(s.lab, "n2")
        time.sleep(SETTLE)
        windows: dict[str, list[Window]] = {s.variant: [] for s in setups}
        status = {s.variant: _statuses(s) for s in setups}
        for _ in range(sc.windows):
            drops0 = {s.variant: _drops(s) for s in setups}
            cpu0 = {s.variant: _cpu(s) for s in setups}
            t0 = time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - t0
            cpu1 = {s.variant: _cpu(s) for s in setups}
            drops1 = {s.variant: _drops(s) for s in setups}
            after = {s.variant: _statuses(s) for s in setups}
            for s in setups:
                v = s.variant
                (m_sent0, b_recv0), (m_sent1, b_recv1) = status[v], after[v]
                windows[v].append(
                    Window(
                        elapsed,
                        cpu1[v][0] - cpu0[v][0],
                        cpu1[v][1] - cpu0[v][1],
                        drops1[v][0] - drops0[v][0],
                        drops1[v][1] - drops0[v][1],
                        None if m_sent0 is None or m_sent1 is None else m_sent1 - m_sent0,
                        None if b_recv0 is None or b_recv1 is None else b_recv1 - b_recv0,
                    )
                )
            status = after
        out = []
        for s in setups:
            if s.master.process.poll() is not None or s.backup.process.poll() is not None:
                raise LabError(f"{s.variant}: a daemon exited during the windows")
            m_drops, b_drops = _drops(s)
            out.append(
                Cost(
                    s.variant,
                    sc.instances,
                    tuple(windows[s.variant]),
                    procstat.memory(s.master.pid),
                    procstat.memory(s.backup.pid),
                    sc.version,
                    sc.advert_int,
                    sc.interfaces,
                    procstat.socket_drops(s.backup.pid)[1],
                    (m_drops, b_drops),
                    _iface_drops(_status(s.lab, "n2")) if s.is_vrrpd else {},
                )
            )
        for s in setups:
            s.master.stop()
            s.backup.stop()
    return out


def _cpu(s: _Setup) -> tuple[float, float]:
    return procstat.cpu_seconds(s.master.pid), procstat.cpu_seconds(s.backup.pid)


def _drops(s: _Setup) -> tuple[int, int]:
    return procstat.socket_drops(s.master.pid)[0], procstat.socket_drops(s.backup.pid)[0]


def _statuses(s: _Setup) -> tuple[int | None, int | None]:
    """(master's adverts sent, backup's adverts received) so far; vrrpd only (None for keepalived)."""
    if not s.is_vrrpd:
        return None, None
    return _counter(_status(s.lab, "n1"), "adverts_sent"), _counter(_status(s.lab, "n2"), "adverts_received")
