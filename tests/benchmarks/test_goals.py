# ruff: noqa: E501 - RAW holds /proc/net/raw rows as the kernel writes them
"""The benchmark harness's pure parts: paired ratios, medians, goal verdicts, /proc/net/raw drop parsing."""

from __future__ import annotations

import pytest

from benchmarks import goals
from benchmarks.procstat import raw_drops
from benchmarks.stats import median, percentile, ratio

RAW = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  63: 00000000:0070 00000000:0000 07 00000000:00034000 00:00000000 00000000     0        0 123345 2 00000000db013be5 44
  63: 00000000:0070 00000000:0000 07 00000000:000009C0 00:00000000 00000000     0        0 123344 2 00000000382ad814 297
   1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 123346 2 00000000382ad815 9
"""


def test_raw_drops_counts_only_the_trees_protocol_112_sockets() -> None:
    assert raw_drops(RAW, {123345, 123344}) == (341, 2)
    assert raw_drops(RAW, {123345}) == (44, 1)
    # ICMP (protocol 1) is not VRRP, even when the tree holds it; a socket of another process is not ours.
    assert raw_drops(RAW, {123346, 999}) == (0, 0)
    assert raw_drops(RAW.splitlines()[0], {123345}) == (0, 0)


def test_median_ratio_percentile() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert median([]) is None
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 1.0) is None
    assert percentile([float(i) for i in range(1, 301)], 99) == 297.0


def test_paired_ratios_skip_windows_where_keepalived_used_nothing() -> None:
    assert goals.paired_ratios([1.0, 2.0, 3.0], [2.0, 0.0, 3.0]) == [0.5, 1.0]
    with pytest.raises(ValueError):
        goals.paired_ratios([1.0], [1.0, 2.0])


def test_cpu_goal_takes_the_median_of_paired_ratios() -> None:
    # Windows where both varied together: the pairs say 0.6, 0.6, 1.2 → median 0.6, met at 0.7.
    met = goals.cpu("backup", [0.06, 0.12, 0.24], [0.10, 0.20, 0.20], 0.7, 30.0)
    assert met.ratio == pytest.approx(0.6)
    assert met.met is True
    assert met.verdict == "met"
    assert "medians of 3 windows" in met.measured
    missed = goals.cpu("master", [0.9, 0.9, 0.9], [1.0, 1.0, 1.0], 0.85, 30.0)
    assert missed.ratio == pytest.approx(0.9)
    assert missed.verdict == "**missed**"
    absent = goals.cpu("master", [], [], 0.85, 30.0)
    assert absent.met is None
    assert absent.verdict == "not measured"
    assert absent.row()[3] == "–"


def test_memory_goal() -> None:
    assert goals.memory("rss", 26.0, 13.0, 2.0).met is True
    assert goals.memory("rss", 26.1, 13.0, 2.0).met is False
    assert goals.memory("rss", None, 13.0, 2.0).met is None
    assert goals.memory("rss", 26.0, 13.0, 2.0).row()[3] == "× 2.00"


def test_excess_goal_against_keepalived_and_an_absolute_bound() -> None:
    assert goals.excess("cut", 0.0004, 0.0005).met is True
    assert goals.excess("cut", 0.0013, 0.0004).met is False
    # v3: also within 3 ms of the bound.
    assert goals.excess("v3", 0.0035, 0.004, within=0.003).met is False
    assert goals.excess("v3", 0.0025, 0.004, within=0.003).met is True
    assert goals.excess("v3", 0.0025, 0.004, within=0.003).target == "≤ keepalived, ≤ 3 ms"
    assert goals.excess("cut", None, 0.0004).met is None
    # An excess ahead of the bound has no meaningful ratio, but is judged.
    early = goals.excess("cut", -0.0001, 0.0004)
    assert early.ratio is None
    assert early.met is True


def test_at_most_and_no_loss_goals() -> None:
    start = goals.at_most("start-up", 0.090, 0.014, 0.100)
    assert start.met is True
    assert start.ratio == pytest.approx(0.090 / 0.014)
    assert goals.at_most("start-up", 0.336, 0.014, 0.100).met is False
    assert goals.at_most("start-up", None, 0.014, 0.100).met is None
    assert goals.no_loss("drops", 0, 8).met is True
    assert goals.no_loss("drops", 3, 8).met is False
    # Nothing watched is nothing proven.
    assert goals.no_loss("drops", 0, 0).met is None
