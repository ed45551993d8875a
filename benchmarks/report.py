"""docs/benchmarks.md from one run's results: machine, command, tables, goals, plots."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks import goals as g
from benchmarks.bulk import BulkRun, Case
from benchmarks.daemons import IMPLS, Impl
from benchmarks.failover import Takeover, Timeline
from benchmarks.procstat import Memory
from benchmarks.scale import METRICS, Cost
from benchmarks.startup import ImportCost, Startup
from benchmarks.stats import median, ms, percentile, ratio, spread
from benchmarks.timing import AdvertTiming

# The goals of issues 16 and 17 (and the bulk goal before them); the verdicts are computed in goals.py.
GOAL_V3_WITHIN = 0.003  # v3 takeover excess over the RFC 5798 bound
GOAL_CPU_BACKUP = 0.7  # × keepalived, at 200 and at 1,000 instances
GOAL_CPU_MASTER = 0.85
GOAL_CPU_V3 = 1.0  # 50 v3 instances at 0.1 s: no more than keepalived
GOAL_RSS_RATIO = 2.0
GOAL_STARTUP = 0.100
GOAL_BULK = 0.200
BULK_TARGET = 1000


@dataclass
class Machine:
    nproc: int
    cpu: str
    kernel: str
    python: str
    keepalived: str
    commit: str

    @classmethod
    def probe(cls) -> Machine:
        cpu = "unknown"
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as info:
                cpu = next((ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), cpu)
        except OSError:
            pass
        keepalived = _first_line(["keepalived", "--version"])
        commit = _first_line(["git", "rev-parse", "--short", "HEAD"])
        return cls(
            os.cpu_count() or 0, cpu, platform.release(), platform.python_version(), keepalived, commit
        )


def _first_line(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return ((proc.stdout or proc.stderr).strip().splitlines() or ["unknown"])[0]


@dataclass
class Results:
    """Everything one run measured, with the settings and machine state it ran under."""

    command: str
    machine: Machine
    repeats: int
    timing_seconds: float
    scale_seconds: float
    windows: int = 1
    started: str = ""
    wall_seconds: float = 0.0
    loads: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # section → loadavg at start
    note: str = ""
    takeovers: list[Takeover] = field(default_factory=list)
    timelines: list[Timeline] = field(default_factory=list)
    timing: list[AdvertTiming] = field(default_factory=list)
    costs: list[Cost] = field(default_factory=list)
    # VRRPv3 at 100 ms adverts (issue 16): takeovers and the cost of V3_INSTANCES instances.
    takeovers_v3: list[Takeover] = field(default_factory=list)
    costs_v3: list[Cost] = field(default_factory=list)
    bulk: list[BulkRun] = field(default_factory=list)
    startup: list[Startup] = field(default_factory=list)
    imports: list[ImportCost] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # section → what stopped it


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _excess(t: Takeover) -> float | None:
    return None if t.first_advert is None else t.first_advert - t.bound


def _clean(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def takeover_rows(takeovers: Sequence[Takeover], kind: str) -> list[list[str]]:
    rows = []
    for old in IMPLS:
        for new in IMPLS:
            mine = [t for t in takeovers if t.kind == kind and t.old_impl == old and t.new_impl == new]
            if not mine:
                continue
            adverts = _clean([t.first_advert for t in mine])
            row = [f"{old} → **{new}**", str(len(mine))]
            if kind == "handover":
                row.append(spread(_clean([t.signal_to_p0 for t in mine])))
            row += [
                spread(adverts),
                ms(mine[0].bound),
                spread(_clean([_excess(t) for t in mine]), 2),
                _x(None if not adverts else ratio(median(adverts), mine[0].bound)),
                spread(_clean([t.first_garp for t in mine])),
                spread(_clean([t.first_reply for t in mine])),
            ]
            rows.append(row)
    return rows


def excess_of(takeovers: Sequence[Takeover], kind: str, impl: Impl) -> float | None:
    """Median excess over the bound of every takeover *by* `impl` (whoever it took over from)."""
    return median(_clean([_excess(t) for t in takeovers if t.kind == kind and t.new_impl == impl]))


def _cost(costs: Sequence[Cost], impl: str, n: int, interfaces: int | None = None) -> Cost | None:
    return next(
        (c for c in costs if c.impl == impl and c.instances == n and interfaces in (None, c.interfaces)),
        None,
    )


def _shapes(costs: Sequence[Cost]) -> list[tuple[int, int]]:
    return sorted({(c.instances, c.interfaces) for c in costs})


def _cpu_cell(values: Sequence[float], seconds: float) -> str:
    mid = median(values)
    if mid is None:
        return "–"
    text = f"{mid:.3f} ({100 * mid / seconds:.2f} %)" if seconds else f"{mid:.3f}"
    return text + (f" [{min(values):.3f}–{max(values):.3f}]" if len(values) > 1 else "")


def _ratio_cell(values: Sequence[float]) -> str:
    mid = median(values)
    if mid is None:
        return "–"
    return f"{mid:.3f}" + (f" [{min(values):.3f}–{max(values):.3f}]" if len(values) > 1 else "")


def cost_rows(costs: Sequence[Cost]) -> list[list[str]]:
    """Per shape (N, segments): each variant's median CPU per window [min–max] and memory, then the
    paired ratios vrrpd ÷ keepalived (median [min–max] over the windows) and the memory ratios."""
    rows = []
    for n, segs in _shapes(costs):
        mine = [c for c in costs if c.instances == n and c.interfaces == segs]
        k = _cost(mine, "keepalived", n)
        for c in mine:
            rows.append(
                [
                    str(n),
                    str(segs),
                    c.impl,
                    str(len(c.windows)),
                    _cpu_cell([w.master_cpu for w in c.windows], c.seconds),
                    _cpu_cell([w.backup_cpu for w in c.windows], c.seconds),
                    f"{c.master_mem.hwm:.1f} / {c.master_mem.pss:.1f}",
                    f"{c.backup_mem.hwm:.1f} / {c.backup_mem.pss:.1f}",
                    str(c.master_mem.processes),
                ]
            )
        if k is None:
            continue
        for c in mine:
            if c.impl == "keepalived":
                continue
            rows.append(
                [
                    str(n),
                    str(segs),
                    f"*ratio {c.impl}/keepalived*",
                    "",
                    _ratio_cell(
                        g.paired_ratios([w.master_cpu for w in c.windows], [w.master_cpu for w in k.windows])
                    ),
                    _ratio_cell(
                        g.paired_ratios([w.backup_cpu for w in c.windows], [w.backup_cpu for w in k.windows])
                    ),
                    _mem_ratio(c.master_mem, k.master_mem),
                    _mem_ratio(c.backup_mem, k.backup_mem),
                    "",
                ]
            )
    return rows


def _mem_ratio(a: Memory, b: Memory) -> str:
    return f"{_x(ratio(a.hwm, b.hwm))} / {_x(ratio(a.pss, b.pss))}"


def drop_rows(costs: Sequence[Cost]) -> list[list[str]]:
    """Per shape and variant: what was lost on the way into the daemons during the windows."""
    rows = []
    for n, segs in _shapes(costs):
        for c in costs:
            if c.instances != n or c.interfaces != segs:
                continue
            expected = sum(round(n * w.seconds / c.advert_int) for w in c.windows)
            sent = [w.sent for w in c.windows]
            received = [w.received for w in c.windows]
            counted = (
                f"{sum(x for x in sent if x is not None)} → {sum(x for x in received if x is not None)}"
                if None not in sent and None not in received
                else "–"
            )
            own = ", ".join(f"{k} {v}" for k, v in sorted(c.daemon_drops.items()) if v) or (
                "none" if c.impl != "keepalived" else "–"
            )
            rows.append(
                [
                    str(n),
                    str(segs),
                    c.impl,
                    f"≈ {expected}",
                    f"{sum(w.master_drops for w in c.windows)} / {sum(w.backup_drops for w in c.windows)}",
                    f"{c.drops_total[0]} / {c.drops_total[1]}",
                    str(c.backup_sockets),
                    counted,
                    own,
                ]
            )
    return rows


def _bulk_cases(runs: Sequence[BulkRun]) -> list[Case]:
    seen: list[Case] = []
    for r in runs:
        if r.case not in seen:
            seen.append(r.case)
    return seen


def bulk_rows(runs: Sequence[BulkRun]) -> list[list[str]]:
    rows = []
    for case in _bulk_cases(runs):
        mine = [r for r in runs if r.case == case]
        polls = _clean([r.poll_period for r in mine])
        rows.append(
            [
                case.impl,
                case.label,
                str(case.total),
                str(len(mine)),
                spread(_clean([r.installed for r in mine])),
                ms(median(polls)),
                spread(_clean([r.all_garped for r in mine])),
                spread(_clean([r.last_garp for r in mine])),
                f"{min(r.garped_vips for r in mine)}/{case.total}",
                str(max(r.left_behind for r in mine)),
            ]
        )
    return rows


def bulk_per_vip(runs: Sequence[BulkRun], impl: Impl) -> tuple[float | None, Case | None]:
    """Median "installed and announced" time of `impl`'s largest one-instance case (the goal's shape:
    one instance, excluded VIPs allowed; else the largest case), and that case."""
    cases = [c for c in _bulk_cases(runs) if c.impl == impl]
    if not cases:
        return None, None
    big = max(cases, key=lambda c: (c.instances == 1, c.total))
    done = [max(r.installed, r.all_garped) for r in runs if r.case == big and r.installed and r.all_garped]
    return median(done), big


def _cpu_goals(costs: Sequence[Cost], n: int, segs: int, what: str, limits: dict[str, float]) -> list[g.Goal]:
    v, k = _cost(costs, "vrrpd", n, segs), _cost(costs, "keepalived", n, segs)
    out = []
    for role, limit in limits.items():
        name = f"CPU {what}, {role}"
        if v is None or k is None:
            out.append(g.missing(name, f"≤ {limit:g} × keepalived"))
            continue
        vw = [w.master_cpu if role == "master" else w.backup_cpu for w in v.windows]
        kw = [w.master_cpu if role == "master" else w.backup_cpu for w in k.windows]
        out.append(g.cpu(name, vw, kw, limit, v.seconds))
    return out


def _role_mem(c: Cost | None, role: str) -> float | None:
    if c is None:
        return None
    return (c.master_mem if role == "master" else c.backup_mem).hwm


def _startup(items: Sequence[Startup], role: str, impl: Impl) -> float | None:
    return median(_clean([s.seconds for s in items if s.role == role and s.impl == impl]))


def goal_list(res: Results) -> list[g.Goal]:
    """Every goal of issues 16 and 17 (and the bulk goal), in the order of the sections."""
    out: list[g.Goal] = []
    limits = {"backup": GOAL_CPU_BACKUP, "master": GOAL_CPU_MASTER}
    out += _cpu_goals(res.costs, 200, 1, "at 200 instances (v2, 1 s)", limits)
    k200 = _cost(res.costs, "keepalived", 200, 1)
    for variant, label in (("vrrpd", ""), (METRICS, " with metrics_listen")):
        for role in ("master", "backup"):
            out.append(
                g.memory(
                    f"peak RSS at 200 instances{label}, {role} (keepalived: all its processes)",
                    _role_mem(_cost(res.costs, variant, 200, 1), role),
                    _role_mem(k200, role),
                    GOAL_RSS_RATIO,
                )
            )
    out += _cpu_goals(res.costs, 1000, 4, "at 1,000 instances over 4 interfaces", limits)
    for impl in IMPLS:
        c = _cost(res.costs, impl, 1000, 4)
        out.append(
            g.no_loss(
                f"1,000 instances over 4 interfaces, {impl}: no advert lost to a full receive queue",
                None if c is None else c.window_drops,
                0 if c is None else c.backup_sockets,
                "" if c is None else f"{len(c.windows)} windows, master and backup",
            )
        )
    for kind, what in (("cut", "link-cut failover"), ("handover", "graceful handover")):
        out.append(
            g.excess(
                f"v2 {what} at 1 s: excess over the bound",
                excess_of(res.takeovers, kind, "vrrpd"),
                excess_of(res.takeovers, kind, "keepalived"),
            )
        )
    interval = res.takeovers_v3[0].advert_int if res.takeovers_v3 else 0.1
    for kind, what in (("cut", "link-cut failover"), ("handover", "graceful handover")):
        out.append(
            g.excess(
                f"v3 {what} at {interval:g} s: excess over the bound",
                excess_of(res.takeovers_v3, kind, "vrrpd"),
                excess_of(res.takeovers_v3, kind, "keepalived"),
                GOAL_V3_WITHIN,
            )
        )
    n3 = res.costs_v3[0].instances if res.costs_v3 else 50
    out += _cpu_goals(
        res.costs_v3, n3, 1, f"of {n3} v3 instances at 0.1 s", {"backup": GOAL_CPU_V3, "master": GOAL_CPU_V3}
    )
    for role, what in (
        ("owner", "start-up: spawn → first advert (owner)"),
        ("backup", "start-up: spawn → BACKUP"),
    ):
        out.append(
            g.at_most(
                what,
                _startup(res.startup, role, "vrrpd"),
                _startup(res.startup, role, "keepalived"),
                GOAL_STARTUP,
            )
        )
    done, case = bulk_per_vip(res.bulk, "vrrpd")
    if done is not None and case is not None:
        scaled = done * BULK_TARGET / case.total
        k_done, _k_case = bulk_per_vip(res.bulk, "keepalived")
        out.append(
            g.Goal(
                f"{BULK_TARGET:,} VIPs installed and announced",
                f"≤ {ms(GOAL_BULK, 0)} ms",
                f"{ms(done, 0)} ms for {case.total:,} ({case.label}"
                + (")" if case.total == BULK_TARGET else f"; ≈ {ms(scaled, 0)} ms for {BULK_TARGET:,})"),
                ratio(done, k_done),
                scaled <= GOAL_BULK,
            )
        )
    return out


def goals(res: Results) -> list[list[str]]:
    return [goal.row() for goal in goal_list(res)]


def timing_rows(timing: Sequence[AdvertTiming]) -> list[list[str]]:
    rows = []
    for t in timing:
        dev = [abs(g - 1.0) for g in t.gaps]
        mean = sum(t.gaps) / len(t.gaps) if t.gaps else None
        rows.append(
            [
                t.impl,
                str(len(t.gaps)),
                "–" if mean is None else f"{mean * 1000:.3f}",
                ms(percentile(dev, 50), 2),
                ms(percentile(dev, 99), 2),
                ms(max(dev) if dev else None, 2),
            ]
        )
    return rows


def startup_rows(items: Sequence[Startup]) -> list[list[str]]:
    rows = []
    for role, what in (
        ("owner", "owner (255): spawn → first advert on the wire"),
        ("backup", "backup: spawn → BACKUP"),
    ):
        for impl in IMPLS:
            mine = _clean([s.seconds for s in items if s.role == role and s.impl == impl])
            if mine:
                rows.append([what, impl, str(len(mine)), spread(mine)])
    return rows


COST_HEADER = [
    "N",
    "segs",
    "implementation",
    "win",
    "master CPU s",
    "backup CPU s",
    "master MiB",
    "backup MiB",
    "processes",
]
DROP_HEADER = [
    "N",
    "segs",
    "implementation",
    "expected",
    "dropped in windows",
    "dropped since start",
    "backup sockets",
    "vrrpd sent → received",
    "vrrpd's own drop counters",
]

BEGIN = "<!-- bench:begin (generated by `python -m benchmarks`; edit outside these markers) -->"
END = "<!-- bench:end -->"


def _v3_section(res: Results) -> list[str]:
    """VRRPv3 at 100 ms: takeovers against RFC 5798's bounds, and CPU at that advert rate."""
    if not res.takeovers_v3 and not res.costs_v3:
        return []
    interval = (res.takeovers_v3 or res.costs_v3)[0].advert_int
    out = [
        f"### 4b. VRRPv3 at {ms(interval, 0)} ms adverts",
        "",
        "The same link-cut and SIGTERM events with `version 3` over IPv4 and advert_int"
        f" {interval:g} s on both implementations. RFC 5798 §6.1 bounds: Master_Down_Interval ="
        " 3 × Master_Adver_Interval + Skew_Time, Skew_Time = (256 − 100) × Master_Adver_Interval / 256."
        " Times in ms, median [min–max], from the old master's last advert (cut) or priority-0 advert"
        " (handover).",
        "",
    ]
    for kind, what in (("cut", "link cut"), ("handover", "handover")):
        rows = takeover_rows(res.takeovers_v3, kind)
        if not rows:
            continue
        header = ["old → **new** master", "n"]
        if kind == "handover":
            header.append("SIGTERM → p0")
        header += ["→ first advert", "bound", "excess", "ratio", "→ first GARP", "→ first echo reply"]
        out += [f"*{what}:*", "", *_table(header, rows), ""]
    if res.costs_v3:
        out += [
            f"*Cost:* {res.costs_v3[0].instances} VRRPv3 instances at {interval:g} s, measured as in"
            " section 4, and what was lost on the way in, as there.",
            "",
            *_table(COST_HEADER, cost_rows(res.costs_v3)),
            "",
            *_table(DROP_HEADER, drop_rows(res.costs_v3)),
            "",
        ]
    return out


def render(res: Results, images: dict[str, str]) -> str:
    """The generated part of docs/benchmarks.md (between BEGIN and END)."""
    m = res.machine
    out = [
        BEGIN,
        "",
        f"**Run:** {res.started}, `{res.command}` at commit `{m.commit}`,"
        f" {res.wall_seconds / 60:.1f} min wall time;"
        f" {res.repeats} repeats per direction, advert timing over {res.timing_seconds:.0f} s,"
        f" cost windows of {res.scale_seconds:.0f} s ({res.windows} per size at 200, 1,000 and v3).",
        "",
        f"**Machine:** {m.nproc} CPUs ({m.cpu}), kernel {m.kernel}, Python {m.python}, {m.keepalived}.",
        "",
    ]
    if res.note:
        out += [f"**Note:** {res.note}", ""]
    for section, error in res.errors.items():
        out += [f"**Section {section} did not complete:** {error}", ""]
    if res.loads:
        loads = ", ".join(f"{k} {v[0]:.2f}" for k, v in res.loads.items())
        out += [f"1-minute load average when each section started: {loads}.", ""]
    if res.takeovers:
        out += [
            "### 1. Link-cut failover",
            "",
            "The master's switch port goes down; times in ms from the old master's last advert on the wire,"
            " median [min–max]. Bound: Master_Down_Interval at priority 100 (3 × 1 s + Skew_Time)."
            " Ratio: median ÷ bound.",
            "",
            *_table(
                [
                    "old → **new** master",
                    "n",
                    "→ first advert",
                    "bound",
                    "excess",
                    "ratio",
                    "→ first GARP",
                    "→ first echo reply",
                ],
                takeover_rows(res.takeovers, "cut"),
            ),
            "",
            "### 2. Graceful handover (SIGTERM)",
            "",
            "Times in ms from the old master's priority-0 advert, except *SIGTERM → p0* (the old master's own"
            " promptness). Bound: Skew_Time at priority 100 ((256 − 100) / 256 s).",
            "",
            *_table(
                [
                    "old → **new** master",
                    "n",
                    "SIGTERM → p0",
                    "p0 → first advert",
                    "bound",
                    "excess",
                    "ratio",
                    "→ first GARP",
                    "→ first echo reply",
                ],
                takeover_rows(res.takeovers, "handover"),
            ),
            "",
        ]
    if "timeline" in images:
        out += [f"![failover timeline]({images['timeline']})", ""]
    if res.timing:
        n = max(len(t.gaps) for t in res.timing)
        out += [
            "### 3. Advertisement timing",
            "",
            f"Both masters at once for {res.timing_seconds:.0f} s ({n} gaps); deviation = |gap − 1 s|, in ms"
            " (nearest-rank percentiles).",
            "",
            *_table(
                ["implementation", "gaps", "mean gap (ms)", "p50", "p99", "max"], timing_rows(res.timing)
            ),
            "",
        ]
    if res.costs:
        out += [
            "### 4. Cost at scale",
            "",
            "N instances (one VIP each, spread over *segs* Ethernet segments, at most 250 to a segment) on"
            " 2 nodes; every variant at once in its own lab, so all share the same windows of the same"
            f" machine. CPU seconds per window of {res.scale_seconds:.0f} s: median [min–max] over the"
            " *win* windows (% of one core), from the scheduler's run time of every thread of the daemon's"
            " process tree (`/proc/PID/task/TID/schedstat`, ns). The ratio rows pair the windows: one"
            " ratio per window, median [min–max]. Memory in MiB as VmHWM (peak RSS) summed over every"
            " process of the tree — for keepalived its parent and its VRRP child, shared pages counted in"
            " each — / Pss (shared pages split), read after the windows. *vrrpd+metrics* is vrrpd with"
            " `metrics_listen` set and its endpoint scraped once before the windows.",
            "",
            *_table(COST_HEADER, cost_rows(res.costs)),
            "",
            "*Receive queues:* datagrams the kernel refused because a daemon's socket receive queue was full"
            " (the `drops` column of its raw protocol-112 sockets in `/proc/PID/net/raw`), master / backup,"
            " during the windows and since start (the election included); *expected* is the adverts the"
            " backup should have received in the windows (N × window ÷ advert_int); vrrpd's own view"
            " from `vrrpd status` between the windows: the master's adverts sent → the backup's adverts"
            " received, and the backup's per-interface drop counters.",
            "",
            *_table(DROP_HEADER, drop_rows(res.costs)),
            "",
        ]
    if "cpu" in images:
        out += [f"![CPU and memory against instance count]({images['cpu']})", ""]
    out += _v3_section(res)
    if res.bulk:
        out += [
            "### 5. Bulk VIPs",
            "",
            "From becoming master (its first advert on the wire), ms, median [min–max]. *Installed*: the"
            " first `ip -o addr` poll that saw every VIP (upper bound; one poll takes *poll*)."
            " *All GARPed*: the last VIP's first gratuitous ARP. *Burst end*: the last of the 5 GARPs per"
            " VIP. *Left after SIGTERM*: VIPs still installed 5 s after the daemon was stopped (worst run).",
            "",
            *_table(
                [
                    "implementation",
                    "instances × VIPs",
                    "VIPs",
                    "n",
                    "installed",
                    "poll",
                    "all GARPed",
                    "burst end",
                    "VIPs GARPed",
                    "left after SIGTERM",
                ],
                bulk_rows(res.bulk),
            ),
            "",
        ]
    if res.startup:
        out += [
            "### 6. Start-up",
            "",
            "ms from spawning the process (`ip netns exec` included) to its first advert (address owner) or"
            " to BACKUP (vrrpd: its JSON `state_change` timestamp; keepalived: its notify-FIFO line reaching"
            " a reader).",
            "",
            *_table(["case", "implementation", "n", "ms"], startup_rows(res.startup)),
            "",
        ]
    if res.imports:
        total = median([i.total for i in res.imports])
        py2 = median([i.pyroute2 for i in res.imports])
        out += [
            f"Of vrrpd's start-up, the imports of `vrrpd run` up to starting the daemon take"
            f" {ms(total, 0)} ms (median of {len(res.imports)}, `python -X importtime`, which inflates"
            f" them; bytecode compiled), of which pyroute2 {ms(py2, 0)} ms.",
            "",
        ]
    out += [
        "### Goals (vrrpd)",
        "",
        "Computed from the figures above (`benchmarks/goals.py`): ratio = vrrpd ÷ keepalived measured in"
        " the same run; CPU goals take the median of the per-window paired ratios; takeover goals compare"
        " the median excess of takeovers *by* each implementation (from either).",
        "",
        *_table(["goal", "target", "measured", "ratio", ""], goals(res)),
        "",
        END,
    ]
    return "\n".join(out) + "\n"


def splice(document: str, generated: str) -> str:
    """Replace the generated region of an existing document (or append it if there is none)."""
    if BEGIN in document and END in document:
        head = document[: document.index(BEGIN)]
        tail = document[document.index(END) + len(END) :].lstrip("\n")
        return head + generated + ("\n" + tail if tail else "")
    return document.rstrip("\n") + "\n\n" + generated if document else generated
