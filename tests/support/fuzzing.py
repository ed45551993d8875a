"""Hypothesis settings for the fuzz tests: a modest profile in CI, `FUZZ_PROFILE=long` for a campaign."""

from __future__ import annotations

import os
from collections.abc import Sequence

from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument


def _profile(name: str, max_examples: int, suppress: Sequence[HealthCheck]) -> settings:
    """Register `name` once per process (re-imports and other modules must not clash), then return it."""
    try:
        return settings.get_profile(name)
    except InvalidArgument:
        settings.register_profile(
            name, max_examples=max_examples, deadline=None, suppress_health_check=list(suppress)
        )
        return settings.get_profile(name)


def fuzz_settings(name: str, ci: int, long: int, suppress: Sequence[HealthCheck]) -> settings:
    """`<name>-ci` with `ci` examples, or `<name>-long` with `long` when FUZZ_PROFILE=long."""
    if os.environ.get("FUZZ_PROFILE") == "long":
        return settings(_profile(f"{name}-long", long, suppress))
    return settings(_profile(f"{name}-ci", ci, suppress))
