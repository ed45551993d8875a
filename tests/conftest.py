"""Suite-wide policy: under CI=true, namespace tests must run, not skip.

A skipped `netns` test in CI is turned into a failure, and a CI run that collected no `netns` test at all
fails too: the integration tests are the point of CI here, so silence must not pass for success.
"""

from __future__ import annotations

import os

import pytest

_IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_netns_ran = 0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    global _netns_ran  # noqa: PLW0603 - a per-session tally is the simplest honest bookkeeping
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if item.get_closest_marker("netns") is None:
        return
    if report.when == "call" and not report.skipped:
        _netns_ran += 1
    if _IN_CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"namespace test skipped under CI=true: {report.longrepr}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    selected = session.config.getoption("-m") or ""
    if _IN_CI and "not netns" not in selected and _netns_ran == 0 and session.testscollected:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nCI=true but no namespace (netns) test ran: failing the run.")
