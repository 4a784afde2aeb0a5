"""B5: the validator against a scipy.stats.wasserstein_distance loop over the same pairs.

Problem: 96 × 48 points, 14 600 samples per series (10 years of 6-hourly output), 5 controls ×
5 competitors = 25 pairs per point, float64, in open_sweep's layout (time before lat, lon).
lowprec: validation.evaluate (each run sorted once, 25 pairs per point, p-values and FDR on,
no W(t) windows), dask threads (default) and single-threaded ("synchronous").
scipy: the same 25 wasserstein_distance calls per point, timed on a random subset of points and
extrapolated per point to the whole grid (the full loop would take most of an hour); the ratio
uses scipy's best case, each point's series copied contiguous beforehand (untimed); the time on
views of the sweep array is printed too. Median of repeats.
Values: evaluate's per-point mean over pairs against the mean of scipy's 25, relative 1e-12.

    .venv/bin/python benchmarks/bench_validation.py [--nlat 48 --nlon 96 --samples 14600]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
import scipy.stats
import xarray as xr

import validation

TARGET = 50.0


def make_sweep(nlat: int, nlon: int, samples: int, seed: int = 2026) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    x = np.empty((1, 1, 10, samples, nlat, nlon))
    for k in range(10):                      # one member at a time: no float64 temporaries of 5 GB
        x[0, 0, k] = rng.standard_normal((samples, nlat, nlon)) * (1.0 + 0.01 * k)
    ds = xr.Dataset(
        {"T": (("sbits", "mode", "member", "time", "lat", "lon"), x, {"units": "K"})},
        coords={"sbits": [52], "mode": ["nearest"], "member": np.arange(10),
                "time": np.arange(samples) * 0.25, "lat": np.linspace(-87.2, 87.2, nlat),
                "lon": np.arange(nlon) * 360.0 / nlon})
    ds.attrs.update(lowprec_control_members=[0, 1, 2, 3, 4], lowprec_competitor_members=[5, 6, 7, 8, 9])
    return ds


def scipy_point(series: np.ndarray) -> float:
    """The mean over the 25 pairs at one point; series (member, time)."""
    return float(np.mean([scipy.stats.wasserstein_distance(series[c], series[k])
                          for c in range(5) for k in range(5, 10)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nlat", type=int, default=48)
    ap.add_argument("--nlon", type=int, default=96)
    ap.add_argument("--samples", type=int, default=14600)
    ap.add_argument("--scipy-points", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "validation.json"))
    args = ap.parse_args()
    points = args.nlat * args.nlon

    ds = make_sweep(args.nlat, args.nlon, args.samples)
    validation.evaluate(ds.isel(lat=slice(0, 2)), windows=[])          # numba compile, warm-up

    timings: dict[str, list[float]] = {"threads": [], "synchronous": []}
    result = None
    for _ in range(args.repeats):
        for scheduler in timings:
            t0 = time.perf_counter()
            result = validation.evaluate(ds, windows=[], scheduler=scheduler)
            timings[scheduler].append(time.perf_counter() - t0)

    rng = np.random.default_rng(5)
    subset = rng.choice(points, size=min(args.scipy_points, points), replace=False)
    ij = [(int(p) // args.nlon, int(p) % args.nlon) for p in subset]
    data = ds["T"].values[0, 0]
    strided = [data[:, :, i, j] for i, j in ij]                       # views into the sweep layout
    contiguous = [np.ascontiguousarray(x) for x in strided]           # scipy's best case
    scipy_times: dict[str, list[float]] = {"strided": [], "contiguous": []}
    worst = 0.0
    ours = result["w1_null_T"].transpose("lat", "lon").values
    for _ in range(args.repeats):
        for layout, inputs in (("strided", strided), ("contiguous", contiguous)):
            t0 = time.perf_counter()
            values = [scipy_point(x) for x in inputs]
            scipy_times[layout].append((time.perf_counter() - t0) / len(ij) * points)
            worst = max([worst] + [abs(ours[i, j] / v - 1) for (i, j), v in zip(ij, values)])

    scipy_full = statistics.median(scipy_times["contiguous"])
    scipy_strided = statistics.median(scipy_times["strided"])
    rows = {k: statistics.median(v) for k, v in timings.items()}
    table = {
        "benchmark": "B5 validator",
        "date": date.today().isoformat(),
        "points": points, "samples": args.samples, "pairs_per_point": 25,
        "scipy_points_timed": len(ij),
        "scipy_seconds_extrapolated": scipy_full,
        "scipy_seconds_extrapolated_strided_input": scipy_strided,
        "lowprec_seconds_threads": rows["threads"],
        "lowprec_seconds_synchronous": rows["synchronous"],
        "speedup_threads": scipy_full / rows["threads"],
        "speedup_synchronous": scipy_full / rows["synchronous"],
        "target_speedup": TARGET,
        "max_relative_difference": worst,
        "values_equal_1e-12": bool(worst <= 1e-12),
        "repeats": args.repeats,
    }
    print(f"B5: {args.nlat}x{args.nlon} points x {args.samples} samples, 5 controls x 5 competitors")
    print(f"{'what':44s} {'seconds':>10s} {'scipy / this':>13s}")
    print(f"{'scipy loop, contiguous series (from %d points)' % len(ij):44s} {scipy_full:10.2f} {1.0:13.1f}")
    print(f"{'scipy loop, series as views of the sweep':44s} {scipy_strided:10.2f} "
          f"{scipy_full / scipy_strided:13.1f}")
    for k in ("threads", "synchronous"):
        print(f"{'lowprec evaluate, dask ' + k:44s} {rows[k]:10.2f} {scipy_full / rows[k]:13.1f}")
    print(f"target >= {TARGET:.0f}x; max relative difference vs scipy {worst:.2e} "
          f"({'ok' if worst <= 1e-12 else 'FAIL'} at 1e-12)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
