"""The control / competitor / null design: is low precision farther from double than chance is?

Input (CONTRACTS.md, "Sweeps and validation data layout"): a Dataset with dims
(sbits, mode, member, time, <model dims>), NaN where a run does not exist, and attributes
lowprec_control_members and lowprec_competitor_members (member ids).

- controls: sbits 52, mode "nearest", the control members (M ≥ 2; the paper used 5);
- null:     sbits 52, mode "nearest", the competitor members (N ≥ 2);
- setting:  each other (sbits, mode), over the competitor members.

At each point of the model dims that are not pooled, the distance (W1, or W2) between every
control and every competitor run is computed from the time series after spin-up (time and the
`pool_dims`, e.g. Lorenz-63's particles, stacked into one sample). Each run is sorted once per
call and reused for all M pairs. A setting's distance is the mean over its M × N pairs; the
(52, "nearest") entry of every per-setting output is the null itself. See
validation.significance for the p-values and validation.weighting for the global means.

Parallelism: the points are cut into blocks of about 16 MB of input (every run and sample of a
point in one block) and a dask scheduler runs the blocks, threads by default (the sort and the
compiled pair loop release the GIL). Each block is copied once, sorted in place, and read once
for the run status, the means, all pairs and the W(t) windows (prefixes copied and sorted
before the main sort).

Out of core: when the data are dask-backed (open_sweep's, read from the run files when
computed), the blocks are whole chunks of the files along the space dims (the harness chunks
long runs over few points: lowprec.harness.store), as large as `memory` allows, computed a few
at a time and reduced as they come. Each chunk of each file is then read once, and the memory
held is about `memory` (a sweep of 10-year runs: hundreds of MB a block), not the sweep's size.

A run with NaN or inf anywhere (a blow-up) is flagged in `blown_up(sbits, mode, member)` and
its setting's distances are NaN: a blown-up member is never averaged into a distance. When the
Dataset has open_sweep's `status(sbits, mode, member)`, it decides which runs exist: "blown_up"
is a blow-up even if the run wrote no output at all (all NaN), "failed", "pending" and "absent"
are missing; without `status`, a run is missing when all its values are NaN.

The same pass also keeps the area-weighted global mean of every run at every time after
spin-up (cheap: one weighted sum per block, before the sort), for the time series of global
means in which stagnation shows.

Each variable is scored over its own time dimension: ``time``, or one whose name starts with
"time" (the harness writes variables averaged over longer intervals on ``time_1d`` and the
like). `spinup` and `windows` count steps of ``time``; on another time dimension they become
times: a sample is discarded when its time is at or before the last discarded time of ``time``,
and a window [0, t] holds the samples up to the time at its end (a window shorter than one of
the variable's intervals has no sample: NaN).
"""
from __future__ import annotations

import functools
import itertools
import os
import uuid
from collections.abc import Sequence

import dask
import dask.array

import numpy as np
import xarray as xr

from lowprec.errors import ValidationInputError
from validation import significance, weighting
from validation.wasserstein import sorted_pairs_kernel

__all__ = ["evaluate", "combine", "CONTROL_SBITS", "CONTROL_MODE", "MODEL_TIME"]

CONTROL_SBITS = 52
CONTROL_MODE = "nearest"
SETTING_DIMS = ("sbits", "mode", "member")
# The results' name for a dimensionless time axis (Lorenz-63's model time, units "1"): CF
# reserves a coordinate named "time" for time in "<unit> since <epoch>" (§4.4, §5.1).
MODEL_TIME = "model_time"
_CHUNK_BYTES = 16 * 2**20    # input data per block of points
# Out of core (dask-backed input, e.g. open_sweep's): the memory the blocks of points in work may
# take, by default (evaluate's `memory`); a block is held about BLOCK_COPIES times while worked on
# (the block read, its copy in point order, a window's copy, the read's transients).
DEFAULT_MEMORY = 4 * 2**30
BLOCK_COPIES = 4


def combine(datasets: Sequence[xr.Dataset]) -> xr.Dataset:
    """Merge several sweeps' Datasets into one, refusing different units, grids or ensembles."""
    datasets = list(datasets)
    if not datasets:
        raise ValidationInputError("no Dataset given: pass at least one sweep (lowprec.open_sweep)")
    first = datasets[0]
    for k, other in enumerate(datasets[1:], start=1):
        for name in set(first.data_vars) & set(other.data_vars):
            u0, u1 = first[name].attrs.get("units"), other[name].attrs.get("units")
            if u0 != u1:
                raise ValidationInputError(
                    f"variable {name!r} has units {u0!r} in dataset 0 and {u1!r} in dataset {k}: "
                    "distances between them would mix units; convert one before validating")
        for coord in set(first.coords) & set(other.coords):
            if coord in SETTING_DIMS:
                continue
            if not first[coord].equals(other[coord]):
                raise ValidationInputError(
                    f"coordinate {coord!r} differs between dataset 0 and dataset {k} "
                    f"(sizes {first[coord].size} and {other[coord].size}): runs on different "
                    "grids or times cannot be compared point by point")
        for attr in ("lowprec_control_members", "lowprec_competitor_members"):
            a0, a1 = first.attrs.get(attr), other.attrs.get(attr)
            if a0 is not None and a1 is not None and list(np.atleast_1d(a0)) != list(np.atleast_1d(a1)):
                raise ValidationInputError(f"attribute {attr} is {a0!r} in dataset 0 and {a1!r} in "
                                           f"dataset {k}: the ensembles must be the same")
    return xr.merge(datasets, join="outer", compat="no_conflicts", combine_attrs="drop_conflicts")


def _members(ds: xr.Dataset, attr: str) -> list:
    if attr not in ds.attrs:
        raise ValidationInputError(f"the Dataset has no attribute {attr!r}: open the sweep with "
                                   "lowprec.open_sweep, or set it to the list of member ids")
    members = [m.item() if hasattr(m, "item") else m for m in np.atleast_1d(ds.attrs[attr])]
    missing = [m for m in members if m not in ds["member"].values]
    if missing:
        raise ValidationInputError(f"{attr} names members {missing} that are not in the "
                                   f"Dataset's member coordinate {list(ds['member'].values)}")
    return members


def _time_dim(da: xr.DataArray) -> str:
    """The variable's time dimension: ``time``, or the one dim whose name starts with "time"."""
    dims = [d for d in da.dims if str(d).startswith("time")]
    if len(dims) != 1:
        raise ValidationInputError(f"variable {da.name!r} has dims {da.dims}: expected exactly one "
                                   "time dimension (time, or one named time_* as the harness "
                                   "writes for averaged variables)")
    return str(dims[0])


def _own_count(ds: xr.Dataset, time_dim: str, base_count: int) -> int:
    """Samples of `time_dim` whose time is at or before the first `base_count` times of ``time``."""
    if time_dim == "time":
        return base_count
    if base_count <= 0:
        return 0
    limit = ds["time"].values[base_count - 1]
    return int(np.count_nonzero(np.asarray(ds[time_dim].values <= limit, dtype=bool)))


def _check_layout(ds: xr.Dataset, variables: Sequence[str], pool_dims: Sequence[str]) -> None:
    for dim in (*SETTING_DIMS, "time"):
        if dim not in ds.dims:
            raise ValidationInputError(f"the Dataset has dims {tuple(ds.dims)}, without {dim!r}: "
                                       "expected (sbits, mode, member, time, ...) as open_sweep gives")
    if CONTROL_SBITS not in ds["sbits"].values or CONTROL_MODE not in ds["mode"].values:
        raise ValidationInputError(
            f"no double-precision control: sbits {list(ds['sbits'].values)}, modes "
            f"{list(ds['mode'].values)}; the sweep needs sbits {CONTROL_SBITS} mode "
            f"{CONTROL_MODE!r} runs for the control and null ensembles")
    for name in variables:
        if name not in ds.data_vars:
            raise ValidationInputError(f"variable {name!r} is not in the Dataset; it has "
                                       f"{sorted(ds.data_vars)}")
        missing = [d for d in (*SETTING_DIMS, *pool_dims) if d not in ds[name].dims]
        _time_dim(ds[name])
        if missing:
            raise ValidationInputError(f"variable {name!r} has dims {ds[name].dims}, without "
                                       f"{missing} (pool_dims={tuple(pool_dims)})")


def _scan_block(x: np.ndarray, weights: np.ndarray | None, *, n_space: int, n_sample_axes: int,
                start: int, stop: int, control_rows: np.ndarray, competitor_rows: np.ndarray,
                power: int, with_status: bool, control_pairs: bool = False,
                windows: Sequence[int] = ()) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The work on one block of points: x (S, O, K, time, *pool, *space_block).

    Copies the block once into (point, run, sample) order (it may be a view of the caller's
    data), sorts the samples x[..., start:stop, *pool] in place, and computes the distance of
    every competitor row to every control row of the flattened (S·O·K) runs. Returns
    (per-point outputs, outputs to be summed over blocks): ((pairs (*space, S, O, N, M),), ())
    or, with `with_status`, ((pairs, present, complete, means, final), (weighted,)): present =
    some value is not NaN, complete = every value is finite, over all times; means over the
    samples (*space, S, O, K); final the last sample of the block (the last time, and the last
    element of the pool dims); weighted (S, O, K, time after spin-up) = Σ weights · (mean over the pool
    dims), NaN propagating, over the block's points. With `control_pairs` (and `with_status`),
    per-point outputs then have the distance of every control to every control (*space, M, M),
    for the leave-one-out null (validation.significance). Last come the pairs of each window
    [start, w) for w in `windows` (stops along time, each > start and <= stop), as the pairs of
    x[..., start:w] would be: so W(t) costs no second reading of the data.
    """
    if not with_status and not windows:     # only the window is needed: copy only that
        x = x[(slice(None),) * 3 + (slice(start, stop),)]
        start, stop = 0, x.shape[3]
    setting_shape, lead = x.shape[:3], x.shape[x.ndim - n_space:]
    n_rows, n_time = int(np.prod(setting_shape)), x.shape[3]
    n_pool = int(np.prod(x.shape[4:x.ndim - n_space]))
    n_points = int(np.prod(lead))
    # Gather in the input's own order first (runs of contiguous points), then transpose run by
    # run in cache: 4x faster than one strided copy from a time-major array.
    natural = np.ascontiguousarray(x).reshape(n_rows, n_time * n_pool, n_points)
    data = np.empty((n_points, n_rows, n_time * n_pool), dtype=natural.dtype)
    for r in range(n_rows):
        data[:, r, :] = natural[r].T
    del natural
    pair_shape = lead + setting_shape[:2] + (-1, control_rows.size)

    def pairs_of(sorted_samples: np.ndarray, run_rows: np.ndarray) -> np.ndarray:
        found = sorted_pairs_kernel(sorted_samples, control_rows, run_rows, power)
        return np.sqrt(found) if power == 2 else found

    by_window = []
    for w in windows:           # before the sort: prefixes in time order
        if w == stop:
            by_window.append(None)      # the whole series: its pairs are the main pairs
            continue
        prefix = data[:, :, start * n_pool:w * n_pool].copy()
        prefix.sort(axis=-1)
        by_window.append(pairs_of(prefix, competitor_rows).reshape(pair_shape))
        del prefix
    samples = data[:, :, start * n_pool:stop * n_pool]       # rows stay contiguous
    # the last sample: the state at the last output (no pool dims); before the in-place sort
    final = data[:, :, -1].copy()
    if with_status:     # before the sort: needs time order. (einsum: no BLAS, which skips 0·NaN)
        series = samples.reshape(n_points, n_rows, stop - start, n_pool)
        weighted = np.einsum("p,prtq->rt", weights.reshape(n_points), series) / n_pool
    samples.sort(axis=-1)
    control_pairs = control_pairs and with_status
    run_rows = np.concatenate([competitor_rows, control_rows]) if control_pairs else competitor_rows
    all_pairs = pairs_of(samples, run_rows)
    pairs = all_pairs[:, :competitor_rows.size].reshape(pair_shape)
    window_pairs = tuple(pairs if p is None else p for p in by_window)
    if not with_status:
        return (pairs, *window_pairs), ()
    # Sorted rows: NaN sorts last and ±inf to the ends, so the first and last values tell.
    first, last = samples[..., 0], samples[..., -1]
    present = ~np.isnan(first)
    complete = np.isfinite(first) & np.isfinite(last)
    if start > 0:
        spun = data[:, :, :start * n_pool]
        present |= ~np.isnan(spun).all(axis=-1)
        complete &= np.isfinite(spun).all(axis=-1)
    means = samples.mean(axis=-1)
    per_point = (pairs,) + tuple(a.reshape(lead + setting_shape)
                                 for a in (present, complete, means, final))
    if control_pairs:
        per_point += (all_pairs[:, competitor_rows.size:].reshape(lead + (control_rows.size,) * 2),)
    return per_point + window_pairs, (weighted.reshape(setting_shape + (stop - start,)),)


def _space_chunks(da: xr.DataArray, space_dims: Sequence[str], chunk_points: int | None) -> list[tuple[int, ...]]:
    """Block sizes along each space dim: about _CHUNK_BYTES of data (all runs, all samples) a block."""
    per_point = 8 * int(np.prod([n for d, n in da.sizes.items() if d not in space_dims]))
    points = chunk_points or max(1, _CHUNK_BYTES // per_point)
    chunks: list[tuple[int, ...]] = []
    for d in reversed(space_dims):        # whole trailing dims first, then part of the next one
        n = da.sizes[d]
        c = min(n, max(1, points))
        points //= n
        chunks.insert(0, (c,) * (n // c) + ((n % c,) if n % c else ()))
    return chunks


def _blockwise(da: xr.DataArray, space_dims: Sequence[str], fn, scheduler: str,
               chunk_points: int | None, weights: np.ndarray | None = None,
               memory: int | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """fn(block, weights block) on blocks of points, run by a dask scheduler.

    fn returns (per-point outputs, outputs to sum); the first are assembled as (*space, ...),
    the second summed over the blocks.

    Numpy-backed data is sliced into views (no copy of the whole array, no hashing), all blocks
    in one dask computation. Dask-backed data (open_sweep: run files read when computed) is read
    out of core: blocks of whole chunks of the files along the space dims (every run and time in
    each), so each chunk is read once, as large as `memory` allows (:func:`_lazy_space_chunks`),
    computed a few at a time (as many as the scheduler runs at once) and reduced as they come,
    so the memory held does not grow with the number of blocks. (xarray.apply_ufunc would copy
    each block once more, and dask.array.from_array the whole input: measured 2× slower here.)
    """
    core = [d for d in da.dims if d not in space_dims]
    da = da.transpose(*core, *space_dims)
    data = da.data
    lazy = not isinstance(data, np.ndarray)
    if lazy:
        data = dask.array.asarray(data)
        per_point = data.dtype.itemsize * int(np.prod([da.sizes[d] for d in core]))
        chunks = _lazy_space_chunks(data.chunks[len(core):], per_point, chunk_points,
                                    memory if memory is not None else DEFAULT_MEMORY,
                                    _parallel_blocks(scheduler))
    else:
        chunks = _space_chunks(da, space_dims, chunk_points)
    offsets = [np.cumsum((0,) + c) for c in chunks]
    run_id = uuid.uuid4().hex
    where = [tuple(slice(offsets[j][i], offsets[j][i + 1]) for j, i in enumerate(index))
             for index in itertools.product(*(range(len(c)) for c in chunks))]

    def task(k: int):       # made when computed: a lazy block's graph is not kept for all blocks
        region = where[k]
        w = None if weights is None else weights[region]
        return dask.delayed(fn, pure=False)(data[(Ellipsis,) + region], w,
                                            dask_key_name=f"lowprec-validation-{run_id}-{k}")
    shape = tuple(da.sizes[d] for d in space_dims)
    outputs: list[np.ndarray] = []
    sums: list[np.ndarray] = []
    wave = _parallel_blocks(scheduler) if lazy else len(where)
    for first in range(0, len(where), wave):
        ks = range(first, min(first + wave, len(where)))
        results = dask.compute(*[task(k) for k in ks], scheduler=scheduler)
        if not outputs:
            outputs = [np.empty(shape + r.shape[len(shape):], r.dtype) for r in results[0][0]]
            sums = [np.zeros_like(r) for r in results[0][1]]
        for k, (per_point_out, summed) in zip(ks, results):
            for out, part in zip(outputs, per_point_out):
                out[where[k]] = part
            for total, part in zip(sums, summed):
                total += part
        del results
    return outputs, sums


def _parallel_blocks(scheduler) -> int:
    """Blocks a dask scheduler works on at once: 1 for the synchronous one, else its workers."""
    if isinstance(scheduler, str) and scheduler in ("synchronous", "sync", "single-threaded"):
        return 1
    return int(dask.config.get("num_workers", None) or os.cpu_count() or 1)


def _lazy_space_chunks(space_chunks: Sequence[tuple[int, ...]], per_point: int,
                       chunk_points: int | None, memory: int, parallel: int) -> list[tuple[int, ...]]:
    """Blocks of whole chunks of dask-backed data along each space dim, within `memory`.

    A block holds every run and sample of its points (`per_point` bytes each); about
    BLOCK_COPIES times a block is held while it is worked on, and `parallel` blocks at once,
    so a block gets at most memory / (BLOCK_COPIES · parallel) bytes. Within that it is about
    _CHUNK_BYTES (or `chunk_points` points), rounded up to a whole chunk of the input (the run
    files' chunks: each is then read once). A chunk larger than the budget is cut into smaller
    blocks, each reading the whole chunk again (slower, bounded memory).
    """
    allowed = max(1, memory // (BLOCK_COPIES * max(1, parallel) * max(1, per_point)))
    one_chunk = int(np.prod([c[0] if c else 1 for c in space_chunks]))
    wanted = chunk_points or max(1, _CHUNK_BYTES // max(1, per_point))
    target = min(allowed, -(-wanted // one_chunk) * one_chunk)
    blocks: list[tuple[int, ...]] = []
    for dim_chunks in reversed(space_chunks):
        size = sum(dim_chunks)
        if target >= size:          # whole trailing dims first
            blocks.insert(0, (size,))
            target //= size
            continue
        groups, current = [], 0
        for c in dim_chunks:        # then whole chunks of this dim, as many as fit a block
            if c > target:
                if current:
                    groups.append(current)
                    current = 0
                piece = max(1, target)
                groups += [piece] * (c // piece) + ([c % piece] if c % piece else [])
            elif current + c > target:
                groups.append(current)
                current = c
            else:
                current += c
        if current:
            groups.append(current)
        blocks.insert(0, tuple(groups))
        target //= max(groups)
    return blocks


def _scan(da: xr.DataArray, space_dims: Sequence[str], n_sample_axes: int, start: int, stop: int,
          controls_ids: list, competitor_ids: list, statistic: str, scheduler: str,
          chunk_points: int | None, with_status: bool, normalise: str = "weights",
          time_dim: str = "time", control_pairs: bool = False, windows: Sequence[int] = (),
          memory: int | None = None):
    """_scan_block over every point of `da`, samples along `time_dim`; returns DataArrays.

    With `windows` (stops along `time_dim`), the result ends with a list of the pairs of each
    window [start, w), computed in the same pass over the data.

    With `with_status`: [pairs, present, complete, means, final, global_series], the last the global
    mean (validation.weighting) of each run at each time after spin-up, (sbits, mode, member, time);
    with `control_pairs` too, then control × control distances (*space, control_member,
    other_control).
    """
    members = list(da["member"].values)
    n_modes, n_members = da.sizes["mode"], da.sizes["member"]
    s0 = list(da["sbits"].values).index(CONTROL_SBITS)
    m0 = list(da["mode"].values).index(CONTROL_MODE)
    control_rows = np.array([(s0 * n_modes + m0) * n_members + members.index(k) for k in controls_ids],
                            dtype=np.int64)
    competitor_rows = np.array([(s * n_modes + m) * n_members + members.index(k)
                                for s in range(da.sizes["sbits"]) for m in range(n_modes)
                                for k in competitor_ids], dtype=np.int64)
    fn = functools.partial(_scan_block, n_space=len(space_dims), n_sample_axes=n_sample_axes,
                           start=start, stop=stop, control_rows=control_rows,
                           competitor_rows=competitor_rows, power=1 if statistic == "w1" else 2,
                           with_status=with_status, control_pairs=control_pairs,
                           windows=tuple(windows))
    da = da.transpose(*SETTING_DIMS, time_dim,
                      *[d for d in da.dims if d not in (*SETTING_DIMS, time_dim, *space_dims)],
                      *space_dims)
    weights = None
    if with_status:
        w = weighting.area_weights(da, space_dims).transpose(*space_dims).values.astype(np.float64)
        denom = w.sum() if normalise == "weights" else float(w.size)
        weights = w / denom       # Σ weights·x is then the global mean (weighting.global_mean)
    outputs, sums = _blockwise(da, space_dims, fn, scheduler, chunk_points, weights, memory)
    if windows:
        outputs, window_outputs = outputs[:-len(windows)], outputs[-len(windows):]
    coords = {name: c for name, c in da.coords.items() if set(c.dims) <= set(space_dims)}
    coords.update(sbits=da["sbits"].values, mode=da["mode"].values)
    pair_dims = (*space_dims, "sbits", "mode", "member", "control_member")
    pair_coords = {**coords, "member": competitor_ids, "control_member": controls_ids}
    pairs = xr.DataArray(outputs[0], dims=pair_dims, coords=pair_coords)
    by_window = [xr.DataArray(o, dims=pair_dims, coords=pair_coords) for o in window_outputs] if windows else []
    if not with_status:
        return [pairs, by_window] if windows else pairs
    coords["member"] = da["member"].values
    series = xr.DataArray(sums[0], dims=(*SETTING_DIMS, time_dim),
                          coords={"sbits": coords["sbits"], "mode": coords["mode"],
                                  "member": coords["member"], time_dim: da[time_dim][start:stop]})
    status = [xr.DataArray(o, dims=(*space_dims, *SETTING_DIMS), coords=coords) for o in outputs[1:5]]
    result = [pairs, *status, series]
    if control_pairs:
        result.append(xr.DataArray(outputs[5], dims=(*space_dims, "control_member", "other_control"),
                                   coords={**{k: v for k, v in coords.items() if k not in SETTING_DIMS},
                                           "control_member": controls_ids, "other_control": controls_ids}))
    if windows:
        result.append(by_window)
    return result


def _setting_mean(member_values: xr.DataArray, usable: xr.DataArray, valid_setting: xr.DataArray) -> xr.DataArray:
    """Mean over the usable members of each setting; NaN for settings that cannot be scored."""
    return member_values.where(usable).mean("member").where(valid_setting)


def evaluate(
    ds: xr.Dataset | Sequence[xr.Dataset],
    variables: Sequence[str] | None = None,
    *,
    spinup: int = 0,
    windows: int | Sequence[int] | None = None,
    pool_dims: Sequence[str] | None = None,
    statistic: str = "w1",
    normalise: str = "weights",
    pvalues: bool = True,
    pvalue_method: str = "permutation",
    alpha: float = 0.05,
    min_members: int = 2,
    max_relabellings: int = 20_000,
    seed: int = 0,
    scheduler: str = "threads",
    chunk_points: int | None = None,
    memory: int | None = None,
) -> xr.Dataset:
    """Distances of every low-precision setting from the double-precision controls, and the null.

    Parameters
    ----------
    ds: one sweep Dataset (or several, merged after checking units and grids; see `combine`).
    variables: data variables to score (default: every variable with the sweep's dims).
    spinup: number of leading time steps to discard (counted in samples of `time`; for a
        variable on another time dim, its samples up to the last discarded time).
    windows: growing windows [0, t] for W(t): a list of window lengths in time steps after
        spin-up, an int k for k evenly spaced lengths ending at the full series, or None for 4.
        Each window re-sorts its prefix, so it costs about its share of a full evaluation.
    pool_dims: model dims stacked with time into the sample (Lorenz-63: ("particle",)). None
        (default): the dims named in the Dataset's attribute lowprec_sample_dims (space-separated;
        the harness writes it into every run file), none if it is absent or empty; () pools none.
    statistic: "w1" (default) or "w2"; the output names keep the "w1_" prefix either way
        and say which in their long_name.
    normalise: "weights" (Σwx/Σw, default) or "count" (Σwx/N, as Kimpson et al.'s code).
    pvalues: compute the p-values and the Benjamini–Hochberg map at level `alpha`.
    pvalue_method: "permutation" (default; exact over the C(2N, N) relabellings of setting and
        null runs) or "leave_one_out" (the setting's mean pair distance against the M·N + M(M−1)/2
        double-vs-double pair distances, p = (1 + #{null ≥ it}) / (1 + n_null); conservative,
        smallest p 1/36 for M = N = 5). See validation.significance.
    min_members: fewest controls and null members accepted (a setting with fewer usable
        members gets NaN).
    scheduler: dask scheduler for the per-point work ("threads": the sort releases the GIL).
    chunk_points: grid points per block (default: about 16 MB of input a block).
    memory: bytes the blocks in work may take when the data are dask-backed (open_sweep: read
        from the run files out of core), default DEFAULT_MEMORY (4 GiB). Each block holds every
        run and sample of its points and is about a quarter of memory / (blocks worked on at
        once: the scheduler's workers); blocks are whole chunks of the run files, so each file
        is read once (the W(t) windows come from the same pass), unless one chunk's points
        exceed that budget (then smaller blocks, reading their chunks again). The peak is then
        about `memory` plus the results and the input's dask graph (a 26 GB sweep: 4.2 GB at
        4 GiB; BENCHMARKS.md, B8), not the sweep's size on disk; one point's data
        (every run's whole series) is the least a block can hold.

    Returns
    -------
    A Dataset, per variable v (units of v unless said):
      w1_v(sbits, mode, space)           mean distance over control × competitor pairs
      w1_null_v(space)                   the same for the double-precision competitors
      w1_excess_v, w1_ratio_v (1)        w1_v − w1_null_v, w1_v / w1_null_v
      pvalue_v (1), reject_fdr_v (bool)  p-value per point by `pvalue_method`
                                         (validation.significance); BH at `alpha` over the
                                         points of each setting. NaN/False for the null entry
                                         (52, nearest). The attribute lowprec_pvalue_method
                                         names the method.
      w1_global_v(sbits, mode), w1_global_null_v, w1_global_excess_v, pvalue_global_v
      w1_global_member_v(sbits, mode, member)  each run's global distance to the controls
      w1_global_null_pairs_v(member, control_member)  the M × N null pair distances (the band)
      w1_global_t_v(sbits, mode, window), w1_global_t_null_v(window)
      mean_bias_v(sbits, mode)           global mean of (setting mean − control mean), signed;
                                         |mean_bias| ≤ w1_global by Kantorovich–Rubinstein
      mean_bias_null_v
      global_mean_t_v(sbits, mode, time) global mean of v at each time after spin-up, mean over the
                                         competitor runs that did not blow up (the (52, nearest)
                                         entry: the double-precision null members)
      global_mean_t_control_v(control_member, time)  the same for each control run
      final_mean_v, final_mean_control_v, time_mean_v, time_mean_control_v (space)  the state at
                                         the last output and its time mean: member means per
                                         setting, and over the controls
      time_mean_minus_null_v(sbits, mode, space)  each run's time mean minus that of the null
                                         run from the same initial state, mean over members
    plus blown_up(sbits, mode, member), run_present(sbits, mode, member), n_members(sbits, mode).
    A dimensionless time axis (units "1": Lorenz-63's model time) is named `model_time`
    (MODEL_TIME) in the results, as CF reserves "time" for "<unit> since <epoch>". With
    p-values, the attributes lowprec_pvalue_floor (the smallest p-value the design can give,
    validation.significance.pvalue_floor) and lowprec_pvalue_floor_design say what the design can
    show; lowprec_pvalue_warning is set when the floor is not below `alpha`.

    Raises ValidationInputError for: no double-precision control; fewer than `min_members`
    controls or null members (present and finite); a blown-up control or null run; p-values
    whose smallest attainable value exceeds `alpha` (for "leave_one_out": 1/(1 + n_null)); an
    unknown `pvalue_method`; a missing variable; different units or grids between datasets.
    """
    if not isinstance(ds, xr.Dataset):
        ds = combine(ds)
    if statistic not in ("w1", "w2"):
        raise ValidationInputError(f"statistic={statistic!r}: allowed are 'w1' and 'w2'")
    if pvalue_method not in significance.PVALUE_METHODS:
        raise ValidationInputError(f"pvalue_method={pvalue_method!r}: allowed are "
                                   f"{', '.join(map(repr, significance.PVALUE_METHODS))}")
    leave_one_out = pvalues and pvalue_method == "leave_one_out"
    if spinup < 0:
        raise ValidationInputError(f"spinup={spinup}: a number of time steps to discard, ≥ 0")
    if variables is None:
        variables = [v for v in ds.data_vars if all(d in ds[v].dims for d in SETTING_DIMS)
                     and sum(str(d).startswith("time") for d in ds[v].dims) == 1]
        if not variables:
            raise ValidationInputError(f"no variable in the Dataset has dims {(*SETTING_DIMS, 'time')}; "
                                       f"variables: {sorted(ds.data_vars)}")
    variables = list(variables)
    pool_dims = _sample_dims(ds) if pool_dims is None else tuple(pool_dims)
    _check_layout(ds, variables, pool_dims)
    controls_ids = _members(ds, "lowprec_control_members")
    competitor_ids = _members(ds, "lowprec_competitor_members")
    _check_ensemble_sizes(controls_ids, competitor_ids, min_members)
    if leave_one_out:
        _check_leave_one_out_size(len(controls_ids), len(competitor_ids), alpha)
    if overlap := set(controls_ids) & set(competitor_ids):
        raise ValidationInputError(f"members {sorted(overlap)} are both control and competitor: "
                                   "the null needs competitors independent of the controls")
    n_time = ds.sizes["time"] - spinup
    if n_time < 1:
        raise ValidationInputError(f"spinup={spinup} discards all {ds.sizes['time']} time steps")

    time_by_var = {name: _time_dim(ds[name]) for name in variables}
    space_by_var = {name: [d for d in ds[name].dims
                           if d not in (*SETTING_DIMS, time_by_var[name], *pool_dims)]
                    for name in variables}
    spinup_by_var = {name: _own_count(ds, t, spinup) for name, t in time_by_var.items()}
    for name, t in time_by_var.items():
        if ds.sizes[t] - spinup_by_var[name] < 1:
            raise ValidationInputError(f"spinup={spinup} time steps discard all {ds.sizes[t]} "
                                       f"samples of {name!r} along {t!r}")
    sample_dims = ["time", *pool_dims]
    window_lengths = _window_lengths(windows, n_time)
    arrays, scans = {}, {}
    present = complete = None
    for name in variables:      # one pass over the data: status, sorted samples, pairs, means, W(t)
        arrays[name] = ds[name]
        t, start = time_by_var[name], spinup_by_var[name]
        stops = sorted({s for s in (_own_count(ds, t, spinup + n) for n in window_lengths) if s > start})
        pairs, p, c, means, final, series, *rest = _scan(
            arrays[name], space_by_var[name], len(sample_dims), start, ds.sizes[t],
            controls_ids, competitor_ids, statistic, scheduler, chunk_points, with_status=True,
            normalise=normalise, time_dim=t, control_pairs=leave_one_out, windows=stops,
            memory=memory)
        window_pairs = dict(zip(stops, rest.pop())) if stops else {}
        scans[name] = pairs, means, final, series, (rest[0] if rest else None), window_pairs
        p, c = p.any(space_by_var[name]), c.all(space_by_var[name])
        present = p if present is None else present | p
        complete = c if complete is None else complete & c
    if "status" in ds.variables:      # open_sweep's record beats what the data look like
        status = ds["status"].astype(str)
        _check_status(status)
        blown_by_status = status == "blown_up"
        present = (status == "complete") | blown_by_status
        complete = complete & present & ~blown_by_status
    double = {"sbits": CONTROL_SBITS, "mode": CONTROL_MODE}
    _check_double(present.sel(double), complete.sel(double), controls_ids, "control", min_members)
    _check_double(present.sel(double), complete.sel(double), competitor_ids, "null", min_members)
    n_null = len(competitor_ids)
    if pvalues and not leave_one_out and significance.min_pvalue(n_null, n_null, max_relabellings) > alpha:
        raise ValidationInputError(
            f"p-values at alpha={alpha} need more members: with N={n_null} competitors the "
            f"smallest possible p-value is {significance.min_pvalue(n_null, n_null, max_relabellings):.3g}. "
            "Use N ≥ 4 (1/70), or pvalues=False")

    comp_present = present.sel(member=competitor_ids)
    blown_up = comp_present & ~complete.sel(member=competitor_ids)
    n_members = comp_present.sum("member")
    valid_setting = (~blown_up.any("member")) & (n_members >= min_members)
    usable = comp_present & ~blown_up

    out = xr.Dataset(coords={"sbits": ds["sbits"], "mode": ds["mode"]})
    out["blown_up"] = blown_up.assign_attrs(long_name="run has NaN or inf (its setting's distances are NaN)")
    out["run_present"] = comp_present.assign_attrs(long_name="competitor run exists in the sweep")
    out["n_members"] = n_members.assign_attrs(long_name="competitor runs present", units="1")
    stat_name = {"w1": "1-Wasserstein distance", "w2": "2-Wasserstein distance"}[statistic]

    for name in variables:
        da = arrays[name]
        space = space_by_var[name]
        units = da.attrs.get("units", "1")
        label = da.attrs.get("long_name", name)
        pairs, means, final, series, control_pairs, window_pairs = scans.pop(name)
        member_stat = pairs.mean("control_member")
        w1 = _setting_mean(member_stat, usable, valid_setting)
        w1_null = w1.sel(double, drop=True)
        glob = lambda x: weighting.global_mean(x, space, normalise)
        member_global = glob(member_stat).where(usable)
        w1_global = _setting_mean(member_global, usable, valid_setting)
        w1_global_null = w1_global.sel(double, drop=True)

        def put(key, value, long_name, unit=units, **extra):
            lead = [d for d in (*SETTING_DIMS, "control_member", "window") if d in value.dims]
            value = value.transpose(*lead, ...)
            value.attrs = {}        # nothing inherited (e.g. the latitude's standard_name)
            out[f"{key}_{name}"] = value.assign_attrs(long_name=long_name, units=unit, **extra)

        put("w1", w1, f"{stat_name} of {label} from the double-precision controls, mean over pairs")
        put("w1_null", w1_null, f"{stat_name} of {label}: double-precision competitors (the null)")
        put("w1_excess", w1 - w1_null, f"excess {stat_name} of {label} over the null")
        put("w1_ratio", w1 / w1_null, f"{stat_name} of {label} relative to the null", "1")
        put("w1_global", w1_global, f"global mean {stat_name} of {label}",
            lowprec_variable_long_name=label)
        put("w1_global_null", w1_global_null, f"global mean {stat_name} of {label}: the null")
        put("w1_global_excess", w1_global - w1_global_null, f"global mean excess {stat_name} of {label}")
        put("w1_global_member", member_global, f"global mean {stat_name} of {label} of each run "
            "from the controls (mean over controls)")
        null_pairs = glob(pairs.sel(double, drop=True))
        put("w1_global_null_pairs", null_pairs.transpose("member", "control_member"),
            f"global mean {stat_name} of {label} for each control × null pair")

        if pvalues and leave_one_out:
            null_distances = xr.apply_ufunc(
                significance.leave_one_out_null, pairs.sel(double, drop=True), control_pairs,
                input_core_dims=[["member", "control_member"], ["control_member", "other_control"]],
                output_core_dims=[["null_pair"]])
            p, reject = _loo_pvalues(w1, null_distances, space, alpha)
            put("pvalue", p, f"one-sided leave-one-out p-value: {label} farther from the "
                "controls than double-vs-double pairs are", "1",
                lowprec_null_pairs=null_distances.sizes["null_pair"])
            out[f"reject_fdr_{name}"] = reject.transpose("sbits", "mode", ...).assign_attrs(
                long_name=f"Benjamini–Hochberg rejection at FDR {alpha} over the points", alpha=alpha)
            pg, _ = _loo_pvalues(w1_global, glob(null_distances), [], alpha)
            put("pvalue_global", pg, f"leave-one-out p-value of the global distance of {label}", "1",
                lowprec_null_pairs=null_distances.sizes["null_pair"])
        elif pvalues:
            p, reject = _pvalues(member_stat, usable, valid_setting, competitor_ids, space,
                                 alpha, max_relabellings, seed)
            put("pvalue", p, f"one-sided permutation p-value: {label} farther from the controls "
                "than the null", "1")
            out[f"reject_fdr_{name}"] = reject.transpose("sbits", "mode", ...).assign_attrs(
                long_name=f"Benjamini–Hochberg rejection at FDR {alpha} over the points", alpha=alpha)
            pg, _ = _pvalues(member_global, usable, valid_setting, competitor_ids, [], alpha,
                             max_relabellings, seed)
            put("pvalue_global", pg, f"permutation p-value of the global excess of {label}", "1")

        mean_control = means.sel(double).sel(member=controls_ids).mean("member")
        mean_runs = means.sel(member=competitor_ids)
        bias = glob(_setting_mean(mean_runs, usable, valid_setting) - mean_control)
        put("mean_bias", bias, f"global mean of (setting mean − control mean) of {label}")
        put("mean_bias_null", bias.sel(double, drop=True), f"mean_bias of {label}: the null")

        # The state itself, small: member means of the last output and of the time mean after
        # spin-up (the pooled dims averaged too), over the runs that did not blow up.
        t = time_by_var[name]
        pooled = [d for d in pool_dims if d in da.dims]
        if pooled:
            last = da.isel({t: -1}, drop=True).mean(pooled)
            last = last.drop_vars([c for c in last.coords if c not in last.dims])
        else:               # from the pass over the data: the run files are not read again
            last = final.drop_vars([c for c in final.coords if c not in final.dims])
        member_mean = lambda x: x.sel(member=competitor_ids).where(usable).mean("member").where(usable.any("member"))
        control_mean = lambda x: x.sel(double, drop=True).sel(member=controls_ids).mean("member")
        final_time = str(ds[t].values[-1])
        put("final_mean", member_mean(last), f"{label} at the last output ({final_time}), mean over "
            "the runs that did not blow up", lowprec_time=final_time)
        put("final_mean_control", control_mean(last), f"{label} at the last output ({final_time}), "
            "mean over the double-precision controls", lowprec_time=final_time)
        put("time_mean", member_mean(means), f"time mean of {label} after spin-up, mean over the runs "
            "that did not blow up")
        put("time_mean_control", control_mean(means), f"time mean of {label} after spin-up, mean "
            "over the double-precision controls")
        put("time_mean_minus_null", member_mean(means - means.sel(double, drop=True)),
            f"time mean of {label} after spin-up minus that of the double-precision null run "
            "from the same initial state (the same member), mean over the runs that did not blow up")

        competitor_series = series.sel(member=competitor_ids).where(usable)
        put("global_mean_t", competitor_series.mean("member").where(usable.any("member")),
            f"global mean {label} after spin-up, mean over the runs that did not blow up",
            spinup_steps_discarded=spinup)
        put("global_mean_t_control", series.sel(double, drop=True).sel(member=controls_ids)
            .rename(member="control_member"), f"global mean {label} after spin-up, each control run",
            spinup_steps_discarded=spinup)

        if window_lengths:
            per_window = []
            t, start = time_by_var[name], spinup_by_var[name]
            for length in window_lengths:
                stop = _own_count(ds, t, spinup + length)
                if stop <= start:       # the window ends before this variable's first sample
                    per_window.append(xr.full_like(w1_global, np.nan))
                    continue
                wp = window_pairs[stop]
                per_window.append(_setting_mean(glob(wp.mean("control_member")), usable, valid_setting))
            wt = xr.concat(per_window, dim="window")
            put("w1_global_t", wt, f"global mean {stat_name} of {label} over the window [0, t]")
            put("w1_global_t_null", wt.sel(double, drop=True), f"w1_global_t of {label}: the null")

    out["run_status"] = _run_status(ds, present, complete, competitor_ids)
    if window_lengths:
        out = out.assign_coords(window=("window", window_lengths))
        out = out.assign_coords(window_end=("window", ds["time"].values[spinup:][np.array(window_lengths) - 1]))
    out = out.compute(scheduler=scheduler)
    _describe_coordinates(out, ds)
    if "time" in out.dims and str(out["time"].attrs.get("units")) == "1":
        out = out.rename({"time": MODEL_TIME})
    any_space = next((s for s in space_by_var.values() if s), [])
    run_spinup = _run_spinup(ds)
    out.attrs = {
        "Conventions": "CF-1.11",
        "title": "lowprec validation: distances of low-precision runs from double-precision controls",
        "source": "lowprec validation.evaluate",
        "history": f"{_now()} validation.evaluate({statistic}, spinup={spinup}, pool_dims="
                   f"{tuple(pool_dims)}, normalise={normalise!r}, pvalue_method="
                   f"{pvalue_method if pvalues else None!r}) on {ds.attrs.get('lowprec_sweep', 'a sweep')}",
        "lowprec_statistic": statistic,
        "lowprec_control_members": list(controls_ids),
        "lowprec_competitor_members": list(competitor_ids),
        "lowprec_control": f"sbits {CONTROL_SBITS}, mode {CONTROL_MODE}",
        "lowprec_run_spinup": run_spinup,
        "lowprec_spinup_discarded_outputs": np.int64(spinup),
        "lowprec_spinup_discarded": f"runs: {run_spinup} (integrated before their first output); "
                                    f"validator: {spinup} further output steps of time",
        "lowprec_time_alignment": _ALIGNMENT,
        "lowprec_min_members": np.int64(min_members),
        "lowprec_pooled_dims": ", ".join(["time", *pool_dims]),
        "lowprec_weights": weighting.describe_weights(ds[variables[0]], any_space, normalise),
        "lowprec_pvalue_method": pvalue_method if pvalues else "none",
        "lowprec_pvalue_description": _PVALUE_DESCRIPTIONS[pvalue_method] if pvalues else
                                      "no p-values (pvalues=False)",
        "lowprec_alpha": alpha,
        "lowprec_variables": ", ".join(variables),
    }
    if pvalues:
        floor, design = significance.pvalue_floor(pvalue_method, len(controls_ids), n_null, n_null,
                                                  max_relabellings)
        out.attrs.update(lowprec_pvalue_floor=floor, lowprec_pvalue_floor_design=design)
        if warning := significance.floor_warning(floor, alpha, pvalue_method):
            out.attrs["lowprec_pvalue_warning"] = warning
    return out


_ALIGNMENT = ("runs are aligned by output number, not by date: index k of a time dimension is "
              "output k of every run (after the discarded spin-up). The time values are those of "
              "one run (open_sweep takes the longest run's); runs started from different restart "
              "files have other dates at the same index")

# run_status codes (CF flag_values / flag_meanings). "absent": not in the sweep's design;
# "unreadable": its file cannot be read (open_sweep(skip_unreadable=True));
# "no_output": no status recorded (no open_sweep status variable) and no finite value.
RUN_STATUSES = ("complete", "blown_up", "failed", "pending", "absent", "unreadable", "no_output")


def _now() -> str:
    import datetime
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_spinup(ds: xr.Dataset) -> str:
    """The spin-up the runs did before their first output, from the sweep's common attributes.

    open_sweep keeps an attribute only when every run has the same value: runs started from
    different restart files (each "none (continued from FILE ...)") leave no lowprec_spinup.
    """
    if "lowprec_spinup" in ds.attrs:
        return str(ds.attrs["lowprec_spinup"])
    if "lowprec_restart_from" in ds.attrs:
        return f"none: continued from the restart {ds.attrs['lowprec_restart_from']}"
    return ("not recorded in the sweep's common attributes (it differs between runs, e.g. members "
            "started from different restart files, or the runs did not record it): see each run "
            "file's lowprec_spinup and lowprec_restart_from")


def _run_status(ds: xr.DataArray, present: xr.DataArray, complete: xr.DataArray,
                competitor_ids: list) -> xr.DataArray:
    """Status of each competitor run as CF flags: open_sweep's `status`, else what the data show."""
    if "status" in ds.variables:
        labels = ds["status"].astype(str).sel(member=competitor_ids)
        codes = xr.zeros_like(labels, dtype=np.int8)
        for code, label in enumerate(RUN_STATUSES):
            codes = codes.where(labels != label, np.int8(code))
    else:
        p, c = present.sel(member=competitor_ids), complete.sel(member=competitor_ids)
        codes = xr.where(p & c, 0, xr.where(p, 1, len(RUN_STATUSES) - 1)).astype(np.int8)
    codes = codes.transpose(*SETTING_DIMS).drop_vars([c for c in codes.coords if c not in SETTING_DIMS])
    codes.attrs = {"long_name": "status of each competitor run",
                   "flag_values": np.arange(len(RUN_STATUSES), dtype=np.int8),
                   "flag_meanings": " ".join(RUN_STATUSES)}
    return codes


_COORDINATE_ATTRS = {
    "sbits": {"long_name": "explicit significand bits of the arithmetic format (52: float64)",
              "units": "1"},
    "mode": {"long_name": "rounding mode"},
    "member": {"long_name": "competitor ensemble member id", "units": "1"},
    "control_member": {"long_name": "double-precision control ensemble member id", "units": "1"},
    "other_control": {"long_name": "double-precision control ensemble member id", "units": "1"},
    "window": {"long_name": "window length after spin-up, in output intervals of time",
               "units": "1"},
}


def _describe_coordinates(out: xr.Dataset, ds: xr.Dataset) -> None:
    """CF attributes on every coordinate of `out` (in place).

    Time coordinates keep the sweep's units and calendar (standard_name time); dimensionless
    model time (units "1", Lorenz-63) has no CF time standard_name and keeps units "1" with a
    long_name saying what it is. Every time says that runs are aligned by output number.
    """
    for name, attrs in _COORDINATE_ATTRS.items():
        if name in out.coords:
            out[name].attrs = dict(attrs)
    if "mode" in out.coords:
        out["mode"].encoding["dtype"] = "S1"   # a char array: CF coordinate variables are not strings
    time_names = [n for n in out.coords if str(n).startswith("time") and n in ds.variables]
    for name in (*time_names, "window_end"):
        if name not in out.coords:
            continue
        source = ds[name if name != "window_end" else "time"]
        attrs = {k: v for k, v in source.attrs.items() if k in ("units", "calendar", "axis")}
        encoding = {k: v for k, v in source.encoding.items() if k in ("units", "calendar")}
        dimensionless = str(source.attrs.get("units", encoding.get("units", ""))) == "1"
        if name == "window_end":
            attrs.pop("axis", None)
            what = "time of the last output in the window [0, t]"
        else:
            what = "time of output"
        if dimensionless:
            attrs["long_name"] = f"model {what} (dimensionless), runs aligned by output number"
        else:
            attrs.update(standard_name="time", long_name=f"{what}, runs aligned by output number")
        attrs["comment"] = _ALIGNMENT
        bounds = source.attrs.get("bounds")
        if bounds in ds.variables and name != "window_end":
            out.coords[bounds] = ds[bounds].isel({name: slice(ds.sizes[name] - out.sizes[name], None)})
            out[bounds].attrs = {}      # CF §7.1: bounds inherit their parent's attributes
            # ... and not the run files' `coordinates` (scalar sbits, mode, member) either
            out[bounds].encoding = {k: v for k, v in ds[bounds].encoding.items()
                                    if k in ("units", "calendar", "dtype")}
            attrs["bounds"] = bounds
        out[name].attrs = attrs
        out[name].encoding.update(encoding)
    bounds_names = {c.attrs.get("bounds") for c in out.coords.values()}
    for name, c in out.coords.items():
        if name not in bounds_names and not c.attrs.get("long_name") and not c.attrs.get("standard_name"):
            c.attrs["long_name"] = str(name)
        if str(name) not in ("mode",):
            c.encoding["_FillValue"] = None
        else:
            c.encoding.setdefault("_FillValue", None)


def _sample_dims(ds: xr.Dataset) -> tuple[str, ...]:
    """The dims named in ds.attrs["lowprec_sample_dims"] (space-separated), () if absent."""
    value = ds.attrs.get("lowprec_sample_dims", "")
    names = tuple(value.split()) if isinstance(value, str) else tuple(str(v) for v in np.atleast_1d(value))
    missing = [d for d in names if d not in ds.dims]
    if missing:
        raise ValidationInputError(
            f"the Dataset's attribute lowprec_sample_dims={value!r} names dims {missing} that it "
            f"does not have (dims {tuple(ds.dims)}); pass pool_dims explicitly (() for none)")
    return names


_PVALUE_DESCRIPTIONS = {
    "permutation": "one-sided exact permutation test of the member statistic (mean distance to "
                   "the controls), setting vs null runs",
    "leave_one_out": "one-sided leave-one-out empirical p-value: the setting's mean distance over "
                     "its control x member pairs against every control x null and control x "
                     "control (c != c') distance, p = (1 + #{null >= statistic}) / (1 + n_null)",
}


def _check_leave_one_out_size(n_controls: int, n_null: int, alpha: float) -> None:
    """Refuse leave-one-out p-values that can never fall to `alpha`."""
    n_pairs = significance.null_pair_count(n_controls, n_null)
    smallest = significance.leave_one_out_min_pvalue(n_controls, n_null)
    if smallest > alpha:
        raise ValidationInputError(
            f"leave-one-out p-values at alpha={alpha} need more members: M={n_controls} controls "
            f"and N={n_null} null members give n_null = {n_controls}·{n_null} + "
            f"{n_controls}·{n_controls - 1}/2 = {n_pairs} double-vs-double distances, so the "
            f"smallest possible p-value is 1/{n_pairs + 1} = {smallest:.3g} > {alpha}. Use more "
            "members (M = N = 4 gives 1/23), pvalue_method='permutation', or pvalues=False")


def _check_ensemble_sizes(controls_ids: list, competitor_ids: list, min_members: int) -> None:
    """Refuse designs too small to score before any distance is computed."""
    for ids, role, key in ((controls_ids, "control", "controls"), (competitor_ids, "null", "members")):
        if len(ids) < min_members:
            raise ValidationInputError(
                f"the sweep has {len(ids)} double-precision {role} members {list(ids)}; at least "
                f"{min_members} are needed to measure the spread that different initial conditions "
                f"give (the paper used 5): set [sweep] {key} >= {max(min_members, 2)} and rerun the "
                f"sweep (finished runs are kept), or set the Dataset's "
                f"lowprec_{'control' if role == 'control' else 'competitor'}_members")


_STATUSES = ("complete", "blown_up", "failed", "pending", "absent", "unreadable")


def _check_status(status: xr.DataArray) -> None:
    if set(status.dims) != set(SETTING_DIMS):
        raise ValidationInputError(f"variable 'status' has dims {status.dims}; open_sweep gives "
                                   f"{SETTING_DIMS}")
    unknown = sorted(set(np.unique(status.values)) - set(_STATUSES))
    if unknown:
        raise ValidationInputError(f"variable 'status' has values {unknown}; allowed are {_STATUSES}")


def _check_double(present: xr.DataArray, complete: xr.DataArray, ids: list, role: str,
                  min_members: int) -> None:
    missing = [m for m in ids if not bool(present.sel(member=m))]
    blown = [m for m in ids if bool(present.sel(member=m)) and not bool(complete.sel(member=m))]
    if blown:
        raise ValidationInputError(f"double-precision {role} members {blown} have NaN or inf: the "
                                   f"{role} ensemble must be finite; rerun or drop those members")
    if len(ids) - len(missing) < min_members:
        raise ValidationInputError(
            f"{len(ids) - len(missing)} double-precision {role} members present "
            f"(of {ids}; missing {missing}); at least {min_members} are needed (the paper used 5)")
    if missing:
        attr = "lowprec_control_members" if role == "control" else "lowprec_competitor_members"
        raise ValidationInputError(f"double-precision {role} members {missing} were not run: "
                                   f"run them, or remove them from {attr}")


def _window_lengths(windows: int | Sequence[int] | None, n_time: int) -> list[int]:
    if windows is None:
        windows = 4
    if isinstance(windows, (int, np.integer)):
        k = int(windows)
        lengths = sorted({max(1, round(n_time * (i + 1) / k)) for i in range(k)}) if k > 0 else []
    else:
        lengths = [int(w) for w in windows]
    bad = [w for w in lengths if not 1 <= w <= n_time]
    if bad:
        raise ValidationInputError(f"windows {bad}: window lengths count time steps after spin-up, "
                                   f"1..{n_time}")
    return lengths


def _pvalues(member_stat: xr.DataArray, usable: xr.DataArray, valid_setting: xr.DataArray,
             competitor_ids: list, space: Sequence[str], alpha: float, max_relabellings: int,
             seed: int) -> tuple[xr.DataArray, xr.DataArray]:
    """p-values and BH rejections per setting; NaN/False for the null entry and invalid settings."""
    null = member_stat.sel(sbits=CONTROL_SBITS, mode=CONTROL_MODE, drop=True)
    null = null.transpose(*space, "member").values
    p = xr.full_like(member_stat.isel(member=0, drop=True), np.nan).transpose("sbits", "mode", *space)
    reject = xr.zeros_like(p, dtype=bool)
    for s in member_stat["sbits"].values:
        for m in member_stat["mode"].values:
            if (s, m) == (CONTROL_SBITS, CONTROL_MODE) or not bool(valid_setting.sel(sbits=s, mode=m)):
                continue
            members = [k for k in competitor_ids if bool(usable.sel(sbits=s, mode=m, member=k))]
            values = member_stat.sel(sbits=s, mode=m, member=members).transpose(*space, "member").values
            ps = significance.permutation_pvalues(values, null, max_relabellings, seed)
            p.loc[{"sbits": s, "mode": m}] = ps
            reject.loc[{"sbits": s, "mode": m}] = significance.fdr_reject(ps, alpha)
    return p, reject


def _loo_pvalues(distance: xr.DataArray, null_distances: xr.DataArray, space: Sequence[str],
                 alpha: float) -> tuple[xr.DataArray, xr.DataArray]:
    """Leave-one-out p-values of each setting's mean pair distance, and BH rejections per setting.

    distance (sbits, mode, *space): w1 (NaN for settings that cannot be scored);
    null_distances (*space, null_pair). NaN/False for the null entry (52, nearest).
    """
    statistic = distance.transpose("sbits", "mode", *space)
    null = null_distances.transpose(*space, "null_pair").values
    p = xr.full_like(statistic, np.nan)
    reject = xr.zeros_like(p, dtype=bool)
    for s in statistic["sbits"].values:
        for m in statistic["mode"].values:
            if (s, m) == (CONTROL_SBITS, CONTROL_MODE):
                continue
            ps = significance.leave_one_out_pvalues(statistic.sel(sbits=s, mode=m).values, null)
            p.loc[{"sbits": s, "mode": m}] = ps
            reject.loc[{"sbits": s, "mode": m}] = significance.fdr_reject(ps, alpha)
    return p, reject
