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

import gc
import os
import sys
import types
from typing import TYPE_CHECKING, Any

from vrrpd import __version__
from vrrpd.cli import nossl

if TYPE_CHECKING:
    import argparse

    from vrrpd.config import Config
    from vrrpd.runtime.prestart import Prestart

EXIT_USAGE = 2  # argparse's status for bad flags; configuration errors share it

DEFAULT_CONFIG = "/etc/vrrpd/vrrpd.toml"


def _plain_run(argv: list[str]) -> types.SimpleNamespace | None:
    """What the parser (`vrrpd.cli.parser`) makes of the program's usual command line — ``run``,
    ``run --config FILE`` or ``run --config=FILE`` (systemd's unit) — without importing argparse, 0.35 MiB
    resident in a daemon that needs it for nothing else (issue 17). None for any other command line: the
    parser reads it, its errors and help included."""
    if argv[:1] != ["run"]:
        return None
    if len(argv) == 1:
        config = os.environ.get("VRRPD_CONFIG", DEFAULT_CONFIG)
    elif len(argv) == 3 and argv[1] == "--config" and not argv[2].startswith("-"):  # "-x": argparse's
        config = argv[2]
    elif len(argv) == 2 and argv[1].startswith("--config="):
        config = argv[1].removeprefix("--config=")
    else:
        return None
    return types.SimpleNamespace(version=False, command="run", config=config, openshift=False)


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

    plain = _plain_run(argv) if program else None
    parser: argparse.ArgumentParser | None = None
    if plain is None:
        from vrrpd.cli.parser import build  # noqa: PLC0415 - argparse: not for the program's plain run

        parser = build(only_run=argv[:1] == ["run"])
    try:
        args: Any = parser.parse_args(argv) if parser else plain  # a SimpleNamespace from _plain_run
    except SystemExit as exc:  # argparse has already printed usage or help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    assert args is not None  # one of the two
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
    assert parser is not None  # _plain_run's command is run
    parser.print_usage(sys.stderr)
    print(
        "vrrpd: error: a command is required "
        "(check-config, run, status, reload, manifest, cleanup, lab or import-keepalived)",
        file=sys.stderr,
    )
    return EXIT_USAGE
