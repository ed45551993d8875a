"""`vrrpd`'s argument parser (`build`), imported by `vrrpd.cli.main` for any command line but the program's
plain ``run [--config FILE]``, which it reads itself (`vrrpd.cli.main._plain_run`): argparse is memory a
daemon holds for nothing (issue 17). ``run``'s parser has only the ``run`` subcommand, so that no other
subcommand's modules are imported before the daemon's first advert.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from vrrpd.cli.main import DEFAULT_CONFIG

__all__ = ["build"]

# The lab needs a master and at least one backup to show a failover.
_MIN_LAB_NODES = 2


def _lab_nodes(text: str) -> int:
    try:
        nodes = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if nodes < _MIN_LAB_NODES:
        raise argparse.ArgumentTypeError(f"must be at least {_MIN_LAB_NODES}, not {nodes}")
    return nodes


def _columns() -> int:
    """`shutil.get_terminal_size().columns`: $COLUMNS, else the terminal's width, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter, its width found without importing `shutil` — which loads bz2, lzma and
    zlib, ~3 ms of `vrrpd run`'s start-up — for a help text the daemon never prints (argparse makes a
    formatter for every argument added)."""

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None
    ):
        super().__init__(
            prog, indent_increment, max_help_position, _columns() - 2 if width is None else width
        )


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose subcommands' parsers use `_Formatter` too (add_subparsers makes them of this
    class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def build(only_run: bool = False) -> argparse.ArgumentParser:
    """Every subcommand; with ``only_run`` (argv starts with ``run``) only that one, whose flags and help
    are the same: the other subcommands' modules are start-up time the daemon does not need."""
    from vrrpd.cli import openshift  # noqa: PLC0415 - after defer_openssl(), see main()

    parser = _Parser(
        prog="vrrpd", description="A pure-Python VRRP daemon (VRRPv2 RFC 3768, VRRPv3 RFC 5798)."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    config_help = f"TOML configuration file (default: $VRRPD_CONFIG or {DEFAULT_CONFIG})"
    config_default = os.environ.get("VRRPD_CONFIG", DEFAULT_CONFIG)

    def add_run() -> None:
        run = commands.add_parser("run", help="run the daemon in the foreground")
        run_source = run.add_mutually_exclusive_group()
        run_source.add_argument("--config", default=config_default, metavar="FILE", help=config_help)
        run_source.add_argument("--openshift", action="store_true", help=openshift.OPENSHIFT_HELP)

    if only_run:
        add_run()
        return parser
    from vrrpd.compat.openshift import manifest  # noqa: PLC0415 - after defer_openssl(), see main()

    check = commands.add_parser("check-config", help="validate a configuration and summarize it")
    check_source = check.add_mutually_exclusive_group()
    check_source.add_argument("--config", default=config_default, metavar="FILE", help=config_help)
    check_source.add_argument("--openshift", action="store_true", help=openshift.OPENSHIFT_HELP)
    openshift.add_check_arguments(check)
    check.add_argument(
        "--no-interface-check",
        action="store_true",
        help="do not require the interfaces to exist on this host",
    )
    add_run()
    manifest.add_parser(commands)
    openshift.add_cleanup_parser(commands, config_default, config_help)

    from vrrpd.ops.status import add_arguments  # noqa: PLC0415 - keeps the CLI's import light

    status = commands.add_parser("status", help="show the running daemon's instances (control socket)")
    add_arguments(status)
    status.add_argument("--json", action="store_true", help="the stable JSON document (docs/operations.md)")
    reload = commands.add_parser("reload", help="ask the running daemon to reload its configuration file")
    add_arguments(reload)

    lab = commands.add_parser("lab", help="demo: several routers in network namespaces (root)")
    lab.add_argument(
        "--nodes", type=_lab_nodes, default=3, metavar="N", help="number of routers (default: 3)"
    )

    # import-keepalived: convert keepalived.conf's VRRP part (vrrpd.compat.keepalived.importer owns the rest).
    ka = commands.add_parser(
        "import-keepalived",
        help="convert the VRRP part of a keepalived.conf to vrrpd TOML",
        description="Print the vrrpd TOML for FILE on stdout and every keyword not carried over (with its "
        "line) on stderr. Exit 1 if anything was not carried over, unless --allow-partial; exit 2 if FILE "
        "cannot be read or parsed.",
    )
    ka.add_argument("file", metavar="FILE", help="keepalived configuration (its includes are followed)")
    ka.add_argument("-o", "--output", metavar="OUT", help="write the TOML to OUT instead of stdout")
    ka.add_argument(
        "--allow-partial", action="store_true", help="write the TOML even if something was not carried over"
    )
    ka.add_argument(
        "--config-id",
        metavar="ID",
        help="keepalived's -i: which '@ID' conditional lines apply (default: this host's node name)",
    )
    return parser
