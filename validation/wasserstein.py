"""Wasserstein distances between 1-D samples, by sorting: W1 and W2 on numpy arrays.

For samples x (n values) and y (m values) with empirical quantile functions F⁻¹ and G⁻¹,

    W1 = ∫₀¹ |F⁻¹(p) − G⁻¹(p)| dp,        W2 = ( ∫₀¹ (F⁻¹(p) − G⁻¹(p))² dp )^½,

in the units of the samples. For n = m this is mean |x₍ᵢ₎ − y₍ᵢ₎| over the order statistics; for
n ≠ m the integral runs over the union of the breakpoints {i/n} ∪ {j/m}, on which both quantile
functions are constant. Everything accumulates in float64 whatever the input dtype.

Sort each run once (`np.sort(..., axis=-1)`) and reuse it for every pair: the `*_sorted`
functions take already-sorted samples. NaN or ±inf in a sample gives a NaN or inf distance: the
caller (validation.ensemble) reports such runs as blown up instead of averaging them.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np
import xarray as xr

__all__ = [
    "w1",
    "w2",
    "w1_sorted",
    "w2_sorted",
    "pair_distances_sorted",
    "w1_xr",
    "w2_xr",
]


def _last_axis(x: np.ndarray, axis: int) -> np.ndarray:
    return np.moveaxis(np.asarray(x), axis, -1)


@lru_cache(maxsize=64)
def _breakpoint_plan(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Intervals of the merged quantile breakpoints, in integer units of 1/lcm(n, m).

    Returns (index into x, index into y, interval width, denominator): on the k-th interval
    (p_{k-1}, p_k] the quantile functions are x[ix_k] and y[iy_k]. Integer arithmetic keeps
    coinciding breakpoints (1/3 and 2/6) exactly equal.
    """
    denom = n * m // math.gcd(n, m)
    edges = np.union1d(np.arange(1, n + 1, dtype=np.int64) * (denom // n),
                       np.arange(1, m + 1, dtype=np.int64) * (denom // m))
    widths = np.diff(edges, prepend=0)
    ix = -(-edges // (denom // n)) - 1          # ceil(p·n) − 1, p = edge/denom
    iy = -(-edges // (denom // m)) - 1
    return ix, iy, widths.astype(np.float64), denom


def _quantile_differences(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F⁻¹ − G⁻¹ on each interval of the merged breakpoints, with the interval weights (sum 1)."""
    n, m = a.shape[-1], b.shape[-1]
    if n == 0 or m == 0:
        raise ValueError(f"Wasserstein distance of an empty sample (sizes {n} and {m}): "
                         "each sample needs at least one value")
    a = a.astype(np.float64, copy=False)
    b = b.astype(np.float64, copy=False)
    if n == m:
        return a - b, np.full(n, 1.0 / n)
    ix, iy, widths, denom = _breakpoint_plan(n, m)
    return a[..., ix] - b[..., iy], widths / denom


def w1_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """W1 between samples along the last axis, both already sorted ascending; any lengths.

    Other axes broadcast. Returns float64 in the units of the samples.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape[-1] == b.shape[-1] and a.shape[-1] > 0:
        return np.mean(np.abs(a.astype(np.float64, copy=False) - b), axis=-1)
    diff, weights = _quantile_differences(a, b)
    return np.abs(diff) @ weights


def w2_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """W2 between samples along the last axis, both already sorted ascending; any lengths."""
    diff, weights = _quantile_differences(np.asarray(a), np.asarray(b))
    return np.sqrt(np.square(diff) @ weights)


def w1(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """1-Wasserstein distance between the samples of x and y along `axis` (units of x).

    Samples may have different lengths; the other axes broadcast. Equals
    scipy.stats.wasserstein_distance(x, y) for 1-D inputs.
    """
    return w1_sorted(np.sort(_last_axis(x, axis), axis=-1), np.sort(_last_axis(y, axis), axis=-1))


def w2(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """2-Wasserstein distance between the samples of x and y along `axis` (units of x)."""
    return w2_sorted(np.sort(_last_axis(x, axis), axis=-1), np.sort(_last_axis(y, axis), axis=-1))


# ---------------------------------------------------------------------------------------------
# The hot path: every (control, run) pair at every point, equal lengths, sorted once.

@numba.njit(cache=True, nogil=True)
def sorted_pairs_kernel(series: np.ndarray, control_rows: np.ndarray, run_rows: np.ndarray,
                        power: int) -> np.ndarray:
    """mean |c − r|^power along the last axis for every control row c and run row r, per point.

    series (P, K, n), each row sorted along n; control_rows (M,) and run_rows (R,) index K.
    Returns (P, R, M) float64. Eight partial sums per pair: the summation error stays near
    √n·ε, and the loop vectorises.
    """
    n_points, _, n = series.shape
    n_controls, n_runs = control_rows.size, run_rows.size
    out = np.empty((n_points, n_runs, n_controls))
    blocked = n - n % 8
    for p in range(n_points):
        for r in range(n_runs):
            run = series[p, run_rows[r]]
            for c in range(n_controls):
                control = series[p, control_rows[c]]
                acc = np.zeros(8)
                for k in range(0, blocked, 8):
                    for j in range(8):
                        d = abs(float(control[k + j]) - float(run[k + j]))
                        acc[j] += d if power == 1 else d * d
                tail = 0.0
                for k in range(blocked, n):
                    d = abs(float(control[k]) - float(run[k]))
                    tail += d if power == 1 else d * d
                total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
                out[p, r, c] = (total + tail) / n
    return out


def pair_distances_sorted(controls: np.ndarray, runs: np.ndarray, statistic: str = "w1") -> np.ndarray:
    """Distance of every run to every control, per point; samples sorted along the last axis.

    controls (..., M, n) and runs (..., R, k): the leading axes broadcast; returns (..., R, M)
    float64 in the units of the samples. Equal lengths take a compiled loop with no temporaries;
    unequal lengths take the breakpoint formula of w1_sorted / w2_sorted.
    """
    if statistic not in ("w1", "w2"):
        raise ValueError(f"statistic {statistic!r}: allowed are 'w1' and 'w2'")
    controls, runs = np.asarray(controls), np.asarray(runs)
    lead = np.broadcast_shapes(controls.shape[:-2], runs.shape[:-2])
    n_controls, n_runs = controls.shape[-2], runs.shape[-2]
    if controls.shape[-1] != runs.shape[-1] or controls.shape[-1] == 0:
        fn = w1_sorted if statistic == "w1" else w2_sorted
        return fn(controls[..., None, :, :], runs[..., :, None, :])
    n = controls.shape[-1]
    dtype = np.result_type(controls.dtype, runs.dtype, np.float32)
    series = np.concatenate([np.broadcast_to(controls, lead + (n_controls, n)),
                             np.broadcast_to(runs, lead + (n_runs, n))], axis=-2, dtype=dtype)
    out = sorted_pairs_kernel(series.reshape(-1, n_controls + n_runs, n), np.arange(n_controls),
                              np.arange(n_controls, n_controls + n_runs), 1 if statistic == "w1" else 2)
    if statistic == "w2":
        out = np.sqrt(out)
    return out.reshape(lead + (n_runs, n_controls))


# ---------------------------------------------------------------------------------------------
# xarray / dask: one apply_ufunc, samples in one chunk, other dimensions chunked freely.

def _xr_distance(fn, a: xr.DataArray, b: xr.DataArray, dim: str) -> xr.DataArray:
    for name, arr in (("a", a), ("b", b)):
        if dim not in arr.dims:
            raise ValueError(f"{name} has dims {arr.dims}, without the sample dimension {dim!r}")
    if a.chunks is not None:
        a = a.chunk({dim: -1})
    if b.chunks is not None:
        b = b.chunk({dim: -1})
    return xr.apply_ufunc(
        lambda x, y: fn(x, y, axis=-1), a, b,
        input_core_dims=[[dim], [dim]], exclude_dims={dim},
        dask="parallelized", output_dtypes=[np.float64],
    )


def w1_xr(a: xr.DataArray, b: xr.DataArray, dim: str = "time") -> xr.DataArray:
    """W1 along `dim` at every point of the other (broadcast) dimensions; lazy if dask-backed."""
    out = _xr_distance(w1, a, b, dim)
    out.attrs = {"long_name": "1-Wasserstein distance", "units": a.attrs.get("units", "1")}
    return out


def w2_xr(a: xr.DataArray, b: xr.DataArray, dim: str = "time") -> xr.DataArray:
    """W2 along `dim` at every point of the other (broadcast) dimensions; lazy if dask-backed."""
    out = _xr_distance(w2, a, b, dim)
    out.attrs = {"long_name": "2-Wasserstein distance", "units": a.attrs.get("units", "1")}
    return out
