"""The GCM through the harness: restarts continue a run bit for bit, `lowprec spinup` writes its
restarts, a sweep starts members from them, the validator scores the zonal means with cos(lat)
weights, and the packaged experiments load and plan."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lowprec.harness.config import load_config, make_model
from lowprec.harness.run import run, schedule
from lowprec.harness.spinup import spinup
from lowprec.harness.store import open_run, read_restart
from lowprec.harness.sweep import open_sweep, parse_sweep, preflight, sweep
from models.gcm import GCM, GCMParams

EXPERIMENTS = Path(__file__).resolve().parents[1] / "lowprec" / "experiments"
PARAMS = {"truncation": 10}                     # 32 x 16 grid, dt = 90 min: 16 steps a day


def gcm(**sweep_keys) -> dict:
    cfg = {"model": "gcm", "params": dict(PARAMS), "precision": {"seed": 5},
           "run": {"spinup": "4 days", "length": "1 day", "output_interval": "6 hours",
                   "variables": ["u_zonal_mean", "T_zonal_mean", "ps"]}}
    if sweep_keys:
        cfg["sweep"] = {"sbits": [10], "modes": ["stochastic"], "controls": 2, "members": 2,
                        **sweep_keys}
    return cfg


def bits(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).view(np.uint64)


def test_a_continued_stochastic_run_equals_one_long_run(tmp_path):
    cfg = gcm()
    cfg["precision"].update(sbits=10, mode="stochastic")
    cfg["run"].update(spinup="0 days", length="2 days")
    whole = run(cfg, tmp_path / "whole.nc")
    cfg["run"]["length"] = "1 day"
    first = run(cfg, tmp_path / "first.nc")
    second = run(cfg, tmp_path / "second.nc", restart_from=tmp_path / "first.restart.nc")
    for name in ("u_zonal_mean", "T_zonal_mean", "ps"):
        joined = np.concatenate([first[name].values, second[name].values])
        assert np.array_equal(bits(joined), bits(whole[name].values)), name
    assert np.abs(whole["u_zonal_mean"].values).max() > 0


def test_spinup_restarts_start_a_sweep_that_validates_the_zonal_means(tmp_path, capsys):
    import validation
    out = tmp_path / "spinup"
    result = spinup(gcm(), out, restart_every="1 day")
    assert [p.name for p in result.restarts] == [f"restart_{d:05d}d.nc" for d in (1, 2, 3, 4)]
    r = read_restart(result.restarts[-1])
    model = GCM(GCMParams(**PARAMS))
    state = model.state_from_arrays(r.arrays)
    assert state.started and r.step == 64 and np.abs(model.grid_fields(state)["T"]).max() > 0

    d = tmp_path / "sweep"
    res = sweep(gcm(restarts=str(out)), d, scheduler="serial", quiet=True)
    # restarts one day apart for one-day runs: just far enough, no overlap warning
    assert "restarts:" not in capsys.readouterr().err
    assert res.ok and res.total == 6          # 2 controls, 2 null, 2 members at 10 sbits
    for member, restart in enumerate(result.restarts):
        f = open_run(d / "runs" / f"gcm_sb52_nearest_m{member:03d}.nc")
        assert f.attrs["lowprec_restart_from"] == str(restart.resolve())
    ds = open_sweep(d)
    v = validation.evaluate(ds, variables=["u_zonal_mean", "T_zonal_mean"], pvalues=False,
                            windows=0)
    for name in ("u_zonal_mean", "T_zonal_mean"):
        w1 = v[f"w1_{name}"].sel(sbits=10, mode="stochastic")
        assert w1.dims == ("lev", "lat") and w1.shape == (8, 16)
        assert np.isfinite(w1.values).all() and float(v[f"w1_null_{name}"].mean()) > 0
        assert np.isfinite(float(v[f"w1_global_{name}"].sel(sbits=10, mode="stochastic")))
    assert v.attrs["lowprec_weights"].startswith("cos(lat)")      # area weights, unchanged


@pytest.mark.parametrize("name", ["gcm_held_suarez", "gcm_held_suarez_sweep"])
def test_packaged_experiments_load_and_plan(name):
    exp = load_config(EXPERIMENTS / f"{name}.toml")
    model = make_model(exp)
    assert model.dt == 2400.0 and model.params.truncation == 31
    sched = schedule(exp, model.dt, model.time_units, model.OUTPUTS)
    assert sched.spinup_steps == 200 * 36 and sched.n_outputs == 1000 * 4
    assert sched.ratios["u_zonal_mean"] == 4 and "ps" in exp.run.variables
    if exp.sweep is not None:
        spec = parse_sweep(exp.sweep)
        assert spec.sbits == (10, 23) and spec.modes == ("nearest", "stochastic")
        assert len(spec.runs(exp.model)) == 5 + 5 * (1 + 4)


def test_packaged_tune_loads_and_passes_the_design_check(monkeypatch):
    """gcm_tune.toml: T21, 10-day members, sbits reaching down to 3, components the model
    declares, and members the fewest that reach the Bonferroni level (as its comment says): one
    member fewer could never fail a probe. The check itself at T10, timing 2 steps per setting."""
    from lowprec.harness import tune_design
    from lowprec.harness.tune import check_design, load_tune
    from lowprec.harness.tune_search import members_needed
    exp, spec = load_tune(EXPERIMENTS / "gcm_tune.toml")
    model = make_model(exp)
    assert model.params.truncation == 21 and model.dt == 3600.0
    sched = schedule(exp, model.dt, model.time_units, model.OUTPUTS)
    assert sched.interval_steps * sched.n_outputs == 10 * 24
    assert set(spec.components) <= set(GCM.COMPONENTS) and spec.range.low == 3
    assert spec.test == "paired" and set(spec.variables) == {"u_zonal_mean", "T_zonal_mean"}
    assert spec.members == members_needed(spec.level, tune_design.MAX_RELABELLINGS, spec.test)
    monkeypatch.setattr(tune_design, "TIMING_SECONDS", 0.0)
    exp, spec = load_tune(EXPERIMENTS / "gcm_tune.toml", {"params.truncation": 10})
    check = check_design(exp, spec)
    assert check.ok and not check.outside_components
    assert check.steps_per_run == 10 * 16                      # T10: dt = 90 min


def test_packaged_sweep_passes_the_pre_flight():
    exp = load_config(EXPERIMENTS / "gcm_held_suarez_sweep.toml")
    exp = exp.replace(sweep={k: v for k, v in exp.sweep.items() if k != "restarts"})
    preflight(exp, parse_sweep(exp.sweep).runs(exp.model))


def test_members_from_restarts_closer_than_a_run_are_warned_about(tmp_path):
    """Float64 members continue the spin-up's own trajectory: restarts 1 day apart for 2-day runs
    give members that share half their series, a null that measures overlap. Warned, with the
    gap and the length in steps."""
    from lowprec.harness.spinup import spinup
    from lowprec.harness.sweep import parse_sweep, restart_spacing_warning, sweep_restarts
    cfg = gcm(restarts=str(tmp_path / "spinup"))
    spinup(gcm(), tmp_path / "spinup", restart_every="1 day")
    for length, warned in (("2 days", True), ("1 day", False)):
        cfg["run"]["length"] = length
        exp = load_config(cfg)
        spec = parse_sweep(exp.sweep)
        text = restart_spacing_warning(exp, sweep_restarts(spec, exp), spec.n_members)
        assert (text is not None) == warned, text
    assert "16 steps apart" in restart_spacing_warning(
        load_config(dict(cfg, run=dict(cfg["run"], length="2 days"))),
        sweep_restarts(spec, exp), spec.n_members)
