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


def test_validation_file_written_by_the_cli_is_cf_compliant(tmp_path, opened):
    """The string `mode` coordinate must reach the file as a char array (CF §2.2), not vlen."""
    from cfcheck import cf_failures
    ds = sweep({"depth": np.linspace(0.0, 9.0, 4)}, n_time=60)
    ds["depth"].attrs.update(standard_name="depth", units="m", positive="down", axis="Z")
    opened["ds"] = ds.assign_coords(time=noleap_days(60)).assign_attrs(lowprec_sample_dims="")
    path = run_validation(tmp_path, windows=2, pvalues=False)
    failed = cf_failures(path)
    assert not failed.get(3) and not failed.get(2), failed
