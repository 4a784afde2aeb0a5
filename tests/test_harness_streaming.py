"""Output streamed to disk (issue 9, fourth part): memory independent of a run's length, a
checkpoint writing only the rows since the last one, the chunk layout, and every guarantee of
whole-file writes kept (a whole file at the path, readers, float32 widening, old files resumed,
blown-up files that open with plain xarray)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import test_harness_run  # noqa: F401 - registers the test_growth model
from cfcheck import cf_failures
from lowprec.harness.run import run
from lowprec.harness.store import open_run, output_companions, read_restart

ROOT = Path(__file__).resolve().parents[1]


def bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view(np.uint64 if a.dtype == np.float64 else np.uint32)


def sw(outputs: int, checkpoint: int | None = None, nx: int = 50, ny: int = 25) -> dict:
    """Shallow water writing u, v, eta every step: the output dominates the memory and I/O."""
    cfg = {"model": "shallow_water", "params": {"nx": nx, "ny": ny},
           "precision": {"sbits": 52},
           "run": {"length": f"{outputs} steps", "output_interval": "1 steps",
                   "variables": ["u", "v", "eta"]}}
    if checkpoint:
        cfg["run"]["checkpoint_interval"] = f"{checkpoint} steps"
    return cfg


# --------------------------------------------------------------------------------------------
# Memory and checkpoint cost

PEAK_RSS = textwrap.dedent("""
    import json, resource, sys
    import lowprec.harness.store as store
    store.WRITE_BYTES = 2 * 2**20          # a small write buffer: at most 2 MB of rows held
    from lowprec.harness.run import run
    run(json.loads(sys.argv[1]), sys.argv[2]).close()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
""")


def peak_rss(cfg: dict, out: Path) -> int:
    import json
    result = subprocess.run([sys.executable, "-c", PEAK_RSS, json.dumps(cfg), str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_memory_does_not_grow_with_the_length_of_the_run(tmp_path):
    # 50 x 25 float64 u, v, eta: 30 kB per output. 2000 outputs are 60 MB of output, which a run
    # holding its output (and building a dataset of it) needs at least once more than a run of
    # 200; streamed with a 2 MB buffer, both hold the same. Bound: half of those 54 MB.
    short = peak_rss(sw(200), tmp_path / "short.nc")
    long = peak_rss(sw(2000), tmp_path / "long.nc")
    assert long - short < 27e6, (short, long)
    assert open_run(tmp_path / "long.nc").sizes["time"] == 2000


def bytes_written(cfg: dict, out: Path) -> int:
    """Bytes this process passed to write calls during the run (/proc/self/io wchar)."""
    def wchar() -> int:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
        raise AssertionError("no wchar")
    before = wchar()
    run(cfg, out).close()
    return wchar() - before


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs /proc/self/io")
def test_a_checkpoint_writes_the_rows_since_the_last_one(tmp_path):
    # A checkpoint every 20 outputs. Rewriting the whole file at each checkpoint costs the
    # square of the length (4x for twice as long); appending costs the length (2x, plus a
    # constant per checkpoint: the restart, metadata, the last partly filled chunk).
    short = bytes_written(sw(300, checkpoint=20), tmp_path / "short.nc")
    long = bytes_written(sw(600, checkpoint=20), tmp_path / "long.nc")
    assert long / short < 2.6, (short, long)
    row = 3 * 50 * 25 * 8
    assert long < 6 * 600 * row                  # two copies of every row, and some to spare


# --------------------------------------------------------------------------------------------
# The file's layout

def test_chunk_shapes_give_a_validator_blocks_of_grid_points_over_many_times():
    from lowprec.harness.store import CHUNK_POINTS, chunk_shape, rows_per_write
    assert chunk_shape((50, 100), 262) == (262, 5, 100)          # 500 points: whole rows of x
    assert chunk_shape((8, 48, 96), 22) == (22, 1, 5, 96)        # 480 points of one level
    assert chunk_shape((61,), 1000) == (1000, 61)
    assert chunk_shape((10_000,), 7) == (7, CHUNK_POINTS)
    assert chunk_shape((), 9) == (9,)
    # rows per checkpoint: whole means (a multiple of 4), at most the run, at least one mean
    assert rows_per_write(3 * 5000 * 8, 500, 10_000, 4) % 4 == 0
    assert rows_per_write(8, 1, 10, 4) == 10 and rows_per_write(10**9, 500, 100, 4) == 4


def test_time_series_are_chunked_along_time_over_blocks_of_points(tmp_path):
    import netCDF4
    run(sw(300, nx=100, ny=50), tmp_path / "a.nc").close()
    with netCDF4.Dataset(tmp_path / "a.nc") as nc:
        rows, ny, nx = nc["u"].chunking()
        assert (ny, nx) == (5, 100) and 200 <= rows <= 300
        assert nc["u"].filters()["zlib"] and nc["u"].filters()["shuffle"]
        assert nc.dimensions["time"].isunlimited()


# --------------------------------------------------------------------------------------------
# Guarantees kept

def growth_daily(growth: float, length: str, **precision) -> dict:
    return {"model": "test_growth", "params": {"growth": growth}, "precision": precision,
            "run": {"length": length, "output_interval": "6 hours", "intervals": {"x": "1 day"}}}


def test_a_run_blown_up_before_its_first_daily_mean_opens_with_plain_xarray(tmp_path):
    ds = run(growth_daily(2.0**200, "4 days"), tmp_path / "g.nc")   # inf at step 6 (x = 2**1200)
    assert ds.attrs["lowprec_status"] == "blown_up" and ds.attrs["lowprec_blowup_step"] == 6
    with xr.open_dataset(tmp_path / "g.nc") as f:                   # no cftime option needed
        assert f.attrs["lowprec_status"] == "blown_up"
        assert "x" not in f and "time_1d" not in f.dims
        assert f.attrs["lowprec_absent_variables"] == "x"
        assert int(f["sbits"]) == 52
    failed = cf_failures(tmp_path / "g.nc")
    assert not any("time" in m for ms in failed.values() for m in ms), failed


def test_a_run_blown_up_after_some_daily_means_keeps_them(tmp_path):
    ds = run(growth_daily(2.0**4, "12 days"), tmp_path / "g.nc")    # x = 16**n: inf at n = 256
    assert ds.attrs["lowprec_blowup_step"] == 256
    with xr.open_dataset(tmp_path / "g.nc") as f:
        assert f.sizes["time"] == 42 and f.sizes["time_1d"] == 10
        x = f["x"].values[:, 0]
    expected = []
    for day in range(10):            # the mean of the 6-hourly outputs n = 24 day + 6, ..., + 24
        total = 0.0
        for i in range(1, 5):        # summed in time order in float64, then divided by 4
            total += 2.0 ** (4.0 * (24 * day + 6 * i))
        expected.append(total / 4)
    assert np.array_equal(x, np.array(expected))


def test_a_reader_holding_the_output_open_does_not_stop_the_run(tmp_path):
    cfg = sw(60, checkpoint=5, nx=16, ny=8)
    whole = run(cfg)
    out = tmp_path / "a.nc"
    readers = []

    def read(info):
        if out.exists() and len(readers) < 3:
            readers.append(xr.open_dataset(out))        # kept open across later checkpoints
            assert readers[-1].attrs["lowprec_status"] == "running"
            readers[-1]["u"].values

    done = run(cfg, out, progress=read)
    assert len(readers) == 3 and done.attrs["lowprec_status"] == "complete"
    for r in readers:
        r.close()
    done.close()
    f = open_run(out)
    for name in ("u", "v", "eta"):
        assert np.array_equal(bits(f[name].values), bits(whole[name].values)), name
    assert not list(tmp_path.glob("*.partial"))


def test_a_variable_is_widened_to_float64_when_a_later_value_needs_it(tmp_path, monkeypatch):
    import lowprec.harness.store as store
    monkeypatch.setattr(store, "WRITE_BYTES", 64)        # a write every output
    # 10 sbits, float64's exponent range: 2**(30 n) leaves float32's range at n = 5
    cfg = {"model": "test_growth", "params": {"growth": 2.0**30}, "precision": {"sbits": 10},
           "run": {"length": "10 hours", "output_interval": "1 hour"}}
    run(cfg, tmp_path / "g.nc").close()
    f = open_run(tmp_path / "g.nc")
    assert f["x"].dtype == np.float64
    assert np.array_equal(f["x"].values[:, 0], 2.0 ** (30.0 * np.arange(1, 11)))
    cfg["params"]["growth"] = 2.0                        # always within float32
    run(cfg, tmp_path / "s.nc").close()
    assert open_run(tmp_path / "s.nc")["x"].dtype == np.float32


def test_an_interrupted_run_of_the_whole_file_layout_resumes(tmp_path):
    # An interrupted output written before streaming (fixed time dimensions, one whole file):
    # resumed, it is rewritten in the streamed layout and continues bit for bit.
    cfg = {"model": "heat", "precision": {"sbits": 10, "mode": "stochastic", "seed": 1},
           "run": {"length": "10 days", "output_interval": "1 day",
                   "checkpoint_interval": "2 days"}}
    whole = run(cfg)
    out = tmp_path / "a.nc"

    class Stop(Exception):
        pass

    def stop(info):
        if info.step >= 5 * 48:
            raise Stop

    with pytest.raises(Stop):
        run(cfg, out, progress=stop)
    old = open_run(out)
    old.encoding.pop("unlimited_dims", None)
    out.unlink()
    old.to_netcdf(out)                                   # fixed dimensions, as before
    from lowprec.harness.store import RunFile
    assert not RunFile.appendable(out)
    run(cfg, out, resume=True).close()
    assert RunFile.appendable(out)
    assert np.array_equal(bits(open_run(out)["T"].values), bits(whole["T"].values))
    assert read_restart(output_companions(out)[0]).outputs == 10
