"""Conflict detection in virtual time: each kind from both sides (traffic that must and must not raise it)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from vrrpd.protocol.conflicts import MAX_TRACKED, ConflictDetector, ConflictKind
from vrrpd.protocol.packet import VRRP_MULTICAST, Advertisement, DropReason, Received

OURS = (IPv4Address("192.0.2.100"),)
A = IPv4Address("192.0.2.11")
B = IPv4Address("192.0.2.12")
F = IPv4Address("192.0.2.21")  # a router of another cluster


def rx(
    src: IPv4Address, priority: int = 100, vips: tuple[IPv4Address, ...] = OURS, advert_int: int = 1
) -> Received:
    return Received(Advertisement(51, priority, vips, advert_int=advert_int), src, VRRP_MULTICAST, 255)


def kinds(det: ConflictDetector) -> list[tuple[str, IPv4Address | IPv6Address]]:
    return [(c.kind.value, c.source) for c in det.active()]


def test_vip_mismatch_reported_once_per_episode_and_cleared() -> None:
    det = ConflictDetector(1, owner=False, vips=OURS)
    foreign = rx(F, vips=(IPv4Address("192.0.2.200"),))
    events = det.observe(0.0, foreign, DropReason.ADDRESS_MISMATCH)
    assert [(e.conflict.kind, e.detected) for e in events] == [(ConflictKind.VIP_MISMATCH, True)]
    assert "192.0.2.200" in events[0].conflict.detail and "192.0.2.100" in events[0].conflict.detail
    for t in (1.0, 2.0, 3.0):  # repeated sightings: no new event, the count grows
        assert [
            e
            for e in det.observe(t, foreign, DropReason.ADDRESS_MISMATCH)
            if e.detected and e.conflict.kind is ConflictKind.VIP_MISMATCH
        ] == []
    assert det.active()[0].adverts == 4
    assert det.detected["vip_mismatch"] == 1
    assert det.deadline == 3.0 + det.clear_after
    assert det.expire(3.0 + det.clear_after - 0.001) == []
    cleared = det.expire(3.0 + det.clear_after)
    assert {e.conflict.kind for e in cleared} >= {ConflictKind.VIP_MISMATCH}
    assert all(not e.detected for e in cleared)
    assert det.active() == [] and det.deadline is None


def test_matching_adverts_from_our_master_raise_nothing() -> None:
    det = ConflictDetector(1, owner=False, vips=OURS)
    for t in range(20):
        assert det.observe(float(t), rx(A), None) == []
    assert det.active() == []


def test_config_mismatch_names_what_differs() -> None:
    det = ConflictDetector(1, owner=False, vips=OURS)
    (event,) = det.observe(0.0, rx(F, advert_int=3), DropReason.INTERVAL_MISMATCH)
    assert event.conflict.kind is ConflictKind.CONFIG_MISMATCH and "3s, ours 1s" in event.conflict.detail
    (event,) = det.observe(0.0, rx(B), DropReason.AUTH_MISMATCH)
    assert "password" in event.conflict.detail


def test_own_packets_are_ignored() -> None:
    det = ConflictDetector(1, owner=True, vips=OURS)
    assert det.observe(0.0, rx(A, priority=255), DropReason.OWN_PACKET) == []


def test_second_master_while_we_are_master_persisting_beyond_one_interval() -> None:
    det = ConflictDetector(1, owner=False, vips=OURS)
    det.set_master(0.0, True)
    foreign = rx(F, vips=(IPv4Address("192.0.2.200"),))
    # Its first advert and one a full interval later: not yet "beyond one interval".
    det.observe(0.5, foreign, DropReason.ADDRESS_MISMATCH)
    det.observe(1.5, foreign, DropReason.ADDRESS_MISMATCH)
    assert (ConflictKind.SECOND_MASTER.value, F) not in kinds(det)
    events = det.observe(2.5, foreign, DropReason.ADDRESS_MISMATCH)
    assert [e.conflict.kind for e in events] == [ConflictKind.SECOND_MASTER]
    assert "while we are MASTER" in events[0].conflict.detail


def test_a_lower_priority_master_that_steps_down_is_no_conflict() -> None:
    det = ConflictDetector(1, owner=False, vips=OURS)
    det.set_master(0.0, True)
    assert det.observe(5.0, rx(B, priority=50), None) == []  # we answer; it becomes backup, silent
    assert det.observe(30.0, rx(B, priority=50), None) == []  # much later: a new stretch, one advert
    assert det.active() == []


def test_handover_seen_by_a_backup_is_no_conflict() -> None:
    det = ConflictDetector(1, owner=False, vips=OURS)
    for t in range(5):
        det.observe(float(t), rx(A), None)
    # A is preempted by B: A's last advert at 4.0, B's first at 4.3, then B alone.
    for t in range(10):
        assert det.observe(4.3 + t, rx(B, priority=150), None) == []
    # Graceful: priority 0 from A ends its stretch at once.
    det2 = ConflictDetector(1, owner=False, vips=OURS)
    det2.observe(0.0, rx(A), None)
    det2.observe(0.9, rx(A, priority=0), None)
    for t in range(5):
        assert det2.observe(1.0 + t, rx(B), None) == []


def test_two_masters_seen_by_a_backup() -> None:
    det = ConflictDetector(1, owner=False, vips=OURS)
    events = []
    for t in range(4):
        events += det.observe(float(t), rx(A), None)
        events += det.observe(t + 0.5, rx(F, vips=(IPv4Address("192.0.2.200"),)), DropReason.ADDRESS_MISMATCH)
    second = [e.conflict for e in events if e.conflict.kind is ConflictKind.SECOND_MASTER]
    assert {c.source for c in second} == {A, F}
    assert "two masters" in second[0].detail


def test_duplicate_owner_only_when_we_are_the_owner() -> None:
    owner = ConflictDetector(1, owner=True, vips=OURS)
    (event,) = [e for e in owner.observe(0.0, rx(B, priority=255), None) if e.detected]
    assert event.conflict.kind is ConflictKind.DUPLICATE_OWNER
    plain = ConflictDetector(1, owner=False, vips=OURS)
    assert plain.observe(0.0, rx(B, priority=255), None) == []


def test_memory_is_bounded_under_a_spoofed_flood() -> None:
    det = ConflictDetector(1, owner=False, vips=OURS)
    for i in range(3 * MAX_TRACKED):
        src = IPv4Address(int(IPv4Address("198.51.100.0")) + i)
        det.observe(0.001 * i, rx(src, vips=()), DropReason.ADDRESS_MISMATCH)
    assert len(det.active()) <= MAX_TRACKED
    assert len(det._runs) <= MAX_TRACKED


def test_the_same_source_object_or_an_equal_one_continues_one_run() -> None:
    # The steady state matches the last source by identity (a cached decoding is the same object);
    # an equal address in another object, or a source that left and came back, must behave the same.
    det = ConflictDetector(1, owner=False, vips=OURS)
    same = rx(A)
    for t in range(3):
        det.observe(float(t), same, None)
    det.observe(3.0, rx(IPv4Address(str(A))), None)
    assert len(det._runs) == 1 and det._runs[A].first == 0.0 and det._runs[A].last == 3.0
    det.observe(3.5, rx(A, priority=0), None)  # leaves: its run ends
    assert det._runs == {}
    det.observe(4.0, same, None)
    assert det._runs[A].first == 4.0
    det.observe(4.0 + det.clear_after, same, None)  # silent too long: a new run, found by identity
    assert det._runs[A].first == 4.0 + det.clear_after
    # A second master alongside still shows up while the first source keeps its fast path.
    events = []
    for t in range(4):
        events += det.observe(10.0 + t, same, None)
        events += det.observe(10.5 + t, rx(B), None)
    assert {e.conflict.source for e in events if e.conflict.kind is ConflictKind.SECOND_MASTER} == {A, B}


def test_a_router_of_another_version_on_our_vrid_is_a_named_conflict() -> None:
    det = ConflictDetector(1, owner=False, vips=OURS)
    v3 = Received(Advertisement(51, 100, OURS, advert_int=100, version=3), F, VRRP_MULTICAST, 255)
    events = det.observe(0.0, v3, DropReason.BAD_VERSION)
    (event,) = [e for e in events if e.conflict.kind is ConflictKind.VERSION_MISMATCH]
    assert event.detected and event.conflict.source == F and "VRRPv3" in event.conflict.detail
    again = det.observe(1.0, v3, DropReason.BAD_VERSION)  # the same episode: counted, not reported again
    assert [e for e in again if e.conflict.kind is ConflictKind.VERSION_MISMATCH] == []
    assert det.detected["version_mismatch"] == 1
    assert [c.adverts for c in det.active() if c.kind is ConflictKind.VERSION_MISMATCH] == [2]
    # Our own version's adverts raise nothing of the kind.
    assert det.observe(2.0, rx(A), None) == []
