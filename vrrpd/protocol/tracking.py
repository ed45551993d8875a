"""keepalived's tracked scripts: the rise/fall counter of one script and the priority it yields.

This module owns the arithmetic of keepalived 2.2's ``vrrp_script`` / ``track_script`` exactly as
keepalived computes it (``vrrp_scheduler.c: vrrp_script_child_thread``, ``vrrp_track.c:
process_script_update_priority`` and ``vrrp_set_effective_priority``), as pure functions of the
scripts' results: no clock, no processes, no logging. It does not run scripts or decide when they run.

RFC 3768 has no tracking: a router's priority is configuration (§5.3.4). Tracking is a keepalived
extension that vrrpd reproduces so that a converted keepalived.conf elects the same master:

* a script's *status* is unknown until its first result, then OK or failed, debounced by ``rise``
  consecutive successes and ``fall`` consecutive failures — except that the very first result counts
  at once either way (keepalived starts the counter at ``rise - 1``), and ``init_fail`` starts it failed;
* a tracked script with weight ``w > 0`` adds ``w`` while OK; with ``w < 0`` adds ``w`` (lowers the
  priority) while failed; ``reverse`` negates the contribution; weight 0 means the instance is in
  FAULT while the script is failed (OK with ``reverse``) or has not reported yet;
* a tracked *file* (keepalived's ``track_file``) has an integer value instead of a status: with weight
  ``w`` it adds ``value × w`` (negated with ``reverse``), at most 253, and a product of -254 or less
  holds the instance in FAULT; with weight 0 any value but 0 is FAULT (with ``reverse``: 0 is FAULT)
  (``track_file.c: process_update_vrrp_track_file_status``, ``vrrp_track.c:
  initialise_vrrp_file_tracking_priorities``);
* the effective priority is the configured one plus every contribution, clamped to 1..254; an address
  owner (255) never changes priority (RFC 3768 §5.3.4 makes 255 the owner's alone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "MAX_FILE_WEIGHT",
    "MAX_WEIGHT",
    "ScriptCounter",
    "Tracked",
    "contribution",
    "effective_priority",
    "faulted",
]

MAX_WEIGHT = 253  # keepalived: a vrrp_script weight is in [-253, 253]
MAX_FILE_WEIGHT = 254  # keepalived: a track_file / track_process weight is in [-254, 254]
# keepalived: a tracked file's term at or below this is FAULT; above, it is capped at _MAX_FILE_TERM.
_FILE_FAULT = -254
_MAX_FILE_TERM = 253
_OWNER = 255
_MAX_BACKUP_PRIORITY = 254


class ScriptCounter:
    """keepalived's rise/fall counter for one ``vrrp_script``.

    ``status`` is None until the first result, then True (OK) or False (failed). `record` feeds one
    run's result and returns the new status when it changes (the first result always does), else None.
    The counter walks 0 .. rise+fall-1: OK from ``rise`` up; a success at ``rise - 1`` turns it OK and
    jumps to the top, so ``fall`` failures are needed to turn it failed again, and a failure at or below
    ``rise`` resets it to 0, so ``rise`` successes are needed to turn it OK.
    """

    __slots__ = ("fall", "result", "rise", "status")

    def __init__(self, rise: int = 1, fall: int = 1, *, init_fail: bool = False) -> None:
        if rise < 1 or fall < 1:
            raise ValueError(f"rise and fall must be >= 1, got {rise!r}/{fall!r}")
        self.rise = rise
        self.fall = fall
        # keepalived (vrrp_init_script): "one success is enough" at start; init_fail assumes failed.
        self.result = 0 if init_fail else rise - 1
        self.status: bool | None = False if init_fail else None

    def record(self, ok: bool) -> bool | None:
        """Account one run of the script; return the new status if it changed, else None."""
        top = self.rise + self.fall - 1
        changed: bool | None = None
        if ok:
            if self.result < self.rise - 1:
                self.result += 1
            elif self.result != top:
                if self.result < self.rise:  # == rise - 1: the success that turns it OK
                    changed = True
                self.result = top
        elif self.result > self.rise:
            self.result -= 1
        else:
            if self.result == self.rise or self.status is None:
                changed = False
            self.result = 0
        if changed is None or changed == self.status:
            return None
        self.status = changed
        return changed


@dataclass(frozen=True, slots=True)
class Tracked:
    """One instance's view of a tracked object: its weight and ``reverse`` flag; ``file``: a tracked file,
    whose status is the file's integer (-254..254 weights for files and processes, ±253 for scripts)."""

    weight: int = 0
    reverse: bool = False
    file: bool = False

    def __post_init__(self) -> None:
        bound = MAX_FILE_WEIGHT if self.file else MAX_WEIGHT
        if not -bound <= self.weight <= bound:
            raise ValueError(f"weight must be in -{bound}..{bound}, got {self.weight!r}")


Status = bool | int | None  # a script's / interface's / process's OK flag, or a tracked file's value


def _file_term(tracked: Tracked, value: int) -> int | None:
    """A tracked file's term, or None for FAULT (keepalived's -254 status)."""
    if tracked.weight == 0:
        return None if (value != 0) != tracked.reverse else 0
    term = value * tracked.weight * (-1 if tracked.reverse else 1)
    return None if term <= _FILE_FAULT else min(term, _MAX_FILE_TERM)


def contribution(tracked: Tracked, status: Status) -> int:
    """What one tracked object adds to the priority (keepalived's total_priority term)."""
    weight = tracked.weight
    if tracked.file:
        return _file_term(tracked, int(status or 0)) or 0
    if status is None or weight == 0:
        return 0
    if (status and weight > 0) or (not status and weight < 0):
        return -weight if tracked.reverse else weight
    return 0


def faulted(tracked: Tracked, status: Status) -> bool:
    """True when a weight-0 script holds the instance in FAULT (failed, or not reported yet), or a
    tracked file's value does (see the module docstring)."""
    if tracked.file:
        return _file_term(tracked, int(status or 0)) is None
    if tracked.weight != 0:
        return False
    if status is None:
        return True
    return status == tracked.reverse


def effective_priority(base: int, terms: Iterable[tuple[Tracked, Status]]) -> int:
    """The priority keepalived advertises: ``base`` plus every contribution, clamped to 1..254.

    An address owner (255) keeps 255 whatever its scripts say (keepalived: vrrp_set_effective_priority).
    """
    if base == _OWNER:
        return _OWNER
    total = base + sum(contribution(tracked, status) for tracked, status in terms)
    return max(1, min(_MAX_BACKUP_PRIORITY, total))
