"""One daemon per (interface, VRID): the abstract-socket lock, taken, refused naming the holder, released."""

from __future__ import annotations

import os
import secrets

import pytest

from vrrpd.runtime.vrid_lock import VridLock, VridLocked, lock_name


def test_a_second_holder_is_refused_naming_the_first_then_may_take_it_once_released() -> None:
    ifname = f"h-{secrets.token_hex(4)}"  # a name no other test or daemon on this machine uses
    first = VridLock.acquire(ifname, 51)
    try:
        with pytest.raises(VridLocked) as refused:
            VridLock.acquire(ifname, 51)
        line = str(refused.value)
        assert "\n" not in line
        assert line.startswith(f"interface {ifname} VRID 51 is already run by another vrrpd on this host")
        assert f"(pid {os.getpid()}, lock @{lock_name(ifname, 51)})" in line
        other = VridLock.acquire(ifname, 52)  # another VRID on the same interface is another router
        other.release()
    finally:
        first.release()
    assert not first.held
    first.release()  # idempotent
    again = VridLock.acquire(ifname, 51)
    assert again.held
    again.release()


def test_the_lock_is_not_inherited_by_programs_we_run() -> None:
    lock = VridLock.acquire(f"h-{secrets.token_hex(4)}", 7)
    try:
        assert lock._sock is not None and not lock._sock.get_inheritable()
    finally:
        lock.release()
