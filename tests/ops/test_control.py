"""The control socket: file lifecycle, framing, errors (no daemon: a handler stands in for it)."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from vrrpd.ops.control import CommandError, ControlError, ControlServer, Encoded, request


async def handler(req: dict[str, Any]) -> Any:
    if req["command"] == "echo":
        return {"got": req}
    if req["command"] == "big":  # an answer larger than a socket buffer, already encoded in pieces
        items = (f'{"," if i else ""}{{"n":{i},"pad":"{"x" * 100}"}}' for i in range(5000))
        return Encoded(["[", *items, "]"])
    if req["command"] == "boom":
        raise RuntimeError("bug")
    raise CommandError(f"unknown command {req['command']!r}")


def serve(path: Path, body: Callable[[ControlServer], Awaitable[None]]) -> None:
    async def main() -> None:
        server = ControlServer(path, handler)
        await server.start()
        try:
            await body(server)
        finally:
            await server.close()

    asyncio.run(main())


async def ask(path: Path, command: str, **args: Any) -> Any:
    return await asyncio.to_thread(request, path, command, 2.0, **args)


def test_round_trip_mode_directory_and_unlink(tmp_path: Path) -> None:
    path = tmp_path / "run" / "vrrpd" / "c.sock"

    async def body(server: ControlServer) -> None:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
        assert await ask(path, "echo", x=1) == {"got": {"command": "echo", "x": 1}}
        with pytest.raises(CommandError, match="unknown command 'nope'"):
            await ask(path, "nope")
        with pytest.raises(CommandError, match="internal error"):
            await ask(path, "boom")  # a handler bug is an answer, not a dead daemon
        assert await ask(path, "echo") == {"got": {"command": "echo"}}
        big = await ask(path, "big")
        assert [item["n"] for item in big] == list(range(5000)) and big[-1]["pad"] == "x" * 100

    serve(path, body)
    assert not path.exists()


def test_malformed_requests_get_an_error_line(tmp_path: Path) -> None:
    path = tmp_path / "c.sock"

    async def raw(data: bytes) -> bytes:
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(data)
        await writer.drain()
        line = await reader.readline()
        writer.close()
        return line

    async def body(server: ControlServer) -> None:
        assert b"not a JSON object" in await raw(b"{nope\n")
        assert b'needs a \\"command\\" string' in await raw(b"[1, 2]\n")

    serve(path, body)


def test_stale_socket_is_replaced_but_a_live_one_or_a_file_is_not(tmp_path: Path) -> None:
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()  # nobody listens: stale

    async def live_check(server: ControlServer) -> None:
        other = ControlServer(stale, handler)
        with pytest.raises(ControlError, match="another vrrpd is answering"):
            await other.start()

    serve(stale, live_check)

    regular = tmp_path / "file.sock"
    regular.write_text("precious")

    async def start_on_file() -> None:
        await ControlServer(regular, handler).start()

    with pytest.raises(ControlError, match="exists and is not a socket"):
        asyncio.run(start_on_file())
    assert regular.read_text() == "precious"


def test_a_successors_socket_is_not_unlinked(tmp_path: Path) -> None:
    path = tmp_path / "c.sock"

    async def body(server: ControlServer) -> None:
        os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))  # another daemon took the path over
        s.close()

    serve(path, body)
    assert path.exists()


def test_unreachable_daemon_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match=r"^No such file or directory$"):
        request(tmp_path / "missing.sock", "status")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(tmp_path / "dead.sock"))
    s.close()
    with pytest.raises(ControlError, match=r"^Connection refused$"):
        request(tmp_path / "dead.sock", "status")


def test_peer_check_refuses_other_users(tmp_path: Path) -> None:
    path = tmp_path / "c.sock"

    async def body(server: ControlServer) -> None:
        server.allowed_uids = frozenset({12345})  # as if we were another user than the daemon's
        with pytest.raises(CommandError, match=f"permission denied for uid {os.geteuid()}"):
            await ask(path, "echo")
        assert server.refused == 1

    serve(path, body)
