"""Sweeps check before they start and open only what belongs together (reviewer's findings)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import netCDF4
import pytest
import tomli_w
from click.testing import CliRunner

from lowprec.errors import ConfigError, ValidationInputError
from lowprec.harness import sweep as sweep_module
from lowprec.harness.cli import main
from lowprec.harness.run import run
from lowprec.harness.spinup import spinup
from lowprec.harness.sweep import (RUNS, SweepSpec, design_warnings, open_sweep, read_manifest,
                                   sweep)


def lorenz(particles: int = 6, **sweep_keys) -> dict:
    """A tiny real Lorenz-63 experiment: 2 controls, 2 members, one setting (6 runs)."""
    return {
        "model": "lorenz63",
        "params": {"particles": particles, "prespin": 1.0},
        "precision": {"seed": 11},
        "run": {"length": "1 time units", "output_interval": "0.1 time units",
                "spinup": "0.5 time units"},
        "sweep": {"sbits": [8], "modes": ["nearest"], "controls": 2, "members": 2, **sweep_keys},
    }


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A finished tiny sweep (N = 2: too few members for p-values at alpha = 0.05)."""
    outdir = tmp_path_factory.mktemp("small") / "sweep"
    assert sweep(lorenz(), outdir, scheduler="serial", quiet=True).ok
    return outdir


# 1. Paths handed to workers ----------------------------------------------------------------

def test_relative_paths_work_when_workers_run_in_another_directory(tmp_path, monkeypatch):
    submit, elsewhere = tmp_path / "submit", tmp_path / "worker-cwd"
    submit.mkdir(), elsewhere.mkdir()
    monkeypatch.chdir(submit)
    spinup(lorenz(), "spin", length="1 time units", restart_every="0.25 time units", quiet=True)
    real, seen = sweep_module._run_one, []

    def in_another_cwd(exp, path, *args):   # as a worker of a remote scheduler would
        seen.append((path, exp.run.restart_from))
        here = os.getcwd()
        os.chdir(elsewhere)
        try:
            return real(exp, path, *args)
        finally:
            os.chdir(here)

    monkeypatch.setattr(sweep_module, "_run_one", in_another_cwd)
    result = sweep(lorenz(restarts="spin"), "relcheck", scheduler="serial", quiet=True)
    assert result.ok, result.summary()
    assert result.outdir == Path("relcheck")            # reported as given
    assert len(seen) == 6
    for path, restart in seen:
        assert Path(path).is_absolute() and Path(restart).is_absolute()
        assert Path(restart).parent == submit / "spin"
    assert len(list((submit / "relcheck" / RUNS).glob("lorenz63_*_m???.nc"))) == 6
    assert not (elsewhere / "relcheck").exists()


# 2. Pre-flight -----------------------------------------------------------------------------

def test_config_errors_are_found_before_anything_is_written(tmp_path, monkeypatch):
    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started for a sweep that cannot run")

    monkeypatch.setattr(sweep_module, "_execute", no_cluster)
    config = lorenz()
    config["run"]["length"] = "1.05 time units"          # 10.5 output intervals
    outdir = tmp_path / "bad"
    with pytest.raises(ConfigError) as e:
        sweep(config, outdir, scheduler="serial", quiet=True)
    text = str(e.value)
    assert "run.length" in text and "whole number of output intervals" in text
    assert "lorenz63_sb52_nearest_m000" in text and "No run was started" in text
    assert not outdir.exists()


def test_cli_pre_flight_names_the_file_and_the_set_value(tmp_path):
    config = tmp_path / "exp.toml"
    config.write_text(tomli_w.dumps(lorenz()))
    out = tmp_path / "out"
    result = invoke("sweep", config, "-o", out, "--scheduler", "serial",
                    "--set", 'run.output_interval="0.3 time units"')
    assert result.exit_code == 1
    assert "exp.toml" in result.output and "run.length" in result.output
    assert not out.exists()


def test_directory_of_failed_runs_only_takes_the_corrected_experiment(tmp_path, monkeypatch):
    import lowprec.harness.run as run_module
    real = run_module.run_member

    def fails(exp, path, **kwargs):
        raise RuntimeError("synthetic: every run fails without writing")

    monkeypatch.setattr(run_module, "run_member", fails)
    outdir = tmp_path / "stuck"
    assert len(sweep(lorenz(particles=6), outdir, scheduler="serial", quiet=True).failed) == 6
    monkeypatch.setattr(run_module, "run_member", real)
    # No run file was written: a corrected experiment takes the directory over.
    result = sweep(lorenz(particles=5), outdir, scheduler="serial", quiet=True)
    assert result.ok and result.computed == 6
    assert "particles = 5" in read_manifest(outdir)["base_config"]


def test_refusal_of_another_experiment_names_keys_and_values(small, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(small, copy)
    other = lorenz(particles=7)
    other["precision"]["seed"] = 12
    with pytest.raises(ConfigError) as e:
        sweep(other, copy, scheduler="serial", quiet=True)
    text = str(e.value)
    assert "params.particles: 6 there, 7 here" in text
    assert "precision.seed: 11 there, 12 here" in text
    assert "another --output" in text and "6 run file(s)" in text


def test_a_directory_at_a_run_output_path_is_named(tmp_path):
    outdir = tmp_path / "blocked"
    (outdir / RUNS / "lorenz63_sb8_nearest_m002.nc").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"lorenz63_sb8_nearest_m002\.nc is a directory"):
        sweep(lorenz(), outdir, scheduler="serial", quiet=True)
    assert read_manifest(outdir) is None


# 3. Designs validation cannot use ----------------------------------------------------------

def test_design_warnings_follow_the_validators_limits():
    def spec(controls: int, members: int, null: bool = True) -> SweepSpec:
        return SweepSpec((8,), ("nearest",), members, controls, null)

    assert design_warnings(spec(2, 3)) == []        # 1/C(6, 3) = 0.05, not above alpha
    [pvalues] = design_warnings(spec(2, 2))
    assert "1/C(4, 2)" in pvalues and "0.167" in pvalues and "--no-pvalues" in pvalues
    text = " ".join(design_warnings(spec(1, 1)))
    assert "controls = 1" in text and "members = 1" in text and "at least 2" in text
    assert "null" in " ".join(design_warnings(spec(2, 3, null=False)))


def test_small_design_warns_on_stderr_and_still_runs(tmp_path, capsys):
    result = sweep(lorenz(controls=1, members=1), tmp_path / "one", scheduler="serial", quiet=True)
    assert result.ok and result.computed == 3
    err = capsys.readouterr().err
    assert "warning: [sweep] controls = 1" in err and "warning: [sweep] members = 1" in err


# 4. open_sweep refuses files that do not belong --------------------------------------------

def heat_run(path: Path) -> Path:
    run({"model": "heat", "params": {"depth": 4.0, "diurnal": False}, "precision": {"seed": 1},
         "run": {"length": "2 days", "output_interval": "1 days"}}, path)
    return path


def test_open_sweep_names_a_run_of_another_model(small, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(small, copy)
    heat_run(copy / RUNS / "lorenz63_sb52_nearest_m009.nc")
    with pytest.raises(ValidationInputError) as e:
        open_sweep(copy)
    text = str(e.value)
    assert "lorenz63_sb52_nearest_m009.nc" in text and "model 'heat', not 'lorenz63'" in text
    assert "move it out" in text


def test_open_sweep_names_other_params_and_other_units(small, tmp_path):
    other = tmp_path / "other"
    assert sweep(lorenz(particles=7, sbits=[10]), other, scheduler="serial", quiet=True).ok
    copy = tmp_path / "copy"
    shutil.copytree(small, copy)
    shutil.copy(other / RUNS / "lorenz63_sb10_nearest_m002.nc", copy / RUNS)
    with pytest.raises(ValidationInputError, match=r"sb10_nearest_m002\.nc.*particles = 7 here, 6"):
        open_sweep(copy)

    copy2 = tmp_path / "copy2"
    shutil.copytree(small, copy2)
    with netCDF4.Dataset(copy2 / RUNS / "lorenz63_sb8_nearest_m003.nc", "a") as nc:
        nc["x"].units = "furlong"
    with pytest.raises(ValidationInputError, match=r"m003\.nc.*'x' has units 'furlong'"):
        open_sweep(copy2)

    copy3 = tmp_path / "copy3"
    shutil.copytree(small, copy3)
    shutil.copy(copy3 / RUNS / "lorenz63_sb8_nearest_m003.nc",
                copy3 / RUNS / "lorenz63_sb8_nearest_m002.nc")
    with pytest.raises(ValidationInputError, match=r"m002\.nc.*lowprec_member = .3., but its name says .2."):
        open_sweep(copy3)


# 5. Messages -------------------------------------------------------------------------------

def test_restart_errors_name_the_key_once(tmp_path):
    bogus = tmp_path / "bogus.nc"
    bogus.write_text("not netCDF")
    with pytest.raises(ConfigError) as e:
        sweep(lorenz(restarts=[str(bogus)]), tmp_path / "s", scheduler="serial", quiet=True)
    text = str(e.value)
    assert "[sweep] restarts: " in text and "not a lowprec restart file" in text
    assert "restarts: restarts" not in text
    with pytest.raises(ConfigError) as e:
        sweep(lorenz(restarts=str(tmp_path)), tmp_path / "s", scheduler="serial", quiet=True)
    assert "[sweep] restarts = " in str(e.value) and "restarts: restarts" not in str(e.value)


def test_cli_says_no_pvalues_and_report_takes_validate_options(small, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(small, copy)
    result = invoke("validate", copy)
    assert result.exit_code == 1
    assert "--no-pvalues" in result.output and "pvalues=False" not in result.output
    result = invoke("report", copy)                     # validates first: the same advice
    assert result.exit_code == 1 and "--no-pvalues" in result.output
    result = invoke("report", copy, "--no-pvalues", "--windows", "2")
    assert result.exit_code == 0, result.output
    assert (copy / "validation.nc").exists()
    assert (copy / "report" / "report.md").exists()
    import xarray as xr
    with xr.open_dataset(copy / "validation.nc") as v:
        assert not any("pvalue" in name for name in v.data_vars)
