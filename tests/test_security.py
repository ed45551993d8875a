"""Secrets stay out of what the daemon prints (unit tests; the end-to-end check of logs, status, metrics
and check-config is tests/runtime/test_security_netns.py).

The password travels in clear on the wire (RFC 2338 simple text auth: anyone on the segment can read it),
but it must not also end up in log files, tickets and dashboards: not in a logged traceback's frame
locals, not in a repr of the router's configuration.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

import pytest
import structlog

from vrrpd import logs
from vrrpd.protocol.fsm import RouterConfig
from vrrpd.runtime.healthcheck import MINIMAL_ENV, run_program

PASSWORD = "Zq9!pW2x"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The daemon's JSON logging into a buffer; structlog and the root logger restored afterwards."""
    saved, handlers, level = (
        structlog.get_config(),
        logging.getLogger().handlers[:],
        logging.getLogger().level,
    )
    stream = io.StringIO()
    logs.configure("json", stream=stream)
    yield stream
    structlog.configure(**saved)
    logging.getLogger().handlers, logging.getLogger().level = handlers, level


def test_a_logged_traceback_does_not_carry_local_variables(json_log: io.StringIO) -> None:
    def send(auth_data: bytes) -> None:
        payload = b"\x21\x33\x64\x01\x01\x01\x00\x00\xc0\x00\x02\x64" + auth_data  # what _send_advert holds
        raise OSError(f"sendto failed for {len(payload)} bytes")

    try:
        send(PASSWORD.encode())
    except OSError:
        logs.get_logger("vrrpd.runtime.instance").exception("action_failed", instance="VI_1")
    text = json_log.getvalue()
    assert "action_failed" in text and "sendto failed" in text
    assert PASSWORD not in text


def test_router_config_repr_hides_the_password() -> None:
    cfg = RouterConfig(
        vrid=51,
        priority=100,
        primary_address=IPv4Address("192.0.2.11"),
        vips=(IPv4Interface("192.0.2.100/24"),),
        auth_pass=PASSWORD,
    )
    assert PASSWORD not in repr(cfg)


def test_instance_config_repr_hides_the_password() -> None:
    from vrrpd.config import parse_config

    text = f"""
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 100
auth_pass = "{PASSWORD}"
virtual_ipaddress = ["192.0.2.100/24"]
"""
    config = parse_config(text, "test.toml", env={})
    assert PASSWORD not in repr(config) and PASSWORD not in str(config)


def test_programs_get_argv_verbatim_and_only_the_minimal_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notify and check scripts both go through `run_program`: exec, no shell, MINIMAL_ENV."""
    out = tmp_path / "out"
    script = tmp_path / "probe.sh"
    script.write_text(f'#!/bin/sh\nfor a in "$@"; do echo "[$a]"; done > {out}\nenv >> {out}\n')
    script.chmod(0o755)
    monkeypatch.setenv("CANARY_SECRET", "do-not-leak")
    argv = [str(script), "a b", "$(touch pwned)", "; rm -rf /nonexistent", "`id`"]
    result = asyncio.run(run_program(argv, timeout=5))
    assert result.ok
    lines = out.read_text().splitlines()
    assert lines[:4] == ["[a b]", "[$(touch pwned)]", "[; rm -rf /nonexistent]", "[`id`]"]
    env = dict(line.split("=", 1) for line in lines[4:] if "=" in line)
    assert set(env) - {"PWD", "SHLVL", "_", "OLDPWD"} == set(MINIMAL_ENV)
    assert not (tmp_path / "pwned").exists()
