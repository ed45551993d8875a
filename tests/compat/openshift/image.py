"""The ipfailover image's keepalived.conf generator on a modelled host, and what keepalived reads from it.

openshift/images (``ipfailover/keepalived``) builds keepalived.conf from the ``OPENSHIFT_HA_*`` environment
with bash (``lib/config-generators.sh``, run by ``monitor.sh``). This harness:

- finds a copy of that ``lib/`` directory (``VRRPD_IPFAILOVER_LIB``, or the mirror that the search tool's
  ``fetch openshift/images`` leaves under ``/work/.mirror``) — never a copy in this repository: the scripts
  are not vendored;
- models the host the script inspects (`FakeHost`: its interfaces, their IPv4 addresses, the device of the
  route to 8.8.8.8) with two tiny ``ip`` / ``ifconfig`` shims, and the same object serves vrrpd as its
  ``HostFacts``;
- runs ``generate_failover_config`` with ``$RANDOM`` made constant (priorities are random in the image and
  not part of the compared mapping);
- reads a generated file the way keepalived 2.2 does, into the `Mapping` the parity test compares:
  instance, VRID, VIPs, interface, authentication, preemption, check, notify, unicast.

``python -m tests.compat.openshift.image`` regenerates the golden files (``golden/``) from the cases of
`tests.compat.openshift.cases`; their ``index.json`` records the source commit and the bash version.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from vrrpd.compat.keepalived.conf import Statement, parse_text
from vrrpd.config.programs import resolve, split_command

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
INDEX = GOLDEN / "index.json"
LIB_VARIABLE = "VRRPD_IPFAILOVER_LIB"
MIRROR = Path("/work/.mirror/openshift+images/repo")  # where `fetch openshift/images` puts its git dir
IMAGE_DIR = "ipfailover/keepalived"
TIMEOUT = 60.0


# ---------------------------------------------------------------------------------------------
# The host


@dataclass(frozen=True)
class FakeHost:
    """A host as the image's script and vrrpd's `HostFacts` see it: links in kernel order, their IPv4
    (primary) address or None, and the device of the route to 8.8.8.8 (None: no such route)."""

    links: tuple[tuple[str, str | None], ...]
    route_device: str | None = None

    def interface_names(self) -> list[str]:
        return [name for name, _ in self.links]

    def primary_address(self, interface: str) -> IPv4Address | None:
        address = dict(self.links).get(interface)
        return IPv4Address(address) if address else None

    def route_interface(self) -> str | None:
        return self.route_device

    def describe(self) -> dict[str, object]:
        return {"links": [list(link) for link in self.links], "route_device": self.route_device}

    def shims(self, directory: Path) -> None:
        """Write ``ip`` and ``ifconfig`` answering the three questions the script asks."""
        known = " ".join(name for name, _ in self.links)
        addresses = "\n".join(f"    {name}) inet={shlex.quote(addr or '')} ;;" for name, addr in self.links)
        route = self.route_device or ""
        ip = f"""#!/bin/bash
# `ip addr show dev X` (does X exist) and `ip route get A` (which device), for a modelled host.
if [[ $1 == addr && $2 == show && $3 == dev ]]; then
  for dev in {known}; do [[ $dev == "$4" ]] && exit 0; done
  echo "Device \\"$4\\" does not exist." >&2; exit 1
fi
if [[ $1 == route && $2 == get ]]; then
  if [[ -z {shlex.quote(route)} ]]; then echo "RTNETLINK answers: Network is unreachable" >&2; exit 2; fi
  echo "$3 via 192.0.2.1 dev {route} src 192.0.2.1 uid 0 "; echo "    cache "; exit 0
fi
echo "ip shim: unexpected arguments: $*" >&2; exit 64
"""
        ifconfig = f"""#!/bin/bash
# `ifconfig X` in net-tools' format (the script takes the word after "inet ").
inet=missing
case "$1" in
{addresses}
esac
if [[ $inet == missing ]]; then
  echo "$1: error fetching interface information: Device not found" >&2; exit 1
fi
echo "$1: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500"
[[ -n $inet ]] && echo "        inet $inet  netmask 255.255.255.0  broadcast 0.0.0.0"
exit 0
"""
        for name, text in (("ip", ip), ("ifconfig", ifconfig)):
            path = directory / name
            path.write_text(text)
            path.chmod(0o755)


# ---------------------------------------------------------------------------------------------
# The image's script


@dataclass(frozen=True)
class ImageLib:
    """A copy of the image's ``lib/`` (with ``../conf/settings.sh`` beside it) and where it came from."""

    lib: Path
    commit: str


def find_lib(workdir: Path) -> ImageLib | None:
    """The generator's ``lib/`` from ``VRRPD_IPFAILOVER_LIB`` or the fetched mirror; None if neither."""
    given = os.environ.get(LIB_VARIABLE)
    if given:
        lib = Path(given)
        if not (lib / "config-generators.sh").is_file():
            raise RuntimeError(f"{LIB_VARIABLE}={given}: no config-generators.sh there")
        probe = subprocess.run(
            ["git", "-C", str(lib), "log", "-1", "--format=%H", "--", "."],
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT,
        )
        commit = probe.stdout.strip() if probe.returncode == 0 and probe.stdout.strip() else "unknown"
        return ImageLib(lib, commit)
    if not (MIRROR / "HEAD").exists():
        return None
    git = ["git", f"--git-dir={MIRROR}"]
    commit = subprocess.run(
        [*git, "log", "-1", "--format=%H", "HEAD", "--", IMAGE_DIR],
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    ).stdout.strip()
    archive = subprocess.run(
        [*git, "archive", "--format=tar", commit, IMAGE_DIR], capture_output=True, check=True, timeout=TIMEOUT
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True, timeout=TIMEOUT)
    return ImageLib(workdir / IMAGE_DIR / "lib", commit)


@dataclass(frozen=True)
class Generated:
    """What ``generate_failover_config`` printed, and how it ended."""

    conf: str
    status: int
    stderr: str


def generate(lib: Path, env: dict[str, str], host: FakeHost) -> Generated:
    """Run the image's generator with exactly ``env`` on ``host``; keepalived.conf is its stdout."""
    with tempfile.TemporaryDirectory(prefix="h15-ipf-") as tmp:
        shims = Path(tmp)
        host.shims(shims)
        script = (
            # $RANDOM only varies the priorities (not compared); unset, it loses its magic.
            "unset RANDOM; RANDOM=0; "
            f"source {shlex.quote(str(lib / 'failover-functions.sh'))}; generate_failover_config"
        )
        proc = subprocess.run(
            ["bash", "--norc", "--noprofile", "-c", script],
            env={**env, "PATH": f"{shims}:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            cwd=tmp,
        )
    stderr = proc.stderr.replace(str(lib.parent), "<image>")
    return Generated(proc.stdout, proc.returncode, stderr)


def bash_version() -> str:
    out = subprocess.run(
        ["bash", "-c", "echo $BASH_VERSION"], capture_output=True, text=True, check=True, timeout=TIMEOUT
    )
    return out.stdout.strip()


# ---------------------------------------------------------------------------------------------
# What keepalived 2.2 makes of a generated file (only the parts the parity test compares)

_TCP_CHECK = re.compile(r"^/bin/bash -c '</dev/tcp/(?P<host>[^/]*)/(?P<port>[^']*)'$")
# keepalived parses addresses with inet_pton: four decimal octets, no leading zeros.
_DOTTED = re.compile(
    r"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"
)
_UNSIGNED = re.compile(r"^[0-9]+$")
_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]{1,6})?$")


@dataclass(frozen=True)
class Check:
    """A health check: ``kind`` none, tcp (``target`` host:port) or script (``target`` the command line)."""

    kind: str
    target: str = ""
    interval: float = 0.0


@dataclass(frozen=True)
class Instance:
    """One VRRP instance as run: the fields the parity test compares."""

    name: str
    interface: str
    vrid: int
    vips: tuple[str, ...]
    auth_pass: str | None
    preempt: bool
    preempt_delay: float
    check: Check
    notify: str | None
    unicast_peers: tuple[str, ...]
    source: str | None  # advert source address when not the interface's primary address
    # keepalived only: `state MASTER` (which clears preempt_delay); not compared.
    state_master: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Reading:
    """keepalived's reading of a file: the instances it runs, or why it would not start."""

    instances: tuple[Instance, ...]
    refused: str | None = None  # keepalived exits (permanent CONFIG error)
    ignored: tuple[str, ...] = ()  # what keepalived skipped with an error line


def _address(text: str) -> IPv4Address | IPv6Address | None:
    """A VIP as keepalived's inet_pton reads it (IPv4: four decimal octets, no leading zeros)."""
    if ":" in text:
        try:
            return IPv6Address(text)
        except ValueError:
            return None
    return IPv4Address(text) if _DOTTED.match(text) else None


def _interval(text: str | None, ignored: list[str]) -> float:
    # vrrp_vscript_interval_handler: read_unsigned_strvec, else "ignoring" (default 1 s); 0 becomes 1.
    if text is None:
        return 1.0
    if not _UNSIGNED.match(text):
        ignored.append(f"vrrp_script interval {text!r} (not an unsigned integer): default 1 s")
        return 1.0
    return float(max(int(text), 1))


def _check(conf: list[Statement], tracked: list[str], ignored: list[str]) -> Check:
    scripts = {s.args[0]: s for s in conf if s.keyword == "vrrp_script" and s.args}
    for name in tracked:
        script = scripts.get(name)
        if script is None:
            continue
        command = next((s.args[0] for s in script.find("script") if s.args), None)
        interval_stmt = next((s.args[0] for s in script.find("interval") if s.args), None)
        interval = _interval(interval_stmt, ignored)
        if command is None or command == "true":
            return Check("none")
        tcp = _TCP_CHECK.match(command)
        if tcp:
            return Check("tcp", f"{tcp['host']}:{tcp['port']}", interval)
        return Check("script", _command(command), interval)
    return Check("none")


def _command(text: str) -> str:
    """A script or notify line as keepalived runs it: split by its quoting rules, a bare program name
    found in its PATH (`vrrpd.config.programs` reproduces both), words joined by one space."""
    argv = split_command(text)
    found = resolve(argv[0]) if argv else None
    return " ".join([str(found) if found is not None else argv[0], *argv[1:]])


def read_conf(text: str, host: FakeHost) -> Reading:
    """The instances keepalived 2.2 would run from ``text``; see the module docstring for the scope."""
    statements = parse_text(text, "keepalived.conf").statements
    ignored: list[str] = []
    instances: list[Instance] = []
    for stmt in statements:
        if stmt.keyword != "vrrp_instance" or not stmt.args:
            continue
        name = stmt.args[0]
        block = stmt.block or []
        known = {
            "interface", "state", "virtual_router_id", "priority", "preempt_delay", "nopreempt",
            "authentication", "track_script", "notify", "mcast_src_ip", "unicast_src_ip", "unicast_peer",
            "virtual_ipaddress",
        }  # fmt: skip
        ignored += [f"{name}: unknown keyword {s.keyword!r}" for s in block if s.keyword not in known]
        first = {s.keyword: s for s in reversed(block)}
        interface = first["interface"].args[0] if "interface" in first and first["interface"].args else ""
        vrid_text = first["virtual_router_id"].args[0] if "virtual_router_id" in first else ""
        if not _UNSIGNED.match(vrid_text) or not 1 <= int(vrid_text) <= 255:
            # "VRID not valid", then "the virtual router id must be set": keepalived exits.
            return Reading((), refused=f"{name}: virtual_router_id {vrid_text!r} not valid (1..255)")
        vips: list[str] = []
        family = 0  # the instance's: its first valid VIP's (an IPv6 instance runs VRRPv3)
        for vip_block in stmt.find("virtual_ipaddress"):
            for line in vip_block.block or []:
                address = _address(line.keyword)
                if address is None:
                    ignored.append(f"{name}: invalid VIP {line.keyword!r} skipped")
                    continue
                family = family or address.version
                if address.version != family:
                    ignored.append(f"{name}: VIP {line.keyword!r} of the other address family skipped")
                    continue
                vips.append(address.compressed)
        state_master = any(s.args[:1] == ("MASTER",) for s in stmt.find("state"))
        auth = next((b for b in stmt.find("authentication")), None)
        auth_pass = None
        if auth is not None:
            passwords = [s.args[0] for s in auth.find("auth_pass") if s.args]
            # "VRRP version 3 does not support authentication. Ignoring."
            auth_pass = passwords[-1][:8] if passwords and family != 6 else None
        # The last of preempt/nopreempt wins; `state MASTER` clears nopreempt ("will not work with
        # initial state MASTER - clearing"). It clears preempt_delay too: kept here as configured (the
        # one difference vrrpd keeps, with a note), with state_master recorded.
        nopreempt = False
        for s in block:
            nopreempt = {"nopreempt": True, "preempt": False}.get(s.keyword, nopreempt)
        nopreempt = nopreempt and not state_master
        delay = 0.0
        for s in stmt.find("preempt_delay"):
            valid = s.args and _DECIMAL.match(s.args[0]) and float(s.args[0]) <= 1000  # TIMER_MAX_SEC
            delay = float(s.args[0]) if valid else 0.0
        if nopreempt:
            delay = 0.0  # "preempt_delay is incompatible with nopreempt mode - resetting"
        tracked = [line.keyword for b in stmt.find("track_script") for line in b.block or []]
        check = _check(statements, tracked, ignored)
        notify = next((_command(s.args[0]) for s in stmt.find("notify") if s.args), None)
        peers = [line.keyword for b in stmt.find("unicast_peer") for line in b.block or []]
        extra = [w for b in stmt.find("unicast_peer") for line in b.block or [] for w in line.args]
        ignored += [f"{name}: unicast_peer line word {w!r} ignored" for w in extra]
        source = None
        for s in block:
            if s.keyword in ("mcast_src_ip", "unicast_src_ip") and s.args and _DOTTED.match(s.args[0]):
                source = s.args[0]  # both set vrrp->saddr; the last one wins
        primary = host.primary_address(interface)
        if source is not None and primary is not None and IPv4Address(source) == primary:
            source = None
        own = {str(primary), source}
        instances.append(
            Instance(
                name=name,
                interface=interface,
                vrid=int(vrid_text),
                vips=tuple(vips),
                auth_pass=auth_pass,
                preempt=not nopreempt,
                preempt_delay=delay,
                check=check,
                notify=notify,
                unicast_peers=tuple(sorted({p for p in peers if p not in own}, key=IPv4Address)),
                source=source,
                state_master=state_master,
            )
        )
    return Reading(tuple(instances), ignored=tuple(ignored))


# ---------------------------------------------------------------------------------------------
# Regenerating the golden files


def write_golden() -> int:
    """Run every case through the image's script and rewrite ``golden/`` and its index."""
    from tests.compat.openshift.cases import CASES

    with tempfile.TemporaryDirectory(prefix="h15-ipf-") as tmp:
        lib = find_lib(Path(tmp))
        if lib is None:
            print(
                f"no copy of the image's lib/: set {LIB_VARIABLE} or fetch openshift/images", file=sys.stderr
            )
            return 2
        GOLDEN.mkdir(exist_ok=True)
        for stale in GOLDEN.glob("*.conf"):
            stale.unlink()
        cases: dict[str, object] = {}
        for case in CASES:
            generated = generate(lib.lib, case.env, case.host)
            (GOLDEN / f"{case.name}.conf").write_text(generated.conf)
            cases[case.name] = {
                "env": case.env,
                "host": case.host.describe(),
                "status": generated.status,
                "stderr": generated.stderr,
            }
        index = {
            "source": {
                "repository": "openshift/images",
                "path": f"{IMAGE_DIR}/lib (generate_failover_config)",
                "commit": lib.commit,
                "bash": bash_version(),
                "how": "python -m tests.compat.openshift.image ($RANDOM fixed at 0; ip/ifconfig modelled)",
            },
            "cases": cases,
        }
        INDEX.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
        print(f"{len(cases)} golden files from openshift/images {lib.commit}")
    return 0


if __name__ == "__main__":
    sys.exit(write_golden())
