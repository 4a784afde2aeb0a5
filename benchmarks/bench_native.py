"""B2 native: a model step in the format's own dtype ÷ a float64 step; and what native changes.

    python benchmarks/bench_native.py [--repeats 7]

1. B2 native. The three models at bench_models.py's sizes (Lorenz-63 10 000 particles, the
   61-node heat column, shallow water 100 × 50), stepped with float64 (plain numpy), the native
   arithmetic (lowprec.native: numpy float32 and float16, ml_dtypes bfloat16) and the emulator
   at the same formats (nearest): median seconds per step over `repeats` interleaved blocks after
   warm-up, as ratios to float64. Shallow water runs with nondimensional gradients in float16
   (ν overflows float16 otherwise); its float64 reference is the same configuration.
2. The "native" policy of compound operations, at the GCM's sizes (no model of today uses one
   in its step): 64 sums of 5 000 values, a Legendre-like matmul (48 × 48 by 48 × 256) and an FFT
   of 96 longitudes (× 64 rows), inputs already in the format. Error of each policy against
   the exact result (float64 of the same inputs, normwise), in units of u = 2**-(sbits+1),
   and the share of results where native and fused differ.
3. x * y on 10**6 values of each dtype, ns per element (why float16 and bfloat16 are slow).
4. Transcendental functions: numpy's float32 and float16 exp, log, sin, cos and x**(2/7) on
   10**6 values of the format, against lowprec.round of numpy's float64 result (correctly
   rounded except in cases rarer than 2**-28): the share that differs.
5. The GCM (Held–Suarez, T21, 8 levels), the one model with compound operations in its step
   (Legendre matmuls, FFTs, vertical sums) and transcendental functions (log, (p/p0)^κ): from
   one float64 state spun up `--gcm-spinup-days` from rest, N steps (`--gcm-steps`) each in
   float64, native float32 and the emulator at Format(23, 8) nearest with the fused and the
   sequential policy. Normwise difference of vorticity, temperature and ln p_s (the current
   leapfrog level, spectral coefficients) between every pair, relative to the float64 field's
   norm, and each float32 pair as a multiple of the native-vs-float64 difference. And B2 for
   the GCM: native float32 (and emulated fused) step time ÷ float64 step time.

    python benchmarks/bench_native.py --only gcm        # section 5 alone

Prints the tables and writes benchmarks/results/native.json (native_gcm.json with --only gcm).
Nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import ml_dtypes
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lowprec  # noqa: E402
from lowprec.emulated import Emulator  # noqa: E402
from lowprec.formats import Format  # noqa: E402
from lowprec.native import NativeArithmetic  # noqa: E402
from models.base import FLOAT64  # noqa: E402
from models.gcm import GCM, GCMParams  # noqa: E402
from models.heat import HeatColumn  # noqa: E402
from models.heat import Params as HeatParams  # noqa: E402
from models.lorenz63 import Lorenz63  # noqa: E402
from models.lorenz63 import Params as L63Params  # noqa: E402
from models.shallow_water import ShallowWater, ShallowWaterParams  # noqa: E402

FORMATS = {"float32": Format(23, 8), "float16": Format(10, 5), "bfloat16": Format(7, 8)}


def models() -> dict[str, tuple[Callable[[Any, str], Any], int, int]]:
    """name -> (make(arithmetic, format name), steps per timed block, warm-up steps)."""
    def sw(arith: Any, fmt: str) -> Any:
        return ShallowWater(ShallowWaterParams(nondimensional=fmt == "float16"), arith)
    return {
        "lorenz63": (lambda a, f: Lorenz63(L63Params(particles=10_000, prespin=0.0), a), 50, 10),
        "heat": (lambda a, f: HeatColumn(HeatParams(), a), 2000, 200),
        "shallow_water": (sw, 20, 5),
    }


def step_times(make: Callable[[Any, str], Any], fmt: str, steps: int, warmup: int,
               repeats: int) -> dict[str, float]:
    """Median seconds per step: float64, native and emulated at `fmt`, blocks interleaved."""
    arithmetics = {"float64": FLOAT64, "native": NativeArithmetic(FORMATS[fmt]),
                   "emulated": Emulator(FORMATS[fmt], "nearest")}
    runs = {}
    for name, arith in arithmetics.items():
        model = make(arith, fmt)
        runs[name] = (model, model.initial_state(0))
    return interleaved_times(runs, steps, warmup, repeats, time.perf_counter)


def interleaved_times(runs: dict[str, tuple[Any, Any]], steps: int, warmup: int, repeats: int,
                      clock: Callable[[], float]) -> dict[str, float]:
    """name -> (model, state): median `clock` seconds per step over `repeats` blocks of `steps`,
    the models' blocks interleaved, after `warmup` steps each."""
    timed = {}
    for name, (model, state) in runs.items():
        for _ in range(warmup):
            state = model.step(state)
        timed[name] = [model, state, []]
    for _ in range(repeats):
        for run in timed.values():
            model, state, times = run
            t0 = clock()
            for _ in range(steps):
                state = model.step(state)
            times.append((clock() - t0) / steps)
            run[1] = state
    return {name: statistics.median(run[2]) for name, run in timed.items()}


def multiply_ns(repeats: int, n: int = 1_000_000) -> dict[str, float]:
    """Nanoseconds per element of x * y on n values in each dtype (output preallocated)."""
    out = {}
    for name, dtype in (("float64", np.dtype(np.float64)),
                        *((f, NativeArithmetic(FORMATS[f]).dtype) for f in FORMATS)):
        x = np.random.default_rng(2).uniform(1, 2, n).astype(dtype)
        y, z = x[::-1].copy(), np.empty_like(x)
        times = []
        for _ in range(max(repeats, 5)):
            t0 = time.perf_counter()
            np.multiply(x, y, out=z)
            times.append(time.perf_counter() - t0)
        out[name] = 1e9 * statistics.median(times) / n
    return out


def relative_error(result: np.ndarray, exact: np.ndarray) -> float:
    return float(np.max(np.abs(result - exact)) / np.max(np.abs(exact)))


def compound_errors(fmt_name: str) -> list[dict]:
    """Native, fused and sequential results of three compound operations against exact."""
    fmt = FORMATS[fmt_name]
    rng = np.random.default_rng(5)
    native = NativeArithmetic(fmt)
    cases = {
        "sum 5000 (x64 rows)": (lambda: rng.standard_normal((64, 5000)) + 1.0,
                                lambda x: np.sum(x, axis=-1)),
        "matmul 48x48 @ 48x256": (lambda: (rng.standard_normal((48, 48)),
                                           rng.standard_normal((48, 256))),
                                  lambda ab: ab[0] @ ab[1]),
        "rfft 96 (x64 rows)": (lambda: rng.standard_normal((64, 96)),
                               lambda x: np.fft.rfft(x, axis=-1)),
    }
    rows = []
    for case, (data, op) in cases.items():
        raw = data()
        inputs = tuple(lowprec.round(a, fmt) for a in raw) if isinstance(raw, tuple) else \
            lowprec.round(raw, fmt)
        exact = op(inputs)                      # float64 of the format's values: the reference
        results: dict[str, Any] = {}
        nat_in = tuple(map(native.asarray, inputs)) if isinstance(inputs, tuple) else \
            native.asarray(inputs)
        nat = np.asarray(op(nat_in))
        results["native"] = nat.astype(np.complex128 if nat.dtype.kind == "c" else np.float64)
        results["native_dtype"] = str(nat.dtype)
        for policy in ("fused", "sequential"):
            emu = Emulator(fmt, "nearest", policy=policy)
            em_in = tuple(map(emu.asarray, inputs)) if isinstance(inputs, tuple) else \
                emu.asarray(inputs)
            results[policy] = emu.to_float64(op(em_in))
        u = fmt.unit_roundoff
        row = {"format": fmt_name, "operation": case, "native_dtype": results["native_dtype"]}
        for policy in ("native", "fused", "sequential"):
            row[f"{policy}_error_u"] = relative_error(results[policy], exact) / u
        for policy in ("fused", "sequential"):
            row[f"native_vs_{policy}_differ"] = float(np.mean(results["native"] != results[policy]))
        rows.append(row)
    return rows


def transcendental_mismatch(fmt_name: str, n: int = 1_000_000) -> dict[str, float]:
    """Share of numpy's exp/log/sin/cos/power results in the dtype that are not correctly
    rounded (against lowprec.round of the float64 result)."""
    fmt = FORMATS[fmt_name]
    rng = np.random.default_rng(9)
    out = {}
    domains = {"exp": (-10, 10, np.exp), "log": (1e-3, 1e3, np.log), "sin": (-100, 100, np.sin),
               "cos": (-100, 100, np.cos), "pow 2/7": (1e-2, 1e2, lambda x: x ** (2 / 7))}
    for name, (lo, hi, f) in domains.items():
        x = lowprec.round(rng.uniform(lo, hi, n), fmt)
        xd = NativeArithmetic(fmt).asarray(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if name == "pow 2/7":           # the exponent as the format holds it, in both
                kappa = float(lowprec.round(2 / 7, fmt))
                hardware = (xd ** NativeArithmetic(fmt).const(kappa)).astype(np.float64)
                rounded = lowprec.round(x ** kappa, fmt)
            else:
                hardware = f(xd).astype(np.float64)
                rounded = lowprec.round(f(x), fmt)
        out[name] = float(np.mean(hardware != rounded))
    return out


GCM_FIELDS = {"vor": "vorticity", "temp": "temperature", "lnps": "ln p_s"}
GCM_ARITHMETICS = ("float64", "native", "fused", "sequential")
GCM_PAIRS = (("native", "fused"), ("native", "sequential"), ("fused", "sequential"),
             ("fused", "float64"), ("sequential", "float64"))


def gcm_params() -> GCMParams:
    return GCMParams(truncation=21, levels=8, physics="held_suarez")


def gcm_arithmetics() -> dict[str, Any]:
    """The four arithmetics of section 5: float64, native float32, emulated float32 x 2 policies."""
    f32 = FORMATS["float32"]
    return {"float64": FLOAT64, "native": NativeArithmetic(f32),
            "fused": Emulator(f32, "nearest", policy="fused"),
            "sequential": Emulator(f32, "nearest", policy="sequential")}


def gcm_spun_up(days: float) -> dict[str, np.ndarray]:
    """State arrays (float64) of the float64 GCM run `days` from rest (seed 0)."""
    model = GCM(gcm_params())
    state = model.initial_state(0)
    for _ in range(round(days * 86400 / model.dt)):
        state = model.step(state)
    return model.state_arrays(state)


def gcm_differences(start: dict[str, np.ndarray], checkpoints: list[int]) -> list[dict]:
    """From the same state, each arithmetic's run; at each checkpoint (steps), for each field
    ||a - b||_2 / ||float64||_2 for every pair of arithmetics, on the current level's spectral
    coefficients (Parseval: the grid norm up to the weights of the spherical harmonics)."""
    runs = {}
    for name, arith in gcm_arithmetics().items():
        model = GCM(gcm_params(), arith)
        runs[name] = [model, model.state_from_arrays(start)]
    rows, done = [], 0
    for n in sorted(checkpoints):
        arrays = {}
        for name, run in runs.items():
            model, state = run
            for _ in range(n - done):
                state = model.step(state)
            run[1] = state
            arrays[name] = model.state_arrays(state)
        done = n
        for field in GCM_FIELDS:
            now = {name: a[f"now_{field}"] for name, a in arrays.items()}
            scale = float(np.linalg.norm(now["float64"]))
            row = {"steps": n, "field": field}
            for a, b in (("native", "float64"),) + GCM_PAIRS:
                row[f"{a}_vs_{b}"] = float(np.linalg.norm(now[a] - now[b])) / scale
            rows.append(row)
    return rows


def gcm_step_times(start: dict[str, np.ndarray], steps: int, repeats: int) -> dict[str, float]:
    """Median CPU seconds per GCM step: float64, native float32, emulated float32 fused (blocks
    of `steps` interleaved, after 2 warm-up steps). CPU time, as bench_gcm.py: the GCM's steps
    are long enough for it, and other jobs on a shared machine inflate it less than wall time."""
    arith = gcm_arithmetics()
    runs = {}
    for name in ("float64", "native", "fused"):
        model = GCM(gcm_params(), arith[name])
        runs[name] = (model, model.state_from_arrays(start))
    return interleaved_times(runs, steps, 2, repeats, time.process_time)


def gcm_section(spinup_days: float, checkpoints: list[int], repeats: int) -> dict[str, Any]:
    """Section 5: prints its tables, returns them for the JSON."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        start = gcm_spun_up(spinup_days)
        diffs = gcm_differences(start, checkpoints)
        times = gcm_step_times(start, 10, repeats)
    print(f"GCM Held–Suarez T21L8, from one float64 state {spinup_days:g} days from rest: "
          "||a - b|| / ||float64|| of the current level's spectral coefficients")
    head = [("native", "float64")] + list(GCM_PAIRS)
    print(f"{'steps':>6} {'field':<12}" + "".join(f"{a[:3] + '-' + b[:3]:>10}" for a, b in head)
          + "   as multiples of native-f64: nat-fus nat-seq fus-seq")
    for r in diffs:
        ref = r["native_vs_float64"]
        ratios = [r[f"{a}_vs_{b}"] / ref if ref else float("nan") for a, b in GCM_PAIRS[:3]]
        print(f"{r['steps']:>6} {GCM_FIELDS[r['field']]:<12}"
              + "".join(f"{r[f'{a}_vs_{b}']:>10.2e}" for a, b in head)
              + "".join(f"{x:>8.2f}" for x in ratios))
    b2 = {"float64_step_ms": 1e3 * times["float64"], "native_step_ms": 1e3 * times["native"],
          "emulated_fused_step_ms": 1e3 * times["fused"],
          "native_ratio": times["native"] / times["float64"],
          "emulated_ratio": times["fused"] / times["float64"]}
    print(f"\nB2 GCM T21L8, float32 (CPU time, median of {repeats} blocks of 10 steps): float64 "
          f"{b2['float64_step_ms']:.2f} ms, native {b2['native_step_ms']:.2f} ms "
          f"({b2['native_ratio']:.2f}x), emulated fused {b2['emulated_fused_step_ms']:.2f} ms "
          f"({b2['emulated_ratio']:.2f}x)")
    return {"spinup_days": spinup_days, "differences": diffs, "b2": b2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON output (default results/native.json, native_gcm.json with --only gcm)")
    ap.add_argument("--only", choices=["gcm"], default=None, help="run section 5 alone")
    ap.add_argument("--gcm-spinup-days", type=float, default=200.0)
    ap.add_argument("--gcm-steps", default="1,10,100", help="checkpoints, comma-separated")
    args = ap.parse_args()
    results = Path(__file__).parent / "results"
    checkpoints = [int(n) for n in args.gcm_steps.split(",")]
    if args.only == "gcm":
        gcm = gcm_section(args.gcm_spinup_days, checkpoints, args.repeats)
        out = args.out or results / "native_gcm.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "numpy": np.__version__,
            "machine": platform.machine(), "repeats": args.repeats, "gcm": gcm}, indent=2))
        print(f"\nwrote {out}")
        return
    args.out = args.out or results / "native.json"

    b2 = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, (make, steps, warmup) in models().items():
            for fmt in FORMATS:
                t = step_times(make, fmt, steps, warmup, args.repeats)
                b2.append({"model": name, "format": fmt, "float64_step_ms": 1e3 * t["float64"],
                           "native_step_ms": 1e3 * t["native"],
                           "emulated_step_ms": 1e3 * t["emulated"],
                           "native_ratio": t["native"] / t["float64"],
                           "emulated_ratio": t["emulated"] / t["float64"]})
    print("B2 native: step time / float64 step time (same model, same run)")
    print(f"{'model':<15}{'format':<10}{'float64 ms':>11}{'native ms':>11}{'native':>8}"
          f"{'emulated ms':>13}{'emulated':>10}")
    for r in b2:
        print(f"{r['model']:<15}{r['format']:<10}{r['float64_step_ms']:>11.4f}"
              f"{r['native_step_ms']:>11.4f}{r['native_ratio']:>8.2f}"
              f"{r['emulated_step_ms']:>13.4f}{r['emulated_ratio']:>10.2f}")

    per_element = multiply_ns(args.repeats)
    print("\nx * y on 10**6 values, ns per element: " +
          ", ".join(f"{k} {v:.2f}" for k, v in per_element.items()))

    compound = [row for fmt in FORMATS for row in compound_errors(fmt)]
    print("\nCompound operations: max error / (max |exact| · u), inputs in the format; share of "
          "results where native differs from fused / sequential")
    print(f"{'format':<9}{'operation':<24}{'native dtype':<14}{'native':>8}{'fused':>8}"
          f"{'sequential':>12}{'≠fused':>8}{'≠seq.':>8}")
    for r in compound:
        print(f"{r['format']:<9}{r['operation']:<24}{r['native_dtype']:<14}"
              f"{r['native_error_u']:>8.2f}{r['fused_error_u']:>8.2f}"
              f"{r['sequential_error_u']:>12.2f}{r['native_vs_fused_differ']:>8.1%}"
              f"{r['native_vs_sequential_differ']:>8.1%}")

    transcendental = {fmt: transcendental_mismatch(fmt) for fmt in FORMATS}
    print("\nTranscendental functions: share of numpy results in the dtype not correctly rounded")
    names = list(next(iter(transcendental.values())))
    print(f"{'format':<10}" + "".join(f"{n:>10}" for n in names))
    for fmt, shares in transcendental.items():
        print(f"{fmt:<10}" + "".join(f"{shares[n]:>10.2e}" for n in names))

    print()
    gcm = gcm_section(args.gcm_spinup_days, checkpoints, args.repeats)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "numpy": np.__version__,
        "ml_dtypes": ml_dtypes.__version__, "machine": platform.machine(),
        "repeats": args.repeats, "b2_native": b2, "multiply_ns_per_element": per_element,
        "compound": compound,
        "transcendental_not_correctly_rounded": transcendental, "gcm": gcm}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
