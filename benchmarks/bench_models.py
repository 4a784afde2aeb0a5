"""B2 for the three small models: emulated step time ÷ float64 step time (same model, same run).

    python benchmarks/bench_models.py [--repeats 5] [--heat-years 60]

Models: Lorenz-63 with 10 000 particles, the 61-node heat column, shallow water 100 × 50.
Arithmetics: float64 (models.base.FLOAT64, plain numpy) and the emulator at 10 sbits (float64
exponent range), nearest and stochastic. Each time is the median over `repeats` blocks of steps
taken after warm-up steps (numba compilation and caches excluded). Also the wall time of a heat
run at 10 sbits (nearest, stochastic), integrated with the model's own step() with no output:
`--heat-years` simulated years are run (default all 60; fewer are extrapolated linearly).
Prints a table and writes benchmarks/results/models.json. Nothing is asserted.

Measured condition (it matters): the float64 and emulated models of one benchmark are alive
together and stepped in turn. A single emulated shallow-water model alone in a fresh process
(bench_shallow_water.py) runs 20-30 % slower: glibc returns the freed top of its heap to the
system after each step and takes ~200 minor page faults per step to get it back. With
MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_TOP_PAD_=16777216 in the environment (or the same
through mallopt) there are no faults and both setups give the figures of this script.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lowprec.emulated import Emulator  # noqa: E402
from lowprec.formats import Format  # noqa: E402
from models.base import FLOAT64  # noqa: E402
from models.heat import HeatColumn  # noqa: E402
from models.heat import Params as HeatParams  # noqa: E402
from models.lorenz63 import Lorenz63  # noqa: E402
from models.lorenz63 import Params as L63Params  # noqa: E402
from models.shallow_water import ShallowWater, ShallowWaterParams  # noqa: E402

YEAR = 365 * 86400.0
SBITS = 10
# B2 targets (specs/performance.md): (nearest, stochastic) ratio ceilings
TARGETS = {"lorenz63": (3.0, 4.0), "heat": (5.0, 5.0), "shallow_water": (2.0, 3.0)}


def models() -> dict[str, tuple[Callable[[Any], Any], int, int]]:
    """name -> (make(arithmetic), steps per timed block, warm-up steps)."""
    return {
        "lorenz63": (lambda emu: Lorenz63(L63Params(particles=10_000, prespin=0.0), emu), 50, 10),
        "heat": (lambda emu: HeatColumn(HeatParams(), emu), 2000, 200),
        "shallow_water": (lambda emu: ShallowWater(ShallowWaterParams(), emu), 20, 5),
    }


def arithmetics() -> dict[str, Callable[[], Any]]:
    return {
        "float64": lambda: FLOAT64,
        "nearest": lambda: Emulator(Format(SBITS), mode="nearest"),
        "stochastic": lambda: Emulator(Format(SBITS), mode="stochastic", seed=1),
    }


def step_times(make: Callable[[Any], Any], steps: int, warmup: int, repeats: int) -> dict:
    """Median seconds per step for each arithmetic, the blocks interleaved (float64, nearest,
    stochastic, float64, ...) so that a change of machine load hits all three alike."""
    runs = {}
    for name, arith in arithmetics().items():
        model = make(arith())
        state = model.initial_state(0)
        for _ in range(warmup):
            state = model.step(state)
        runs[name] = [model, state, []]
    for _ in range(repeats):
        for name, run in runs.items():
            model, state, times = run
            t0 = time.perf_counter()
            for _ in range(steps):
                state = model.step(state)
            times.append((time.perf_counter() - t0) / steps)
            run[1] = state
    return {name: statistics.median(run[2]) for name, run in runs.items()}


def heat_run_seconds(mode: str, years: float) -> float:
    """Wall seconds of `years` simulated years of the heat column at 10 sbits, `mode`."""
    emu = (Emulator(Format(SBITS), mode="nearest") if mode == "nearest" else
           Emulator(Format(SBITS), mode="stochastic", seed=1))
    model = HeatColumn(HeatParams(), emu)
    state = model.initial_state(0)
    for _ in range(10):                      # compile / warm caches outside the timing
        state = model.step(state)
    steps = round(years * YEAR / model.dt)
    t0 = time.perf_counter()
    step = model.step
    for _ in range(steps):
        state = step(state)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--heat-years", type=float, default=60.0,
                    help="simulated years actually run for the 60-year heat estimate (0: skip)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "models.json")
    args = ap.parse_args()

    rows = []
    for name, (make, steps, warmup) in models().items():
        t = step_times(make, steps, warmup, args.repeats)
        for mode in ("nearest", "stochastic"):
            target = TARGETS[name][mode == "stochastic"]
            ratio = t[mode] / t["float64"]
            rows.append({"model": name, "mode": mode, "float64_step_ms": 1e3 * t["float64"],
                         "emulated_step_ms": 1e3 * t[mode], "ratio": ratio, "target": target,
                         "met": ratio <= target})
    print(f"\nB2: emulated ({SBITS} sbits) step time ÷ float64 step time, median of "
          f"{args.repeats} blocks after warm-up")
    print(f"{'model':<15}{'mode':<12}{'float64 ms':>11}{'emulated ms':>13}{'ratio':>8}"
          f"{'target':>8}  met")
    for r in rows:
        print(f"{r['model']:<15}{r['mode']:<12}{r['float64_step_ms']:>11.4f}"
              f"{r['emulated_step_ms']:>13.4f}{r['ratio']:>8.2f}{r['target']:>8.1f}  "
              f"{'yes' if r['met'] else 'NO'}")

    heat = {}
    if args.heat_years > 0:
        how = "" if args.heat_years == 60 else ", extrapolated linearly to 60"
        print(f"\nHeat column, 61 nodes, 10 sbits, model.step() loop, no output: "
              f"{args.heat_years:g} simulated years run{how}")
        for mode in ("nearest", "stochastic"):
            seconds = heat_run_seconds(mode, args.heat_years)
            heat[mode] = {"years_run": args.heat_years, "wall_s": seconds,
                          "wall_s_60_years": seconds * 60 / args.heat_years,
                          "extrapolated": args.heat_years != 60}
            line = f"  {mode:<12}{seconds:>8.1f} s for {args.heat_years:g} years"
            if args.heat_years != 60:
                line += f", {heat[mode]['wall_s_60_years']:.0f} s for 60 years (extrapolated)"
            print(line)

    result = {"benchmark": "models", "date": datetime.now(timezone.utc).isoformat(),
              "machine": platform.platform(), "python": platform.python_version(),
              "numpy": np.__version__, "sbits": SBITS, "repeats": args.repeats,
              "b2": rows, "heat_60_years": heat}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
