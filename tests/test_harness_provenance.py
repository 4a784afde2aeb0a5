"""Never label a result with a precision it was not run at (issue 9, first part).

Component overrides covering every component, the label and record of what ran; a sweep axis
that would vary nothing; overrides of components a model does not use; resuming a finished run
with another experiment; validating a sweep with an unreadable run file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
from click.testing import CliRunner

from lowprec.errors import ConfigError
from lowprec.harness.cli import main
from lowprec.harness.run import run
from lowprec.harness.store import open_run
from lowprec.harness.sweep import RUNS, sweep
from models.base import FLOAT64, Output, register
from test_harness_run import bits
from test_harness_run import heat as heat_run


def heat(length: str = "3 days", **precision) -> dict:
    return heat_run(length, **precision)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# --------------------------------------------------------------------------------------------
# Every component overridden: the run is labelled and recorded at what it ran

def test_readme_heat_example_is_labelled_23_sbits_as_it_ran(tmp_path):
    # The README's example: sbits = 10 with [precision.components.diffusion] sbits = 23. Heat
    # computes everything in "diffusion", so the run is a 23-sbit run: the same bits as one.
    cfg = heat(sbits=10, components={"diffusion": {"sbits": 23}})
    with pytest.warns(UserWarning, match=r"precision.sbits = 10 is used by no component"):
        ds = run(cfg, tmp_path / "a.nc")
    plain23 = run(heat(sbits=23))
    assert np.array_equal(bits(ds["T"].values), bits(plain23["T"].values))    # it ran at 23
    assert not np.array_equal(ds["T"].values, run(heat(sbits=10))["T"].values)
    f = xr.open_dataset(tmp_path / "a.nc")
    assert int(f["sbits"]) == 23                                # the label: what ran
    assert "sbits 23" in f.attrs["title"] and "sbits 10" not in f.attrs["title"]
    components = json.loads(f.attrs["lowprec_components"])
    assert components == {"diffusion": {"sbits": 23, "ebits": None, "subnormals": True,
                                        "mode": "nearest", "override": ["sbits"]}}
    assert int(f.attrs["lowprec_sbits"]) == 10                  # the configured base, as written
    f.close()
    shown = invoke("inspect", tmp_path / "a.nc")
    assert shown.exit_code == 0, shown.output
    assert "diffusion  sbits 23, float64 range, nearest  (override of sbits)" in shown.output
    assert "base sbits 10 is used by no component" in shown.output


def test_mixed_precision_keeps_the_base_label_and_records_each_component(tmp_path):
    cfg = {"model": "shallow_water", "params": {"nx": 16, "ny": 8},
           "precision": {"sbits": 10, "mode": "stochastic", "seed": 1,
                         "components": {"dissipation": {"sbits": 23, "mode": "nearest"}}},
           "run": {"length": "12 hours", "output_interval": "6 hours"}}
    run(cfg, tmp_path / "sw.nc")
    with xr.open_dataset(tmp_path / "sw.nc") as f:
        assert int(f["sbits"]) == 10 and str(f["mode"].values) == "stochastic"
        assert "dissipation" in f["sbits"].attrs["comment"]
        components = json.loads(f.attrs["lowprec_components"])
    assert {n: (c["sbits"], c["mode"]) for n, c in components.items()} == {
        "prognostic": (10, "stochastic"), "tendencies": (10, "stochastic"),
        "dissipation": (23, "nearest")}


def test_mode_used_by_no_component_is_labelled_with_the_components_mode():
    cfg = heat(sbits=10, mode="nearest", seed=2, components={"diffusion": {"mode": "stochastic"}})
    with pytest.warns(UserWarning, match=r"precision.mode = 'nearest' is used by no component"):
        ds = run(cfg)
    assert str(ds["mode"].values) == "stochastic" and int(ds["sbits"]) == 10
    same = run(heat(sbits=10, mode="stochastic", seed=2))
    assert np.array_equal(bits(ds["T"].values), bits(same["T"].values))


def sweep_experiment(path: Path, components: dict) -> Path:
    exp = heat("2 days", sbits=10, components=components)
    exp["sweep"] = {"sbits": [8, 10], "modes": ["nearest", "stochastic"], "controls": 2,
                    "members": 2}
    path.write_text(tomli_w.dumps(exp))
    return path


@pytest.mark.parametrize("override, axis", [({"sbits": 23}, "sbits"),
                                            ({"mode": "nearest"}, "modes")])
def test_sweep_axis_that_varies_nothing_is_refused_before_anything_is_written(tmp_path, override,
                                                                              axis):
    config = sweep_experiment(tmp_path / "exp.toml", {"diffusion": override})
    outdir = tmp_path / "sweep"
    with pytest.raises(ConfigError, match=rf"\[sweep\] {axis} = .*vary nothing.*diffusion"):
        sweep(config, outdir, scheduler="serial", quiet=True)
    assert not outdir.exists()
    result = invoke("sweep", config, "-o", outdir, "--scheduler", "serial", "-q")
    assert result.exit_code == 1 and "vary nothing" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("axis_sbits, refused", [(23, False), (10, True)])
def test_single_valued_axis_passes_only_if_a_component_uses_it(tmp_path, axis_sbits, refused):
    # What a tune's combined probe is: every component set, filed under one sbits. Honest when
    # some component runs at that sbits, not when none does.
    exp = heat("2 days", sbits=axis_sbits, components={"diffusion": {"sbits": 23}})
    exp["sweep"] = {"sbits": [axis_sbits], "modes": ["nearest"], "controls": 1, "members": 1}
    (tmp_path / "exp.toml").write_text(tomli_w.dumps(exp))
    if refused:
        with pytest.raises(ConfigError, match=r"\[sweep\] sbits = \[10\].*vary nothing"):
            sweep(tmp_path / "exp.toml", tmp_path / "sweep", scheduler="serial", quiet=True)
    else:
        sweep(tmp_path / "exp.toml", tmp_path / "sweep", scheduler="serial", quiet=True)
        assert (tmp_path / "sweep" / "runs" / "heat_sb23_nearest_m001.nc").exists()


def test_sweep_with_one_component_following_the_axis_runs(tmp_path):
    # Lorenz-63 with only "tendencies" fixed: "timestepping" follows the sbits axis.
    exp = {"model": "lorenz63", "params": {"particles": 4, "prespin": 0.5},
           "precision": {"seed": 1, "components": {"tendencies": {"sbits": 23}}},
           "run": {"length": "0.2 time units", "output_interval": "0.1 time units"},
           "sweep": {"sbits": [8], "modes": ["nearest"], "controls": 2, "members": 2}}
    result = sweep(exp, tmp_path / "s", scheduler="serial", quiet=True)
    assert result.ok


# A model declaring fewer components at run time than its COMPONENTS list (config accepts both).
@dataclass(frozen=True)
class TwoParams:
    size: int = 2


@register("test_declares_less")
class DeclaresLess:
    name = "test_declares_less"
    Params = TwoParams
    COMPONENTS = ("physics", "dynamics")
    OUTPUTS = (Output("x", ("time", "cell"), units="1", long_name="x"),)
    time_units = "s"

    def __init__(self, params=None, emu=FLOAT64):
        self.params, self.emu, self.dt = params or TwoParams(), emu, 3600.0
        emu.declare_components(["physics"])         # "dynamics" is never used

    def initial_state(self, seed):
        with self.emu.component("physics"):
            return self.emu.asarray(np.full(self.params.size, 1.0 / 3))

    def step(self, x):
        with self.emu.component("physics"):
            return x * 1.5

    def coords(self):
        return {"cell": (("cell",), np.arange(self.params.size, dtype=np.float64),
                         {"units": "1", "long_name": "cell"})}

    def diagnostics(self, x):
        return {"x": np.array(self.emu.to_float64(x))}

    def state_arrays(self, x):
        return {"x": np.array(self.emu.to_float64(x))}

    def state_from_arrays(self, arrays):
        with self.emu.component("physics"):
            return self.emu.asarray(arrays["x"])


def test_override_of_a_component_the_model_does_not_use_is_an_error(tmp_path):
    cfg = {"model": "test_declares_less",
           "precision": {"sbits": 10, "components": {"dynamics": {"sbits": 23}}},
           "run": {"length": "2 hours", "output_interval": "1 hour"}}
    with pytest.raises(ConfigError, match=r"precision.components.dynamics: .*does not use"):
        run(cfg, tmp_path / "x.nc")
    assert not list(tmp_path.iterdir())                  # nothing written
    cfg["precision"]["components"] = {"physics": {"sbits": 23}}
    with pytest.warns(UserWarning, match="used by no component"):     # physics is all there is
        assert run(cfg)["x"].values.size == 4


# --------------------------------------------------------------------------------------------
# Resuming a finished run with another experiment

def test_resume_of_a_finished_run_with_another_experiment_is_refused(tmp_path):
    exp = tmp_path / "heat.toml"
    exp.write_text(tomli_w.dumps(heat("2 days", sbits=10)))
    out = tmp_path / "a.nc"
    assert invoke("run", exp, "-o", out, "-q").exit_code == 0
    before = out.read_bytes()
    result = invoke("run", exp, "-o", out, "--resume", "--sbits", "5", "-q")
    assert result.exit_code == 1, result.output
    assert "finished (complete)" in result.output
    assert "precision.sbits: 10 in the file, 5 now" in result.output
    assert out.read_bytes() == before
    same = invoke("run", exp, "-o", out, "--resume", "-q")       # the same experiment: as it is
    assert same.exit_code == 0 and out.read_bytes() == before
    replaced = invoke("run", exp, "-o", out, "--resume", "--sbits", "5", "--overwrite", "-q")
    assert replaced.exit_code == 0
    assert int(open_run(out).attrs["lowprec_sbits"]) == 5


# --------------------------------------------------------------------------------------------
# Validating a sweep with an unreadable run file

@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("unreadable")
    exp = {"model": "lorenz63", "params": {"particles": 6, "prespin": 1.0},
           "precision": {"seed": 5},
           "run": {"length": "2 time units", "output_interval": "0.1 time units",
                   "spinup": "0.5 time units"},
           "sweep": {"sbits": [8], "modes": ["nearest"], "controls": 2, "members": 3}}
    result = sweep(exp, tmp / "s", scheduler="serial", quiet=True)
    assert result.ok
    return tmp / "s"


def test_validate_names_an_unreadable_run_file_and_fails_unless_asked(small_sweep, tmp_path):
    import shutil
    outdir = tmp_path / "s"
    shutil.copytree(small_sweep, outdir)
    victim = outdir / RUNS / "lorenz63_sb8_nearest_m003.nc"
    data = victim.read_bytes()
    victim.write_bytes(data[:len(data) // 2])           # truncated
    result = invoke("validate", outdir)
    assert result.exit_code != 0
    assert "unreadable" in result.output and str(victim) in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (outdir / "validation.nc").exists()

    result = invoke("validate", outdir, "--skip-unreadable", "--no-pvalues")
    assert result.exit_code == 0, result.output
    assert f"unreadable run file, validated without it: {victim}" in result.output
    with xr.open_dataset(outdir / "validation.nc") as v:
        meanings = v["run_status"].attrs["flag_meanings"].split()
        code = int(v["run_status"].sel(sbits=8, mode="nearest", member=3))
    assert meanings[code] == "unreadable"
