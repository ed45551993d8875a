"""`python -m benchmarks` (`make bench`): run every scenario, write docs/benchmarks.md and its plots.

Needs root (network namespaces) and keepalived on PATH. `--quick` validates the harness in a few minutes;
the full run (default) takes about 20 minutes. Figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import functools
import os
import pickle
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from benchmarks import bulk, failover, plots, report, scale, startup, timing
from benchmarks.daemons import Impl

SECTIONS = ("failover", "timing", "scale", "bulk", "startup", "v3")
V3 = failover.Profile(version=3, advert_int=0.1)  # issue 16: VRRPv3 at 100 ms adverts
PAIRINGS: tuple[tuple[Impl, Impl], ...] = (
    ("vrrpd", "vrrpd"),
    ("keepalived", "keepalived"),
    ("vrrpd", "keepalived"),
)


def scale_scenarios(windows: int) -> tuple[scale.Scenario, ...]:
    """Section 4: 1 and 50 instances for the plot (one window each); the goals' 200 instances (with the
    metrics variant) and 1,000 over 4 segments, `windows` windows each."""
    return (
        scale.Scenario(1),
        scale.Scenario(50),
        scale.Scenario(200, windows, metrics=True),
        scale.Scenario(1000, windows, interfaces=4),
    )


def v3_scenario(windows: int) -> scale.Scenario:
    """Issue 16: 50 VRRPv3 instances at V3's advert interval."""
    return scale.Scenario(50, windows, version=V3.version, advert_int=V3.advert_int)


ROOT = Path(__file__).resolve().parents[1]

T = TypeVar("T")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short run to validate the harness (a few minutes)")
    p.add_argument("--repeats", type=int, help="failovers and handovers per direction (default 5; quick 2)")
    p.add_argument("--bulk-repeats", type=int, help="runs per bulk-VIP case (default 3; quick 1)")
    p.add_argument("--timing-seconds", type=float, help="advert-timing window (default 120; quick 20)")
    p.add_argument("--scale-seconds", type=float, help="length of one CPU window (default 30; quick 5)")
    p.add_argument(
        "--windows", type=int, help="CPU windows per size at 200, 1,000 and v3 (default 3; quick 3)"
    )
    p.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}"
    )
    p.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="report to write (or '-')"
    )
    p.add_argument("--img-dir", type=Path, default=ROOT / "docs" / "img", help="where the PNG plots go")
    p.add_argument("--note", default="", help="a sentence for the report (e.g. that the machine was shared)")
    p.add_argument("--save", type=Path, help="also keep the raw results (pickle) to re-render later")
    p.add_argument("--render", type=Path, help="do not measure: re-render the report from --save output")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        print(
            f"benchmarks: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}",
            file=sys.stderr,
        )
        return 2
    if args.render is not None:
        # Only files this tool wrote with --save: a local cache of its own dataclasses, never foreign input.
        res: report.Results = pickle.loads(args.render.read_bytes())  # noqa: S301
        res.note = args.note or res.note
    else:
        if os.geteuid() != 0:
            print("benchmarks: needs root (network namespaces, raw sockets)", file=sys.stderr)
            return 2
        res = measure(args, sections)
        if args.save is not None:
            args.save.write_bytes(pickle.dumps(res))
    write(res, args.out, args.img_dir)
    return 0


def _section(res: report.Results, name: str, fn: Callable[[], T], default: T) -> T:
    """Run one section; a failure is recorded for the report and the run goes on with the next one."""
    res.loads[name] = os.getloadavg()
    start = time.monotonic()
    print(f"[bench] {name} …", file=sys.stderr, flush=True)
    try:
        value = fn()
    except Exception as exc:  # a benchmark reports: one broken scenario must not lose the others
        res.errors[name] = f"{type(exc).__name__}: {exc}"
        print(f"[bench] {name} FAILED: {exc}", file=sys.stderr, flush=True)
        return default
    print(f"[bench] {name} done in {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    return value


def measure(args: argparse.Namespace, sections: Sequence[str]) -> report.Results:
    quick = bool(args.quick)
    repeats = args.repeats or (2 if quick else 5)
    bulk_repeats = args.bulk_repeats or (1 if quick else 3)
    timing_seconds = args.timing_seconds or (20.0 if quick else 120.0)
    scale_seconds = args.scale_seconds or (5.0 if quick else 30.0)
    windows = args.windows or 3
    command = "python -m benchmarks" + (" --quick" if quick else "")
    res = report.Results(
        command, report.Machine.probe(), repeats, timing_seconds, scale_seconds, windows, note=args.note
    )
    res.started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    startup.compile_bytecode()  # the daemons run with their bytecode, as an installed vrrpd does
    wall = time.monotonic()
    if "failover" in sections:

        def _failovers() -> None:
            for pair in PAIRINGS:
                # The mixed lab alternates direction, so it runs twice as many events for `repeats` each way.
                events = repeats * (2 if pair[0] != pair[1] else 1)
                takeovers, timelines = failover.run_pairing(pair, cuts=events, handovers=events)
                res.takeovers += takeovers
                res.timelines += timelines

        _section(res, "failover", _failovers, None)
    if "timing" in sections:
        res.timing = _section(res, "timing", lambda: timing.run(timing_seconds), [])
    if "scale" in sections:
        for sc in scale_scenarios(windows):  # one section per size: a failing size does not lose the others
            no_costs: list[scale.Cost] = []
            name = f"scale {sc.instances}" + (f" over {sc.interfaces}" if sc.interfaces > 1 else "")
            res.costs += _section(res, name, functools.partial(scale.run, sc, scale_seconds), no_costs)
    if "v3" in sections:

        def _v3_failovers() -> None:
            for pair in PAIRINGS:
                events = repeats * (2 if pair[0] != pair[1] else 1)
                takeovers, _timelines = failover.run_pairing(pair, cuts=events, handovers=events, profile=V3)
                res.takeovers_v3 += takeovers

        _section(res, "v3 failover", _v3_failovers, None)
        no_v3: list[scale.Cost] = []
        v3 = v3_scenario(windows)
        run_v3 = functools.partial(scale.run, v3, scale_seconds)
        res.costs_v3 += _section(res, f"v3 scale {v3.instances}", run_v3, no_v3)
    if "bulk" in sections:
        res.bulk = _section(res, "bulk", lambda: bulk.run(bulk.CASES, bulk_repeats), [])
    if "startup" in sections:
        nothing: tuple[list[startup.Startup], list[startup.ImportCost]] = ([], [])
        res.startup, res.imports = _section(res, "startup", functools.partial(startup.run, repeats), nothing)
    res.wall_seconds = time.monotonic() - wall
    return res


def write(res: report.Results, out: Path, img_dir: Path) -> None:
    images: dict[str, str] = {}
    if str(out) != "-":
        img_dir.mkdir(parents=True, exist_ok=True)
        rel = os.path.relpath(img_dir, out.parent)
        if res.timelines:
            plots.failover_timeline(res.timelines, img_dir / "failover-timeline.png")
            images["timeline"] = f"{rel}/failover-timeline.png"
        if res.costs:
            plots.cpu_vs_instances(res.costs, img_dir / "cpu-vs-instances.png")
            images["cpu"] = f"{rel}/cpu-vs-instances.png"
    generated = report.render(res, images)
    print(generated)
    if str(out) != "-":
        existing = out.read_text(encoding="utf-8") if out.exists() else ""
        out.write_text(report.splice(existing, generated), encoding="utf-8")
        print(f"[bench] wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
