"""``vrrpd check-config --openshift`` and ``vrrpd run --openshift``: load the plan, then act on it.

`run_daemon` owns the one host change of the OpenShift layer: the optional nftables table that accepts
VRRP, installed before the daemon starts and removed after it stops, whatever way it stops.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from ipaddress import IPv4Address

from vrrpd.compat.openshift import values
from vrrpd.compat.openshift.env import EnvIssue, shown
from vrrpd.compat.openshift.host import LiveHost
from vrrpd.compat.openshift.plan import Plan, load
from vrrpd.compat.openshift.render import describe_plan
from vrrpd.config import ConfigError, check_interfaces, describe
from vrrpd.kernel import firewall

__all__ = ["check_config", "node_address", "run_daemon"]


def node_address(text: str | None) -> IPv4Address | None:
    """``--node-address``: this node's IPv4 address when the host is not inspected."""
    if text is None:
        return None
    try:
        return values.ipv4(text)
    except ValueError as exc:
        raise ConfigError(
            EnvIssue("--node-address", f"{exc}; must be an IPv4 address", value=shown(text))
        ) from None


def check_config(
    env: Mapping[str, str],
    interface_check: bool,
    *,
    address: str | None = None,
    as_toml: bool = False,
    out: Callable[[str], None] = print,
    file_check: bool = True,
) -> int:
    """``vrrpd check-config --openshift``: print the resolved instances (or the equivalent TOML)."""
    plan = load(env, LiveHost() if interface_check else None, node_address(address), check_files=file_check)
    if interface_check:
        check_interfaces(plan.config)
    out(plan.toml if as_toml else f"{describe(plan.config)}\n{describe_plan(plan)}")
    return 0


def _log_plan(plan: Plan) -> None:
    from vrrpd import logs  # noqa: PLC0415 - after validation, like the daemon itself

    log = logs.get_logger("vrrpd.openshift")
    for note in plan.notes:
        log.warning("openshift_note", note=note)
    log.info("openshift_interface", interface=plan.interface, address=str(plan.node))
    for g in plan.groups:
        log.info(
            "openshift_group",
            instance=g.name,
            vrid=g.vrid,
            vips=[str(v) for v in g.vips],
            priority=g.priority,
            spread=plan.method,
            expected_master=str(g.expected_master) if g.expected_master else None,
        )


def run_daemon(env: Mapping[str, str]) -> int:
    """``vrrpd run --openshift``: the firewall table (when asked) around the daemon's whole life."""
    plan = load(env, LiveHost())
    check_interfaces(plan.config)
    from vrrpd import logs  # noqa: PLC0415 - after validation, like the daemon itself
    from vrrpd.runtime import preflight  # noqa: PLC0415
    from vrrpd.runtime.daemon import EXIT_REFUSED, run  # noqa: PLC0415

    refused = preflight.refusal()  # before the firewall table, which needs CAP_NET_ADMIN too
    if refused is not None:
        print(f"vrrpd: {refused}", file=sys.stderr)
        return EXIT_REFUSED

    logs.configure(plan.config.global_.log_format)
    log = logs.get_logger("vrrpd.openshift")
    _log_plan(plan)
    table = plan.settings.firewall_table
    if plan.settings.firewall:
        try:
            peers = plan.config.vrrp_instance[0].unicast_peer
            firewall.install(table, [p for p in peers if isinstance(p, IPv4Address)])  # the table is IPv4
        except firewall.FirewallError as exc:
            print(f"vrrpd: {exc}", file=sys.stderr)
            return 1
        log.info("firewall_installed", table=f"inet {table}")
    try:
        return run(plan.config)
    finally:
        if plan.settings.firewall:
            try:
                firewall.remove(table)
            except firewall.FirewallError as exc:
                log.error("firewall_remove_failed", table=f"inet {table}", error=str(exc))
            else:
                log.info("firewall_removed", table=f"inet {table}")
