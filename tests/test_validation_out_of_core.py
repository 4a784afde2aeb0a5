"""The validator out of core: sweeps read from their run files block by block (issue 10, B8).

Real sweeps, small: benchmarks/make_synthetic_sweep.py runs the `synthetic_gcm` stand-in model
(random fields, rounded to each run's format) through the sweep harness, so the files are those
the harness writes. Oracles: the same sweep validated in memory in one block, and
scipy.stats.wasserstein_distance. Memory: the size of every block the validator works on
(counted), and tracemalloc's peak against the size of the sweep's data.
"""
from __future__ import annotations

import importlib.util
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import xarray as xr

import validation
from validation import ensemble
from lowprec.harness.sweep import open_sweep

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "make_synthetic_sweep.py"


def _generator():
    name = "make_synthetic_sweep"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _BENCH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _make(root: Path, **kwargs) -> Path:
    gen = _generator()
    return gen.make(root, gen.experiment(0, **kwargs), quiet=True)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """3 controls, 3 members; 10 sbits nearest and stochastic; 6 x 10 points, 60 outputs."""
    return _make(tmp_path_factory.mktemp("ooc") / "sweep", days=15, nlat=6, nlon=10, controls=3,
                 members=3, sbits=(10,))


def _numbers(ds: xr.Dataset) -> dict[str, np.ndarray]:
    return {name: np.asarray(v.values) for name, v in ds.data_vars.items()}


def test_blocks_of_one_point_read_from_the_files_give_the_one_block_statistics(sweep):
    lazy = open_sweep(sweep)
    assert not isinstance(lazy["precip"].data, np.ndarray)      # dask: read when computed
    # memory=1 byte: every block is one grid point (smaller than the files' chunks)
    blocks = validation.evaluate(lazy, windows=3, memory=1)
    whole = validation.evaluate(open_sweep(sweep).load(), windows=3, chunk_points=10**9)
    a, b = _numbers(blocks), _numbers(whole)
    assert set(a) == set(b) and {"w1_precip", "w1_global_t_T_lowest", "final_mean_precip"} <= set(a)
    for name in a:
        if name.startswith("global_mean_t"):
            # sums over the points, block by block: another order of the float64 additions
            np.testing.assert_allclose(a[name], b[name], rtol=1e-13, err_msg=name)
        else:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_out_of_core_distances_agree_with_scipy(sweep):
    ds = open_sweep(sweep)
    out = validation.evaluate(ds, windows=[20, 60], memory=50_000)
    data = ds["T_lowest"].load()
    controls, members = ds.attrs["lowprec_control_members"], ds.attrs["lowprec_competitor_members"]
    for sbits, mode in ((10, "stochastic"), (52, "nearest")):
        for i, j in ((0, 0), (3, 7), (5, 9)):
            runs = data.sel(sbits=sbits, mode=mode).isel(lat=i, lon=j)
            ref = data.sel(sbits=52, mode="nearest").isel(lat=i, lon=j)
            expected = np.mean([scipy.stats.wasserstein_distance(ref.sel(member=c), runs.sel(member=m))
                                for c in controls for m in members])
            got = float(out["w1_T_lowest"].sel(sbits=sbits, mode=mode).isel(lat=i, lon=j))
            assert got == pytest.approx(expected, rel=1e-12)
    # the state at the last output, mean over the members: from the same pass
    last = data.isel(time=-1).sel(sbits=10, mode="stochastic", member=members).mean("member")
    np.testing.assert_array_equal(out["final_mean_T_lowest"].sel(sbits=10, mode="stochastic"), last)
    # W(t) over the first 20 outputs: the global mean (cos-latitude weights) of scipy's distances
    first = data.isel(time=slice(0, 20))
    ref = first.sel(sbits=52, mode="nearest")
    runs = first.sel(sbits=10, mode="nearest")
    per_point = np.mean([[[scipy.stats.wasserstein_distance(ref.sel(member=c)[:, i, k],
                                                             runs.sel(member=m)[:, i, k])
                           for k in range(ds.sizes["lon"])] for i in range(ds.sizes["lat"])]
                         for c in controls for m in members], axis=0)
    w = np.cos(np.radians(ds["lat"].values))[:, None] * np.ones(ds.sizes["lon"])
    expected = float((per_point * w).sum() / w.sum())
    got = float(out["w1_global_t_T_lowest"].sel(sbits=10, mode="nearest", window=20))
    assert got == pytest.approx(expected, rel=1e-12)


def test_blocks_are_whole_chunks_of_the_files_within_the_budget():
    # A 10-year T31 run's chunks (store.chunk_shape): 1 latitude x 35 longitudes; 100 runs.
    lat, lon = (1,) * 48, (35, 35, 26)
    per_point = 100 * 14600 * 8
    for memory, parallel in ((4 * 2**30, 2), (16 * 2**30, 1), (2**30, 2)):
        blocks = ensemble._lazy_space_chunks((lat, lon), per_point, None, memory, parallel)
        assert [sum(b) for b in blocks] == [48, 96]
        points = max(blocks[0]) * max(blocks[1])
        budget = memory // (ensemble.BLOCK_COPIES * parallel)
        if 35 * per_point <= budget:            # a chunk fits: blocks are whole chunks
            for dim_blocks, dim_chunks in zip(blocks, (lat, lon)):
                assert set(np.cumsum(dim_blocks)) <= set(np.cumsum(dim_chunks))
            assert points * per_point <= max(budget, 35 * per_point)
        else:                                    # it does not: the budget wins
            assert points * per_point <= budget
    # small points (10 kB each): about 16 MB a block (_CHUNK_BYTES), whole latitude rows
    blocks = ensemble._lazy_space_chunks((lat, lon), 10_000, None, 16 * 2**30, 1)
    assert blocks == [(17, 17, 14), (96,)]
    # chunk_points asks for 70 points: two whole chunks of 35
    blocks = ensemble._lazy_space_chunks((lat, lon), per_point, 70, 16 * 2**30, 1)
    assert blocks == [lat, (70, 26)]


def test_long_runs_are_chunked_over_fewer_points():
    from lowprec.harness.store import CHUNK_POINTS, COLUMN_BYTES, chunk_points, chunk_shape
    # short runs: CHUNK_POINTS, as before; 10 years of 6-hourly output on T31: 35 points
    assert chunk_shape((48, 96), 100, 1000) == (100, 5, 96)
    assert chunk_shape((48, 96), 455, 14_600) == (455, 1, 35)
    for rows in (1, 1000, 14_600, 10**6, 10**8):
        points = chunk_points(rows)
        assert 1 <= points <= CHUNK_POINTS
        assert points * rows * 8 <= COLUMN_BYTES or points == 1    # a column within the bound
        assert points == CHUNK_POINTS or (points + 1) * rows * 8 > COLUMN_BYTES   # and no smaller


def _block_sizes(monkeypatch) -> list[int]:
    sizes: list[int] = []
    scan = ensemble._scan_block

    def counting(x, *args, **kwargs):
        sizes.append(np.asarray(x).nbytes)
        return scan(x, *args, **kwargs)
    monkeypatch.setattr(ensemble, "_scan_block", counting)
    return sizes


def test_memory_is_bounded_by_the_budget_not_by_the_run_length(tmp_path, monkeypatch):
    # Runs long enough that the files' chunks hold fewer points than store.CHUNK_POINTS (a
    # column of a chunk's points over the whole run within store.COLUMN_BYTES), as 10-year runs
    # are: here with a column of 32 kB instead of 4 MiB, so that short runs show it.
    from lowprec.harness import store
    monkeypatch.setattr(store, "COLUMN_BYTES", 2**15)
    design = dict(nlat=16, nlon=32, controls=2, members=2, sbits=(10,), modes=("nearest",))
    short = _make(tmp_path / "short", days=25, **design)
    long = _make(tmp_path / "long", days=100, **design)
    import netCDF4
    with netCDF4.Dataset(next((long / "runs").glob("*_sb10_nearest_m00?.nc"))) as nc:
        rows, *points = nc["precip"].chunking()
        assert np.prod(points) * len(nc.dimensions["time"]) * 8 <= store.COLUMN_BYTES
    sizes = _block_sizes(monkeypatch)
    memory = 2_000_000
    peaks, data_bytes, largest = {}, {}, {}
    # once untraced first: numba's compilation and lazy imports are not the validator's data
    validation.evaluate(open_sweep(short).isel(lat=slice(0, 2)), pvalues=False, memory=memory,
                        scheduler="synchronous")
    for name, path in (("short", short), ("long", long)):
        ds = open_sweep(path)
        data_bytes[name] = sum(ds[v].size * 8 for v in ("precip", "T_lowest"))
        sizes.clear()
        tracemalloc.start()
        validation.evaluate(ds, pvalues=False, memory=memory, scheduler="synchronous")
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        largest[name] = max(sizes)
    budget = memory // ensemble.BLOCK_COPIES        # one block at a time (synchronous)
    assert largest["short"] <= budget and largest["long"] <= budget
    assert data_bytes["long"] == 4 * data_bytes["short"] > 8 * budget
    # The peak follows the block, not the data: 4x the data, far less than 4x the peak (a
    # validator holding the data would take >= 4x; measured 1.2-1.7x: fixed costs, such as
    # what dask and xarray keep per variable, differ between the two); and well under the
    # data's size (an in-memory validation holds it all, and copies of it).
    assert peaks["long"] < 2.5 * peaks["short"], (peaks, data_bytes)
    assert peaks["long"] < data_bytes["long"] / 2, (peaks, data_bytes)


def test_the_command_line_takes_a_memory_budget(sweep, tmp_path):
    from click.testing import CliRunner

    from lowprec.harness.cli import main
    result = CliRunner().invoke(main, ["validate", str(sweep), "--memory", "64MiB", "--no-pvalues"])
    assert result.exit_code == 0, result.output
    with xr.open_dataset(sweep / "validation.nc") as ds:
        assert "w1_precip" in ds
    (sweep / "validation.nc").unlink()
    result = CliRunner().invoke(main, ["validate", str(sweep), "--memory", "lots"])
    assert result.exit_code != 0 and "--memory" in result.output and "4GiB" in result.output


def test_open_sweep_leaves_the_netcdf_chunk_cache_default_as_it_was(sweep):
    import netCDF4
    before = netCDF4.get_chunk_cache()
    open_sweep(sweep).close()
    assert netCDF4.get_chunk_cache() == before


def test_open_sweep_takes_each_files_chunks_in_space_and_the_whole_run_in_time(tmp_path):
    """One dask chunk per chunk of the files made a graph of ~800 000 chunks per variable for a
    10-year T31 sweep (2.6 GB before any data was read, B8); a chunk's column over the whole
    run is what the validator's blocks read anyway."""
    import netCDF4
    gen = _generator()
    exp = gen.experiment(0, days=12, nlat=6, nlon=10, controls=2, members=2, sbits=(10,))
    exp["run"]["checkpoint_interval"] = "2 days"        # files appended 6 times: 6 row chunks
    lazy = open_sweep(gen.make(tmp_path / "sweep", exp, quiet=True))
    run_file = next(f for f in (tmp_path / "sweep" / "runs").glob("*_sb10_nearest_m*.nc")
                    if not f.name.endswith(".restart.nc"))
    with netCDF4.Dataset(run_file) as nc:
        var = nc["T_lowest"]
        file_chunks = dict(zip(var.dimensions, var.chunking()))
        assert var.shape[0] == 48 and file_chunks[var.dimensions[0]] < 48    # several in time
    data = lazy["T_lowest"]
    chunks = dict(zip(data.dims, data.chunks))
    assert chunks["time"] == (48,)
    for dim in ("lat", "lon"):      # the file's chunks along each space dim, whole ones
        size = data.sizes[dim]
        step = file_chunks[dim]
        assert chunks[dim] == tuple(min(step, size - i) for i in range(0, size, step)), dim
