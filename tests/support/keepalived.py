"""Helpers for running keepalived 2.2 as a peer of vrrpd in the namespace lab.

A `Spec` describes one virtual router once and renders it for both implementations (keepalived.conf and
vrrpd TOML). `Cluster` starts either daemon in a lab node with its own configuration, pid files and log,
and cleans up after each test (daemons stopped, links restored, stray VIPs removed). The rest reads the
results: keepalived's log lines, the bridge capture per VRID (handover gaps), and tshark's dissection
of a pcap. The twin of `tests.support.daemons` for the reference peer.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemons import toml_value, wait_for
from vrrpd.testing.lab import Lab, LabError, Process
from vrrpd.testing.sniff import Event, VrrpEvent

KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
TSHARK = shutil.which("tshark") or "/usr/bin/tshark"
TCPDUMP = shutil.which("tcpdump") or "/usr/bin/tcpdump"

# What keepalived logs when it rejects a received VRRP packet (vrrp.c, vrrp_check_packet and friends):
# "advertisement interval mismatch", "Invalid packet type", "invalid ttl", "bad checksum", "wrong version",
# "received an invalid passwd", "receive a 0 auth, expecting 1", "vrrp packet too short", "unexpected ip
# number count", "ip_tot_len mismatch". Benign lines ("received lower priority ... - discarding" while a
# preempt_delay runs) do not match.
PACKET_COMPLAINT = re.compile(
    r"(?i)mismatch|invalid|wrong|unexpected|too (?:long|short)|checksum|\bttl\b|passwd|expecting|malformed"
)


def missing_tools() -> list[str]:
    """The reference tools this suite needs that are not installed."""
    return [tool for tool in (KEEPALIVED, TSHARK, TCPDUMP) if not Path(tool).exists()]


# ---------------------------------------------------------------------------------------------------
# One intent, two configuration languages


@dataclass(frozen=True)
class TcpCheck:
    """A TCP connect check: keepalived's ipfailover-style script, vrrpd's native tcp_port check."""

    host: str
    port: int
    interval: int = 1
    fall: int = 1
    weight: int = 0  # vrrpd's weight (priority drop on failure); keepalived's is its negative


@dataclass(frozen=True)
class Spec:
    """One virtual router as both implementations spell it (defaults: eth0, VRID 51).

    `keepalived()` and `vrrpd()` render the same intent; `import-keepalived` of the first must give
    the second (tests/compat/keepalived/test_keepalived_conf.py checks that for every spec the interop tests
    use).
    """

    vips: tuple[str, ...]
    name: str = "VI_1"
    vrid: int = 51
    priority: int = 100
    advert_int: float = 1  # seconds; fractions (centiseconds) with version 3 only
    preempt: bool = True
    preempt_delay: float = 0
    auth_pass: str | None = None
    auth_type: str | None = None  # "AH" (with auth_pass); unset: PASS
    unicast_src_ip: str | None = None
    unicast_peer: tuple[str, ...] = ()
    notify: str | None = None
    check: TcpCheck | None = None
    interface: str = "eth0"
    keepalived_state: str = "BACKUP"  # keepalived only: vrrpd always starts in BACKUP
    version: int = 2  # 3: VRRPv3 (RFC 5798), IPv4 or IPv6 VIPs

    @property
    def script_name(self) -> str:
        return f"chk_{self.name}"

    def keepalived(self) -> str:
        """The ``vrrp_script`` (if any) and ``vrrp_instance`` blocks."""
        lines: list[str] = []
        if self.check is not None:
            c = self.check
            lines += [
                f"vrrp_script {self.script_name} {{",
                f"    script \"/bin/bash -c '</dev/tcp/{c.host}/{c.port}'\"",
                f"    interval {c.interval}",
                f"    fall {c.fall}",
                "    rise 1",
                *([f"    weight {-c.weight}"] if c.weight else []),
                "}",
            ]
        # keepalived's nopreempt needs state BACKUP; vrrpd always starts in BACKUP anyway.
        lines += [
            f"vrrp_instance {self.name} {{",
            f"    state {self.keepalived_state}",
            f"    interface {self.interface}",
            f"    virtual_router_id {self.vrid}",
            f"    priority {self.priority}",
            f"    advert_int {self.advert_int:g}",
            "    garp_master_delay 0",
        ]
        if self.version != 2:
            lines.append(f"    version {self.version}")
        if not self.preempt:
            lines.append("    nopreempt")
        if self.preempt_delay:
            lines.append(f"    preempt_delay {self.preempt_delay:g}")
        if self.auth_pass is not None:
            kind = self.auth_type or "PASS"
            lines += ["    authentication {", f"        auth_type {kind}"]
            lines.append(f"        auth_pass {self.auth_pass}")
            lines.append("    }")
        if self.unicast_src_ip is not None:
            lines.append(f"    unicast_src_ip {self.unicast_src_ip}")
        if self.unicast_peer:
            lines += ["    unicast_peer {", *(f"        {p}" for p in self.unicast_peer), "    }"]
        if self.notify is not None:
            lines.append(f'    notify "{self.notify}"')
        if self.check is not None:
            lines += ["    track_script {", f"        {self.script_name}", "    }"]
        lines += ["    virtual_ipaddress {", *(f"        {v} dev {self.interface}" for v in self.vips)]
        lines += ["    }", "}"]
        return "\n".join(lines)

    def vrrpd_keys(self) -> dict[str, Any]:
        """The ``[[vrrp_instance]]`` keys (and ``check`` sub-table) vrrpd needs for the same intent."""
        keys: dict[str, Any] = {
            "name": self.name,
            "interface": self.interface,
            "virtual_router_id": self.vrid,
            "priority": self.priority,
            "advert_int": self.advert_int,
            **({"version": self.version} if self.version != 2 else {}),
            "preempt": self.preempt,
            "preempt_delay": self.preempt_delay,
            "virtual_ipaddress": list(self.vips),
            "garp_master_delay": 0,
        }
        if self.auth_pass is not None:
            keys["auth_pass"] = self.auth_pass
        if self.auth_type is not None:
            keys["auth_type"] = self.auth_type
        if self.unicast_peer:
            keys["unicast_peer"] = list(self.unicast_peer)
        if self.unicast_src_ip is not None:
            keys["unicast_src_ip"] = self.unicast_src_ip
        if self.notify is not None:
            keys["notify"] = self.notify
        if self.check is not None:
            c = self.check
            keys["check"] = {
                "tcp_port": c.port,
                "host": c.host,
                "interval": c.interval,
                "timeout": c.interval,  # keepalived: a script's timeout defaults to its interval
                "rise": 1,
                "fall": c.fall,
                "weight": c.weight,
            }
        return keys

    def vrrpd(self) -> str:
        """The ``[[vrrp_instance]]`` table."""
        keys = self.vrrpd_keys()
        check = keys.pop("check", None)
        lines = ["[[vrrp_instance]]", *(f"{k} = {toml_value(v)}" for k, v in keys.items())]
        if check is not None:
            lines += ["", "[vrrp_instance.check]", *(f"{k} = {toml_value(v)}" for k, v in check.items())]
        return "\n".join(lines)


def keepalived_text(node: str, *specs: Spec) -> str:
    """A whole keepalived.conf for a lab node."""
    head = [f"! keepalived peer for lab node {node}", "global_defs {", f"    router_id {node}", "}"]
    return "\n".join([*head, *(s.keepalived() for s in specs)]) + "\n"


def vrrpd_text(lab: Lab, node: str, *specs: Spec) -> str:
    """A whole vrrpd TOML for a lab node (with its own control socket)."""
    head = f'[global]\nrouter_id = "{node}"\ncontrol_socket = "{lab.log_dir}/{node}.sock"'
    return "\n\n".join([head, *(s.vrrpd() for s in specs)]) + "\n"


# ---------------------------------------------------------------------------------------------------
# Running daemons


def keepalived_argv(conf: Path, base: Path, node: str) -> list[str]:
    """keepalived 2.2.7 in the foreground, VRRP only, logging to the console with our own pid files."""
    return [
        KEEPALIVED,
        "--vrrp",
        "--dont-fork",
        "--log-console",
        "--log-detail",
        "--no-syslog",
        # Several keepalived processes share this host's /run in the lab: each gets its own pid files.
        "--pid",
        f"{base}.pid",
        "--vrrp_pid",
        f"{base}-vrrp.pid",
        "--checkers_pid",
        f"{base}-checkers.pid",
        "--config-id",
        node,
        "--use-file",
        str(conf),
    ]


class Cluster:
    """The daemons one test runs in a shared lab; `close()` leaves the lab as it found it."""

    def __init__(self, lab: Lab, vips: Sequence[str]) -> None:
        self.lab = lab
        self.vips = list(vips)
        self.procs: list[Process] = []
        self.sockets: dict[int, str] = {}  # vrrpd pid -> control socket

    # Shared by every Cluster of a run: the lab opens logs for appending, so names must never repeat.
    _serial = itertools.count(1)

    def _tag(self, node: str, kind: str) -> Path:
        return Path(self.lab.log_dir) / f"{node}-{kind}-{next(Cluster._serial)}"

    def keepalived(self, node: str, *specs: Spec, text: str | None = None) -> Process:
        """Start keepalived in ``node`` with the specs (or a whole config ``text``)."""
        base = self._tag(node, "keepalived")
        conf = base.with_suffix(".conf")
        conf.write_text(text if text is not None else keepalived_text(node, *specs))
        proc = self.lab.spawn(node, keepalived_argv(conf, base, node), log_path=f"{base}.log")
        self.procs.append(proc)
        return proc

    def vrrpd(self, node: str, *specs: Spec, text: str | None = None) -> Process:
        """Start `vrrpd run` in ``node`` with the specs (or a whole TOML ``text``)."""
        base = self._tag(node, "vrrpd")
        conf = base.with_suffix(".toml")
        conf.write_text(text if text is not None else vrrpd_text(self.lab, node, *specs))
        env = {"VRRPD_LOG_FORMAT": "json", "VRRPD_CONTROL_SOCKET": f"{base}.sock"}
        argv = [sys.executable, "-m", "vrrpd", "run", "--config", str(conf)]
        proc = self.lab.spawn(node, argv, env=env, log_path=f"{base}.log")
        self.procs.append(proc)
        self.sockets[proc.pid] = f"{base}.sock"
        return proc

    def status(self, proc: Process) -> dict[str, Any]:
        """A running vrrpd's `vrrpd status --json` document (over its control socket)."""
        argv = [sys.executable, "-m", "vrrpd", "status", "--json", "--socket", self.sockets[proc.pid]]
        out = self.lab.run(proc.node, argv, timeout=15).stdout
        document: dict[str, Any] = json.loads(out)
        return document

    def spawn(self, node: str, argv: Sequence[str], log_name: str) -> Process:
        proc = self.lab.spawn(node, argv, log_path=Path(self.lab.log_dir) / log_name)
        self.procs.append(proc)
        return proc

    def wait_running(self, *procs: Process, timeout: float = 10.0) -> None:
        """Wait until each daemon has entered its first state (BACKUP, or MASTER for an owner).

        vrrpd is a Python program: on a loaded machine it needs a second or two before it takes part,
        and a test that times preemption must not count that.
        """

        def entered(proc: Process) -> bool:
            text = proc.log_text()
            return (
                '"event": "state_change"' in text
                or "Entering BACKUP STATE" in text
                or "Entering MASTER" in text
            )

        assert wait_for(lambda: all(entered(p) for p in procs), timeout), [p.log_text()[-500:] for p in procs]

    def holder(self, vip: str) -> str | None:
        holders = self.lab.holders(vip)
        return holders[0] if len(holders) == 1 else None

    def wait_holder(self, vip: str, expected: str, timeout: float = 12.0) -> None:
        if not wait_for(lambda: self.lab.holders(vip) == [expected], timeout):
            raise AssertionError(f"expected {expected} alone to hold {vip}, got {self.lab.holders(vip)}")

    def close(self) -> None:
        stop(self.procs)
        for node in self.lab.nodes:
            with contextlib.suppress(LabError):
                self.lab.heal(node)
            with contextlib.suppress(LabError):
                self.lab.restore_link(node)
            # A SIGKILLed daemon leaves its VIPs behind: the next test must start from a clean node.
            listed = self.lab.addresses(node) + (self.lab.addresses6(node) if self.lab.ipv6 else [])
            for address in listed:
                if address.split("/")[0] in self.vips:
                    self.lab.run(node, ["ip", "addr", "del", address, "dev", "eth0"], check=False)


def wait_holders(cluster: Cluster, expected: dict[str, str], timeout: float = 12.0) -> None:
    """Wait until each VIP is held by exactly the expected node (the pairs converge in parallel); on a
    timeout the assertion shows who holds what and the tail of every daemon's log."""
    lab = cluster.lab
    ok = wait_for(lambda: all(lab.holders(v) == [n] for v, n in expected.items()), timeout)
    assert ok, {v: lab.holders(v) for v in expected} | {p.node: p.log_text()[-1500:] for p in cluster.procs}


def stop(procs: Iterable[Process], timeout: float = 10.0) -> None:
    """SIGTERM and wait (bounded); a process that does not exit in time is killed."""
    procs = list(procs)
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except LabError:
            p.kill()
            p.wait(timeout=timeout)


# ---------------------------------------------------------------------------------------------------
# Reading the results


def log_lines(proc: Process) -> list[str]:
    """keepalived's log lines without their timestamp prefix."""
    return [line.partition(": ")[2] or line for line in proc.log_text().splitlines()]


def packet_complaints(proc: Process) -> list[str]:
    """The lines in which keepalived rejected a received packet."""
    return [line for line in log_lines(proc) if PACKET_COMPLAINT.search(line)]


def dump_instances(lines: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The "VRRP Topology" part of keepalived's ``--dump-conf`` output, per instance.

    Scalars are kept as keepalived prints them ("Priority": "150"); the lists "vips", "peers" and
    "scripts" hold the first word of each entry ("192.0.2.100/24", "chk_web weight -30" → kept whole).
    """
    instances: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    in_topology = False
    list_key: str | None = None
    for line in lines:
        if line.startswith("------<"):
            in_topology, current = "VRRP Topology" in line, None
            continue
        indent = len(line) - len(line.lstrip())
        if not in_topology or indent == 0:
            continue  # another process's line interleaved with the dump ("Startup complete")
        text = line.strip()
        if indent == 1 and text.startswith("VRRP Instance = "):
            current = instances[text.split(" = ", 1)[1]] = {"vips": [], "peers": [], "scripts": []}
            list_key = None
        elif current is None:
            continue
        elif text.startswith("Virtual IP ("):
            list_key = "vips"
        elif text == "Unicast Peer :":
            list_key = "peers"
        elif text == "Tracked scripts :":
            list_key = "scripts"
        elif indent >= 5 and list_key is not None:
            current[list_key].append(text if list_key == "scripts" else text.split()[0])
        else:
            list_key = None
            if " = " in text:
                key, value = text.split(" = ", 1)
                current[key] = value
    return instances


def json_events(proc: Process, event: str) -> list[dict[str, Any]]:
    """vrrpd's JSON log records of one event."""
    out = []
    for line in proc.log_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == event:
                out.append(record)
    return out


def started_at(proc: Process) -> float:
    """The wall-clock time (the capture's clock) at which vrrpd logged "started"."""
    record = json_events(proc, "started")[0]
    return datetime.fromisoformat(str(record["timestamp"])).timestamp()


def vrid_adverts(events: Iterable[Event], vrid: int, src: str | None = None) -> list[VrrpEvent]:
    """The adverts of one VRID in a capture, optionally from one source."""
    return [
        e for e in events if isinstance(e, VrrpEvent) and e.vrid == vrid and (src is None or e.src_ip == src)
    ]


def takeover_gap(events: Sequence[Event], vrid: int, old_ip: str, new_ip: str, after: float) -> float:
    """Seconds from the old master's last advert to the new master's first, looking after ``after``."""
    new = [e for e in vrid_adverts(events, vrid, new_ip) if e.time > after]
    assert new, f"no advert from {new_ip} on VRID {vrid} after {after}"
    old = [e for e in vrid_adverts(events, vrid, old_ip) if after <= e.time < new[0].time]
    assert old, f"no advert from {old_ip} on VRID {vrid} before {new_ip}'s first"
    return new[0].time - old[-1].time


def zero_priority_gap(events: Sequence[Event], vrid: int, old_ip: str, new_ip: str) -> float:
    """Seconds from the old master's priority-0 advert to the new master's first advert after it."""
    zero = [e for e in vrid_adverts(events, vrid, old_ip) if e.priority == 0]
    assert len(zero) == 1, f"expected one priority-0 advert from {old_ip}, got {len(zero)}"
    new = [e for e in vrid_adverts(events, vrid, new_ip) if e.time > zero[0].time]
    assert new, f"no advert from {new_ip} after {old_ip}'s priority 0"
    return new[0].time - zero[0].time


def pcap_capture(cluster: Cluster, path: Path, timeout: float = 5.0, protocol: int = 112) -> Process:
    """tcpdump on the lab's bridge (in the switch namespace), VRRP only (or IP ``protocol``: 51 for the
    AH adverts of auth_type AH), written to ``path``."""
    argv = [TCPDUMP, "-i", "br0", "-U", "-n", "-w", str(path), f"ip proto {protocol}"]
    proc = cluster.spawn(cluster.lab.switch, argv, f"{path.name}.log")
    if not wait_for(lambda: "listening on" in proc.log_text() or proc.poll() is not None, timeout):
        raise AssertionError(f"tcpdump did not start: {proc.log_text()}")
    return proc


def _tshark(path: Path, *args: str) -> str:
    # The IP header checksum is not verified by default: turn it on, vrrpd builds that header too.
    argv = [TSHARK, "-r", str(path), "-n", "-o", "ip.check_checksum:TRUE", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout


def tshark_fields(path: Path, fields: Sequence[str]) -> list[dict[str, str]]:
    """Each VRRP packet of a pcap as {field: value} (tshark ``-T fields``, all occurrences)."""
    args = ["-Y", "vrrp", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a"]
    for name in fields:
        args += ["-e", name]
    out = _tshark(path, *args)
    return [dict(zip(fields, line.split("\t"), strict=True)) for line in out.splitlines() if line]


def tshark_layers(path: Path) -> list[dict[str, Any]]:
    """Each VRRP packet's dissection tree (tshark ``-T json``): {"ip": {...}, "vrrp": {...}}."""
    packets = json.loads(_tshark(path, "-Y", "vrrp", "-T", "json") or "[]")
    return [p["_source"]["layers"] for p in packets]


def field_names(tree: Any, prefix: str = "") -> set[str]:
    """Every field name in a tshark JSON subtree (the shape of a dissection, without values)."""
    names: set[str] = set()
    if isinstance(tree, dict):
        for key, value in tree.items():
            names.add(key)
            names |= field_names(value)
    elif isinstance(tree, list):
        for value in tree:
            names |= field_names(value)
    return names


def tshark_verbose(path: Path, frame: int) -> str:
    """tshark's full text dissection (``-V``) of one frame, for failure messages."""
    return _tshark(path, "-V", "-Y", f"frame.number == {frame}")


@contextlib.contextmanager
def two_node_cluster(vrrp_lab: Callable[..., Lab], vips: Sequence[str], **lab_keys: Any) -> Iterator[Cluster]:
    """A two-node `Cluster` for a keepalived-against-vrrpd test, closed however the test ends; skips with
    the install hint when keepalived or a capture tool is missing (CI then fails the skip)."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (scripts/install-system-deps installs them)")
    cluster = Cluster(vrrp_lab(nodes=2, **lab_keys), list(vips))
    try:
        yield cluster
    finally:
        cluster.close()
