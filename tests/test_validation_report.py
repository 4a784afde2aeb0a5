"""Figures and the markdown table written from validation.evaluate's output."""
import numpy as np
import pytest
import xarray as xr

import validation
from test_validation_ensemble import GRID, sweep
from validation.figures import elapsed as _elapsed, final_profile_figure, global_figure, timeseries_figure


def _global_fig(res, var):
    return global_figure(res, var).figure

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_for_a_gridded_model(tmp_path):
    ds = sweep(GRID, shift={(10, "nearest"): 0.4})
    ds["T"].loc[{"sbits": 10, "mode": "stochastic", "member": 6, "time": 5.0}] = np.nan   # a blow-up
    res = validation.evaluate(ds, windows=3)
    paths = validation.report(res, tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert names == ["global_T.png", "map_excess_T.png", "map_time_mean_T.png", "report.md",
                     "timeseries_T.png", "wt_T.png"]
    for p in paths[:-1]:
        assert p.read_bytes()[:8] == PNG
    table = (tmp_path / "out" / "report.md").read_text()
    w = float(res["w1_global_T"].sel(sbits=10, mode="nearest"))
    assert f"| 10 | nearest | 5 | {w:.4g} |" in table
    assert "| 10 | stochastic | 4 of 5: 1 blown up | NaN* |" in table
    assert "NaN*: no distance for this setting: members blew up" in table
    assert "- 10 sbits stochastic: member 6: blown up" in table
    assert "100.0%" in table                                        # all shifted points significant


def test_report_for_a_column_model_draws_the_profile(tmp_path):
    ds = sweep({"depth": xr.DataArray(np.linspace(0.0, 9.0, 5), dims="depth", attrs={"units": "m"})})
    res = validation.evaluate(ds, windows=[], pvalues=False)
    names = sorted(p.name for p in validation.report(res, tmp_path))
    assert names == ["final_profile_T.png", "global_T.png", "profile_T.png", "report.md",
                     "timeseries_T.png"]


def noleap_days(n: int) -> np.ndarray:
    """Daily dates in the 365_day calendar, as the heat and shallow-water models write them."""
    return xr.date_range("0001-01-01", periods=n, freq="D", calendar="365_day", use_cftime=True).values


def test_report_with_a_cftime_365_day_time_axis(tmp_path):
    ds = sweep({"depth": np.linspace(0.0, 9.0, 4)}, n_time=800, shift={(10, "nearest"): 0.3})
    ds = ds.assign_coords(time=noleap_days(800))
    res = validation.evaluate(ds, spinup=30, windows=3, pvalues=False)
    assert res["window_end"].values[-1] == ds["time"].values[-1]
    names = sorted(p.name for p in validation.report(res, tmp_path / "direct"))
    assert "wt_T.png" in names and "timeseries_T.png" in names
    # The same after a netCDF round trip, decoded (cftime) or not (numbers "days since ...").
    res.to_netcdf(tmp_path / "validation.nc")
    for decode in (True, False):
        with xr.open_dataset(tmp_path / "validation.nc", decode_times=decode) as back:
            paths = validation.report(back.load(), tmp_path / f"decoded-{decode}")
        assert {"wt_T.png", "timeseries_T.png"} <= {p.name for p in paths}


def test_elapsed_time_is_days_then_years_after_the_start():
    dates = noleap_days(4 * 365)
    days, label = _elapsed(dates[:40], dates[0], "")
    np.testing.assert_array_equal(days, np.arange(40.0))
    assert label == "time after spin-up [days]"
    years, label = _elapsed(dates[::365], dates[0], "")
    np.testing.assert_array_equal(years, [0.0, 1.0, 2.0, 3.0])     # 365-day years: exact
    assert label == "time after spin-up [years]"
    model_time, label = _elapsed(np.arange(5) * 0.5 + 2.0, 2.0, "1")
    np.testing.assert_array_equal(model_time, np.arange(5) * 0.5)
    assert label == "model time after spin-up (dimensionless)"


def _figure_texts(fig) -> str:
    texts = [t.get_text() for t in fig.texts]
    for legend in fig.legends:
        texts += [t.get_text() for t in legend.get_texts()]
    for ax in fig.axes:
        legend = ax.get_legend()
        texts += [t.get_text() for t in legend.get_texts()] if legend else []
    return "\n".join(texts)


def test_global_figure_marks_blow_ups_only_when_there_are_some():
    res = validation.evaluate(sweep(GRID), windows=[], pvalues=False)
    fig = _global_fig(res, "T")
    assert "blew up" not in _figure_texts(fig)
    ds = sweep(GRID)
    ds["T"].loc[{"sbits": 10, "mode": "stochastic", "member": 6, "time": 5.0}] = np.nan
    fig = _global_fig(validation.evaluate(ds, windows=[], pvalues=False), "T")
    assert "a member blew up" in _figure_texts(fig)


def test_global_figure_draws_double_precision_as_the_null_not_as_a_setting():
    res = validation.evaluate(sweep(GRID), windows=[], pvalues=False)
    fig = _global_fig(res, "T")
    for ax in fig.axes:             # both modes on the same axes: W, then the excess
        lines = {line.get_gid(): line for line in ax.get_lines() if line.get_gid()}
        assert CONTROL not in np.atleast_1d(lines[f"{'w' if ax is fig.axes[0] else 'excess'}:nearest"].get_xdata())
        assert "null-mean" in lines
        # (52, stochastic) is a real setting: a point, its tick says float64.
        assert CONTROL in np.atleast_1d(lines[f"{'w' if ax is fig.axes[0] else 'excess'}:stochastic"].get_xdata())
        assert "52\n(float64)" in [t.get_text() for t in ax.get_xticklabels()]
    assert "null: mean" in _figure_texts(fig)


CONTROL = 52


def test_report_lists_failed_runs_and_says_why_a_setting_is_nan(tmp_path):
    ds = sweep(GRID, n_time=40)
    status = np.full((2, 2, 10), "complete", dtype=object)
    status[0, 1, :5] = "absent"                       # (52, stochastic): no controls there
    status[1, 0, 5:9] = "failed"                      # (10, nearest): one run left of five
    ds["T"].loc[{"sbits": 10, "mode": "nearest", "member": [5, 6, 7, 8]}] = np.nan
    ds["status"] = (("sbits", "mode", "member"), status.astype(str))
    res = validation.evaluate(ds, windows=[], pvalues=False)
    table = (tmp_path / "report.md")
    validation.report(res, tmp_path)
    text = table.read_text()
    assert "| 10 | nearest | 1 of 5: 4 failed | NaN* |" in text
    assert "fewer than 2 complete runs" in text
    assert ("- 10 sbits nearest: member 5: failed; member 6: failed; member 7: failed; "
            "member 8: failed") in text


def test_pooled_single_test_shows_yes_or_no_in_the_fdr_column(tmp_path):
    ds = sweep({}, n_time=60, pool={"particle": np.arange(4)}, shift={(10, "nearest"): 1.0})
    res = validation.evaluate(ds.assign_attrs(lowprec_sample_dims="particle"), windows=[])
    assert bool(res["reject_fdr_T"].sel(sbits=10, mode="nearest"))
    validation.report(res, tmp_path)
    text = (tmp_path / "report.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| 10 | nearest |"))
    assert row.endswith("| yes |")
    assert not any(line.startswith("| 52 | nearest |") for line in text.splitlines())   # the null: its own line


def test_final_profile_shows_the_state_of_each_setting_and_the_controls(tmp_path):
    depth = xr.DataArray(np.linspace(0.0, 9.0, 5), dims="depth", attrs={"units": "m"})
    ds = sweep({"depth": depth}, n_time=30, shift={(10, "nearest"): 2.0})
    res = validation.evaluate(ds, windows=[], pvalues=False)
    last = ds["T"].isel(time=-1)
    np.testing.assert_allclose(res["final_mean_T"].sel(sbits=10, mode="nearest"),
                               last.sel(sbits=10, mode="nearest", member=COMPETITORS).mean("member"))
    np.testing.assert_allclose(res["final_mean_control_T"],
                               last.sel(sbits=52, mode="nearest", member=CONTROLS_).mean("member"))
    np.testing.assert_allclose(res["time_mean_T"].sel(sbits=10, mode="stochastic"),
                               ds["T"].sel(sbits=10, mode="stochastic", member=COMPETITORS)
                               .mean(["time", "member"]), rtol=1e-12)
    figure = final_profile_figure(res, "T")
    lines = {line.get_gid(): line for line in figure.figure.axes[0].get_lines()}
    np.testing.assert_array_equal(lines["final:10:nearest"].get_xdata(), res["final_mean_T"].sel(sbits=10, mode="nearest"))
    np.testing.assert_array_equal(lines["controls"].get_xdata(), res["final_mean_control_T"])


def test_no_float64_tick_in_a_panel_without_a_52_setting():
    ds = sweep(GRID, n_time=30)
    ds["T"].loc[{"sbits": 52, "mode": "stochastic"}] = np.nan          # not run
    fig = _global_fig(validation.evaluate(ds, windows=[], pvalues=False), "T")
    for ax in fig.axes:
        assert all("float64" not in t.get_text() for t in ax.get_xticklabels()), ax.get_title()


def test_pooled_global_mean_series_is_drawn_as_a_running_mean(tmp_path):
    ds = sweep({}, n_time=1000, pool={"particle": np.arange(2)})
    res = validation.evaluate(ds.assign_attrs(lowprec_sample_dims="particle"), windows=[], pvalues=False)
    ax = timeseries_figure(res, "T").figure.axes[0]
    assert "running mean over 10 outputs" in ax.get_title()
    null = res["global_mean_t_T"].sel(sbits=52, mode="nearest").values
    line = next(l for l in ax.get_lines() if l.get_gid() == "null")
    np.testing.assert_allclose(line.get_ydata(), np.convolve(null, np.full(10, 0.1), "valid"))
    assert np.std(line.get_ydata()) < 0.5 * np.std(null)


COMPETITORS, CONTROLS_ = [5, 6, 7, 8, 9], [0, 1, 2, 3, 4]
