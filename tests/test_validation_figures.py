"""What the report's figures draw: the plotted data are the computed values, and the layout
gives each figure one message (shared axes for the modes, legends outside, honest words)."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import validation
from test_validation_verdict import ladder
from validation import figures

PLANE = {"y": xr.DataArray(np.arange(3) * 4.0e4 + 2.0e4, dims="y", attrs={"units": "m"}),
         "x": xr.DataArray(np.arange(5) * 4.0e4 + 2.0e4, dims="x", attrs={"units": "m"})}
COLUMN = {"depth": xr.DataArray(np.arange(4.0), dims="depth", attrs={"units": "m", "positive": "down"})}
GLOBE = {"lat": xr.DataArray(np.linspace(-60.0, 60.0, 3), dims="lat", attrs={"units": "degrees_north"}),
         "lon": xr.DataArray(np.arange(4) * 90.0, dims="lon", attrs={"units": "degrees_east"})}


def gid_lines(ax) -> dict:
    return {line.get_gid(): line for line in ax.get_lines() if line.get_gid()}


def test_global_figure_draws_the_computed_distances_and_marks_the_significant_ones():
    ds = ladder(shift={(6, "nearest"): 2.0, (8, "nearest"): 0.8, (6, "stochastic"): 0.8})
    res = validation.evaluate(ds, windows=[])
    fig = figures.global_figure(res, "T").figure
    ax_w, ax_e = fig.axes[:2]
    pairs = res["w1_global_null_pairs_T"].values
    null = float(res["w1_global_null_T"])
    for mode in ("nearest", "stochastic"):
        run = [6, 8, 10, 12]        # sbits 52: the null (nearest), not in the design (stochastic)
        w = res["w1_global_T"].sel(mode=mode, sbits=run).values
        p = res["pvalue_global_T"].sel(mode=mode, sbits=run).values
        for ax, key, y in ((ax_w, "w", w), (ax_e, "excess", w - null)):
            lines = gid_lines(ax)
            np.testing.assert_array_equal(lines[f"{key}:{mode}"].get_xdata(), run)
            np.testing.assert_allclose(lines[f"{key}:{mode}"].get_ydata(), y, rtol=1e-12)
            np.testing.assert_array_equal(lines[f"{key}-significant:{mode}"].get_xdata(), np.array(run)[p <= 0.05])
            np.testing.assert_array_equal(lines[f"{key}-open:{mode}"].get_xdata(), np.array(run)[p > 0.05])
    assert list(gid_lines(ax_w)["w-significant:nearest"].get_xdata()) == [6, 8]     # the shifted ones
    # the null: its mean as a line, the spread of its pairs as the band (excess: shifted by it)
    assert gid_lines(ax_w)["null-mean"].get_ydata()[0] == pytest.approx(null)
    band = next(p for p in ax_w.patches if p.get_gid() == "null-band")
    ys = band.get_path().transformed(band.get_patch_transform()).vertices[:, 1]
    assert (ys.min(), ys.max()) == pytest.approx((pairs.min(), pairs.max()))


def test_global_figure_uses_a_log_scale_where_the_distance_spans_decades():
    small = validation.evaluate(ladder(shift={(6, "nearest"): 0.5}), windows=[])
    assert figures.global_figure(small, "T").figure.axes[0].get_yscale() == "linear"
    large = validation.evaluate(ladder(shift={(6, "nearest"): 300.0}), windows=[])
    axes = figures.global_figure(large, "T").figure.axes
    assert axes[0].get_yscale() == "log" and axes[1].get_yscale() == "symlog"


def paired_sweep() -> xr.Dataset:
    """A plane whose members start from different states: member k adds offset_k (the same at
    every precision, as a run from member k's initial state) and 10 sbits nearest a pattern."""
    ds = ladder(PLANE, n_time=40)
    rng = np.random.default_rng(7)
    offsets = xr.DataArray(rng.normal(0.0, 3.0, (10, 3, 5)), dims=("member", "y", "x"))
    pattern = xr.DataArray(np.outer([1.0, 0.0, -1.0], np.ones(5)), dims=("y", "x"))
    ds["T"] = ds["T"] + offsets + pattern * ((ds["sbits"] == 10) & (ds["mode"] == "nearest"))
    ds["T"].attrs = {"units": "m", "long_name": "sea surface height anomaly eta at cell centres"}
    return ds


def test_time_mean_map_pairs_each_member_with_its_own_null_run():
    ds = paired_sweep()
    res = validation.evaluate(ds, windows=[])
    figure = figures.map_time_mean_figure(res, "T")
    mesh = next(c for ax in figure.figure.axes for c in ax.collections if c.get_gid() == "map:10:nearest")
    # Independent: each competitor member's time mean minus the same member's double run.
    members = list(range(5, 10))
    setting = ds["T"].sel(sbits=10, mode="nearest", member=members).mean("time")
    own_null = ds["T"].sel(sbits=52, mode="nearest", member=members).mean("time")
    expected = (setting - own_null).mean("member").transpose("y", "x").values
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(3, 5), expected, rtol=1e-12, atol=1e-12)
    # ... which is the pattern up to sampling noise; minus the controls it would not be.
    pattern = np.outer([1.0, 0.0, -1.0], np.ones(5))
    assert np.abs(expected - pattern).max() < 0.5
    controls = ds["T"].sel(sbits=52, mode="nearest", member=range(5)).mean(["time", "member"])
    against_controls = (setting.mean("member") - controls).transpose("y", "x").values
    assert np.abs(against_controls - pattern).max() > 1.0
    assert "same initial state" in figure.caption


def test_maps_are_an_sbits_by_mode_grid_in_km_with_one_colour_bar():
    res = validation.evaluate(paired_sweep(), windows=[])
    for draw in (figures.map_excess_figure, figures.map_time_mean_figure):
        fig = draw(res, "T").figure
        maps = [ax for ax in fig.axes if any(c.get_gid() for c in ax.collections)]
        colour_bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert len(maps) == 8 and len(colour_bars) == 1          # 4 sbits × 2 modes, one scale
        limits = {c.get_clim() for ax in maps for c in ax.collections if c.get_gid()}
        assert len(limits) == 1
        for ax in maps:
            assert ax.get_aspect() == 1.0
            mesh = next(c for c in ax.collections if c.get_gid())
            xs = mesh.get_coordinates()[0, :, 0]
            assert xs.max() <= 200.0 + 20.0                       # km, not m
        titles = [ax.get_title() for ax in maps]
        assert titles[0].startswith("6 sbits, nearest") and titles[1].startswith("6 sbits, stochastic")
        assert "x [km]" in [ax.get_xlabel() for ax in maps]


def test_excess_map_draws_the_excess_and_marks_the_fdr_significant_points():
    shift = np.outer([2.0, 0.0, -2.0], np.ones(5))         # (y, x)
    res = validation.evaluate(ladder(PLANE, shift={(10, "nearest"): shift}), windows=[])
    fig = figures.map_excess_figure(res, "T").figure
    mesh = next(c for ax in fig.axes for c in ax.collections if c.get_gid() == "map:10:nearest")
    excess = res["w1_excess_T"].sel(sbits=10, mode="nearest").transpose("y", "x").values
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(3, 5), excess)
    dots = {line.get_gid(): line for ax in fig.axes for line in ax.get_lines() if line.get_gid()}
    reject = res["reject_fdr_T"].sel(sbits=10, mode="nearest").transpose("y", "x").values
    assert reject[[0, 2]].all()                             # the shifted rows
    yy, xx = np.meshgrid(PLANE["y"].values / 1e3, PLANE["x"].values / 1e3, indexing="ij")
    np.testing.assert_array_equal(dots["significant:10:nearest"].get_xdata(), xx[reject])
    np.testing.assert_array_equal(dots["significant:10:nearest"].get_ydata(), yy[reject])


def every_figure(res: xr.Dataset) -> list:
    return [f for draw in figures.FIGURES if (f := draw(res, "T")) is not None]


@pytest.mark.parametrize("space, word", [({}, "pooled"), (COLUMN, "mean over depth"),
                                         (PLANE, "domain mean"), (GLOBE, "global mean")])
def test_the_aggregate_is_named_for_what_it_is(space, word):
    ds = ladder(space)
    if not space:   # as Lorenz-63: no space dims, the trajectories pooled with time
        ds = ladder({"particle": np.arange(3)}).assign_attrs(lowprec_sample_dims="particle")
    res = validation.evaluate(ds, windows=2)
    texts = []
    for f in every_figure(res):
        fig = f.figure
        texts += [f.caption, fig.get_suptitle()] + [t.get_text() for t in fig.texts]
        texts += [t for ax in fig.axes for t in (ax.get_title(), ax.get_ylabel(), ax.get_xlabel())]
    joined = "\n".join(texts)
    assert word in joined
    if word != "global mean":
        assert "global" not in joined.lower()
    assert "soil temperature" in joined                     # titles from long_name, not the name


def test_legends_and_colour_bars_sit_outside_the_data():
    res = validation.evaluate(ladder(COLUMN, shift={(6, "nearest"): 2.0}), windows=2)
    for f in every_figure(res):
        fig = f.figure
        fig.canvas.draw()
        data_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert all(ax.get_legend() is None for ax in data_axes), f.name
        assert fig.legends, f.name
        for legend in fig.legends:
            box = legend.get_window_extent()
            for ax in data_axes:
                assert not box.overlaps(ax.get_window_extent()), f.name


def test_colour_is_sbits_and_line_style_is_mode():
    res = validation.evaluate(ladder(COLUMN), windows=2)
    ax = figures.convergence_figure(res, "T").figure.axes[0]
    lines = gid_lines(ax)
    for s in [6, 8, 10, 12]:
        assert lines[f"wt:{s}:nearest"].get_color() == lines[f"wt:{s}:stochastic"].get_color()
        assert lines[f"wt:{s}:nearest"].get_linestyle() != lines[f"wt:{s}:stochastic"].get_linestyle()
    colours = {tuple(lines[f"wt:{s}:nearest"].get_color()) for s in [6, 8, 10, 12]}
    assert len(colours) == 4
    np.testing.assert_allclose(lines["wt:8:stochastic"].get_ydata(), res["w1_global_t_T"].sel(sbits=8, mode="stochastic"))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")
