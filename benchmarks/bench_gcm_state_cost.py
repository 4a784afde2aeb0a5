"""CPU time per T31L8 moist step at rest (where bench_gcm.py times B2/B3) and on a spun-up state.

    python benchmarks/bench_gcm_state_cost.py RESTART [--steps 10] [--repeats 3]

RESTART: a restart file of a T31L8 moist run (e.g. `lowprec run lowprec/experiments/gcm_precision.toml
--set params.truncation=31 --set run.length='"1000 days"' -o t31.nc`, then t31.restart.nc). Both
states are stepped in one process, in interleaved blocks of --steps after 4 steps of warm-up, for
float64 and 10 sbits stochastic; prints the median CPU ms per step (BLAS held to one thread, as
bench_gcm.py's B3), the ratio spun-up ÷ rest and the simulated years per hour of each.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")    # one core, as bench_gcm.py's B3 (CPU time of one thread)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lowprec.emulated import Emulator  # noqa: E402
from lowprec.formats import Format  # noqa: E402
from lowprec.harness.store import read_restart  # noqa: E402
from models.gcm import GCM, GCMParams  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("restart", type=Path)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    params = GCMParams(truncation=31, physics="moist")
    restart = read_restart(args.restart)
    years = restart.step * GCM(params).dt / 86400 / 365
    print(f"T31L8 moist; spun-up state: step {restart.step} ({years:.2f} years)")
    for name, emu in (("float64", Emulator(Format(52))),
                      ("10 sbits stochastic", Emulator(Format(10), "stochastic", seed=1))):
        model = GCM(params, emu)
        states = {"rest": model.initial_state(0), "spun-up": model.state_from_arrays(restart.arrays)}
        for k in states:
            for _ in range(4):
                states[k] = model.step(states[k])
        times: dict[str, list[float]] = {k: [] for k in states}
        for _ in range(args.repeats):
            for k in states:
                t0 = time.process_time()
                for _ in range(args.steps):
                    states[k] = model.step(states[k])
                times[k].append((time.process_time() - t0) / args.steps * 1e3)
        rest, spun = np.median(times["rest"]), np.median(times["spun-up"])
        per_year = 365 * 86400 / model.dt
        print(f"{name:<20} rest {rest:6.1f} ms  spun-up {spun:6.1f} ms  ratio {spun / rest:.2f}  "
              f"simulated yr/h: rest {3.6e6 / (rest * per_year):.1f}, spun-up "
              f"{3.6e6 / (spun * per_year):.1f}")


if __name__ == "__main__":
    main()
