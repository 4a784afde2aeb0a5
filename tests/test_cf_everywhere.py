"""Every file a run or a spin-up writes is CF-1.11 (0 errors, 0 warnings), for every model.

Run files, their restarts (``<output>.restart.nc``), spin-up restarts and spin-up diagnostics,
checked with compliance-checker (tests/cfcheck.py). Restarts stay exact and readable by name.
"""
from __future__ import annotations

import json

import netCDF4
import numpy as np
import pytest

from cfcheck import cf_failures
from lowprec.harness.config import load_config, make_model
from lowprec.harness.output import restart_layout
from lowprec.harness.run import run
from lowprec.harness.spinup import spinup
from lowprec.harness.store import Restart, open_run, read_restart, write_restart

# The smallest size of each model that still has every output (the GCM at T10: 32 x 16 x 8).
CASES = {
    "lorenz63": ({"particles": 3}, "0.3 time units", "0.1 time units"),
    "heat": ({}, "2 days", "1 day"),
    "shallow_water": ({"nx": 8, "ny": 4}, "12 steps", "6 steps"),
    "gcm": ({"truncation": 10}, "1 day", "6 hours"),
}


def experiment(model: str) -> dict:
    params, length, interval = CASES[model]
    return {"model": model, "params": params,
            "precision": {"sbits": 10, "mode": "stochastic", "seed": 3},
            "run": {"length": length, "output_interval": interval}}


@pytest.fixture(scope="module", params=sorted(CASES))
def written(request, tmp_path_factory):
    """A run (file and restart) and a spin-up (diagnostics and restarts) of one model."""
    model = request.param
    d = tmp_path_factory.mktemp(model)
    run(experiment(model), d / "run.nc")
    params, length, _ = CASES[model]
    result = spinup(experiment(model), d / "spinup", length=length)
    return model, d, result


def test_run_file_is_clean_cf(written):
    _, d, _ = written
    assert cf_failures(d / "run.nc") == {}


def test_restart_file_is_clean_cf_and_self_describing(written):
    model, d, _ = written
    path = d / "run.restart.nc"
    assert cf_failures(path) == {}
    with netCDF4.Dataset(path) as nc:
        assert nc.getncattr("Conventions") == "CF-1.11"
        names = json.loads(nc.getncattr("lowprec_state_arrays"))
        for name in names:
            var = nc[name]
            assert var.long_name and var.units, name
            assert not any("_dim" in dim for dim in var.dimensions), (name, var.dimensions)
        # its time: the step it holds, in the run's time units
        tname = "model_time" if model == "lorenz63" else "time"
        step = int(nc.getncattr("lowprec_restart_step"))
        m = make_model(load_config(experiment(model)))
        expected = step * m.dt if model == "lorenz63" else step * m.dt / 86400.0
        assert float(nc[tname][...]) == pytest.approx(expected, rel=1e-12)


def test_spinup_files_are_clean_cf(written):
    _, _, result = written
    assert cf_failures(result.diagnostics) == {}
    assert result.restarts and all(cf_failures(p) == {} for p in result.restarts)


def test_restart_arrays_are_the_state_exactly(written):
    """The described file holds the same float64 arrays as the model's state_arrays, and an
    undescribed one (as older lowprec wrote) reads back to the same restart."""
    model, d, _ = written
    described = read_restart(d / "run.restart.nc")
    plain = d / "plain.restart.nc"
    write_restart(described, plain)             # no layout: the old u_dim0 form
    again = read_restart(plain)
    assert described.arrays.keys() == again.arrays.keys()
    for name, a in described.arrays.items():
        assert a.dtype == np.float64
        np.testing.assert_array_equal(a, again.arrays[name])
    # and the state re-enters the model exactly
    m = make_model(load_config(experiment(model)))
    state = m.state_from_arrays(described.arrays)
    for name, a in m.state_arrays(state).items():
        np.testing.assert_array_equal(a, described.arrays[name])


def test_restart_with_means_in_progress_is_clean_cf(tmp_path):
    """The running sums of means (a checkpoint mid-interval) are described too."""
    exp = load_config(experiment("shallow_water"))
    m = make_model(exp)
    state = m.initial_state(1)
    sums = {"kinetic_energy": np.array(3.0), "u": np.ones((4, 8))}
    path = tmp_path / "r.nc"
    write_restart(Restart(m.state_arrays(state), 7, 1, {}, "shallow_water", exp.to_toml(),
                          sums=sums), path, restart_layout(m, 7, sums))
    assert cf_failures(path) == {}
    r = read_restart(path)
    np.testing.assert_array_equal(r.sums["u"], sums["u"])
    assert float(r.sums["kinetic_energy"]) == 3.0


def test_lorenz_file_calls_its_dimensionless_time_model_time_and_reads_back_as_time(tmp_path):
    d = tmp_path
    run(experiment("lorenz63"), d / "run.nc")
    with netCDF4.Dataset(d / "run.nc") as nc:
        assert "model_time" in nc.dimensions and "time" not in nc.dimensions
        assert nc["x"].cell_methods == "model_time: point"
        assert nc["model_time"].units == "1"
    ds = open_run(d / "run.nc")
    assert ds["x"].dims == ("time", "particle") and ds.sizes["time"] == 3
    assert ds["x"].attrs["cell_methods"] == "time: point"
    np.testing.assert_allclose(ds["time"].values, [0.1, 0.2, 0.3])


# --- lowprec inspect on the files that are not run files ------------------------------------------
def inspect_text(path) -> str:
    from click.testing import CliRunner

    from lowprec.harness.cli import main
    result = CliRunner().invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


def test_inspect_says_precision_and_status_of_spinup_diagnostics_and_restarts(written):
    model, d, result = written
    text = inspect_text(result.diagnostics)
    assert "None" not in text, text
    assert "sbits 52" in text and "status     complete" in text, text
    text = inspect_text(result.restarts[-1])
    assert "status     spin-up restart (float64" in text and "sbits 52" in text, text
    text = inspect_text(d / "run.restart.nc")
    assert "sbits 10" in text and "mode stochastic" in text, text
    assert "status     final: the state after all" in text, text


def test_inspect_tells_a_checkpoint_restart_from_a_final_one(tmp_path):
    exp = load_config(experiment("heat"))          # 2 outputs
    m = make_model(exp)
    state = m.initial_state(0)
    for outputs, expected in ((1, "checkpoint after 1 of 2 outputs"), (2, "final: the state")):
        path = tmp_path / f"r{outputs}.nc"
        write_restart(Restart(m.state_arrays(state), 48 * outputs, outputs, {}, "heat",
                              exp.to_toml()), path, restart_layout(m, 48 * outputs))
        assert expected in inspect_text(path)


# --- the packaged shallow-water sweep is honest about its restarts ---------------------------------
def test_packaged_sweep_spinup_spaces_restarts_at_least_a_run_apart():
    """The spin-up command in shallow_water_sweep.toml's comments gives enough restarts for the
    sweep's members, spaced at least a run's length apart (else restart_spacing_warning fires)."""
    import re
    from importlib.resources import files

    from lowprec.harness.run import schedule
    from lowprec.harness.spinup import restart_steps
    from lowprec.harness.sweep import parse_sweep
    path = files("lowprec.experiments") / "shallow_water_sweep.toml"
    text = path.read_text()
    flags = dict(re.findall(r'--(length|restart-every|first-restart) "([^"]+)"', text))
    exp = load_config(str(path))
    m = make_model(exp)
    from lowprec.harness.run import _whole_steps
    total = _whole_steps(flags["length"], "length", m.dt, m.time_units, "")
    steps = restart_steps(exp, m.dt, m.time_units, total, restart_every=flags["restart-every"],
                          first_restart=flags["first-restart"])
    spec = parse_sweep(exp.sweep, str(path))
    sched = schedule(exp, m.dt, m.time_units)
    run_steps = sched.interval_steps * sched.n_outputs      # as restart_spacing_warning counts
    assert len(steps) >= spec.n_members, (steps, spec.n_members)
    assert min(b - a for a, b in zip(steps, steps[1:])) >= run_steps
    assert steps[0] >= _whole_steps(exp.run.spinup, "spinup", m.dt, m.time_units, "")
