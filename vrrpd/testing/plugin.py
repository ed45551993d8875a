"""pytest plugin: the `vrrp_lab` fixture factory, building namespace labs that always get torn down.

It is opt-in (no `pytest11` entry point: an environment that merely has vrrpd installed does not load it).
Enable it with `pytest -p vrrpd.testing.plugin`, `addopts = "-p vrrpd.testing.plugin"`, or
`pytest_plugins = ["vrrpd.testing.plugin"]` in a top-level conftest.py. Then:

    @pytest.mark.netns
    def test_failover(vrrp_lab):
        lab = vrrp_lab(nodes=3)          # any Lab(...) keyword: prefix, subnet, log_dir
        ...

Mark such tests `@pytest.mark.netns` yourself: the marker is how the suite selects and accounts for
namespace tests. The fixture skips, with the reason, when the machine cannot host a lab (not root,
no `ip netns`). Labs are named `<prefix>-<6 random hex>-*`, the prefix coming from the `prefix=`
argument, else $VRRPD_LAB_PREFIX, else "vrrpd"; process logs and captures land in the test's
`tmp_path`, so they survive a failure for inspection.

This module owns only the pytest wiring; everything the lab does lives in `vrrpd.testing.lab`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from vrrpd.testing.lab import Lab, unavailable_reason


class LabFactory(Protocol):
    def __call__(self, nodes: int = 2, **kwargs: Any) -> Lab: ...


@pytest.fixture
def vrrp_lab(tmp_path: Path) -> Iterator[LabFactory]:
    """Build `Lab`s on demand for one test; all of them are torn down when the test ends."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    labs: list[Lab] = []

    def make(nodes: int = 2, **kwargs: Any) -> Lab:
        kwargs.setdefault("prefix", os.environ.get("VRRPD_LAB_PREFIX", "vrrpd"))
        kwargs.setdefault("log_dir", tmp_path / f"lab{len(labs) + 1}")
        lab = Lab(nodes=nodes, **kwargs)
        labs.append(lab)  # before start(): start() cleans up after itself, close() is idempotent
        return lab.start()

    try:
        yield make
    finally:
        for lab in reversed(labs):
            lab.close()
        errors = [e for lab in labs for e in lab.teardown_errors]
        if errors:
            pytest.fail(f"lab teardown left trouble behind: {errors}", pytrace=False)
