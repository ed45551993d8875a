"""The optional nftables rule that lets VRRP advertisements in, installed and removed exactly.

This module owns one nftables table per ipfailover configuration, ``inet vrrpd_<config name>``, holding
one input chain that accepts VRRP: multicast adverts (224.0.0.18, IP protocol 112) and, with unicast
peers, protocol 112 from those peers. Because the table is ours alone, installing replaces it in one
atomic ``nft -f`` transaction (idempotent across a SIGKILLed run), and removing it is one
``delete table`` that cannot touch anybody else's rules. ``nft`` runs without a shell, bounded in time.

Caveat, and why the chain's policy is ``accept``: in nftables an ``accept`` ends evaluation only in
its own base chain; a ``drop`` in another table's chain at the same hook still drops the packet. So
this table opens nothing by itself on a host whose own firewall drops VRRP; it documents the need and
covers hosts that accept by default. docs/openshift.md says how to open VRRP in the host firewall.

It also owns RFC 5798's Accept_Mode filter: with ``accept = false`` a non-owner master drops packets
addressed to the VIPs it holds (``accept_mode_ruleset``), in a table of the instance's own,
``inet vrrpd_noaccept_<instance>``.

It must not decide *when* to install: ``vrrpd.compat.openshift.env`` does for the VRRP table, around the
daemon's lifetime; the instance does for the Accept_Mode table, while it holds its VIPs.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address

from vrrpd.protocol.packet import VRRP_MULTICAST, VRRP_PROTOCOL

__all__ = [
    "NFT_TIMEOUT",
    "FirewallError",
    "accept_filter_table",
    "accept_mode_ruleset",
    "install",
    "install_accept_filter",
    "is_installed",
    "remove",
    "ruleset",
    "table_name",
]

NFT_TIMEOUT = 10.0
_FAMILY = "inet"


class FirewallError(Exception):
    """nft is missing or refused; ``str()`` is one line for the operator."""


def table_name(config_name: str) -> str:
    """``vrrpd_<name>`` with every character nft would need quoted replaced by ``_``."""
    return "vrrpd_" + re.sub(r"[^A-Za-z0-9_]", "_", config_name)


def ruleset(table: str, unicast_peers: Sequence[IPv4Address] = ()) -> str:
    """The ``nft -f`` script: create-or-replace ``table`` atomically (add, delete, define)."""
    # The protocol by number: a slim container may lack /etc/protocols, where "vrrp" is resolved.
    rules = [f"ip daddr {VRRP_MULTICAST} ip protocol {VRRP_PROTOCOL} accept"]
    if unicast_peers:
        peers = ", ".join(str(p) for p in sorted(set(unicast_peers)))
        rules.append(f"ip saddr {{ {peers} }} ip protocol {VRRP_PROTOCOL} accept")
    return _table_script(table, rules)


def accept_filter_table(instance: str) -> str:
    """The table (family inet) of an instance's Accept_Mode filter: ``vrrpd_noaccept_<instance>``."""
    return table_name(f"noaccept_{instance}")


def accept_mode_ruleset(table: str, vips: Sequence[IPv4Address | IPv6Address]) -> str:
    """The ``nft -f`` script of RFC 5798 §6.4.3 with Accept_Mode off: a master that does not own the
    addresses drops packets addressed to them — but IPv6 Neighbor Solicitations and Advertisements, which
    "MUST NOT be dropped" (§6.1). ARP is not in the ``inet`` family: the VIPs still resolve."""
    v4 = sorted(str(v) for v in set(vips) if v.version == 4)
    v6 = sorted(str(v) for v in set(vips) if v.version == 6)
    rules = ["icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept"] if v6 else []
    if v4:
        rules.append(f"ip daddr {{ {', '.join(v4)} }} drop")
    if v6:
        rules.append(f"ip6 daddr {{ {', '.join(v6)} }} drop")
    return _table_script(table, rules)


def _table_script(table: str, rules: Sequence[str]) -> str:
    body = "\n".join(f"\t\t{rule}" for rule in rules)
    # "add" makes "delete" safe when the table is absent; all three lines are one transaction.
    return (
        f"add table {_FAMILY} {table}\n"
        f"delete table {_FAMILY} {table}\n"
        f"table {_FAMILY} {table} {{\n"
        "\tchain input {\n"
        "\t\ttype filter hook input priority 0; policy accept;\n"
        f"{body}\n"
        "\t}\n"
        "}\n"
    )


def _nft(
    nft: Sequence[str], args: Sequence[str], script: str | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [*nft, *args]
    try:
        return subprocess.run(
            argv, input=script, capture_output=True, text=True, timeout=NFT_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise FirewallError(
            f"{argv[0]}: command not found; install nftables (Debian/Ubuntu package nftables), "
            "or unset OPENSHIFT_HA_NFTABLES_RULE / OPENSHIFT_HA_IPTABLES_CHAIN"
        ) from None
    except subprocess.TimeoutExpired:
        raise FirewallError(f"`{' '.join(argv)}` did not finish within {NFT_TIMEOUT:g}s") from None
    except OSError as exc:
        raise FirewallError(f"`{' '.join(argv)}` could not start: {exc}") from None


def _first_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
    return lines[0] if lines else f"exit status {proc.returncode}"


def install(table: str, unicast_peers: Sequence[IPv4Address] = (), nft: Sequence[str] = ("nft",)) -> None:
    """Create (or atomically replace) ``table`` accepting VRRP. ``nft`` is the command prefix to run."""
    _install(table, ruleset(table, unicast_peers), nft)


def install_accept_filter(
    table: str, vips: Sequence[IPv4Address | IPv6Address], nft: Sequence[str] = ("nft",)
) -> None:
    """Create (or atomically replace) ``table`` dropping packets to ``vips`` (see `accept_mode_ruleset`)."""
    _install(table, accept_mode_ruleset(table, vips), nft)


def _install(table: str, script: str, nft: Sequence[str]) -> None:
    proc = _nft(nft, ["-f", "-"], script)
    if proc.returncode != 0:
        hint = " (needs CAP_NET_ADMIN)" if "not permitted" in proc.stderr.lower() else ""
        raise FirewallError(f"nft could not add table {_FAMILY} {table}: {_first_line(proc)}{hint}")


def is_installed(table: str, nft: Sequence[str] = ("nft",)) -> bool:
    """Whether ``table`` exists."""
    return _nft(nft, ["list", "table", _FAMILY, table]).returncode == 0


def remove(table: str, nft: Sequence[str] = ("nft",)) -> bool:
    """Delete ``table``; False if it was not there. Never touches any other table."""
    if not is_installed(table, nft):
        return False
    proc = _nft(nft, ["delete", "table", _FAMILY, table])
    if proc.returncode != 0:
        if "no such file" in proc.stderr.lower():  # removed in between, e.g. by `vrrpd cleanup`
            return False
        raise FirewallError(f"nft could not delete table {_FAMILY} {table}: {_first_line(proc)}")
    return True
