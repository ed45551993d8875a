"""Fuzzing the state machine's receive path and command sequences (`vrrpd.protocol.fsm.Router`).

Every byte string is a valid *program*: the first bytes choose a router configuration, the rest a sequence
of operations — time jumps (tiny, around every protocol interval, huge), timer expiries (on time, late,
early), received datagrams (well-formed adverts with chosen fields, then optionally mutated bytes, all
through `packet.decode_ipv4` as the daemon does), start, shutdown, priority changes and faults. After every
call into the router, `Harness` checks what the state machine promises its caller:

* nothing raises but documented misuse (start twice: RuntimeError; a bad priority: ValueError), and a
  refused call changes nothing;
* a decode failure is a `DropReason`; a `Received` that fails `validate_advert` comes back as exactly one
  `Dropped` carrying that reason and changes nothing at all (state, timers, master);
* the deadline is never in the past after a call (an overdue timer the call did not touch may stay);
  INIT and FAULT have no timer, MASTER is due to advertise within Advertisement_Interval, BACKUP has a
  Master_Down_Timer within Master_Down_Interval, and that timer firing makes a BACKUP the MASTER;
* VIPs are added only while MASTER, never twice, removed only when held, and held exactly while MASTER;
* state changes chain (old = the previous state, new ≠ old, the last one is `router.state`);
* adverts carry our VRID, interval, addresses and authentication; a positive priority only while MASTER
  (and it is the effective priority), priority 0 only when leaving MASTER;
* an answer to a received advert never follows another advert within `fsm.ANSWER_MIN_GAP` (a flood of
  hostile adverts cannot make us flood the segment);
* a MASTER leaves MASTER on receipt only for an accepted advert that outranks it (§6.4.3).

Run the campaign (coverage-guided with atheris/libFuzzer; `--engine random` needs nothing extra):

    .venv/bin/python fuzz/fuzz_fsm.py --runs 1000000            # ~1M programs, prints the figures
    .venv/bin/python fuzz/fuzz_fsm.py --runs 1000000 --engine random

tests/protocol/test_fsm_fuzz.py feeds the same `run_program` a few thousand programs from hypothesis in CI.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import random
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Interface
from types import ModuleType
from typing import Final, TypeVar

from vrrpd.protocol import fsm
from vrrpd.protocol.fsm import (
    ANSWER_MIN_GAP,
    AddVips,
    Dropped,
    Fault,
    RemoveVips,
    Router,
    RouterConfig,
    SendAdvert,
    SendGarp,
    State,
    StateChanged,
)
from vrrpd.protocol.packet import (
    AUTH_DATA_LEN,
    AUTH_PASS,
    PRIORITY_OWNER,
    PRIORITY_STOP,
    VRRP_MULTICAST,
    Advertisement,
    DropReason,
    IPAddress,
    Received,
    decode_ipv4,
    encode,
    internet_checksum,
)

PRIMARY: Final = IPv4Address("192.0.2.11")
LOWER_PEER: Final = IPv4Address("192.0.2.10")
HIGHER_PEER: Final = IPv4Address("192.0.2.12")
UNICAST_PEER: Final = IPv4Address("192.0.2.13")
PASSWORD: Final = "s3cr3t!!"  # noqa: S105 - a test password, on purpose
VIP_POOL: Final = tuple(IPv4Interface(f"192.0.2.{100 + i}/24") for i in range(4))
EPS: Final = 1e-9  # float slack for "within an interval" bounds
PROGRESS_EVERY: Final = 100_000
SEED_PROGRAMS: Final = 64

T = TypeVar("T")


class FuzzFailure(AssertionError):
    """An invariant of the state machine broke; the message names it and the program step."""


class Bytes:
    """Reads choices out of a byte string; once it is exhausted every read returns 0 (still a program)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def exhausted(self) -> bool:
        return self._pos >= len(self._data)

    def byte(self) -> int:
        if self._pos >= len(self._data):
            return 0
        self._pos += 1
        return self._data[self._pos - 1]

    def u16(self) -> int:
        return (self.byte() << 8) | self.byte()

    def u32(self) -> int:
        return (self.u16() << 16) | self.u16()

    def flag(self) -> bool:
        return bool(self.byte() & 1)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.byte() % len(options)]

    def take(self, n: int) -> bytes:
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk


# ---------------------------------------------------------------------------------------------------------
# Inputs


def make_config(src: Bytes) -> RouterConfig:
    """A valid configuration: every knob the state machine reads, biased toward the interesting values."""
    priority = src.pick([100, 100, 150, 254, PRIORITY_OWNER, 1, 0]) or 1 + src.byte() % 255
    return RouterConfig(
        vrid=src.pick([51, 1, 255]),
        priority=priority,
        primary_address=PRIMARY,
        vips=VIP_POOL[: 1 + src.byte() % len(VIP_POOL)],
        advert_int=src.pick([1, 1, 1, 2, 3, 255]),
        preempt=src.byte() % 4 != 0,
        preempt_delay=src.pick([0.0, 0.0, 0.5, 3.0, 1000.0]),
        auth_pass=src.pick([None, None, PASSWORD, "a"]),
        unicast_peers=src.pick([(), (), (UNICAST_PEER,), (UNICAST_PEER, HIGHER_PEER)]),
        garp_master_repeat=1 + src.byte() % 5,
        garp_master_delay=src.pick([5.0, 0.0, 0.3]),
        garp_master_refresh=src.pick([0.0, 0.0, 1.5, 60.0]),
        lower_priority_answer=src.byte() % 4 != 0,
    )


def ipv4_datagram(payload: bytes, src: IPAddress, dst: IPAddress, ttl: int = 255, proto: int = 112) -> bytes:
    """What a raw socket delivers: a 20-byte IPv4 header (checksum right) and the payload."""
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), 0, 0, ttl, proto, 0, src.packed, dst.packed
    )
    header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
    return header + payload


def make_datagram(src: Bytes, cfg: RouterConfig, priority: int) -> bytes:
    """What a peer would send — priority chosen around ours — with at most one §7.1 rule broken.

    Half the datagrams are clean, so the router's own rules (not the decoder's) get most of the inputs;
    the other half break one rule each, or have their bytes mutated.
    """
    peers = cfg.unicast_peers or (HIGHER_PEER, LOWER_PEER)
    sender = src.pick(peers)
    dst = PRIMARY if cfg.unicast_peers else VRRP_MULTICAST
    ttl, vrid, advert_int = 255, cfg.vrid, cfg.advert_int_field
    auth_type, auth_data = cfg.auth_type, cfg.auth_data
    addresses = list(cfg.vip_addresses)
    adv_prio = src.pick([priority - 1, priority, priority + 1, PRIORITY_STOP, PRIORITY_OWNER, 1, src.byte()])
    adv_prio = min(max(adv_prio, 0), 255)
    broken = src.byte() % 32
    match broken:
        case 0:
            sender = PRIMARY  # our own advert looped back
        case 1:
            sender = IPv4Address(src.u32())
        case 2:
            dst = src.pick([VRRP_MULTICAST, PRIMARY, IPv4Address(src.u32())])
        case 3:
            ttl = src.byte()
        case 4:
            vrid = 1 + src.byte() % 255
        case 5:
            advert_int = src.byte()
        case 6:
            auth_type = src.byte()
        case 7:
            auth_data = src.take(AUTH_DATA_LEN).ljust(AUTH_DATA_LEN, b"\x00")
        case 8:
            auth_type, auth_data = AUTH_PASS, b"wrong\x00\x00\x00"
        case 9:
            addresses.reverse()  # same set, other order: must still match
        case 10:
            addresses = addresses[:-1]
        case 11:
            addresses.append(IPv4Address(src.u32()))
        case 12:
            addresses = [IPv4Address(src.u32()) for _ in range(src.byte() % 6)]
        case _:
            pass
    advert = Advertisement(
        vrid=vrid,
        priority=adv_prio,
        addresses=tuple(addresses),
        advert_int=advert_int,
        auth_type=auth_type,
        auth_data=auth_data,
    )
    datagram = bytearray(ipv4_datagram(encode(advert), sender, dst, ttl))
    for _ in range(1 + src.byte() % 4 if 13 <= broken <= 15 else 0):  # mutated bytes
        at = src.u16() % (len(datagram) + 1)
        match src.byte() % 4:
            case 0 if at < len(datagram):
                datagram[at] ^= 1 << (src.byte() % 8)
            case 1:
                del datagram[at:]
            case 2:
                datagram[at:at] = src.take(1 + src.byte() % 8)
            case _ if at < len(datagram):
                datagram[at] = src.byte()
    return bytes(datagram)


# ---------------------------------------------------------------------------------------------------------
# The harness: drive one router, check every promise after every call


@dataclasses.dataclass
class Stats:
    """What the programs exercised, summed over a campaign."""

    programs: int = 0
    calls: int = 0
    received: int = 0
    accepted: int = 0
    decode_drops: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    fsm_drops: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    transitions: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    misuse_refused: int = 0

    def merge(self, other: Stats) -> None:
        self.programs += other.programs
        self.calls += other.calls
        self.received += other.received
        self.accepted += other.accepted
        self.decode_drops.update(other.decode_drops)
        self.fsm_drops.update(other.fsm_drops)
        self.transitions.update(other.transitions)
        self.misuse_refused += other.misuse_refused


class Harness:
    """One router, a monotonic clock, and the caller's view of what it holds."""

    def __init__(self, cfg: RouterConfig, stats: Stats) -> None:
        self.cfg = cfg
        self.router = Router(cfg)
        self.now = 1000.0
        self.state = State.INIT
        self.held = False
        self.last_advert: float | None = None
        self.stats = stats
        self.step = 0

    def fail(self, what: str) -> FuzzFailure:
        r = self.router
        return FuzzFailure(
            f"step {self.step} at now={self.now!r}: {what} "
            f"[state={r.state.value} priority={r.priority} deadline={r.deadline!r} faults={r.faults}]"
        )

    # -- calls ------------------------------------------------------------------------------------------

    def call(self, name: str, fn: Callable[[], list[fsm.Action]], received: Received | None = None) -> None:
        r = self.router
        before = (r.state, r.deadline, r.master_address, r.priority, frozenset(r.faults))
        timers_before = timers(r)
        was_master = r.state is State.MASTER
        self.stats.calls += 1
        try:
            actions = fn()
        except Exception as exc:  # anything reaching here is a bug: misuse is generated elsewhere
            raise self.fail(f"{name} raised {exc!r}") from exc
        if not isinstance(actions, list):
            raise self.fail(f"{name} returned {actions!r}, not a list of actions")
        if received is not None:
            self._check_receive(received, actions, before, was_master)
        self._apply(name, actions, was_master, from_receive=received is not None)
        self._check_timers(name, timers_before)

    def _check_receive(
        self,
        received: Received,
        actions: list[fsm.Action],
        before: tuple[State, float | None, IPAddress | None, int, frozenset[Fault]],
        was_master: bool,
    ) -> None:
        cfg, r = self.cfg, self.router
        verdict = cfg.validate(received)
        after = (r.state, r.deadline, r.master_address, r.priority, frozenset(r.faults))
        if verdict is not None:
            self.stats.fsm_drops[verdict.value] += 1
            if actions != [Dropped(verdict, received.source, received.advert)]:
                raise self.fail(f"advert failing {verdict.value} gave {actions!r}, not one Dropped")
            if after != before:
                raise self.fail(f"a dropped advert ({verdict.value}) changed the router: {before} -> {after}")
            return
        self.stats.accepted += 1
        if any(isinstance(a, Dropped) for a in actions):
            raise self.fail(f"an acceptable advert was dropped: {actions!r}")
        adv = received.advert
        if was_master and r.state is not State.MASTER:
            outranks = adv.priority > before[3] or (
                adv.priority == before[3] and int(received.source) > int(cfg.primary_address)
            )
            if adv.priority == PRIORITY_STOP or not outranks:
                raise self.fail(f"MASTER stepped down for an advert that does not outrank it: {adv!r}")
        if (
            r.state is State.BACKUP
            and before[0] is State.BACKUP
            and adv.priority != PRIORITY_STOP
            and adv.priority >= r.priority
            and r.master_address != received.source
        ):
            raise self.fail(f"BACKUP heard master {received.source} but records {r.master_address}")

    def _apply(self, name: str, actions: list[fsm.Action], was_master: bool, from_receive: bool) -> None:
        cfg, r = self.cfg, self.router
        for i, action in enumerate(actions):
            match action:
                case StateChanged(old=old, new=new):
                    if old is not self.state or new is old:
                        raise self.fail(f"{name}: StateChanged {old.value}->{new.value}, was {self.state}")
                    self.state = new
                    self.stats.transitions[f"{old.value}->{new.value}"] += 1
                case AddVips(vips=vips):
                    if self.state is not State.MASTER:
                        raise self.fail(f"{name}: AddVips while {self.state.value}")
                    if self.held:
                        raise self.fail(f"{name}: AddVips while already holding them")
                    if vips != cfg.vips:
                        raise self.fail(f"{name}: AddVips {vips} is not the configured {cfg.vips}")
                    self.held = True
                case RemoveVips(vips=vips):
                    if not self.held:
                        raise self.fail(f"{name}: RemoveVips while not holding them")
                    if vips != cfg.vips:
                        raise self.fail(f"{name}: RemoveVips {vips} is not the configured {cfg.vips}")
                    self.held = False
                case SendAdvert(advert=adv):
                    # A new master's first advert comes just before its StateChanged (fsm: "the advert
                    # goes first"), so it is judged as sent by a MASTER.
                    nxt = actions[i + 1] if i + 1 < len(actions) else None
                    becoming = isinstance(nxt, StateChanged) and nxt.new is State.MASTER
                    self._check_advert_sent(name, adv, was_master, from_receive, becoming)
                case SendGarp(addresses=addresses, count=count):
                    if self.state is not State.MASTER or addresses != cfg.vip_addresses or count < 1:
                        raise self.fail(f"{name}: {action!r} while {self.state.value}")
                case Dropped():
                    if not from_receive:
                        raise self.fail(f"{name}: Dropped from a call that received nothing")
        if self.state is not r.state:
            raise self.fail(f"{name}: the last StateChanged says {self.state.value}")
        if self.held != (r.state is State.MASTER):
            raise self.fail(f"{name}: holds VIPs={self.held} in state {r.state.value}")

    def _check_advert_sent(
        self, name: str, adv: Advertisement, was_master: bool, from_receive: bool, becoming_master: bool
    ) -> None:
        cfg, r = self.cfg, self.router
        expected = dataclasses.replace(adv, priority=0)
        ours = Advertisement(
            vrid=cfg.vrid,
            priority=0,
            addresses=cfg.vip_addresses,
            advert_int=cfg.advert_int_field,
            auth_type=cfg.auth_type,
            auth_data=cfg.auth_data,
        )
        if expected != ours:
            raise self.fail(f"{name}: advert {adv!r} does not carry our configuration")
        if adv.priority == PRIORITY_STOP:
            if not was_master or r.state is State.MASTER:
                raise self.fail(f"{name}: priority-0 advert without leaving MASTER")
        elif (self.state is not State.MASTER and not becoming_master) or adv.priority != r.priority:
            raise self.fail(f"{name}: advert priority {adv.priority} while {self.state.value}/{r.priority}")
        if from_receive and self.last_advert is not None and self.now - self.last_advert < ANSWER_MIN_GAP:
            raise self.fail(f"{name}: answered {self.now - self.last_advert:.4f}s after the last advert")
        self.last_advert = self.now

    def _check_timers(self, name: str, before: tuple[float | None, ...]) -> None:
        r, now = self.router, self.now
        deadline = r.deadline
        # No call sets a timer at or before `now`; a timer already overdue that the call left alone may stay
        # (the daemon's timer callback runs right after). on_timer runs every due timer: none may remain.
        for label, old, new in zip(TIMER_NAMES, before, timers(r), strict=True):
            if new is not None and new <= now and (name == "on_timer" or new != old):
                raise self.fail(f"{name}: {label} at {new!r} is not after now")
        pending = [t for t in before if t is not None]
        min_before = min(pending) if pending else None
        match r.state:
            case State.INIT | State.FAULT:
                if deadline is not None:
                    raise self.fail(f"{name}: {r.state.value} with a timer at {deadline!r}")
            case State.MASTER:
                if deadline is None or (
                    deadline > now + self.cfg.advert_int + EPS and deadline != min_before
                ):
                    raise self.fail(f"{name}: MASTER next due at {deadline!r}")
            case State.BACKUP:
                bound = 3 * self.cfg.advert_int + 1  # Master_Down_Interval at the lowest priority
                if deadline is None or (deadline > now + bound + EPS and deadline != min_before):
                    raise self.fail(f"{name}: BACKUP Master_Down_Timer at {deadline!r}")

    # -- operations -------------------------------------------------------------------------------------

    def op_timer(self, at: float) -> None:
        r = self.router
        self.now = max(self.now, at)
        was_backup, due = r.state is State.BACKUP, r.deadline is not None and r.deadline <= self.now
        self.call("on_timer", lambda: r.on_timer(self.now))
        if was_backup and due and r.state is not State.MASTER:
            raise self.fail("BACKUP's Master_Down_Timer fired but it is not MASTER")

    def op_receive(self, datagram: bytes) -> None:
        self.stats.received += 1
        decoded = decode_ipv4(datagram)
        if isinstance(decoded, DropReason):
            self.stats.decode_drops[decoded.value] += 1
            return
        if not isinstance(decoded, Received):
            raise self.fail(f"decode_ipv4 returned {decoded!r}")
        self.call("receive", lambda: self.router.receive(self.now, decoded), received=decoded)

    def op_start(self) -> None:
        r = self.router
        if r.state is not State.INIT:
            self._refused("start", lambda: r.start(self.now), RuntimeError)
            return
        self.call("start", lambda: r.start(self.now))

    def op_shutdown(self) -> None:
        self.call("shutdown", lambda: self.router.shutdown(self.now))

    def op_priority(self, wanted: int) -> None:
        r = self.router
        owner = self.cfg.priority == PRIORITY_OWNER
        if not 1 <= wanted <= 255 or owner != (wanted == PRIORITY_OWNER):
            self._refused("set_priority", lambda: r.set_priority(self.now, wanted), ValueError)
            return
        self.call("set_priority", lambda: r.set_priority(self.now, wanted))
        if r.priority != wanted:
            raise self.fail(f"set_priority({wanted}) left priority {r.priority}")

    def op_fault(self, fault: Fault, active: bool) -> None:
        r = self.router
        self.call("set_fault", lambda: r.set_fault(self.now, fault, active))
        if r.state is not State.INIT and (r.state is State.FAULT) != bool(r.faults):
            raise self.fail(f"faults {r.faults} but state {r.state.value}")

    def _refused(self, name: str, fn: Callable[[], list[fsm.Action]], error: type[Exception]) -> None:
        r = self.router
        before = (r.state, r.deadline, r.master_address, r.priority, frozenset(r.faults))
        try:
            fn()
        except error:
            self.stats.misuse_refused += 1
        else:
            raise self.fail(f"{name}: misuse was not refused with {error.__name__}")
        if (r.state, r.deadline, r.master_address, r.priority, frozenset(r.faults)) != before:
            raise self.fail(f"{name}: a refused call changed the router")


TIMER_NAMES: Final = ("Master_Down_Timer", "Adver_Timer", "GARP delay", "GARP refresh")


def timers(router: Router) -> tuple[float | None, ...]:
    """The router's four timers. White-box on purpose: `deadline` alone cannot say which one is overdue."""
    return (
        router._master_down_at,
        router._adver_at,
        router._garp_at,
        router._refresh_at,
    )


def time_step(src: Bytes, cfg: RouterConfig, router: Router) -> float:
    """A jump of the clock: nothing, a hair, or just around one of the protocol's intervals."""
    mdi = router.master_down_interval
    choices = [
        0.0,
        1e-6,
        ANSWER_MIN_GAP - 1e-6,
        ANSWER_MIN_GAP,
        router.skew_time,
        float(cfg.advert_int),
        cfg.advert_int - 1e-6,
        mdi - 1e-6,
        mdi,
        mdi + 1e-6,
        cfg.preempt_delay,
        cfg.garp_master_delay,
        86_400.0,
    ]
    if src.flag():
        return src.u16() / 1000.0  # 0..65 s in ms steps
    return src.pick(choices)


def run_program(data: bytes, stats: Stats | None = None) -> Stats:
    """Interpret `data` as one program against one router; raise FuzzFailure if a promise breaks."""
    stats = stats if stats is not None else Stats()
    src = Bytes(data)
    cfg = make_config(src)
    h = Harness(cfg, stats)
    stats.programs += 1
    if src.byte() % 8:
        h.op_start()  # most programs begin like the daemon does
    for step in range(256):  # bounded: a program is at most 256 operations
        if src.exhausted:
            break
        h.step = step
        r = h.router
        match src.byte() % 16:
            case 0 | 1:
                h.now += time_step(src, cfg, r)
            case 2 | 3:
                late = src.pick([0.0, 0.0, 0.001, 0.5, 5.0])
                h.op_timer((r.deadline if r.deadline is not None else h.now) + late)
            case 4:
                h.op_timer(h.now)  # early or spurious wake-up
            case 5 | 6 | 7 | 8 | 9:
                h.op_receive(make_datagram(src, cfg, r.priority))
            case 10:
                h.op_receive(src.take(src.byte()))  # raw bytes off the wire
            case 11:
                h.op_start()
            case 12:
                h.op_shutdown()
            case 13:
                h.op_priority(src.pick([r.priority - 1, r.priority + 1, 1, 254, 255, 0, 256, src.byte()]))
            case 14 | 15:
                h.op_fault(src.pick([Fault.INTERFACE, Fault.CHECK]), src.flag())
    return stats


# ---------------------------------------------------------------------------------------------------------
# The campaign


def report(stats: Stats, seconds: float, engine: str) -> str:
    rate = stats.programs / seconds if seconds else 0.0
    lines = [
        f"engine={engine} programs={stats.programs} seconds={seconds:.1f} programs/s={rate:.0f}",
        f"router calls={stats.calls} datagrams={stats.received} accepted by the router={stats.accepted}"
        f" misuse refused={stats.misuse_refused}",
        "decode drops: " + ", ".join(f"{k}={v}" for k, v in stats.decode_drops.most_common()),
        "fsm drops: " + ", ".join(f"{k}={v}" for k, v in stats.fsm_drops.most_common()),
        "transitions: " + ", ".join(f"{k}={v}" for k, v in sorted(stats.transitions.items())),
    ]
    return "\n".join(lines)


def _random_campaign(runs: int, seed: int, max_len: int) -> Stats:
    rng = random.Random(seed)
    stats = Stats()
    for _ in range(runs):
        run_program(rng.randbytes(rng.randrange(max_len + 1)), stats)
    return stats


def _instrument(modules: Sequence[ModuleType]) -> int:
    """Give libFuzzer coverage feedback from these modules' functions and methods (patched in place)."""
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415 - optional

    done = 0
    for module in modules:
        for obj in list(vars(module).values()):
            if getattr(obj, "__module__", None) != module.__name__:
                continue  # imported names are instrumented (or not) where they are defined
            members = vars(obj).values() if isinstance(obj, type) else [obj]
            for member in members:
                func_or_prop = member.__func__ if isinstance(member, staticmethod | classmethod) else member
                if isinstance(func_or_prop, property):
                    funcs = [func_or_prop.fget, func_or_prop.fset]
                else:
                    funcs = [func_or_prop]
                for func in funcs:
                    if hasattr(func, "__code__"):
                        atheris.instrument_func(func)
                        done += 1
    return done


def _atheris_campaign(runs: int, seed: int, max_len: int, corpus: str | None) -> Stats:
    import atheris  # noqa: PLC0415 - optional: only this campaign needs it

    from vrrpd.protocol import packet  # noqa: PLC0415 - fsm is imported above; packet only matters here

    # Only the code under test: instrumenting the harness too would triple the cost of every run.
    print(f"instrumented {_instrument([packet, fsm])} functions", file=sys.stderr)
    stats = Stats()
    started = time.monotonic()

    def target(data: bytes) -> None:
        run_program(data, stats)
        # libFuzzer ends the process with exit() once -runs is reached, so the report is printed here.
        if stats.programs % PROGRESS_EVERY == 0 or stats.programs == runs:
            print(report(stats, time.monotonic() - started, "atheris"), flush=True)

    if corpus is None:
        corpus = tempfile.mkdtemp(prefix="vrrpd-fuzz-fsm-")
    os.makedirs(corpus, exist_ok=True)
    if not os.listdir(corpus):
        # Seed with random full-length programs: libFuzzer alone starts from 1-byte inputs and would spend
        # its first hundred thousand runs on programs too short to reach MASTER and back.
        rng = random.Random(seed)
        for i in range(SEED_PROGRAMS):
            with open(os.path.join(corpus, f"seed-{i:03d}"), "wb") as f:
                f.write(rng.randbytes(rng.randrange(64, max_len + 1)))
    argv = [
        sys.argv[0],
        f"-runs={runs}",
        f"-seed={seed}",
        f"-max_len={max_len}",
        "-print_final_stats=1",
        corpus,
    ]
    atheris.Setup(argv, target)
    atheris.Fuzz()
    return stats  # not reached: libFuzzer exits


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1_000_000, help="programs to run (default 1,000,000)")
    parser.add_argument("--engine", choices=("atheris", "random"), default="atheris")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-len", type=int, default=512, help="longest program in bytes")
    parser.add_argument(
        "--corpus", default=None, help="atheris: corpus directory to read and grow (default: a new temp dir)"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.engine == "atheris":
        stats = _atheris_campaign(args.runs, args.seed, args.max_len, args.corpus)
    else:
        stats = _random_campaign(args.runs, args.seed, args.max_len)
    print(report(stats, time.monotonic() - started, args.engine), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
