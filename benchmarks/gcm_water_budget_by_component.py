"""Where does the moist GCM's rain go at 10 sbits? Its water budget with each component rounded.

The GCM precision experiment (README, "GCM precision experiment") found, at 10 sbits with
round-to-nearest, a mean precipitation a third below double precision's. This script asks which
component's rounding does it, and through which term of the water budget: from one float64
spun-up state, runs of --days in float64, with every component at --sbits, and with one
component at a time at --sbits (the others exact), each with nearest and stochastic rounding, and
reports the global means over the run of

    P  precipitation, E  evaporation, A  water added by the negative-q fill (mm/day),
    ΔW the change of column water (mm), and the residual ΔW − (E − P + A)·days (mm):
    water the dynamics made or lost, which the physics' bookkeeping does not see.

    python benchmarks/gcm_water_budget_by_component.py [--truncation 21] [--spinup-days 300]
        [--days 60] [--sbits 10] [--starts 2]

--starts spin-up states 30 days apart are each run (global means averaged; their spread shown).
Writes benchmarks/results/gcm_water_budget.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lowprec.emulated import Emulator  # noqa: E402
from lowprec.formats import Format  # noqa: E402
from models.gcm import GCM, GCMParams  # noqa: E402

RESULTS = Path(__file__).parent / "results"
SEED = 2022


def global_mean(model: GCM, field: np.ndarray) -> float:
    """Area mean of a (lat, lon) field with the Gaussian weights (Σ w_j = 2)."""
    return float(np.sum(np.asarray(field).mean(axis=-1) * model.transform64.weights) / 2)


def column_water(model: GCM, state) -> float:
    """Global mean of W = Σ_k q_k Δσ_k p_s / g, kg m⁻² (= mm)."""
    f = model.grid_fields(state)
    dsigma = np.diff(model.levels.half)[:, None, None]
    return global_mean(model, np.sum(f["q"] * dsigma, axis=0) * f["ps"] / model.params.gravity)


@dataclass
class Budget:
    precipitation: float    # mm/day
    evaporation: float      # mm/day
    water_added: float      # mm/day
    change: float           # ΔW over the run, mm
    residual: float         # ΔW − (E − P + A)·days, mm
    seconds: float


def run(params: GCMParams, arrays: dict, emu, days: int) -> Budget:
    """`days` from the float64 state `arrays` in arithmetic `emu`: the global water budget."""
    model = GCM(params, emu)
    state = model.state_from_arrays(arrays)
    sums0 = {n: global_mean(model, a) for n, a in state.sums.total.items()}
    w0 = column_water(model, state)
    steps = round(days * 86400 / model.dt)
    start = time.perf_counter()
    for _ in range(steps):
        state = model.step(state)
    seconds = time.perf_counter() - start
    total = {n: global_mean(model, a) - sums0[n] for n, a in state.sums.total.items()}
    change = column_water(model, state) - w0
    budget = total["evaporation"] - total["precipitation"] + total["water_added"]
    return Budget(precipitation=total["precipitation"] / days,
                  evaporation=total["evaporation"] / days,
                  water_added=total["water_added"] / days,
                  change=change, residual=change - budget, seconds=seconds)


def arithmetics(sbits: int) -> dict[str, object]:
    """Label -> arithmetic: float64, all at `sbits`, each component alone at `sbits`."""
    out: dict[str, object] = {"float64": Emulator(Format(52))}
    for mode in ("nearest", "stochastic"):
        out[f"all {mode}"] = Emulator(Format(sbits), mode, seed=SEED)
        for name in GCM.COMPONENTS:
            out[f"{name} {mode}"] = Emulator(Format(52), mode, seed=SEED,
                                             components={name: {"sbits": sbits, "mode": mode}})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--truncation", type=int, default=21)
    ap.add_argument("--spinup-days", type=int, default=300)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--sbits", type=int, default=10)
    ap.add_argument("--starts", type=int, default=2)
    args = ap.parse_args()
    load = os.getloadavg()
    params = GCMParams(truncation=args.truncation, physics="moist")
    model = GCM(params)
    state = model.initial_state(SEED)
    per_day = round(86400 / model.dt)
    starts = []
    t0 = time.perf_counter()
    for k in range(args.spinup_days * per_day + (args.starts - 1) * 30 * per_day):
        state = model.step(state)
        day = (k + 1) / per_day
        if day >= args.spinup_days and (day - args.spinup_days) % 30 == 0:
            starts.append(model.state_arrays(state))
    print(f"T{args.truncation} moist, float64 spin-up {args.spinup_days} days + "
          f"{len(starts)} starts 30 days apart: {time.perf_counter() - t0:.0f} s", flush=True)
    rows: dict[str, list[Budget]] = {}
    for label, emu in arithmetics(args.sbits).items():
        for arrays in starts:
            rows.setdefault(label, []).append(run(params, arrays, emu, args.days))
        b = rows[label]
        print(f"{label:<26}" + " ".join(f"{np.mean([getattr(x, f) for x in b]):8.3f}"
                                        for f in ("precipitation", "evaporation", "water_added",
                                                  "change", "residual")), flush=True)
    header = (f"{'run (' + str(args.sbits) + ' sbits)':<26}{'P':>8} {'E':>8} {'A':>8} "
              f"{'ΔW':>8} {'resid':>8}   P spread   (P, E, A mm/day; ΔW, residual mm over "
              f"{args.days} days; mean of {len(starts)} starts)")
    print(header)
    for label, b in rows.items():
        p = [x.precipitation for x in b]
        print(f"{label:<26}" + " ".join(f"{np.mean([getattr(x, f) for x in b]):8.3f}"
                                        for f in ("precipitation", "evaporation", "water_added",
                                                  "change", "residual"))
              + f"   {min(p):.3f}–{max(p):.3f}")
    RESULTS.mkdir(exist_ok=True)
    out = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "python": platform.python_version(), "loadavg_at_start": load,
           "command": " ".join(sys.argv), "truncation": args.truncation,
           "spinup_days": args.spinup_days, "days": args.days, "sbits": args.sbits,
           "rows": {k: [vars(x) for x in v] for k, v in rows.items()}}
    (RESULTS / "gcm_water_budget.json").write_text(json.dumps(out, indent=1))
    print(f"wrote {RESULTS / 'gcm_water_budget.json'}")


if __name__ == "__main__":
    main()
