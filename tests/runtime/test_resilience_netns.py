"""Host faults that must not leave a VIP unserved, doubly served or silently unwatched (issue 13).

* the log stream fails (stderr's reader gone: EPIPE; disk full: ENOSPC): the daemon carries on — a
  VIP deleted by hand is restored, /healthz stays 200 — and counts the lost lines;
* descriptors run short (RLIMIT_NOFILE 256, 1,100 idle connections to the metrics port): the TCP health
  check keeps working (no FAULT, the master keeps the VIP), /healthz answers, the log stays quiet;
* a reload of a huge configuration file: refused in one line at once, a large-but-allowed one parsed
  off the event loop; the master never stops advertising and no backup takes over.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.support.daemons import VIP, adverts, config_text, start_listener, start_vrrpd, stop_all
from tests.support.hostile import HolderProbe, netns_call, proc_figures, wait_single
from vrrpd.config import MAX_CONFIG_BYTES
from vrrpd.ops.metrics import MAX_CONNECTIONS
from vrrpd.protocol.fsm import master_down_interval
from vrrpd.testing.lab import Lab, wait_until
from vrrpd.testing.plugin import LabFactory

pytestmark = pytest.mark.netns

PORT = 9650
STARTUP = 8.0


@pytest.fixture
def lab(vrrp_lab: LabFactory) -> Lab:
    return vrrp_lab(nodes=2)


@pytest.fixture
def probe(lab: Lab) -> Iterator[HolderProbe]:
    p = HolderProbe(lab)
    yield p
    p.close()


def _with_metrics(lab: Lab, text: str, node: str = "n1") -> str:
    return text.replace("[global]\n", f'[global]\nmetrics_listen = "{lab.ip(node)}:{PORT}"\n', 1)


def _http(lab: Lab, node: str, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET from inside the node's namespace (the daemon listens on the node's own address)."""

    def get() -> tuple[int, str]:
        url = f"http://{lab.ip(node)}:{PORT}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    return netns_call(lab.ns(node), get)


def _spawn_with_stream(lab: Lab, node: str, config: Path, stream: int | IO[bytes]) -> subprocess.Popen[bytes]:
    """`vrrpd run` in the node with stdout and stderr on `stream` (the lab's own spawn logs to a file)."""
    env = dict(os.environ, VRRPD_LOG_FORMAT="json")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH")) if p
    )
    return subprocess.Popen(
        ["ip", "netns", "exec", lab.ns(node), sys.executable, "-m", "vrrpd", "run", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=stream,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> int | None:
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)


@pytest.mark.parametrize("fault", ["reader_gone", "disk_full"])
def test_a_failing_log_stream_never_stops_the_daemon(lab: Lab, probe: HolderProbe, fault: str) -> None:
    # Before: the next log line raised in the netlink-events task; a VIP deleted by hand was never put
    # back (measured: not restored within 5 s, nobody serving it) while /healthz said 200.
    config = Path(lab.log_dir) / "n1.toml"
    config.write_text(_with_metrics(lab, config_text(lab, "n1", priority=150)))
    full = open("/dev/full", "wb")  # noqa: SIM115 - closed in finally
    reader: IO[bytes] | None = None
    if fault == "disk_full":
        n1 = _spawn_with_stream(lab, "n1", config, full)
    else:
        n1 = _spawn_with_stream(lab, "n1", config, subprocess.PIPE)
        reader = n1.stdout
    n2 = start_vrrpd(lab, "n2", config_text(lab, "n2", priority=100))
    try:
        assert wait_single(probe, VIP, "n1", STARTUP + master_down_interval(1, 150)) is not None
        if reader is not None:
            reader.close()  # the reader goes away: every later write gets EPIPE
        # Something to log and to do: a VIP deleted behind the daemon's back, then a scrape.
        time.sleep(0.3)
        t0 = time.monotonic()
        lab.run("n1", ["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"])
        restored = wait_single(probe, VIP, "n1", 3.0)
        assert restored is not None, f"VIP not restored; holders {probe.holders(VIP)}"
        took = time.monotonic() - t0
        assert took < 1.0
        print(f"{fault}: VIP restored {took * 1000:.0f} ms after its deletion")
        assert _http(lab, "n1", "/healthz") == (200, "ok\n")
        code, metrics = _http(lab, "n1", "/metrics")
        reason = "EPIPE" if fault == "reader_gone" else "ENOSPC"
        lost = [
            ln
            for ln in metrics.splitlines()
            if ln.startswith(f'vrrpd_log_write_failures_total{{reason="{reason}"}}')
        ]
        assert code == 200 and lost and float(lost[0].rsplit(" ", 1)[1]) >= 1, lost
        assert n1.poll() is None
        assert _stop(n1) == 0  # and it still hands over and exits cleanly
    finally:
        _stop(n1)
        full.close()
        stop_all([n2])


FLOOD = """
import resource, socket, sys, time
host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
socks = []
for _ in range(n):
    s = socket.socket(); s.setblocking(False); s.connect_ex((host, port)); socks.append(s)
print("opened", len(socks), flush=True)
time.sleep(seconds)
"""


def test_idle_connections_under_a_low_descriptor_limit_leave_the_tcp_check_working(
    lab: Lab, probe: HolderProbe
) -> None:
    # Before (RLIMIT_NOFILE 256, 1,100 idle connections): the TCP check failed with EMFILE and the
    # master went FAULT 0.13 s into the flood, and asyncio logged 3,465 error lines in 10 s.
    text = _with_metrics(lab, config_text(lab, "n1", priority=150))
    text += "\n[vrrp_instance.check]\ntcp_port = 8080\ninterval = 0.5\ntimeout = 0.5\n"
    config = Path(lab.log_dir) / "n1.toml"
    config.write_text(text)
    listener = start_listener(lab, "n1", 8080, seconds=60)
    n1 = lab.spawn(
        "n1",
        ["prlimit", "--nofile=256:256", "--", sys.executable, "-m", "vrrpd", "run", "--config", str(config)],
        env={"VRRPD_LOG_FORMAT": "json"},
    )
    n2 = start_vrrpd(lab, "n2", config_text(lab, "n2", priority=100))
    try:
        assert wait_single(probe, VIP, "n1", STARTUP + master_down_interval(1, 150)) is not None
        baseline = len(n1.log_text().splitlines())
        fds_before = proc_figures(n1.pid).fds
        flood = lab.spawn("cl", [sys.executable, "-c", FLOOD, lab.ip("n1"), str(PORT), "1100", "12"])
        assert wait_until(lambda: "opened 1100" in flood.log_text(), 10.0), flood.log_text()
        t0 = time.monotonic()
        lost_at: float | None = None
        most_fds = 0
        scrape_times = []
        while time.monotonic() - t0 < 8.0:  # 16 check intervals into the flood
            if probe.holders(VIP) != ["n1"] and lost_at is None:
                lost_at = time.monotonic() - t0
            most_fds = max(most_fds, proc_figures(n1.pid).fds)
            s0 = time.monotonic()
            assert _http(lab, "n1", "/healthz") == (200, "ok\n")
            scrape_times.append(time.monotonic() - s0)
            time.sleep(0.2)
        assert lost_at is None, f"the VIP left n1 {lost_at:.2f}s into the flood"
        lines = n1.log_text().splitlines()[baseline:]
        events = Counter(json.loads(ln).get("event") for ln in lines if ln.startswith("{"))
        assert "check_changed" not in events and "state_change" not in events, events
        assert len(lines) <= 20, events
        assert most_fds <= fds_before + MAX_CONNECTIONS + 4, (fds_before, most_fds)  # + a check's socket...
        assert max(scrape_times) < 2.0, scrape_times  # answered, not timed out (5 s); slack for a loaded host
        print(
            f"flood: fds {fds_before}->{most_fds}, /healthz worst {max(scrape_times) * 1000:.0f} ms, "
            f"{len(lines)} log lines"
        )
    finally:
        stop_all([n1, n2])
        listener.stop()


def _reload(lab: Lab, node: str) -> tuple[int, str, float]:
    t0 = time.monotonic()
    sock = f"{lab.log_dir}/{node}.sock"
    proc = lab.run(node, [sys.executable, "-m", "vrrpd", "reload", "--socket", sock], check=False, timeout=60)
    return proc.returncode, (proc.stdout + proc.stderr).strip(), time.monotonic() - t0


def test_reloading_a_huge_file_never_stops_the_adverts(lab: Lab, probe: HolderProbe) -> None:
    # Before: a 25 MB file was parsed inside the event loop: 6.1 s without an advert from the master,
    # the backup took over (3 adverts from it), and `vrrpd reload` gave up after 5 s.
    n1 = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=150))
    n2 = start_vrrpd(lab, "n2", config_text(lab, "n2", priority=100))
    try:
        assert wait_single(probe, VIP, "n1", STARTUP + master_down_interval(1, 150)) is not None
        config = Path(lab.log_dir) / "n1.toml"
        valid = config.read_text()
        row = "k{} = [" + ", ".join(['"198.18.0.1"'] * 20) + "]\n"
        huge = valid + "\n[junk]\n" + "".join(row.format(n) for n in range(25 * 2**20 // len(row.format(0))))
        big = huge[: MAX_CONFIG_BYTES - 4096].rsplit("\n", 1)[0] + "\n"  # just under the bound
        with lab.capture() as capture:
            time.sleep(1.5)
            config.write_text(huge)
            rc, out, took = _reload(lab, "n1")
            assert rc != 0 and f"the limit is {MAX_CONFIG_BYTES} bytes" in out and "\n" not in out, out
            assert took < 2.0, took
            config.write_text(big)
            rc, out, took_big = _reload(lab, "n1")
            assert rc != 0 and "unknown key" in out, out  # parsed in full, then refused: [junk]
            config.write_text(valid)
            rc, out, _ = _reload(lab, "n1")
            assert rc == 0, out
            time.sleep(1.5)
            events = capture.stop()
        sent = adverts(events, lab.ip("n1"))
        gaps = [b.time - a.time for a, b in itertools.pairwise(sent)]
        assert max(gaps) < 1.3, f"n1 advert gaps up to {max(gaps):.3f}s"
        assert adverts(events, lab.ip("n2")) == []  # the backup never took over
        assert probe.holders(VIP) == ["n1"]
        print(
            f"huge refused in {took:.2f}s; {len(big) / 2**20:.1f} MiB parsed off-loop in {took_big:.2f}s; "
            f"worst advert gap {max(gaps) * 1000:.0f} ms over {len(sent)} adverts"
        )
    finally:
        stop_all([n1, n2])
