"""The namespace lab: a sealed Ethernet segment of Linux network namespaces to run VRRP on.

This module owns the lab's whole lifecycle: building N node namespaces plus one client namespace,
each joined by a veth pair to a Linux bridge that lives in its own "switch" namespace; running
processes in them; breaking and healing links; answering "who holds this address?"; and tearing
everything down again, always. It never creates or touches anything in the host's own network
namespace: every veth is created inside a lab namespace with its peer placed straight into another.

Topology for `Lab(nodes=2, prefix="vrrpd")` (<id> is 6 random hex digits, one lab = one <id>):

    vrrpd-<id>-n1 eth0 192.0.2.11 --- p1 \\
    vrrpd-<id>-n2 eth0 192.0.2.12 --- p2 --- br0 in vrrpd-<id>-sw
    vrrpd-<id>-cl eth0 192.0.2.200 -- pcl /

Every namespace is sealed before its interfaces exist (`SEALED_SYSCTLS`: no forwarding, no reverse-path
filter, kernel-default ARP behaviour...), so a lab behaves the same on a laptop and on a router whose
host settings new namespaces would otherwise copy.

Logical names "n1".."nN", "cl" and "sw" are what every method takes. IPv6 is disabled in the lab so
captures carry only the IPv4 traffic under test, unless `Lab(ipv6=True)` (VRRPv3 over IPv6): then nodes
and client also get 2001:db8::<host>/64 (n1 2001:db8::b) and a link-local address, with duplicate
address detection, router solicitations and autoconfiguration off so the lab stays deterministic.
Pings use `vrrpd.testing.icmp` (a raw-socket echo, IPv4 or IPv6),
never iputils-ping, so the lab runs on a machine with only iproute2 and Python.

Synchronous on purpose: this is test tooling, and `ip` subprocesses (each bounded by a timeout)
are the simplest thing that is obviously correct.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, Self

from vrrpd.testing.sniff import Event, read_events

IP_TIMEOUT = 10.0
TEST_NETS = tuple(ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
# Run in each namespace before its interfaces exist, so they inherit "default".
_NO_IPV6 = (
    "for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/default/disable_ipv6;"
    ' do [ -w "$f" ] && echo 1 > "$f"; done; true'
)
# With Lab(ipv6=True), instead: IPv6 on, but quiet and deterministic — no duplicate address detection (the
# link-local source is usable at once), no router solicitations or autoconfiguration, no forwarding.
_QUIET_IPV6 = (
    "for k in accept_dad=0 dad_transmits=0 accept_ra=0 autoconf=0 router_solicitations=0 forwarding=0;"
    " do for c in all default; do f=/proc/sys/net/ipv6/conf/$c/${k%%=*};"
    ' [ -w "$f" ] && echo ${k#*=} > "$f"; done; done; true'
)
TEST_NET6 = ipaddress.IPv6Network("2001:db8::/64")  # RFC 3849 documentation prefix
# Every lab namespace gets these, whatever the host has: a new namespace copies the IPv4 settings of the
# host's own (net.core.devconf_inherit_init_net=0), so on a router (ip_forward=1) a backup would forward
# a client's packets to the master and a "backup answers nothing" test would pass or fail by host. The
# values are the kernel's defaults: no forwarding (IPv4 and IPv6), no reverse-path filter, no packets
# from our own addresses, ARP answered and announced for any local address, gratuitous ARP only updating
# known neighbours, secondaries not promoted when the primary goes, no binding to foreign addresses.
SEALED_SYSCTLS: dict[str, str] = {
    "net/ipv4/ip_forward": "0",
    "net/ipv4/ip_nonlocal_bind": "0",
    **{
        f"net/ipv4/conf/{scope}/{key}": value
        for scope in ("all", "default")
        for key, value in (
            ("forwarding", "0"),
            ("rp_filter", "0"),
            ("accept_local", "0"),
            ("arp_ignore", "0"),
            ("arp_announce", "0"),
            ("arp_filter", "0"),
            ("arp_accept", "0"),
            ("promote_secondaries", "0"),
        )
    },
    **{f"net/ipv6/conf/{scope}/forwarding": "0" for scope in ("all", "default")},
}
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # so `-m vrrpd.testing.*` always imports


class LabError(RuntimeError):
    """The lab could not do what was asked; the message says which command failed and why."""


def unavailable_reason() -> str | None:
    """Why a lab cannot be built on this machine, or None if it can."""
    if os.geteuid() != 0:
        return "the lab needs root: network namespaces"
    if shutil.which("ip") is None:
        return "the lab needs iproute2: `ip` is not on PATH"
    try:
        subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=IP_TIMEOUT, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`ip netns` is unavailable: {exc}"
    return None


def _run(
    argv: Sequence[str],
    *,
    timeout: float = IP_TIMEOUT,
    check: bool = True,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"`{' '.join(argv)}` timed out after {timeout:g}s") from exc
    except OSError as exc:
        raise LabError(f"`{' '.join(argv)}` could not start: {exc}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise LabError(f"`{' '.join(argv)}` failed (rc={proc.returncode}): {detail}")
    return proc


def seal_namespace(ns: str) -> None:
    """Set `SEALED_SYSCTLS` in the namespace `ns` and check them; LabError naming what did not hold.

    Call it right after creating the namespace, before its interfaces exist, so they inherit "default".
    Any test that makes a namespace of its own calls it too.
    """
    script = "".join(
        f'printf %s {v} > /proc/sys/{k}; echo "{k}=$(cat /proc/sys/{k})";' for k, v in SEALED_SYSCTLS.items()
    )
    out = _run(["ip", "netns", "exec", ns, "sh", "-c", script], check=False).stdout
    got = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    wrong = {k: got.get(k) for k, v in SEALED_SYSCTLS.items() if got.get(k) != v}
    if wrong:
        raise LabError(f"{ns}: could not seal {wrong} (wanted {[SEALED_SYSCTLS[k] for k in wrong]})")


def _netns_add(ns: str) -> None:
    """Create one namespace (a seam: a test makes it look inherited from a forwarding host)."""
    _run(["ip", "netns", "add", ns])


def _ipn(ns: str, command: str) -> None:
    """`ip -n NS <command>`; the command is whitespace-split, so it must not hold user text."""
    _run(["ip", "-n", ns, *command.split()])


def _netns_list() -> set[str]:
    out = _run(["ip", "netns", "list"]).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _ns_pids(ns: str) -> list[int]:
    out = _run(["ip", "netns", "pids", ns], check=False, timeout=5.0).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    """Poll `predicate` every `step` seconds until it is true (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


class Process:
    """A command started by `Lab.spawn` inside one namespace; output goes to `log_path`."""

    def __init__(
        self,
        node: str,
        argv: Sequence[str],
        popen: subprocess.Popen[bytes],
        log_path: Path,
        log_file: IO[bytes],
    ) -> None:
        self.node = node
        self.argv = list(argv)
        self.log_path = log_path
        self._popen = popen
        self._log_file = log_file

    def __repr__(self) -> str:
        return f"<Process {self.node} pid={self.pid} {' '.join(self.argv)!r} rc={self.poll()}>"

    @property
    def pid(self) -> int:
        # `ip netns exec` execs the command in place, so this is the command's own pid.
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def poll(self) -> int | None:
        return self._popen.poll()

    def send_signal(self, sig: int) -> None:
        if self._popen.poll() is None:
            self._popen.send_signal(sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float = 10.0) -> int:
        """The exit code (negative: killed by that signal); LabError if still running at timeout."""
        try:
            rc = self._popen.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"{self!r} still running after {timeout:g}s") from exc
        self._log_file.close()
        return rc

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, wait up to `timeout`, then SIGKILL if it is still running; the exit code."""
        if self.poll() is None:
            self.terminate()
        try:
            return self.wait(timeout)
        except LabError:
            self.kill()
            return self.wait(timeout)

    def log_text(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""


class Capture:
    """A running sniffer on the lab's bridge (see `vrrpd.testing.sniff`)."""

    def __init__(self, process: Process, path: Path) -> None:
        self.process = process
        self.path = path
        self._events: list[Event] | None = None

    def events(self) -> list[Event]:
        """Everything captured so far, sorted by time, without stopping."""
        return self._events if self._events is not None else read_events(self.path)

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 5.0) -> Event | None:
        """The first captured event matching `predicate`, polling up to `timeout` seconds."""
        found: list[Event] = []

        def _look() -> bool:
            found.extend(e for e in self.events() if predicate(e))
            return bool(found)

        wait_until(_look, timeout, step=0.05)
        return found[0] if found else None

    def stop(self, timeout: float = 5.0) -> list[Event]:
        """Stop the sniffer (it drains what the kernel queued first) and return all events."""
        if self._events is None:
            self.process.stop(timeout)
            self._events = read_events(self.path)
        return self._events

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


# Every lab not yet torn down, so atexit and SIGTERM can clean up after an interrupted run.
_LIVE: set[Lab] = set()
_LIVE_LOCK = threading.Lock()
_previous_sigterm: Any = None
_sigterm_installed = False


def _close_all_labs() -> None:
    with _LIVE_LOCK:
        labs = list(_LIVE)
    for lab in labs:
        lab.close()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _close_all_labs()
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        # Die of SIGTERM as we would have without the lab: restore the default and re-deliver.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _install_cleanup_hooks() -> None:
    global _sigterm_installed, _previous_sigterm  # noqa: PLW0603 - process-wide hooks, once
    if _sigterm_installed:
        return
    atexit.register(_close_all_labs)
    # signal.signal only works from the main thread; elsewhere atexit must do.
    if threading.current_thread() is threading.main_thread():
        _previous_sigterm = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm)
    _sigterm_installed = True


class Lab:
    """A bridge-connected set of namespaces; use as a context manager (or start()/close())."""

    def __init__(
        self,
        nodes: int = 2,
        prefix: str = "vrrpd",
        subnet: str = "192.0.2.0/24",
        log_dir: Path | str | None = None,
        ipv6: bool = False,
    ) -> None:
        if not 1 <= nodes <= 32:
            raise LabError(f"nodes={nodes}: a lab has 1 to 32 nodes")
        try:
            net = ipaddress.IPv4Network(subnet)
        except ValueError as exc:
            raise LabError(f"subnet={subnet}: {exc}") from exc
        if net not in TEST_NETS:
            allowed = ", ".join(map(str, TEST_NETS))
            raise LabError(f"subnet={subnet}: the lab only uses documentation nets ({allowed})")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", prefix):
            raise LabError(f"prefix={prefix!r}: 1 to 32 of letters, digits, '_', '.', '-'")
        self.subnet = net
        self.prefix = prefix
        self.id = secrets.token_hex(3)
        self.nodes = [f"n{i}" for i in range(1, nodes + 1)]
        self.client = "cl"
        self.switch = "sw"
        self._ips = {n: str(net[10 + i]) for i, n in enumerate(self.nodes, start=1)}
        self._ips[self.client] = str(net[200])
        # ipv6=True: nodes and client also get 2001:db8::<same host number>/64 (the switch stays IPv4-only).
        self.ipv6 = ipv6
        self._ip6s = {m: str(TEST_NET6[int(ipaddress.IPv4Address(a)) & 0xFF]) for m, a in self._ips.items()}
        self._port = {n: f"p{n[1:]}" for n in self.nodes} | {self.client: "pcl"}
        self._own_log_dir = log_dir is None  # a temp dir, made by start(), removed by close()
        self.log_dir = Path(log_dir) if log_dir is not None else Path()
        self._created: list[str] = []  # namespaces, in creation order
        self._processes: list[Process] = []
        self._spawned = 0
        self._closed = False
        self._torn_down = False
        self.teardown_errors: list[str] = []

    # --- naming -----------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"<Lab {self.prefix}-{self.id} nodes={len(self.nodes)} subnet={self.subnet}>"

    def ns(self, name: str) -> str:
        """The namespace name for a logical name ("n1", "cl", "sw")."""
        if name not in self._ips and name != self.switch:
            raise LabError(f"unknown lab member {name!r}: expected one of {self.members}")
        return f"{self.prefix}-{self.id}-{name}"

    @property
    def members(self) -> list[str]:
        return [self.switch, *self.nodes, self.client]

    @property
    def namespaces(self) -> list[str]:
        return [self.ns(m) for m in self.members]

    def ip6(self, name: str) -> str:
        """The fixed IPv6 address of a node or the client (e.g. "2001:db8::b"); needs Lab(ipv6=True)."""
        if not self.ipv6:
            raise LabError(f"{self!r} was built without IPv6: Lab(ipv6=True)")
        if name not in self._ip6s:
            raise LabError(f"{name!r} has no address: expected one of {[*self.nodes, self.client]}")
        return self._ip6s[name]

    def ip(self, name: str) -> str:
        """The fixed address of a node or the client (e.g. "192.0.2.11")."""
        if name not in self._ips:
            raise LabError(f"{name!r} has no address: expected one of {[*self.nodes, self.client]}")
        return self._ips[name]

    # --- build and teardown -----------------------------------------------------------------------

    def start(self) -> Self:
        reason = unavailable_reason()
        if reason is not None:
            raise LabError(reason)
        if self._closed or self._created:
            raise LabError(f"{self!r} was already started")
        taken = _netns_list()
        for _ in range(8):  # a random id clash is vanishingly rare; bounded anyway
            if not taken & set(self.namespaces):
                break
            self.id = secrets.token_hex(3)
        else:
            raise LabError(f"could not find a free namespace id for prefix {self.prefix!r}")
        if self._own_log_dir:
            self.log_dir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-{self.id}-"))
        else:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        with _LIVE_LOCK:
            _LIVE.add(self)
        _install_cleanup_hooks()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        sw = self.ns(self.switch)
        for member in self.members:
            _netns_add(self.ns(member))
            self._created.append(self.ns(member))  # only what we made: teardown deletes these
            seal_namespace(self.ns(member))
            # IPv6 off before any interface exists, so no DAD/MLD/RS noise shows up in captures.
            quiet = self.ipv6 and member != self.switch
            self.run(member, ["sh", "-c", _QUIET_IPV6 if quiet else _NO_IPV6], check=False)
            _ipn(self.ns(member), "link set lo up")
        _ipn(sw, "link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0")
        _ipn(sw, "link set br0 up")
        for index, member in enumerate([*self.nodes, self.client], start=1):
            ns, port = self.ns(member), self._port[member]
            mac = f"02:00:00:00:00:{200 if member == self.client else index:02x}"
            # Created inside the member namespace, peer straight into the switch: never the host.
            _ipn(ns, f"link add eth0 address {mac} type veth peer name {port} netns {sw}")
            _ipn(sw, f"link set {port} master br0 up")
            _ipn(ns, f"addr add {self._ips[member]}/{self.subnet.prefixlen} dev eth0")
            if self.ipv6:
                _ipn(ns, f"addr add {self._ip6s[member]}/{TEST_NET6.prefixlen} dev eth0 nodad")
            _ipn(ns, "link set eth0 up")

    def close(self) -> None:
        """Kill everything running in the lab and delete its namespaces. Idempotent, never raises.

        Re-entrant on purpose: if SIGTERM lands mid-teardown, the handler runs the (idempotent)
        teardown again to completion before the process dies.
        """
        if self._torn_down:
            return
        self._closed = True
        try:
            self._teardown()
        except Exception as exc:  # teardown reports, never raises
            self.teardown_errors.append(f"teardown failed: {exc!r}")
        except BaseException:  # Ctrl-C mid-teardown: finish the job, then honour the interrupt
            with contextlib.suppress(Exception):
                self._teardown()
            raise
        finally:
            self._torn_down = True
            with _LIVE_LOCK:
                _LIVE.discard(self)

    def _teardown(self) -> None:
        # Politely first (a daemon may announce its departure), then by force, all bounded.
        for proc in self._processes:
            with contextlib.suppress(Exception):
                proc.terminate()
        deadline = time.monotonic() + 2.0
        for proc in self._processes:
            with contextlib.suppress(Exception):
                proc.wait(max(0.0, deadline - time.monotonic()))
        for ns in reversed(self._created):
            try:
                self._kill_namespace_processes(ns)
                _run(["ip", "netns", "del", ns], check=False)
            except Exception as exc:  # keep going: the other namespaces must still go
                self.teardown_errors.append(f"{ns}: {exc}")
        for proc in self._processes:
            with contextlib.suppress(Exception):
                proc.kill()
                proc.wait(1.0)
        with contextlib.suppress(Exception):
            left = _netns_list() & set(self._created)
            if left:
                self.teardown_errors.append(f"namespaces still present: {sorted(left)}")
        if self._own_log_dir and not self.teardown_errors:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    @staticmethod
    def _kill_namespace_processes(ns: str) -> None:
        for _ in range(3):  # a process may fork while we kill; a few rounds catch that
            pids = _ns_pids(ns)
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not _ns_pids(ns), timeout=1.0, step=0.05)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- running things ---------------------------------------------------------------------------

    def _exec_argv(self, name: str, argv: Sequence[str]) -> list[str]:
        if not argv:
            raise LabError("empty command")
        return ["ip", "netns", "exec", self.ns(name), *argv]

    def run(
        self,
        name: str,
        argv: Sequence[str],
        check: bool = True,
        timeout: float = IP_TIMEOUT,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to completion in a member's namespace (text output captured)."""
        return _run(self._exec_argv(name, argv), check=check, timeout=timeout, input=input)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        log_path: Path | str | None = None,
    ) -> Process:
        """Start a long-running command in a member's namespace; stdout+stderr go to `log_path`.

        `env` adds to (and overrides) this process's environment. The command runs in its own
        session, so a Ctrl-C on the terminal reaches the test runner, which then tears down.
        """
        if self._closed or not self._created:
            raise LabError(f"{self!r} is not running")
        self._spawned += 1
        if log_path is None:
            log_path = self.log_dir / f"{name}-{Path(argv[0]).name}-{self._spawned}.log"
        path = Path(log_path)
        full_env = _child_env() | dict(env or {})
        log_file = path.open("ab")
        try:
            popen = subprocess.Popen(
                self._exec_argv(name, argv),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=full_env,
                start_new_session=True,
            )
        except OSError as exc:
            log_file.close()
            raise LabError(f"could not start {list(argv)} in {name}: {exc}") from exc
        proc = Process(name, argv, popen, path, log_file)
        self._processes.append(proc)
        return proc

    # --- links ------------------------------------------------------------------------------------

    def _node_port(self, name: str) -> str:
        if name not in self._port:
            raise LabError(f"{name!r} has no link: expected one of {[*self.nodes, self.client]}")
        return self._port[name]

    def cut_link(self, name: str) -> None:
        """Take the switch side down: the member's eth0 loses carrier (NO-CARRIER)."""
        _ipn(self.ns(self.switch), f"link set {self._node_port(name)} down")

    def restore_link(self, name: str) -> None:
        _ipn(self.ns(self.switch), f"link set {self._node_port(name)} up")

    def partition(self, name: str) -> None:
        """Detach the member's port from the bridge: carrier stays up but it hears nobody."""
        _ipn(self.ns(self.switch), f"link set {self._node_port(name)} nomaster")

    def heal(self, name: str) -> None:
        _ipn(self.ns(self.switch), f"link set {self._node_port(name)} master br0")

    def has_carrier(self, name: str, iface: str = "eth0") -> bool:
        links = self._ip_json(name, "link", "show", iface)
        return bool(links) and "LOWER_UP" in links[0].get("flags", [])

    # --- addresses and neighbours -----------------------------------------------------------------

    def _ip_json(self, name: str, *args: str) -> list[dict[str, Any]]:
        out = _run(["ip", "-j", "-n", self.ns(name), *args]).stdout
        data: list[dict[str, Any]] = json.loads(out or "[]")
        return data

    def addresses(self, name: str) -> list[str]:
        """IPv4 addresses ("a.b.c.d/len") on a member's interfaces, loopback excluded."""
        return [
            f"{a['local']}/{a['prefixlen']}"
            for link in self._ip_json(name, "-4", "addr", "show")
            if link.get("ifname") != "lo"
            for a in link.get("addr_info", [])
        ]

    def addresses6(self, name: str) -> list[str]:
        """IPv6 addresses ("2001:db8::b/64") on a member's interfaces, loopback and link-local excluded."""
        return [
            f"{a['local']}/{a['prefixlen']}"
            for link in self._ip_json(name, "-6", "addr", "show")
            if link.get("ifname") != "lo"
            for a in link.get("addr_info", [])
            if a.get("scope") != "link"
        ]

    def holders(self, ip: str) -> list[str]:
        """Which nodes currently have `ip` (IPv4 or IPv6) configured (a healthy VRRP group: exactly one)."""
        listed = self.addresses6 if ":" in ip else self.addresses
        wanted = ipaddress.ip_address(ip)
        return [
            n for n in self.nodes if any(ipaddress.ip_address(a.split("/")[0]) == wanted for a in listed(n))
        ]

    def node_mac(self, name: str, iface: str = "eth0") -> str:
        links = self._ip_json(name, "link", "show", iface)
        return str(links[0]["address"])

    def arp(self, name: str, ip: str) -> str | None:
        """The MAC a member's neighbour table has for `ip`, or None if unresolved."""
        for entry in self._ip_json(name, "neigh", "show", ip):
            if entry.get("dst") == ip and "lladdr" in entry:
                return str(entry["lladdr"])
        return None

    def client_arp(self, ip: str) -> str | None:
        return self.arp(self.client, ip)

    def flush_arp(self, name: str) -> None:
        _ipn(self.ns(name), "neigh flush dev eth0")

    def flush_client_arp(self) -> None:
        self.flush_arp(self.client)

    def ping(self, ip: str, count: int = 1, timeout: float = 1.0, src: str = "cl") -> bool:
        """True at the first echo reply; up to `count` requests, each awaited `timeout` seconds.

        Always a raw-socket echo (`vrrpd.testing.icmp`) run in `src`'s namespace, so it behaves
        the same whether or not iputils-ping is installed.
        """
        argv = [
            sys.executable,
            "-m",
            "vrrpd.testing.icmp",
            ip,
            "--count",
            str(count),
            "--timeout",
            str(timeout),
        ]
        proc = _run(
            self._exec_argv(src, argv),
            check=False,
            timeout=count * timeout + IP_TIMEOUT,
            env=_child_env(),
        )
        if proc.returncode not in (0, 1):
            raise LabError(f"ping {ip} from {src} failed: {proc.stderr.strip()}")
        return proc.returncode == 0

    # --- capture ----------------------------------------------------------------------------------

    def capture(self, iface: str = "br0", ready_timeout: float = 5.0) -> Capture:
        """Start sniffing the bridge; returns once the sniffer's socket is bound."""
        self._spawned += 1
        path = self.log_dir / f"capture-{self._spawned}.jsonl"
        proc = self.spawn(
            self.switch,
            [sys.executable, "-m", "vrrpd.testing.sniff", "--iface", iface, "--out", str(path)],
            log_path=self.log_dir / f"capture-{self._spawned}.log",
        )
        if not wait_until(lambda: path.exists() or proc.poll() is not None, ready_timeout):
            proc.kill()
            raise LabError(f"sniffer not ready after {ready_timeout:g}s: {proc.log_text()}")
        if proc.poll() is not None:
            raise LabError(f"sniffer exited (rc={proc.poll()}): {proc.log_text()}")
        return Capture(proc, path)
