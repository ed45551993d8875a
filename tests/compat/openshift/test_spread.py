"""Spread of masters (`vrrpd.compat.openshift.spread`): distribution over 2–10 nodes × 1–64 groups, and what
moves when a
node goes. Pure arithmetic: the election is modelled as VRRP decides it (highest priority, then the
higher address), which `tests/compat/openshift/test_openshift_netns.py` confirms on a real segment.
"""

from __future__ import annotations

import math
import subprocess
import sys
from ipaddress import IPv4Address

import pytest

from vrrpd.compat.openshift import spread

NODE_COUNTS = range(2, 11)
GROUP_COUNTS = (1, 2, 3, 4, 5, 7, 8, 16, 32, 63, 64)


def nodes(n: int, base: str = "192.0.2.11") -> list[IPv4Address]:
    first = IPv4Address(base)
    return [first + i for i in range(n)]


def vrids(groups: int, offset: int = 0) -> list[int]:
    return list(range(offset + 1, offset + groups + 1))


# ---- priorities: range, reproducibility ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["rank", "rendezvous"])
def test_priorities_are_never_0_nor_255(method: spread.Method) -> None:
    for n in (1, *NODE_COUNTS, 50, 254):
        table = spread.priorities(nodes(n, "198.51.100.1"), vrids(64), method)
        values = {p for group in table.values() for p in group.values()}
        assert min(values) >= 1 and max(values) <= 254, (n, method)


def test_rank_priorities_are_distinct_per_group() -> None:
    for n in (1, *NODE_COUNTS, 100, 254):
        for group in spread.priorities(nodes(n, "198.51.100.1"), vrids(16), "rank").values():
            assert len(set(group.values())) == n


def test_rendezvous_is_reproducible_across_processes() -> None:
    # hash() is salted per process; the spread must not be. Same answer in a fresh interpreter.
    code = (
        "from ipaddress import IPv4Address as A;"
        "from vrrpd.compat.openshift.spread import rendezvous_priority as r;"
        "print([r(A('192.0.2.11'), v) for v in range(1, 9)])"
    )
    here = [spread.rendezvous_priority(IPv4Address("192.0.2.11"), v) for v in range(1, 9)]
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert there.stdout.strip() == str(here)
    # Pinned: a change of hash would silently move every VIP of every deployment on upgrade.
    assert here == [205, 73, 6, 228, 46, 119, 16, 49]


def test_rank_ignores_the_order_peers_are_listed_in() -> None:
    forward = spread.priorities(nodes(5), vrids(10), "rank")
    backward = spread.priorities(list(reversed(nodes(5))), vrids(10), "rank")
    assert forward == backward


def test_rank_order_rotates_backups() -> None:
    assert spread.rank_order(1, 0) == [0]
    assert spread.rank_order(3, 0) == [0, 1, 2]
    assert spread.rank_order(3, 3) == [0, 2, 1]  # node 0's second group: other first backup
    assert spread.rank_order(3, 4) == [1, 0, 2]
    assert [spread.rank_priority(p, 4) for p in range(4)] == [254, 204, 154, 104]
    with pytest.raises(ValueError, match=r"1\.\.254 nodes"):
        spread.rank_priority(0, 255)


def test_elect_breaks_ties_by_higher_address() -> None:
    a, b = IPv4Address("192.0.2.11"), IPv4Address("192.0.2.12")
    assert spread.elect({a: 100, b: 100}) == b
    assert spread.elect({a: 101, b: 100}) == a
    assert spread.elect({a: 101, b: 100}, alive=[b]) == b
    assert spread.elect({a: 101}, alive=[]) is None


# ---- distribution ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", NODE_COUNTS)
@pytest.mark.parametrize("g", GROUP_COUNTS)
def test_rank_spreads_masters_exactly(n: int, g: int) -> None:
    table = spread.priorities(nodes(n), vrids(g), "rank")
    loads = spread.loads(spread.masters(table), nodes(n))
    assert loads.spread <= 1
    assert max(loads.per_node.values()) == math.ceil(g / n)


def rendezvous_bound(n: int, g: int) -> int:
    """A generous bound on the busiest node under rendezvous hashing (balls into bins)."""
    mean = g / n
    return math.ceil(mean + 3 * math.sqrt(mean) + 1)


@pytest.mark.parametrize("n", NODE_COUNTS)
@pytest.mark.parametrize("g", GROUP_COUNTS)
def test_rendezvous_spread_is_bounded(n: int, g: int) -> None:
    table = spread.priorities(nodes(n), vrids(g), "rendezvous")
    assignment = spread.masters(table)
    assert len(assignment) == g
    loads = spread.loads(assignment, nodes(n))
    assert max(loads.per_node.values()) <= rendezvous_bound(n, g), loads.per_node


def test_rendezvous_is_even_on_average() -> None:
    # Over many clusters (different addresses and VRID offsets) every rank of node gets ~1/N of the groups.
    n, g, trials = 4, 16, 200
    totals = [0] * n
    for trial in range(trials):
        cluster = nodes(n, f"10.{trial // 250}.{trial % 250}.1")
        ordered = sorted(cluster)
        assignment = spread.masters(spread.priorities(cluster, vrids(g, offset=trial % 50), "rendezvous"))
        for master in assignment.values():
            totals[ordered.index(master)] += 1
    share = [t / (g * trials) for t in totals]
    assert all(abs(s - 1 / n) < 0.03 for s in share), share


# ---- what moves when a node goes -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["rank", "rendezvous"])
@pytest.mark.parametrize("n", NODE_COUNTS)
@pytest.mark.parametrize("g", (1, 4, 16, 64))
def test_losing_a_node_moves_only_its_groups(method: spread.Method, n: int, g: int) -> None:
    cluster = nodes(n)
    table = spread.priorities(cluster, vrids(g), method)
    before = spread.masters(table)
    for gone in cluster:
        survivors = [node for node in cluster if node != gone]
        after = spread.masters(table, alive=survivors)
        moved = {vrid for vrid in before if before[vrid] != after[vrid]}
        assert moved == {vrid for vrid, master in before.items() if master == gone}
        # ...and it comes back to exactly the same assignment: reproducible, no drift.
        assert spread.masters(table, alive=cluster) == before


@pytest.mark.parametrize("n", range(3, 11))
@pytest.mark.parametrize("g", (8, 16, 32, 64))
def test_rank_spreads_a_lost_nodes_groups_evenly_over_survivors(n: int, g: int) -> None:
    cluster = nodes(n)
    table = spread.priorities(cluster, vrids(g), "rank")
    before = spread.masters(table)
    for gone in cluster:
        survivors = [node for node in cluster if node != gone]
        after = spread.masters(table, alive=survivors)
        inherited = [after[vrid] for vrid, master in before.items() if master == gone]
        counts = [inherited.count(node) for node in survivors]
        assert max(counts) - min(counts) <= 1, (gone, counts)
        assert spread.loads(after, survivors).spread <= 2
