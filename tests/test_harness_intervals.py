"""Per-variable output intervals: daily means of 6-hourly values, their own time axis, restarts,
config errors, and a sweep read back and validated with them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from lowprec.errors import ConfigError
from lowprec.harness.config import load_config, make_model
from lowprec.harness.run import run, schedule
from lowprec.harness.store import open_run, read_restart
from lowprec.harness.sweep import open_sweep, sweep
from cfcheck import cf_failures

PARAMS = {"nx": 16, "ny": 8, "dt": 1440.0}      # 1 day = 60 steps, 6 h = 15
ENERGIES = ("kinetic_energy", "potential_energy", "enstrophy")
ALL_6H = {name: "6 hours" for name in ENERGIES}
EXPERIMENTS = Path(__file__).resolve().parents[1] / "lowprec" / "experiments"


def sw(length: str = "3 days", **run_keys) -> dict:
    return {"model": "shallow_water", "params": dict(PARAMS),
            "precision": {"sbits": 10, "mode": "stochastic", "seed": 5},
            "run": {"length": length, "output_interval": "6 hours", **run_keys}}


def bits(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).view(np.uint64)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same run twice: the model's default (energies daily) and everything every 6 h."""
    d = tmp_path_factory.mktemp("intervals")
    daily = run(sw(), d / "daily.nc")
    six = run(sw(intervals=ALL_6H), d / "six.nc")
    return d, daily, six


def test_daily_values_are_means_of_the_six_hourly_values(pair):
    _, daily, six = pair
    assert daily.sizes["time"] == 12 and daily.sizes["time_1d"] == 3
    assert "time_1d" not in six.dims
    for name in ("u", "v", "eta"):      # the 6-hourly fields are untouched
        assert daily[name].dims == ("time", "y", "x")
        assert np.array_equal(bits(daily[name].values), bits(six[name].values))
    for name in ENERGIES:
        assert daily[name].dims == ("time_1d",) and six[name].dims == ("time",)
        v = six[name].values.astype(np.float64).reshape(3, 4)
        in_order = (((v[:, 0] + v[:, 1]) + v[:, 2]) + v[:, 3]) / 4      # the harness's order
        assert np.array_equal(bits(daily[name].values), bits(in_order))
        np.testing.assert_allclose(daily[name].values, v.mean(axis=1), rtol=1e-12, atol=0)
        assert not np.array_equal(daily[name].values, v[:, 3])          # a mean, not a snapshot
        assert daily[name].attrs["cell_methods"] == "time_1d: mean (interval: 21600 s) area: mean"
        assert six[name].attrs["cell_methods"] == "time: point area: mean"


def test_own_time_axis_with_bounds_is_cf(pair):
    d, daily, _ = pair
    f = open_run(d / "daily.nc")
    assert list(f["time_1d"].values) == list(f["time"].values[3::4])        # ends of the days
    bounds = f["time_1d_bounds"].values
    assert bounds.shape == (3, 2) and list(bounds[:, 1]) == list(f["time_1d"].values)
    assert [(b - a).total_seconds() for a, b in bounds] == [86400.0] * 3   # 60 steps of 1440 s
    assert f["time_1d"].attrs["bounds"] == "time_1d_bounds"
    assert f["time_1d"].encoding["calendar"] == f["time"].encoding["calendar"] == "365_day"
    assert f["time_1d"].encoding["units"] == f["time"].encoding["units"]
    for name in ENERGIES:
        assert np.array_equal(bits(f[name].values), bits(daily[name].values))
    assert cf_failures(d / "daily.nc") == {}


def test_continuation_from_restart_is_bit_identical(tmp_path):
    whole = run(sw("4 days"))
    run(sw("2 days"), tmp_path / "a.nc")
    b = run(sw("2 days"), tmp_path / "b.nc", restart_from=tmp_path / "a.restart.nc")
    a = open_run(tmp_path / "a.nc")
    for name in ("u", *ENERGIES):
        joined = np.concatenate([a[name].values, b[name].values])
        assert np.array_equal(bits(joined), bits(whole[name].values)), name
    assert list(b["time_1d"].values) == list(whole["time_1d"].values[2:])


class Interrupt(Exception):
    pass


def test_checkpoints_mid_mean_keep_its_sum_and_resume_is_bit_identical(tmp_path):
    cfg = sw("4 days", checkpoint_interval="6 hours")      # a checkpoint at every output
    whole = run(cfg)
    path = tmp_path / "r.nc"
    seen = []

    def stop(info):
        if path.exists():
            seen.append(read_restart(tmp_path / "r.restart.nc"))
        if info.step >= 6 * 15:                            # 1.5 days: mid-day (15 steps per 6 h)
            raise Interrupt

    with pytest.raises(Interrupt):
        run(cfg, path, progress=stop)
    mid_day = [r for r in seen if r.outputs % 4]
    assert mid_day and all(set(r.sums) == set(ENERGIES) for r in mid_day)
    assert all(not r.sums for r in seen if r.outputs % 4 == 0)   # no day in progress: no sums
    partial = open_run(path)
    k = read_restart(tmp_path / "r.restart.nc").outputs
    assert k % 4 and partial.attrs["lowprec_status"] == "interrupted"
    assert partial.sizes["time"] == k and partial.sizes["time_1d"] == k // 4
    done = run(cfg, path, resume=True)
    assert done.attrs["lowprec_status"] == "complete"
    f = open_run(path)
    for name in ("u", "eta", *ENERGIES):
        assert np.array_equal(bits(f[name].values), bits(whole[name].values)), name


def test_model_default_applies_only_when_it_fits():
    short = run(sw("12 hours"))                 # shorter than a day: energies every 6 h
    assert short["kinetic_energy"].dims == ("time",) and "time_1d" not in short.dims
    assert short["kinetic_energy"].attrs["cell_methods"] == "time: point area: mean"
    explicit = run(sw("12 hours", intervals={"kinetic_energy": "12 hours"},
                      variables=["eta", "kinetic_energy", "enstrophy"]))
    assert explicit["kinetic_energy"].dims == ("time_12h",) and explicit.sizes["time_12h"] == 1
    assert explicit["enstrophy"].dims == ("time",)
    steps = run(sw("1 day", intervals={"enstrophy": "30 steps"}, variables=["enstrophy"]))
    assert steps["enstrophy"].dims == ("time_30steps",) and steps.sizes["time_30steps"] == 2
    assert steps.sizes["time"] == 4             # the base axis is kept


@pytest.mark.parametrize("intervals, match", [
    ({"kinetic_energy": "5 hours"}, r"run\.intervals\.kinetic_energy = '5 hours'.*whole multiple "
                                    r"of run\.output_interval = '6 hours'"),
    ({"kinetic_energy": "1.1 days"}, r"it is 4\.4 of them"),
    ({"kinetic": "1 day"}, r"no output 'kinetic'.*u, v, eta, kinetic_energy"),
    ({"kinetic_energy": 4}, "duration"),
])
def test_config_errors(intervals, match):
    with pytest.raises(ConfigError, match=match):
        load_config(sw(intervals=intervals))


def test_config_errors_needing_the_time_step():
    with pytest.raises(ConfigError, match=r"run\.length = '3 days' must be a whole number"):
        run(sw("3 days", intervals={"kinetic_energy": "2 days"}))
    with pytest.raises(ConfigError, match=r"whole multiple of run\.output_interval = '6 hours'"):
        run(sw("1 day", intervals={"kinetic_energy": "10 steps"}))
    with pytest.raises(ConfigError, match="table"):
        load_config(sw(intervals="1 day"))


def test_intervals_round_trip_through_toml():
    exp = load_config(sw(intervals={"enstrophy": "1 day"}))
    assert exp.run.intervals == {"enstrophy": "1 day"}
    assert load_config(exp.to_toml()) == exp


@pytest.mark.parametrize("name", ["shallow_water.toml", "shallow_water_sweep.toml"])
def test_experiments_write_fields_every_6_hours_and_energies_daily(name):
    exp = load_config(EXPERIMENTS / name)
    assert exp.run.output_interval == "6 hours"
    model = make_model(exp)
    sched = schedule(exp, model.dt, model.time_units, model.OUTPUTS)
    assert sched.ratios == {n: 4 for n in ENERGIES}
    assert sched.time_dims == {n: "time_1d" for n in ENERGIES}


def test_open_sweep_and_evaluate_score_daily_means(tmp_path):
    import validation
    cfg = sw()
    cfg["precision"] = {"seed": 3}
    cfg["sweep"] = {"sbits": [10], "modes": ["nearest"], "controls": 2, "members": 2}
    res = sweep(cfg, tmp_path / "s", scheduler="serial", quiet=True)
    assert res.ok
    ds = open_sweep(tmp_path / "s")
    assert ds["kinetic_energy"].dims == ("sbits", "mode", "member", "time_1d")
    assert ds.sizes["time_1d"] == 3 and ds.sizes["time"] == 12
    assert "time_1d_bounds" in ds.coords
    v = validation.evaluate(ds, pvalues=False, spinup=4, windows=[2, 4, 8])
    assert set(v.attrs["lowprec_variables"].split(", ")) == {"u", "v", "eta", *ENERGIES}
    controls, competitors = ds.attrs["lowprec_control_members"], ds.attrs["lowprec_competitor_members"]
    for name in ENERGIES:
        # spin-up of 4 six-hourly steps (1 day) discards the first daily mean
        series = v[f"global_mean_t_{name}"]
        assert series.dims == ("sbits", "mode", "time_1d") and series.sizes["time_1d"] == 2
        x = ds[name].load()
        for s, mode in ((10, "nearest"), (52, "nearest")):
            pairs = [wasserstein_distance(x.sel(sbits=52, mode="nearest", member=c).values[1:],
                                          x.sel(sbits=s, mode=mode, member=m).values[1:])
                     for c in controls for m in competitors]
            np.testing.assert_allclose(float(v[f"w1_{name}"].sel(sbits=s, mode=mode)),
                                       np.mean(pairs), rtol=1e-12)
        wt = v[f"w1_global_t_{name}"].sel(sbits=10, mode="nearest").values
        assert np.isnan(wt[0])          # half a day after spin-up: no daily mean yet
        assert np.isfinite(wt[1:]).all()
        assert wt[2] == pytest.approx(float(v[f"w1_global_{name}"].sel(sbits=10, mode="nearest")))
    paths = validation.report(v, tmp_path / "figures")
    assert tmp_path / "figures" / "timeseries_kinetic_energy.png" in paths      # on its own axis
