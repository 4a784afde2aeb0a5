"""The spectral GCM at T31L8: B2, B3 (dry or moist), B6, the step's breakdown, and the climate.

    python benchmarks/bench_gcm.py [--repeats 5] [--truncation 31] [--physics moist]
    python benchmarks/bench_gcm.py --climate-days 1000 --spinup-days 200    # + the climatology
    python benchmarks/bench_gcm.py --physics moist --climate-only --truncation 21 \
        --spinup-days 300 --climate-days 1000                           # TJ16's climate only

B2   emulated (10 sbits, nearest and stochastic) ÷ float64 step time, same model, same run.
B3   simulated years per wall hour, float64 and 10-sbit stochastic, from ≥ 5 simulated days
     after warm-up (Held–Suarez or TJ16 moist (``--physics``), dt = 40 min; output not included).
B6   sequential ÷ fused policy step time, 10 sbits, nearest (rpe's rounding) and stochastic
     (every butterfly of the mixed-radix FFT and every multiply and add of the Legendre
     contractions rounded: lowprec/emulated/fourier.py, sequential.py).
Breakdown: the step's parts (transforms, grid-point dynamics, physics, spectral dynamics,
     semi-implicit solve, diffusion, leapfrog), timed by running the model's own recipe part by
     part (checked bit-identical to model.step); for the emulated arithmetics the difference to
     float64 per part is the cost of rounding and dispatch; a sequential-policy column shows
     where B6 goes.
     The moist step's extra parts: the transform of X^{n−1} to the grid for the lagged physics,
     and the float64 sums of its water amounts.
Climate (opt-in, ~10 min of one core at T31): float64 from rest, `--spinup-days` discarded, then
     daily zonal means (from 6-hourly snapshots) over `--climate-days`, summarised as jets,
     surface winds and temperatures against the spec's numbers (models/gcm/climate.py); moist:
     also the time-mean zonal-mean precipitation and evaporation (mm/day, from the model's
     float64 sums) and their features (global mean, equator, subtropical minima, mid-latitude
     maxima).

Times are process CPU time (time.process_time) with BLAS and OpenMP held to one thread, so other
jobs on a shared machine inflate them less than wall time; the median of `repeats` interleaved
blocks. Prints tables and writes benchmarks/results/gcm.json. Nothing is asserted.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")        # one core, before numpy loads its BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lowprec.emulated import Emulator  # noqa: E402
from lowprec.formats import Format  # noqa: E402
from models.base import FLOAT64  # noqa: E402
from models.gcm import GCM, GCMParams  # noqa: E402
from models.gcm.climate import (EXPECTED, check_against_expected, held_suarez_summary,  # noqa: E402
                                moist_summary)
from models.gcm.state import LeapfrogState  # noqa: E402
from models.gcm.timestepping import euler, leapfrog_raw  # noqa: E402

DAY = 86400.0
YEAR = 365 * DAY
SBITS = 10
TARGETS = {"B2 nearest": 2.0, "B2 stochastic": 3.0, "B3 float64": 20.0, "B3 stochastic": 8.0,
           "B6": 3.0}
PARTS = ("transforms", "transforms of X^{n-1}", "grid-point dynamics", "physics",
         "physics sums", "spectral dynamics", "semi-implicit solve", "diffusion", "leapfrog")


def arithmetics(policy: str = "fused") -> dict[str, Callable[[], Any]]:
    return {
        "float64": lambda: FLOAT64,
        "nearest": lambda: Emulator(Format(SBITS), mode="nearest", policy=policy),
        "stochastic": lambda: Emulator(Format(SBITS), mode="stochastic", seed=1, policy=policy),
    }


def warm_model(params: GCMParams, emu: Any, steps: int = 20) -> tuple[GCM, LeapfrogState]:
    """A model stepped past its start (JIT compilation and the Euler step done)."""
    model = GCM(params, emu)
    state = model.initial_state(0)
    for _ in range(steps):
        state = model.step(state)
    return model, state


def step_times(params: GCMParams | dict[Any, GCMParams], steps: int, repeats: int,
               makers: dict[Any, Callable[[], Any]]) -> dict[Any, list[float]]:
    """CPU seconds per step of each arithmetic: `repeats` blocks of `steps`, interleaved.
    params: one for all, or one per maker."""
    runs = {name: list(warm_model(params[name] if isinstance(params, dict) else params, make(),
                                  steps=4)) + [[]] for name, make in makers.items()}
    for _ in range(repeats):
        for run in runs.values():
            model, state, times = run
            t0 = time.process_time()
            for _ in range(steps):
                state = model.step(state)
            times.append((time.process_time() - t0) / steps)
            run[1] = state
    return {name: run[2] for name, run in runs.items()}


def moist_over_dry(truncation: int, steps: int, repeats: int) -> list[dict[str, Any]]:
    """CPU time per step of physics="moist" ÷ "held_suarez", float64 and 10-sbit stochastic,
    from interleaved blocks (one run, one load: the ratio carries to a quieter machine)."""
    keys = [(physics, name) for physics in ("held_suarez", "moist")
            for name in ("float64", "stochastic")]
    times = step_times({k: GCMParams(truncation=truncation, physics=k[0]) for k in keys}, steps,
                       repeats, {k: arithmetics()[k[1]] for k in keys})
    out = []
    for name in ("float64", "stochastic"):
        dry = statistics.median(times["held_suarez", name])
        moist = statistics.median(times["moist", name])
        out.append({"arithmetic": name, "dry_ms": 1e3 * dry, "moist_ms": 1e3 * moist,
                    "ratio": moist / dry})
    return out


def step_in_parts(model: GCM, s: LeapfrogState, clock: dict[str, float]) -> LeapfrogState:
    """model.step's recipe, part by part, adding each part's CPU seconds to `clock`."""
    emu, dyn, first = model.emu, model.dynamics, not s.started
    t = time.process_time

    def part(name: str, t0: float) -> float:
        now = t()
        clock[name] = clock.get(name, 0.0) + now - t0
        return now

    t0 = t()
    with emu.component("transforms"):
        g = dyn.to_grid(s.now)
    t0 = part("transforms", t0)
    with emu.component("transforms"):
        columns = dyn.columns_to_grid(s.before) if model.forcing.lagged and not first else g
    t0 = part("transforms of X^{n-1}", t0)
    with emu.component("dynamics"):
        grid_tend = dyn.grid_tendencies(g)
        physical = dyn.physical_state(columns)
    t0 = part("grid-point dynamics", t0)
    with emu.component("physics"):
        forced = model.forcing.tendency(physical, first)
    t0 = part("physics", t0)
    sums = model._accumulate(s.sums, forced.amounts)
    t0 = part("physics sums", t0)
    with emu.component("dynamics"):
        grid_tend = dyn.add_forcing(grid_tend, forced)
    t0 = part("grid-point dynamics", t0)
    with emu.component("transforms"):
        scalars, curl_div, divs = dyn.to_spectral(grid_tend)
    t0 = part("transforms", t0)
    with emu.component("dynamics"):
        tend = dyn.spectral_tendencies(s.now, scalars, curl_div, divs)
    t0 = part("spectral dynamics", t0)
    with emu.component("timestepping"):
        tend = model.implicit.solve(tend, s.before, s.now, first)
    t0 = part("semi-implicit solve", t0)
    with emu.component("diffusion"):
        tend = model.diffusion.damp(tend, s.before, first)
    t0 = part("diffusion", t0)
    with emu.component("timestepping"):
        if first:
            out = LeapfrogState(before=s.now, now=euler(s.now, tend, model.weights), started=True,
                                sums=sums)
        else:
            now, after = leapfrog_raw(s.before, s.now, tend, model.weights)
            out = LeapfrogState(before=now, now=after, started=True, sums=sums)
    part("leapfrog", t0)
    return out


def breakdown(params: GCMParams, steps: int, sequential_steps: int) -> dict[str, dict[str, float]]:
    """CPU ms per step of each part, per arithmetic (and 10-sbit nearest under the sequential
    policy); checks that the parts make model.step's state."""
    out = {}
    makers = dict(arithmetics(), sequential=arithmetics("sequential")["nearest"])
    for name, make in makers.items():
        if name == "sequential":
            steps = sequential_steps
        model, state = warm_model(params, make(), steps=4)
        counter = model.emu.get_state()
        reference = model.state_arrays(model.step(state))
        model.emu.set_state(counter)
        clock: dict[str, float] = {}
        again = model.state_arrays(step_in_parts(model, state, clock))
        if not all(np.array_equal(reference[k], again[k]) for k in reference):
            raise RuntimeError("the timed parts do not reproduce model.step: update step_in_parts")
        clock = {}
        for _ in range(steps):
            state = step_in_parts(model, state, clock)
        out[name] = {k: 1e3 * v / steps for k, v in clock.items()}
    return out


def climate(params: GCMParams, spinup_days: int, days: int) -> dict[str, Any]:
    """Float64 from rest: time mean of daily zonal means after the spin-up (moist: and of the
    precipitation and evaporation, from the model's float64 sums)."""
    model = GCM(params, FLOAT64)
    state = model.initial_state(0)
    per_day = round(DAY / model.dt)
    every = per_day // 4                                    # 6-hourly snapshots
    t0 = time.perf_counter()
    for day in range(spinup_days):
        for _ in range(per_day):
            state = model.step(state)
        if (day + 1) % 100 == 0:
            print(f"  climate: spin-up day {day + 1}, {time.perf_counter() - t0:.0f} s", flush=True)
    totals = {n: a.copy() for n, a in state.sums.total.items()}   # moist: water at the start
    u_sum = T_sum = 0.0
    for day in range(days):
        for i in range(per_day):
            state = model.step(state)
            if (i + 1) % every == 0:
                g = model.grid_fields(state)
                u_sum = u_sum + g["u"].mean(axis=-1)
                T_sum = T_sum + g["T"].mean(axis=-1)
        if (day + 1) % 100 == 0:
            print(f"  climate: day {spinup_days + day + 1} of {spinup_days + days}, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    n = days * 4
    u, T = u_sum / n, T_sum / n
    tr = model.transform64
    summary = held_suarez_summary(u, T, tr.latitude, model.levels.full)
    out = {"physics": params.physics, "truncation": params.truncation,
           "spinup_days": spinup_days, "days": days,
           "wall_seconds": time.perf_counter() - t0, "summary": summary,
           "outside_expected": check_against_expected(summary),
           "u_zonal_mean": u.tolist(), "T_zonal_mean": T.tolist(),
           "latitude": tr.latitude.tolist(), "sigma": model.levels.full.tolist()}
    if totals:                                               # mm per day, zonal means
        water = {n: ((state.sums.total[n] - totals[n]) / days).mean(axis=-1) for n in totals}
        out["moist_summary"] = moist_summary(water["precipitation"], tr.latitude, tr.weights)
        for n in ("evaporation", "negative_water", "water_added"):
            out[f"{n}_global_mean"] = float(np.sum(water[n] * tr.weights) / 2)
        out.update({f"{n}_zonal_mean_mm_per_day": w.tolist() for n, w in water.items()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--truncation", type=int, default=31)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="steps per timed block (B2)")
    ap.add_argument("--b3-days", type=float, default=5.0, help="simulated days per B3 timing")
    ap.add_argument("--b6-steps", type=int, default=10, help="steps per block for B6")
    ap.add_argument("--climate-days", type=int, default=0, help="0: skip the climatology")
    ap.add_argument("--spinup-days", type=int, default=200)
    ap.add_argument("--physics", default="held_suarez", choices=("held_suarez", "moist"))
    ap.add_argument("--climate-only", action="store_true", help="skip B2, B3, B6, breakdown")
    ap.add_argument("--out", type=Path, default=None,
                    help="default: benchmarks/results/gcm.json (moist: gcm_moist.json; "
                         "climate only: gcm_<physics>_climate_T<truncation>.json)")
    args = ap.parse_args()
    if args.out is None:
        name = ("gcm" if args.physics == "held_suarez" else "gcm_moist") + (
            f"_climate_T{args.truncation}" if args.climate_only else "")
        args.out = Path(__file__).parent / "results" / f"{name}.json"

    params = GCMParams(truncation=args.truncation, physics=args.physics)
    dt = params.time_step
    label = f"T{params.truncation}L8, {GCM(params).transform.nlon} x {GCM(params).transform.nlat}"
    result: dict[str, Any] = {"benchmark": "gcm", "date": datetime.now(timezone.utc).isoformat(),
                              "machine": platform.platform(), "python": platform.python_version(),
                              "numpy": np.__version__, "grid": label, "dt_s": dt,
                              "sbits": SBITS, "repeats": args.repeats, "load_average":
                              os.getloadavg(), "physics": args.physics}
    if args.climate_only:
        run_climate(params, args, result)
        return

    # B2
    times = step_times(params, args.steps, args.repeats, arithmetics())
    med = {k: statistics.median(v) for k, v in times.items()}
    b2 = [{"mode": m, "float64_ms": 1e3 * med["float64"], "emulated_ms": 1e3 * med[m],
           "ratio": med[m] / med["float64"], "target": TARGETS[f"B2 {m}"]}
          for m in ("nearest", "stochastic")]
    print(f"\n{label}, dt = {dt:g} s, physics {args.physics}; CPU time per step, median of {args.repeats} "
          f"blocks of {args.steps} (load average {os.getloadavg()[0]:.1f})")
    print(f"B2: {SBITS}-sbit emulated ÷ float64")
    print(f"{'mode':<12}{'float64 ms':>11}{'emulated ms':>13}{'ratio':>8}{'target':>8}  met")
    for r in b2:
        r["met"] = r["ratio"] <= r["target"]
        print(f"{r['mode']:<12}{r['float64_ms']:>11.2f}{r['emulated_ms']:>13.2f}{r['ratio']:>8.2f}"
              f"{r['target']:>8.1f}  {'yes' if r['met'] else 'NO'}")
    result["b2"] = b2

    # B3: ≥ 5 simulated days after warm-up
    steps = max(1, round(args.b3_days * DAY / dt))
    b3 = []
    for name in ("float64", "stochastic"):
        model, state = warm_model(params, arithmetics()[name]())
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            state = model.step(state)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        per_year = YEAR / dt
        target = TARGETS[f"B3 {name}"]
        b3.append({"arithmetic": name, "simulated_days": steps * dt / DAY,
                   "cpu_ms_per_step": 1e3 * cpu / steps, "wall_ms_per_step": 1e3 * wall / steps,
                   "years_per_hour_cpu": 3600 / (cpu / steps * per_year),
                   "years_per_hour_wall": 3600 / (wall / steps * per_year), "target": target})
    print(f"\nB3 ({args.physics}): simulated years per hour, {steps} steps = {steps * dt / DAY:g} days after "
          f"warm-up")
    print(f"{'arithmetic':<12}{'ms/step cpu':>12}{'ms/step wall':>13}{'yr/h cpu':>10}"
          f"{'yr/h wall':>10}{'target':>8}  met (cpu)")
    for r in b3:
        r["met"] = r["years_per_hour_cpu"] >= r["target"]
        print(f"{r['arithmetic']:<12}{r['cpu_ms_per_step']:>12.2f}{r['wall_ms_per_step']:>13.2f}"
              f"{r['years_per_hour_cpu']:>10.1f}{r['years_per_hour_wall']:>10.1f}"
              f"{r['target']:>8.0f}  {'yes' if r['met'] else 'NO'}")
    result["b3"] = b3

    if args.physics == "moist":
        ratios = moist_over_dry(params.truncation, args.steps, args.repeats)
        print("\nmoist ÷ dry (Held–Suarez) step, CPU time, interleaved blocks")
        print(f"{'arithmetic':<12}{'dry ms':>9}{'moist ms':>10}{'ratio':>8}")
        for r in ratios:
            print(f"{r['arithmetic']:<12}{r['dry_ms']:>9.2f}{r['moist_ms']:>10.2f}{r['ratio']:>8.2f}")
        result["moist_over_dry"] = ratios

    # B6: the rpe-faithful policy (nearest, as rpe) and, for information, stochastic rounding
    b6 = []
    for mode in ("nearest", "stochastic"):
        t6 = step_times(params, args.b6_steps, args.repeats, {
            "fused": arithmetics("fused")[mode], "sequential": arithmetics("sequential")[mode]})
        fused, seq = statistics.median(t6["fused"]), statistics.median(t6["sequential"])
        b6.append({"mode": mode, "fused_ms": 1e3 * fused, "sequential_ms": 1e3 * seq,
                   "ratio": seq / fused, "target": TARGETS["B6"],
                   "met": seq / fused <= TARGETS["B6"]})
    print(f"\nB6: sequential ÷ fused policy step, {SBITS} sbits")
    print(f"{'mode':<12}{'fused ms':>10}{'sequential ms':>15}{'ratio':>8}{'target':>8}  met")
    for r in b6:
        print(f"{r['mode']:<12}{r['fused_ms']:>10.1f}{r['sequential_ms']:>15.1f}{r['ratio']:>8.2f}"
              f"{r['target']:>8.1f}  {'yes' if r['met'] else 'NO'}")
    result["b6"] = b6

    # breakdown
    parts = breakdown(params, args.steps, args.b6_steps)
    print("\nThe step in parts, CPU ms per step (emulated: + rounding and dispatch over float64; "
          "sequential: 10 sbits nearest, every multiply and add of FFTs and matmuls rounded)")
    print(f"{'part':<22}" + "".join(f"{n:>12}" for n in parts))
    for p in PARTS + ("total",):
        row = [sum(parts[n].values()) if p == "total" else parts[n].get(p, 0.0) for n in parts]
        print(f"{p:<22}" + "".join(f"{x:>12.2f}" for x in row))
    result["breakdown_ms"] = parts

    if args.climate_days > 0:
        run_climate(params, args, result)
    else:
        write(result, args.out)


def run_climate(params: GCMParams, args: argparse.Namespace, result: dict[str, Any]) -> None:
    print(f"\n{args.physics} climate, float64, T{params.truncation}: {args.spinup_days} days "
          f"spin-up, then {args.climate_days} days", flush=True)
    c = climate(params, args.spinup_days, args.climate_days)
    for key, value in c["summary"].items():
        base = key[:-2] if key[-2:] in ("_S", "_N") else key
        rng = EXPECTED.get(base)
        spec = f"   expected {rng[0]:g} .. {rng[1]:g}" if rng else ""
        print(f"  {key:<34}{value:>9.2f}{spec}")
    print("  all inside the expected ranges" if not c["outside_expected"] else
          "  OUTSIDE: " + "; ".join(c["outside_expected"]))
    for key, value in c.get("moist_summary", {}).items():
        print(f"  precipitation {key:<34}{value:>9.2f}")
    if "evaporation_global_mean" in c:
        print(f"  evaporation global mean (mm/day)       {c['evaporation_global_mean']:9.2f}")
        print(f"  negative q filled, global mean (mm/day) {c['negative_water_global_mean']:9.4f}")
    result["climate"] = c
    write(result, args.out)


def write(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
