"""Start vrrpd or keepalived in a lab node from one description of its instances, and read its states.

Both implementations get the same settings for everything the benchmark measures: advert_int, priority,
preemption, gratuitous-ARP repeat (5) and no delayed second GARP burst. keepalived runs as Debian packages
it (no real-time scheduling), in the foreground with its own pid files so several can share one host:
`keepalived -n -l -G -f CONF -p/-r/-c PIDFILES`; console logging only (-l -G), the way vrrpd logs JSON to
stderr, and without -D, whose per-GARP lines would cost keepalived time that vrrpd does not spend.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from vrrpd.testing.lab import Lab, Process

Impl = Literal["vrrpd", "keepalived"]
IMPLS: tuple[Impl, Impl] = ("vrrpd", "keepalived")
KEEPALIVED = "keepalived"  # /usr/sbin/keepalived from Debian's package (scripts/install-system-deps)


@dataclass(frozen=True)
class Instance:
    """One VRRP instance, rendered the same way for both implementations."""

    name: str
    vrid: int
    priority: int
    vips: tuple[str, ...]  # "a.b.c.d/len", carried in adverts
    preempt: bool = True
    garp_repeat: int = 5
    excluded: tuple[str, ...] = ()  # virtual_ipaddress_excluded: installed, not advertised
    advert_int: float = 1  # seconds; fractions (centiseconds) with version 3 only
    version: int = 2  # 3: VRRPv3 (RFC 5798)
    # keepalived's initial `state`: an address owner (priority 255) is configured MASTER there; with
    # BACKUP, keepalived 2.2.7 waits Master_Down_Interval even at 255. vrrpd has no such key (§6.4.1).
    keepalived_state: str = "BACKUP"
    interface: str = "eth0"


METRICS_LISTEN = "127.0.0.1:9650"  # in the node's own namespace: every daemon can use the same port


def vrrpd_config(lab: Lab, node: str, instances: Sequence[Instance], metrics: bool = False) -> str:
    lines = ["[global]", f'router_id = "{node}"', f'control_socket = "{control_socket(lab, node)}"']
    if metrics:
        lines.append(f'metrics_listen = "{METRICS_LISTEN}"')
    for inst in instances:
        vips = ", ".join(f'"{v}"' for v in inst.vips)
        lines += [
            "",
            "[[vrrp_instance]]",
            f'name = "{inst.name}"',
            f'interface = "{inst.interface}"',
            f"virtual_router_id = {inst.vrid}",
            f"priority = {inst.priority}",
            f"advert_int = {inst.advert_int:g}",
            *([f"version = {inst.version}"] if inst.version != 2 else []),
            f"preempt = {'true' if inst.preempt else 'false'}",
            f"garp_master_repeat = {inst.garp_repeat}",
            "garp_master_delay = 0",
            f"virtual_ipaddress = [{vips}]",
        ]
        if inst.excluded:
            excluded = ", ".join(f'"{v}"' for v in inst.excluded)
            lines.append(f"virtual_ipaddress_excluded = [{excluded}]")
    return "\n".join(lines) + "\n"


def keepalived_config(node: str, instances: Sequence[Instance], notify_fifo: Path | None = None) -> str:
    lines = ["global_defs {", f"  router_id {node}", "  vrrp_garp_master_delay 0"]
    if notify_fifo is not None:
        lines.append(f"  notify_fifo {notify_fifo}")
    lines.append("}")
    for inst in instances:
        # nopreempt needs state BACKUP; nodes start BACKUP and are elected, like vrrpd (owners aside).
        lines += [
            f"vrrp_instance {inst.name} {{",
            f"  state {inst.keepalived_state}",
            f"  interface {inst.interface}",
            f"  virtual_router_id {inst.vrid}",
            f"  priority {inst.priority}",
            f"  advert_int {inst.advert_int:g}",
            *([f"  version {inst.version}"] if inst.version != 2 else []),
            f"  garp_master_repeat {inst.garp_repeat}",
            *(["  nopreempt"] if not inst.preempt else []),
            "  virtual_ipaddress {",
            *(f"    {v}" for v in inst.vips),
            "  }",
        ]
        if inst.excluded:
            lines += ["  virtual_ipaddress_excluded {", *(f"    {v}" for v in inst.excluded), "  }"]
        lines.append("}")
    return "\n".join(lines) + "\n"


@dataclass
class Daemon:
    """A running vrrpd or keepalived in one lab node."""

    impl: Impl
    node: str
    process: Process
    spawned_at: float  # time.time() just before the spawn (CLOCK_REALTIME, as capture timestamps)
    instances: tuple[Instance, ...] = field(default=())

    @property
    def pid(self) -> int:
        return self.process.pid

    def states(self) -> list[tuple[float | None, str, str]]:
        """(time or None, instance, new state) for every transition logged so far, oldest first.

        vrrpd's JSON log gives the time to the microsecond; keepalived's console log has whole seconds
        only, so its time is None (the start-up benchmark times keepalived through its notify FIFO).
        """
        found: list[tuple[float | None, str, str]] = []
        for line in self.process.log_text().splitlines():
            if self.impl == "vrrpd":
                if '"state_change"' not in line:
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                found.append((_iso_time(obj["timestamp"]), obj["instance"], obj["new"]))
            else:
                # "... (VI_1) Entering MASTER STATE" / "... (VI_1) Entering BACKUP STATE (init)"
                marker = line.find(") Entering ")
                if marker < 0:
                    continue
                name = line[line.rfind("(", 0, marker) + 1 : marker]
                state = line[marker + len(") Entering ") :].split()[0]
                found.append((None, name, state))
        return found

    def count_state(self, state: str) -> int:
        return sum(1 for _t, _n, s in self.states() if s == state)

    def wait_state_count(self, state: str, count: int, timeout: float) -> bool:
        """Poll the log until `state` was entered at least `count` times (bounded by `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count_state(state) >= count:
                return True
            if self.process.poll() is not None:
                return False
            time.sleep(0.05)
        return self.count_state(state) >= count

    def stop(self, timeout: float = 10.0) -> None:
        self.process.stop(timeout)


def control_socket(lab: Lab, node: str) -> Path:
    """Where vrrpd on `node` listens for `vrrpd status` (one vrrpd per node at a time)."""
    return Path(lab.log_dir) / f"{node}.sock"


def _iso_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def start(
    lab: Lab,
    impl: Impl,
    node: str,
    instances: Sequence[Instance],
    *,
    tag: str = "",
    notify_fifo: Path | None = None,
    metrics: bool = False,
) -> Daemon:
    """Write the node's configuration and start the daemon; returns at once (no wait for a state).

    `metrics`: vrrpd with `metrics_listen` set (the Prometheus endpoint, METRICS_LISTEN); keepalived has
    no equivalent and ignores it."""
    base = Path(lab.log_dir) / f"{node}{tag}-{impl}"
    if impl == "vrrpd":
        conf = base.with_suffix(".toml")
        conf.write_text(vrrpd_config(lab, node, instances, metrics))
        argv = [sys.executable, "-m", "vrrpd", "run", "--config", str(conf)]
        env = {"VRRPD_LOG_FORMAT": "json"}
    else:
        conf = base.with_suffix(".conf")
        conf.write_text(keepalived_config(node, instances, notify_fifo))
        # Per-daemon pid files: the default /run/keepalived*.pid would make a second daemon refuse to start.
        pids = [f"{base}.{kind}.pid" for kind in ("main", "vrrp", "checkers")]
        argv = [KEEPALIVED, "-n", "-l", "-G", "-f", str(conf), "-p", pids[0], "-r", pids[1], "-c", pids[2]]
        env = {}
    spawned_at = time.time()
    proc = lab.spawn(node, argv, env=env, log_path=base.with_suffix(".log"))
    return Daemon(impl, node, proc, spawned_at, tuple(instances))
