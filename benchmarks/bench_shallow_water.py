"""Shallow water 100 × 50: emulation overhead per step (B2) and simulated years per wall hour (B4).

Also a climate sanity check outside the test suite: spin-up from rest at 50 × 25 in float64 for
a few simulated years, reporting domain-mean kinetic energy, zonal-mean u, max |u| and the η range
over the last year (the flow becomes turbulent within months; drag time scale ≈ 3 years).

    python benchmarks/bench_shallow_water.py [--climate-years 2] [--repeats 5]

Prints the tables and writes benchmarks/results/shallow_water.json. Ratios are of step times
measured in the same run (median of repeats, after warm-up); nothing here is asserted.
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.base import FLOAT64  # noqa: E402
from models.shallow_water import DAY, ShallowWater, ShallowWaterParams, integrate  # noqa: E402

YEAR = 365 * DAY
TARGETS = {"B2 nearest": 2.0, "B2 stochastic": 3.0, "B4 float64": 20.0, "B4 stochastic": 10.0}


def step_time(model: ShallowWater, steps: int, repeats: int, warmup: int = 20) -> float:
    """Median wall time of one step, s, over `repeats` blocks of `steps` after `warmup` steps."""
    state = integrate(model, model.initial_state(0), warmup)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        state = integrate(model, state, steps)
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times)


def emulators() -> dict:
    """The emulated arithmetics to time, or {} when lowprec.emulated is not available."""
    try:
        from lowprec.emulated import Emulator
        from lowprec.formats import Format
    except ImportError as e:
        print(f"(emulator not available: {e}; B2 and emulated B4 skipped)")
        return {}
    fmt = Format(sbits=10)
    return {
        "10 sbits nearest": lambda: Emulator(fmt, mode="nearest"),
        "10 sbits stochastic": lambda: Emulator(fmt, mode="stochastic", seed=1),
        "mixed 10/23 stochastic": lambda: Emulator(fmt, mode="stochastic", seed=1, components={
            "tendencies": 10, "dissipation": 10, "prognostic": 23}),
    }


def climate(years: float, nx: int = 50, ny: int = 25) -> dict:
    """Spin up from rest in float64; statistics of the last simulated year (or all, if shorter)."""
    model = ShallowWater(ShallowWaterParams(nx=nx, ny=ny), FLOAT64)
    every = round(5 * DAY / model.dt)                     # sample every 5 days
    samples = int(years * 365 / 5)
    keep_from = max(0, samples - 73)
    state, rows = model.initial_state(0), []
    t0 = time.perf_counter()
    for k in range(samples):
        state = integrate(model, state, every)
        if k >= keep_from:
            d = model.diagnostics(state)
            rows.append((float(d["kinetic_energy"]), d["u"].mean(axis=1), float(np.abs(d["u"]).max()),
                         float(d["eta"].min()), float(d["eta"].max()), float(d["enstrophy"])))
    ke = np.array([r[0] for r in rows])
    zonal_mean_u = np.mean([r[1] for r in rows], axis=0)
    return {
        "grid": f"{nx}x{ny}", "years": years, "window_days": 5 * len(rows),
        "wall_seconds": time.perf_counter() - t0,
        "kinetic_energy_mean_J_m2": float(ke.mean()), "kinetic_energy_min_J_m2": float(ke.min()),
        "kinetic_energy_max_J_m2": float(ke.max()),
        "rms_speed_equivalent_m_s": float(np.sqrt(2 * ke.mean() / (1000 * 500))),
        "domain_mean_u_m_s": float(zonal_mean_u.mean()),
        "zonal_mean_u_min_m_s": float(zonal_mean_u.min()),
        "zonal_mean_u_max_m_s": float(zonal_mean_u.max()),
        "max_abs_u_m_s": max(r[2] for r in rows),
        "eta_min_m": min(r[3] for r in rows), "eta_max_m": max(r[4] for r in rows),
        "enstrophy_mean_s-2": float(np.mean([r[5] for r in rows])),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=200, help="float64 steps per repeat")
    ap.add_argument("--emulated-steps", type=int, default=40, help="emulated steps per repeat")
    ap.add_argument("--climate-years", type=float, default=2.0, help="0 to skip")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "shallow_water.json")
    args = ap.parse_args()

    params = ShallowWaterParams()                          # 100 × 50, Δ = 20 km, Δt = 280.5 s (6 h / 77)
    steps_per_year = YEAR / ShallowWater(params).dt
    t64 = step_time(ShallowWater(params, FLOAT64), args.steps, args.repeats)
    rows = [{"arithmetic": "float64", "step_ms": 1e3 * t64, "ratio_to_float64": 1.0,
             "years_per_hour": 3600 / (t64 * steps_per_year)}]
    for name, make in emulators().items():
        t = step_time(ShallowWater(params, make()), args.emulated_steps, args.repeats, warmup=5)
        rows.append({"arithmetic": name, "step_ms": 1e3 * t, "ratio_to_float64": t / t64,
                     "years_per_hour": 3600 / (t * steps_per_year)})

    print(f"\nShallow water {params.nx}x{params.ny}, dt = {ShallowWater(params).dt:.1f} s, "
          f"{steps_per_year:.0f} steps per simulated year (median of {args.repeats})")
    print(f"{'arithmetic':<26}{'ms/step':>10}{'÷ float64':>11}{'years/hour':>12}")
    for r in rows:
        print(f"{r['arithmetic']:<26}{r['step_ms']:>10.2f}{r['ratio_to_float64']:>11.2f}"
              f"{r['years_per_hour']:>12.1f}")
    by_name = {r["arithmetic"]: r for r in rows}
    checks = {}
    for key, target in TARGETS.items():              # "B2 nearest" -> row "10 sbits nearest"
        bench, what = key.split()
        row = by_name.get("float64" if what == "float64" else f"10 sbits {what}")
        if row is None:
            checks[key] = {"target": target, "measured": None, "met": None}
            continue
        measured = row["ratio_to_float64"] if bench == "B2" else row["years_per_hour"]
        met = measured <= target if bench == "B2" else measured >= target
        checks[key] = {"target": target, "measured": measured, "met": met}
    print()
    for key, c in checks.items():
        sense = "<=" if key.startswith("B2") else ">="
        if c["measured"] is None:
            print(f"{key:<16} target {sense} {c['target']:g}: not measured")
        else:
            print(f"{key:<16} target {sense} {c['target']:g}: {c['measured']:.2f} "
                  f"({'met' if c['met'] else 'NOT met'})")

    result = {"benchmark": "shallow_water", "date": datetime.now(timezone.utc).isoformat(),
              "machine": platform.platform(), "python": platform.python_version(),
              "numpy": np.__version__, "grid": f"{params.nx}x{params.ny}", "dt_s": ShallowWater(params).dt,
              "rows": rows, "targets": checks}
    if args.climate_years > 0:
        c = climate(args.climate_years)
        result["climate"] = c
        print(f"\nSpin-up from rest, float64, {c['grid']}, {c['years']:g} years "
              f"(statistics over the last {c['window_days']} days; {c['wall_seconds']:.0f} s wall)")
        for k, v in c.items():
            if k not in ("grid", "years", "window_days", "wall_seconds"):
                print(f"  {k:<28}{v:>12.4g}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
