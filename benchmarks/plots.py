"""The two figures of docs/benchmarks.md, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: a headless lab host has no display
import matplotlib.pyplot as plt

from benchmarks.failover import Timeline
from benchmarks.scale import Cost

COLORS = {"vrrpd": "tab:blue", "keepalived": "tab:orange"}


def failover_timeline(timelines: Sequence[Timeline], path: Path) -> None:
    """One row per implementation taking over from itself: the whole window, and a zoom on the takeover."""
    rows = [t for t in timelines if t.old_impl == t.new_impl] or list(timelines)
    fig, axes = plt.subplots(len(rows), 2, figsize=(11, 1.9 * len(rows) + 0.8), squeeze=False)
    for (full, zoom), tl in zip(axes, rows, strict=True):
        for ax, lo, hi in ((full, -2.2, tl.bound + 0.3), (zoom, tl.bound - 0.005, tl.bound + 0.035)):
            scale = 1.0 if ax is full else 1000.0
            unit = "s" if ax is full else "ms"

            def x(
                values: Sequence[float], lo: float = lo, hi: float = hi, scale: float = scale
            ) -> list[float]:
                return [v * scale for v in values if lo <= v <= hi]

            ax.eventplot(x(tl.requests), lineoffsets=0, linelengths=0.6, colors="lightgray", linewidths=0.6)
            ax.eventplot(x(tl.replies), lineoffsets=0, linelengths=0.6, colors="tab:green", linewidths=0.8)
            ax.eventplot(x(tl.garps), lineoffsets=1, linelengths=0.6, colors="tab:purple", linewidths=1.0)
            ax.eventplot(x(tl.old_adverts), lineoffsets=2, linelengths=0.6, colors="gray", linewidths=2)
            ax.eventplot(
                x(tl.new_adverts), lineoffsets=2, linelengths=0.6, colors=COLORS[tl.new_impl], linewidths=2
            )
            ax.axvline(tl.bound * scale, color="red", linestyle="--", linewidth=1)
            if lo <= tl.cut <= hi:
                ax.axvline(tl.cut * scale, color="black", linestyle=":", linewidth=1)
            ax.set_xlim(lo * scale, hi * scale)
            ax.set_yticks([0, 1, 2], ["echo req/reply", "GARP", "advert"])
            ax.set_ylim(-0.6, 2.6)
            ax.set_xlabel(f"{unit} since the old master's last advert")
        full.set_title(f"{tl.new_impl}: link cut (dotted), Master_Down_Interval (red dashed)", fontsize=9)
        zoom.set_title(f"{tl.new_impl}: zoom (echo requests grey, replies green)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def cpu_vs_instances(costs: Sequence[Cost], path: Path) -> None:
    """CPU (% of one core) and peak RSS against instance count, master and backup, both implementations."""
    fig, (cpu, mem) = plt.subplots(1, 2, figsize=(10, 3.6))
    for impl, color in COLORS.items():  # the metrics variant is in the tables, not in the plot
        mine = sorted((c for c in costs if c.impl == impl), key=lambda c: c.instances)
        if not mine:
            continue
        n = [c.instances for c in mine]
        cpu.plot(n, [100 * c.master_cpu / c.seconds for c in mine], "o-", color=color, label=f"{impl} master")
        cpu.plot(
            n, [100 * c.backup_cpu / c.seconds for c in mine], "s--", color=color, label=f"{impl} backup"
        )
        mem.plot(n, [c.master_mem.hwm for c in mine], "o-", color=color, label=f"{impl} master")
        mem.plot(n, [c.backup_mem.hwm for c in mine], "s--", color=color, label=f"{impl} backup")
    cpu.set_xlabel("instances (one VIP each)")
    cpu.set_ylabel("CPU, % of one core")
    cpu.set_title("CPU at advert_int 1", fontsize=10)
    mem.set_xlabel("instances (one VIP each)")
    mem.set_ylabel("peak RSS (VmHWM, process tree), MiB")
    mem.set_title("Memory", fontsize=10)
    for ax in (cpu, mem):
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
