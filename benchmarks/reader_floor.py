"""The floor of a Python receive path: CPU per datagram of an asyncio reader that does nothing else.

`python -m benchmarks.reader_floor` sends 200 UDP datagrams per second on loopback, 60 µs apart (the shape of
a master's adverts for 200 instances: back to back, each `sendto()` costing tens of µs), and measures the
CPU that a receiving event loop spends per datagram when its callback only drains the socket — with one
wake-up per datagram, and with the read coalescing of `vrrpd.kernel.vrrp_socket` (`LINGER`) at 1 and 2 ms.
keepalived's backup spends ~13 µs per advert in all (section 4 of docs/benchmarks.md); a figure above that
here means no amount of work saved in vrrpd's own callbacks can reach it at that wake-up rate.
Reports, never asserts; loopback only, no namespaces, no root needed.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import subprocess
import sys
import time

RATE = 200  # datagrams per second, sent in one burst per second
GAP = 60e-6  # seconds between two datagrams of a burst


def send(port: int, seconds: float) -> None:
    """The sender (run in a child process): RATE datagrams per second, GAP apart, for `seconds`."""
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.monotonic()
        for _ in range(RATE):
            out.sendto(b"x" * 40, ("127.0.0.1", port))
            spin_until = time.monotonic() + GAP
            while time.monotonic() < spin_until:
                pass
        time.sleep(max(0.0, 1.0 - (time.monotonic() - start)))


async def _receive(sock: socket.socket, seconds: float, linger: float) -> tuple[int, int, float]:
    loop = asyncio.get_running_loop()
    fd = sock.fileno()
    count = wakes = 0
    last = -1.0

    def drain() -> int:
        nonlocal count
        for n in range(256):
            try:
                sock.recv(65535)
            except BlockingIOError:
                return n
            count += 1
        return 256

    def on_readable() -> None:
        nonlocal wakes, last
        wakes += 1
        now = loop.time()
        read = drain()
        if linger and read and now - last < linger:  # a burst: read once per `linger` until quiet
            loop.remove_reader(fd)
            loop.call_later(linger, on_linger)
        last = now

    def on_linger() -> None:
        nonlocal wakes, last
        wakes += 1
        last = loop.time()
        if drain():
            loop.call_later(linger, on_linger)
        else:
            loop.add_reader(fd, on_readable)

    loop.add_reader(fd, on_readable)
    await asyncio.sleep(1.0)  # let the first burst settle
    before, c0, w0 = resource.getrusage(resource.RUSAGE_SELF), count, wakes
    await asyncio.sleep(seconds)
    after = resource.getrusage(resource.RUSAGE_SELF)
    loop.remove_reader(fd)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return count - c0, wakes - w0, cpu


def measure(linger: float, seconds: float) -> tuple[int, int, float]:
    """(datagrams, wake-ups, CPU seconds) of a reader with `linger` over `seconds`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    port = sock.getsockname()[1]
    argv = [sys.executable, "-m", "benchmarks.reader_floor", "--send", str(port), str(seconds + 2.0)]
    sender = subprocess.Popen(argv)
    try:
        return asyncio.run(_receive(sock, seconds, linger))
    finally:
        sender.kill()
        sender.wait()
        sock.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reader_floor", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="measuring window per run (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="runs per setting (default 3)")
    p.add_argument("--send", nargs=2, metavar=("PORT", "SECONDS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.send:
        send(int(args.send[0]), float(args.send[1]))
        return 0
    print(f"{RATE} datagrams/s, {GAP * 1e6:.0f} µs apart; CPU per datagram of a draining asyncio reader")
    for linger in (0.0, 0.001, 0.002):
        for _ in range(args.repeats):
            n, wakes, cpu = measure(linger, args.seconds)
            label = "one wake-up per datagram" if not linger else f"linger {linger * 1000:g} ms"
            print(f"  {label:26} {n} datagrams, {wakes} wake-ups, {cpu / max(n, 1) * 1e6:.1f} µs/datagram")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
