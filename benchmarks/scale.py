"""Cost at scale: CPU seconds and memory of master and backup running N instances (one VIP each).

Two labs at once, one per implementation, so both see the same machine load during the same window:
n1 is master of every instance (priority 150), n2 backup (100). After n1 holds all N VIPs and a settle
time, CPU is sampled over `seconds` from /proc (the daemon's whole process tree); memory is read at the end.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import daemons, procstat
from benchmarks.daemons import Daemon, Impl, Instance
from benchmarks.labtools import LAB_PREFIX, count_addresses, wait_for
from vrrpd.testing.lab import Lab, LabError

SETTLE = 3.0


@dataclass(frozen=True)
class Cost:
    impl: Impl
    instances: int
    seconds: float
    master_cpu: float  # CPU seconds used during the window
    backup_cpu: float
    master_mem: procstat.Memory
    backup_mem: procstat.Memory
    version: int = 2
    advert_int: float = 1.0


def vips(count: int) -> list[str]:
    """`count` distinct /32 VIPs from the TEST-NETs (198.51.100.0/24 first, then 203.0.113.0/24)."""
    pool = [f"198.51.100.{i}/32" for i in range(256)] + [f"203.0.113.{i}/32" for i in range(256)]
    if count > len(pool):
        raise ValueError(f"{count} VIPs: the scale pool has {len(pool)}")
    return pool[:count]


def _instances(count: int, priority: int, version: int = 2, advert_int: float = 1.0) -> list[Instance]:
    return [
        Instance(f"VI_{i}", i, priority, (vip,), version=version, advert_int=advert_int)
        for i, vip in enumerate(vips(count), start=1)
    ]


def _installed(lab: Lab, count: int) -> Callable[[], bool]:
    return lambda: count_addresses(lab, "n1") >= count + 1


def run(count: int, seconds: float, version: int = 2, advert_int: float = 1.0) -> list[Cost]:
    """Both implementations at once, `count` instances each; CPU over `seconds`.

    `version=3, advert_int=0.1`: VRRPv3 at 100 ms adverts, ten times the packets of the v2 runs.
    """
    with contextlib.ExitStack() as stack:
        setups: list[tuple[Impl, Lab, Daemon, Daemon]] = []
        for impl in daemons.IMPLS:
            lab = stack.enter_context(Lab(nodes=2, prefix=LAB_PREFIX))
            master = daemons.start(lab, impl, "n1", _instances(count, 150, version, advert_int))
            backup = daemons.start(lab, impl, "n2", _instances(count, 100, version, advert_int))
            setups.append((impl, lab, master, backup))
        for impl, lab, master, backup in setups:
            # Every VIP on the master (its own address + count), and the backup running.
            if not wait_for(_installed(lab, count), timeout=60.0, step=0.2):
                raise LabError(
                    f"{impl}: master did not install {count} VIPs ({count_addresses(lab, 'n1') - 1})"
                )
            if master.process.poll() is not None or backup.process.poll() is not None:
                raise LabError(f"{impl}: a daemon exited")
        time.sleep(SETTLE)
        before = {
            impl: (procstat.cpu_seconds(m.pid), procstat.cpu_seconds(b.pid)) for impl, _l, m, b in setups
        }
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        out = []
        for impl, _lab, master, backup in setups:
            m0, b0 = before[impl]
            out.append(
                Cost(
                    impl,
                    count,
                    elapsed,
                    procstat.cpu_seconds(master.pid) - m0,
                    procstat.cpu_seconds(backup.pid) - b0,
                    procstat.memory(master.pid),
                    procstat.memory(backup.pid),
                    version,
                    advert_int,
                )
            )
        for _impl, _lab, master, backup in setups:
            master.stop()
            backup.stop()
    return out
