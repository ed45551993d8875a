"""docs/benchmarks.md from one run's results: machine, command, tables, goals, plots."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks.bulk import BulkRun, Case
from benchmarks.daemons import IMPLS, Impl
from benchmarks.failover import Takeover, Timeline
from benchmarks.procstat import Memory
from benchmarks.scale import Cost
from benchmarks.startup import ImportCost, Startup
from benchmarks.stats import median, ms, percentile, ratio, spread
from benchmarks.timing import AdvertTiming

GOAL_EXCESS = 0.003
GOAL_BULK = 0.200
GOAL_RSS_RATIO = 3.0
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


def _cost(costs: Sequence[Cost], impl: Impl, n: int) -> Cost | None:
    return next((c for c in costs if c.impl == impl and c.instances == n), None)


def cost_rows(costs: Sequence[Cost]) -> list[list[str]]:
    rows = []
    for n in sorted({c.instances for c in costs}):
        v, k = _cost(costs, "vrrpd", n), _cost(costs, "keepalived", n)
        for c in (v, k):
            if c is None:
                continue
            rows.append(
                [
                    str(n),
                    c.impl,
                    f"{c.master_cpu:.2f} ({100 * c.master_cpu / c.seconds:.1f} %)",
                    f"{c.backup_cpu:.2f} ({100 * c.backup_cpu / c.seconds:.1f} %)",
                    f"{c.master_mem.hwm:.1f} / {c.master_mem.pss:.1f}",
                    f"{c.backup_mem.hwm:.1f} / {c.backup_mem.pss:.1f}",
                    str(c.master_mem.processes),
                ]
            )
        if v is not None and k is not None:
            rows.append(
                [
                    str(n),
                    "*ratio vrrpd/keepalived*",
                    _x(ratio(v.master_cpu, k.master_cpu)),
                    _x(ratio(v.backup_cpu, k.backup_cpu)),
                    _mem_ratio(v.master_mem, k.master_mem),
                    _mem_ratio(v.backup_mem, k.backup_mem),
                    "",
                ]
            )
    return rows


def _mem_ratio(a: Memory, b: Memory) -> str:
    return f"{_x(ratio(a.hwm, b.hwm))} / {_x(ratio(a.pss, b.pss))}"


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


def goals(res: Results) -> list[list[str]]:
    rows = []
    for kind, what in (("cut", "link-cut failover"), ("handover", "graceful handover")):
        v, k = excess_of(res.takeovers, kind, "vrrpd"), excess_of(res.takeovers, kind, "keepalived")
        met = v is not None and v <= GOAL_EXCESS
        rows.append(
            [
                f"{what}: excess over the bound",
                f"≤ {ms(GOAL_EXCESS, 0)} ms",
                f"{ms(v, 2)} ms (keepalived {ms(k, 2)} ms)",
                "met" if met else "**missed**",
            ]
        )
    n = max((c.instances for c in res.costs), default=0)
    v_cost, k_cost = _cost(res.costs, "vrrpd", n), _cost(res.costs, "keepalived", n)
    if v_cost is not None and k_cost is not None:
        for role in ("master", "backup"):
            vc = v_cost.master_cpu if role == "master" else v_cost.backup_cpu
            kc = k_cost.master_cpu if role == "master" else k_cost.backup_cpu
            rows.append(
                [
                    f"CPU at {n} instances, {role}",
                    "≤ keepalived",
                    f"{vc:.2f} s vs {kc:.2f} s per {v_cost.seconds:.0f} s (× {_x(ratio(vc, kc))})",
                    "met" if vc <= kc else "**missed**",
                ]
            )
        for role in ("master", "backup"):
            vm = v_cost.master_mem if role == "master" else v_cost.backup_mem
            km = k_cost.master_mem if role == "master" else k_cost.backup_mem
            r = ratio(vm.hwm, km.hwm)
            rows.append(
                [
                    f"peak RSS at {n} instances, {role}",
                    f"≤ {GOAL_RSS_RATIO:g} × keepalived",
                    f"{vm.hwm:.1f} MiB vs {km.hwm:.1f} MiB (× {_x(r)})",
                    "met" if r is not None and r <= GOAL_RSS_RATIO else "**missed**",
                ]
            )
    for kind, what in (("cut", "v3 link-cut failover"), ("handover", "v3 graceful handover")):
        v, k = excess_of(res.takeovers_v3, kind, "vrrpd"), excess_of(res.takeovers_v3, kind, "keepalived")
        if v is None:
            continue
        rows.append(
            [
                f"{what} at {ms(res.takeovers_v3[0].advert_int, 0)} ms: excess over the bound",
                f"≤ {ms(GOAL_EXCESS, 0)} ms, ≤ keepalived",
                f"{ms(v, 2)} ms (keepalived {ms(k, 2)} ms)",
                "met" if v <= GOAL_EXCESS and (k is None or v <= k) else "**missed**",
            ]
        )
    if res.costs_v3:
        n3 = res.costs_v3[0].instances
        v3c, k3c = _cost(res.costs_v3, "vrrpd", n3), _cost(res.costs_v3, "keepalived", n3)
        if v3c is not None and k3c is not None:
            for role in ("master", "backup"):
                vc = v3c.master_cpu if role == "master" else v3c.backup_cpu
                kc = k3c.master_cpu if role == "master" else k3c.backup_cpu
                rows.append(
                    [
                        f"v3 CPU at {n3} instances, {ms(v3c.advert_int, 0)} ms adverts, {role}",
                        "≤ keepalived",
                        f"{vc:.2f} s vs {kc:.2f} s per {v3c.seconds:.0f} s (× {_x(ratio(vc, kc))})",
                        "met" if vc <= kc else "**missed**",
                    ]
                )
    done, case = bulk_per_vip(res.bulk, "vrrpd")
    if done is not None and case is not None:
        scaled = done * BULK_TARGET / case.total
        rows.append(
            [
                f"{BULK_TARGET:,} VIPs installed and announced",
                f"≤ {ms(GOAL_BULK, 0)} ms",
                f"{ms(done, 0)} ms for {case.total} ({case.label}; ≈ {ms(scaled, 0)} ms for "
                f"{BULK_TARGET:,} at the same rate)",
                "met" if scaled <= GOAL_BULK else "**missed**",
            ]
        )
    return rows


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
            f"*Cost:* {res.costs_v3[0].instances} VRRPv3 instances at {interval:g} s, as in section 4.",
            "",
            *_table(
                [
                    "N",
                    "implementation",
                    "master CPU s",
                    "backup CPU s",
                    "master MiB",
                    "backup MiB",
                    "processes",
                ],
                cost_rows(res.costs_v3),
            ),
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
        f" cost windows of {res.scale_seconds:.0f} s.",
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
            "N instances (one VIP each) on 2 nodes, both implementations at once in two labs; CPU seconds"
            f" over {res.scale_seconds:.0f} s (% of one core) from /proc utime+stime of the process tree;"
            " memory in MiB as VmHWM (peak RSS, summed over the tree) / Pss (shared pages split).",
            "",
            *_table(
                [
                    "N",
                    "implementation",
                    "master CPU s",
                    "backup CPU s",
                    "master MiB",
                    "backup MiB",
                    "processes",
                ],
                cost_rows(res.costs),
            ),
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
            f"Of vrrpd's start-up, `import vrrpd.runtime.daemon` takes {ms(total, 0)} ms (median of"
            f" {len(res.imports)}, `python -X importtime`), of which pyroute2 {ms(py2, 0)} ms.",
            "",
        ]
    out += ["### Goals (vrrpd)", "", *_table(["goal", "target", "measured", ""], goals(res)), "", END]
    return "\n".join(out) + "\n"


def splice(document: str, generated: str) -> str:
    """Replace the generated region of an existing document (or append it if there is none)."""
    if BEGIN in document and END in document:
        head = document[: document.index(BEGIN)]
        tail = document[document.index(END) + len(END) :].lstrip("\n")
        return head + generated + ("\n" + tail if tail else "")
    return document.rstrip("\n") + "\n\n" + generated if document else generated
