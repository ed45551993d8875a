"""Security properties of a running daemon, in namespaces.

* the control socket refuses other users (file mode 0600, and SO_PEERCRED even when the mode is opened up);
* notify and check scripts run without a shell, with a minimal environment;
* `auth_pass` never appears in logs, status, metrics or check-config output;
* the daemon runs as an unprivileged user with exactly CAP_NET_ADMIN + CAP_NET_RAW (setpriv, ambient
  capabilities), needs both, and keeps nothing else.

TTL 255 and unicast-peer filtering are proven on the wire in tests/runtime/test_hostile_wire.py.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemons import VIP, config_text, log_events, start_vrrpd, stop_all
from tests.support.hostile import HolderProbe, Injector, daemon_status, netns_call, vrrp_frame, wait_single
from vrrpd.protocol.fsm import master_down_interval, skew_time
from vrrpd.runtime.healthcheck import MINIMAL_ENV
from vrrpd.testing.lab import Lab, Process
from vrrpd.testing.plugin import LabFactory
from vrrpd.testing.public import PublicPython, PublicPythonError, public_python

pytestmark = pytest.mark.netns

NOBODY = 65534
CAP_NET_ADMIN, CAP_NET_RAW = 12, 13
STARTUP = 5.0


@pytest.fixture
def lab(vrrp_lab: LabFactory) -> Lab:
    return vrrp_lab(nodes=2, prefix="vrb")


@pytest.fixture
def probe(lab: Lab) -> Iterator[HolderProbe]:
    p = HolderProbe(lab)
    yield p
    p.close()


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory other users can traverse (the test's tmp_path is root-only), owned by nobody."""
    path = Path(tempfile.mkdtemp(prefix="vrb-sec-"))
    path.chmod(0o755)
    os.chown(path, NOBODY, NOBODY)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _with_global(text: str, **keys: str) -> str:
    """`config_text` output with [global] keys replaced or added."""
    lines = [ln for ln in text.splitlines() if ln.split(" = ")[0] not in keys]
    at = lines.index("[global]") + 1
    return "\n".join([*lines[:at], *(f'{k} = "{v}"' for k, v in keys.items()), *lines[at:]]) + "\n"


def _public() -> PublicPython:
    """vrrpd copied where user nobody can read it: the checkout may sit in a 0700 directory (/root)."""
    try:
        return public_python()
    except PublicPythonError as exc:
        pytest.skip(str(exc))


def _as_nobody(code: str) -> str:
    # setpriv, not subprocess's user=: the same tool the capability tests use.
    public = _public()
    argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *public.argv("-c", code)]
    proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=20, env=public.env)
    return (proc.stdout + proc.stderr).strip()


_CONNECT = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
try:
    s.connect(sys.argv[1] if len(sys.argv) > 1 else {path!r})
except OSError as e:
    print("connect:", e.strerror); sys.exit()
try:
    s.sendall(b'{{"command": "status"}}\\n')
except BrokenPipeError:
    pass  # refused before the request was read: the refusal is still waiting to be read
print("reply:", s.recv(65536).decode().strip())
"""


def test_control_socket_refuses_other_users(lab: Lab, public_dir: Path) -> None:
    sock = public_dir / "n1.sock"
    n1 = start_vrrpd(lab, "n1", _with_global(config_text(lab, "n1", priority=150), control_socket=str(sock)))
    deadline = time.monotonic() + STARTUP
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600 and sock.stat().st_uid == 0
    assert daemon_status(sock) is not None  # root may ask
    # Another user cannot even connect: the file is 0600.
    assert _as_nobody(_CONNECT.format(path=str(sock))) == "connect: Permission denied"
    # Opened up by mistake (chmod 666): the daemon still checks the peer's credentials and refuses.
    sock.chmod(0o666)
    answer = _as_nobody(_CONNECT.format(path=str(sock)))
    assert answer.startswith("reply:"), answer
    reply = json.loads(answer.removeprefix("reply:"))
    assert reply == {"ok": False, "error": f"permission denied for uid {NOBODY}"}
    assert any(e.get("event") == "control_refused" and e.get("uid") == NOBODY for e in log_events(n1))
    stop_all([n1])


def test_scripts_run_without_a_shell_with_a_minimal_environment(lab: Lab, probe: HolderProbe) -> None:
    out = Path(lab.log_dir)
    # A name a shell would split and run as two commands; exec() runs the file it names.
    notify = out / "notify; touch pwned-by-notify"
    notify.write_text(f'#!/bin/sh\necho "$@" >> {out}/notify.args\nenv > {out}/notify.env\n')
    check = out / "check $(touch pwned-by-check)"
    check.write_text(f"#!/bin/sh\nenv > {out}/check.env\nexit 0\n")
    for script in (notify, check):
        script.chmod(0o755)
    text = config_text(
        lab,
        "n1",
        priority=150,
        # notify is a command line split as keepalived splits it: the path is quoted as one word.
        notify=f"'{notify}'",
        check={"script": str(check), "interval": 0.5, "timeout": 0.4, "rise": 1},
    )
    path = out / "n1.toml"
    path.write_text(text)
    canaries = {"CANARY_SECRET": "do-not-leak", "LD_LIBRARY_PATH": "/nonexistent-canary", "IFS": "x"}
    n1 = lab.spawn(
        "n1",
        [sys.executable, "-m", "vrrpd", "run", "--config", str(path)],
        env={"VRRPD_LOG_FORMAT": "json", **canaries},
        log_path=out / "n1-vrrpd.log",
    )
    assert wait_single(probe, VIP, "n1", STARTUP + master_down_interval(1, 150)) is not None
    time.sleep(0.5)
    stop_all([n1])
    assert (out / "notify.args").read_text().splitlines() == [
        # No FAULT first: a check that has not run yet is not a failure (the router waits in INIT for it).
        "INSTANCE VI_1 BACKUP 150",
        "INSTANCE VI_1 MASTER 150",
        "INSTANCE VI_1 STOP 150",
    ]
    for name in ("notify.env", "check.env"):
        env = dict(line.split("=", 1) for line in (out / name).read_text().splitlines() if "=" in line)
        # /bin/sh itself adds PWD (and may add SHLVL, _); nothing of the daemon's environment leaks in.
        assert set(env) - {"PWD", "SHLVL", "_", "OLDPWD"} == set(MINIMAL_ENV), env
        assert env["PATH"] == MINIMAL_ENV["PATH"]
    leftovers = [p.name for p in out.iterdir() if p.name.startswith("pwned")]
    assert leftovers == [], "a shell interpreted a script path"


def test_auth_pass_never_appears_in_logs_status_metrics_or_check_config(lab: Lab, probe: HolderProbe) -> None:
    password = "Zq9!pW2x"
    secrets = [password, password.encode().hex(), password.encode().ljust(8, b"\0").hex(" ")]
    texts = {
        n: _with_global(
            config_text(lab, n, priority=p, auth_pass=password), metrics_listen=f"127.0.0.1:{9100 + p}"
        )
        for n, p in (("n1", 150), ("n2", 100))
    }
    procs = {n: start_vrrpd(lab, n, t) for n, t in texts.items()}
    assert wait_single(probe, VIP, "n1", STARTUP + master_down_interval(1, 150)) is not None
    with Injector(lab) as inj:  # wrong passwords and types: drops, conflicts, log lines about them
        inj.send(vrrp_frame("192.0.2.200", auth_type=1, password=b"guess123"), count=3, gap=0.05)
        inj.send(vrrp_frame("192.0.2.201"), count=3, gap=0.05)
    # Sends refused by a firewall for a moment: the error path logs too.
    lab.run("n1", ["nft", "add", "table", "ip", "vrb"])
    lab.run("n1", ["nft", "add", "chain", "ip", "vrb", "out", "{ type filter hook output priority 0; }"])
    lab.run("n1", ["nft", "add", "rule", "ip", "vrb", "out", "ip", "protocol", "112", "drop"])
    time.sleep(1.5)
    lab.run("n1", ["nft", "delete", "table", "ip", "vrb"])
    outputs: dict[str, str] = {}
    for n in procs:
        status = daemon_status(lab.log_dir / f"{n}.sock")
        outputs[f"{n} status"] = json.dumps(status)
        human = subprocess.run(
            [sys.executable, "-m", "vrrpd", "status", "--socket", str(lab.log_dir / f"{n}.sock")],
            check=False,
            capture_output=True,
            text=True,
            timeout=20,
        )
        outputs[f"{n} status (human)"] = human.stdout + human.stderr
        port = 9100 + (150 if n == "n1" else 100)

        def scrape(port: int = port) -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return str(r.read().decode())

        outputs[f"{n} metrics"] = netns_call(lab.ns(n), scrape)
        config = lab.log_dir / f"{n}.toml"
        check = lab.run(n, [sys.executable, "-m", "vrrpd", "check-config", "--config", str(config)])
        outputs[f"{n} check-config"] = check.stdout + check.stderr
    stop_all(list(procs.values()))
    for n, proc in procs.items():
        outputs[f"{n} log"] = proc.log_text()
    assert "vrrpd_" in outputs["n1 metrics"] and '"instances"' in outputs["n1 status"]
    assert any(e.get("event") == "send_failed" for e in log_events(procs["n1"]))
    for where, text in outputs.items():
        for secret in secrets:
            assert secret not in text, f"the password appears in {where}"


def _spawn_as_nobody(lab: Lab, node: str, config: Path, caps: str, tag: str) -> Process:
    setpriv = [
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        f"--inh-caps=-all,{caps}",
        f"--ambient-caps=-all,{caps}",
        f"--bounding-set=-all,{caps}",
        "--no-new-privs",
        "--",
    ]
    public = _public()
    return lab.spawn(
        node,
        [*setpriv, *public.argv("-m", "vrrpd", "run", "--config", str(config))],
        env={"VRRPD_LOG_FORMAT": "json", **public.env},
        log_path=lab.log_dir / f"{node}{tag}-vrrpd.log",
    )


def _caps(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    out = {k: int(fields[k].strip(), 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
    out["uid"] = int(fields["Uid"].split()[1])  # effective
    return out


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="util-linux setpriv is not installed")
def test_runs_unprivileged_with_only_net_admin_and_net_raw(
    lab: Lab, probe: HolderProbe, public_dir: Path
) -> None:
    config = public_dir / "n1.toml"
    config.write_text(
        _with_global(config_text(lab, "n1", priority=150), control_socket=str(public_dir / "n1.sock"))
    )
    config.chmod(0o644)
    n1 = _spawn_as_nobody(lab, "n1", config, "+net_admin,+net_raw", tag="-nobody")
    n2 = start_vrrpd(lab, "n2", config_text(lab, "n2", priority=100))
    assert wait_single(probe, VIP, "n1", STARTUP + master_down_interval(1, 150)) is not None
    caps = _caps(n1.pid)
    wanted = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW)
    assert caps == {"CapInh": wanted, "CapPrm": wanted, "CapEff": wanted, "CapBnd": wanted,
                    "CapAmb": wanted, "uid": NOBODY}  # fmt: skip
    assert lab.client_arp(VIP) in (None, lab.node_mac("n1"))  # GARP (AF_PACKET) went out as nobody too
    status = daemon_status(public_dir / "n1.sock")  # root may ask a daemon running as nobody
    assert status is not None and status["instances"][0]["state"] == "MASTER"
    # Graceful handover as nobody: priority 0 sent (CAP_NET_RAW), VIP removed (CAP_NET_ADMIN).
    t0 = time.monotonic()
    n1.terminate()
    assert n1.wait(5) == 0
    assert wait_single(probe, VIP, "n2", skew_time(100) + 1.0) is not None
    assert time.monotonic() - t0 < skew_time(100) + 1.5
    stop_all([n2])


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="util-linux setpriv is not installed")
def test_each_capability_is_needed(lab: Lab, probe: HolderProbe, public_dir: Path) -> None:
    config = public_dir / "n1.toml"
    config.write_text(
        _with_global(config_text(lab, "n1", priority=150), control_socket=str(public_dir / "n1.sock"))
    )
    config.chmod(0o644)
    # Without either one it refuses to start, in one line naming the user and what is missing, exit 2
    # (like a configuration error: systemd does not restart it in a loop).
    for caps, named in (("+net_admin", "CAP_NET_RAW"), ("+net_raw", "CAP_NET_ADMIN")):
        proc = _spawn_as_nobody(lab, "n1", config, caps, tag=f"-{caps[1:]}-only")
        assert proc.wait(15) == 2, proc.log_text()
        lines = proc.log_text().strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("vrrpd: running as user ") and f"(uid {NOBODY}), not root" in lines[0]
        assert f"without {named} (" in lines[0], lines
    # Before the preflight, without CAP_NET_ADMIN it ran, elected itself and installed nothing: a MASTER
    # nobody could replace. Nothing was ever installed here.
    assert probe.holders(VIP) == []
