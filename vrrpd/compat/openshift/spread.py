"""Spread VRRP masters over nodes: each node computes its own priority for every group, alone.

VRRP elects the live router with the highest priority (ties: the higher primary address, RFC 3768
§6.4.3). So if every node derives its priority for a group from facts all nodes agree on, the masters
are decided before any packet is sent. Two methods:

- **rank** (the peer list is known, e.g. ``OPENSHIFT_HA_UNICAST_PEERS``): the nodes sorted by address;
  group *i* is mastered by node ``i mod N``, and its first backup rotates over the other nodes, so
  masters are spread exactly (loads differ by at most one) and a lost node's groups spread evenly
  over the survivors.
- **rendezvous** (only this node's address is known): priority = ``1 + H(address, VRID) mod 254``,
  highest-random-weight hashing. No coordination at all; the spread is even on average, not exactly.

Both give priorities in 1..254 (never 0, which means "master stopping", never 255, the address owner),
are pure functions of (address, VRID or group index, peer list) so a restart reproduces them, and —
because the master is the highest live priority — losing a node moves only the groups it mastered.

This module is pure arithmetic: no configuration, no I/O. ``vrrpd.compat.openshift.env`` uses it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Literal

__all__ = [
    "MAX_RANK_NODES",
    "Method",
    "NodePriorities",
    "elect",
    "loads",
    "masters",
    "priorities",
    "rank_order",
    "rank_priority",
    "rendezvous_priority",
]

Method = Literal["rank", "rendezvous"]
NodePriorities = dict[IPv4Address, int]

MIN_PRIORITY = 1
MAX_PRIORITY = 254  # 255 would make the node the "address owner"
# Rank priorities step down from 254 by up to this much, so a backup's Skew_Time is clearly longer than
# a better backup's (50/256 s) and two backups never race for one group after the master goes.
_MAX_STEP = 50
# Rank needs distinct priorities for all nodes: 254 of them fit in 1..254.
MAX_RANK_NODES = MAX_PRIORITY - MIN_PRIORITY + 1


def rendezvous_priority(node: IPv4Address, vrid: int) -> int:
    """This node's priority for a VRID by rendezvous hashing, in 1..254.

    blake2b rather than ``hash()``: Python salts ``hash()`` per process, and the value must be the same
    on every restart and every machine.
    """
    digest = hashlib.blake2b(f"vrrpd-spread/{node}/{vrid}".encode(), digest_size=8).digest()
    return MIN_PRIORITY + int.from_bytes(digest, "big") % (MAX_PRIORITY - MIN_PRIORITY + 1)


def rank_order(n_nodes: int, index: int) -> list[int]:
    """Node ranks (0-based, nodes sorted by address) in order of preference for group ``index``.

    The master is ``index mod N``. The first backup is chosen so that the groups of any one master
    cycle through all the other nodes: group index = master + k·N takes the k-th (mod N-1) of the
    others, counted cyclically after the master. The rest follow in cyclic order.
    """
    if n_nodes < 1:
        raise ValueError("at least one node")
    if index < 0:
        raise ValueError("group index must be >= 0")
    master = index % n_nodes
    others = [(master + j) % n_nodes for j in range(1, n_nodes)]
    if not others:
        return [master]
    shift = (index // n_nodes) % len(others)
    return [master, *others[shift:], *others[:shift]]


def rank_priority(position: int, n_nodes: int) -> int:
    """The priority at ``position`` (0 = preferred master) in a preference order of ``n_nodes``."""
    if not 1 <= n_nodes <= MAX_RANK_NODES:
        raise ValueError(f"rank spreads 1..{MAX_RANK_NODES} nodes, not {n_nodes}")
    if not 0 <= position < n_nodes:
        raise ValueError(f"position {position} out of range for {n_nodes} nodes")
    step = _MAX_STEP if n_nodes == 1 else max(1, min(_MAX_STEP, (MAX_PRIORITY - 4) // (n_nodes - 1)))
    return MAX_PRIORITY - position * step


def priorities(
    nodes: Iterable[IPv4Address], vrids: Sequence[int], method: Method
) -> dict[int, NodePriorities]:
    """Every node's priority for every VRID: ``{vrid: {node: priority}}``.

    For ``rank``, group index = position of the VRID in ``vrids`` (the order the groups are defined in),
    and ``nodes`` must be every node of the cluster (this one included).
    """
    ordered = sorted(set(nodes))
    if not ordered:
        raise ValueError("at least one node")
    table: dict[int, NodePriorities] = {}
    for index, vrid in enumerate(vrids):
        if method == "rendezvous":
            table[vrid] = {node: rendezvous_priority(node, vrid) for node in ordered}
        else:
            order = rank_order(len(ordered), index)
            table[vrid] = {
                ordered[rank]: rank_priority(position, len(ordered)) for position, rank in enumerate(order)
            }
    return table


def elect(group: Mapping[IPv4Address, int], alive: Iterable[IPv4Address] | None = None) -> IPv4Address | None:
    """The master VRRP elects among ``alive`` nodes (default: all): highest priority, then address."""
    candidates = list(group) if alive is None else [node for node in alive if node in group]
    if not candidates:
        return None
    return max(candidates, key=lambda node: (group[node], int(node)))


def masters(
    table: Mapping[int, NodePriorities], alive: Iterable[IPv4Address] | None = None
) -> dict[int, IPv4Address]:
    """The expected master of every VRID (groups with no live node are left out)."""
    live = None if alive is None else list(alive)
    out: dict[int, IPv4Address] = {}
    for vrid, group in table.items():
        winner = elect(group, live)
        if winner is not None:
            out[vrid] = winner
    return out


@dataclass(frozen=True)
class Loads:
    """How many groups each node masters."""

    per_node: dict[IPv4Address, int]

    @property
    def spread(self) -> int:
        """max - min: 0 or 1 is as even as possible."""
        return max(self.per_node.values()) - min(self.per_node.values())


def loads(assignment: Mapping[int, IPv4Address], nodes: Iterable[IPv4Address]) -> Loads:
    """Groups mastered per node, counting nodes that master none."""
    counts = Counter(assignment.values())
    return Loads({node: counts.get(node, 0) for node in sorted(set(nodes))})
