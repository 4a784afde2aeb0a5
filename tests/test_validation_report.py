"""Figures and the markdown table written from validation.evaluate's output."""
import numpy as np
import xarray as xr

import validation
from test_validation_ensemble import GRID, sweep

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_for_a_gridded_model(tmp_path):
    ds = sweep(GRID, shift={(10, "nearest"): 0.4})
    ds["T"].loc[{"sbits": 10, "mode": "stochastic", "member": 6, "time": 5.0}] = np.nan   # a blow-up
    res = validation.evaluate(ds, windows=3)
    paths = validation.report(res, tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert names == ["global_T.png", "map_excess_T.png", "report.md", "wt_T.png"]
    for p in paths[:-1]:
        assert p.read_bytes()[:8] == PNG
    table = (tmp_path / "out" / "report.md").read_text()
    w = float(res["w1_global_T"].sel(sbits=10, mode="nearest"))
    assert f"| 10 | nearest | 5 | 0 | {w:.4g} |" in table
    assert "| 10 | stochastic | 5 | 1 | NaN |" in table
    assert "100.0%" in table                                        # all shifted points significant


def test_report_for_a_column_model_draws_the_profile(tmp_path):
    ds = sweep({"depth": xr.DataArray(np.linspace(0.0, 9.0, 5), dims="depth", attrs={"units": "m"})})
    res = validation.evaluate(ds, windows=[], pvalues=False)
    names = sorted(p.name for p in validation.report(res, tmp_path))
    assert names == ["global_T.png", "profile_T.png", "report.md"]
