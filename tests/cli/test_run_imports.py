"""`vrrpd run` imports neither the other subcommands' modules nor structlog's optional rich
(vrrpd/cli/main.py, vrrpd/cli/nossl.py) nor pyroute2 (vrrpd/kernel/rtnl.py), checked in a fresh interpreter
on the program's real path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vrrpd.cli import main as cli
from vrrpd.cli import parser

_PROBE = """
import json, sys
from vrrpd.cli import main as cli
import vrrpd.runtime.prestart as prestart

def fake_run(config, prestarted=None):
    import vrrpd.runtime.daemon  # noqa: F401 - everything the daemon imports
    print(json.dumps(sorted(sys.modules)))
    return 0

cli._daemon = fake_run
prestart.prestart = lambda config: None  # the imports are checked here, not the host's network
sys.exit(cli.main())
"""

NOT_ON_RUN_PATH = (
    "rich",
    "pyroute2",  # only for macvlans, routes, rules and labelled VIPs (vrrpd.kernel.rtnl), loaded on first use
    "shutil",  # argparse's help formatter imports it (and bz2, lzma, zlib) for the terminal width
    "difflib",  # "did you mean" in configuration errors only
    "vrrpd.runtime.healthcheck",  # a check or a tracked script only (daemon._make_checker, sync_scripts)
    "vrrpd.runtime.programs",  # a check, a script or a notify program only
    "vrrpd.runtime.sdnotify",  # with systemd's NOTIFY_SOCKET only, once the daemon runs (daemon._sd_notifier)
    "asyncio_dgram",
    "argparse",  # `run --config FILE` is read without the parser (vrrpd.cli.main._plain_run)
    "vrrpd.cli.parser",
    "_md5",  # hashlib's built-in hashes: hashlib and hmac are deferred until AH or --openshift uses them
    "_blake2",
    "_sha256",
    "vrrpd.compat.openshift.manifest",
    "vrrpd.compat.openshift.run",
    "vrrpd.compat.keepalived.importer",
    "vrrpd.testing.demo",
)


CONFIG = (
    '[[vrrp_instance]]\nname = "VI_1"\ninterface = "lo"\nvirtual_router_id = 51\npriority = 100\n'
    'virtual_ipaddress = ["192.0.2.10/32"]\n'
)


def test_run_does_not_import_what_it_does_not_need(tmp_path: Path) -> None:
    conf = tmp_path / "vrrpd.toml"
    conf.write_text(CONFIG)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, "run", "--config", str(conf)],
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
import vrrpd.runtime.prestart as prestart
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
prestart.prestart = lambda config: None  # the host's lo is not started on (the lab tests start daemons)
print(int(gc.isenabled()))
status = cli.main()
print(int(gc.isenabled()), status)
"""


def test_run_holds_the_collector_off_only_while_importing(tmp_path: Path) -> None:
    conf = tmp_path / "vrrpd.toml"
    conf.write_text(CONFIG)
    out = subprocess.run(
        [sys.executable, "-c", _GC_PROBE, "run", "--config", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # On before main(), off while `vrrpd run` imports and reads its configuration, on when the daemon runs.
    assert out.stdout.split() == ["1", "0", "1", "1", "0"]


_ORDER_PROBE = """
import sys
from vrrpd.cli import main as cli
import vrrpd.runtime.prestart as prestart

def early(config):  # where `vrrpd run` carries out the Startup event (RFC 3768 §6.4.1)
    print("prestart", [m for m in ("asyncio", "structlog", "vrrpd.runtime.daemon") if m in sys.modules])
    return None  # the host's network is not started on; the lab tests start real daemons

def daemon(config, prestarted=None):
    print("daemon", [m for m in ("asyncio", "structlog") if m in sys.modules])
    return 0

prestart.prestart = early
cli._daemon = daemon
sys.exit(cli.main())
"""


def test_run_starts_before_importing_the_steady_state(tmp_path: Path) -> None:
    # Issue 17: the owner's first advert (or BACKUP) comes before asyncio, structlog and the daemon's
    # modules are imported, which takes most of the start-up; they are imported after it.
    conf = tmp_path / "vrrpd.toml"
    conf.write_text(CONFIG)
    out = subprocess.run(
        [sys.executable, "-c", _ORDER_PROBE, "run", "--config", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.splitlines() == ["prestart []", "daemon ['asyncio', 'structlog']"]


@pytest.mark.parametrize(
    "argv",
    [["run"], ["run", "--config", "/etc/x.toml"], ["run", "--config=/etc/x.toml"], ["run", "--config="]],
)
def test_plain_run_reads_what_the_parser_reads(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRRPD_CONFIG", "/etc/from-env.toml")
    plain = cli._plain_run(argv)
    assert plain is not None
    assert vars(plain) == vars(parser.build(only_run=True).parse_args(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--openshift"],
        ["run", "--config"],  # the parser's error
        ["run", "--config", "-x"],  # an option to the parser, not a file
        ["run", "--conf", "x"],  # the parser's abbreviation
        ["run", "--config", "x", "--config", "y"],
        ["run", "-h"],
        ["status"],
        ["--version"],
        [],
    ],
)
def test_anything_else_goes_to_the_parser(argv: list[str]) -> None:
    assert cli._plain_run(argv) is None
