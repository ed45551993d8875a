"""Reading the file on reload: parsed off the event loop (adverts keep their timing), bounded in size, and
refused in one line that never echoes a secret — the same line in the log, the client's answer and
status' last_error."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest
import structlog

from tests.support.aio import run
from vrrpd.config import MAX_CONFIG_BYTES, Config, InstanceConfig, parse_config
from vrrpd.ops.control import CommandError
from vrrpd.runtime.instance import Instance
from vrrpd.runtime.reconfigure import Reloader, ReloadHost

VALID = """
[global]
router_id = "a"

[[vrrp_instance]]
name = "VI_1"
interface = "lo"
virtual_router_id = 51
virtual_ipaddress = ["192.0.2.100/24"]
"""


class Host:
    """Just enough of a running daemon for a reload that stops at reading the file."""

    def __init__(self, path: Path) -> None:
        self.config: Config = parse_config(VALID, str(path), env={})
        self.instances: list[Instance] = []
        self.running = True
        self.sd = None

    def summary(self) -> str:
        return "1 MASTER"

    async def add_instance(self, config: InstanceConfig) -> Instance:
        raise AssertionError("an invalid file must change nothing")


def reload_failure(path: Path) -> tuple[str, str, str | None]:
    """(the client's error, the reload_failed log line's error, status' last_error)."""
    reloader = Reloader(cast(ReloadHost, Host(path)))
    with structlog.testing.capture_logs() as logs, pytest.raises(CommandError) as info:
        run(reloader.reload())
    [failed] = [e for e in logs if e["event"] == "reload_failed"]
    assert reloader.stats.failed == 1 and reloader.stats.last_ok is False
    return str(info.value), failed["error"], reloader.stats.last_error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (VALID + "x = " + "{a = " * 400 + "1" + "}" * 400 + "\n", "nested deeper than 16 levels"),
        (VALID.replace('virtual_router_id = 51', 'virtual_router_id = 51\nauth_pas = "s3cr3tpw"'),
         'vrrp_instance[0].auth_pas = <hidden>: unknown key; did you mean "auth_pass"?'),
    ],
)  # fmt: skip
def test_a_refused_file_is_one_line_without_secrets_everywhere(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "vrrpd.toml"
    path.write_text(text)
    answer, logged, last_error = reload_failure(path)
    assert logged == last_error and answer == f"{logged} (the running configuration is kept)"
    assert expected in logged and "\n" not in logged and "s3cr3tpw" not in answer


def test_an_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "vrrpd.toml"
    with path.open("w") as f:
        f.write(VALID)
        f.truncate(92_000_000)  # the 92 MB of the report, sparse
    _, logged, _ = reload_failure(path)
    assert logged == f"{path}: file is 92000000 bytes; the limit is {MAX_CONFIG_BYTES} bytes (4 MiB)"


def test_parsing_a_large_file_does_not_block_the_event_loop(tmp_path: Path) -> None:
    # A file just under the bound, slow to parse (~1 s here): a task ticking every 10 ms on the loop
    # (as the advert timers do) must keep ticking. Parsed in the loop, it stalled for the whole parse.
    path = tmp_path / "vrrpd.toml"
    row = "k{} = [" + ", ".join(['"198.18.0.1"'] * 20) + "]\n"
    body = VALID + "\n[junk]\n"
    rows = (MAX_CONFIG_BYTES - len(body)) // len(row.format(999999))
    path.write_text(body + "".join(row.format(n) for n in range(rows)))
    assert path.stat().st_size <= MAX_CONFIG_BYTES

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        reloader = Reloader(cast(ReloadHost, Host(path)))
        worst = 0.0
        done = False

        async def tick() -> None:
            nonlocal worst
            last = loop.time()
            while not done:
                await asyncio.sleep(0.01)
                worst = max(worst, loop.time() - last)
                last = loop.time()

        ticker = loop.create_task(tick())
        await asyncio.sleep(0.05)  # ticking
        started = loop.time()
        with structlog.testing.capture_logs(), pytest.raises(CommandError, match="unknown key"):
            await reloader.reload()
        took = loop.time() - started
        done = True
        await ticker
        return took, worst

    took, worst = run(main(), timeout=60.0)
    assert took > 0.3  # it really was a long parse
    # In the loop, the stall was the whole parse. Off it, what is left is the machine's own scheduling
    # noise (a loaded 2-core runner), a small part of the parse.
    assert worst < max(0.25, took / 4), f"the loop stalled {worst:.3f}s during a {took:.2f}s parse"
