"""`lowprec validate` / `lowprec report` glue (cli_sweep) on synthetic sweeps: pooling, cftime."""
import numpy as np
import pytest
import xarray as xr

import lowprec.harness.sweep as sweep_module
from lowprec.harness.cli_sweep import make_report, run_validation
from test_validation_ensemble import sweep
from test_validation_report import noleap_days


@pytest.fixture
def opened(monkeypatch):
    """open_sweep returns the Dataset put in `box` (no model runs needed)."""
    box = {}
    monkeypatch.setattr(sweep_module, "open_sweep", lambda path: box["ds"])
    return box


def pooled_dims(path) -> str:
    with xr.open_dataset(path) as v:
        return v.attrs["lowprec_pooled_dims"]


def test_validate_pools_the_dims_the_runs_name(tmp_path, opened):
    ds = sweep({}, n_time=30, pool={"particle": np.arange(3)})
    opened["ds"] = ds.assign_attrs(lowprec_sample_dims="particle")
    assert pooled_dims(run_validation(tmp_path, windows=0, pvalues=False)) == "time, particle"
    opened["ds"] = ds.assign_attrs(lowprec_sample_dims="")       # a model without sample dims
    assert pooled_dims(run_validation(tmp_path, windows=0, pvalues=False)) == "time"
    # --pool-dim overrides the attribute.
    assert pooled_dims(run_validation(tmp_path, windows=0, pvalues=False, pool_dims=("particle",))) == "time, particle"


def test_report_reads_a_cftime_validation_file(tmp_path, opened):
    ds = sweep({"depth": np.linspace(0.0, 9.0, 4)}, n_time=100)
    opened["ds"] = ds.assign_coords(time=noleap_days(100)).assign_attrs(lowprec_sample_dims="")
    run_validation(tmp_path, windows=3, pvalues=False)
    with xr.open_dataset(tmp_path / "validation.nc") as v:
        assert v["window_end"].values[-1] == noleap_days(100)[-1]      # stored as dates
    names = {p.name for p in make_report(tmp_path)}
    assert {"wt_T.png", "timeseries_T.png", "report.md"} <= names
