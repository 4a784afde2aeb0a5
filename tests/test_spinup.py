"""Spin-up to restarts, sweeps whose members start from them, and shallow water through validation."""
from __future__ import annotations

import netCDF4
import numpy as np
import pytest
from click.testing import CliRunner

from lowprec.errors import ConfigError
from lowprec.harness.cli import main
from lowprec.harness.config import load_config, member_seed
from lowprec.harness.run import run
from lowprec.harness.spinup import find_restarts, spinup
from lowprec.harness.store import open_run, read_restart, write_restart
from lowprec.harness.sweep import open_sweep, sweep
from models.shallow_water import ShallowWater, ShallowWaterParams, spin_up

PARAMS = {"nx": 16, "ny": 8, "dt": 1440.0}      # 125 km cells; 1 day = 60 steps, 6 h = 15
SEED = 7


def sw(**sweep_keys) -> dict:
    cfg = {"model": "shallow_water", "params": dict(PARAMS), "precision": {"seed": SEED},
           "run": {"spinup": "20 days", "length": "2 days", "output_interval": "6 hours"}}
    if sweep_keys:
        cfg["sweep"] = {"sbits": [10], "modes": ["nearest", "stochastic"], "controls": 2,
                        "members": 2, **sweep_keys}
    return cfg


@pytest.fixture(scope="module")
def spun(tmp_path_factory):
    out = tmp_path_factory.mktemp("spinup")
    result = spinup(sw(), out, restart_every="5 days", diagnostics_interval="1 day")
    return out, result


def bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).view(np.uint64)


def test_spinup_restarts_equal_the_models_own_spin_up(spun):
    out, result = spun
    assert [p.name for p in result.restarts] == [f"restart_{d:05d}d.nc" for d in (5, 10, 15, 20)]
    seed = member_seed(load_config(sw()))
    oracle = spin_up(ShallowWaterParams(**PARAMS), days=20, seed=seed, restart_days=[5, 10, 15, 20])
    for day, path in zip((5, 10, 15, 20), result.restarts):
        r = read_restart(path)
        assert r.step == day * 60 and r.emulator_state == {} and r.model == "shallow_water"
        for name in ("u", "v", "eta"):
            assert np.array_equal(bits(r.arrays[name]), bits(oracle[day][name])), (day, name)
        with netCDF4.Dataset(path) as nc:
            assert nc.getncattr("lowprec_restart_time") == day
            assert nc.getncattr("lowprec_restart_date").startswith(f"0001-01-{1 + day:02d}")
        assert 'sbits = 52' in r.config        # the spin-up is float64, and says so
    assert np.abs(oracle[20]["u"]).max() > 0     # the wind has started the flow: not a rest state


def test_spinup_diagnostics_are_domain_means_at_each_interval(spun):
    out, result = spun
    ds = open_run(result.diagnostics)
    assert ds.sizes["time"] == 21                  # day 0 .. day 20
    model = ShallowWater(ShallowWaterParams(**PARAMS))
    for k, path in ((5, result.restarts[0]), (20, result.restarts[-1])):
        d = model.diagnostics(model.state_from_arrays(read_restart(path).arrays))
        assert ds["kinetic_energy"].values[k] == d["kinetic_energy"]
        assert ds["eta_mean"].values[k] == d["eta"].mean()
    assert ds["kinetic_energy"].values[0] < ds["kinetic_energy"].values[-1]   # spun up from rest
    # the mean is said in words: cell_methods may only name dims the file has (CF §7.3)
    assert ds["u_mean"].attrs["cell_methods"] == "time: point"
    assert "unweighted mean over every grid point of (y, x)" in ds["u_mean"].attrs["comment"]


def test_spinup_keeps_one_number_per_record_not_whole_fields(tmp_path, monkeypatch):
    # Fields kept whole until the end made a T31 GCM spin-up of decades need ~170 GB.
    from lowprec.harness import spinup as spinup_module
    seen = []
    original = spinup_module._diagnostics_dataset

    def spy(model, exp, steps, values, *args, **kwargs):
        seen.append({name: [np.ndim(v) for v in series] for name, series in values.items()})
        return original(model, exp, steps, values, *args, **kwargs)
    monkeypatch.setattr(spinup_module, "_diagnostics_dataset", spy)
    spinup(sw(), tmp_path, length="2 days", restarts="1 day, 2 days",
           diagnostics_interval="6 hours")
    assert seen and {"u", "eta", "kinetic_energy"} <= set(seen[-1])
    assert all(d == 0 for record in seen for dims in record.values() for d in dims)


def test_spinup_refuses_to_overwrite_and_replaces_when_asked(tmp_path):
    spinup(sw(), tmp_path, length="2 days", restarts="1 day, 2 days")
    with pytest.raises(ConfigError, match="already holds a spin-up"):
        spinup(sw(), tmp_path, length="2 days")
    result = spinup(sw(), tmp_path, length="2 days", overwrite=True)   # one restart, at the end
    assert [p.name for p in find_restarts(tmp_path)] == ["restart_00002d.nc"] == \
        [p.name for p in result.restarts]


@pytest.mark.parametrize("kwargs, match", [
    ({"length": "2 days", "restarts": "3 days"}, "within"),
    ({"length": "2 days", "restarts": "1 day", "restart_every": "1 day"}, "one of them"),
    ({"length": "0 days"}, "nothing to integrate"),
    ({"length": "2 days", "restart_every": "1 hour"}, "1 %"),
])
def test_spinup_bad_settings_are_config_errors(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        spinup(sw(), tmp_path, **kwargs)


def test_sweep_needs_one_restart_per_member(spun, tmp_path):
    out, _ = spun
    with pytest.raises(ConfigError, match="needs 5"):
        sweep(sw(restarts=str(out), members=3), tmp_path / "s", scheduler="serial", quiet=True)
    assert not (tmp_path / "s").exists()          # refused before anything was written
    other = sw(restarts=str(out))
    other["params"]["c_D"] = 2e-5
    with pytest.raises(ConfigError, match="c_D"):
        sweep(other, tmp_path / "s", scheduler="serial", quiet=True)
    with pytest.raises(ConfigError, match="restarts"):
        sweep(sw(restarts=3), tmp_path / "s", scheduler="serial", quiet=True)


def restart_without_param(restart, tmp_path, name: str):
    """A copy of ``restart`` as a version of lowprec before parameter ``name`` existed wrote it."""
    import shutil
    import tomllib
    import tomli_w
    old = tmp_path / "old_restart.nc"
    shutil.copy(restart, old)
    with netCDF4.Dataset(old, "a") as nc:
        config = tomllib.loads(nc.getncattr("lowprec_config"))
        del config["params"][name]
        nc.setncattr("lowprec_config", tomli_w.dumps(config))
    return old


def test_restarts_written_before_a_parameter_existed_match_it_at_its_default(spun, tmp_path):
    # A parameter added to the model later (here c_D, removed from the recorded config) takes
    # its default: the restart still belongs to the experiment unless that one sets it otherwise.
    from lowprec.harness.spinup import find_restarts
    old = restart_without_param(spun[1].restarts[0], tmp_path, "c_D")
    exp = load_config(sw())
    assert find_restarts([old], model="shallow_water", params=exp.params) == [old]
    other = sw()
    other["params"]["c_D"] = 2e-5
    with pytest.raises(ConfigError, match="other model parameters .c_D"):
        find_restarts([old], model="shallow_water", params=load_config(other).params)


def test_low_precision_from_float64_restart_is_seeded_by_member(spun, tmp_path):
    out, result = spun
    restart = result.restarts[1]
    r = read_restart(restart)
    counted = tmp_path / "counted.restart.nc"       # as if the float64 run had counted operations
    write_restart(r.__class__(r.arrays, r.step, r.outputs, {"counter": 123456}, r.model, r.config),
                  counted)
    cfg = sw()
    cfg["precision"].update(sbits=10, mode="stochastic")
    cfg["run"].update(length="6 hours", member=2)
    a = run(cfg, restart_from=restart)
    b = run(cfg, restart_from=counted)              # another precision's counter is not taken
    assert np.array_equal(bits(a["u"].values), bits(b["u"].values))
    cfg["run"]["member"] = 3
    c = run(cfg, restart_from=restart)              # same state, another member: other bits
    assert not np.array_equal(bits(a["u"].values), bits(c["u"].values))
    cfg["precision"]["mode"] = "nearest"
    n2, n3 = (run(dict(cfg, run=dict(cfg["run"], member=m)), restart_from=restart) for m in (2, 3))
    assert np.array_equal(bits(n2["u"].values), bits(n3["u"].values))   # nearest: no seed at all
    assert a.attrs["lowprec_start_step"] == 600 and a.attrs["lowprec_sample_dims"] == ""


def test_shallow_water_sweep_from_restarts_validates_per_grid_point(spun, tmp_path):
    import validation
    out, result = spun
    d = tmp_path / "sweep"
    res = sweep(sw(restarts=str(out)), d, scheduler="serial", quiet=True)
    assert res.ok and res.total == 8          # 2 controls, 2 null, 2 members x 2 modes
    for member, restart in enumerate(result.restarts):
        f = open_run(d / "runs" / f"shallow_water_sb52_nearest_m{member:03d}.nc")
        assert f.attrs["lowprec_restart_from"] == str(restart.resolve())
        # The control member continues restart m in float64: its first output is 15 steps on.
        model = ShallowWater(ShallowWaterParams(**PARAMS))
        state = model.state_from_arrays(read_restart(restart).arrays)
        for _ in range(15):
            state = model.step(state)
        assert np.array_equal(bits(f["u"].values[0]), bits(model.diagnostics(state)["u"]))
    low = open_run(d / "runs" / "shallow_water_sb10_stochastic_m002.nc")
    assert low["u"].dtype == np.float32 and low.attrs["lowprec_sbits"] == 10

    ds = open_sweep(d)
    v = validation.evaluate(ds, variables=["u", "v", "eta"], pvalues=False, windows=0)
    for name in ("u", "v", "eta"):
        w1 = v[f"w1_{name}"].sel(sbits=10)
        assert w1.dims == ("mode", "y", "x") and w1.shape == (2, 8, 16)
        assert np.isfinite(w1.values).all()
        null = v[f"w1_null_{name}"]
        assert null.shape == (8, 16) and np.isfinite(null.values).all()
        assert float(null.mean()) > 0


def test_sample_dims_attribute(tmp_path):
    l63 = {"model": "lorenz63", "params": {"particles": 3},
           "run": {"length": "0.1 time units", "output_interval": "0.05 time units"}}
    assert run(l63).attrs["lowprec_sample_dims"] == "particle"
    run(sw() | {"run": {"length": "6 hours", "output_interval": "6 hours"}}, tmp_path / "s.nc")
    assert open_run(tmp_path / "s.nc").attrs["lowprec_sample_dims"] == ""


def test_spinup_command_prints_paths(tmp_path):
    import tomli_w
    cfg = tmp_path / "sw.toml"
    cfg.write_text(tomli_w.dumps(sw()))
    out = tmp_path / "sp"
    args = ["spinup", str(cfg), "-o", str(out), "--length", "1 day", "--restarts", "12 hours,1 day",
            "-q"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert r.output.split() == [str(out / "restart_00000.5000d.nc"), str(out / "restart_00001d.nc"),
                                str(out / "spinup_diagnostics.nc")]
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert "restart" in CliRunner().invoke(main, ["spinup", "--help"]).output


def test_a_run_from_a_restart_written_before_a_parameter_existed(spun, tmp_path):
    # The same through `restart_from`: the recorded config lacks c_D, the run leaves it default.
    old = restart_without_param(spun[1].restarts[0], tmp_path, "c_D")
    cfg = sw()
    cfg["run"]["length"] = "6 hours"
    assert run(cfg, restart_from=old)["u"].sizes["time"] >= 1
    cfg["params"]["c_D"] = 2e-5
    with pytest.raises(ConfigError, match="parameters differ in c_D"):
        run(cfg, restart_from=old)
