"""`vrrpd run` imports neither the other subcommands' modules nor structlog's optional rich
(vrrpd/cli/main.py, vrrpd/cli/nossl.py) nor pyroute2 (vrrpd/kernel/rtnl.py), checked in a fresh interpreter
on the program's real path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_PROBE = """
import json, sys
from vrrpd.cli import main as cli

def fake_run(path):
    import vrrpd.runtime.daemon  # noqa: F401 - everything the daemon imports
    print(json.dumps(sorted(sys.modules)))
    return 0

cli._run = fake_run
sys.exit(cli.main())
"""

NOT_ON_RUN_PATH = (
    "rich",
    "pyroute2",  # only for macvlans, routes, rules and labelled VIPs (vrrpd.kernel.rtnl), loaded on first use
    "shutil",  # argparse's help formatter imports it (and bz2, lzma, zlib) for the terminal width
    "difflib",  # "did you mean" in configuration errors only
    "vrrpd.compat.openshift.manifest",
    "vrrpd.compat.openshift.run",
    "vrrpd.compat.keepalived.importer",
    "vrrpd.testing.demo",
)


def test_run_does_not_import_what_it_does_not_need() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, "run", "--config", "/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    assert "vrrpd.runtime.daemon" in loaded
    assert [m for m in NOT_ON_RUN_PATH if m in loaded] == []


_GC_PROBE = """
import gc, sys
import vrrpd.config as config
import vrrpd.runtime.daemon as daemon
from vrrpd.cli import main as cli

real_load = config.load_config

def load(path, **kwargs):  # _run reads the configuration before it imports the daemon
    print(int(gc.isenabled()))
    return real_load(path, **kwargs)

def run(config):
    print(int(gc.isenabled()))
    return 0

config.load_config = load
daemon.run = run
print(int(gc.isenabled()))
status = cli.main()
print(int(gc.isenabled()), status)
"""


def test_run_holds_the_collector_off_only_while_importing(tmp_path: Path) -> None:
    conf = tmp_path / "vrrpd.toml"
    conf.write_text(
        '[[vrrp_instance]]\nname = "VI_1"\ninterface = "lo"\nvirtual_router_id = 51\npriority = 100\n'
        'virtual_ipaddress = ["192.0.2.10/32"]\n'
    )
    out = subprocess.run(
        [sys.executable, "-c", _GC_PROBE, "run", "--config", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # On before main(), off while `vrrpd run` imports and reads its configuration, on when the daemon runs.
    assert out.stdout.split() == ["1", "0", "1", "1", "0"]
