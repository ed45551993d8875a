"""The control socket: a local request/response channel between `vrrpd status` (and friends) and the daemon.

Protocol: a stream AF_UNIX socket; the client sends one JSON object on one line (``{"command":
"status"}``), the daemon answers one JSON object on one line (``{"ok": true, "result": ...}`` or
``{"ok": false, "error": "..."}``) and closes. A stream socket (``asyncio.start_unix_server``) rather than
datagrams: replies grow with the number of instances past any comfortable datagram size, and each
connection carries its peer's credentials (SO_PEERCRED), checked before anything is read.

Owns: the socket file's lifecycle (directory created 0755 if missing, a stale socket replaced, the file
0600, unlinked at exit if it is still ours), the peer check (root or the daemon's own user), framing and
bounds (request size, read timeout), and the blocking client used by the CLI. What a command does is the
caller's business: the server is given a handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from vrrpd import logs

log = logs.get_logger("vrrpd.ops.control")

MAX_REQUEST = 64 * 1024  # a request is a command name and a few arguments
MAX_RESPONSE = 64 * 1024 * 1024  # status of hundreds of instances still fits
READ_TIMEOUT = 5.0
DEFAULT_TIMEOUT = 5.0
_BATCH = 16 * 1024  # characters of an `Encoded` answer per write
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class ControlError(Exception):
    """The control socket could not be set up or reached; str() is one line for the operator."""


class CommandError(Exception):
    """A command failed in a way the client should be told about (becomes ``{"ok": false}``)."""


class Encoded:
    """A handler's result already encoded: compact JSON text in pieces, sent as they are.

    A large answer (the status of hundreds of instances) then never exists as one object tree, one
    string and its bytes at once: the pieces go to the socket in batches (`ControlServer._reply`)."""

    __slots__ = ("pieces",)

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process on the other end of a connected AF_UNIX socket (SO_PEERCRED)."""
    _pid, uid, _gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return int(uid)


def _answers(path: Path) -> bool:
    """Whether something is listening on the socket at `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class ControlServer:
    """The daemon side. `start()` binds, `close()` stops and unlinks; `handler` answers each request."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._inode: tuple[int, int] | None = None
        self.allowed_uids = frozenset({0, os.geteuid()})
        self.refused = 0

    async def start(self) -> None:
        """Create the directory if needed, replace a stale socket, listen. Raises ControlError."""
        path = self.path
        try:
            if not path.parent.exists():
                path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            self._clear_stale(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                # umask around bind: the file is created 0600, with no window in which others may connect.
                old_umask = os.umask(0o177)
                try:
                    sock.bind(str(path))
                finally:
                    os.umask(old_umask)
                os.chmod(path, 0o600)
                st = os.stat(path)
                self._inode = (st.st_dev, st.st_ino)
                sock.listen(16)
                sock.setblocking(False)
                self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_REQUEST)
            except BaseException:
                sock.close()
                raise
        except OSError as exc:
            raise ControlError(f"control socket {path}: {exc.strerror or exc}") from exc

    @staticmethod
    def _clear_stale(path: Path) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ControlError(f"control socket {path}: exists and is not a socket; not removing it")
        if _answers(path):
            raise ControlError(
                f"control socket {path}: another vrrpd is answering on it "
                "(set a distinct [global] control_socket per daemon)"
            )
        path.unlink()
        log.info("control_socket_stale_removed", path=str(path))

    async def close(self) -> None:
        """Stop listening and unlink the socket file if it is still the one we created."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        if self._inode is not None:
            with contextlib.suppress(OSError):
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) == self._inode:  # never unlink a successor's socket
                    self.path.unlink()
            self._inode = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            sock = writer.get_extra_info("socket")
            uid = peer_uid(sock) if sock is not None else -1
            if uid not in self.allowed_uids:
                self.refused += 1
                log.warning("control_refused", uid=uid, path=str(self.path))
                await self._reply(writer, {"ok": False, "error": f"permission denied for uid {uid}"})
                return
            try:
                line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
            except (TimeoutError, ValueError, asyncio.LimitOverrunError):
                await self._reply(writer, {"ok": False, "error": "no request line (or longer than 64 KiB)"})
                return
            await self._reply(writer, await self._answer(line))
        except (ConnectionError, OSError):
            pass  # the client went away: nothing to tell it
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except ValueError:
            return {"ok": False, "error": "the request is not a JSON object on one line"}
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            return {"ok": False, "error": 'the request needs a "command" string'}
        try:
            return {"ok": True, "result": await self._handler(request)}
        except CommandError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bug in a handler must not take the daemon down
            log.exception("control_command_failed", command=request["command"])
            return {"ok": False, "error": f"internal error: {exc!r}"}

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        result = message.get("result")
        if not isinstance(result, Encoded):
            writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
            await writer.drain()
            return
        # The same line as json.dumps would write, in batches of about _BATCH characters: written
        # without awaiting in between (the transport sends what the socket takes at once and keeps
        # the rest), then drained once.
        batch = ['{"ok":true,"result":']
        size = 0
        for piece in result.pieces:
            batch.append(piece)
            size += len(piece)
            if size >= _BATCH:
                writer.write("".join(batch).encode())
                batch, size = [], 0
        batch.append("}\n")
        writer.write("".join(batch).encode())
        await writer.drain()


def request(path: str | Path, command: str, timeout: float = DEFAULT_TIMEOUT, **args: Any) -> Any:
    """Client side (blocking): send one command, return its result.

    Raises ControlError (cannot connect, no answer, malformed answer; str() is one line) or CommandError
    (the daemon answered with an error).
    """
    message = json.dumps({"command": command, **args}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            # The daemon may refuse us (SO_PEERCRED) before reading: its answer, still readable, says why.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(message)
            chunks: list[bytes] = []
            size = 0
            while not chunks or not chunks[-1].endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE:
                    raise ControlError(f"the answer from {path} is larger than {MAX_RESPONSE} bytes")
        except TimeoutError:
            raise ControlError(f"no answer from {path} within {timeout:g}s") from None
        except OSError as exc:
            raise ControlError(f"{exc.strerror or exc}") from None
    try:
        answer = json.loads(b"".join(chunks))
    except ValueError:
        raise ControlError(f"the daemon at {path} sent a malformed answer") from None
    if not isinstance(answer, dict) or "ok" not in answer:
        raise ControlError(f"the daemon at {path} sent a malformed answer")
    if not answer["ok"]:
        raise CommandError(str(answer.get("error", "unknown error")))
    return answer.get("result")
