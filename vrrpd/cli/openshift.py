"""Command-line glue for ``--openshift`` and ``vrrpd cleanup``: flags in, library calls out.

`vrrpd.cli.main` registers these; the logic lives in `vrrpd.compat.openshift` (the environment
contract and this node's plan) and `vrrpd.runtime.cleanup`, testable without argparse. Those are imported
by the functions that use them: registering the flags must stay free for `vrrpd run`'s start-up.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse  # annotations only: `vrrpd run` does not import argparse (issue 17)

__all__ = ["OPENSHIFT_HELP", "add_check_arguments", "add_cleanup_parser", "check_main", "cleanup_main"]

OPENSHIFT_HELP = "build the configuration from the ipfailover image's OPENSHIFT_HA_* environment"


def add_check_arguments(check: argparse.ArgumentParser) -> None:
    """``check-config``'s ``--openshift`` companions, and ``--no-file-check``."""
    check.add_argument(
        "--node-address",
        metavar="ADDR",
        help="with --openshift: compute priorities for the node with this address (off-node checks)",
    )
    check.add_argument(
        "--toml", action="store_true", help="with --openshift: print the equivalent TOML file instead"
    )
    check.add_argument(
        "--no-file-check",
        action="store_true",
        help="do not require check and notify programs to exist on this host (off-node checks)",
    )


def add_cleanup_parser(commands: Any, config_default: str, config_help: str) -> None:
    """Register ``vrrpd cleanup``."""
    cleanup_parser = commands.add_parser(
        "cleanup",
        help="remove this node's VIPs (and the --openshift firewall table) after the daemon is gone",
    )
    source = cleanup_parser.add_mutually_exclusive_group()
    source.add_argument("--config", default=config_default, metavar="FILE", help=config_help)
    source.add_argument("--openshift", action="store_true", help=OPENSHIFT_HELP)


def check_main(args: argparse.Namespace) -> int:
    """``vrrpd check-config --openshift [--node-address A] [--toml] [--no-interface-check]
    [--no-file-check]``."""
    from vrrpd.compat.openshift.env import EnvIssue  # noqa: PLC0415 - see the module docstring
    from vrrpd.compat.openshift.run import check_config  # noqa: PLC0415
    from vrrpd.config import ConfigError  # noqa: PLC0415

    if not args.openshift:
        raise ConfigError(EnvIssue("--node-address/--toml", "apply only with --openshift"))
    return check_config(
        os.environ,
        not args.no_interface_check,
        address=args.node_address,
        as_toml=args.toml,
        file_check=not args.no_file_check,
    )


def cleanup_main(args: argparse.Namespace) -> int:
    """``vrrpd cleanup [--config FILE | --openshift]``."""
    from vrrpd.runtime.cleanup import cleanup  # noqa: PLC0415 - pyroute2 is heavy

    if args.openshift:
        from vrrpd.compat.openshift.host import LiveHost  # noqa: PLC0415
        from vrrpd.compat.openshift.plan import load_for_cleanup  # noqa: PLC0415

        plan = load_for_cleanup(os.environ, LiveHost())
        return cleanup(plan.config, plan.settings.firewall_table)
    from vrrpd.config import load_config  # noqa: PLC0415

    return cleanup(load_config(args.config), None)
