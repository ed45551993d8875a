"""The pytest plugin is opt-in: installing vrrpd must not load it into every pytest run."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest


def test_no_pytest11_entry_point_is_installed() -> None:
    ours = [ep.value for ep in entry_points(group="pytest11") if ep.value.startswith("vrrpd")]
    assert ours == []


def test_the_suite_enables_it_explicitly(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("vrrpd.testing.plugin")
