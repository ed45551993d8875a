"""Start-up: process spawned → first advert sent (address owner) or BACKUP armed.

- Owner (priority 255): RFC 3768 §6.4.1 sends an advert at once; its kernel timestamp on the bridge is the
  end point. keepalived is configured `state MASTER` for it, as an owner is in practice (see daemons.py).
- Backup (priority 100): no wire event, so vrrpd's JSON `state_change` timestamp is the end point, and for
  keepalived the moment its notify FIFO line (`INSTANCE "VI_1" BACKUP 100`) reaches a reader thread.
The start is `time.time()` just before the spawn (`ip netns exec` included, the same for both).
Also: Python's own import cost of what `vrrpd run` imports (`python -X importtime`), the part pyroute2 takes.

vrrpd's bytecode is compiled first (`compile_bytecode`, run by `python -m benchmarks` before any section):
an installed vrrpd has it (pip compiles a wheel's modules on install), while this checkout is an editable
install that may run with PYTHONDONTWRITEBYTECODE=1 (the Dockerfile's and CI's setting), which would
charge every spawn with compiling the daemon's modules (~50 ms, ~2 MiB of peak RSS).
"""

from __future__ import annotations

import compileall
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import vrrpd
from benchmarks import daemons
from benchmarks.daemons import Daemon, Impl, Instance
from benchmarks.labtools import LAB_PREFIX, wait_for
from vrrpd.testing.lab import Lab, LabError
from vrrpd.testing.sniff import VrrpEvent

VIP = "198.51.100.1/32"


@dataclass(frozen=True)
class Startup:
    impl: Impl
    role: str  # "owner" | "backup"
    seconds: float | None


@dataclass(frozen=True)
class ImportCost:
    total: float  # seconds of every import before `vrrpd run` starts the daemon (Python's site included)
    pyroute2: float  # of which the pyroute2 package (0: not imported)


class _FifoReader(threading.Thread):
    """Timestamps each line keepalived writes to its notify FIFO (bounded by a stop flag)."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        os.mkfifo(path)
        # O_RDWR: opening never blocks and keepalived's O_WRONLY open finds a reader already there.
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self.lines: list[tuple[float, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        pending = b""
        while not self.stopping.is_set():
            ready, _w, _x = select.select([self.fd], [], [], 0.1)
            if not ready:
                continue
            now = time.time()
            pending += os.read(self.fd, 65536)
            *complete, pending = pending.split(b"\n")
            self.lines.extend((now, line.decode(errors="replace")) for line in complete)

    def close(self) -> None:
        self.stopping.set()
        self.join(2.0)
        os.close(self.fd)


def _backup_time(lab: Lab, impl: Impl, tag: str) -> float | None:
    instance = Instance("VI_1", 81, 100, (VIP,))
    reader = _FifoReader(Path(lab.log_dir) / f"{tag}.fifo") if impl == "keepalived" else None
    try:
        if reader is not None:
            reader.start()
        path = None if reader is None else Path(lab.log_dir) / f"{tag}.fifo"
        daemon = daemons.start(lab, impl, "n1", [instance], tag=tag, notify_fifo=path)
        daemon.wait_state_count("BACKUP", 1, timeout=20.0)
        if reader is not None:
            wait_for(lambda: any(" BACKUP " in line for _t, line in reader.lines), timeout=5.0)
            at = next((t for t, line in reader.lines if " BACKUP " in line), None)
        else:
            at = next((t for t, _n, s in daemon.states() if s == "BACKUP"), None)
        daemon.stop()
    finally:
        if reader is not None:
            reader.close()
    return None if at is None else at - daemon.spawned_at


def run(repeats: int) -> tuple[list[Startup], list[ImportCost]]:
    results: list[Startup] = []
    with Lab(nodes=1, prefix=LAB_PREFIX) as lab:
        capture = lab.capture()
        owners: list[Daemon] = []
        for rep in range(repeats):
            for impl in daemons.IMPLS:
                owner = Instance("VI_1", 82, 255, (VIP,), keepalived_state="MASTER")
                daemon = daemons.start(lab, impl, "n1", [owner], tag=f"-owner{rep}")
                if not daemon.wait_state_count("MASTER", 1, timeout=20.0):
                    raise LabError(f"{impl} owner did not become master")
                time.sleep(0.3)  # its first advert is in the capture
                daemon.stop()
                owners.append(daemon)
                results.append(Startup(impl, "backup", _backup_time(lab, impl, f"backup-{impl}-{rep}")))
        events = capture.stop()
        own = lab.ip("n1")
    adverts = sorted(e.time for e in events if isinstance(e, VrrpEvent) and e.vrid == 82 and e.src_ip == own)
    for daemon in owners:
        first = next((t for t in adverts if t >= daemon.spawned_at), None)
        results.append(Startup(daemon.impl, "owner", None if first is None else first - daemon.spawned_at))
    return results, [_import_cost() for _ in range(repeats)]


def compile_bytecode() -> bool:
    """Write the bytecode of vrrpd's modules (into __pycache__, as an install does); False on failure."""
    return bool(compileall.compile_dir(Path(vrrpd.__file__).parent, quiet=1))


# `vrrpd run`'s own imports, as the program makes them (vrrpd.cli.main.main with its real argv), up to
# where the daemon would start: what tests/cli/test_run_imports.py checks, timed. The configuration names
# the host's lo, on which nothing is started (`prestart` is replaced): only the imports are measured.
_RUN_IMPORTS = """
import sys
from vrrpd.cli import main as cli
import vrrpd.runtime.prestart as prestart

def imported(config, prestarted=None):
    import vrrpd.runtime.daemon  # noqa: F401 - everything the daemon imports
    return 0

cli._daemon = imported
prestart.prestart = lambda config: None
sys.argv[1:] = ["run", "--config", sys.argv[1]]
sys.exit(cli.main())
"""
_RUN_CONFIG = (
    '[[vrrp_instance]]\nname = "VI_1"\ninterface = "lo"\nvirtual_router_id = 51\npriority = 100\n'
    'virtual_ipaddress = ["192.0.2.10/32"]\n'
)


def _import_cost() -> ImportCost:
    """`python -X importtime` of `vrrpd run`'s imports: the total of the top-level imports (each one's
    cumulative microseconds) and pyroute2's."""
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "vrrpd.toml"
        conf.write_text(_RUN_CONFIG)
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", _RUN_IMPORTS, str(conf)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    total = pyroute2 = 0
    for line in proc.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"; a package is listed once, when first
        # imported, with everything it imported in its cumulative time; nesting is shown by indentation.
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        if name.strip() == "pyroute2":
            pyroute2 = int(parts[1])
        if name.startswith(" ") and not name.startswith("  "):  # top level: one space after the bar
            total += int(parts[1])
    return ImportCost(total / 1e6, pyroute2 / 1e6)
