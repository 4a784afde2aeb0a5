"""The sequential policy's cost on the GCM's spectral transforms (issue 8; B6's ingredients).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_compound.py [--repeats 7]
        [--rows 8] [--label after]

Operations, shaped as the T31 GCM's (96 longitudes × 48 Gaussian latitudes, `rows` = fields ×
levels, 8 by default: one 8-level field):
    rfft          real (rows, 48, 96) -> (rows, 48, 49) along longitude
    irfft         (rows, 48, 49) -> real (rows, 48, 96)
    legendre_a    analysis, per zonal wavenumber m = 0..31: (rows, 48) complex @ (48, 32 - m)
                  real (Gaussian-weighted Legendre functions), 32 matmul calls
    legendre_s    synthesis, per m: (rows, 32 - m) complex @ (32 - m, 48) real, 32 calls
    legendre_a_b  analysis batched over m in one matmul, the table zero-padded to
                  (32, 48, 32): (32, rows, 48) complex @ (32, 48, 32) real
    sum           np.sum of (rows, 48, 96) over latitude and longitude
Each is timed with plain float64 numpy, and with the emulator at 10 sbits (float64 exponent
range) under the fused and the sequential policy, nearest and stochastic: `repeats` interleaved
repeats after a warm-up (numba compilation excluded). Printed: sequential ÷ fused (the B6 ratio
for the operation) and sequential ÷ float64, each the median of the ratios of times taken in
the same repeat, and ns per rounded operation of the sequential policy (median time; the JSON
also has the best repeat's). Rounded operations are counted from the algorithm: a contraction
rounds (operands - 1) multiplies and one add per term, twice for a complex operand; an FFT its
butterflies' operations (`compound.fourier_operation_count`; before that existed, the rounded
DFT's 2 per term). Writes benchmarks/results/compound[_<label>].json. Nothing is asserted.

Also printed: the transforms of one GCM step from these figures (B6's ingredients:
`--synthesis` and `--analysis` 8-level fields per step, each an FFT and a Legendre transform
per m, `--rows` / 8 fields per call), and
the error growth of the rounded FFT against a rounded DFT (rms relative error against numpy's
float64 FFT, 10 sbits, n = 16 .. 4096; the DFT as the sequential matmul by the rounded DFT
matrix, which is what the sequential FFT was before).
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

from lowprec.emulated import Emulator, compound  # noqa: E402
from lowprec.formats import Format  # noqa: E402

SBITS = 10
N_LON, N_LAT, TRUNCATION = 96, 48, 31


def fourier_ops(kind: str, n: int) -> int:
    """Rounded operations of one sequential transform of length n (per row)."""
    count = getattr(compound, "fourier_operation_count", None)
    if count is not None:
        return count(kind, n)
    f = n // 2 + 1                                    # the former rounded DFT: 2 ops per term
    return {"rfft": 2 * f * n * 2, "irfft": n * 2 * f * 2}[kind]


def operations(rows: int) -> dict[str, tuple[Callable[[Any, dict], Callable[[], Any]], int]]:
    """name -> (make(arith, data) giving a callable to time, rounded operations per call)."""
    M = TRUNCATION + 1
    n_l = [M - m for m in range(M)]
    legendre_ops = 2 * sum(rows * n * N_LAT * 2 for n in n_l)         # complex: twice
    return {
        "rfft": (lambda np_, d: lambda: np.fft.rfft(d["grid"], axis=-1),
                 rows * N_LAT * fourier_ops("rfft", N_LON)),
        "irfft": (lambda np_, d: lambda: np.fft.irfft(d["spectrum"], axis=-1),
                  rows * N_LAT * fourier_ops("irfft", N_LON)),
        "legendre_a": (lambda np_, d: lambda: [d["fourier"][m] @ d["P_a"][m] for m in range(M)],
                       legendre_ops),
        "legendre_s": (lambda np_, d: lambda: [d["coeffs"][m] @ d["P_s"][m] for m in range(M)],
                       legendre_ops),
        "legendre_a_b": (lambda np_, d: lambda: d["fourier_b"] @ d["P_b"],
                         2 * M * rows * M * N_LAT * 2),
        "sum": (lambda np_, d: lambda: np.sum(d["grid"], axis=(1, 2)), rows * N_LAT * N_LON),
    }


def data(arith: Any, rows: int) -> dict:
    """The operands, entered through `arith` (an Emulator, or None for plain float64)."""
    rng = np.random.default_rng(20261201)
    M = TRUNCATION + 1
    enter = (lambda x: x) if arith is None else arith.asarray
    grid = rng.standard_normal((rows, N_LAT, N_LON))
    spectrum = np.fft.rfft(grid, axis=-1)
    fourier = [rng.standard_normal((rows, N_LAT)) + 1j * rng.standard_normal((rows, N_LAT))
               for _ in range(M)]
    coeffs = [rng.standard_normal((rows, M - m)) + 1j * rng.standard_normal((rows, M - m))
              for m in range(M)]
    P_a = [rng.standard_normal((N_LAT, M - m)) for m in range(M)]
    padded = np.zeros((M, N_LAT, M))
    for m in range(M):
        padded[m, :, m:] = P_a[m]
    return {"grid": enter(grid), "spectrum": enter(spectrum),
            "fourier": [enter(f) for f in fourier], "coeffs": [enter(c) for c in coeffs],
            "P_a": [enter(p) for p in P_a], "P_s": [enter(np.ascontiguousarray(p.T))
                                                    for p in P_a],
            "fourier_b": enter(np.stack(fourier)), "P_b": enter(padded)}


def arithmetics() -> dict[str, Callable[[], Any]]:
    fmt = Format(SBITS)
    return {
        "float64": lambda: None,
        "fused_nearest": lambda: Emulator(fmt, "nearest", policy="fused"),
        "fused_stochastic": lambda: Emulator(fmt, "stochastic", seed=1, policy="fused"),
        "sequential_nearest": lambda: Emulator(fmt, "nearest", policy="sequential"),
        "sequential_stochastic": lambda: Emulator(fmt, "stochastic", seed=1,
                                                  policy="sequential"),
    }


def timed(make: Callable, rows: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per call for each arithmetic and repeat, the repeats interleaved across the
    arithmetics (so that a change of machine load hits all of them alike)."""
    calls = {}
    for name, new in arithmetics().items():
        arith = new()
        fn = make(arith, data(arith, rows))
        fn()                                          # compile, fill caches
        calls[name] = (fn, [])
    for _ in range(repeats):
        for fn, times in calls.values():
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return {name: times for name, (fn, times) in calls.items()}


def paired(a: list[float], b: list[float]) -> float:
    """Median over repeats of a/b, each ratio of two times taken in the same repeat."""
    return statistics.median(x / y for x, y in zip(a, b))


def step_estimate(rows: list[dict], args) -> dict:
    """The transforms of one GCM step from the per-operation times: `synthesis` (Legendre per
    m, then irfft) and `analysis` (rfft, then Legendre per m) transforms of 8-level fields,
    done `rows` / 8 fields per call."""
    t = {(r["operation"], r["mode"]): r for r in rows}
    calls = {"synthesis": args.synthesis * 8 / args.rows,
             "analysis": args.analysis * 8 / args.rows}
    out = {"synthesis_fields": args.synthesis, "analysis_fields": args.analysis,
           "rows_per_call": args.rows}
    print(f"\nTransforms of one GCM step ({args.synthesis} syntheses + {args.analysis} "
          f"analyses of 8-level fields, {args.rows} rows per call)")
    print(f"{'mode':<12}{'fused ms':>10}{'seq ms':>10}{'seq - fused ms':>16}{'seq/fused':>11}")
    for mode in ("nearest", "stochastic"):
        times = {}
        for policy in ("fused", "sequential"):
            key = f"{policy}_ms"
            times[policy] = (calls["synthesis"] * (t["legendre_s", mode][key]
                                                   + t["irfft", mode][key])
                             + calls["analysis"] * (t["rfft", mode][key]
                                                    + t["legendre_a", mode][key]))
        out[mode] = {"fused_ms": times["fused"], "sequential_ms": times["sequential"],
                     "ratio": times["sequential"] / times["fused"]}
        print(f"{mode:<12}{times['fused']:>10.2f}{times['sequential']:>10.2f}"
              f"{times['sequential'] - times['fused']:>16.2f}"
              f"{times['sequential'] / times['fused']:>11.2f}")
    return out


def error_growth(sizes=(16, 64, 256, 1024, 4096), sbits: int = SBITS) -> list[dict]:
    """rms relative error of the rounded FFT and of a rounded DFT against numpy (float64)."""
    out = []
    print(f"\nError growth, {sbits} sbits: rms relative error against numpy's float64 FFT "
          f"(8 rows of N(0, 1))")
    print(f"{'n':>6}  {'mode':<12}{'FFT':>10}{'DFT':>10}{'DFT/FFT':>9}")
    for n in sizes:
        x = np.random.default_rng(n).standard_normal((8, n))
        k = np.arange(n)
        W = np.exp(-2j * np.pi * np.outer(k, k) / n)
        for mode in ("nearest", "stochastic"):
            emu = Emulator(Format(sbits), mode, seed=1, policy="sequential")
            a = emu.asarray(x)
            exact = np.fft.fft(emu.to_float64(a))
            err = [float(np.linalg.norm(emu.to_float64(y) - exact) / np.linalg.norm(exact))
                   for y in (np.fft.fft(a), a @ emu.const(W))]
            out.append({"n": n, "mode": mode, "fft": err[0], "dft": err[1]})
            print(f"{n:>6}  {mode:<12}{err[0]:>10.2e}{err[1]:>10.2e}{err[1] / err[0]:>9.1f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--rows", type=int, default=8, help="fields × levels (default 8)")
    ap.add_argument("--label", default="", help="suffix of the JSON file's name")
    ap.add_argument("--synthesis", type=int, default=45,
                    help="spectral-to-grid transforms of 8-level fields per GCM step")
    ap.add_argument("--analysis", type=int, default=55,
                    help="grid-to-spectral transforms of 8-level fields per GCM step")
    ap.add_argument("--no-growth", action="store_true", help="skip the error-growth table")
    args = ap.parse_args()

    rows = []
    for name, (make, ops) in operations(args.rows).items():
        t = timed(make, args.rows, args.repeats)
        med = {k: statistics.median(v) for k, v in t.items()}
        for mode in ("nearest", "stochastic"):
            seq, fused = t[f"sequential_{mode}"], t[f"fused_{mode}"]
            rows.append({"operation": name, "mode": mode, "rounded_ops": ops,
                         "float64_ms": 1e3 * med["float64"],
                         "fused_ms": 1e3 * med[f"fused_{mode}"],
                         "sequential_ms": 1e3 * med[f"sequential_{mode}"],
                         "sequential_over_fused": paired(seq, fused),
                         "sequential_over_float64": paired(seq, t["float64"]),
                         "fused_over_float64": paired(fused, t["float64"]),
                         "ns_per_rounded_op": 1e9 * med[f"sequential_{mode}"] / ops,
                         "ns_per_rounded_op_best": 1e9 * min(seq) / ops})
    print(f"\nSequential vs fused policy, {SBITS} sbits, rows = {args.rows} (fields × levels), "
          f"{args.repeats} interleaved repeats (times: medians; ratios: medians of paired ratios)")
    print(f"{'operation':<14}{'mode':<12}{'rounded ops':>12}{'f64 ms':>9}{'fused ms':>10}"
          f"{'seq ms':>10}{'seq/fused':>10}{'seq/f64':>9}{'ns/op':>7}")
    for r in rows:
        print(f"{r['operation']:<14}{r['mode']:<12}{r['rounded_ops']:>12}{r['float64_ms']:>9.3f}"
              f"{r['fused_ms']:>10.3f}{r['sequential_ms']:>10.3f}"
              f"{r['sequential_over_fused']:>10.1f}{r['sequential_over_float64']:>9.1f}"
              f"{r['ns_per_rounded_op']:>7.2f}")

    step = step_estimate(rows, args)
    growth = [] if args.no_growth else error_growth()

    result = {"benchmark": "compound", "label": args.label,
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": "python benchmarks/bench_compound.py " + " ".join(sys.argv[1:]),
              "machine": platform.platform(), "python": platform.python_version(),
              "numpy": np.__version__, "sbits": SBITS, "repeats": args.repeats,
              "rows": args.rows, "operations": rows, "gcm_step_transforms": step,
              "error_growth": growth}
    out = Path(__file__).parent / "results" / (f"compound_{args.label}.json" if args.label
                                               else "compound.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
