"""`lowprec sweep`, `lowprec validate`, `lowprec report` on a tiny real Lorenz-63 sweep."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
from click.testing import CliRunner

from lowprec.harness.cli import main
from lowprec.harness.sweep import RUNS, read_manifest


def write_experiment(path: Path, controls: int = 2, members: int = 3, sbits=(8,), **extra) -> Path:
    exp = {
        "model": "lorenz63",
        "params": {"particles": 6, "prespin": 1.0},
        "precision": {"seed": 5},
        "run": {"length": "2 time units", "output_interval": "0.1 time units",
                "spinup": "0.5 time units"},
        "sweep": {"sbits": list(sbits), "modes": ["nearest", "stochastic"], "controls": controls,
                  "members": members, **extra},
    }
    path.write_text(tomli_w.dumps(exp))
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    config = write_experiment(tmp / "tiny.toml")
    outdir = tmp / "tiny-sweep"
    result = invoke("sweep", config, "--output", outdir, "--scheduler", "serial", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(outdir)
    return outdir


def test_sweep_command_writes_runs_and_manifest(swept):
    manifest = read_manifest(swept)
    assert len(manifest["runs"]) == 2 + 3 + 6
    assert {r["status"] for r in manifest["runs"].values()} == {"complete"}
    assert (swept / "sweep.toml").exists()
    assert len(list((swept / RUNS).glob("lorenz63_sb*_m???.nc"))) == 11


def test_validate_writes_cf_netcdf_with_the_null_and_each_setting(swept):
    result = invoke("validate", swept)
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert path == swept / "validation.nc"
    with xr.open_dataset(path) as v:
        assert v.attrs["Conventions"].startswith("CF-")
        assert v.attrs["lowprec_pooled_dims"] == "time, particle"     # the CLI's default
        assert list(v["sbits"].values) == [8, 52]
        null = float(v["w1_global_null_x"])
        assert np.isfinite(null) and null > 0          # different initial conditions differ
        w = v["w1_global_x"].sel(sbits=8)
        assert np.isfinite(w).all()
        np.testing.assert_allclose(v["w1_global_x"].sel(sbits=52, mode="nearest"), null)


def test_report_prints_existing_figures_and_table(swept):
    result = invoke("report", swept)
    assert result.exit_code == 0, result.output
    paths = [Path(p) for p in result.stdout.split()]
    assert paths and all(p.exists() and p.stat().st_size > 0 for p in paths)
    assert any(p.suffix == ".png" for p in paths)
    assert paths[-1].name == "report.md"
    assert all(p.parent == swept / "report" for p in paths)
    assert "x" in paths[-1].read_text()


def test_validate_refuses_a_sweep_without_controls(tmp_path):
    config = write_experiment(tmp_path / "nocontrol.toml", controls=0, members=3)
    out = tmp_path / "nocontrol"
    assert invoke("sweep", config, "-o", out, "--scheduler", "serial", "-q").exit_code == 0
    result = invoke("validate", out)
    assert result.exit_code == 1
    assert "control" in result.output and "Error" in result.output
    assert not (out / "validation.nc").exists()


def test_sweep_command_refuses_a_bad_sweep_section(tmp_path):
    config = write_experiment(tmp_path / "bad.toml", sbits=(8, 60))
    result = invoke("sweep", config, "-o", tmp_path / "bad", "--scheduler", "serial")
    assert result.exit_code == 1
    assert "bad.toml" in result.output and "sbits" in result.output and "60" in result.output
    assert "1..52" in result.output
    # --set overrides the file, here into another bad value.
    good = write_experiment(tmp_path / "good.toml")
    result = invoke("sweep", good, "-o", tmp_path / "bad", "--scheduler", "serial",
                    "--set", "sweep.modes=['nearest', 'sideways']")
    assert result.exit_code == 1
    assert "modes" in result.output and "sideways" in result.output and "stochastic" in result.output
    assert not (tmp_path / "bad").exists()


def test_sweep_output_defaults_to_the_sweep_section(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_experiment(tmp_path / "exp.toml", sbits=(10,), output="named-dir")
    result = invoke("sweep", config, "--scheduler", "serial", "-q", "--help")
    assert result.exit_code == 0 and "--scheduler" in result.output
    from lowprec.harness.cli_sweep import default_output
    assert default_output(config) == Path("named-dir")
    write_experiment(tmp_path / "plain.toml")
    assert default_output(tmp_path / "plain.toml") == Path("plain")
