"""keepalived 2.2.7's own reading of a keepalived.conf: ``--dump-conf`` in a throwaway sandbox.

`dump_config` starts keepalived (VRRP only, foreground) on one configuration file in a sandbox built
for the run and torn down after it, and returns what keepalived printed up to the end of its
configuration dump; `instances_of` and `scripts_of` read that dump. The tests compare it with what
`vrrpd import-keepalived` made of the same file.

Why a sandbox: a keepalived.conf from a public project names interfaces this host does not have and
check/notify programs that keepalived runs as root at start-up. So keepalived runs
* in its own network namespace (``<prefix>-kad-<hex>``, IPv4 forwarding off) holding a veth per
  interface the file names, none with an IPv4 address: every instance stays in FAULT, no advert is
  sent and no address is added;
* chrooted into a copy-on-write overlay of the root filesystem (writes land in a tmpfs), with its own
  /proc (a new PID namespace: ``killall`` and ``pgrep`` see only keepalived), /sys, /run and /tmp: the
  host's systemd and D-Bus sockets are out of reach;
* with a harmless stand-in (``exit 0``) for every program the file names that does not exist, so that
  keepalived keeps the checks and notify programs it would keep on the host the file was written for.
keepalived is stopped as soon as it has printed its dump (at most ``timeout`` seconds).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vrrpd.testing.lab import seal_namespace

KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
# keepalived searches PATH for bare program names; the same list as vrrpd's (vrrpd.config.programs).
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_END = "< Interfaces >"  # the last section of the dump: everything before it has been printed
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")

# Runs inside `unshare --mount --pid --fork`: $1 is a scratch directory, $2 the staged files, $3 the
# command to exec in the chroot.
_SANDBOX = r"""
set -e
R="$1"; STAGE="$2"; shift 2
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs "$R"
mkdir -p "$R/upper" "$R/work" "$R/root"
mount -t overlay overlay -o lowerdir=/,upperdir="$R/upper",workdir="$R/work" "$R/root"
mount -t proc proc "$R/root/proc"
mount -t sysfs sysfs "$R/root/sys"
mount --rbind /dev "$R/root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$R/root/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/root/tmp"
mkdir -p "$R/root/stage"
mount --bind "$STAGE" "$R/root/stage"
exec chroot "$R/root" /bin/sh -c "$1"
"""


class DumpError(RuntimeError):
    """keepalived could not be run in the sandbox (not its verdict on the file: that is in the dump)."""


def interfaces_named(text: str) -> list[str]:
    """The interface names a keepalived.conf mentions (``interface``, ``dev``, track_interface)."""
    names = {"eth0"}
    names.update(re.findall(r"^\s*(?:interface|default_interface)\s+(\S+)", text, re.MULTILINE))
    names.update(re.findall(r"\bdev\s+(\S+)", text))
    for block in re.findall(r"track_interface\s*\{([^}]*)\}", text):
        names.update(
            line.split()[0] for line in block.splitlines() if line.split() and line.split()[0][0] != "#"
        )
    return sorted(n for n in names if _IFNAME.fullmatch(n))


def programs_named(text: str) -> list[str]:
    """The first word of every script/notify command in the file (absolute paths and bare names)."""
    found: set[str] = set()
    for match in re.finditer(r"^\s*@?\S*\s*(?:script|notify\w*|misc_path)\s+(.*)$", text, re.MULTILINE):
        words = match.group(1).strip().strip("\"'").split()
        if words and not words[0].startswith(("<", ">")):
            found.add(words[0].strip("\"'"))
    return sorted(found)


def users_named(text: str) -> list[str]:
    """The script users a keepalived.conf names that this host does not have."""
    names = set(re.findall(r"^\s*(?:script_user|user)\s+([A-Za-z_][A-Za-z0-9_-]*)", text, re.MULTILINE))
    missing = []
    for name in sorted(names):
        try:
            pwd.getpwnam(name)
        except KeyError:
            missing.append(name)
    return missing


def _stand_ins(programs: Iterable[str]) -> list[str]:
    paths: list[str] = []
    for program in programs:
        if "/" in program:
            if os.path.isabs(program) and not os.path.exists(program):
                paths.append(program)
        elif shutil.which(program, path=SANDBOX_PATH) is None:
            paths.append(f"/usr/local/bin/{program}")
    return paths


def dump_config(conf: Path, *, config_id: str, prefix: str, timeout: float = 15.0) -> str:
    """keepalived's log up to the end of its ``--dump-conf`` of ``conf`` (and its includes, which must
    sit beside it), with the timestamps removed."""
    text = conf.read_text(encoding="utf-8", errors="replace")
    ns = f"{prefix}-kad-{uuid.uuid4().hex[:6]}"
    scratch = Path(tempfile.mkdtemp(prefix=f"{prefix}-kad-"))
    try:
        _run(["ip", "netns", "add", ns])
        try:
            seal_namespace(ns)  # as every test namespace: the host's forwarding settings must not leak in
            return _dump_in(ns, scratch, conf, text=text, config_id=config_id, timeout=timeout)
        finally:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30, check=False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise DumpError(f"{' '.join(argv)}: {result.stderr.strip()}")


def _dump_in(ns: str, scratch: Path, conf: Path, *, text: str, config_id: str, timeout: float) -> str:
    def in_ns(*argv: str) -> None:
        _run(["ip", "netns", "exec", ns, *argv])

    in_ns("sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0")
    in_ns("ip", "link", "set", "lo", "up")
    for index, name in enumerate(interfaces_named(text)):
        # A veth pair (dummy may not exist here), both ends up so that the link has carrier.
        in_ns("ip", "link", "add", name, "type", "veth", "peer", "name", f"kadpeer{index}")
        in_ns("ip", "link", "set", f"kadpeer{index}", "up")
        in_ns("ip", "link", "set", name, "up")
    stage = scratch / "stage"
    shutil.copytree(conf.parent, stage)
    mnt = scratch / "mnt"
    mnt.mkdir()
    setup = [
        f"mkdir -p '{os.path.dirname(p)}' && printf '#!/bin/sh\\nexit 0\\n' > '{p}' && chmod 755 '{p}'"
        for p in _stand_ins(programs_named(text))
    ]
    # The users the file names exist on the host it was written for: in the sandbox too.
    setup += [
        f"echo '{user}:x:{uid}:{uid}::/nonexistent:/usr/sbin/nologin' >> /etc/passwd && "
        f"echo '{user}:x:{uid}:' >> /etc/group"
        for uid, user in enumerate(users_named(text), start=64000)
    ]
    command = " && ".join(
        [
            *setup,
            f"cd /stage && exec env -i PATH={SANDBOX_PATH} {KEEPALIVED} --vrrp --dont-fork --log-console "
            "--log-detail --no-syslog --dump-conf --pid /tmp/k.pid --vrrp_pid /tmp/v.pid "
            f"--checkers_pid /tmp/c.pid --config-id '{config_id}' --use-file '/stage/{conf.name}'",
        ]
    )
    log = scratch / "keepalived.log"
    argv = [
        "ip",
        "netns",
        "exec",
        ns,
        "unshare",
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "sh",
        "-c",
        _SANDBOX,
        "sandbox",
        str(mnt),
        str(stage),
        command,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                if _END.encode() in log.read_bytes():
                    break
                time.sleep(0.05)
        finally:
            # unshare --fork ignores SIGTERM while its child runs; SIGKILL it, and --kill-child takes
            # keepalived (PID 1 of the sandbox's PID namespace) and everything it started with it.
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(line.partition(": ")[2] if line[:3].isalpha() else line for line in lines)


# ---------------------------------------------------------------------------------------------------
# Reading the dump


@dataclass
class InstanceDump:
    """One ``VRRP Instance`` of the dump: its ``key = value`` lines and its lists."""

    name: str
    values: dict[str, str] = field(default_factory=dict)
    vips: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)  # "name weight -20[ reverse]"


@dataclass
class ScriptDump:
    """One ``VRRP Script`` of the dump."""

    name: str
    values: dict[str, str] = field(default_factory=dict)


_LISTS = {
    "Virtual IP (": "vips",
    "Virtual IP Excluded": "excluded",
    "Unicast Peer :": "peers",
    "Tracked scripts :": "scripts",
}


def instances_of(dump: str) -> dict[str, InstanceDump]:
    """The instances keepalived kept, by name."""
    out: dict[str, InstanceDump] = {}
    section = ""
    current: InstanceDump | None = None
    listing: str | None = None
    for line in dump.splitlines():
        if line.startswith("------<"):
            section, current = line, None
            continue
        if "VRRP Topology" not in section or not line.startswith(" "):
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if indent == 1 and body.startswith("VRRP Instance = "):
            current = out.setdefault(body.split(" = ", 1)[1], InstanceDump(body.split(" = ", 1)[1]))
            listing = None
        elif current is None:
            continue
        elif indent == 3 and any(body.startswith(head) for head in _LISTS):
            listing = next(name for head, name in _LISTS.items() if body.startswith(head))
        elif indent >= 5 and listing is not None:
            getattr(current, listing).append(body)
        else:
            listing = None
            if " = " in body:
                key, value = body.split(" = ", 1)
                current.values.setdefault(key, value)
    return out


def scripts_of(dump: str) -> dict[str, ScriptDump]:
    """The vrrp_scripts keepalived kept (a script it disabled or dropped is not listed)."""
    out: dict[str, ScriptDump] = {}
    section = ""
    current: ScriptDump | None = None
    for line in dump.splitlines():
        if line.startswith("------<"):
            section, current = line, None
            continue
        if "VRRP Scripts" not in section:
            continue
        body = line.strip()
        if line.startswith(" VRRP Script = "):
            current = out.setdefault(body.split(" = ", 1)[1], ScriptDump(body.split(" = ", 1)[1]))
        elif (
            current is not None and line.startswith("   ") and not line.startswith("     ") and " = " in body
        ):
            key, value = body.split(" = ", 1)
            current.values.setdefault(key, value)
    return out


def command_words(rendered: str) -> list[str]:
    """keepalived's rendering of a command (``'/bin/x' 'a b'``, cmd_str) back to its words."""
    return re.findall(r"'([^']*)'", rendered.rsplit(", uid:gid", 1)[0])
