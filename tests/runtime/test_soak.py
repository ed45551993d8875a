"""The soak in CI: 60 seconds of random faults against three real daemons (`fuzz/soak.py`; the campaign
is `python fuzz/soak.py --minutes 10`).

Goals, as in the campaign: no zero- or multi-holder time beyond what RFC 3768 allows for the faults around
it, no crash, nothing stale or stray at the end, no descriptor, thread or asyncio-task growth in the
daemon that lived through it all, and its RSS growth under 1 MB.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from fuzz.soak import run_soak
from vrrpd.testing.lab import unavailable_reason

pytestmark = pytest.mark.netns


def test_soak_one_minute_of_random_faults(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    seed = int(os.environ.get("ROBUSTNESS_SEED", "1"))
    report = run_soak(60.0, seed, tmp_path / "soak")
    doc = dataclasses.asdict(report)
    (tmp_path / "soak-report.json").write_text(json.dumps(doc, indent=2, default=str))
    print("soak:", json.dumps(doc, default=str))
    assert report.beyond_bound_seconds == 0, report.worst
    assert report.crashed == [] and report.leftovers == [] and report.final_holders == []
    n3 = report.figures["n3"]  # never killed: it carries the leak figures
    assert n3["fd_growth"] <= 0 and n3["thread_growth"] <= 0, n3
    assert n3["task_growth"] <= 0, n3  # asyncio tasks, read from `vrrpd status --json`
    assert n3["rss_growth_kb"] < 1024, n3
    assert sum(report.faults.values()) >= 8
