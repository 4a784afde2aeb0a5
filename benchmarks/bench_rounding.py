"""B1 and B1p: the cost of rounding 1e6 float64 values, against a numpy multiply and pychop.

B1:  lowprec.round time / time of `x * c` on the same array (both allocate their output);
     targets nearest <= 1.5x, stochastic <= 2.5x.
B1p: pychop 0.6.2 Chop(exp_bits, sig_bits, rmode=1/5) time / lowprec time; target >= 100x, and
     identical round-to-nearest results on normal-range inputs.
Formats: 10 sbits with float64's exponent range, and IEEE half (10 sbits, 5 ebits). Median of
several repeats, timed interleaved in the same run. Usage: python benchmarks/bench_rounding.py
"""
from __future__ import annotations

import datetime
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import lowprec
from lowprec.formats import Format

N = 1_000_000
REPEATS = 21
PYCHOP_REPEATS = 3
FORMATS = {"sbits10": Format(10), "half": Format(10, 5)}
TARGET_B1 = {"nearest": 1.5, "stochastic": 2.5}
TARGET_B1P = 100.0


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paired_ratio(fn, baseline, repeats: int) -> tuple[float, float, float]:
    """(median of fn / baseline over interleaved pairs, median fn time, median baseline time)."""
    ratios, tf, tb = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        baseline()
        t1 = time.perf_counter()
        fn()
        t2 = time.perf_counter()
        tb.append(t1 - t0)
        tf.append(t2 - t1)
        ratios.append((t2 - t1) / (t1 - t0))
    return statistics.median(ratios), statistics.median(tf), statistics.median(tb)


def main() -> dict:
    from pychop import Chop

    rng = np.random.default_rng(20261129)
    x = rng.standard_normal(N)
    c = 1.0001
    results = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
               "command": "python benchmarks/bench_rounding.py", "n": N,
               "python": platform.python_version(), "numpy": np.__version__,
               "machine": platform.machine(), "B1": [], "B1p": []}
    for name, fmt in FORMATS.items():
        for mode in ("nearest", "stochastic"):
            run = lambda: lowprec.round(x, fmt, mode, seed=1, counter=0)  # noqa: E731
            run()                                                          # compile / load cache
            ratio, t_low, t_mul = paired_ratio(run, lambda: x * c, REPEATS)
            results["B1"].append({"format": name, "mode": mode, "ratio": ratio,
                                  "lowprec_ms": 1e3 * t_low, "multiply_ms": 1e3 * t_mul,
                                  "target": TARGET_B1[mode], "met": ratio <= TARGET_B1[mode]})

            chop = Chop(exp_bits=11 if fmt.ebits is None else fmt.ebits, sig_bits=fmt.sbits,
                        rmode=1 if mode == "nearest" else 5)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                theirs = np.asarray(chop(x))
                t_pychop = median_time(lambda: chop(x), PYCHOP_REPEATS)
            t_ours = median_time(run, REPEATS)
            entry = {"format": name, "mode": mode, "ratio": t_pychop / t_ours,
                     "pychop_ms": 1e3 * t_pychop, "lowprec_ms": 1e3 * t_ours,
                     "target": TARGET_B1P, "met": t_pychop / t_ours >= TARGET_B1P}
            if mode == "nearest":
                ours = run()
                normal = (np.abs(x) >= fmt.min_normal) & (np.abs(x) <= fmt.max_finite)
                differ = ours.view(np.uint64) != theirs.view(np.uint64)
                entry["normal_range_values"] = int(normal.sum())
                entry["differ_in_normal_range"] = int((differ & normal).sum())
                entry["differ_elsewhere"] = int((differ & ~normal).sum())
                entry["met"] = entry["met"] and entry["differ_in_normal_range"] == 0
            results["B1p"].append(entry)

    print(f"B1: lowprec.round on {N:.0e} float64 values / x * c (median of {REPEATS} pairs)")
    print(f"{'format':10} {'mode':11} {'ratio':>7} {'target':>7} {'lowprec ms':>11} "
          f"{'multiply ms':>12}  met")
    for r in results["B1"]:
        print(f"{r['format']:10} {r['mode']:11} {r['ratio']:7.2f} {r['target']:7.1f} "
              f"{r['lowprec_ms']:11.3f} {r['multiply_ms']:12.3f}  {'yes' if r['met'] else 'NO'}")
    print(f"\nB1p: pychop {_pychop_version()} Chop / lowprec.round (median of "
          f"{PYCHOP_REPEATS} / {REPEATS})")
    print(f"{'format':10} {'mode':11} {'ratio':>8} {'pychop ms':>10} {'lowprec ms':>11} "
          f"{'differ (normal range)':>22}  met")
    for r in results["B1p"]:
        differ = (f"{r['differ_in_normal_range']} of {r['normal_range_values']}"
                  if "differ_in_normal_range" in r else "(random)")
        print(f"{r['format']:10} {r['mode']:11} {r['ratio']:8.0f} {r['pychop_ms']:10.1f} "
              f"{r['lowprec_ms']:11.3f} {differ:>22}  {'yes' if r['met'] else 'NO'}")
    out = Path(__file__).parent / "results" / "rounding.json"
    out.parent.mkdir(exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps(results, indent=2) + "\n")
    partial.replace(out)
    print(f"\nwrote {out}")
    return results


def _pychop_version() -> str:
    from importlib.metadata import version
    return version("pychop")


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
