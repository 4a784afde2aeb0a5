"""evaluate's result as a file: clean CF-1.11, and honest about spin-up and time alignment."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import validation
from test_validation_ensemble import GRID, sweep
from test_validation_report import noleap_days
from cfcheck import HIGH, MEDIUM, cf_failures


def gridded_sweep(n_time: int = 60) -> xr.Dataset:
    """A small lat/lon sweep with dates and coordinate attributes as the models write them."""
    ds = sweep(GRID, n_time=n_time, shift={(10, "nearest"): 0.3})
    ds = ds.assign_coords(time=noleap_days(n_time))
    ds["time"].attrs.update(standard_name="time", long_name="time", axis="T")
    ds["time"].encoding.update(units="days since 0001-01-01 00:00:00", calendar="365_day")
    ds["lat"].attrs.update(standard_name="latitude", long_name="latitude", units="degrees_north")
    ds["lon"].attrs.update(standard_name="longitude", long_name="longitude", units="degrees_east")
    ds["T"].attrs.update(standard_name="air_temperature")
    return ds.assign_attrs(lowprec_spinup="10 days", lowprec_model="synthetic")


@pytest.mark.parametrize("pvalue_method", ["permutation", "leave_one_out"])
def test_the_result_written_to_netcdf_is_clean_cf(tmp_path, pvalue_method):
    res = validation.evaluate(gridded_sweep(), spinup=5, windows=3, pvalue_method=pvalue_method)
    path = tmp_path / "validation.nc"
    res.to_netcdf(path)
    failed = cf_failures(path)
    assert not failed.get(HIGH), failed.get(HIGH)
    assert not failed.get(2), failed.get(2)


def test_dimensionless_model_time_and_pooled_samples_are_clean_cf(tmp_path):
    ds = sweep({}, n_time=40, pool={"particle": np.arange(3)})
    ds["time"].attrs.update(long_name="model time", units="1")
    res = validation.evaluate(ds.assign_attrs(lowprec_sample_dims="particle"), windows=2)
    path = tmp_path / "validation.nc"
    res.to_netcdf(path)
    failed = cf_failures(path)
    # Lorenz-63's time is dimensionless: CF reserves a coordinate named time for "<unit> since
    # <epoch>" (§4.4, §5.1), so the results call it model_time. No error, no warning.
    assert not failed.get(HIGH) and not failed.get(MEDIUM), failed
    assert "time" not in res.dims and res["model_time"].attrs["units"] == "1"
    assert "dimensionless" in res["model_time"].attrs["long_name"]
    assert "standard_name" not in res["model_time"].attrs
    np.testing.assert_array_equal(res["model_time"].values, ds["time"].values)


def test_every_coordinate_is_described_and_counts_are_dimensionless():
    res = validation.evaluate(gridded_sweep(), spinup=5, windows=3, pvalue_method="leave_one_out")
    for name, c in res.coords.items():
        assert c.attrs.get("long_name"), name
    for name in ("sbits", "member", "control_member", "window"):
        assert res[name].attrs["units"] == "1", name
    assert res["time"].attrs["standard_name"] == "time"
    assert res["window_end"].attrs["standard_name"] == "time"
    assert res["time"].encoding.get("calendar") == "365_day"
    assert "history" in res.attrs and res.attrs["Conventions"].startswith("CF-1.")


def test_run_spinup_and_validator_spinup_are_both_recorded():
    res = validation.evaluate(gridded_sweep(), spinup=5, windows=[], pvalues=False)
    assert res.attrs["lowprec_run_spinup"] == "10 days"
    assert res.attrs["lowprec_spinup_discarded_outputs"] == 5
    assert "10 days" in res.attrs["lowprec_spinup_discarded"]
    assert "5 further output steps" in res.attrs["lowprec_spinup_discarded"]
    # Members started from restart files: open_sweep drops the per-run lowprec_spinup.
    ds = gridded_sweep().copy()
    del ds.attrs["lowprec_spinup"]
    res = validation.evaluate(ds, windows=[], pvalues=False)
    assert "not recorded" in res.attrs["lowprec_run_spinup"]
    assert "0 time steps" not in res.attrs["lowprec_spinup_discarded"]


def test_time_coordinate_says_runs_are_aligned_by_output_number():
    res = validation.evaluate(gridded_sweep(), spinup=5, windows=[], pvalues=False)
    text = res["time"].attrs["long_name"] + res["time"].attrs["comment"]
    assert "output number" in text
    assert res["time"].values[0] == noleap_days(60)[5]


def test_validation_file_of_a_real_lorenz63_sweep_is_clean_cf(tmp_path):
    """Through the harness, as `lowprec sweep` and `lowprec validate` make it: no error, no
    warning (compliance-checker's CF priorities 3 and 2)."""
    import lowprec
    from lowprec.harness.cli_sweep import run_validation
    config = {"model": "lorenz63", "params": {"particles": 8}, "precision": {"seed": 1963},
              "run": {"spinup": "1 time units", "length": "2 time units", "output_interval": "0.1 time units"},
              "sweep": {"sbits": [8], "modes": ["nearest"], "controls": 2, "members": 4}}
    lowprec.sweep(config, tmp_path, scheduler="serial", quiet=True)
    path = run_validation(tmp_path, windows=2)
    failed = cf_failures(path)
    assert not failed.get(HIGH) and not failed.get(MEDIUM), failed
    with xr.open_dataset(path) as v:
        assert "model_time" in v.dims and "time" not in v.dims
        assert v.attrs["lowprec_pvalue_floor"] == 1 / 70


def test_daily_means_with_bounds_are_clean_cf(tmp_path):
    """A variable on time_1d with CF bounds, as open_sweep gives the shallow-water energies: the
    bounds carry no long_name of their own (§7.1) and none of the run files' scalar coordinates
    (their encoding names sbits, mode, member: §5 then sees mode as a 2-D auxiliary coordinate)."""
    ds = gridded_sweep(n_time=60)
    ends = ds["time"].values[3::4]
    ds = ds.assign_coords(time_1d=("time_1d", ends))
    ds["time_1d"].attrs.update(standard_name="time", long_name="time at the end of each averaging "
                               "interval", axis="T", bounds="time_1d_bounds")
    ds["time_1d"].encoding.update(units="days since 0001-01-01 00:00:00", calendar="365_day")
    starts = ds["time"].values[0:60:4] - (ds["time"].values[1] - ds["time"].values[0])
    ds = ds.assign_coords(time_1d_bounds=(("time_1d", "nv"), np.stack([starts, ends], axis=1)))
    ds["time_1d_bounds"].encoding.update(units="days since 0001-01-01 00:00:00", calendar="365_day",
                                         coordinates="member mode sbits")
    daily = ds["T"].isel(time=slice(3, None, 4)).rename(time="time_1d")
    ds["E"] = daily.assign_coords(time_1d=ds["time_1d"]).assign_attrs(units="J m-2", long_name="energy")
    res = validation.evaluate(ds, windows=2)
    path = tmp_path / "validation.nc"
    res.to_netcdf(path)
    failed = cf_failures(path)
    assert not failed.get(HIGH) and not failed.get(MEDIUM), failed
