"""Command line front: ``vrrpd --version | check-config | run | status | reload | manifest | cleanup | lab |
import-keepalived``; ``check-config`` and ``run`` take ``--openshift`` (the ipfailover environment).

Owns argument parsing and the user-error contract: a bad flag or a bad configuration ends with one
line on stderr and exit status 2, never a traceback. The daemon and the lab demo live in their own
modules and are imported only when their subcommand runs, so ``check-config`` stays light. Nothing else
is imported before `main` has seen the subcommand. ``run``'s parser has only the ``run`` subcommand, so
that no other subcommand's modules are imported before the daemon's first advert; it reads the
configuration and carries out the Startup event (`vrrpd.runtime.prestart`: the owner's first advert, a
backup's BACKUP) before it imports the daemon, which only then loads asyncio, structlog and the rest,
keeping OpenSSL and unused optional packages out (`vrrpd.cli.nossl`) (`tests/cli/test_run_imports.py`).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import TYPE_CHECKING, Any

from vrrpd import __version__
from vrrpd.cli import nossl

if TYPE_CHECKING:
    from vrrpd.config import Config
    from vrrpd.runtime.prestart import Prestart

EXIT_USAGE = 2  # argparse's status for bad flags; configuration errors share it

DEFAULT_CONFIG = "/etc/vrrpd/vrrpd.toml"
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


def _parser(only_run: bool = False) -> argparse.ArgumentParser:
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


def _check_config(path: str, interface_check: bool, file_check: bool) -> int:
    from vrrpd.config import check_interfaces, check_programs, describe, load_config  # noqa: PLC0415 - see main()

    config = load_config(path, check_files=file_check)
    if interface_check:
        check_interfaces(config)
    if file_check:  # script users and script security are this host's, like the programs themselves
        for warning in check_programs(config):
            print(f"vrrpd: warning: {warning}", file=sys.stderr)
    print(describe(config))
    return 0


def _without_openssl() -> None:
    """The program's `vrrpd run` imports asyncio without OpenSSL (and hashlib and hmac on first use), and
    structlog and prometheus_client without their optional extras (`vrrpd.cli.nossl`); a no-op once they
    are imported."""
    nossl.defer_openssl()  # no TLS, no OpenSSL hashes: keep OpenSSL out of the daemon's memory
    nossl.structlog_without_extras()  # nor rich, which structlog imports when it is installed
    nossl.defer_package_init("prometheus_client")  # nor its HTTP servers and clients (metrics_listen)


def _run(path: str, program: bool = False) -> int:
    from vrrpd.config import check_interfaces, check_programs, load_config  # noqa: PLC0415 - see main()

    config = load_config(path)
    check_interfaces(config)
    check_programs(config)  # its warnings are logged by the daemon
    if not program:
        return _daemon(config)
    # RFC 3768 §6.4.1 Startup now, for the instances that need nothing more (issue 17): the first advert or
    # BACKUP without waiting ~80 ms for the daemon's imports, which only the steady state needs. The program
    # only: a caller of main() (a test) has no network of its own to start in.
    from vrrpd.runtime.prestart import prestart  # noqa: PLC0415 - light: no asyncio, no structlog

    prestarted = prestart(config)
    try:
        _without_openssl()
        return _daemon(config, prestarted)
    finally:
        if prestarted is not None:
            prestarted.close()  # whatever the daemon did not adopt (nothing, once it ran)


def _daemon(config: Config, prestarted: Prestart | None = None) -> int:
    from vrrpd.runtime.daemon import run  # noqa: PLC0415 - the daemon's imports are heavy; load on demand

    gc.enable()  # the imports are done (main() held the collector off for them)
    return run(config, prestarted) if prestarted is not None else run(config)


def _lab(nodes: int) -> int:
    from vrrpd.testing.demo import main as lab_main  # noqa: PLC0415 - demo-only code, load on demand

    return lab_main(nodes=nodes)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the subcommand, return the exit status."""
    if argv is None:  # the `vrrpd` program itself (not a caller passing arguments, such as a test)
        argv = sys.argv[1:]
        program = argv[:1] == ["run"]
        if program:
            # Importing makes ~100,000 objects and almost no garbage: the collector's passes over them were
            # ~5 % of the start-up. On again once the daemon's modules are in (_run, run --openshift).
            gc.disable()
    else:
        program = False
    if program:
        nossl.msgspec_without_extras()  # vrrpd.config's msgspec without typing_extensions (~0.5 MiB)
    # Neither imports asyncio, hashlib or hmac: `vrrpd run` reads its configuration and carries out the
    # Startup event (`vrrpd.runtime.prestart`) before `_without_openssl()` imports those.
    from vrrpd.cli import openshift  # noqa: PLC0415
    from vrrpd.config import ConfigError  # noqa: PLC0415

    parser = _parser(only_run=argv[:1] == ["run"])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has already printed usage or help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.version:
        print(f"vrrpd {__version__}")
        return 0
    try:
        if args.command == "check-config":
            if args.openshift or args.node_address or args.toml:
                return openshift.check_main(args)
            return _check_config(args.config, not args.no_interface_check, not args.no_file_check)
        if args.command == "run":
            if args.openshift:
                if program:
                    _without_openssl()
                from vrrpd.compat.openshift.run import run_daemon  # noqa: PLC0415 - load on demand

                gc.enable()  # see above
                return run_daemon(os.environ)
            return _run(args.config, program)
        if args.command == "manifest":
            from vrrpd.compat.openshift import manifest  # noqa: PLC0415 - load on demand

            return manifest.main(args)
        if args.command == "cleanup":
            return openshift.cleanup_main(args)
        if args.command == "lab":
            return _lab(args.nodes)
        if args.command in ("status", "reload"):
            from vrrpd.ops.status import reload_main, status_main  # noqa: PLC0415 - load on demand

            return status_main(args) if args.command == "status" else reload_main(args)
        if args.command == "import-keepalived":
            from vrrpd.compat.keepalived.importer import main as import_main  # noqa: PLC0415 - load on demand

            return import_main(args.file, args.output, args.allow_partial, args.config_id)
    except ConfigError as exc:
        print(f"vrrpd: {exc}", file=sys.stderr)
        return EXIT_USAGE
    parser.print_usage(sys.stderr)
    print(
        "vrrpd: error: a command is required "
        "(check-config, run, status, reload, manifest, cleanup, lab or import-keepalived)",
        file=sys.stderr,
    )
    return EXIT_USAGE
